"""Widgets the guided runs share (the MLPerf guide and the Tiny guide): enlarged text and the
three instruction lines at the top (what to do now, why, and what is wrong, in red)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QWidget

# The colour of a check's status, everywhere a check is shown (guides, result view, results tree).
STATUS_COLOURS = {"pass": "#1b7f3b", "warn": "#b26a00", "fail": "#c62828", "pending": "#5b6470"}
PROBLEM_STYLE = "background:#c62828;color:white;padding:8px;border-radius:4px;"


def enlarge(widget: QWidget, scale: float, bold: bool = False) -> None:
    """The widget's font ``scale`` times its size (bold if asked)."""
    f = QFont(widget.font())
    f.setPointSizeF(f.pointSizeF() * scale)
    f.setBold(bold)
    widget.setFont(f)


def instruction_labels(do_now_scale: float, why_scale: float, problem_scale: float) -> tuple[QLabel, QLabel, QLabel]:
    """(do now, why, problem): wrapped labels; the problem line white on red, selectable (to copy
    an error), hidden until there is one."""
    do_now, why, problem = QLabel(), QLabel(), QLabel()
    for label in (do_now, why, problem):
        label.setWordWrap(True)
    enlarge(do_now, do_now_scale, bold=True)
    enlarge(why, why_scale)
    enlarge(problem, problem_scale, bold=True)
    problem.setStyleSheet(PROBLEM_STYLE)
    problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    problem.hide()
    return do_now, why, problem


def fill_checks(table: QTableWidget, checks: list[dict]) -> None:
    """Rows of (check, verdict, evidence), failures first, then warnings; the verdict in its
    status colour; every cell's full text as its tooltip (evidence can be long)."""
    ordered = sorted(checks, key=lambda c: {"fail": 0, "warn": 1}.get(c.get("status"), 2))
    table.setRowCount(len(ordered))
    for r, c in enumerate(ordered):
        status = str(c.get("status", ""))
        items = [QTableWidgetItem(str(c.get("name"))), QTableWidgetItem(status.upper()),
                 QTableWidgetItem(str(c.get("evidence")))]
        items[1].setForeground(QColor(STATUS_COLOURS.get(status, "#000000")))
        for col, item in enumerate(items):
            item.setToolTip(item.text())
            table.setItem(r, col, item)
