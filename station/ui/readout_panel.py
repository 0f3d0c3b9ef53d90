"""The numeric panel and the alarm banners: large enough to read across a bench.

The power figure is the largest thing on the screen. Alarms (overrange, invalid readings,
lost instrument, recording failure, expired calibration) are full-width banners, white on red,
that say what is wrong and what to do; they stay up at least :data:`LATCH_S` seconds after
the condition was last seen, so a short overrange is not missed.
"""

from __future__ import annotations

import html
import re
import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from station.core.live_store import RegionStats
from station.ui import units
from station.ui.readings import Readings
from station.ui.running_totals import RunningTotals
from station.ui.theme import LIGHT, Theme

LATCH_S = 3.0
TOTAL = "total"  # the big number's choice "sum of every meter"
POWER_CAPTION = "Power (mean of the last 0.5 s)"
_NUMBER_UNIT = re.compile(r"(\d) (?=[A-Za-zµ%])")
ALARM, WARN = "alarm", "warn"


def _font(label: QLabel, scale: float, bold: bool = False) -> None:
    f = QFont(label.font())
    f.setPointSizeF(max(6.0, QFont().pointSizeF() * scale))
    f.setBold(bold)
    label.setFont(f)


def _never_widens(label: QLabel) -> None:
    """Let the layout choose the label's width: a long text (an instrument's name, an error
    message without spaces) wraps or is cut, and never makes the window grow by itself."""
    policy = label.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
    label.setSizePolicy(policy)
    label.setMinimumWidth(0)


class AlarmBanners(QWidget):
    """A stack of banners, one per active condition, most severe first."""

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT) -> None:
        super().__init__(parent)
        self.theme = theme
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self._banners: dict[str, tuple[QLabel, str, float | None]] = {}  # key -> label, level, expires
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def set_banner(self, key: str, level: str, text: str, latch_s: float | None = None) -> None:
        """Show (or refresh) the banner ``key``; with ``latch_s`` it stays that long after the last call."""
        expires = time.monotonic() + latch_s if latch_s else None
        text = _NUMBER_UNIT.sub("\\1\u00a0", text)  # "300 V" never breaks across lines
        if key in self._banners:
            label, old_level, _ = self._banners[key]
            if label.text() != text:
                label.setText(text)
            if old_level != level:
                self._style(label, level)
            self._banners[key] = (label, level, expires)
            return
        label = QLabel(text, self)
        label.setObjectName(f"banner_{key}")
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        _never_widens(label)
        _font(label, 1.55, bold=True)
        self._style(label, level)
        self._banners[key] = (label, level, expires)
        self._reorder()

    def clear_banner(self, key: str, force: bool = False) -> None:
        """Take banner ``key`` down (a latched banner only once its time is over, unless ``force``)."""
        entry = self._banners.get(key)
        if entry is None:
            return
        label, _, expires = entry
        if not force and expires is not None and time.monotonic() < expires:
            return
        del self._banners[key]
        self._layout.removeWidget(label)
        label.deleteLater()

    def active(self) -> dict[str, str]:
        """Active banners: key -> text (with plain spaces)."""
        return {k: v[0].text().replace("\u00a0", " ") for k, v in self._banners.items()}

    def level(self, key: str) -> str | None:
        entry = self._banners.get(key)
        return entry[1] if entry else None

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        for label, level, _ in self._banners.values():
            self._style(label, level)

    def _style(self, label: QLabel, level: str) -> None:
        t = self.theme
        bg, fg = (t.alarm_bg, t.alarm_fg) if level == ALARM else (t.warn_bg, t.warn_fg)
        label.setStyleSheet(f"QLabel {{ background: {bg}; color: {fg}; padding: 10px 14px; border-radius: 4px; }}")

    def _reorder(self) -> None:
        order = sorted(self._banners.items(), key=lambda kv: 0 if kv[1][1] == ALARM else 1)
        for _, (label, _, _) in order:
            self._layout.removeWidget(label)
        for _, (label, _, _) in order:
            self._layout.addWidget(label)


class _Cell(QWidget):
    """A caption above a value; ``widest`` is the longest value it must show uncut."""

    def __init__(self, caption: str, scale: float, parent: QWidget | None = None, widest: str = "") -> None:
        super().__init__(parent)
        self.caption = QLabel(caption, self)
        _font(self.caption, 0.95)
        self.value = QLabel(units.DASH, self)
        _font(self.value, scale, bold=True)
        if widest:
            self.value.setMinimumWidth(self.value.fontMetrics().horizontalAdvance(widest) + 4)
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.setSpacing(0)
        lay.addWidget(self.caption)
        lay.addWidget(self.value)

    def set(self, text: str, tooltip: str = "") -> None:
        if self.value.text() != text:
            self.value.setText(text)
        self.value.setToolTip(tooltip)


class ReadoutPanel(QFrame):
    """Power, voltage, current, power factor, frequency, ranges and uncertainty."""

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT) -> None:
        super().__init__(parent)
        self.theme = theme
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.power_caption = QLabel(POWER_CAPTION, self)
        self.power_caption.setObjectName("power_caption")
        _font(self.power_caption, 1.0)
        self.power_caption.setWordWrap(True)
        _never_widens(self.power_caption)
        self.power = QLabel(units.DASH, self)
        self.power.setObjectName("power_value")
        self.power.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.power.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        _font(self.power, 4.2, bold=True)
        self.power.setMinimumWidth(self.power.fontMetrics().horizontalAdvance("-888.88 mW") + 12)
        self.status = QLabel("", self)
        self.status.setObjectName("readout_status")
        self.status.setWordWrap(True)
        _never_widens(self.status)
        _font(self.status, 1.0)
        left = QVBoxLayout()
        left.setSpacing(0)
        left.addWidget(self.power_caption)
        left.addWidget(self.power)
        left.addWidget(self.status)
        # Several analyzers: which one the big number shows (or their total), and each one's power.
        self.meters = MeterStrip(self)
        self.meters.choice.currentIndexChanged.connect(lambda _i: self._show_big())
        self.meters.hide()
        left.addWidget(self.meters)
        self._readings: Readings | None = None
        self._note = ""

        # Widest values: 5 significant digits with a prefixed unit, ranges under auto control.
        self.voltage = _Cell("Voltage", 2.0, widest="888.88 mV")
        self.current = _Cell("Current", 2.0, widest="888.88 mA")
        self.pf = _Cell("Power factor", 2.0, widest="0.8888")
        self.freq = _Cell("Frequency", 1.6, widest="88.888 Hz")
        self.v_range = _Cell("Voltage range", 1.6, widest="600 V (auto)")
        self.a_range = _Cell("Current range", 1.6, widest="500 mA (auto)")
        self.uncert = _Cell("Uncertainty (per sample)", 1.6)
        self.elements = _Cell("Elements", 1.2)
        self.elements.value.setWordWrap(True)
        _never_widens(self.elements.value)
        # Three columns: four values of this size side by side were cut off beside the power.
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(2)
        for i, cell in enumerate((self.voltage, self.current, self.pf)):
            grid.addWidget(cell, 0, i)
        for i, cell in enumerate((self.v_range, self.a_range, self.freq)):
            grid.addWidget(cell, 1, i)
        grid.addWidget(self.uncert, 2, 0, 1, 3)
        grid.addWidget(self.elements, 3, 0, 1, 3)
        self.elements.hide()
        self.totals = TotalsPanel(self)
        self.totals.hide()
        grid.addWidget(self.totals, 4, 0, 1, 3)
        lay = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.setSpacing(18)
        lay.addLayout(left, 0)
        lay.addLayout(grid, 1)
        self._layout = lay
        self._left, self._grid = left, grid
        # Side by side when there is room, stacked on a narrow window: the numbers never get cut.
        self.setMinimumWidth(max(left.minimumSize().width(), grid.minimumSize().width()) + 24)
        self.set_theme(theme)
        self.show_readings(None)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        wide = self._left.minimumSize().width() + self._grid.minimumSize().width() + 48
        direction = (QBoxLayout.Direction.LeftToRight if event.size().width() >= wide
                     else QBoxLayout.Direction.TopToBottom)
        if self._layout.direction() != direction:
            self._layout.setDirection(direction)
        super().resizeEvent(event)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        for lab in (self.power_caption, self.status, *(c.caption for c in self._cells()),
                    *(c.caption for c in self.totals.cells()), self.totals.title, self.meters.title):
            lab.setStyleSheet(f"color: {theme.muted};")
        self.power.setStyleSheet(f"color: {theme.text};")

    def _cells(self) -> tuple[_Cell, ...]:
        return (self.voltage, self.current, self.pf, self.freq, self.v_range, self.a_range, self.uncert,
                self.elements)

    def show_meters(self, meters: list[tuple[str, str, Readings | None]]) -> None:
        """Several analyzers: (key, name, readings) of each, the panel's own instrument first. With
        more than one, each one's power is shown small and the big number says whose it is."""
        self.meters.set_meters(meters)
        self.meters.setVisible(len(meters) > 1)
        self._show_big()

    def show_totals(self, totals: RunningTotals | None) -> None:
        """The energy / charge accumulator since record start; None hides it."""
        self.totals.show_totals(totals)

    def _show_big(self) -> None:
        """The big number: the panel's instrument, another meter or the total, and a caption saying which."""
        r = self._readings
        choice = self.meters.selected() if self.meters.isVisible() else None
        if choice is None or choice == self.meters.first_key():
            name = self.meters.name_of(self.meters.first_key()) if choice is not None else ""
            self.power_caption.setText(f"Power of {name} (mean of the last 0.5 s)" if name else POWER_CAPTION)
            if r is None or r.samples == 0:
                self.power.setText(units.DASH)
                return
            bad = r.good == 0 and not _only_switching(r)
            self.power.setText("OVERRANGE" if bad and r.overrange else units.si(r.w, "W", 5))
        elif choice == TOTAL:
            total, missing = self.meters.total()
            self.power_caption.setText(f"Power: total of {self.meters.count()} meters (mean of the last 0.5 s)")
            bad = total is None
            self.power.setText(units.si(total, "W", 5) if total is not None else units.DASH)
            if missing:
                self.power.setToolTip(f"no good reading from {', '.join(missing)}: no total")
        else:
            mr = self.meters.readings_of(choice)
            self.power_caption.setText(f"Power of {self.meters.name_of(choice)} (mean of the last 0.5 s)")
            bad = mr is None or mr.good == 0
            self.power.setText(units.DASH if mr is None or mr.samples == 0 else
                               ("OVERRANGE" if bad and mr.overrange else units.si(mr.w, "W", 5)))
        css = f"color: {self.theme.alarm_bg if bad else self.theme.text};"
        if self.power.styleSheet() != css:
            self.power.setStyleSheet(css)

    def show_readings(self, r: Readings | None, note: str = "") -> None:
        """Fill the panel; ``None`` empties it (no instrument, no data)."""
        self._readings = r
        if r is None or r.samples == 0:
            self._show_big()
            for c in self._cells():
                c.set(units.DASH)
            self.status.setText(note or "no data")
            return
        self._show_big()
        self.voltage.set(units.si(r.v, "V", 5))
        self.current.set(units.si(r.a, "A", 5))
        self.pf.set(units.DASH if r.pf is None else f"{r.pf:.4f}")
        if r.has_freq and r.freq is not None:
            self.freq.set(units.si(r.freq, "Hz", 5))
        elif r.has_freq:
            self.freq.set(units.DASH, "no frequency: a DC supply, or the instrument does not report it")
        else:
            self.freq.set("n/a", "these records carry no frequency (recorded before the station stored it)")
        self.v_range.set(units.range_label(r.v_range, "V") + (" (auto)" if r.voltage_auto() else ""))
        self.a_range.set(units.range_label(r.a_range, "A") + (" (auto)" if r.current_auto() else ""))
        if r.uncert is None:
            self.uncert.set("unknown", "auto ranging or no accuracy model: uncertainty is not assured; "
                                       "fix the ranges to know it")
        else:
            self.uncert.set(f"±{units.percent(r.uncert)}  (±{units.si(r.uncert_w, 'W', 3)})")
        if r.channels_w:
            self.elements.show()
            self.elements.set("  ".join(f"{i + 1}: {units.si(w, 'W', 4)}" for i, w in enumerate(r.channels_w)))
        else:
            self.elements.hide()
        parts = [f"{r.good} of {r.samples} samples good"]
        if r.overrange:
            parts.append(f"{r.overrange} overrange")
        if r.invalid_not_switching:
            parts.append(f"{r.invalid_not_switching} invalid")
        if r.switching:
            parts.append("switching range")
        if note:
            parts.append(note)
        self.status.setText(", ".join(parts))


def _only_switching(r: Readings) -> bool:
    """No good sample only because the meter is switching range: a normal moment, not an alarm."""
    return bool(r.switching) and not r.overrange and not r.invalid_not_switching


class RegionReadout(QLabel):
    """One line under the plot: the selected region's duration, power and energy."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("region_readout")
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setWordWrap(True)
        _never_widens(self)
        _font(self, 1.15, bold=False)
        self.show_stats(None)

    def show_stats(self, s: RegionStats | None) -> None:
        if s is None:
            self.setText("Region: off — press R to select a span and read its energy")
            return
        if s.samples == 0:
            self.setText("Region: no samples in the selected span")
            return
        text = (f"<b>Region</b> {units.duration(s.duration_s)} · mean <b>{units.si(s.mean_w, 'W')}</b>"
                f" · min {units.si(s.min_w, 'W')} · max {units.si(s.max_w, 'W')}"
                f" · energy <b>{units.energy(s.energy_j)}</b> · {s.samples} samples")
        if s.bad_samples:
            text += f" · <span style='color:#d32f2f'><b>{s.bad_samples} bad samples excluded</b></span>"
        if not s.exact:
            text += " · edges approximate (old data at reduced resolution)"
        self.setText(text)


def charge(coulombs) -> str:
    """Charge in C with prefix, and in Ah when that is the more familiar unit (batteries)."""
    if not units.is_number(coulombs):
        return units.DASH
    text = units.si(coulombs, "C")
    if abs(coulombs) >= 3.6:  # from 1 mAh on
        text += f"  ({units.si(coulombs / 3600.0, 'Ah')})"
    return text


class TotalsPanel(QFrame):
    """Energy and charge since record start, with the power statistics of the same samples."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("totals_panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel("Since record start", self)
        self.title.setObjectName("totals_title")
        self.title.setWordWrap(True)
        _never_widens(self.title)
        _font(self.title, 1.0, bold=True)
        self.energy = _Cell("Energy", 1.6, widest="888.88 kJ  (888.88 Wh)")
        self.charge = _Cell("Charge", 1.3, widest="888.88 C  (888.88 mAh)")
        self.duration = _Cell("Duration", 1.3, widest="88 min 88.8 s")
        self.mean = _Cell("Mean", 1.3, widest="888.88 mW")
        self.min = _Cell("Min", 1.3, widest="888.88 mW")
        self.max = _Cell("Max", 1.3, widest="888.88 mW")
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(0)
        grid.addWidget(self.title, 0, 0, 1, 3)
        for i, cell in enumerate((self.energy, self.charge, self.duration)):
            grid.addWidget(cell, 1, i)
        for i, cell in enumerate((self.mean, self.min, self.max)):
            grid.addWidget(cell, 2, i)

    def cells(self) -> tuple[_Cell, ...]:
        return (self.energy, self.charge, self.duration, self.mean, self.min, self.max)

    def show_totals(self, t: RunningTotals | None) -> None:
        if t is None:
            self.hide()
            return
        state = "recording" if t.running else "recording ended"
        note = f" — {t.missed} samples not seen by the display" if t.missed else ""
        bad = t.samples - t.good
        if bad:
            note += f" — {bad} bad samples excluded"
        self.title.setText(f"Since record start ({state}){note}")
        self.energy.set(units.energy(t.energy_j) if t.samples else units.DASH)
        self.charge.set(charge(t.charge_c) if t.samples else units.DASH,
                        "from the rms current: for AC this is not a net charge")
        self.duration.set(units.duration(t.duration_s) if t.samples else units.DASH)
        self.mean.set(units.si(t.mean_w, "W", 5))
        self.min.set(units.si(t.min_w, "W", 5))
        self.max.set(units.si(t.max_w, "W", 5))
        self.show()


class MeterStrip(QWidget):
    """With several analyzers: each one's power, small, and the choice of the big number."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("meter_strip")
        self.title = QLabel("Big number shows", self)
        self.choice = QComboBox(self)
        self.choice.setObjectName("big_number_choice")
        self.choice.setToolTip("Which analyzer the big number shows, or the total of all of them")
        self.values = QLabel("", self)
        self.values.setObjectName("meter_values")
        self.values.setTextFormat(Qt.TextFormat.RichText)
        self.values.setWordWrap(True)
        _never_widens(self.values)
        self.values.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        _font(self.values, 1.15)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.title)
        top.addWidget(self.choice, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(self.values)
        self._meters: list[tuple[str, str, Readings | None]] = []

    def set_meters(self, meters: list[tuple[str, str, Readings | None]]) -> None:
        keys = [(k, name) for k, name, _ in meters] + ([(TOTAL, "total of all meters")] if len(meters) > 1 else [])
        current = [(self.choice.itemData(i), self.choice.itemText(i)) for i in range(self.choice.count())]
        if keys != current:
            selected = self.selected()
            self.choice.blockSignals(True)
            self.choice.clear()
            for k, name in keys:
                self.choice.addItem(name, k)
            i = self.choice.findData(selected) if selected is not None else -1
            self.choice.setCurrentIndex(i if i >= 0 else 0)
            self.choice.blockSignals(False)
        self._meters = list(meters)
        # One line per meter, the values in a right-aligned column: readable at a glance.
        rows = [(name, self._power(r)) for _, name, r in meters]
        if len(meters) > 1:
            total, _ = self.total()
            rows.append(("total", units.si(total, "W", 5) if total is not None else units.DASH))
        cells = "".join(f"<tr><td>{html.escape(name)}</td><td align='right'>&nbsp;&nbsp;<b>{value}</b></td></tr>"
                        for name, value in rows)
        self.values.setText(f"<table cellspacing='0' cellpadding='0'>{cells}</table>")

    @staticmethod
    def _power(r: Readings | None) -> str:
        if r is None or r.samples == 0:
            return units.DASH
        if r.good == 0:
            return "OVERRANGE" if r.overrange else "invalid"
        return units.si(r.w, "W", 5)

    def selected(self) -> str | None:
        return self.choice.currentData() if self.choice.count() else None

    def select(self, key: str) -> None:
        i = self.choice.findData(key)
        if i >= 0:
            self.choice.setCurrentIndex(i)

    def first_key(self) -> str | None:
        return self._meters[0][0] if self._meters else None

    def count(self) -> int:
        return len(self._meters)

    def name_of(self, key: str | None) -> str:
        return next((name for k, name, _ in self._meters if k == key), "")

    def readings_of(self, key: str) -> Readings | None:
        return next((r for k, _, r in self._meters if k == key), None)

    def total(self) -> tuple[float | None, list[str]]:
        """Sum of every meter's power, and the meters without a good reading (then no sum)."""
        missing = [name for _, name, r in self._meters if r is None or r.good == 0 or r.w is None]
        if missing or not self._meters:
            return None, missing
        return float(sum(r.w for _, _, r in self._meters)), []
