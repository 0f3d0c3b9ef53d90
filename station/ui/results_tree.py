"""A results tree in the window: one row per published power result, verified off the GUI thread.

The rows come from :func:`station.verify.verify_tree`, the code behind ``station verify TREE``,
so the window and the command say the same words for the same directory. The walk runs on its
own :class:`TaskLane`; each result is posted through an :class:`Inbox` as soon as it is verified
and a timer drains it, so rows fill in while the window stays responsive. A zip is extracted once
into a private temporary directory that lives as long as the window, so that a double-click can
open any row in the single-result view (:class:`station.ui.result_view.ResultView`).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from station.measurement.verdict import Verdict
from station.ui.guide_parts import STATUS_COLOURS
from station.ui.inbox import Inbox, TaskLane, run_callback

DRAIN_MS = 50
ALL = "All verdicts"
UNREADABLE = "UNREADABLE"


@dataclass(frozen=True)
class ResultRow:
    """What the table shows of one result of ``station verify TREE --json``."""

    path: str
    submitter: str  # "DellEMC (closed)": who published it, in which division
    system: str
    benchmark: str
    round: str
    scenario: str
    metric_value: float | None
    metric_unit: str
    official: str  # what the official checker of that round would conclude
    headline: str  # the station's verdict headline, as the command prints it
    verdict: str  # the headline and its reasons
    category: str  # the headline without its count ("ACCEPTED OFFICIALLY"), for the filter
    problems: int  # failed checks, official and the station's own
    problem_names: tuple[str, ...]
    tone: str  # pass | warn | fail
    result: dict

    @property
    def metric_text(self) -> str:
        if self.metric_value is None:
            return "—"
        return f"{self.metric_value:.6g} {self.metric_unit}".strip()


def path_parts(path: str) -> tuple[str, str, str]:
    """(submitter, system, benchmark) of ``<division>/<submitter>/results/<system>/<benchmark>/<scenario>/
    performance``; for another layout, what can be told: the folders above the scenario's."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if parts and parts[-1] == "performance":
        parts = parts[:-1]
    if "results" in parts:
        i = len(parts) - 1 - parts[::-1].index("results")
        submitter = parts[i - 1] if i >= 1 else ""
        if i >= 2:
            submitter += f" ({parts[i - 2]})"
        rest = parts[i + 1:]
        return submitter, rest[0] if rest else "", rest[1] if len(rest) > 2 else ""
    return "", "/".join(parts[:-2]), parts[-2] if len(parts) >= 2 else ""


def row_from_result(result: dict) -> ResultRow:
    """The row of one result dict of :func:`station.verify.verify_tree`."""
    path = str(result.get("path", "?"))
    where = path_parts(path)
    rnd = str((result.get("round") or {}).get("name") or "?")
    metric = result.get("metric") if isinstance(result.get("metric"), dict) else {}
    scenario = str(metric.get("scenario") or result.get("kind") or "?")
    value = metric.get("value")
    value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    unit = str(metric.get("unit") or "")
    if "error" in result:
        return ResultRow(path, *where, rnd, scenario, None, unit, "—", UNREADABLE, f"{UNREADABLE}: {result['error']}",
                         UNREADABLE, 1, (str(result["error"]),), "fail", result)
    v = Verdict.from_dict(result)
    official = "—"
    if v.official is not None:
        o = v.official
        if o.get("accepted"):
            official = "accepted"
        else:
            official = "rejected (" + ", ".join(o.get("failed") or []) + ")"
        warns = int(o.get("warnings") or 0)
        if warns:
            official += f", {warns} warning{'s' if warns != 1 else ''}"
    failed = tuple((v.station or {}).get("failed") or
                   [c.get("name", "?") for c in result.get("checks") or [] if c.get("status") == "fail"])
    return ResultRow(path, *where, rnd, scenario, value, unit, official, v.headline, v.text,
                     v.headline.split(";")[0].split(":")[0], len(failed), failed, v.tone, result)


COLUMNS = ("Submitter", "System", "Benchmark", "Scenario", "Round", "Metric", "Official checker", "Station verdict",
           "Problems")
COL_SUBMITTER, COL_SYSTEM, COL_BENCHMARK, COL_SCENARIO, COL_ROUND, COL_METRIC, COL_OFFICIAL, COL_VERDICT, \
    COL_PROBLEMS = range(len(COLUMNS))


class ResultsTableModel(QAbstractTableModel):
    """The rows, in the order they were verified; sorting and filtering are the proxy's."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[ResultRow] = []
        self._bold = QFont()
        self._bold.setBold(True)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return {COL_SCENARIO: "the scenario of the directory (the official metric uses it, not the log's)",
                    COL_OFFICIAL: "what the official checker of that round would conclude",
                    COL_VERDICT: "what the station's stricter checks conclude",
                    COL_PROBLEMS: "failed checks: the official checker's and the station's own"}.get(section)
        return None

    def add(self, row: ResultRow) -> None:
        n = len(self.rows)
        self.beginInsertRows(QModelIndex(), n, n)
        self.rows.append(row)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self.rows.clear()
        self.endResetModel()

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.submitter, row.system, row.benchmark, row.scenario, row.round, row.metric_text, row.official,
                    row.headline, str(row.problems))[col]
        if role == Qt.ItemDataRole.UserRole:  # what the proxy sorts by
            if col == COL_METRIC:
                return row.metric_value if row.metric_value is not None else float("-inf")
            if col == COL_PROBLEMS:
                return row.problems
            return self.data(index, Qt.ItemDataRole.DisplayRole).lower() + "\0" + row.path
        if role == Qt.ItemDataRole.ToolTipRole:
            if col in (COL_SUBMITTER, COL_SYSTEM, COL_BENCHMARK):
                return row.path
            if col == COL_ROUND:
                return str((row.result.get("round") or {}).get("why") or row.round)
            if col == COL_VERDICT:
                return row.verdict
            if col == COL_PROBLEMS:
                return "\n".join(row.problem_names) or "no failed check"
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == COL_VERDICT:
                return QColor(STATUS_COLOURS[row.tone])
            if col == COL_OFFICIAL and row.official.startswith("rejected"):
                return QColor(STATUS_COLOURS["fail"])
            return None
        if role == Qt.ItemDataRole.FontRole and col == COL_VERDICT:
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (COL_METRIC, COL_PROBLEMS):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class VerdictFilter(QSortFilterProxyModel):
    """Sorts by each column's own order (numbers as numbers); keeps the rows of one verdict category."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.category: str | None = None
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def set_category(self, category: str | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9 and later; invalidateFilter() is deprecated there
            self.beginFilterChange()
            self.category = category
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.category = category
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802 (Qt API)
        if self.category is None:
            return True
        return self.sourceModel().rows[source_row].category == self.category


class ResultsTreeView(QWidget):
    """Every power result below a results tree (directory or zip), one row each, verified in the background."""

    def __init__(self, parent: QWidget | None = None, round_name: str | None = None) -> None:
        super().__init__(parent)
        self.round_name = round_name
        self.inbox = Inbox()
        self.walk_lane = TaskLane("tree-walk", self.inbox)
        self.open_lane = TaskLane("tree-open", self.inbox)
        self.path: Path | None = None
        self.root: Path | None = None  # the directory the rows' paths are relative to
        self.total: int | None = None
        self.summary: dict | None = None
        self.error: str | None = None
        self.result_windows: list[QMainWindow] = []
        self._stop = threading.Event()
        self._tmp: Path | None = None

        self.title = QLabel("No results tree open")
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.3)
        f.setBold(True)
        self.title.setFont(f)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QLabel("")
        self.filter_combo = QComboBox()
        self.filter_combo.setObjectName("verdict_filter")
        self.filter_combo.setToolTip("Show only the results of one verdict")
        self.filter_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.filter_combo.addItem(ALL, None)
        self.filter_combo.currentIndexChanged.connect(self._on_filter)
        self.counts = QLabel("")
        self.counts.setWordWrap(True)

        self.model = ResultsTableModel(self)
        self.proxy = VerdictFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setObjectName("results_table")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # verification order until a header is clicked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # long system names keep both ends
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_SYSTEM, QHeaderView.ResizeMode.Stretch)
        header.setResizeContentsPrecision(200)  # a whole repository's rows are not all measured at each new one
        self.table.activated.connect(self._on_activated)  # a double-click, or Enter on the current row

        top = QHBoxLayout()
        top.addWidget(self.progress, 1)
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.filter_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.counts)
        hint = QLabel("Double-click a result (or press Enter) to see its checks and plots. "
                      "Click a column title to sort.")
        hint.setEnabled(False)
        layout.addWidget(hint)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self.drain)
        self.timer.start(DRAIN_MS)

    # -- state ----------------------------------------------------------------------------------
    @property
    def rows(self) -> list[ResultRow]:
        """Every row, in the order verified."""
        return list(self.model.rows)

    @property
    def finished(self) -> bool:
        """The walk has ended: every result verified (``summary``), or it failed (``error``)."""
        return self.summary is not None or self.error is not None

    def visible_rows(self) -> list[ResultRow]:
        """The rows the table shows, in its order (sorted, filtered)."""
        out = []
        for r in range(self.proxy.rowCount()):
            out.append(self.model.rows[self.proxy.mapToSource(self.proxy.index(r, 0)).row()])
        return out

    # -- the walk -------------------------------------------------------------------------------
    def open(self, path: Path) -> None:
        """Verify every power result below ``path`` (a directory or a zip); rows appear as they are done."""
        if self.path is not None:
            raise RuntimeError("this view already shows a results tree")
        self.path = Path(path)
        self.title.setText(f"Results tree {self.path}")
        self.progress.setText("Looking for power results…")
        stop, inbox = self._stop, self.inbox

        def walk() -> None:
            from station.mlperf.published import performance_dirs
            from station.verify import safe_extract, verify_tree

            root, tmp = self.path, None
            try:
                if root.is_file():
                    tmp = Path(tempfile.mkdtemp(prefix="station-tree-window-"))
                    self._tmp = tmp
                    safe_extract(root, tmp)
                    root = tmp
                found = len(performance_dirs(root))
                inbox.call_soon(self._on_started, root, found)
                items = verify_tree(root, self.round_name)
                try:
                    for item in items:
                        if stop.is_set():
                            return
                        if "summary" in item:
                            inbox.call_soon(self._on_summary, item["summary"])
                        else:
                            inbox.call_soon(self._on_result, item)
                finally:
                    items.close()
            finally:
                if stop.is_set() and tmp is not None:  # the window closed before the walk ended
                    shutil.rmtree(tmp, ignore_errors=True)

        def done(result, error: BaseException | None) -> None:
            if error is not None:
                self.error = str(error)
                self.progress.setText(f"Cannot read {self.path}: {error}")
                self.progress.setStyleSheet(f"color: {STATUS_COLOURS['fail']};")
            elif self.summary is None and not stop.is_set():
                self.error = "the walk ended without a summary"

        self.walk_lane.submit(walk, done)

    def _on_started(self, root: Path, found: int) -> None:
        self.root, self.total = root, found
        self._show_progress()

    def _on_result(self, result: dict) -> None:
        row = row_from_result(result)
        self.model.add(row)
        if self.filter_combo.findData(row.category) < 0:
            self.filter_combo.addItem(row.category, row.category)
        self._show_progress()

    def _on_summary(self, summary: dict) -> None:
        self.summary = summary
        self._show_progress()

    def _show_progress(self) -> None:
        n = len(self.model.rows)
        if self.summary is not None:
            self.progress.setText(f"{n} power result{'s' if n != 1 else ''} verified")
        elif self.total is not None:
            self.progress.setText(f"Verifying… {n} of {self.total} power results done")
        by = Counter(r.category for r in self.model.rows)
        rounds = Counter(r.round for r in self.model.rows)
        self.counts.setText(", ".join(f"{k}: {v}" for k, v in sorted(by.items())) +
                            ("  —  rounds " + ", ".join(f"{k}: {v}" for k, v in sorted(rounds.items()))
                             if rounds else ""))
        for i in range(1, self.filter_combo.count()):
            cat = self.filter_combo.itemData(i)
            self.filter_combo.setItemText(i, f"{cat} ({by.get(cat, 0)})")
        self.filter_combo.setItemText(0, f"{ALL} ({n})")

    def _on_filter(self, index: int) -> None:
        self.proxy.set_category(self.filter_combo.itemData(index))

    def set_filter(self, category: str | None) -> None:
        """Show only the rows of ``category`` (``"VALID"``, ``"NOT VALID"``...; None: all)."""
        index = 0 if category is None else self.filter_combo.findData(category)
        if index < 0:
            raise ValueError(f"no result has the verdict {category!r}")
        self.filter_combo.setCurrentIndex(index)

    def drain(self) -> int:
        """Show what the walk and the loads posted (GUI thread); a burst is one repaint."""
        items = self.inbox.drain()
        for item in items:
            run_callback(item)
        return len(items)

    # -- one result -----------------------------------------------------------------------------
    def _on_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_row(self.proxy.mapToSource(index).row())

    def open_row(self, source_row: int) -> None:
        """Open the result of row ``source_row`` (verification order) in the single-result view."""
        row = self.model.rows[source_row]
        if row.category == UNREADABLE or self.root is None:
            QMessageBox.warning(self, "Cannot open the result", row.verdict)
            return
        directory = self.root / row.path
        self.progress.setText(f"Opening {row.path}…")

        def job():
            from station.bundle.result_model import load_result

            return load_result(directory)

        def done(model, error: BaseException | None) -> None:
            self._show_progress()
            if error is not None:
                QMessageBox.warning(self, "Cannot open the result", f"{row.path}: {error}")
                return
            from station.ui.result_view import ResultView

            rw = QMainWindow(self)
            rw.setWindowTitle(f"Result — {row.path}")
            rw.setCentralWidget(ResultView(model))
            rw.resize(1100, 850)
            self.result_windows.append(rw)
            rw.show()

        self.open_lane.submit(job, done)

    # -- the end ----------------------------------------------------------------------------------
    def close_walk(self, timeout: float = 10.0) -> None:
        """Stop verifying (after the result under way), end the threads and remove an extracted zip."""
        self._stop.set()
        self.timer.stop()
        self.walk_lane.close(timeout)
        self.open_lane.close(timeout)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


class ResultsTreeWindow(QMainWindow):
    """A results tree in its own window; closing it stops the walk."""

    def __init__(self, path: Path, parent: QWidget | None = None, round_name: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Results — {path}")
        self.view = ResultsTreeView(self, round_name)
        self.setCentralWidget(self.view)
        self.resize(1600, 720)  # nine columns, two of them long names
        close = self.addAction("Close")
        close.setShortcut(QKeySequence.StandardKey.Close)
        close.triggered.connect(self.close)
        self.view.open(Path(path))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.view.close_walk()
        event.accept()


def open_results_tree(window: QWidget | None, path: Path) -> ResultsTreeWindow:
    """Open ``path`` (a results tree: directory or zip) in a results window kept alive by ``window``."""
    tw = ResultsTreeWindow(Path(path), window)
    keep = getattr(window, "_measure_windows", None)
    if isinstance(keep, list):
        keep.append(tw)
    tw.show()
    return tw


def holds_several_results(path: Path) -> bool:
    """True when the directory ``path`` is a results tree: several power results below it, and not
    itself a bundle or a single result (reads the disk: call it off the GUI thread)."""
    from station.bundle.manifest import MANIFEST
    from station.mlperf.published import performance_dirs

    path = Path(path)
    return path.is_dir() and not (path / MANIFEST).is_file() and len(performance_dirs(path)) > 1


def open_path(window: QMainWindow, path: Path) -> None:
    """Open what ``path`` holds in ``window`` (a station MainWindow): a zip or a directory with several
    power results as a results tree, anything else in the single-result view (``Measure > Open result``).

    Whether a directory is a tree is found on the window's probe lane, so a big tree never blocks it."""
    from station.ui.measure_menu import show_result

    path = Path(path)
    if path.is_file():
        open_results_tree(window, path)
        return

    def done(tree: bool | None, error: BaseException | None) -> None:
        if error is None and tree:
            open_results_tree(window, path)
        else:
            show_result(window, path)

    window.probe_lane.submit(lambda: holds_several_results(path), done)
