"""Calibration due dates, remembered per instrument serial number (in the window's QSettings).

An analyzer whose calibration has expired still measures, but a result measured with it may
not be accepted: the window says so in red, logs it, and records it in the journal of every
run made with it.
"""

from __future__ import annotations

from datetime import date

from PySide6.QtCore import QSettings

SOON_DAYS = 30
UNKNOWN, EXPIRED, SOON, VALID = "unknown", "expired", "soon", "valid"


def _key(serial: str) -> str:
    # QSettings treats "/" as a group separator and "\\" specially: keep keys to safe characters.
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in serial) or "_"
    return f"calibration/{safe}"


class CalibrationBook:
    """Due dates by serial number."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def due(self, serial: str) -> date | None:
        value = self.settings.value(_key(serial))
        if not value:
            return None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return None

    def set_due(self, serial: str, due: date | None) -> None:
        if due is None:
            self.settings.remove(_key(serial))
        else:
            self.settings.setValue(_key(serial), due.isoformat())


def status(due: date | None, today: date | None = None) -> str:
    """unknown, expired (due date passed), soon (within 30 days) or valid."""
    if due is None:
        return UNKNOWN
    today = today or date.today()
    if due < today:
        return EXPIRED
    if (due - today).days <= SOON_DAYS:
        return SOON
    return VALID
