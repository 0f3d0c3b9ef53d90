"""Calibration due dates: one store in the station home, keyed by serial number, that every front
end reads; the window's old QSettings dates move into it once."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta

import pytest

from station.measurement import calibration
from station.measurement.calibration import CalibrationError, CalibrationStore, calibration_due

pytestmark = pytest.mark.timeout(60)


def test_due_dates_are_kept_by_serial_with_who_and_when(station_home):
    store = CalibrationStore()
    assert store.path == station_home / "calibration.json"
    assert store.due("A1") is None and calibration_due("A1") is None
    store.set_due("A1", date(2030, 5, 1), set_by="Ada")
    store.set_due("B/2 x", "2020-01-01")
    # a new reader (another process, another front end) sees the same dates
    assert calibration_due("A1") == "2030-05-01" and calibration_due("B/2 x") == "2020-01-01"
    assert CalibrationStore(station_home).due("B/2 x") == date(2020, 1, 1)
    rec = store.entry("A1")
    assert rec["due"] == "2030-05-01" and rec["set_by"] == "Ada" and rec["set_utc"].startswith(str(date.today().year))
    data = json.loads(store.path.read_text())
    assert data["format"] == "station-calibration" and set(data["instruments"]) == {"A1", "B/2 x"}
    store.set_due("A1", None)
    assert calibration_due("A1") is None and calibration_due("B/2 x") == "2020-01-01"
    assert calibration_due(None) is None and calibration_due("") is None


def test_writes_are_atomic_and_never_overwrite_a_store_that_cannot_be_read(station_home):
    store = CalibrationStore()
    store.set_due("A1", "2030-05-01")
    assert [p.name for p in station_home.iterdir()] == ["calibration.json"]  # no temporary file left
    store.path.write_text("{ half a file")
    assert store.due("A1") is None  # unknown (the review says so), never a crash
    with pytest.raises(CalibrationError, match="calibration.json cannot be read"):
        store.set_due("A2", "2031-01-01")
    assert store.path.read_text() == "{ half a file"
    os.unlink(store.path)
    with pytest.raises(CalibrationError, match="not a date"):
        store.set_due("A1", "31/12/2030")
    with pytest.raises(CalibrationError, match="serial"):
        store.set_due("  ", "2030-12-31")


def test_status_says_expired_soon_valid_or_unknown():
    today = date(2026, 1, 10)
    assert calibration.status(None, today) == calibration.UNKNOWN
    assert calibration.status(today - timedelta(days=1), today) == calibration.EXPIRED
    assert calibration.status(today + timedelta(days=10), today) == calibration.SOON
    assert calibration.status(today + timedelta(days=100), today) == calibration.VALID


def test_the_windows_old_qsettings_dates_move_into_the_store_once(tmp_path, station_home):
    pytest.importorskip("PySide6")
    from PySide6.QtCore import QSettings

    from station.ui.calibration import CalibrationBook

    ini = tmp_path / "station-ui.ini"
    old = QSettings(str(ini), QSettings.Format.IniFormat)
    old.setValue("calibration/SN100", "2029-03-01")  # how older versions kept it
    old.setValue("calibration/A_1", "2028-01-01")  # the key of serial "A/1"
    old.sync()
    book = CalibrationBook(QSettings(str(ini), QSettings.Format.IniFormat))
    assert book.due("SN100") == date(2029, 3, 1)
    assert calibration_due("SN100") == "2029-03-01"  # the store has it now, for every front end
    assert book.due("A/1") == date(2028, 1, 1)
    assert CalibrationStore().entry("A/1")["source"] == "window settings"
    again = QSettings(str(ini), QSettings.Format.IniFormat)
    assert again.value("calibration/SN100") is None and again.value("calibration/A_1") is None
    # setting a date in the window writes the store, not QSettings
    book.set_due("SN200", date(2031, 6, 30))
    assert calibration_due("SN200") == "2031-06-30"
    assert QSettings(str(ini), QSettings.Format.IniFormat).value("calibration/SN200") is None


def test_station_run_records_the_due_date_of_its_instrument(tmp_path, capsys):
    from instruments.sim import SimulatedAnalyzer
    from station.cli import main
    from station.core.journal import JournalReader

    sim = SimulatedAnalyzer(seed=3)
    sim.open()
    serial = sim.identify().serial
    sim.close()
    CalibrationStore().set_due(serial, "2032-04-30")
    assert main(["run", "--instrument", "sim", "--duration", "0.2", "--rate", "100", "--seed", "3",
                 "--out", str(tmp_path / "r"), "--json", "-o", "pace=false"]) == 0
    capsys.readouterr()
    assert JournalReader(tmp_path / "r").header["settings"]["calibration_due"] == "2032-04-30"
    assert main(["run", "--instrument", "sim", "--duration", "0.2", "--rate", "100", "--seed", "4",
                 "--out", str(tmp_path / "r2"), "--json", "-o", "pace=false"]) == 0
    capsys.readouterr()
    assert JournalReader(tmp_path / "r2").header["settings"]["calibration_due"] is None  # unknown
