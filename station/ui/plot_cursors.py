"""Two draggable time cursors on the power plot, and the lines of statistics under it.

The cursors A and B are vertical lines the operator drags (or places with a key); between
them the plot reads Δt, mean power and energy. The statistics lines under the plot say what
the cursors and the visible window hold. The numbers come from the plot's store
(:meth:`LiveStore.stats`); where the store only holds coarse bins at a cursor, the journal on
disk gives the exact figure (:class:`station.ui.deep_zoom.JournalSpanStats`).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from station.core.live_store import RegionStats
from station.ui import units
from station.ui.theme import Theme, qcolor


class CursorPair:
    """Cursors A and B in a view box, in the plot's x units (seconds since the first sample)."""

    def __init__(self, vb: pg.ViewBox, theme: Theme) -> None:
        self.vb = vb
        self.lines: list[pg.InfiniteLine] = []
        for name in ("A", "B"):
            line = pg.InfiniteLine(angle=90, movable=True, label=name,
                                   labelOpts={"position": 0.04, "anchors": [(0.5, 1), (0.5, 1)],
                                              "fill": None})
            line.setZValue(15)
            line.setHoverPen(pg.mkPen(qcolor(theme.cursor), width=4))
            line.hide()
            vb.addItem(line, ignoreBounds=True)
            self.lines.append(line)
        self.set_theme(theme)

    @property
    def visible(self) -> bool:
        return self.lines[0].isVisible()

    def set_theme(self, theme: Theme) -> None:
        color = qcolor(theme.cursor)
        for line in self.lines:
            line.setPen(pg.mkPen(color, width=2))
            line.label.setColor(color)
            font = line.label.textItem.font()
            font.setBold(True)
            font.setPointSizeF(11)
            line.label.textItem.setFont(font)

    def show(self, show: bool = True, within: tuple[float, float] | None = None) -> None:
        """Show the cursors; when they first appear they sit at a third and two thirds of
        ``within`` (default: the view)."""
        if show and not self.visible:
            (x0, x1), _ = self.vb.viewRange()
            if within is not None and within[0] < within[1]:
                x0, x1 = within
            w = x1 - x0
            self.set(x0 + w / 3, x0 + 2 * w / 3)
        for line in self.lines:
            line.setVisible(show)

    def set(self, a: float, b: float) -> None:
        self.lines[0].setValue(a)
        self.lines[1].setValue(b)

    def positions(self) -> tuple[float, float]:
        """(A, B) as placed (A may be right of B)."""
        return float(self.lines[0].value()), float(self.lines[1].value())

    def connect(self, slot) -> None:
        for line in self.lines:
            line.sigPositionChanged.connect(slot)


def stats_text(title: str, s: RegionStats | None, empty: str, cursors: tuple[float, float] | None = None) -> str:
    """One line of statistics (rich text): duration, mean / min / max power, energy, samples."""
    if s is None:
        return empty
    head = f"<b>{title}</b>"
    if cursors is not None:
        a, b = cursors
        head += f" A {units.duration(a)} · B {units.duration(b)} · Δt <b>{units.duration(abs(b - a))}</b>"
    else:
        head += f" {units.duration(s.duration_s)}"
    if s.samples == 0:
        return head + " · no samples here"
    text = (f"{head} · mean <b>{units.si(s.mean_w, 'W')}</b> · min {units.si(s.min_w, 'W')}"
            f" · max {units.si(s.max_w, 'W')} · energy <b>{units.energy(s.energy_j)}</b> · {s.samples} samples")
    if s.bad_samples:
        text += f" · <span style='color:#d32f2f'><b>{s.bad_samples} bad samples excluded</b></span>"
    if not s.exact:
        text += " · ≈ edges approximate (reading the journal…)"
    return text


class StatsLine(QLabel):
    """A line of statistics under the plot, selectable so its numbers can be copied."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        f = self.font()
        f.setPointSizeF(f.pointSizeF() * 1.1)
        self.setFont(f)
