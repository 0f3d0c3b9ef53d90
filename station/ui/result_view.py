"""A finished result on screen: verdict, metric, every check, metrics and the runs' power plots.

The verdict is the one ``station verify`` gives (:mod:`station.measurement.verdict`): headline,
reasons and the three answers (integrity, valid, compliant), in the same words.

Shows station bundles and published MLPerf power directories alike (loaded by the Qt-free
``station.bundle.result_model``; the window loads it on a task lane, see ``MainWindow.open_result``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station.bundle.report import format_value as _fmt
from station.bundle.result_model import ResultModel
from station.measurement.checks import FAIL, PASS, WARN, Check
from station.measurement.verdict import Verdict
from station.ui.guide_parts import STATUS_COLOURS


class ResultView(QWidget):
    """Everything about one result; read-only."""

    def __init__(self, model: ResultModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        layout = QVBoxLayout(self)
        big = QFont()
        big.setPointSizeF(big.pointSizeF() * 1.8)
        big.setBold(True)
        if model.verdict is not None:
            v = Verdict.from_dict(model.verdict)
            headline, colour = v.headline, STATUS_COLOURS[v.tone]
            detail = "\n".join([*v.reasons, v.answers] + ([v.sides] if v.sides else []))
        else:  # a model built without station verify (nothing says whether its files are intact)
            headline, colour, detail = "NOT REVIEWED", "#5b6470", ""
        self.verdict = QLabel(f"{headline} — {model.title}")
        self.verdict.setFont(big)
        self.verdict.setStyleSheet(f"color: {colour};")
        self.verdict.setWordWrap(True)
        layout.addWidget(self.verdict)
        # why the headline is not a bare VALID, and the three answers (the words of station verify)
        self.verdict_detail = QLabel(detail)
        self.verdict_detail.setWordWrap(True)
        self.verdict_detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict_detail.setVisible(bool(detail))
        layout.addWidget(self.verdict_detail)
        self.metric_label = QLabel(f"Metric: {_fmt(model.metric)}")
        mf = QFont()
        mf.setPointSizeF(mf.pointSizeF() * 1.4)
        self.metric_label.setFont(mf)
        layout.addWidget(self.metric_label)
        checks = [Check.from_dict(c) for c in model.checks]
        fails = sum(1 for c in checks if c.status == FAIL)
        warns = sum(1 for c in checks if c.status == WARN)
        self.counts = QLabel(f"{len(checks)} checks: {fails} failed, {warns} warnings")
        layout.addWidget(self.counts)

        split = QSplitter(Qt.Orientation.Vertical)
        tabs = QTabWidget()
        self.checks_table = self._checks_table(checks)
        tabs.addTab(self.checks_table, "Checks")
        tabs.addTab(self._kv_table(list(model.metrics.items())), "Metrics")
        info = QWidget()
        form = QFormLayout(info)
        for k, v in model.info:
            lab = QLabel(v)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(k, lab)
        tabs.addTab(info, "About")
        split.addWidget(tabs)

        plots = QWidget()
        pl = QVBoxLayout(plots)
        self.plots: list[pg.PlotWidget] = []
        for run in model.runs:
            pw = pg.PlotWidget(title=run.title)
            pw.setMinimumHeight(220)
            pw.setBackground(self.palette().color(self.backgroundRole()).lighter(108))
            fg = self.palette().color(self.foregroundRole())
            for axis in ("left", "bottom"):
                pw.getAxis(axis).setPen(fg)
                pw.getAxis(axis).setTextPen(fg)
            pw.getPlotItem().titleLabel.setText(run.title, color=fg.name())
            pw.setLabel("left", "power", units="W")
            pw.setLabel("bottom", "time since start", units="s")
            pw.showGrid(x=True, y=True, alpha=0.2)
            ok = np.isfinite(run.w_min) & np.isfinite(run.w_max)
            if ok.any():
                lo = pg.PlotDataItem(run.t[ok], run.w_min[ok], pen=pg.mkPen("#5b9be6"))
                hi = pg.PlotDataItem(run.t[ok], run.w_max[ok], pen=pg.mkPen("#5b9be6"))
                pw.addItem(lo)
                pw.addItem(hi)
                pw.addItem(pg.FillBetweenItem(lo, hi, brush=pg.mkBrush("#5b9be655")))
                mean_ok = np.isfinite(run.w_mean)
                pw.plot(run.t[mean_ok], run.w_mean[mean_ok], pen=pg.mkPen("#0b4f9c", width=2))
            for begin, end, label in run.windows:
                region = pg.LinearRegionItem((begin - run.t0, end - run.t0), movable=False,
                                             brush=pg.mkBrush("#2e7d3226"))
                pw.addItem(region)
                text = pg.TextItem(label, color="#2e7d32", anchor=(0, 0))
                text.setPos(begin - run.t0, float(np.nanmax(run.w_max)) if ok.any() else 0.0)
                pw.addItem(text)
            self.plots.append(pw)
            pl.addWidget(pw)
        if not model.runs:
            pl.addWidget(QLabel("This result holds no samples to plot."))
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(plots)
        split.addWidget(scroll)
        split.setSizes([300, 500])
        layout.addWidget(split, 1)

    @staticmethod
    def _checks_table(checks: list[Check]) -> QTableWidget:
        table = QTableWidget(len(checks), 4)
        table.setHorizontalHeaderLabels(["Check", "Verdict", "Evidence", "Source"])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(True)
        bold = QFont()
        bold.setBold(True)
        order = {FAIL: 0, WARN: 1, PASS: 2}
        for row, c in enumerate(sorted(checks, key=lambda c: order.get(c.status, 3))):
            items = [QTableWidgetItem(c.name), QTableWidgetItem(c.status.upper()),
                     QTableWidgetItem(c.evidence or "—"), QTableWidgetItem(c.source or "—")]
            items[1].setForeground(QColor(STATUS_COLOURS.get(c.status, "#000000")))
            items[1].setFont(bold)
            for col, item in enumerate(items):
                item.setToolTip(item.text())
                table.setItem(row, col, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        table.verticalHeader().setVisible(False)
        table.resizeRowsToContents()
        return table

    @staticmethod
    def _kv_table(rows: list[tuple[str, object]]) -> QTableWidget:
        table = QTableWidget(len(rows), 2)
        table.setHorizontalHeaderLabels(["Metric", "Value"])
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, (k, v) in enumerate(rows):
            table.setItem(r, 0, QTableWidgetItem(str(k)))
            table.setItem(r, 1, QTableWidgetItem(_fmt(v)))
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.verticalHeader().setVisible(False)
        return table
