"""The station as a Prometheus target: its live readings, scraped over HTTP as Prometheus would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from instruments.records import good_mask
from station.measurement.instruments import InstrumentSpec, open_instrument

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from station.telemetry.exporter import MetricsServer, parse_address  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def scrape(url: str) -> dict[tuple[str, tuple], tuple[float, float | None]]:
    """{(sample name, sorted labels): (value, timestamp)} of one scrape."""
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = (s.value, s.timestamp)
    return found


def until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.timeout(60)
def test_the_last_sample_and_the_energy_are_served_with_the_analyzer_timestamps():
    session = open_instrument(InstrumentSpec("sim", options={"profile": "datacenter", "seed": 3}, interval_s=0.1),
                              "bench")
    session.connect()
    blocks = []
    session.add_sink(blocks.append)
    server = MetricsServer("127.0.0.1:0")
    try:
        server.metrics.attach(session)
        before = scrape(server.url)
        assert before[("station_samples_total", (("instrument", "bench"),))][0] == 0
        assert ("station_power_watts", (("instrument", "bench"),)) not in before  # no sample yet: no reading
        info = before[("station_instrument_info", (("driver", "sim"), ("instrument", "bench"), ("model", session.identity.model),
                                                   ("serial", session.identity.serial),
                                                   ("vendor", session.identity.vendor)))]
        assert info[0] == 1.0
        session.start()
        until(lambda: sum(len(b) for b in blocks) >= 10, 20, "ten samples")
        session.stop()
        samples = np.concatenate(blocks)
        metrics = scrape(server.url)
        label = (("instrument", "bench"),)
        watts, stamp = metrics[("station_power_watts", label)]
        assert watts == pytest.approx(float(samples["w"][-1]), rel=1e-9)
        assert stamp == pytest.approx(float(samples["t"][-1]), abs=1e-3)  # the analyzer's time, not the scrape's
        assert metrics[("station_voltage_volts", label)][0] == pytest.approx(float(samples["v"][-1]), rel=1e-6)
        assert metrics[("station_samples_total", label)][0] == len(samples)
        assert metrics[("station_energy_joules_total", label)][0] == pytest.approx(
            float(samples["w"][good_mask(samples)].sum()) * 0.1, rel=1e-9)
    finally:
        server.close()
        session.close()
    with pytest.raises(urllib.error.URLError):
        scrape(server.url)


def test_an_address_must_name_its_host():
    assert parse_address("127.0.0.1:9101") == ("127.0.0.1", 9101)
    assert parse_address("[::1]:0") == ("::1", 0)
    for bad in (":9101", "9101", "localhost", "127.0.0.1:99999"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_address(bad)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_station_run_serves_its_analyzer_while_the_run_lasts(tmp_path, station_home):
    env = {**os.environ, "STATION_HOME": str(station_home),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.Popen([sys.executable, "-m", "station", "run", "--instrument", "sim", "--rate", "10",
                            "--metrics", "127.0.0.1:0", "--duration", "6", "--json", "--out", str(tmp_path / "run")],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = run.stderr.readline()
        url = re.search(r"Prometheus metrics at (http://\S+)", line)
        assert url, line
        label = (("instrument", "inst0"),)
        first = until(lambda: (m := scrape(url.group(1)))[("station_samples_total", label)][0] >= 5 and m,
                      30, "samples on /metrics")
        second = until(lambda: (m := scrape(url.group(1)))[("station_samples_total", label)][0]
                       > first[("station_samples_total", label)][0] + 5 and m, 30, "more samples")
        assert second[("station_energy_joules_total", label)][0] > first[("station_energy_joules_total", label)][0]
        assert second[("station_power_watts", label)][1] > first[("station_power_watts", label)][1]
        run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)
    assert run.returncode == 0
    with pytest.raises(urllib.error.URLError):
        scrape(url.group(1))


@pytest.mark.timeout(60)
def test_a_metrics_address_that_cannot_be_used_is_a_usage_error(tmp_path, station_home):
    env = {**os.environ, "STATION_HOME": str(station_home),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "station", "run", "--instrument", "sim", "--metrics", "9101",
                          "--duration", "1", "--out", str(tmp_path / "run")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=50)
    assert res.returncode == 2
    assert "--metrics 9101" in res.stderr and "HOST:PORT" in res.stderr
    assert not (tmp_path / "run").exists()
