"""The demo kiosk: no way out but the PIN, clear errors for bad settings, a supervisor that
restarts a killed window, and memory and disk that stay bounded over many cycles."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QCloseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from station.core.acquisition import InstrumentSession  # noqa: E402
from station.core.journal import JournalReader  # noqa: E402
from station.core.live_store import LiveStore  # noqa: E402
from station.core.recording import Recording  # noqa: E402
from station.kiosk import run_kiosk  # noqa: E402
from station.kiosk.config import KioskConfigError, load_config, parse_config  # noqa: E402
from station.kiosk.cycle import RUNS, DemoLoop  # noqa: E402
from station.kiosk.supervisor import RESTART_DELAY_S  # noqa: E402
from station.ui.kiosk_window import KioskWindow  # noqa: E402
from tests.helpers.waiting import wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WAIT = 30000  # ms; generous for a loaded 2-core machine


def _config(tmp_path, **over):
    data = {"pin": "2468", "data_dir": str(tmp_path / "kiosk"), "fullscreen": False, "realtime": False,
            "ranging_s": 2, "testing_s": 2, "result_s": 0, "rate_hz": 50, "max_runs": 3}
    data.update(over)
    return parse_config(data, None)


@pytest.fixture
def make_kiosk(qtbot):
    """Kiosk windows that are always left (demo loop stopped, event filter removed) after the test."""
    made = []

    def make(config, loop=None) -> KioskWindow:
        # A QGuiApplication made earlier in this process (headless PDF export) cannot host widgets:
        # Qt would abort the whole test run, so fail this test with the reason instead.
        app = QApplication.instance()
        assert isinstance(app, QApplication), f"the test process already has a {type(app).__name__}, not a QApplication"
        w = KioskWindow(config, loop)
        w.resize(1280, 720)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.leave()
        w.deleteLater()


@pytest.fixture
def kiosk(make_kiosk, tmp_path):
    return make_kiosk(_config(tmp_path, realtime=True, ranging_s=1, testing_s=1, result_s=1))


# -- exit paths ------------------------------------------------------------------------------------
def test_every_exit_path_is_refused_and_opens_the_pin_pad(qtbot, kiosk):
    kiosk.loop.start()
    attempts = [
        ("Escape", lambda: qtbot.keyClick(kiosk, Qt.Key.Key_Escape)),
        ("Alt+F4", lambda: qtbot.keyClick(kiosk, Qt.Key.Key_F4, Qt.KeyboardModifier.AltModifier)),
        ("Ctrl+Q", lambda: qtbot.keyClick(kiosk, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)),
        ("Ctrl+W", lambda: qtbot.keyClick(kiosk, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)),
        ("close()", kiosk.close),
        ("window manager close", lambda: QApplication.sendEvent(kiosk, QCloseEvent())),
        ("close all windows", QApplication.closeAllWindows),
    ]
    for i, (what, attempt) in enumerate(attempts, start=1):
        kiosk.pin_pad.close_pad()
        attempt()
        qtbot.waitUntil(lambda i=i: kiosk.refused_exits >= i or not kiosk.isVisible(), timeout=10_000)
        assert kiosk.isVisible(), f"{what} closed the kiosk"
        assert kiosk.refused_exits == i, f"{what} was not refused"
        assert kiosk.pin_pad.isVisible(), f"{what} did not bring up the PIN pad"
    assert kiosk.loop.running


def test_a_wrong_pin_keeps_the_kiosk_and_too_many_lock_the_pad(qtbot, kiosk):
    kiosk.staff_button.click()
    pad = kiosk.pin_pad
    assert pad.isVisible()
    pad.type_digits("1357")
    qtbot.mouseClick(pad.buttons["pin_ok"], Qt.MouseButton.LeftButton)
    assert kiosk.isVisible() and pad.message.text() == "Wrong PIN"
    for _ in range(4):
        pad.type_digits("0000")
        pad.submit()
    assert "wait" in pad.message.text()
    pad.type_digits("2468")  # the right PIN while locked: refused too
    pad.submit()
    assert kiosk.isVisible()


def test_the_pin_pad_closes_itself_after_the_screen_timeout(qtbot, make_kiosk, tmp_path):
    w = make_kiosk(_config(tmp_path, screen_timeout_s=5))
    w.open_pin_pad()
    w.pin_pad.last_touch -= 6  # as if nobody touched it for 6 s
    qtbot.waitUntil(lambda: not w.pin_pad.isVisible(), timeout=WAIT)


def test_the_right_pin_finishes_the_demo_and_ends_the_application_with_0(qtbot, make_kiosk, tmp_path):
    w = make_kiosk(_config(tmp_path, realtime=True, ranging_s=30, testing_s=30))
    # A nested event loop stands for app.exec(); run_window's on_leave is app.exit(0) (ending the
    # test session's own application is no option here).
    loop = QEventLoop()
    w.on_leave = lambda: loop.exit(0)
    w.loop.start()
    qtbot.waitUntil(lambda: w.loop.status().phase == "ranging", timeout=WAIT)
    pad = w.pin_pad

    def type_pin():
        w.staff_button.click()
        for digit in "2468":
            qtbot.mouseClick(pad.buttons[f"pin_{digit}"], Qt.MouseButton.LeftButton)
        qtbot.mouseClick(pad.buttons["pin_ok"], Qt.MouseButton.LeftButton)

    QTimer.singleShot(300, type_pin)
    QTimer.singleShot(60000, lambda: loop.exit(3))  # a broken PIN path fails instead of hanging
    code = loop.exec()
    assert code == 0
    assert not w.isVisible() and not w.loop.running
    # The interrupted ranging run was finished properly, not abandoned.
    runs = list((tmp_path / "kiosk" / RUNS).glob("*/ranging"))
    assert len(runs) == 1
    assert JournalReader(runs[0]).summary_file()["state"] == "stopped"


# -- settings ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, suffix, expected", [
    ('pin = 1234\n', ".toml", "pin: must be a string of digits"),
    ('pin = "12a4"\n', ".toml", "pin: must be 4 to 12 digits"),
    ('profiles = ["tiny", "gpu"]\n', ".toml", "profiles[1].name: 'gpu' is not a workload profile"),
    ('ranging_s = 10\ntesting_s = 20\n', ".toml", "testing_s: must not be longer than ranging_s"),
    ('max_runs = 0\n', ".toml", "max_runs: 0 is outside 1 to 10000"),
    ('colour = "red"\n', ".toml", "colour: unknown setting"),
    ('[strings]\ntitle = "Hallo {name}"\n', ".toml", "strings.title: unknown placeholder {name}"),
    ('[[profiles]]\nname = "edge"\nthroughput_per_s = -3\n', ".toml",
     "profiles[0].throughput_per_s: must be a positive number"),
    ('pin = "1234"\nprofiles = [\n', ".toml", "not valid TOML"),
    ('{"pin": "1234",\n "rate_hz": }', ".json", "line 2: not valid JSON"),
    ('{"screen_timeout_s": "long"}', ".json", "screen_timeout_s: must be a number"),
])
def test_bad_settings_name_the_file_and_key_and_exit_2(tmp_path, capsys, text, suffix, expected):
    path = tmp_path / f"kiosk{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(KioskConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)
    assert run_kiosk(path) == 2
    assert expected in capsys.readouterr().err


def test_good_settings_in_toml_are_read(tmp_path):
    path = tmp_path / "kiosk.toml"
    path.write_text('pin = "0042"\nprofiles = ["tiny", {name = "edge", title = "Kantenbox", '
                    'throughput_per_s = 10}]\ndata_dir = "demo"\nmax_runs = 5\nranging_s = 12\ntesting_s = 10\n'
                    '[strings]\ntitle = "Wie viel Energie braucht KI?"\n', encoding="utf-8")
    c = load_config(path)
    assert c.pin == "0042" and c.max_runs == 5 and (c.ranging_s, c.testing_s) == (12, 10)
    assert [p.name for p in c.profiles] == ["tiny", "edge"]
    assert c.profiles[1].title == "Kantenbox" and c.profiles[1].throughput_per_s == 10
    assert c.data_dir == tmp_path / "demo"
    assert c.text("title") == "Wie viel Energie braucht KI?"


def test_a_bad_settings_file_stops_the_real_command_with_exit_2(tmp_path):
    path = tmp_path / "kiosk.json"
    path.write_text(json.dumps({"pin": "2468", "result_s": -1}), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "station", "--kiosk", "--kiosk-config", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert f"{path}: result_s: -1 is outside" in out.stderr


# -- the supervisor ------------------------------------------------------------------------------------
def _log_starts(log: Path) -> list[int]:
    if not log.exists():
        return []
    return [int(line.split("(pid ")[1].split(",")[0]) for line in log.read_text().splitlines()
            if "window started" in line]


@pytest.mark.slow
def test_the_supervisor_restarts_the_window_after_kill_9(tmp_path):
    import psutil

    assert RESTART_DELAY_S < 5.0
    data = tmp_path / "kiosk"
    cfg = tmp_path / "kiosk.json"
    cfg.write_text(json.dumps({"pin": "2468", "demo": True, "data_dir": str(data), "fullscreen": False, "ranging_s": 1,
                               "testing_s": 1, "result_s": 1, "rate_hz": 20}), encoding="utf-8")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", STATION_HOME=str(tmp_path / "home"))
    sup = subprocess.Popen([sys.executable, "-m", "station", "--kiosk", "--kiosk-config", str(cfg)], cwd=ROOT,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = data / "kiosk.log"
    try:
        wait_until(lambda: len(_log_starts(log)) >= 1, 60, "the first window start")
        first = _log_starts(log)[0]
        # The window really runs: its demo loop records runs.
        wait_until(lambda: any((data / RUNS).glob("*/ranging/header.json")), 60, "the first ranging run")
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: len(_log_starts(log)) >= 2, 60, "the restart")
        second = _log_starts(log)[1]
        assert second != first and psutil.pid_exists(second)
        assert "ended with code -9" in log.read_text()
        assert f"restarting in {RESTART_DELAY_S:g} s" in log.read_text()
        assert sup.poll() is None
    finally:
        sup.send_signal(signal.SIGTERM)
        code = sup.wait(60)
    assert code == 0
    assert not psutil.pid_exists(_log_starts(log)[-1]) or \
        psutil.Process(_log_starts(log)[-1]).status() == psutil.STATUS_ZOMBIE


# -- many cycles: memory and disk stay bounded ------------------------------------------------------------
def _counts() -> dict[str, int]:
    gc.collect()
    kinds = {"LiveStore": LiveStore, "InstrumentSession": InstrumentSession, "Recording": Recording}
    counts = dict.fromkeys(kinds, 0)
    for obj in gc.get_objects():
        for name, cls in kinds.items():
            if isinstance(obj, cls):
                counts[name] += 1
    counts["threads"] = threading.active_count()
    return counts


def _disk(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.mark.slow
def test_many_accelerated_cycles_keep_objects_and_disk_bounded(qtbot, make_kiosk, tmp_path):
    alive_before = _counts()  # what earlier tests in this process left alive is not the kiosk's
    config = _config(tmp_path, max_runs=3)
    loop = DemoLoop(config)
    w = make_kiosk(config, loop)
    runs = tmp_path / "kiosk" / RUNS

    def run(cycles: int) -> None:
        loop.max_cycles = cycles
        loop.start()
        qtbot.waitUntil(lambda: not loop.running, timeout=120000)
        qtbot.wait(3 * 100)  # a few window ticks on the final state: the stimulus of the object counts

    run(4)
    assert loop.status().cycles_done == 4 and loop.status().error is None
    base_counts, base_disk = _counts(), _disk(runs)
    assert len(list(runs.iterdir())) == 3
    run(40)
    status = loop.status()
    assert status.cycles_done == 44 and status.error is None
    assert set(status.results) == {"tiny", "edge", "datacenter", "training"}
    assert w.ticks > 0
    end_counts = _counts()
    assert end_counts["InstrumentSession"] <= alive_before["InstrumentSession"]
    assert end_counts["Recording"] <= alive_before["Recording"]
    assert end_counts["LiveStore"] <= max(base_counts["LiveStore"], 2)
    assert end_counts["threads"] <= base_counts["threads"]
    # Rotation: only the newest max_runs cycles stay, each complete, and the disk use stays put.
    kept = sorted(runs.iterdir())
    assert len(kept) == 3
    assert [p.name.split("-")[1] for p in kept] == ["000037", "000038", "000039"]
    for p in kept:
        assert JournalReader(p / "testing").summary_file()["state"] == "complete"
    assert _disk(runs) <= 1.5 * base_disk
    # The window holds no more than the store of the phase shown.
    assert w._store is None or w._store is status.store
