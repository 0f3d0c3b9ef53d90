"""Widgets the guided runs share (the MLPerf guide and the Tiny guide): enlarged text and the
three instruction lines at the top (what to do now, why, and what is wrong, in red)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QWidget

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
