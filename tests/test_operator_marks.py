"""summary.json counts the operator's marks, not only the analyzer's GPIO marks, live and after recovery."""

from __future__ import annotations

import json

import pytest

from instruments.base import Config
from instruments.sim import SimulatedAnalyzer
from station.core.acquisition import InstrumentSession
from station.core.journal import JournalReader
from station.core.recording import Recording
from station.core.recovery import summarize_journal
from station.core.summary import format_summary


@pytest.mark.timeout(60)
def test_operator_marks_are_counted_in_the_summary_and_after_recovery(tmp_path):
    session = InstrumentSession("inst0", SimulatedAnalyzer(seed=1, pace=False), Config(update_interval_s=0.01))
    session.connect()
    rec = Recording(tmp_path / "run", [session], duration_s=0.5)
    rec.start()
    session.start()
    rec.operator_mark("mark", source="operator", number=1, label="start of epoch")
    rec.operator_mark("workload_mark", edge="begin", operator="Ada")
    rec.wait(timeout=30)
    session.stop()
    summary = rec.finish()
    session.close()
    assert summary["operator_marks"] == 2
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["operator_marks"] == 2
    assert summarize_journal(JournalReader(tmp_path / "run"), "recovered")["operator_marks"] == 2
    assert "(2 operator marks)" in format_summary(summary)
