"""Calibration due dates, kept per instrument serial number in the station home.

An analyzer whose calibration has expired still measures, but a result measured with it may not
be accepted. The due date is a property of the instrument, not of a front end: every session
records it in its instrument entries (``calibration_due``, null when unknown), and the bundle's
manifest and report carry it from there.

Store: ``<station home>/calibration.json`` (``STATION_HOME`` moves the home)::

    {"format": "station-calibration", "format_version": 1,
     "instruments": {"<serial>": {"due": "YYYY-MM-DD", "set_by": "...", "set_utc": "...",
                                  "source": "..."}}}

Each change rewrites the whole file atomically (temporary file, fsync, rename), so a crash
leaves the old store or the new one, never half of one. The store is small (one entry per
instrument the station has seen), so read-modify-write per change costs nothing; two processes
changing it at the same moment can lose one of the two changes (the window is the one writer in
practice). A store that cannot be read is never overwritten: reading it gives "unknown" (which
the review reports), writing to it raises :class:`CalibrationError`.
"""

from __future__ import annotations

import getpass
import json
import logging
import threading
from datetime import UTC, date, datetime
from pathlib import Path

from station.core.journal import write_json_atomic
from station.core.run_index import station_home

log = logging.getLogger("station.calibration")

STORE_FILE = "calibration.json"
FORMAT = "station-calibration"
FORMAT_VERSION = 1
SOON_DAYS = 30
UNKNOWN, EXPIRED, SOON, VALID = "unknown", "expired", "soon", "valid"


class CalibrationError(Exception):
    """The calibration store cannot be read or written; the message names the file."""


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


def _serial_key(serial: str | None) -> str:
    key = str(serial or "").strip()
    if not key:
        raise CalibrationError("an instrument without a serial number has no calibration record")
    return key


class CalibrationStore:
    """Due dates by serial number in ``<home>/calibration.json``."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.path = Path(home if home is not None else station_home()) / STORE_FILE
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CalibrationError(f"{self.path} cannot be read ({exc}); fix or remove it, then enter the "
                                   "due dates again") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("instruments"), dict):
            raise CalibrationError(f"{self.path} is not a station calibration store")
        return {str(k): v for k, v in data["instruments"].items() if isinstance(v, dict)}

    def entry(self, serial: str | None) -> dict | None:
        """The record of ``serial`` ({"due", "set_by", "set_utc", "source"}), or None."""
        if not str(serial or "").strip():
            return None
        return self._read().get(_serial_key(serial))

    def due(self, serial: str | None) -> date | None:
        """The due date of ``serial``; None when unknown (or the store is unreadable: logged)."""
        try:
            rec = self.entry(serial)
        except CalibrationError as exc:
            log.warning("%s", exc)
            return None
        if not rec:
            return None
        try:
            return date.fromisoformat(str(rec.get("due")))
        except ValueError:
            return None

    def set_due(self, serial: str, due: date | str | None, *, set_by: str | None = None,
                source: str = "station") -> None:
        """Record (or, with None, forget) the due date of ``serial``; the file is replaced atomically."""
        key = _serial_key(serial)
        if isinstance(due, str):
            try:
                due = date.fromisoformat(due)
            except ValueError:
                raise CalibrationError(f"{due!r} is not a date (YYYY-MM-DD)") from None
        with self._lock:
            records = self._read()
            if due is None:
                if records.pop(key, None) is None:
                    return
            else:
                records[key] = {"due": due.isoformat(), "set_by": set_by or _user(), "source": source,
                                "set_utc": datetime.now(UTC).isoformat(timespec="seconds")}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.path, {"format": FORMAT, "format_version": FORMAT_VERSION,
                                          "instruments": dict(sorted(records.items()))})

    def all(self) -> dict[str, dict]:
        return self._read()


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return "unknown"


def calibration_due(serial: str | None, home: str | Path | None = None) -> str | None:
    """The due date of ``serial`` as ``YYYY-MM-DD``, or None when unknown: what a session records."""
    due = CalibrationStore(home).due(serial)
    return due.isoformat() if due else None


__all__ = ["EXPIRED", "SOON", "SOON_DAYS", "UNKNOWN", "VALID", "CalibrationError", "CalibrationStore",
           "calibration_due", "status"]
