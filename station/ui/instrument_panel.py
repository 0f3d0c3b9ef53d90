"""The instrument panel: choose a driver and a resource, set it up, connect, see who it is.

Drivers come from the registry (built-ins and entry points); resources from
``instruments.discovery`` when it is installed, scanned in the background. The settings
form is generated from the driver's Description. The panel only emits requests; the window
runs them off the GUI thread and calls back :meth:`set_connection` when they are done.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from instruments import registry
from instruments.base import ConfigurationError, Description, Identity
from station.ui import calibration
from station.ui.instrument_link import InstrumentRequest
from station.ui.settings_form import SettingsForm
from station.ui.theme import LIGHT, Theme


class InstrumentPanel(QWidget):
    connectRequested = Signal(object)  # InstrumentRequest
    disconnectRequested = Signal()
    applyRequested = Signal(object, object, object)  # Config, voltage range, current range
    scanRequested = Signal()
    calibrationChanged = Signal(str, object)  # serial, date | None

    def __init__(self, parent: QWidget | None = None, theme: Theme = LIGHT) -> None:
        super().__init__(parent)
        self.theme = theme
        self.drivers = registry.available()
        self.form: SettingsForm | None = None
        self.connected = False
        self.busy = False
        self.recording = False
        self.identity: Identity | None = None
        self._saved: dict[str, dict] = {}  # per driver: the form's last contents

        # -- driver and resource -----------------------------------------------------------------
        box = QGroupBox("Instrument", self)
        self.driver_combo = QComboBox(box)
        self.driver_combo.setObjectName("driver_combo")
        for name, cls in sorted(self.drivers.items(), key=lambda kv: (kv[0] != "sim", kv[0])):
            d = cls.description
            self.driver_combo.addItem(f"{name} — {d.vendor} {', '.join(d.models[:3])}", name)
        # Long driver names must not widen the dock past the window (the buttons were cut off):
        # the box shows the start of the name, its list the whole of it.
        self.driver_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.driver_combo.setMinimumContentsLength(18)
        self.driver_combo.view().setMinimumWidth(self.driver_combo.view().sizeHintForColumn(0) + 24)
        self.summary = QLabel("", box)
        self.summary.setWordWrap(True)
        self.resource_combo = QComboBox(box)
        self.resource_combo.setObjectName("resource_combo")
        self.resource_combo.setEditable(True)
        self.resource_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.resource_combo.lineEdit().setPlaceholderText("e.g. TCPIP::192.168.1.20::INSTR, /dev/ttyUSB0")
        self.scan_button = QPushButton("Scan", box)
        self.scan_button.setToolTip("look for VISA instruments and serial ports (in the background)")
        res_row = QHBoxLayout()
        res_row.addWidget(self.resource_combo, 1)
        res_row.addWidget(self.scan_button)
        form = QFormLayout(box)
        form.addRow("Driver", self.driver_combo)
        form.addRow(self.summary)
        form.addRow("Resource", res_row)
        errors = registry.load_errors()
        if errors:
            err = QLabel("Not loaded: " + "; ".join(f"{k} ({v})" for k, v in sorted(errors.items())), box)
            err.setWordWrap(True)
            err.setStyleSheet("color: #a86a00;")
            form.addRow(err)
        if not self._discovery_available():
            self.scan_button.setEnabled(False)
            self.scan_button.setToolTip("instruments.discovery is not installed")

        # -- settings --------------------------------------------------------------------------------
        self.settings_box = QGroupBox("Settings", self)
        self.settings_layout = QVBoxLayout(self.settings_box)

        # -- buttons ---------------------------------------------------------------------------------
        self.connect_button = QPushButton("Connect", self)
        self.connect_button.setObjectName("connect_button")
        self.connect_button.setMinimumHeight(34)
        self.apply_button = QPushButton("Apply settings", self)
        self.apply_button.setObjectName("apply_button")
        self.apply_button.setToolTip("change update interval, crest factor, mode and ranges while connected")
        buttons = QHBoxLayout()
        buttons.addWidget(self.connect_button, 2)
        buttons.addWidget(self.apply_button, 1)
        self.message = QLabel("", self)
        self.message.setObjectName("panel_message")
        self.message.setWordWrap(True)

        # -- identity and calibration --------------------------------------------------------------------
        ident_box = QGroupBox("Identity", self)
        self.identity_label = QLabel("not connected", ident_box)
        self.identity_label.setWordWrap(True)
        self.identity_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        QVBoxLayout(ident_box).addWidget(self.identity_label)

        cal_box = QGroupBox("Calibration", self)
        self.cal_known = QCheckBox("Due date known", cal_box)
        self.cal_date = QDateEdit(cal_box)
        self.cal_date.setObjectName("calibration_due")
        self.cal_date.setCalendarPopup(True)
        self.cal_date.setDisplayFormat("yyyy-MM-dd")
        self.cal_date.setDate(QDate.currentDate().addYears(1))
        self.cal_status = QLabel("connect to see the instrument's calibration", cal_box)
        self.cal_status.setObjectName("calibration_status")
        self.cal_status.setWordWrap(True)
        cal_form = QFormLayout(cal_box)
        cal_row = QHBoxLayout()
        cal_row.addWidget(self.cal_known)
        cal_row.addWidget(self.cal_date, 1)
        cal_form.addRow("Due", cal_row)
        cal_form.addRow(self.cal_status)
        self._cal_updating = False

        lay = QVBoxLayout(self)
        lay.addWidget(box)
        lay.addWidget(self.settings_box)
        lay.addLayout(buttons)
        lay.addWidget(self.message)
        lay.addWidget(ident_box)
        lay.addWidget(cal_box)
        lay.addStretch(1)

        self.driver_combo.currentIndexChanged.connect(self._on_driver_changed)
        self.connect_button.clicked.connect(self._on_connect_clicked)
        self.apply_button.clicked.connect(self._on_apply_clicked)
        self.scan_button.clicked.connect(self.scanRequested)
        self.cal_known.toggled.connect(self._on_calibration_edited)
        self.cal_date.dateChanged.connect(self._on_calibration_edited)
        self._on_driver_changed()
        self._update_enabled()

    @staticmethod
    def _discovery_available() -> bool:
        try:
            import instruments.discovery  # noqa: F401
        except ImportError:
            return False
        return True

    # -- driver choice --------------------------------------------------------------------------------
    @property
    def driver_name(self) -> str:
        return self.driver_combo.currentData()

    @property
    def description(self) -> Description:
        return self.drivers[self.driver_name].description

    def select_driver(self, name: str) -> None:
        i = self.driver_combo.findData(name)
        if i < 0:
            raise ConfigurationError(f"no driver named {name!r}")
        self.driver_combo.setCurrentIndex(i)

    def _on_driver_changed(self, *args) -> None:
        if self.form is not None:
            self._saved[self.form.description.name] = self.form.state()
            self.settings_layout.removeWidget(self.form)
            self.form.deleteLater()
        d = self.description
        self.summary.setText(d.summary or "")
        self.form = SettingsForm(d, self.settings_box)
        if d.name in self._saved:
            self.form.restore(self._saved[d.name])
        self.settings_layout.addWidget(self.form)
        self.form.changed.connect(self._update_enabled)
        needs_resource = "none" not in d.transports
        self.resource_combo.setEnabled(needs_resource)
        self.resource_combo.lineEdit().setPlaceholderText(registry.resource_help(self.drivers[self.driver_name]))
        self.scan_button.setVisible(needs_resource)
        self._update_enabled()

    def set_resources(self, resources: list[dict]) -> None:
        current = self.resource_combo.currentText()
        self.resource_combo.clear()
        for r in resources:
            label = f"{r['resource']}  {r.get('description', '')}".strip()
            self.resource_combo.addItem(label, r["resource"])
        if current:
            self.resource_combo.setEditText(current)

    @property
    def resource(self) -> str | None:
        if "none" in self.description.transports:
            return None
        text = self.resource_combo.currentText().strip()
        i = self.resource_combo.findText(text)
        if i >= 0 and self.resource_combo.itemData(i):
            return self.resource_combo.itemData(i)
        return text.split()[0] if text else None

    # -- requests --------------------------------------------------------------------------------------
    def request(self) -> InstrumentRequest:
        """The instrument request the form describes; raises ConfigurationError when it is incomplete."""
        form = self.form
        if form is None:
            raise ConfigurationError("no driver chosen")
        options = form.options()
        if "none" not in self.description.transports and not self.resource:
            raise ConfigurationError(f"{self.driver_name} needs a resource (VISA address, serial port or tcp://host:port)")
        return InstrumentRequest(self.driver_name, self.resource, options, form.config(),
                                 form.voltage_range(), form.current_range())

    def _on_connect_clicked(self) -> None:
        if self.connected:
            self.disconnectRequested.emit()
            return
        try:
            req = self.request()
        except ConfigurationError as exc:
            self.show_message(str(exc), error=True)
            return
        self.connectRequested.emit(req)

    def _on_apply_clicked(self) -> None:
        try:
            cfg = self.form.config()
        except ConfigurationError as exc:
            self.show_message(str(exc), error=True)
            return
        self.applyRequested.emit(cfg, self.form.voltage_range(), self.form.current_range())

    # -- state from the window ------------------------------------------------------------------------------
    def set_connection(self, connected: bool, busy: bool = False, identity: Identity | None = None,
                       recording: bool = False) -> None:
        self.connected = connected
        self.busy = busy
        self.recording = recording
        if identity is not None or not connected:
            self.identity = identity
        self._show_identity()
        self._update_enabled()

    def _update_enabled(self, *args) -> None:
        key = (self.connected, self.busy, self.recording, self.form, self.driver_name,
               bool(self.form is not None and self.form.errors()))
        if key == getattr(self, "_enabled_key", None):
            return
        self._enabled_key = key
        form_ok = self.form is not None and not self.form.errors()
        self.driver_combo.setEnabled(not self.connected and not self.busy)
        self.resource_combo.setEnabled(not self.connected and not self.busy
                                       and "none" not in self.description.transports)
        self.connect_button.setEnabled(not self.busy and (self.connected or form_ok))
        self.connect_button.setText("Disconnect" if self.connected else ("Working…" if self.busy else "Connect"))
        self.apply_button.setEnabled(self.connected and not self.busy and form_ok)
        if self.form is not None:
            self.form.set_connected(self.connected, self.recording)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #d32f2f; font-weight: 600;" if error else "")

    def _show_identity(self) -> None:
        ident = self.identity
        if ident is None:
            self.identity_label.setText("not connected")
            self.cal_status.setText("connect to see the instrument's calibration")
            self.cal_status.setStyleSheet("")
            return
        self.identity_label.setText(f"<b>{ident.vendor} {ident.model}</b><br>serial {ident.serial or '?'}<br>"
                                    f"firmware {ident.firmware or '?'}")

    # -- calibration ---------------------------------------------------------------------------------------
    def show_calibration(self, due: date | None) -> str:
        """Show the due date of the connected instrument; returns its status."""
        self._cal_updating = True
        try:
            self.cal_known.setChecked(due is not None)
            if due is not None:
                self.cal_date.setDate(QDate(due.year, due.month, due.day))
        finally:
            self._cal_updating = False
        return self._show_cal_status(due)

    def _show_cal_status(self, due: date | None) -> str:
        st = calibration.status(due)
        self.cal_date.setEnabled(self.cal_known.isChecked())
        if self.identity is None:
            return st
        text, style = {
            calibration.UNKNOWN: ("No due date recorded for this serial number: enter it from the certificate.",
                                  "color: #a86a00; font-weight: 600;"),
            calibration.EXPIRED: (f"EXPIRED on {due}: results may not be accepted.",
                                  "color: #ffffff; background: #c62828; font-weight: 700; padding: 4px;"),
            calibration.SOON: (f"Due on {due}: soon.", "color: #a86a00; font-weight: 600;"),
            calibration.VALID: (f"Valid until {due}.", "color: #1b7f3b; font-weight: 600;"),
        }[st]
        self.cal_status.setText(text)
        self.cal_status.setStyleSheet(style)
        return st

    def calibration_due(self) -> date | None:
        if not self.cal_known.isChecked():
            return None
        d = self.cal_date.date()
        return date(d.year(), d.month(), d.day())

    def set_calibration_due(self, due: date | None) -> None:
        """As if the operator entered ``due`` (None: unknown)."""
        self.cal_known.setChecked(due is not None)
        if due is not None:
            self.cal_date.setDate(QDate(due.year, due.month, due.day))
        self._on_calibration_edited()

    def _on_calibration_edited(self, *args) -> None:
        self.cal_date.setEnabled(self.cal_known.isChecked())
        if self._cal_updating or self.identity is None:
            return
        due = self.calibration_due()
        self._show_cal_status(due)
        self.calibrationChanged.emit(self.identity.serial or "", due)

    # -- persistence ---------------------------------------------------------------------------------------
    def state(self) -> dict:
        if self.form is not None:
            self._saved[self.form.description.name] = self.form.state()
        return {"driver": self.driver_name, "resource": self.resource_combo.currentText(),
                "forms": self._saved}

    def restore(self, state: dict) -> None:
        self._saved.update(state.get("forms") or {})
        name = state.get("driver")
        if name and self.driver_combo.findData(name) >= 0 and name != self.driver_name:
            self.select_driver(name)  # the form is rebuilt from the saved state
        elif self.form is not None and self.driver_name in self._saved:
            self.form.restore(self._saved[self.driver_name])
        if state.get("resource"):
            self.resource_combo.setEditText(state["resource"])
