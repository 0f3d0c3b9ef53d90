"""The window's event log: bounded, newest at the bottom, warnings and errors stand out."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from station.ui.event_log import MAX_ROWS, EventLog  # noqa: E402
from station.ui.theme import DARK, LIGHT, qcolor  # noqa: E402


def cell(log: EventLog, row: int, col: int, role=Qt.ItemDataRole.DisplayRole):
    m = log.model()
    return m.data(m.index(row, col), role)


def test_the_log_keeps_the_newest_rows_and_follows_the_bottom(qtbot):
    log = EventLog()
    qtbot.addWidget(log)
    log.resize(600, 300)
    log.show()
    for i in range(MAX_ROWS + 1234):
        log.add(1_700_000_000 + i, "info", f"event {i}")
    m = log.model()
    assert m.rowCount() == MAX_ROWS
    assert cell(log, 0, 2) == "event 1234"  # the oldest were dropped, in order
    assert cell(log, MAX_ROWS - 1, 2) == f"event {MAX_ROWS + 1233}"
    assert log.texts()[-1] == f"event {MAX_ROWS + 1233}" and len(log.texts()) == MAX_ROWS
    bar = log.verticalScrollBar()
    assert bar.value() == bar.maximum() > 0  # the view follows new events
    bar.setValue(0)  # the operator scrolls up to read: new events do not pull the view away
    log.add(1_700_100_000, "info", "later")
    assert bar.value() == 0
    log.clear_log()
    assert m.rowCount() == 0 and log.entries() == []


def test_errors_and_warnings_are_coloured_in_both_themes(qtbot):
    log = EventLog(theme=LIGHT)
    qtbot.addWidget(log)
    log.add(1_700_000_000.25, "info", "Connected")
    log.add(1_700_000_001, "warning", "Overrange on current")
    log.add(1_700_000_002, "error", "Instrument lost")
    assert [e[1] for e in log.entries()] == ["info", "warning", "error"]
    assert log.entries("error") == [(1_700_000_002, "error", "Instrument lost")]
    assert cell(log, 0, 0).endswith(".250") and cell(log, 2, 1) == "ERROR"
    assert cell(log, 0, 0, Qt.ItemDataRole.ForegroundRole) is None
    assert cell(log, 2, 2, Qt.ItemDataRole.ForegroundRole) == qcolor(LIGHT.alarm_bg)
    assert cell(log, 2, 2, Qt.ItemDataRole.FontRole).bold()
    assert cell(log, 1, 2, Qt.ItemDataRole.FontRole) is None
    assert cell(log, 2, 2, Qt.ItemDataRole.ToolTipRole) == "Instrument lost"
    light_warning = cell(log, 1, 0, Qt.ItemDataRole.ForegroundRole)
    log.set_theme(DARK)
    assert cell(log, 1, 0, Qt.ItemDataRole.ForegroundRole) == qcolor(DARK.warn_bg) != light_warning
    assert cell(log, 2, 0, Qt.ItemDataRole.ForegroundRole) == qcolor(DARK.alarm_bg)
