"""The prometheus driver against a fake Prometheus HTTP API whose series are known exactly.

The fake answers ``/api/v1/query`` for ``NAME[Nms]`` at ``time=T`` with the raw samples of
NAME's series in (T - N, T], as Prometheus does; the driver runs on a fake clock, so a minute
of fleet telemetry takes no wall time. Profiles are chosen so the exact energy is known: a
gauge linear between samples (the trapezoid is exact), a constant one whose exporter dies
(bridged at its mean, exact again), a counter of joules.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from instruments import registry
from instruments.base import Config, ConfigurationError, InstrumentDisconnected
from instruments.fakes.clock import FakeClock
from instruments.prometheus import PRESETS, PrometheusSeries
from instruments.records import Flag

T0 = 1_750_000_000.0
SCRAPE_S = 1.0


@dataclass
class FakeSeries:
    """One scraped series: its labels, value as a function of time, scrape phase, and when it died."""

    metric: dict
    value: callable
    phase: float = 0.0
    dies_at: float = math.inf
    frozen_from: float = math.inf  # from here on the exporter repeats its last timestamp

    def samples(self, lo: float, hi: float) -> list[tuple[float, float]]:
        out = []
        k = math.floor((lo - T0 - self.phase) / SCRAPE_S)
        while True:
            t = T0 + self.phase + k * SCRAPE_S
            k += 1
            if t > hi or t >= self.dies_at:
                break
            if t > lo and t < self.frozen_from:
                out.append((t, self.value(t)))
        return out


class FakePrometheus:
    """A Prometheus HTTP API on 127.0.0.1 serving raw samples of the given series."""

    def __init__(self, series: list[FakeSeries]) -> None:
        self.series = series
        self.queries: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                url = urlsplit(self.path)
                args = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/api/v1/status/buildinfo":
                    return self.reply(200, {"status": "success", "data": {"version": "2.42.0-fake"}})
                if url.path != "/api/v1/query":
                    return self.reply(404, {"status": "error", "error": "not found"})
                fake.queries.append(args["query"])
                match = re.fullmatch(r"(\w+)\[(\d+)ms\]", args["query"])
                if not match:
                    return self.reply(400, {"status": "error", "errorType": "bad_data",
                                            "error": "ranges only allowed for vector selectors"})
                name, span = match.group(1), int(match.group(2)) / 1000
                at = float(args["time"])
                result = [{"metric": s.metric, "values": [[t, repr(v)] for t, v in s.samples(at - span, at)]}
                          for s in fake.series if s.metric["__name__"] == name]
                result = [r for r in result if r["values"]]
                self.reply(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})

            def reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def prometheus_with():
    servers = []

    def make(series):
        server = FakePrometheus(series)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def node(name: str, instance: str, value, **kw) -> FakeSeries:
    return FakeSeries({"__name__": name, "instance": instance, "job": "node"}, value, **kw)


def run_driver(driver: PrometheusSeries, clock: FakeClock, seconds: float):
    """Identify, configure, start and read until ``seconds`` of records arrived; (records, events)."""
    driver.identify()
    driver.configure(Config(update_interval_s=driver.interval))
    driver.start()
    blocks, events = [], []
    for _ in range(10_000):
        block = driver.read_block(timeout=0.5)
        if block is not None:
            blocks.append(block.samples)
            events += block.events
        if sum(len(b) for b in blocks) * driver.interval >= seconds:
            break
    driver.stop()
    return np.concatenate(blocks), events


def test_energy_is_the_integral_of_the_raw_samples_and_a_dead_exporter_is_a_gap(prometheus_with):
    ramp = node("gpu_watts", "n1:9400", lambda t: 100.0 + 2.0 * (t - T0), phase=0.3)
    steady = node("gpu_watts", "n2:9400", lambda t: 50.0, phase=0.7, dies_at=T0 + 130.0)
    prom = prometheus_with([ramp, steady, node("other_metric", "n1:9400", lambda t: 1e6)])
    clock = FakeClock(start_utc=T0 + 100.0)
    driver = registry.create("prometheus", prom.url, query="gpu_watts", clock=clock)
    records, events = run_driver(driver, clock, 60.0)

    assert driver.description.channels == 2
    assert driver.settings_snapshot()["channel_names"] == ['gpu_watts{instance="n1:9400",job="node"}',
                                                         'gpu_watts{instance="n2:9400",job="node"}']
    a, b = float(records["t"][0]) - driver.interval, float(records["t"][-1])
    exact = (100.0 * (b - a) + (b - T0) ** 2 - (a - T0) ** 2) + 50.0 * (b - a)
    assert float(records["w"].sum()) * driver.interval == pytest.approx(exact, rel=1e-9)
    assert np.allclose(np.diff(records["t"]), 1.0)

    alive = records["t"] <= T0 + 129.7 + 1e-9  # the last sample of n2 was at 129.7 s
    assert np.all(np.isfinite(records["ch_w"][alive]))
    assert np.all(np.isnan(records["ch_w"][~alive][:, 1])) and np.all(np.isfinite(records["ch_w"][~alive][:, 0]))
    gap_first = np.flatnonzero(records["flags"] & int(Flag.GAP_BEFORE))
    assert len(gap_first) == 1 and records["t"][gap_first[0]] == records["t"][~alive][0]
    assert not np.any(records["flags"] & int(Flag.INVALID))
    gaps = [e for e in events if e.kind == "channel_gap"]
    assert [(e.detail["state"], e.detail["channel"]) for e in gaps] == [("begin", 1)]
    assert gaps[0].detail["last_sample_t"] == pytest.approx(T0 + 129.7)
    assert "n2:9400" in gaps[0].detail["series"]
    # Only instant queries of a range selector: raw samples, never query_range's resampled points.
    assert all(re.fullmatch(r"gpu_watts\[\d+ms\]", q) for q in prom.queries)


def test_a_series_that_comes_back_ends_its_gap_and_is_not_interpolated_across_it(prometheus_with):
    flaky = node("w", "n1", lambda t: 80.0, phase=0.5)
    flaky.samples_orig = flaky.samples
    hole = (T0 + 110.0, T0 + 120.0)
    flaky.samples = lambda lo, hi: [(t, v) for t, v in flaky.samples_orig(lo, hi) if not hole[0] <= t < hole[1]]
    ramp = node("w", "n2", lambda t: 10.0 * (t - T0), phase=0.2)
    prom = prometheus_with([flaky, ramp])
    clock = FakeClock(start_utc=T0 + 100.0)
    driver = registry.create("prometheus", prom.url, query="w", clock=clock)
    records, events = run_driver(driver, clock, 40.0)
    gaps = [e.detail for e in events if e.kind == "channel_gap"]
    assert [(g["state"], g["channel"]) for g in gaps] == [("begin", 0), ("end", 0)]
    assert 9.0 <= gaps[1]["length_s"] <= 12.0
    assert gaps[1]["bridged_j"] == pytest.approx(80.0 * 10.0, rel=0.15)
    during = (records["t"] > hole[0] + 1) & (records["t"] < hole[1] - 1)
    assert np.all(np.isnan(records["ch_w"][during][:, 0]))
    assert np.allclose(records["ch_w"][records["t"] > hole[1] + 1][:, 0], 80.0)
    assert np.count_nonzero(records["flags"] & int(Flag.GAP_BEFORE)) == 1


def test_a_counter_of_joules_gives_the_power_between_samples(prometheus_with):
    joules = node("node_rapl_package_joules_total", "n1", lambda t: 1e6 + 30.0 * (t - T0), phase=0.4)
    prom = prometheus_with([joules])
    clock = FakeClock(start_utc=T0 + 100.0)
    driver = registry.create("prometheus", prom.url, preset="rapl", clock=clock)
    records, _ = run_driver(driver, clock, 20.0)
    assert driver.description.channels == 1
    assert np.allclose(records["w"], 30.0)


def test_records_wait_for_late_series_but_not_longer_than_the_staleness_limit(prometheus_with):
    late = node("w", "n1", lambda t: 5.0, phase=0.9)
    prom = prometheus_with([late])
    clock = FakeClock(start_utc=T0 + 100.05)
    driver = registry.create("prometheus", prom.url, query="w", clock=clock)
    driver.identify()
    driver.start()
    clock.advance(1.0)  # the first interval ended at 101.05; the series' next sample is at 101.9
    first = driver.read_block(timeout=0.0)
    assert first is None or len(first.samples) == 0
    clock.advance(1.0)
    block = driver.read_block(timeout=0.0)
    assert len(block.samples) == 1 and block.samples["w"][0] == pytest.approx(5.0)


def test_a_query_that_selects_nothing_or_is_no_selector_is_refused_clearly(prometheus_with):
    prom = prometheus_with([node("w", "n1", lambda t: 5.0)])
    clock = FakeClock(start_utc=T0 + 100.0)
    with pytest.raises(ConfigurationError, match="selects no series"):
        registry.create("prometheus", prom.url, query="nothing_here", clock=clock).identify()
    with pytest.raises(ConfigurationError, match="refused the query"):
        registry.create("prometheus", prom.url, query="sum(w)", clock=clock).identify()
    with pytest.raises(ConfigurationError, match="without a range"):
        registry.create("prometheus", prom.url, query="w[5m]")
    with pytest.raises(ConfigurationError, match="needs -o query"):
        registry.create("prometheus", prom.url, clock=clock).identify()


def test_an_unreachable_server_is_a_disconnect():
    driver = registry.create("prometheus", "http://127.0.0.1:9", query="w", timeout_s=1.0)
    with pytest.raises(InstrumentDisconnected, match="cannot be reached"):
        driver.identify()


def test_presets_name_the_standard_exporters_metrics():
    assert PRESETS["dcgm"].query == "DCGM_FI_DEV_POWER_USAGE"
    assert PRESETS["ipmi"].query == "ipmi_dcmi_power_consumption_watts"
    assert PRESETS["hwmon"].query == "node_hwmon_power_average_watt"
    assert (PRESETS["rapl"].query, PRESETS["rapl"].kind) == ("node_rapl_package_joules_total", "counter")
    assert PRESETS["apc-pdu"].scale == 10.0
    assert "prometheus" in registry.claimants("http://10.0.0.5:9090")
    assert "prometheus" not in registry.claimants("tcp://10.0.0.5:9090")
