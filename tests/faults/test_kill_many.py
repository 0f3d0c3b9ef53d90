"""Twenty kill -9 of a recording station at random moments, each followed by recovery.

Each run is the simulated analyzer with a fixed seed and start time, so after recovery every
sample can be compared with the samples that analyzer produces: all samples older than one
second at the kill must be there, bit for bit, without holes. Two stations run at a time.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from instruments import registry
from instruments.base import AUTO, Config
from station.core.journal import JournalReader, samples_file
from station.core.recovery import recover
from tests.helpers.processes import wait_for_bytes_on_disk

ROOT = Path(__file__).resolve().parents[2]
RATE = 1000
KILLS = int(os.environ.get("STATION_FAULT_KILLS", "20"))
GROUP = 4  # stations recording at the same time

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")]


def reference(seed: int, start_time: float, n: int) -> np.ndarray:
    """What the simulated analyzer measures: the same seed and start time, unpaced."""
    drv = registry.create("sim", None, seed=seed, pace=False, start_time=start_time)
    drv.open()
    drv.configure(Config(update_interval_s=1.0 / RATE, crest_factor=3.0, mode="rms"))
    drv.set_ranges(AUTO, AUTO)
    drv.start()
    blocks, got = [], 0
    while got < n:
        b = drv.read_block()
        blocks.append(b.samples)
        got += len(b.samples)
    drv.stop()
    drv.close()
    return np.concatenate(blocks)[:n]


def start_station(out: Path, seed: int, env: dict) -> tuple[subprocess.Popen, float]:
    t0 = round(time.time(), 3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "station", "run", "--instrument", "sim", "--duration", "120",
         "--rate", str(RATE), "--seed", str(seed), "-o", f"start_time={t0}", "--out", str(out)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    return proc, t0


@pytest.mark.timeout(max(300, 15 * KILLS))  # ~2 s a kill; the soak sets more
def test_twenty_kills_at_random_moments_lose_nothing_older_than_one_second(tmp_path, station_home):
    env = {**os.environ, "STATION_HOME": str(station_home), "QT_QPA_PLATFORM": "offscreen"}
    rng = random.Random(20261128)
    plans = [(i, 1000 + i, rng.uniform(0.0, 2.5)) for i in range(KILLS)]
    outcomes = []
    for pair in range(0, len(plans), GROUP):
        running = []
        for i, seed, delay in plans[pair:pair + GROUP]:
            out = tmp_path / f"run{i}"
            # each station its own home: the next start would otherwise recover the killed run itself
            proc, t0 = start_station(out, seed, {**env, "STATION_HOME": str(tmp_path / f"home{i}")})
            running.append((i, seed, delay, out, proc, t0))
        for _i, _seed, _delay, out, proc, _t0 in running:
            wait_for_bytes_on_disk(out / samples_file("inst0"), 0, proc, timeout=90)
        for i, seed, delay, out, proc, t0 in sorted(running, key=lambda r: r[2]):
            time.sleep(max(0.0, delay - 0.0))  # the random kill moment is the stimulus, nothing is awaited
            killed_at = time.time()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
            assert proc.returncode == -signal.SIGKILL
            outcomes.append((i, seed, out, t0, killed_at))
    for i, seed, out, t0, killed_at in outcomes:
        assert not (out / "summary.json").exists(), f"run {i} was not killed mid-run"
        summary = recover(out)
        assert summary["state"] == "recovered", (i, summary)
        data = np.asarray(JournalReader(out).samples("inst0"))
        assert len(data) == summary["samples"] > 0
        t = data["t"]
        # nothing older than 1 s at the kill is missing (sample times are measuring times,
        # so the last one on disk is at most 1 s + one interval behind the kill)
        assert t[-1] >= killed_at - 1.0 - 1.0 / RATE - 0.25, (i, killed_at - t[-1])
        ref = reference(seed, t0, len(data))
        assert np.array_equal(data["t"], ref["t"]), f"run {i}: sample times differ"
        same = (data["w"] == ref["w"]) | (np.isnan(data["w"]) & np.isnan(ref["w"]))
        assert same.all(), f"run {i}: {np.count_nonzero(~same)} samples differ from what was measured"
        assert np.array_equal(data["flags"], ref["flags"])
