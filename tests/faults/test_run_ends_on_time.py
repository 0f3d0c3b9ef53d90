"""Every run ends on time: `station run --duration D` against an analyzer that misbehaves ends within
D + 10 s, keeps what it recorded, exits 1 and says what happened (issue: a WT300E on front-panel HOLD
never sets its update bit, and the run went on for good)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from instruments.fakes.serve import TcpDeviceServer, WallClock
from instruments.fakes.yokogawa import Wt300eDevice
from station.core.journal import JournalReader

ROOT = Path(__file__).resolve().parents[2]
DURATION = 3.0
LIMIT = DURATION + 10.0


def _run(resource: str, out: Path, home: Path) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "STATION_HOME": str(home), "STATION_VISA_BACKEND": "@py"}
    argv = [sys.executable, "-m", "station", "run", "--instrument", "wt300e", "--resource", resource,
            "--interval", "0.1", "--duration", str(DURATION), "--voltage-range", "300", "--current-range", "5",
            "--json", "--out", str(out)]
    t0 = time.monotonic()
    res = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=LIMIT + 60)
    return res, time.monotonic() - t0


def _device() -> Wt300eDevice:
    return Wt300eDevice(clock=WallClock(), serial="C2QB00001")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_an_analyzer_on_hold_never_updates_and_the_run_still_ends_on_time(tmp_path, station_home):
    device = _device()
    device.hold()
    with TcpDeviceServer(device) as server:
        res, elapsed = _run(server.visa_resource, tmp_path / "run", station_home)
    assert res.returncode == 1, res.stderr
    assert elapsed < LIMIT + 5.0, f"took {elapsed:.1f} s"  # interpreter start-up included
    assert "did not deliver the requested duration in time" in res.stderr and "HOLD" in res.stderr
    summary = json.loads(res.stdout)
    assert summary["state"] == "failed" and summary["ended_by"] == "deadline"
    assert (tmp_path / "run" / "summary.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_an_analyzer_that_stops_answering_mid_run_ends_the_run_on_time_with_what_it_delivered(tmp_path,
                                                                                          station_home):
    device = _device()
    out = tmp_path / "run"
    with TcpDeviceServer(device) as server:
        env = {**os.environ, "STATION_HOME": str(station_home), "STATION_VISA_BACKEND": "@py"}
        argv = [sys.executable, "-m", "station", "run", "--instrument", "wt300e", "--resource",
                server.visa_resource, "--interval", "0.1", "--duration", str(DURATION), "--voltage-range", "300",
                "--current-range", "5", "--json", "--out", str(out)]
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        data = out / "samples-inst0.bin"
        while not (data.exists() and data.stat().st_size > 0):  # the stimulus waits for the first samples
            assert proc.poll() is None and time.monotonic() - t0 < 60, "the run never started"
            time.sleep(0.05)
        device.stall()
        stdout, stderr = proc.communicate(timeout=LIMIT + 60)
        elapsed = time.monotonic() - t0
    assert proc.returncode == 1, stderr
    assert elapsed < LIMIT + 5.0, f"took {elapsed:.1f} s"
    assert "the run failed" in stderr
    delivered = len(JournalReader(out).samples("inst0"))
    assert 0 < delivered < DURATION / 0.1
    assert json.loads(stdout)["samples"] == delivered
