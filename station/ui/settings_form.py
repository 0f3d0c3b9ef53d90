"""A settings form generated from a driver's Description: one editor per SettingSpec.

Nothing in the form knows a particular instrument. Each :class:`SettingSpec` gives its
editor (number field, spin box, choice list, check box, text), its unit, its limits and its
validation; the range lists come from the description's voltage and current ranges, with
"auto" first. Settings that are measurement configuration (update interval, crest factor,
mode) and the ranges can change while connected; the others are driver options, fixed at
connect time.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from instruments.base import AUTO, Config, ConfigurationError, Description, RangeValue, SettingSpec
from station.ui import units
from station.ui.instrument_link import CONFIG_FIELDS

INT_MAX = 2**31 - 1


def config_specs(desc: Description) -> list[SettingSpec]:
    """The declared settings plus any configuration field the driver leaves undeclared."""
    names = {s.name for s in desc.settings}
    specs = list(desc.settings)
    if "update_interval_s" not in names:
        default = max(desc.fastest_interval_s, min(1.0, desc.slowest_interval_s))
        specs.append(SettingSpec("update_interval_s", "Update interval", "float", default, unit="s",
                                 minimum=desc.fastest_interval_s, maximum=desc.slowest_interval_s))
    if "crest_factor" not in names:
        specs.append(SettingSpec("crest_factor", "Crest factor", "choice", 3.0, choices=(3.0, 6.0)))
    if "mode" not in names:
        specs.append(SettingSpec("mode", "Measuring mode", "choice", "rms", choices=("rms", "dc")))
    return specs


class _Editor:
    """One SettingSpec's editor widget, its value and its validation."""

    def __init__(self, spec: SettingSpec, parent: QWidget) -> None:
        self.spec = spec
        self.error: str | None = None
        k = spec.kind
        if k == "choice":
            w = QComboBox(parent)
            for c in spec.choices:
                w.addItem(self._choice_text(c), c)
            self.widget = w
        elif k == "bool":
            self.widget = QCheckBox(parent)
        elif k == "int" and spec.maximum is not None and spec.minimum is not None:
            w = QSpinBox(parent)
            w.setRange(int(spec.minimum), int(spec.maximum))
            self.widget = w
        else:  # float, str, unbounded int: typed text, validated by the spec itself
            self.widget = QLineEdit(parent)
        self.widget.setObjectName(f"setting_{spec.name}")
        tip = spec.help or spec.label
        if spec.minimum is not None or spec.maximum is not None:
            lo = "" if spec.minimum is None else f"{spec.minimum:g}"
            hi = "" if spec.maximum is None else f"{spec.maximum:g}"
            tip += f"  [{lo} … {hi}] {spec.unit}".rstrip()
        self.widget.setToolTip(tip)
        self.set(spec.default)

    def _choice_text(self, c: Any) -> str:
        if isinstance(c, float) and self.spec.unit:
            return f"{c:g} {self.spec.unit}"
        return f"{c:g}" if isinstance(c, float) else str(c)

    def set(self, value: Any) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            for i in range(w.count()):
                if w.itemData(i) == value or str(w.itemData(i)) == str(value):
                    w.setCurrentIndex(i)
                    break
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value) if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes"))
        elif isinstance(w, QSpinBox):
            try:
                w.setValue(int(value))
            except (TypeError, ValueError):
                pass
        else:
            w.setText("" if value is None else (f"{value:g}" if isinstance(value, float) else str(value)))

    def raw(self) -> Any:
        w = self.widget
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return w.value()
        return w.text().strip()

    def value(self) -> Any:
        """The validated value; raises ConfigurationError."""
        return self.spec.validate(self.raw())

    def changed_signal(self):
        w = self.widget
        if isinstance(w, QComboBox):
            return w.currentIndexChanged
        if isinstance(w, QCheckBox):
            return w.toggled
        if isinstance(w, QSpinBox):
            return w.valueChanged
        return w.textChanged


class SettingsForm(QWidget):
    """Editors for a Description's settings and ranges, with live validation."""

    changed = Signal()

    def __init__(self, description: Description, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.description = description
        self.editors: dict[str, _Editor] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.v_range = self._range_combo("voltage_range", description.voltage_ranges, "V")
        self.a_range = self._range_combo("current_range", description.current_ranges, "A")
        # a driver without ranges (Prometheus, Redfish) keeps the combos at "auto", hidden: shown outside
        # the layout they would sit on top of the first row
        for label, box, table in (("Voltage range", self.v_range, description.voltage_ranges),
                                  ("Current range", self.a_range, description.current_ranges)):
            if table:
                form.addRow(label, box)
            else:
                box.hide()
        for spec in config_specs(description):
            ed = _Editor(spec, self)
            self.editors[spec.name] = ed
            field: QWidget = ed.widget
            if spec.unit and not isinstance(ed.widget, QComboBox):
                box = QWidget(self)
                h = QHBoxLayout(box)
                h.setContentsMargins(0, 0, 0, 0)
                h.addWidget(ed.widget, 1)
                h.addWidget(QLabel(spec.unit, box))
                field = box
            form.addRow(spec.label, field)
            ed.changed_signal().connect(self._on_changed)
        self.error_label = QLabel("", self)
        self.error_label.setObjectName("settings_errors")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d32f2f; font-weight: 600;")
        form.addRow(self.error_label)
        self.v_range.currentIndexChanged.connect(self._on_changed)
        self.a_range.currentIndexChanged.connect(self._on_changed)
        self._on_changed()

    def _range_combo(self, name: str, table: tuple[float, ...], unit: str) -> QComboBox:
        box = QComboBox(self)
        box.setObjectName(name)
        box.addItem("auto", AUTO)
        for r in table:
            box.addItem(units.range_label(r, unit), float(r))
        box.setToolTip(f"Fixed {unit} range, or auto (the meter chooses; uncertainty is then not assured)")
        return box

    # -- values ---------------------------------------------------------------------------------------
    def errors(self) -> dict[str, str]:
        out = {}
        for name, ed in self.editors.items():
            try:
                ed.value()
            except ConfigurationError as exc:
                out[name] = str(exc)
        d = self.description
        try:
            interval = float(self.editors["update_interval_s"].raw())
            if not d.fastest_interval_s * (1 - 1e-9) <= interval <= d.slowest_interval_s * (1 + 1e-9):
                out.setdefault("update_interval_s", f"Update interval: {d.name} updates every "
                               f"{d.fastest_interval_s:g} s to {d.slowest_interval_s:g} s")
        except (TypeError, ValueError):
            pass
        return out

    def values(self) -> dict[str, Any]:
        """Every setting, validated; raises ConfigurationError naming every problem."""
        errs = self.errors()
        if errs:
            raise ConfigurationError("; ".join(errs.values()))
        return {name: ed.value() for name, ed in self.editors.items()}

    def options(self) -> dict[str, Any]:
        """The driver options (connect-time settings)."""
        return {k: v for k, v in self.values().items() if k not in CONFIG_FIELDS}

    def config(self) -> Config:
        v = self.values()
        return Config(update_interval_s=float(v["update_interval_s"]), crest_factor=float(v["crest_factor"]),
                      mode=str(v["mode"]))

    def voltage_range(self) -> RangeValue:
        return self.v_range.currentData() if self.description.voltage_ranges else AUTO

    def current_range(self) -> RangeValue:
        return self.a_range.currentData() if self.description.current_ranges else AUTO

    def set_value(self, name: str, value: Any) -> None:
        if name == "voltage_range":
            self._set_range(self.v_range, value)
        elif name == "current_range":
            self._set_range(self.a_range, value)
        elif name in self.editors:
            self.editors[name].set(value)

    @staticmethod
    def _set_range(box: QComboBox, value: RangeValue) -> None:
        for i in range(box.count()):
            data = box.itemData(i)
            if data == value or (isinstance(data, float) and isinstance(value, (int, float))
                                 and abs(data - float(value)) <= 1e-9 * max(1.0, abs(data))):
                box.setCurrentIndex(i)
                return

    def state(self) -> dict[str, Any]:
        """Raw editor contents (also invalid ones), for persistence."""
        out = {name: ed.raw() for name, ed in self.editors.items()}
        out["voltage_range"] = self.voltage_range()
        out["current_range"] = self.current_range()
        return out

    def restore(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            self.set_value(name, value)

    def set_connected(self, connected: bool, recording: bool = False) -> None:
        """Driver options are fixed while connected; during a recording only ranges may change."""
        for name, ed in self.editors.items():
            live = name in CONFIG_FIELDS
            ed.widget.setEnabled(not connected or (live and not recording))
            if connected and not live:
                ed.widget.setToolTip("disconnect to change this driver option")
            elif connected and recording:
                ed.widget.setToolTip("fixed during a recording (the journal states one update interval)")
            else:
                ed.widget.setToolTip(ed.spec.help or ed.spec.label)

    def _on_changed(self, *args) -> None:
        errs = self.errors()
        for name, ed in self.editors.items():
            ed.widget.setStyleSheet("background: #ffd6d6; color: #1a1a1a;" if name in errs else "")
        self.error_label.setText("\n".join(errs.values()))
        self.error_label.setVisible(bool(errs))
        self.changed.emit()
