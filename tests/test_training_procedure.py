"""``station training``: every node of a training run from a real Prometheus, MLLOG node files, the energy.

The fleet's history (four nodes, two of them with two PSUs, and one measured switch; one PSU's
reading goes stale for 25 s and one node's exporter dies) is backfilled into a real Prometheus
with promtool (instruments.fakes.prometheus_history), and a performance log puts the training
run inside it. The procedure must find the run window, write ``node_0..3.txt`` and
``sw_0..1.txt`` as mlcommons/logging reads them, and give an energy within 1 % of the exact
integral of what the fleet drew over the run. Skipped without prometheus/promtool.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from instruments.fakes.prometheus_history import (
    PROMETHEUS,
    PROMTOOL,
    HistorySeries,
    PrometheusServer,
    backfill,
    exact_energy,
    history_end,
    write_openmetrics,
)
from instruments.sim import SimulatedAnalyzer
from station.measurement.instruments import InstrumentSpec
from station.training.mllog import read_power_file
from station.training.procedure import (
    EstimatedSwitch,
    TrainingPlan,
    TrainingRunError,
    follow_run_window,
    run_training,
)
from tests.helpers.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None or PROMTOOL is None,
                                      reason="prometheus and promtool (Debian package prometheus) are not installed")

RUN_START_OFFSET_MS = 5_500  # after the history's reference second S
RUN_STOP_OFFSET_MS = 65_250


def fleet(s: int) -> list[HistorySeries]:
    return [
        HistorySeries({"node": "n0", "psu": "0"}, lambda t: 300.0 + 5.0 * (t % 10)),
        HistorySeries({"node": "n0", "psu": "1"}, lambda t: 250.0 + 20.0 * math.sin(t / 5.0)),
        HistorySeries({"node": "n1", "psu": "0"}, lambda t: 200.0 + 3.0 * (t % 4)),
        HistorySeries({"node": "n1", "psu": "1"}, lambda t: 120.0, stops_at=s + 20, resumes_at=s + 45),
        HistorySeries({"node": "n2", "psu": "0"}, lambda t: 150.0, stops_at=s + 40),
        HistorySeries({"node": "n10", "psu": "0"}, lambda t: 180.0 + (t * 7 % 11)),
        HistorySeries({"switch": "leaf0"}, lambda t: 90.0 + (t % 3), metric="switch_power_watts"),
    ]


def true_energy(series: HistorySeries, a: float, b: float) -> float:
    if series.stops_at < math.inf:  # constant: what it drew while nobody was looking is known
        return series.power(0) * (b - a)
    return exact_energy(series, a, b)


def perf_log_lines(start_ms: float, stop_ms: float) -> list[str]:
    def line(t, key, kind):
        return (f':::MLLOG {{"namespace": "", "time_ms": {t}, "event_type": "{kind}", "key": "{key}", '
                f'"value": null, "metadata": {{"file": "train.py", "lineno": 1}}}}\n')
    return [line(start_ms - 30_000, "init_start", "INTERVAL_START"), line(start_ms, "run_start", "INTERVAL_START"),
            line(stop_ms, "run_stop", "INTERVAL_END")]


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """(Prometheus URL, S, series) over a backfilled history around S."""
    root = tmp_path_factory.mktemp("training-history")
    s = history_end() - 120
    series = fleet(s)
    text = root / "fleet.om"
    write_openmetrics(text, series, s - 90, s + 120)
    backfill(text, root / "tsdb")
    with PrometheusServer(root / "tsdb") as server:
        yield server.url, s, series


def node_specs(url: str) -> list[InstrumentSpec]:
    return [InstrumentSpec("prometheus", url, {"query": "node_power_watts"}, id="nodes"),
            InstrumentSpec("prometheus", url, {"query": "switch_power_watts"}, id="switches")]


@needs_prometheus
@pytest.mark.timeout(120)
def test_station_training_writes_the_node_files_and_the_official_energy(tmp_path, station_home, history):
    url, s, series = history
    start_ms, stop_ms = s * 1000 + RUN_START_OFFSET_MS, s * 1000 + RUN_STOP_OFFSET_MS
    perf_log = tmp_path / "result_0.txt"
    perf_log.write_text("".join(perf_log_lines(start_ms, stop_ms)))
    out = tmp_path / "results"
    env = {**os.environ, "STATION_HOME": str(station_home),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "station", "training", "--perf-log", str(perf_log), "--out", str(out),
         "--instrument", "prometheus", "--id", "nodes", "--resource", url, "-o", "query=node_power_watts",
         "--instrument", "prometheus", "--id", "switches", "--resource", url, "-o", "query=switch_power_watts",
         "--node-label", "node", "--measured-switch", "switches", "--switch", "spine0:1000:0.5", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)
    # The stale PSU and the dead exporter make the result fail the audit: exit 1, and the checks say why.
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - began < 40, "a past training run is read from history, not waited for"
    summary = json.loads(done.stdout.strip().splitlines()[-1])

    checks = {c["name"]: c for c in summary["checks"]}
    failed = sorted(name for name, c in checks.items() if c["status"] == "fail")
    assert any("sampling" in name for name in failed), checks
    assert any("window" in name for name in failed), checks
    sampling = next(c for name, c in checks.items() if "sampling" in name)
    window = next(c for name, c in checks.items() if "window" in name)
    assert "node_1.txt" in sampling["evidence"] and "node_2.txt" in window["evidence"]
    assert "node_0.txt" not in window["evidence"]
    assert summary["valid"] is False
    assert summary["official"]["accepted"] is True  # the official tools see nothing wrong

    power = out / "power" / "result_0"
    assert (out / "result_0.txt").read_text() == perf_log.read_text()  # the submission layout
    assert sorted(p.name for p in power.iterdir()) == ["node_0.txt", "node_1.txt", "node_2.txt", "node_3.txt",
                                                       "sw_0.txt", "sw_1.txt"]
    # Nodes numbered 0..n-1 in natural order of their names; each file names its host.
    hosts = [read_power_file(power / f"node_{i}.txt") for i in range(4)]
    assert [json.loads(h.path.read_text().splitlines()[1].split(":::MLLOG ")[1])["metadata"]["host"]
            for h in hosts] == ["n0", "n1", "n2", "n10"]

    a, b = start_ms / 1000.0, stop_ms / 1000.0
    ttt = b - a
    assert summary["time_to_train_s"] == pytest.approx(ttt)
    exact = sum(true_energy(x, a, b) for x in series) + 500.0 * ttt
    assert summary["metric"]["unit"] == "J"
    assert summary["metric"]["value"] == pytest.approx(exact, rel=0.01)

    # Each node's measurement window covers the run (margin 2 s), except n2's, whose exporter died.
    for log, host in zip(hosts, ["n0", "n1", "n2", "n10"], strict=True):
        start = log.find("power_measurement_start")[0].time_ms
        stop = log.find("power_measurement_stop")[0].time_ms
        assert start <= start_ms
        assert (stop >= stop_ms) == (host != "n2"), host
    # n1 has no readings while one of its PSUs was stale: about 25 one-second holes.
    by_name = {n["name"]: n for n in summary["nodes"]}
    assert by_name["n1"]["missing_intervals"] == pytest.approx(25, abs=2)
    assert by_name["n0"]["missing_intervals"] == 0 and by_name["n10"]["missing_intervals"] == 0
    assert by_name["n0"]["readings"] == pytest.approx(ttt + 4, abs=1.01)

    # The measured switch has its readings and an estimate (else the summarizer counts it as 0 J);
    # the estimated one is max power x share.
    measured = read_power_file(power / "sw_0.txt")
    assert len(measured) > 60 and measured.interconnect_power_est == pytest.approx(91.0, abs=0.1)
    estimated = read_power_file(power / "sw_1.txt")
    assert len(estimated) == 0 and estimated.interconnect_power_est == 500.0
    switches = {w["name"]: w for w in summary["switches"]}
    assert switches["spine0"]["energy_j"] == pytest.approx(500.0 * ttt)
    assert switches['switch_power_watts{switch="leaf0"}']["measured"] is True
    assert summary["recording"]["gaps"] >= 2
    assert summary["recording"]["instruments"]["nodes"]["gaps"] >= 2
    assert summary["recording"]["instruments"]["switches"]["gaps"] == 0


@needs_prometheus
@pytest.mark.timeout(120)
def test_following_a_live_log_records_from_run_start_until_run_stop_appears(tmp_path, station_home, history):
    """The performance log grows while the procedure waits: run_start first, run_stop later."""
    url, s, series = history
    start_ms, stop_ms = s * 1000 + RUN_START_OFFSET_MS, s * 1000 + RUN_STOP_OFFSET_MS
    lines = perf_log_lines(start_ms, stop_ms)
    perf_log = tmp_path / "result_1.txt"
    perf_log.write_text(lines[0])
    plan = TrainingPlan(perf_log, node_specs(url)[:1], tmp_path / "results", node_label="node", follow=True,
                        estimated_switches=(EstimatedSwitch("spine0", 400.0),), follow_timeout_s=60)
    said: list[str] = []
    box: list = []
    thread = threading.Thread(target=lambda: box.append(run_training(plan, said.append)))
    thread.start()
    try:
        wait_until(lambda: any("following" in x for x in said), 20, "the procedure to follow the log")
        with open(perf_log, "a") as f:
            f.write(lines[1])
        wait_until(lambda: any("recording" in x for x in said), 20, "the recording to begin at run_start")
        with open(perf_log, "a") as f:
            f.write(lines[2][:40])  # run_stop half written: not yet the end
            f.flush()
            f.write(lines[2][40:])
    finally:
        thread.join(timeout=90)
    assert not thread.is_alive()
    result = box[0]
    summary = result.summary()
    assert summary["run_stop_ms"] == stop_ms
    assert [n["name"] for n in summary["nodes"]] == ["n0", "n1", "n2", "n10"]
    exact = sum(true_energy(x, start_ms / 1e3, stop_ms / 1e3) for x in series if x.metric == "node_power_watts")
    ttt = (stop_ms - start_ms) / 1000.0
    assert summary["metric"]["value"] == pytest.approx(exact + 400.0 * ttt, rel=0.01)


def test_follow_gives_up_with_a_clear_error_when_run_start_never_comes(tmp_path):
    log = tmp_path / "result_2.txt"
    log.write_text("".join(perf_log_lines(1e12, 1e12 + 1)[:1]))
    with pytest.raises(TrainingRunError, match="no run_start after"):
        follow_run_window(log, timeout_s=0.3, poll_s=0.05)


def test_a_past_run_cannot_be_read_from_an_instrument_that_only_reads_the_present(tmp_path):
    log = tmp_path / "result_3.txt"
    log.write_text("".join(perf_log_lines(1.7e12, 1.7e12 + 60_000)))
    plan = TrainingPlan(log, [InstrumentSpec("redfish", "redfish://192.0.2.1")], tmp_path / "out")
    with pytest.raises(TrainingRunError, match="--follow"):
        run_training(plan)


def test_bad_switch_and_efficiency_arguments_are_usage_errors(tmp_path):
    from station.cli import main

    log = tmp_path / "result_4.txt"
    log.write_text("".join(perf_log_lines(1.7e12, 1.7e12 + 60_000)))
    base = ["training", "--perf-log", str(log), "--out", str(tmp_path / "o"), "--instrument", "prometheus",
            "--resource", "http://127.0.0.1:9", "-o", "query=x"]
    assert main([*base, "--switch", "spine0"]) == 2
    assert main([*base, "--switch", "spine0:100:1.5"]) == 2
    assert main([*base, "--conversion-eff", "0.9"]) == 2


def sine(base: float, amplitude: float, period: float, phase: float):
    """P(t) and its exact integral over [a, b]."""
    w = 2 * math.pi / period
    return (lambda t: base + amplitude * math.sin(w * t + phase),
            lambda a, b: base * (b - a) - amplitude / w * (math.cos(w * b + phase) - math.cos(w * a + phase)))


@needs_prometheus
@pytest.mark.slow
@pytest.mark.timeout(150)
def test_station_training_follows_a_live_run_on_real_exporters_while_one_dies(tmp_path, station_home):
    """Live: exporters of our own, a real Prometheus scraping them at 1 s, the log written as the run goes,
    and one node read by an instrument of its own (the simulated analyzer: any driver is one node)."""
    from instruments.fakes.node_exporter import NodeExporter

    profiles = {"n0": sine(300.0, 10.0, 10.0, 0.0), "n1": sine(200.0, 8.0, 7.0, 1.0),
                "n2": (lambda t: 150.0, lambda a, b: 150.0 * (b - a))}
    exporters = [NodeExporter({"n0": profiles["n0"][0], "n1": profiles["n1"][0]}),
                 NodeExporter({"n2": profiles["n2"][0]})]
    perf_log = tmp_path / "result_0.txt"
    perf_log.write_text(perf_log_lines(0, 0)[0])
    out = tmp_path / "results"
    env = {**os.environ, "STATION_HOME": str(station_home),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        with PrometheusServer(tmp_path / "tsdb", targets=tuple(e.target for e in exporters)) as server:
            def scraped_thrice() -> bool:
                query = f"{server.url}/api/v1/query?query=node_power_watts[5s]"
                with urllib.request.urlopen(query, timeout=5) as reply:
                    result = json.loads(reply.read())["data"]["result"]
                return len(result) == 3 and all(len(r["values"]) >= 3 for r in result)

            wait_until(scraped_thrice, 40, "three scrapes of every node", interval=0.2)
            run = subprocess.Popen(
                [sys.executable, "-m", "station", "training", "--follow", "--perf-log", str(perf_log), "--out",
                 str(out), "--instrument", "prometheus", "--resource", server.url, "-o", "query=node_power_watts",
                 "--instrument", "sim", "--id", "bmc7", "--profile", "training", "--interval", "1",
                 "--node-label", "node", "--margin", "1", "--json"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                start = time.time()
                with open(perf_log, "a") as f:
                    f.write(perf_log_lines(start * 1000, 0)[1])
                wait_until(lambda: time.time() > start + 7, 10, "the middle of the run", interval=0.05)
                exporters[1].stop()  # node n2's exporter dies
                wait_until(lambda: time.time() > start + 15, 10, "the end of the run", interval=0.05)
                stop = time.time()
                with open(perf_log, "a") as f:
                    f.write(perf_log_lines(0, stop * 1000)[2])
                stdout, stderr = run.communicate(timeout=60)
            finally:
                if run.poll() is None:
                    run.kill()
                    run.wait(timeout=10)
    finally:
        for e in exporters:
            e.stop()
    assert run.returncode == 1, stderr  # n2's window does not cover the run
    summary = json.loads(stdout.strip().splitlines()[-1])
    a, b = summary["run_start_ms"] / 1000.0, summary["run_stop_ms"] / 1000.0
    assert b - a == pytest.approx(15.0, abs=0.5)
    files = {n["name"]: n for n in summary["nodes"]}
    assert [n["name"] for n in summary["nodes"]] == ["bmc7", "n0", "n1", "n2"]
    assert files["bmc7"]["instrument"] == "bmc7" and files["bmc7"]["readings"] >= 15
    exact = sum(energy(a, b) for _, energy in profiles.values())
    assert summary["metric"]["value"] == pytest.approx(exact + files["bmc7"]["energy_j"], rel=0.01)
    window = next(c for c in summary["checks"] if "window" in c["name"])
    assert window["status"] == "fail" and files["n2"]["file"] in window["evidence"]
    for name in ("bmc7", "n0", "n1"):
        assert files[name]["file"] not in window["evidence"], name


class MeterOnHold(SimulatedAnalyzer):
    """The simulated analyzer that stops delivering (front-panel HOLD) 1 s after it starts."""

    def start(self) -> None:
        super().start()
        self.hold_at = time.monotonic() + 1.0

    def read_block(self, timeout: float = 0.5):
        if time.monotonic() >= self.hold_at:
            time.sleep(timeout)  # the stimulus: a meter on hold answers nothing for the whole timeout
            return None
        return super().read_block(timeout)


@pytest.mark.timeout(60)
def test_a_node_that_stops_delivering_after_the_run_ends_the_recording_with_what_it_has(tmp_path, monkeypatch):
    from instruments import registry
    from station.core.journal import JournalReader
    from station.training import procedure

    monkeypatch.setattr(registry, "_registered", {**registry._registered})  # the registration is undone after
    registry.register("meter-on-hold", MeterOnHold)
    monkeypatch.setattr(procedure, "STALL_S", 1.0)
    now_ms = time.time() * 1000
    log = tmp_path / "result_6.txt"
    log.write_text("".join(perf_log_lines(now_ms, now_ms + 2000)))
    plan = TrainingPlan(log, [InstrumentSpec("meter-on-hold", id="node7", interval_s=0.1)], tmp_path / "out",
                        follow=True, margin_s=0.5, follow_timeout_s=30)
    said: list[str] = []
    result = run_training(plan, said.append)
    assert any("node7 delivered nothing" in x for x in said)
    assert [e for e in JournalReader(result.run_dir).events() if e["kind"] == "training_stalled"]
    window = next(c for c in result.summary()["checks"] if "window" in c["name"])
    assert window["status"] == "fail" and "node_0.txt" in window["evidence"]


@pytest.mark.timeout(60)
def test_following_stops_with_the_recordings_own_error_when_the_telemetry_is_unreachable(tmp_path):
    from instruments.fakes.prometheus_history import free_port

    log = tmp_path / "result_5.txt"
    log.write_text("".join(perf_log_lines(time.time() * 1000, 0)[:2]))  # run_start, no run_stop yet
    plan = TrainingPlan(log, [InstrumentSpec("prometheus", f"http://127.0.0.1:{free_port()}", {"query": "x"})],
                        tmp_path / "out", follow=True, follow_timeout_s=40)
    began = time.monotonic()
    with pytest.raises(TrainingRunError, match="cannot open the instruments.*cannot be reached"):
        run_training(plan)
    assert time.monotonic() - began < 20  # not waiting for a run_stop that no longer matters
