"""``station training --follow`` on nodes read from their BMCs over Redfish, plus one node from Prometheus.

Two sushy-static BMCs (tests/helpers/redfish_bmc.py) serve power profiles of UTC time that
change between requests; the second one's ``ReadingTime`` stands still for a few seconds in the
middle of the run (a BMC that stopped updating its sensor). A third node comes from the fake
Prometheus API (instruments/fakes/prometheus.py). The performance log is written as the run
goes, and the procedure must write one MLLOG node file per node with each BMC's readings at
1 Hz, an energy close to the exact integral of the profiles, the stale BMC as a gap in the
audit, and no credential in any file it writes.
"""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from instruments.fakes.prometheus import FleetPrometheus
from instruments.redfish import PASSWORD_ENV, USERNAME_ENV
from station.core.journal import JournalReader
from station.training.mllog import read_power_file
from tests.helpers.redfish_bmc import SKIP_REASON, SUSHY, running_bmc
from tests.helpers.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "trainer3", "pw-Kv52-not-in-any-file"
RUN_S = 16.0  # run_start .. run_stop
HOLD = (5.0, 10.0)  # seconds after run_start while the second BMC's ReadingTime stands still
STALE_AFTER_S = 1.5


def sine(base: float, amplitude: float, period: float, phase: float):
    """P(t) and its exact integral over [a, b] (UTC seconds)."""
    w = 2 * math.pi / period
    return (lambda t: base + amplitude * math.sin(w * t + phase),
            lambda a, b: base * (b - a) - amplitude / w * (math.cos(w * b + phase) - math.cos(w * a + phase)))


PROFILES = {"bmc0": sine(900.0, 60.0, 4.0, 0.0), "bmc1": sine(600.0, 30.0, 5.0, 1.0), "n7": sine(400.0, 20.0, 6.0, 2.0)}
RANGES = {"bmc0": (840.0, 960.0), "bmc1": (570.0, 630.0), "n7": (380.0, 420.0)}


def mllog(time_ms: float, key: str, kind: str) -> str:
    return (f':::MLLOG {{"namespace": "", "time_ms": {time_ms:.0f}, "event_type": "{kind}", "key": "{key}", '
            f'"value": null, "metadata": {{"file": "train.py", "lineno": 1}}}}\n')


class Lines:
    """The lines a process writes to a pipe, collected by a thread."""

    def __init__(self, pipe) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:
        for line in pipe:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


@pytest.mark.skipif(SUSHY is None, reason=SKIP_REASON)
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_station_training_follows_a_run_on_redfish_bmcs_and_reports_the_stale_one(tmp_path, station_home):
    perf_log = tmp_path / "result_0.txt"
    perf_log.write_text(mllog(time.time() * 1000 - 30_000, "init_start", "INTERVAL_START"))
    out = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if k not in (USERNAME_ENV, PASSWORD_ENV)}
    env.update({"STATION_HOME": str(station_home), USERNAME_ENV: USER, PASSWORD_ENV: PASSWORD,
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    fleet = FleetPrometheus({"n7": PROFILES["n7"][0]}, scrape_s=0.5)
    try:
        with running_bmc(tmp_path / "bmc0") as bmc0, running_bmc(tmp_path / "bmc1") as bmc1:
            bmc0.drive(PROFILES["bmc0"][0])
            bmc1.drive(PROFILES["bmc1"][0])
            redfish = ["-o", "auth=basic", "-o", f"stale_after_s={STALE_AFTER_S}", "--interval", "1"]
            run = subprocess.Popen(
                [sys.executable, "-m", "station", "training", "--follow", "--perf-log", str(perf_log),
                 "--out", str(out),
                 "--instrument", "redfish", "--id", "bmc0", "--resource", bmc0.resource, *redfish,
                 "--instrument", "redfish", "--id", "bmc1", "--resource", bmc1.resource, *redfish,
                 "--instrument", "prometheus", "--id", "fleet", "--resource", fleet.url,
                 "-o", "query=node_power_watts", "--interval", "1",
                 "--node-label", "node", "--margin", "1", "--json"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            said = Lines(run.stderr)
            try:
                def following() -> bool:
                    if run.poll() is not None:
                        raise AssertionError(f"station training ended (exit {run.returncode}): {said.text()}")
                    return said.has("following")

                wait_until(following, 60, "station training to follow the performance log", interval=0.05)
                start = time.time()
                bmc1.hold(start + HOLD[0], start + HOLD[1])
                with open(perf_log, "a") as f:
                    f.write(mllog(start * 1000, "run_start", "INTERVAL_START"))
                wait_until(lambda: time.time() >= start + RUN_S, RUN_S + 10, "the end of the training run",
                           interval=0.05)
                stop = time.time()
                with open(perf_log, "a") as f:
                    f.write(mllog(stop * 1000, "run_stop", "INTERVAL_END"))
                stdout, _ = run.communicate(timeout=90)
            finally:
                if run.poll() is None:
                    run.kill()
                    run.wait(timeout=10)
            sushy_logs = [bmc0.log_path.read_bytes(), bmc1.log_path.read_bytes()]
    finally:
        fleet.close()
    stderr = said.text()
    # The stale BMC's gap fails the audit: exit 1 with a summary; the checks say why.
    assert run.returncode == 1, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    a, b = summary["run_start_ms"] / 1000.0, summary["run_stop_ms"] / 1000.0
    assert b - a == pytest.approx(RUN_S, abs=0.5)

    # One node file per node, numbered in the order of the node names; each holds its own BMC's readings.
    nodes = summary["nodes"]
    assert [(n["file"], n["name"], n["instrument"]) for n in nodes] == [
        ("node_0.txt", "bmc0", "bmc0"), ("node_1.txt", "bmc1", "bmc1"), ("node_2.txt", "n7", "fleet")]
    power = out / "power" / "result_0"
    assert sorted(p.name for p in power.iterdir()) == ["node_0.txt", "node_1.txt", "node_2.txt"]
    logs = {n["name"]: read_power_file(power / n["file"]) for n in nodes}
    for name, log in logs.items():
        t_s = np.asarray(log.time_ms) / 1000.0
        lo, hi = RANGES[name]
        assert np.all((np.asarray(log.watts) >= lo) & (np.asarray(log.watts) <= hi)), name
        assert len(np.unique(np.round(log.watts, 6))) > 5, f"{name}'s readings did not change"
        inside = t_s[(t_s >= a) & (t_s <= b)]
        assert np.all(np.diff(t_s) > 0), name
        if name != "bmc1":  # at least once a second over the whole run
            assert inside.size >= RUN_S - 1 and np.max(np.diff(np.concatenate(([a], inside, [b])))) <= 1.5, name
    # bmc1 read at 1 Hz except while its ReadingTime stood still (INVALID samples, not written).
    t1 = np.asarray(logs["bmc1"].time_ms) / 1000.0
    steps = np.diff(t1)
    assert np.count_nonzero(steps > 1.5) == 1 and 2.5 <= steps.max() <= HOLD[1] - HOLD[0] + 2.0, steps
    gap_end = t1[1:][np.argmax(steps)]
    assert a + HOLD[0] + STALE_AFTER_S < gap_end <= a + HOLD[1] + 2.0
    assert summary["nodes"][1]["missing_intervals"] >= 2 and summary["nodes"][0]["missing_intervals"] == 0

    # The energy: the official summarizer's, within 2 % of the exact integral of the three profiles
    # (1 Hz readings of a changing power and bmc1's gap bridged by its next reading); bmc0 alone within 1.5 %.
    exact = {name: energy(a, b) for name, (_, energy) in PROFILES.items()}
    assert summary["metric"]["unit"] == "J"
    assert summary["metric"]["value"] == pytest.approx(sum(exact.values()), rel=0.02)
    assert nodes[0]["energy_j"] == pytest.approx(exact["bmc0"], rel=0.015)
    assert nodes[2]["energy_j"] == pytest.approx(exact["n7"], rel=0.015)

    # The audit: bmc1's stale reading is a gap in its sampling; the others have none.
    sampling = next(c for c in summary["checks"] if "sampling" in c["name"])
    assert sampling["status"] == "fail"
    per_file = {part.split(":")[0].strip(): part for part in sampling["evidence"].split(";")}
    assert "longest gap" in per_file["node_1.txt"], sampling["evidence"]
    assert "longest gap" not in per_file.get("node_0.txt", "") and "longest gap" not in per_file.get("node_2.txt", "")
    recorded = summary["recording"]["instruments"]  # the recording's coverage says the same
    assert recorded["bmc1"]["coverage"] < 0.95 and recorded["bmc0"]["coverage"] > 0.99
    duplicates = next(c for c in summary["checks"] if c["name"] == "duplicate timestamps")
    assert duplicates["status"] == "pass"
    stale = [e for e in JournalReader(Path(summary["run_dir"])).events() if e["kind"] == "stale_reading"]
    assert [(e.get("instrument"), e.get("state") or e.get("detail", {}).get("state")) for e in stale] == [
        ("bmc1", "begin"), ("bmc1", "end")], stale

    # The credentials reached the BMCs (sushy-static logs the headers) and no file of the result holds them.
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    assert all(basic in log for log in sushy_logs)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "node_0.txt" for p in files) and any(p.parent.name == "result_0" for p in files)
    for path in files:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data and basic not in data and USER.encode() not in data, \
            f"a credential is in {path}"
    assert PASSWORD not in stdout and PASSWORD not in stderr
