"""End to end: a real Prometheus scraping node exporters of our own, read by ``station run``.

Three exporters (prometheus-client on 127.0.0.1) serve ``node_power_watts`` with deterministic
profiles whose energy is known in closed form; Prometheus (the Debian binary, a temporary
config and data directory, 1 s scrapes) scrapes them; ``station run --instrument prometheus``
records for 60 s (the issue's training-style length) while one exporter dies and one series goes stale (its exporter keeps
repeating the same sample timestamp, which Prometheus stores once). The run's energy is within
1 % of the exact integral of all four profiles (the two that stop are constant, so bridging
them at their mean is exact) and both gaps are reported. Skipped when prometheus is absent.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from station.core.journal import JournalReader

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = shutil.which("prometheus")
RUN_S = 60  # seconds recorded: a training-style run, at least a minute
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(PROMETHEUS is None, reason="the prometheus binary is not installed")]


def sine(base: float, amplitude: float, period: float, phase: float):
    """P(t) and its exact integral over [a, b]."""
    w = 2 * math.pi / period

    def power(t: float) -> float:
        return base + amplitude * math.sin(w * t + phase)

    def energy(a: float, b: float) -> float:
        return base * (b - a) - amplitude / w * (math.cos(w * b + phase) - math.cos(w * a + phase))

    return power, energy


def constant(watts: float):
    return (lambda t: watts), (lambda a, b: watts * (b - a))


class NodeExporter:
    """One node's exporter: ``node_power_watts{node=...}`` computed at scrape time from its profile.

    ``frozen_after`` (UTC seconds): from then on the sample carries the timestamp and value of the
    last scrape before it, as a BMC that stopped updating its reading would.
    """

    def __init__(self, nodes: dict[str, callable], frozen: dict[str, float] | None = None) -> None:
        self.nodes = nodes
        self.frozen = frozen or {}
        self.last: dict[str, tuple[float, float]] = {}
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.server, self.thread = prometheus_client.start_http_server(0, addr="127.0.0.1",
                                                                       registry=self.registry)
        self.target = f"127.0.0.1:{self.server.server_port}"

    def collect(self):
        family = GaugeMetricFamily("node_power_watts", "node input power", labels=["node"])
        now = time.time()
        for name, power in self.nodes.items():
            if name in self.frozen:
                if now < self.frozen[name] or name not in self.last:
                    self.last[name] = (now, power(now))
                t, value = self.last[name]
                family.add_metric([name], value, timestamp=t)
            else:
                family.add_metric([name], power(now))
        yield family

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.loads(reply.read())


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fleet(tmp_path):
    """Exporters of four nodes (n3 freezes later) and a Prometheus scraping them every second."""
    profiles = {"n0": sine(300.0, 50.0, 20.0, 0.0), "n1": sine(200.0, 30.0, 15.0, 1.0),
                "n2": constant(150.0), "n3": constant(100.0)}
    exporters = [NodeExporter({"n0": profiles["n0"][0], "n3": profiles["n3"][0]}, frozen={}),
                 NodeExporter({"n1": profiles["n1"][0]}),
                 NodeExporter({"n2": profiles["n2"][0]})]
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
        "scrape_configs:\n  - job_name: nodes\n    static_configs:\n"
        f"      - targets: [{', '.join(e.target for e in exporters)}]\n")
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                               f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2).status == 200, 30, "Prometheus ready")
        yield url, exporters, profiles
    finally:
        for exporter in exporters:
            exporter.stop()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@pytest.mark.timeout(300)
def test_station_run_integrates_a_fleet_from_prometheus_while_one_exporter_dies(tmp_path, station_home, fleet):
    url, exporters, profiles = fleet

    def scraped_enough():
        data = get_json(f"{url}/api/v1/query?query=node_power_watts[5s]")["data"]["result"]
        return len(data) == 4 and all(len(s["values"]) >= 3 for s in data)

    wait_for(scraped_enough, 40, "three scrapes of every node")
    out = tmp_path / "run"
    env = {**os.environ, "STATION_HOME": str(station_home),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    started = time.time()
    exporters[0].frozen["n3"] = started + 20.0
    run = subprocess.Popen([sys.executable, "-m", "station", "run", "--instrument", "prometheus",
                            "--resource", url, "-o", "query=node_power_watts", "--duration", str(RUN_S),
                            "--json", "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: time.time() > started + 30.0, 45, "the middle of the run")
        exporters[2].stop()  # node n2's exporter dies
        stdout, stderr = run.communicate(timeout=RUN_S + 60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=10)
    assert run.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["state"] == "complete"

    journal = JournalReader(out)
    records = journal.samples("inst0")
    names = journal.instruments["inst0"].info["driver_settings"]["channel_names"]
    a, b = float(records["t"][0]) - 1.0, float(records["t"][-1])
    exact = sum(energy(a, b) for _, energy in profiles.values())
    assert summary["energy_j"] == pytest.approx(exact, rel=0.01)
    assert summary["duration_s"] == pytest.approx(RUN_S, abs=1.01)

    gap_events = [e for e in journal.events() if e["kind"] == "channel_gap" and e.get("state") == "begin"]
    stopped = sorted(e["series"] for e in gap_events)
    assert stopped == sorted([f'node_power_watts{{instance="{exporters[2].target}",job="nodes",node="n2"}}',
                       f'node_power_watts{{instance="{exporters[0].target}",job="nodes",node="n3"}}'])
    assert summary["gaps"] >= 2
    # The others went on: n0 and n1 have a measured power in every record.
    assert len(names) == records["ch_w"].shape[1] == 4
    for node in ("n0", "n1"):
        channel = next(k for k, name in enumerate(names) if f'node="{node}"' in name)
        assert not any(math.isnan(x) for x in records["ch_w"][:, channel]), node
