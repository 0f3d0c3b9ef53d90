"""The window's view of calibration due dates: the station's store, plus a one-time move of the
dates older versions kept in the window's QSettings.

The dates themselves belong to the core (:mod:`station.measurement.calibration`: a JSON file in
the station home, by serial number), so a session measured from the command line, the director
or the kiosk records the same date the window shows. An expired calibration still measures, but
a result measured with it may not be accepted: the window says so in red, logs it, and records
it in the journal of every run made with it.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QSettings

from station.measurement.calibration import (  # noqa: F401  (the window's names for the status)
    EXPIRED,
    SOON,
    SOON_DAYS,
    UNKNOWN,
    VALID,
    CalibrationError,
    CalibrationStore,
    status,
)

LEGACY_GROUP = "calibration"


def _legacy_key(serial: str) -> str:
    # How older versions spelled the key: QSettings treats "/" and "\\" specially.
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in serial) or "_"
    return f"{LEGACY_GROUP}/{safe}"


class CalibrationBook:
    """Due dates by serial number, read from and written to the station's calibration store.

    ``legacy``: the window's QSettings. A date found there for a serial the store does not know
    moves into the store the first time that serial is looked up, and leaves the QSettings. The
    move is per serial, not all at once, because the old key lost characters of the serial
    ("A/1" and "A_1" were both "A_1"): only a real serial number says which store entry it is.
    """

    def __init__(self, legacy: QSettings | None = None, store: CalibrationStore | None = None) -> None:
        self.legacy = legacy
        self.store = store if store is not None else CalibrationStore()

    def due(self, serial: str) -> date | None:
        found = self.store.due(serial)
        if found is None and serial and self.legacy is not None:
            found = self._migrate(serial)
        return found

    def set_due(self, serial: str, due: date | None) -> None:
        self.store.set_due(serial, due, source="window")
        if self.legacy is not None:
            self.legacy.remove(_legacy_key(serial))

    def _migrate(self, serial: str) -> date | None:
        key = _legacy_key(serial)
        value = self.legacy.value(key)
        if not value:
            return None
        try:
            due = date.fromisoformat(str(value))
        except ValueError:
            due = None
        if due is not None:
            self.store.set_due(serial, due, set_by="the window's settings (moved)", source="window settings")
        self.legacy.remove(key)
        self.legacy.sync()
        return due
