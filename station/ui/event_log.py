"""The event log: connections, range changes, gaps, warnings, marks — newest at the bottom.

Bounded (:data:`MAX_ROWS`): the journal holds every event of a run; this view is for the
operator's eyes. Warnings and errors are coloured and keep their colour in both themes.

A model/view table over a deque of plain tuples: a row costs a few hundred bytes, not three
item objects each (a 24 h run with an auto-ranging meter adds a row every few seconds, and
the window's memory must stay flat for the whole run).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from station.ui.event_text import ERROR, WARNING
from station.ui.theme import LIGHT, Theme, qcolor

MAX_ROWS = 3000
HEADERS = ("Time", "Level", "Event")

_Index = QModelIndex | QPersistentModelIndex


class EventModel(QAbstractTableModel):
    """(t, level, text, shown time) rows, oldest first, at most ``max_rows``."""

    def __init__(self, theme: Theme = LIGHT, max_rows: int = MAX_ROWS) -> None:
        super().__init__()
        self.rows: deque[tuple[float, str, str, str]] = deque()
        self.max_rows = max_rows
        self.theme = theme
        self._bold = QFont()
        self._bold.setBold(True)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        _t, level, text, stamp = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (stamp, level.upper(), text)[col]
        if role == Qt.ItemDataRole.ToolTipRole and col == 2:
            return text
        if role == Qt.ItemDataRole.ForegroundRole:
            return self.color(level)
        if role == Qt.ItemDataRole.FontRole and level == ERROR:
            return self._bold
        return None

    def color(self, level: str) -> QColor | None:
        if level == ERROR:
            return qcolor(self.theme.alarm_bg)
        if level == WARNING:
            return qcolor("#a86a00" if self.theme.name == "light" else self.theme.warn_bg)
        return None

    def append(self, t: float, level: str, text: str) -> None:
        if len(self.rows) >= self.max_rows:
            self.beginRemoveRows(QModelIndex(), 0, 0)
            self.rows.popleft()
            self.endRemoveRows()
        stamp = datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n)
        self.rows.append((t, level, text, stamp))
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows.clear()
        self.endResetModel()

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(HEADERS) - 1),
                                  [Qt.ItemDataRole.ForegroundRole])


class EventLog(QTableView):
    """Time, level and text of each event."""

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT) -> None:
        super().__init__(parent)
        self.model_ = EventModel(theme)
        self.setModel(self.model_)
        self.setObjectName("event_log")
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        h = self.horizontalHeader()
        # Fixed widths from the font: ResizeToContents would measure every row on each insert.
        fm = self.fontMetrics()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        h.resizeSection(0, fm.horizontalAdvance("00:00:00.000") + 16)
        h.resizeSection(1, fm.horizontalAdvance("WARNING") + 16)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(fm.height() + 8)  # compact rows: more events in view

    def add(self, t: float, level: str, text: str) -> None:
        bar = self.verticalScrollBar()
        follow = bar.value() >= bar.maximum() - 2
        self.model_.append(t, level, text)
        if follow:
            self.scrollToBottom()

    def set_theme(self, theme: Theme) -> None:
        self.model_.set_theme(theme)

    def entries(self, level: str | None = None) -> list[tuple[float, str, str]]:
        """(t, level, text) of the rows shown, oldest first."""
        return [(t, lv, text) for t, lv, text, _ in self.model_.rows if level is None or lv == level]

    def texts(self) -> list[str]:
        return [r[2] for r in self.model_.rows]

    def clear_log(self) -> None:
        self.model_.clear()
