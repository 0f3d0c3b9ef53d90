"""The power plot: a pixel-sized min/max band plus the mean, read from a LiveStore.

Each frame asks the store for the visible time window in as many entries as the plot is
wide in device pixels, so a frame costs the same for a minute or a day of data (the live
store's pyramid). The band is the min..max of each pixel, the line its mean; stretches with
overrange or invalid samples are shaded red over the whole height, so a bad reading cannot
hide inside the band. Time is shown in seconds since the first sample (UTC epoch seconds
would lose the milliseconds to float rounding in the scene's transforms).

Modes: *follow live* keeps the last ``window_s`` seconds in view; any zoom or pan by the
operator switches to *paused*, and the view then stays where it was put while data keeps
arriving. A region (LinearRegionItem) selects a span whose duration, mean/min/max power and
energy come from ``LiveStore.stats``.

Traces on demand: volts, amps and power factor each get their own plot stacked under the
power plot (own y axis and units, x linked), per-element power of a multi-element analyzer
is drawn as one line per element in the power plot. Several instruments at once: every
source added with :meth:`PowerPlot.add_source` is drawn in its own colour with a legend,
in every row, plus optionally the system total (the sum of the instruments' power per
pixel). Every trace is read from its store's per-field pyramid at the plot's pixel width,
so a frame's cost grows with the number of traces shown, never with the recording.
"""

from __future__ import annotations

import math
import time
from datetime import datetime

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from station.core.live_store import LiveStore, RegionStats, Summary
from station.core.samples import BAD_FLAGS
from station.ui import units
from station.ui.deep_zoom import JournalDetail, JournalSpanStats, wants_detail
from station.ui.plot_cursors import CursorPair, StatsLine, stats_text
from station.ui.theme import LIGHT, Theme, qcolor

MAX_PIXELS = 4096  # entries asked per frame, whatever the screen
# Quantities that can be shown on demand under the power plot: (row title, unit).
TRACE_ROWS = {"v": ("Voltage", "V"), "a": ("Current", "A"), "pf": ("Power factor", "")}
ROW_MIN_HEIGHT = 60  # px: three rows under the power plot fit a 900 px window
POWER_MIN_HEIGHT, POWER_MIN_HEIGHT_WITH_ROWS = 220, 150  # px: the power plot gives rows room
TIME_AXIS_LABEL = "Time since first sample"
TRACES = (*TRACE_ROWS, "ch_w")  # ch_w: per-element power, in the power plot
# Colours of further instruments and of elements, readable on both backgrounds.
SOURCE_COLORS = ("#e8590c", "#2b8a3e", "#ae3ec9", "#0c8599", "#c2255c", "#5c7cfa")
CHANNEL_COLORS = ("#f08c00", "#37b24d", "#d6336c", "#1098ad", "#7048e8", "#a61e4d")
MAX_MARKS = 300
STATS_INTERVAL_S = 0.25  # region statistics are recomputed at most this often while data flows


def band_path(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> QPainterPath:
    """A fillable path of the band between ``lo`` and ``hi``, broken where either is NaN.

    Each finite run becomes one closed polygon: forward along ``hi``, back along ``lo``.
    Built with a sort instead of a Python loop over runs.
    """
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(x)
    idx = np.flatnonzero(ok)
    n = len(idx)
    if n == 0:
        return QPainterPath()
    run = np.zeros(n, np.int64)
    run[1:] = np.cumsum(np.diff(idx) != 1)
    pos = np.arange(n)
    key_run = np.concatenate([run, run])
    key_dir = np.concatenate([np.zeros(n, np.int8), np.ones(n, np.int8)])
    key_pos = np.concatenate([pos, -pos])
    order = np.lexsort((key_pos, key_dir, key_run))
    xs = np.concatenate([x[idx], x[idx]])[order]
    ys = np.concatenate([hi[idx], lo[idx]])[order]
    r = key_run[order]
    connect = np.zeros(2 * n, np.int32)
    connect[:-1] = r[1:] == r[:-1]
    return pg.arrayToQPath(xs, ys, connect=connect, finiteCheck=False)


def opaque(color: QColor, background: QColor) -> QColor:
    """``color`` (with its alpha) as it looks over ``background``, as an opaque colour.

    Opaque pens and brushes skip alpha blending, which is most of the cost of a CPU-raster frame.
    """
    a = color.alphaF()
    return QColor(*(round(b + (c - b) * a) for c, b in ((color.red(), background.red()),
                                                        (color.green(), background.green()),
                                                        (color.blue(), background.blue()))))


class PathItem(pg.GraphicsObject):
    """A filled QPainterPath in data coordinates (the band, the bad-data shading)."""

    def __init__(self, brush: QColor, pen: QColor | None = None) -> None:
        super().__init__()
        self._path = QPainterPath()
        self._rect = QRectF()
        self._brush = QBrush(brush)
        self._pen = QPen(Qt.PenStyle.NoPen) if pen is None else pg.mkPen(pen, width=1, cosmetic=True)

    def set_colors(self, brush: QColor, pen: QColor | None = None) -> None:
        self._brush = QBrush(brush)
        self._pen = QPen(Qt.PenStyle.NoPen) if pen is None else pg.mkPen(pen, width=1, cosmetic=True)
        self.update()

    def set_path(self, path: QPainterPath) -> None:
        self.prepareGeometryChange()
        self._path = path
        self._rect = path.boundingRect()
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt override)
        return self._rect

    def paint(self, painter, *args) -> None:
        painter.setPen(self._pen)
        painter.setBrush(self._brush)
        painter.drawPath(self._path)


class GridLines:
    """Grid lines at the axes' tick values, drawn as two line items in the view.

    pyqtgraph's own grid (AxisItem.setGrid) cost about 10 ms per frame on a 1600 px CPU-raster
    plot, more than everything else in a frame together; these lines cost well under 1 ms.
    Colours are opaque blends of the foreground into the background (no alpha blending).
    """

    def __init__(self, vb: pg.ViewBox, x_axis: pg.AxisItem, y_axis: pg.AxisItem) -> None:
        self.vb, self.x_axis, self.y_axis = vb, x_axis, y_axis
        self.major = pg.PlotCurveItem(connect="pairs")
        self.minor = pg.PlotCurveItem(connect="pairs")
        for z, item in ((-20, self.minor), (-19, self.major)):
            item.setZValue(z)
            vb.addItem(item, ignoreBounds=True)

    def set_colors(self, fg: QColor, bg: QColor, alpha: float) -> None:
        for a, item in ((alpha, self.major), (alpha * 0.45, self.minor)):
            c = QColor(fg)
            c.setAlphaF(a)
            item.setPen(pg.mkPen(opaque(c, bg), width=1))

    def update(self) -> None:
        (x0, x1), (y0, y1) = self.vb.viewRange()
        w, h = max(1.0, self.vb.width()), max(1.0, self.vb.height())
        xl = self.x_axis.tickValues(x0, x1, w)
        yl = self.y_axis.tickValues(y0, y1, h)
        for level, item in ((0, self.major), (1, self.minor)):
            xs = np.asarray(xl[level][1] if len(xl) > level else [], dtype=np.float64)
            ys = np.asarray(yl[level][1] if len(yl) > level else [], dtype=np.float64)
            vx = np.repeat(xs, 2)
            vy = np.tile([y0, y1], len(xs))
            hx = np.tile([x0, x1], len(ys))
            hy = np.repeat(ys, 2)
            item.setData(np.concatenate([vx, hx]), np.concatenate([vy, hy]), connect="pairs")


def break_gaps(s: Summary, x: np.ndarray, arrays: list[np.ndarray], interval: float,
               px: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Insert NaN where samples are missing (a gap wider than the pixel grid shows), so
    lines break there instead of bridging the hole."""
    min_gap = max(3.0 * interval, 2.0 * px)
    between = np.flatnonzero((s.t_start[1:] - s.t_end[:-1]) > min_gap) + 1
    # A coarse entry can hold the hole itself: it is longer than its samples account for.
    inside = np.flatnonzero((s.t_end - s.t_start) - np.maximum(s.samples - 1, 0) * interval > min_gap)
    gaps = np.unique(np.concatenate([between, inside, inside + 1]))
    gaps = gaps[(gaps > 0) & (gaps < len(x))]
    if not len(gaps):
        return x, arrays
    return np.insert(x, gaps, np.nan), [np.insert(a, gaps, np.nan, axis=0) for a in arrays]


def fit_view(vb: pg.ViewBox, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Fit the y range of ``vb`` to lo..hi unless it already shows them well; True if changed.

    Keeps the scale unless the data leave it or shrink to a small part of it: a y axis that
    moves every frame cannot be read."""
    with np.errstate(all="ignore"):
        vals_lo = lo[np.isfinite(lo)]
        vals_hi = hi[np.isfinite(hi)]
        if not len(vals_lo) or not len(vals_hi):
            return False
        a, b = float(vals_lo.min()), float(vals_hi.max())
    h = b - a
    if h <= 0:
        h = max(abs(b) * 0.02, 1e-9)
    target = (a - 0.08 * h, b + 0.08 * h)
    (_, _), (y0, y1) = vb.viewRange()
    inside = y0 <= target[0] and target[1] <= y1
    if inside and (target[1] - target[0]) >= 0.45 * (y1 - y0):
        return False
    vb.setYRange(target[0] - 0.1 * h, target[1] + 0.1 * h, padding=0)
    return True


class Series:
    """One quantity of one source in one view: its mean line and (optionally) its min..max band."""

    def __init__(self, vb: pg.ViewBox, color: str, bg: QColor, band: bool = True, z: float = 1.0,
                 style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> None:
        self.vb = vb
        self.mean = pg.PlotCurveItem(connect="finite")
        self.mean.setZValue(z + 0.5)
        self.band = pg.PlotCurveItem(connect="pairs") if band else None
        self.style = style
        self.x = np.zeros(0)
        self.y = np.zeros(0)
        vb.addItem(self.mean, ignoreBounds=True)
        if self.band is not None:
            self.band.setZValue(z)
            vb.addItem(self.band, ignoreBounds=True)
        self.set_colors(color, bg)

    def set_colors(self, color: str, bg: QColor) -> None:
        self.mean.setPen(pg.mkPen(QColor(color), width=1.5 if self.band is None else 1, style=self.style))
        if self.band is not None:
            c = QColor(color)
            c.setAlphaF(0.35)
            self.band.setPen(pg.mkPen(opaque(c, bg), width=1))

    def draw(self, s: Summary, x: np.ndarray, lo, hi, mean, interval: float, px: float) -> None:
        self.x, self.y = x, mean
        xb, (lo, hi, mean) = break_gaps(s, x, [lo, hi, mean], interval, px)
        self.mean.setData(xb, mean, connect="finite")
        if self.band is not None:
            if s.is_raw:
                self.band.setData([], [])
            else:
                self.band.setData(np.repeat(xb, 2), np.column_stack([lo, hi]).ravel(), connect="pairs")

    def value_at(self, x: float) -> float | None:
        if len(self.x) == 0:
            return None
        i = int(np.clip(np.searchsorted(self.x, x), 0, len(self.x) - 1))
        if i > 0 and abs(self.x[i - 1] - x) < abs(self.x[i] - x):
            i -= 1
        v = float(self.y[i])
        return v if math.isfinite(v) else None

    def clear(self) -> None:
        self.x = self.y = np.zeros(0)
        self.mean.setData([], [])
        if self.band is not None:
            self.band.setData([], [])

    def remove(self) -> None:
        self.vb.removeItem(self.mean)
        if self.band is not None:
            self.vb.removeItem(self.band)


def _plot_widget(parent: QWidget, min_height: int, title: str, unit: str) -> tuple[pg.PlotWidget, pg.PlotItem,
                                                                             pg.ViewBox]:
    """A plot as the window's plots all are: no buttons or menu, a left axis 72 px wide (so the
    stacked plots' x axes line up), ranges set by the code, y 0..1 until data comes."""
    widget = pg.PlotWidget(parent=parent)
    widget.setMinimumHeight(min_height)
    pi = widget.getPlotItem()
    pi.hideButtons()
    pi.setMenuEnabled(False)
    pi.setClipToView(False)
    pi.setLabel("left", title, units=unit or None)
    left = pi.getAxis("left")
    left.setWidth(72)
    left.enableAutoSIPrefix(bool(unit))
    vb = pi.getViewBox()
    vb.disableAutoRange()
    vb.setYRange(0, 1, padding=0)
    return widget, pi, vb


class TraceRow:
    """A plot under the power plot for one quantity (volts, amps, power factor), x linked."""

    def __init__(self, owner: PowerPlot, field: str) -> None:
        title, unit = TRACE_ROWS[field]
        self.field = field
        self.unit = unit
        self.auto_y = True
        self.widget, pi, self.vb = _plot_widget(owner, ROW_MIN_HEIGHT, title, unit)
        pi.setLabel("bottom", TIME_AXIS_LABEL, units="s")
        pi.getAxis("bottom").enableAutoSIPrefix(True)
        pi.hideAxis("bottom")  # the lowest row shows the time axis (see PowerPlot._place_time_axis)
        self.vb.setXLink(owner.vb)
        self.grid = GridLines(self.vb, owner.plot.getPlotItem().getAxis("bottom"), pi.getAxis("left"))
        self.series: dict[str, Series] = {}
        self.vb.sigRangeChangedManually.connect(self._on_manual)
        self._owner = owner

    def _on_manual(self, mask) -> None:
        if mask is None or mask[1]:
            self.auto_y = False
        if mask is None or mask[0]:
            self._owner.set_follow(False)
        self._owner._dirty = True

    def set_theme(self, theme: Theme) -> None:
        self.widget.setBackground(qcolor(theme.plot_bg))
        pi = self.widget.getPlotItem()
        for name in ("left", "bottom"):
            axis = pi.getAxis(name)
            axis.setPen(pg.mkPen(qcolor(theme.plot_fg)))
            axis.setTextPen(pg.mkPen(qcolor(theme.plot_fg)))
        self.grid.set_colors(qcolor(theme.plot_fg), qcolor(theme.plot_bg), theme.grid_alpha)

    def dispose(self) -> None:
        for series in self.series.values():
            series.remove()
        self.series.clear()
        self.widget.setParent(None)
        self.widget.deleteLater()


class Source:
    """A further instrument shown in the plot: its store, its name and its colour."""

    def __init__(self, key: str, label: str, store: LiveStore | None, color: str) -> None:
        self.key = key
        self.label = label
        self.store = store
        self.color = color


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end indices (inclusive) of the runs of True in ``mask``."""
    m = np.concatenate(([False], mask, [False]))
    d = np.diff(m.astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1


class PowerPlot(QWidget):
    """Live or recorded power against time, with cursor readout and a measuring region."""

    followChanged = Signal(bool)
    regionChanged = Signal()
    statsChanged = Signal()  # the cursors' or the visible window's statistics changed

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT) -> None:
        super().__init__(parent)
        self.theme = theme
        self.store: LiveStore | None = None
        self.origin: float | None = None  # UTC seconds shown as x = 0
        self.live = True  # the store is being appended to
        self.window_s = 30.0
        self.follow = True
        self.auto_y = True
        self.last_summary: Summary | None = None
        self.last_frame_s = 0.0  # time spent in the last refresh (query + setData)
        self.frames = 0
        self._x = np.zeros(0)  # x of the drawn entries (relative s), for the cursor
        self._revision = -1
        self._dirty = True
        self._programmatic = 0
        self._region_stats: RegionStats | None = None
        self._region_dirty = False
        self._region_time = 0.0
        self._marks: list[tuple[float, str, pg.InfiniteLine]] = []
        self.label = ""  # name of the main source in the legend (several instruments)
        # Deep zoom: the main source's journal on disk, read on its own thread for views the
        # pyramid only holds coarsely (old parts of a long run); see station.ui.deep_zoom.
        self.detail: JournalDetail | None = None
        self.detail_shown = False  # the last frame drew the journal's samples
        self._detail_seen = None
        self._view_store: LiveStore | None = None  # what the main source's rows read this frame
        # Cursors and the visible window's statistics (bench features): exact from the store where
        # it holds the samples, else from the journal (span_reader) once it has been read.
        self.span_reader: JournalSpanStats | None = None
        self._cursor_stats: RegionStats | None = None
        self._view_stats: RegionStats | None = None
        self._stats_key: tuple | None = None
        self._stats_time = 0.0
        self._stats_rev = -1
        self.sources: dict[str, Source] = {}  # further instruments, drawn over the main one
        self.traces: set[str] = set()  # quantities shown on demand (TRACES)
        self.show_total = False  # system total of all instruments' power
        self.rows: dict[str, TraceRow] = {}
        self._w_series: dict[str, Series] = {}  # further sources', elements' and the total's power lines
        self._legend_key: tuple = ()

        self.plot, pi, self.vb = _plot_widget(self, POWER_MIN_HEIGHT, "Power", "W")
        pi.setLabel("bottom", TIME_AXIS_LABEL, units="s")
        pi.getAxis("bottom").enableAutoSIPrefix(True)
        self.vb.setMouseEnabled(x=True, y=True)
        self.vb.setXRange(-self.window_s, 0, padding=0)

        self.bad = PathItem(qcolor(theme.bad))
        self.bad.setZValue(-5)
        # The band: a filled polygon when entries are sparser than pixels; one vertical min..max
        # line per entry when they are dense (same look, a tenth of the cost of a fill).
        self.band = PathItem(qcolor(theme.band), qcolor(theme.band))
        self.band.setZValue(0)
        self.band_lines = pg.PlotCurveItem(connect="pairs")
        self.band_lines.setZValue(0)
        self.mean = pg.PlotCurveItem(pen=pg.mkPen(qcolor(theme.mean), width=1), connect="finite")
        self.mean.setZValue(2)
        self.points = pg.ScatterPlotItem(size=6, pen=None, brush=pg.mkBrush(qcolor(theme.mean)))
        self.points.setZValue(3)
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(qcolor(theme.cursor), width=1))
        self.cursor.setZValue(10)
        self.cursor.hide()
        self.region = pg.LinearRegionItem(values=(0, 1), brush=pg.mkBrush(qcolor(theme.region)),
                                          pen=pg.mkPen(qcolor(theme.mark), width=2), swapMode="sort")
        self.region.setZValue(8)
        self.region.hide()
        for item in (self.bad, self.band, self.band_lines, self.mean, self.points, self.cursor, self.region):
            self.vb.addItem(item, ignoreBounds=True)
        self.cursors = CursorPair(self.vb, theme)
        self.cursors.connect(self._on_cursors_moved)

        self.grid = GridLines(self.vb, pi.getAxis("bottom"), pi.getAxis("left"))

        self.legend = pi.addLegend(offset=(80, 6), labelTextSize="10pt")
        self.legend.hide()

        self.mode_label = pg.TextItem(anchor=(1, 0))
        self.mode_label.setParentItem(self.vb)
        self.mode_label.setZValue(20)

        self.empty_label = QLabel(self.plot)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        f = self.empty_label.font()
        f.setPointSizeF(f.pointSizeF() * 1.3)
        self.empty_label.setFont(f)
        self.empty_label.setText("No data yet.\nChoose an instrument on the left and press Connect (Ctrl+K).")

        self.cursor_label = QLabel("Move the mouse over the plot to read values.")
        self.cursor_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cursor_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plot, 3)
        layout.addWidget(self.cursor_label)
        self.cursor_stats_line = StatsLine("cursor_stats", self)
        self.cursor_stats_line.hide()
        self.view_stats_line = StatsLine("view_stats", self)
        layout.addWidget(self.cursor_stats_line)
        layout.addWidget(self.view_stats_line)
        self._layout = layout
        self._show_stats()

        self.vb.sigRangeChangedManually.connect(self._on_manual_range)
        self.vb.sigRangeChanged.connect(self._on_range_changed)
        self.vb.sigResized.connect(self._on_resized)
        self.region.sigRegionChanged.connect(self._on_region_changed)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.set_theme(theme)
        self._update_mode_label()

    # -- configuration ----------------------------------------------------------------------------
    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.plot.setBackground(qcolor(theme.plot_bg))
        pi = self.plot.getPlotItem()
        for name in ("left", "bottom"):
            axis = pi.getAxis(name)
            axis.setPen(pg.mkPen(qcolor(theme.plot_fg)))
            axis.setTextPen(pg.mkPen(qcolor(theme.plot_fg)))
        self.grid.set_colors(qcolor(theme.plot_fg), qcolor(theme.plot_bg), theme.grid_alpha)
        self.bad.set_colors(qcolor(theme.bad))
        band = opaque(qcolor(theme.band), qcolor(theme.plot_bg))
        self.band.set_colors(band, band)
        self.band_lines.setPen(pg.mkPen(band, width=1))
        self.mean.setPen(pg.mkPen(qcolor(theme.mean), width=1))
        self.points.setBrush(pg.mkBrush(qcolor(theme.mean)))
        self.cursor.setPen(pg.mkPen(qcolor(theme.cursor), width=1))
        self.region.setBrush(pg.mkBrush(qcolor(theme.region)))
        for line in self.region.lines:
            line.setPen(pg.mkPen(qcolor(theme.mark), width=2))
        self.cursors.set_theme(theme)
        for _, _, line in self._marks:
            line.setPen(pg.mkPen(qcolor(theme.mark), width=1, style=Qt.PenStyle.DashLine))
        self.empty_label.setStyleSheet(f"color: {theme.muted}; background: transparent;")
        bg = qcolor(theme.plot_bg)
        for row in self.rows.values():
            row.set_theme(theme)
            for key, series in row.series.items():
                series.set_colors(self._color_of(key), bg)
        for key, series in self._w_series.items():
            series.set_colors(self._color_of(key), bg)
        self.legend.setLabelTextColor(qcolor(theme.plot_fg))
        # An opaque box: the legend must stay readable over the traces and the marks.
        self.legend.setBrush(pg.mkBrush(opaque(qcolor(theme.plot_bg), qcolor(theme.plot_bg))))
        self.legend.setPen(pg.mkPen(qcolor(theme.plot_fg), width=1))
        self.legend.setZValue(30)
        self._update_mode_label()
        self._dirty = True

    # -- traces and sources ----------------------------------------------------------------------
    def set_trace(self, name: str, show: bool = True) -> None:
        """Show or hide a quantity: "v", "a", "pf" (a plot of its own under the power plot) or
        "ch_w" (one power line per element, in the power plot)."""
        if name not in TRACES:
            raise ValueError(f"unknown trace {name!r}; traces: {', '.join(TRACES)}")
        if show:
            self.traces.add(name)
        else:
            self.traces.discard(name)
        if name in TRACE_ROWS:
            if show and name not in self.rows:
                row = TraceRow(self, name)
                row.set_theme(self.theme)
                # rows stay in the order of TRACE_ROWS, between the power plot and the cursor line
                order = [f for f in TRACE_ROWS if f in self.rows or f == name]
                self._layout.insertWidget(1 + order.index(name), row.widget, 1)
                row.widget.show()
                self.rows[name] = row
            elif not show and name in self.rows:
                self.rows.pop(name).dispose()
            self._place_time_axis()
        elif not show:
            for key in [k for k in self._w_series if k.startswith("ch:")]:
                self._w_series.pop(key).remove()
        self._dirty = True

    def _place_time_axis(self) -> None:
        """The lowest row under the power plot carries a time axis too: a voltage or current
        plot at the bottom of the screen is read against time like the power. With rows, the
        power plot may be smaller, so that they all fit without the window growing."""
        lowest = next((f for f in reversed(TRACE_ROWS) if f in self.rows), None)
        self.plot.setMinimumHeight(POWER_MIN_HEIGHT if lowest is None else POWER_MIN_HEIGHT_WITH_ROWS)
        for field, row in self.rows.items():
            pi = row.widget.getPlotItem()
            if field == lowest:
                pi.showAxis("bottom")
            else:
                pi.hideAxis("bottom")

    def add_source(self, key: str, label: str, store: LiveStore | None) -> None:
        """Show a further instrument (its own colour, in every row); replaces one of the same key."""
        if key in self.sources:
            self.sources[key].store = store
            self.sources[key].label = label
        else:
            color = SOURCE_COLORS[len(self.sources) % len(SOURCE_COLORS)]
            self.sources[key] = Source(key, label, store, color)
        self._dirty = True

    def remove_source(self, key: str) -> None:
        """Stop showing an instrument: its lines, its legend entry, and the total once it is the last."""
        if self.sources.pop(key, None) is None:
            return
        for series_map in (self._w_series, *(r.series for r in self.rows.values())):
            if key in series_map:
                series_map.pop(key).remove()
        if not self.sources and "total" in self._w_series:  # one instrument has no total to show
            self._w_series.pop("total").remove()
        self._dirty = True
        self._update_legend()  # a frame draws the extras (and with them the legend) only while there are any

    def set_show_total(self, show: bool) -> None:
        """Draw the system total: the sum of all instruments' power (where all have data)."""
        self.show_total = bool(show)
        if not show and "total" in self._w_series:
            self._w_series.pop("total").remove()
        self._dirty = True

    def _color_of(self, key: str) -> str:
        if key == "":
            return self.theme.mean
        if key == "total":
            return self.theme.plot_fg
        if key.startswith("ch:"):
            return CHANNEL_COLORS[int(key[3:]) % len(CHANNEL_COLORS)]
        return self.sources[key].color

    def _series(self, table: dict, key: str, vb: pg.ViewBox, band: bool = True) -> Series:
        series = table.get(key)
        if series is None:
            style = Qt.PenStyle.DashLine if key == "total" else Qt.PenStyle.SolidLine
            series = Series(vb, self._color_of(key), qcolor(self.theme.plot_bg), band=band,
                            z=1.0 if key == "" else 1.2, style=style)
            table[key] = series
        return series

    def trace_values(self, field: str, key: str = "") -> tuple[np.ndarray, np.ndarray]:
        """(x, mean) drawn for ``field`` of source ``key`` ("" the main one; for "w" of the main
        source see ``last_summary``; "ch:<i>" elements, "total" the system total)."""
        table = self._w_series if field == "w" else self.rows[field].series
        series = table.get(key)
        return (series.x, series.y) if series is not None else (np.zeros(0), np.zeros(0))

    def _all_sources(self) -> list[tuple[str, str, LiveStore | None]]:
        main = self._view_store if self._view_store is not None else self.store
        return [("", self.label, main)] + [(k, src.label, src.store) for k, src in self.sources.items()]

    def _draw_extras(self, x0: float, x1: float, n: int) -> None:
        """Further sources, elements, total and the trace rows (after the main power)."""
        px = (x1 - x0) / max(1, n)
        a, b = self.origin + x0, self.origin + x1
        summaries: dict[str, Summary] = {"": self.last_summary} if self.last_summary is not None else {}
        for key, src in self.sources.items():
            series = self._series(self._w_series, key, self.vb)
            if src.store is None or src.store.span() is None:
                series.clear()
                continue
            sm = src.store.summary(a, b, n)
            summaries[key] = sm
            if len(sm):
                series.draw(sm, sm.t - self.origin, sm.min, sm.max, sm.mean, src.store.interval_s or 0.0, px)
            else:
                series.clear()
        store = self.store
        if "ch_w" in self.traces and store is not None and "ch_w" in store.fields:
            sm = store.summary(a, b, n, field="ch_w")
            for ch in range(sm.mean.shape[1] if sm.mean.ndim > 1 else 0):
                series = self._series(self._w_series, f"ch:{ch}", self.vb, band=False)
                series.draw(sm, sm.t - self.origin, sm.min[:, ch], sm.max[:, ch], sm.mean[:, ch],
                            store.interval_s or 0.0, px)
        if self.show_total and self.sources:
            self._draw_total(summaries, x0, x1, n, px)
        for field, row in self.rows.items():
            lows, highs = [], []
            for key, _label, st in self._all_sources():
                series = self._series(row.series, key, row.vb)
                if st is None or st.span() is None or field not in st.fields:
                    series.clear()
                    continue
                sm = st.summary(a, b, n, field=field)
                if not len(sm):
                    series.clear()
                    continue
                lo, hi, mean = sm.min, sm.max, sm.mean
                if lo.ndim > 1:
                    lo, hi, mean = lo.mean(axis=1), hi.mean(axis=1), mean.mean(axis=1)
                series.draw(sm, sm.t - self.origin, lo, hi, mean, st.interval_s or 0.0, px)
                lows.append(lo)
                highs.append(hi)
            row.grid.update()
            if row.auto_y and lows:
                self._programmatic += 1
                try:
                    fit_view(row.vb, np.concatenate(lows), np.concatenate(highs))
                finally:
                    self._programmatic -= 1
        self._update_legend()

    def _draw_total(self, summaries: dict[str, Summary], x0: float, x1: float, n: int, px: float) -> None:
        """Sum of the instruments' mean power per pixel, where every instrument has a value."""
        series = self._series(self._w_series, "total", self.vb, band=False)
        keys = [""] + list(self.sources)
        if any(k not in summaries or not len(summaries[k]) for k in keys):
            series.clear()
            return
        total = np.zeros(n)
        have = np.ones(n, bool)
        for k in keys:
            sm = summaries[k]
            mean = sm.mean if sm.mean.ndim == 1 else sm.mean.sum(axis=1)
            pix = np.clip(((sm.t - self.origin - x0) / max(px, 1e-300)).astype(np.int64), 0, n - 1)
            col = np.full(n, np.nan)
            col[pix] = mean
            have &= np.isfinite(col)
            total += np.nan_to_num(col)
        idx = np.flatnonzero(have)
        x = x0 + (idx + 0.5) * px
        y = total[idx]
        series.x, series.y = x, y
        connect = np.ones(len(idx), np.int32)
        if len(idx):
            connect[:-1] = np.diff(idx) <= 2
        series.mean.setData(x, y, connect=connect if len(idx) else "finite")

    def _update_legend(self) -> None:
        entries: list[tuple[str, str]] = []
        if self.sources:
            entries.append(("", self.label or "instrument 1"))
            entries += [(k, src.label) for k, src in self.sources.items()]
            if self.show_total:
                entries.append(("total", "system total"))
        entries += [(k, f"element {int(k[3:]) + 1}") for k in sorted(self._w_series) if k.startswith("ch:")]
        key = tuple(entries)
        if key == self._legend_key:
            return
        self._legend_key = key
        self.legend.clear()
        for k, name in entries:
            item = self.mean if k == "" else self._w_series.get(k)
            item = item.mean if isinstance(item, Series) else item
            if item is not None:
                self.legend.addItem(item, name)
        self.legend.setVisible(bool(entries))

    def set_store(self, store: LiveStore | None, live: bool = True, keep_view: bool = False) -> None:
        """Show ``store`` (live: being appended to). A new store resets the view unless ``keep_view``."""
        if store is not self.store:
            self.set_journal(None)
            for key in [k for k in self._w_series if k.startswith("ch:")]:  # elements of the store that goes
                self._w_series.pop(key).remove()
        self.store = store
        self.live = live
        self._revision = -1
        self._dirty = True
        self._region_dirty = True
        if not keep_view:
            self.origin = None
            self.auto_y = True
            self.set_follow(live)
            if not live:
                self.fit_all()
        self._update_mode_label()
        self._update_legend()

    def set_journal(self, detail: JournalDetail | None) -> None:
        """The journal holding every sample of the main store (a recorded run, or the run being
        recorded), for deep zoom; None: none. The plot closes it when it is replaced."""
        if self.detail is not None and self.detail is not detail:
            self.detail.close()
        if self.span_reader is not None and (detail is None or self.span_reader.directory != detail.directory):
            self.span_reader.close()
            self.span_reader = None
        if detail is not None and self.span_reader is None:
            self.span_reader = JournalSpanStats(detail.directory, detail.inst_id)
        self.detail = detail
        self._stats_key = None
        self._detail_seen = None
        self._dirty = True

    def _deep(self, s: Summary, a: float, b: float, n: int) -> tuple[Summary, LiveStore | None]:
        """The journal's full-resolution view of [a, b] (UTC) when the store's is coarser than the
        pixels and the journal's samples are there; the store's own view meanwhile."""
        d = self.detail
        self.detail_shown = False
        if d is None or not len(s) or s.level == 0:
            return s, self.store
        if not wants_detail(s.level, len(s), int(s.samples.sum()), n):
            return s, self.store
        got = d.get(a, b)  # asks the reading thread; never waits for the disk
        if got is None or got.store is None:
            return s, self.store
        self.detail_shown = True
        return got.store.summary(a, b, n), got.store

    def set_window(self, seconds: float) -> None:
        """Length of the followed window; follow resumes."""
        self.window_s = max(1e-3, float(seconds))
        self.set_follow(True)

    def set_follow(self, follow: bool) -> None:
        follow = bool(follow) and self.live
        if follow and not self.follow:
            self.auto_y = True
            for row in self.rows.values():
                row.auto_y = True
        changed = follow != self.follow
        self.follow = follow
        self._dirty = True
        self._update_mode_label()
        if changed:
            self.followChanged.emit(follow)

    def fit_all(self) -> None:
        """The whole recording in view, y fitted; follow stops."""
        span = self.store.span() if self.store is not None else None
        self.set_follow(False)
        self.auto_y = True
        if span is not None and self._ensure_origin():
            a, b = span[0] - self.origin, span[1] - self.origin
            pad = max((b - a) * 0.01, (self.store.interval_s or 1e-3))
            self._set_x(a - pad, b + pad)
        self._dirty = True

    # -- region -------------------------------------------------------------------------------------
    @property
    def region_visible(self) -> bool:
        return self.region.isVisible()

    def show_region(self, show: bool = True) -> None:
        """Show the measuring region; when it first appears it spans the middle half of the view."""
        if show and not self.region.isVisible():
            (x0, x1), _ = self.vb.viewRange()
            w = x1 - x0
            self.region.setRegion((x0 + 0.25 * w, x0 + 0.75 * w))
        self.region.setVisible(show)
        self._region_dirty = True
        self.regionChanged.emit()

    def set_region(self, t0: float, t1: float) -> None:
        """Region in seconds since the first sample."""
        self.region.setRegion((t0, t1))
        if not self.region.isVisible():
            self.region.show()
        self._region_dirty = True

    def region_stats(self) -> RegionStats | None:
        return self._region_stats if self.region.isVisible() else None

    def region_bounds(self) -> tuple[float, float] | None:
        """Region in UTC seconds, or None."""
        if not self.region.isVisible() or self.origin is None:
            return None
        a, b = self.region.getRegion()
        return self.origin + a, self.origin + b

    # -- cursors and statistics of the view -------------------------------------------------------------
    @property
    def cursors_visible(self) -> bool:
        return self.cursors.visible

    def show_cursors(self, show: bool = True) -> None:
        """Show cursors A and B (when they first appear: at a third and two thirds of the data in view)."""
        (x0, x1), _ = self.vb.viewRange()
        span = self.store.span() if self.store is not None else None
        if span is not None and self.origin is not None:
            x0, x1 = max(x0, span[0] - self.origin), min(x1, span[1] - self.origin)
        self.cursors.show(show, within=(x0, x1))
        self.cursor_stats_line.setVisible(show)
        self._stats_key = None
        self._dirty = True
        self._update_bench_stats()

    def set_cursors(self, a: float, b: float) -> None:
        """Place cursors A and B (seconds since the first sample) and show them."""
        if not self.cursors.visible:
            self.show_cursors(True)
        self.cursors.set(a, b)
        self._stats_key = None
        self._dirty = True

    def cursor_positions(self) -> tuple[float, float] | None:
        """(A, B) in seconds since the first sample, or None when the cursors are off."""
        return self.cursors.positions() if self.cursors.visible else None

    def cursor_bounds(self) -> tuple[float, float] | None:
        """The span between the cursors in UTC seconds (earlier first), or None."""
        pos = self.cursor_positions()
        if pos is None or self.origin is None:
            return None
        a, b = sorted(pos)
        return self.origin + a, self.origin + b

    def cursor_stats(self) -> RegionStats | None:
        return self._cursor_stats if self.cursors.visible else None

    def view_stats(self) -> RegionStats | None:
        """Statistics of the samples in the visible time window."""
        return self._view_stats

    def selection_bounds(self) -> tuple[str, tuple[float, float]] | None:
        """What the operator selected, in UTC seconds: ("cursors", ...) or ("region", ...), or None."""
        bounds = self.cursor_bounds()
        if bounds is not None:
            return "cursors", bounds
        bounds = self.region_bounds()
        return ("region", bounds) if bounds is not None else None

    def _on_cursors_moved(self) -> None:
        self._stats_key = None
        self._dirty = True

    def _span_stats(self, t0: float, t1: float) -> RegionStats:
        """The store's statistics of [t0, t1]; where they are approximate, the journal's exact
        ones once read (asked for now, picked up on a later frame)."""
        s = self.store.stats(t0, t1)
        if s.exact or self.span_reader is None:
            return s
        span = self.store.span()
        a, b = max(t0, span[0]), min(t1, span[1])
        exact = self.span_reader.get(a, b) if a <= b else None
        if exact is None:
            self._stats_key = None  # ask again next frame: the answer may be there
        return exact if exact is not None else s

    def _update_bench_stats(self) -> None:
        """Recompute the cursors' and the view's statistics when the view, the cursors or (at most
        every STATS_INTERVAL_S while data flows) the data changed."""
        store = self.store
        if store is None or self.origin is None or store.span() is None:
            if self._view_stats is not None or self._cursor_stats is not None:
                self._view_stats = self._cursor_stats = None
                self._show_stats()
            return
        (x0, x1), _ = self.vb.viewRange()
        key = (id(store), x0, x1, self.cursor_positions())
        now = time.monotonic()
        if key == self._stats_key and (store.revision == self._stats_rev or now - self._stats_time < STATS_INTERVAL_S):
            return
        self._stats_key = key
        self._stats_rev = store.revision
        self._stats_time = now
        self._view_stats = store.stats(self.origin + x0, self.origin + x1)
        bounds = self.cursor_bounds()
        self._cursor_stats = self._span_stats(*bounds) if bounds is not None else None
        self._show_stats()

    def _show_stats(self) -> None:
        self.view_stats_line.setText(stats_text("View", self._view_stats, "View: no data in the visible window"))
        if self.cursors.visible:
            self.cursor_stats_line.setText(stats_text("Cursors", self._cursor_stats, "Cursors: no data between them",
                                                      self.cursor_positions()))
        self.statsChanged.emit()

    # -- marks ---------------------------------------------------------------------------------------
    def add_mark(self, t: float, text: str) -> None:
        line = pg.InfiniteLine(angle=90, movable=False,
                               pen=pg.mkPen(qcolor(self.theme.mark), width=1, style=Qt.PenStyle.DashLine),
                               label=text, labelOpts={"position": 0.86, "color": qcolor(self.theme.mark),
                                                      "anchors": [(0, 0), (0, 0)]})
        line.setZValue(6)
        self.vb.addItem(line, ignoreBounds=True)
        self._marks.append((t, text, line))
        if len(self._marks) > MAX_MARKS:
            _, _, old = self._marks.pop(0)
            self.vb.removeItem(old)
        self._place_marks()

    def clear_marks(self) -> None:
        for _, _, line in self._marks:
            self.vb.removeItem(line)
        self._marks.clear()

    @property
    def marks(self) -> list[tuple[float, str]]:
        return [(t, text) for t, text, _ in self._marks]

    def _place_marks(self) -> None:
        for t, _, line in self._marks:
            if self.origin is None:
                line.hide()
            else:
                line.setPos(t - self.origin)
                line.show()

    # -- frame ------------------------------------------------------------------------------------------
    def pixels(self) -> int:
        """Entries to ask for: the view's width in device pixels."""
        w = self.vb.width() * self.plot.devicePixelRatioF()
        return int(min(MAX_PIXELS, max(16, w)))

    def refresh(self) -> bool:
        """Redraw if the data or the view changed; True if something was drawn. Called by the
        window's frame timer (GUI thread)."""
        store = self.store
        if store is None:
            self.empty_label.setVisible(True)
            if self._dirty:
                self._dirty = False
                self.grid.update()
            return False
        rev = store.revision
        if self.detail is not None and self.detail.ready is not self._detail_seen:
            self._detail_seen = self.detail.ready  # the journal's samples arrived: draw them
            self._dirty = True
        if rev == self._revision and not self._dirty:
            if self._stats_key is None:  # e.g. the journal's exact figures may have arrived
                self._update_bench_stats()
            return False
        started = time.perf_counter()
        self._revision = rev
        self._dirty = False
        span = store.span()
        if span is None or not self._ensure_origin():
            self.empty_label.setVisible(True)
            self._clear_curves()
            self.grid.update()
            return False
        self.empty_label.setVisible(False)
        if self.follow:
            end = span[1] - self.origin
            self._set_x(end - self.window_s, end + self.window_s * 0.02)
        (x0, x1), _ = self.vb.viewRange()
        n = self.pixels()
        s = store.summary(self.origin + x0, self.origin + x1, n)
        s, self._view_store = self._deep(s, self.origin + x0, self.origin + x1, n)
        self._draw(s, x0, x1, n)
        if self.sources or self.traces or self.rows:
            self._draw_extras(x0, x1, n)
        self.grid.update()
        if self.region.isVisible():
            now = time.monotonic()
            if self._region_dirty or now - self._region_time >= STATS_INTERVAL_S:
                self._update_region_stats()
                self._region_time = now
        self._update_bench_stats()
        self.frames += 1
        self.last_frame_s = time.perf_counter() - started
        return True

    def _draw(self, s: Summary, x0: float, x1: float, n: int) -> None:
        self.last_summary = s
        if len(s) == 0:
            self._clear_curves()
            return
        x = s.t - self.origin
        self._x = x
        lo, hi, mean = s.min, s.max, s.mean
        if lo.ndim > 1:  # a per-channel field: show the total of the elements' means
            lo, hi, mean = lo.sum(axis=1), hi.sum(axis=1), mean.sum(axis=1)
        interval = self.store.interval_s or 0.0
        px = (x1 - x0) / max(1, n)
        x, (lo, hi, mean) = break_gaps(s, x, [lo, hi, mean], interval, px)
        self.mean.setData(x, mean, connect="finite")
        if s.is_raw:
            self.band.set_path(QPainterPath())
            self.band_lines.setData([], [])
            if len(s) <= max(8, n // 4):  # at least 4 px apart: each sample as a dot
                y = s.mean if s.mean.ndim == 1 else s.mean.sum(axis=1)
                ok = np.isfinite(y)
                self.points.setData(self._x[ok], y[ok])
            else:
                self.points.setData([], [])
        else:
            if len(s) >= 0.6 * n:
                self.band.set_path(QPainterPath())
                self.band_lines.setData(np.repeat(x, 2), np.column_stack([lo, hi]).ravel(), connect="pairs")
            else:
                self.band_lines.setData([], [])
                self.band.set_path(band_path(x, lo, hi))
            self.points.setData([], [])
        bad = (s.flags & int(BAD_FLAGS)) != 0
        if bad.any():
            starts, ends = _runs(bad)
            (_, _), (y0, y1) = self.vb.viewRange()
            h = max(abs(y1 - y0), 1e-12)
            path = QPainterPath()
            half = 0.5 * interval
            for a, b in zip(s.t_start[starts] - self.origin - half, s.t_end[ends] - self.origin + half,
                            strict=True):
                path.addRect(QRectF(a, y0 - 10 * h, max(b - a, px), 21 * h))
            self.bad.set_path(path)
        else:
            self.bad.set_path(QPainterPath())
        if self.auto_y:
            self._fit_y(lo, hi, mean)

    def _fit_y(self, lo: np.ndarray, hi: np.ndarray, mean: np.ndarray) -> None:
        self._programmatic += 1
        try:
            fit_view(self.vb, lo, hi)
        finally:
            self._programmatic -= 1

    def _clear_curves(self) -> None:
        for series in (*self._w_series.values(), *(sr for r in self.rows.values() for sr in r.series.values())):
            series.clear()
        self.mean.setData([], [])
        self.points.setData([], [])
        self.band.set_path(QPainterPath())
        self.band_lines.setData([], [])
        self.bad.set_path(QPainterPath())
        self._x = np.zeros(0)
        self.last_summary = None

    def _ensure_origin(self) -> bool:
        if self.origin is None and self.store is not None:
            span = self.store.span()
            if span is None:
                return False
            self.origin = span[0]
            self._place_marks()
        return self.origin is not None

    def _set_x(self, a: float, b: float) -> None:
        self._programmatic += 1
        try:
            self.vb.setXRange(a, b, padding=0)
        finally:
            self._programmatic -= 1

    def _update_region_stats(self) -> None:
        self._region_dirty = False
        bounds = self.region_bounds()
        if bounds is None or self.store is None:
            self._region_stats = None
        else:
            self._region_stats = self.store.stats(*bounds)
        self.regionChanged.emit()

    # -- interaction --------------------------------------------------------------------------------------
    def _on_manual_range(self, mask) -> None:
        # mask: [x changed, y changed]
        if mask is None or mask[1]:
            self.auto_y = False
        if mask is None or mask[0]:
            self.set_follow(False)
        self._dirty = True

    def _on_range_changed(self, *args) -> None:
        if not self._programmatic:
            self._dirty = True

    def _on_resized(self) -> None:
        self._dirty = True
        self._position_overlays()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._position_overlays()

    def _position_overlays(self) -> None:
        self.empty_label.setGeometry(0, 0, self.plot.width(), self.plot.height())
        r = self.vb.boundingRect()
        self.mode_label.setPos(r.right() - 6, r.top() + 4)

    def _on_region_changed(self) -> None:
        self._region_dirty = True
        self._dirty = True

    def _update_mode_label(self) -> None:
        t = self.theme
        if self.store is None:
            html = ""
        elif not self.live:
            html = f'<span style="color:{t.muted}; font-weight:600">RECORDED RUN</span>'
        elif self.follow:
            html = f'<span style="color:{t.ok_fg}; font-weight:700">● LIVE</span>'
        else:
            html = (f'<span style="color:{t.warn_bg}; font-weight:700">❚❚ PAUSED</span>'
                    f'<span style="color:{t.muted}"> — End: follow live</span>')
        self.mode_label.setHtml(f'<div style="font-size:11pt">{html}</div>')
        self._position_overlays()

    def _on_mouse_moved(self, pos) -> None:
        if not self.vb.sceneBoundingRect().contains(pos) or self.origin is None or len(self._x) == 0:
            self.cursor.hide()
            return
        x = self.vb.mapSceneToView(pos).x()
        self.cursor.setPos(x)
        self.cursor.show()
        self.cursor_label.setText(self.readout_at(x))

    def readout_at(self, x: float) -> str:
        """The cursor readout for x (seconds since the first sample)."""
        s = self.last_summary
        if s is None or len(self._x) == 0 or self.origin is None:
            return ""
        i = int(np.clip(np.searchsorted(self._x, x), 0, len(self._x) - 1))
        if i > 0 and abs(self._x[i - 1] - x) < abs(self._x[i] - x):
            i -= 1
        mean = s.mean[i] if s.mean.ndim == 1 else s.mean[i].sum()
        clock = datetime.fromtimestamp(self.origin + x).strftime("%H:%M:%S.%f")[:-3]
        text = f"t = {x:.4f} s ({clock})   P = {units.si(float(mean), 'W')}"
        if not s.is_raw and s.samples[i] > 1:
            lo = s.min[i] if s.min.ndim == 1 else s.min[i].sum()
            hi = s.max[i] if s.max.ndim == 1 else s.max[i].sum()
            text += (f"   min {units.si(float(lo), 'W')}   max {units.si(float(hi), 'W')}"
                     f"   ({int(s.samples[i])} samples)")
        if s.flags[i] & int(BAD_FLAGS):
            text += "   OVERRANGE/INVALID samples here"
        for key, src in self.sources.items():
            v = self._w_series[key].value_at(x) if key in self._w_series else None
            if v is not None:
                text += f"   {src.label}: {units.si(v, 'W')}"
        if "total" in self._w_series and (v := self._w_series["total"].value_at(x)) is not None:
            text += f"   total {units.si(v, 'W')}"
        for field, row in self.rows.items():
            series = row.series.get("")
            v = series.value_at(x) if series is not None else None
            if v is not None:
                text += f"   {field.upper()} = {units.si(v, row.unit) if row.unit else f'{v:.3f}'}"
        return text

    def visible_range(self) -> tuple[float, float]:
        (x0, x1), _ = self.vb.viewRange()
        return x0, x1

    def y_range(self) -> tuple[float, float]:
        _, (y0, y1) = self.vb.viewRange()
        return y0, y1

    @staticmethod
    def finite(x) -> bool:
        return x is not None and math.isfinite(x)
