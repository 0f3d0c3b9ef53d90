"""The event log: connections, range changes, gaps, warnings, marks — newest at the bottom.

Bounded (:data:`MAX_ROWS`): the journal holds every event of a run; this view is for the
operator's eyes. Warnings and errors are coloured and keep their colour in both themes.
"""

from __future__ import annotations

from datetime import datetime

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from station.ui.event_text import ERROR, WARNING
from station.ui.theme import LIGHT, Theme, qcolor

MAX_ROWS = 3000


class EventLog(QTableWidget):
    """Time, level and text of each event."""

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT) -> None:
        super().__init__(0, 3, parent)
        self.theme = theme
        self.setObjectName("event_log")
        self.setHorizontalHeaderLabels(["Time", "Level", "Event"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        h = self.horizontalHeader()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self._entries: list[tuple[float, str, str]] = []

    def add(self, t: float, level: str, text: str) -> None:
        self._entries.append((t, level, text))
        follow = self.verticalScrollBar().value() >= self.verticalScrollBar().maximum() - 2
        if self.rowCount() >= MAX_ROWS:
            self.removeRow(0)
            del self._entries[0]
        row = self.rowCount()
        self.insertRow(row)
        stamp = datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]
        items = [QTableWidgetItem(stamp), QTableWidgetItem(level.upper()), QTableWidgetItem(text)]
        items[2].setToolTip(text)
        color = self._color(level)
        for col, item in enumerate(items):
            if color is not None:
                item.setForeground(color)
                if level == ERROR:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
            self.setItem(row, col, item)
        if follow:
            self.scrollToBottom()

    def _color(self, level: str) -> QColor | None:
        if level == ERROR:
            return qcolor(self.theme.alarm_bg)
        if level == WARNING:
            return qcolor("#a86a00" if self.theme.name == "light" else self.theme.warn_bg)
        return None

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        for row, (_, level, _) in enumerate(self._entries):
            color = self._color(level)
            for col in range(3):
                item = self.item(row, col)
                if item is not None:
                    item.setForeground(color if color is not None else qcolor(theme.text))

    def entries(self, level: str | None = None) -> list[tuple[float, str, str]]:
        """(t, level, text) of the rows shown, oldest first."""
        return [e for e in self._entries if level is None or e[1] == level]

    def texts(self) -> list[str]:
        return [e[2] for e in self._entries]

    def clear_log(self) -> None:
        self.setRowCount(0)
        self._entries.clear()

