"""A fleet's nodes beside the total power: one row per channel of an instrument with many channels.

The prometheus driver (``instruments/prometheus.py``) makes one channel of each series a query
selects, one node or GPU each, and the window's plot shows their sum. :class:`NodeTally` reads
the per-channel power (``ch_w``) of the records the live store already holds and keeps, for each
channel since the connection: the latest and average power, the energy, the number of samples,
the gaps (a channel's power is NaN while the driver finds it stale) and the age of its last
measured record. It only reads records newer than the last it saw, a few per refresh, so its
cost does not grow with the run or the ring. :class:`NodeDock` shows it (a :class:`NodeTable`)
beside the plot when the window's instrument names its channels (or has many of them).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QLabel,
    QMainWindow,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from station.ui import units

REFRESH_S = 0.5
MAX_WIDTH = 640  # px: the dock never takes more from the plot than this
MANY_CHANNELS = 4  # an instrument with this many channels gets the table even without channel names
STALE_COLOUR = "#c62828"
_SERIES = re.compile(r"^(?P<name>[^{]*)\{(?P<labels>.*)\}$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def short_labels(names: list[str]) -> list[str]:
    """What tells the series apart: ``n1`` instead of ``node_power_watts{instance=..., node="n1"}``.

    The value of one label when one alone tells every series apart (``instance`` last: its
    host:port is the longest way to say it), else ``label=value`` of every label whose values
    differ; the metric name too when the series are of several metrics. A name that is not in
    PromQL's notation is kept whole."""
    parsed = []
    for name in names:
        m = _SERIES.match(name)
        if m is None:
            return list(names)
        parsed.append((m.group("name"), dict(_LABEL.findall(m.group("labels")))))
    if len(parsed) < 2:
        return list(names)
    keys = sorted({k for _, labels in parsed for k in labels})
    differ = [k for k in keys if len({labels.get(k) for _, labels in parsed}) > 1]
    alone = [k for k in sorted(differ, key=lambda k: k == "instance")
             if len({labels.get(k) for _, labels in parsed}) == len(parsed)]
    several_metrics = len({metric for metric, _ in parsed}) > 1
    if alone and not several_metrics:
        return [labels.get(alone[0]) or full for (_, labels), full in zip(parsed, names, strict=True)]
    if alone:
        differ = alone[:1]
    out = []
    for (metric, labels), full in zip(parsed, names, strict=True):
        parts = [metric] if several_metrics else []
        parts += [f"{k}={labels[k]}" for k in differ if k in labels]
        out.append(", ".join(parts) or full)
    return out


@dataclass(frozen=True)
class NodeRow:
    """One channel as the table shows it."""

    label: str
    name: str  # the channel's full name (a series' label set)
    latest_w: float | None
    average_w: float | None
    energy_j: float
    samples: int
    gaps: int
    age_s: float | None  # since the end of its last measured record; None: never measured
    stale: bool


class NodeTally:
    """Per-channel power, energy, samples and gaps from the records of one instrument (no Qt).

    ``stale_after_s``: per channel, how long the driver waits for a series before it calls it stale
    (the prometheus driver's ``stale_after_s``); a channel whose last measured record is older than
    that plus two intervals is stale too (the whole source may have stopped answering)."""

    def __init__(self, names: list[str], interval_s: float, stale_after_s: list[float] | None = None) -> None:
        n = len(names)
        self.names = list(names)
        self.labels = short_labels(self.names)
        self.interval_s = float(interval_s)
        limits = list(stale_after_s or [])
        self.stale_after_s = np.array([float(limits[i]) if i < len(limits) and limits[i] else 0.0
                                       for i in range(n)])
        self.energy_j = np.zeros(n)
        self.samples = np.zeros(n, dtype=np.int64)
        self.gaps = np.zeros(n, dtype=np.int64)
        self.latest_w = np.full(n, np.nan)
        self.last_t = np.full(n, np.nan)
        self.in_gap = np.zeros(n, dtype=bool)
        self.t_seen = -math.inf  # time of the newest record taken

    def feed(self, records: np.ndarray, interval_s: float | None = None) -> int:
        """Take the records newer than the last one taken (oldest first); returns how many were new.

        ``interval_s``: their update interval, when the operator changed it since the tally began."""
        if interval_s:
            self.interval_s = float(interval_s)
        if len(records) == 0:
            return 0
        records = records[records["t"] > self.t_seen]
        if len(records) == 0:
            return 0
        t = records["t"].astype(np.float64)
        if "ch_w" in records.dtype.names:
            cw = records["ch_w"].astype(np.float64).reshape(len(records), -1)[:, : len(self.names)]
        else:
            cw = records["w"].astype(np.float64).reshape(-1, 1)
        ok = np.isfinite(cw)
        self.energy_j[: cw.shape[1]] += np.where(ok, cw, 0.0).sum(axis=0) * self.interval_s
        self.samples[: cw.shape[1]] += ok.sum(axis=0)
        for i in range(cw.shape[1]):
            col = ok[:, i]
            # a gap begins at each measured -> not measured step, counting the step from the last batch
            before = np.concatenate(([not self.in_gap[i]], col[:-1]))
            self.gaps[i] += int(np.count_nonzero(before & ~col))
            self.in_gap[i] = not col[-1]
            hits = np.flatnonzero(col)
            if len(hits):
                self.latest_w[i] = cw[hits[-1], i]
                self.last_t[i] = t[hits[-1]]
        self.t_seen = float(t[-1])
        return len(records)

    def rows(self, now: float | None = None) -> list[NodeRow]:
        """The table's rows at ``now`` (UTC seconds; default: the clock)."""
        now = time.time() if now is None else now
        out = []
        for i, (label, name) in enumerate(zip(self.labels, self.names, strict=True)):
            measured = bool(np.isfinite(self.last_t[i]))
            age = now - float(self.last_t[i]) if measured else None
            limit = max(self.stale_after_s[i], self.interval_s) + 2 * self.interval_s
            stale = bool(self.in_gap[i]) or age is None or age > limit
            average = float(self.energy_j[i] / (self.samples[i] * self.interval_s)) if self.samples[i] else None
            out.append(NodeRow(label, name, float(self.latest_w[i]) if measured else None, average,
                               float(self.energy_j[i]), int(self.samples[i]), int(self.gaps[i]), age, stale))
        return out


def channel_names(driver) -> list[str] | None:
    """The names an instrument gives its channels, or generic ones when it has many; None: no table."""
    try:
        snapshot = driver.settings_snapshot()
    except Exception:  # a driver that cannot say gets no table, never a broken window
        return None
    names = snapshot.get("channel_names") if isinstance(snapshot, dict) else None
    if isinstance(names, list) and len(names) >= 2:
        return [str(n) for n in names]
    channels = int(getattr(getattr(driver, "description", None), "channels", 1) or 1)
    if channels >= MANY_CHANNELS:
        return [f"channel {i + 1}" for i in range(channels)]
    return None


COLUMNS = ("Node", "Latest", "Average", "Energy", "Samples", "Gaps", "Last update", "Stale")


TIPS = ("the series (the label that tells it apart; hover for its whole name)", "power of its last measured record",
        "mean power over its measured records since connecting", "energy of its measured records since "
        "connecting (not the bridged estimate)", "records in which it was measured", "times it stopped updating",
        "age of its last measured record", "no recent sample: the total bridges it at its mean")
FIT_S = 5.0  # column widths are fitted to their contents at most this often (costly with many rows)


class NodeModel(QAbstractTableModel):
    """The rows as a model: a refresh is one dataChanged, and the view paints only the rows in sight."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[NodeRow] = []
        self._bold = QFont()
        self._bold.setBold(True)
        self._red = QColor(STALE_COLOUR)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return TIPS[section]
        return None

    def set_rows(self, rows: list[NodeRow]) -> None:
        if len(rows) != len(self.rows):
            self.beginResetModel()
            self.rows = list(rows)
            self.endResetModel()
            return
        self.rows = list(rows)
        if rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))

    @staticmethod
    def text(row: NodeRow, col: int) -> str:
        if col == 0:
            return row.label
        if col == 1:
            return units.si(row.latest_w, "W")
        if col == 2:
            return units.si(row.average_w, "W")
        if col == 3:
            return units.si(row.energy_j, "J")
        if col == 4:
            return str(row.samples)
        if col == 5:
            return str(row.gaps)
        if col == 6:
            return units.duration(row.age_s) if row.age_s is not None else "never"
        return "STALE" if row.stale else "ok"

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.name if col == 0 else units.energy(row.energy_j) if col == 3 else None
        if role == Qt.ItemDataRole.ForegroundRole and row.stale and col in (0, 1, 6, 7):
            return self._red
        if role == Qt.ItemDataRole.FontRole and row.stale and col == 7:
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and 1 <= col <= 5:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class NodeTable(QWidget):
    """The per-node table with a short summary above it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No instrument with several channels connected")
        self.summary.setWordWrap(True)
        f = self.summary.font()
        f.setBold(True)
        self.summary.setFont(f)
        self.model = NodeModel(self)
        self.table = QTableView()
        self.table.setObjectName("node_table")
        self.table.setModel(self.model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setResizeContentsPrecision(200)  # a fit measures 200 rows, not a fleet
        self._fitted = (-1, -math.inf)  # (rows, monotonic time) of the last fit
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)

    def cell(self, row: int, col: int) -> str:
        """The text of a cell, as shown."""
        return self.model.text(self.model.rows[row], col)

    def show_rows(self, rows: list[NodeRow]) -> None:
        """Show ``rows`` (GUI thread), stale ones in red, and the fleet's totals above them."""
        self.model.set_rows(rows)
        stale = sum(r.stale for r in rows)
        latest = [r.latest_w for r in rows if r.latest_w is not None and not r.stale]
        energy = sum(r.energy_j for r in rows)
        text = f"{len(rows) - stale} of {len(rows)} nodes measured now: {units.si(sum(latest), 'W')}"
        if stale:
            text += f"\n{stale} STALE: no recent sample (the total bridges {'it' if stale == 1 else 'them'} " \
                    "at the mean)"
        text += f"\nmeasured energy {units.energy(energy)}"
        self.summary.setText(text)
        self.summary.setStyleSheet(f"color: {STALE_COLOUR};" if stale else "")
        now = time.monotonic()
        if len(rows) != self._fitted[0] or now - self._fitted[1] > FIT_S:
            self._fitted = (len(rows), now)
            self._fit_width()

    def _fit_width(self) -> None:
        """Fit the columns and ask for the width that shows them all (a dock otherwise opens too narrow)."""
        self.table.resizeColumnsToContents()
        header = self.table.horizontalHeader()
        want = sum(header.sectionSize(c) for c in range(self.model.columnCount()))
        want += self.table.verticalScrollBar().sizeHint().width() + 2 * self.table.frameWidth() + 12
        if abs(self.table.minimumWidth() - want) > 8:
            self.table.setMinimumWidth(min(want, MAX_WIDTH))


class NodeDock:
    """The table in a dock of a station window, fed from the connected instrument's live store.

    It appears when an instrument with named (or many) channels connects and hides when it goes;
    an operator who closes it keeps it closed until the next connection."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.widget = NodeTable()
        self.dock = QDockWidget("Nodes", window)
        self.dock.setObjectName("nodes_dock")
        self.dock.setWidget(self.widget)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        self.tally: NodeTally | None = None
        self._session = None
        self._last = 0.0
        window.timer.timeout.connect(self.refresh)

    def refresh(self, force: bool = False) -> None:
        """Follow the connected instrument (GUI thread; at most every ``REFRESH_S`` unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._last < REFRESH_S:
            return
        self._last = now
        link = self.window.link
        session, store = link.session, link.store
        if session is not self._session:
            self._session = session
            names = channel_names(session.driver) if session is not None else None
            if names is None:
                self.tally = None
                self.dock.hide()
            else:
                limits = session.driver.settings_snapshot().get("stale_after_s")
                self.tally = NodeTally(names, session.interval_s, limits if isinstance(limits, list) else None)
                self.dock.show()
        if self.tally is None or store is None:
            return
        self._feed(store)
        self.widget.show_rows(self.tally.rows())

    def _feed(self, store) -> None:
        feed_from_store(self.tally, store)


def feed_from_store(tally: NodeTally, store) -> None:
    """Feed ``tally`` the records of a live store newer than its last: a few more than the time since,
    more if they were not enough (the window's dock and the fleet kiosk)."""
    interval = store.interval_s or tally.interval_s
    span = store.span()
    if span is None:
        return
    # the first time: all the ring holds (a new connection's store holds only the records since)
    want = 1 << 30 if not math.isfinite(tally.t_seen) else int((span[1] - tally.t_seen) / interval) + 8
    while True:
        records = store.latest(want)
        if len(records) < want or len(records) == 0 or records["t"][0] <= tally.t_seen:
            break
        want *= 2
    tally.feed(records, store.interval_s)


def install(window: QMainWindow) -> NodeDock:
    """Add the Nodes dock to ``window`` (a station MainWindow)."""
    window.node_dock = NodeDock(window)
    return window.node_dock
