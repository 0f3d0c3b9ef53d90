"""The disk refuses writes during a run: a clean stop, a clear message, an intact journal.

The failure is injected at the operating system: the station runs with a file size limit
(RLIMIT_FSIZE, SIGXFSZ ignored), so its writes fail with EFBIG exactly as they would with
ENOSPC on a full disk — no code of ours is patched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from station.core.journal import JournalReader

resource = pytest.importorskip("resource")
ROOT = Path(__file__).resolve().parents[2]
LIMIT = 400_000  # bytes per file: about 9,500 samples of 42 bytes

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="POSIX only")]


def _limit_files():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_disk_full_mid_run_stops_cleanly_with_a_clear_message(tmp_path, station_home):
    out = tmp_path / "run"
    env = {**os.environ, "STATION_HOME": str(station_home), "QT_QPA_PLATFORM": "offscreen"}
    res = subprocess.run(
        [sys.executable, "-m", "station", "run", "--duration", "60", "--rate", "5000", "--seed", "3",
         "--out", str(out), "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, preexec_fn=_limit_files,
    )
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert "writing the journal" in res.stderr and "File too large" in res.stderr
    assert "everything recorded before this point is kept" in res.stderr
    summary = json.loads(res.stdout)
    assert summary["state"] == "failed" and "File too large" in summary["error"]
    # the journal holds whole records only, and the summary describes exactly them
    reader = JournalReader(out)
    data = np.asarray(reader.samples("inst0"))
    assert reader.torn_bytes("inst0") == 0
    assert summary["samples"] == len(data) > 5000
    assert np.all(np.diff(data["t"]) > 0)
    assert json.loads((out / "summary.json").read_text())["samples"] == len(data)
    assert not (out / "journal.lock").exists()
    # and the next station start has nothing to recover from it
    nxt = subprocess.run([sys.executable, "-m", "station", "recover", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert nxt.returncode == 0, nxt.stderr
    assert str(out) not in nxt.stdout
