"""A recorded session directory built by hand: two journaled runs, the session's files, a review."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from station.bundle import audit
from station.core.journal import InstrumentEntry, JournalWriter
from station.core.samples import SAMPLE_DTYPE
from tests.helpers.sample_blocks import make_block

T0 = 1_764_360_000.0  # the sessions' start, UTC seconds


def write_run(run_dir: Path, watts, t0: float, interval: float = 0.1, flags=0) -> np.ndarray:
    """A complete journal of one simulated instrument in ``run_dir``; returns the block it holds."""
    n = len(watts)
    block = make_block(t0, n, interval, np.asarray(watts, dtype=float), flags=flags)
    w = JournalWriter(run_dir, [InstrumentEntry("sim-1", "sim", SAMPLE_DTYPE, interval,
                                                {"identity": {"manufacturer": "station", "model": "SIM",
                                                              "serial": "SIM-0001", "firmware": "1"}})])
    w.event("connected", t=t0)
    w.write("sim-1", block)
    w.event("stopped", t=t0 + n * interval)
    w.close({"state": "complete", "instruments": {"sim-1": {"samples": n}}})
    return block


def make_session(root: Path) -> Path:
    """``root/session``: a ranging run, a valid testing run at T0 and the audit log, as a finished session leaves them."""
    s = root / "session"
    s.mkdir()
    rng = np.random.default_rng(7)
    write_run(s / "ranging", 100 + rng.normal(0, 2, 300), T0)
    write_run(s / "testing_1", 98 + rng.normal(0, 2, 600), T0 + 60)
    (s / "testing_1" / "workload-output.txt").write_text("inference done\n")
    (s / "session.json").write_text(json.dumps({
        "session_id": "s-1", "operator": "Ada", "sut": "test box", "benchmark": "resnet50",
        "scenario": "Offline", "instruments": [{"id": "sim-1", "calibration_due": "2027-06-30"}],
        "settings": {"voltage_range": 300, "current_range": 1},
    }))
    (s / "rules.json").write_text(json.dumps({"name": "lab", "rules": []}))
    (s / "review.json").write_text(json.dumps({
        "valid": True,
        "checks": [{"name": "uncertainty", "status": "pass", "evidence": "max 0.5 %", "source": "lab"}],
        "metrics": {"average_power_w": 98.0}, "metric": {"value": 98.0, "unit": "W"},
        "windows": [{"run": "testing_1", "begin": T0 + 62, "end": T0 + 118, "label": "workload"}],
    }))
    with audit.AuditLog(s / "audit.jsonl") as log:  # the session's own log, kept while it ran
        for i, kind in enumerate(["setup", "ranging-start", "ranging-done", "testing-start", "review"]):
            log.append(kind, t=T0 + i * 30)
    return s
