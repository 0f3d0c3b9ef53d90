"""A run killed with SIGKILL is restored with every sample older than one second."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from station.core.journal import JournalReader, samples_file

ROOT = Path(__file__).resolve().parents[1]
RATE = 2000


def station(*argv, env, timeout=120):
    return subprocess.run([sys.executable, "-m", "station", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_mid_run_then_recover(tmp_path, station_home):
    env = {**os.environ, "STATION_HOME": str(station_home), "QT_QPA_PLATFORM": "offscreen"}
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "run", "--instrument", "sim", "--duration", "60",
         "--rate", str(RATE), "--seed", "5", "--out", str(out), "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        data_file = out / samples_file("inst0")
        deadline = time.monotonic() + 60
        # Wait until about 3 s of samples are on disk, so the run is really streaming.
        while time.monotonic() < deadline:
            if data_file.exists() and data_file.stat().st_size > 3 * RATE * 50:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        time.sleep(1.5)  # the run streams on a while, so the kill lands mid-stream: the stimulus
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    assert not (out / "summary.json").exists()  # it really died mid-run
    result = station("recover", str(out), "--json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["state"] == "recovered"

    data = JournalReader(out).samples()
    t = np.asarray(data["t"])
    # Every sample older than one second at the moment of the kill is there, without holes.
    assert t[-1] >= killed_at - 1.0
    assert np.all(np.diff(t) > 0)
    assert len(t) == pytest.approx((t[-1] - t[0]) * RATE + 1, abs=1)
    assert summary["samples"] == len(t)
    assert summary["avg_w"] == pytest.approx(float(np.mean(data["w"][np.isfinite(data["w"])])), rel=1e-9)
    kinds = [e["kind"] for e in JournalReader(out).events()]
    assert kinds[0] == "recording_started" and kinds[-1] == "recovered"


@pytest.mark.slow
def test_next_start_recovers_an_interrupted_run(tmp_path, station_home):
    env = {**os.environ, "STATION_HOME": str(station_home), "QT_QPA_PLATFORM": "offscreen"}
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "run", "--duration", "60", "--rate", "500", "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        (out / samples_file("inst0")).exists() and (out / samples_file("inst0")).stat().st_size > 0
    ):
        time.sleep(0.05)
    time.sleep(1.0)  # the run streams on a while, so the kill lands mid-stream: the stimulus
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    # The next start of the station (any run) recovers it and says so.
    nxt = station("run", "--duration", "1", "--rate", "10", "-o", "pace=false", "--out", str(tmp_path / "next"),
                  env=env)
    assert nxt.returncode == 0, nxt.stderr
    assert f"recovered interrupted run {out}" in nxt.stderr
    assert json.loads((out / "summary.json").read_text())["state"] == "recovered"
