"""The station window driven against the simulated analyzer, offscreen.

Every test uses its own QSettings INI file (and the conftest's private STATION_HOME), so
the user's settings are never read or written.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

from instruments import registry  # noqa: E402
from instruments.base import Identity, InstrumentError  # noqa: E402
from instruments.sim import SimulatedAnalyzer  # noqa: E402
from station.core.journal import JournalReader  # noqa: E402
from station.core.samples import Flag, good_mask  # noqa: E402
from station.ui.app import create_window  # noqa: E402
from station.ui.main_window import MainWindow  # noqa: E402
from station.ui.readout_panel import ALARM  # noqa: E402

WAIT = 15000  # ms: generous bounds for a loaded 2-core machine; tests never sleep


@pytest.fixture
def ui_settings(tmp_path):
    s = QSettings(str(tmp_path / "station-ui-test.ini"), QSettings.Format.IniFormat)
    yield s
    s.sync()


def _open_window(qtbot, settings, size=(1400, 900)) -> MainWindow:
    w = MainWindow(settings)
    if size is not None:
        w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    return w


def _dispose(w: MainWindow) -> None:
    w.shutdown()
    w._close_ready = True
    w.close()
    w.deleteLater()


@pytest.fixture
def window(qtbot, ui_settings):
    w = _open_window(qtbot, ui_settings)
    yield w
    _dispose(w)


def connect_sim(qtbot, w: MainWindow, **form_values) -> None:
    """Select the simulated analyzer, set form values, press Connect, wait for data."""
    w.panel.select_driver("sim")
    for name, value in form_values.items():
        w.panel.form.set_value(name, value)
    qtbot.mouseClick(w.panel.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.link.state == "running", timeout=WAIT)
    qtbot.waitUntil(lambda: w.link.store is not None and w.link.store.total_samples > 300, timeout=WAIT)


def apply_form(qtbot, w: MainWindow, **form_values) -> None:
    for name, value in form_values.items():
        w.panel.form.set_value(name, value)
    assert w.panel.apply_button.isEnabled()
    qtbot.mouseClick(w.panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.link.pending and w.link.state == "running", timeout=WAIT)


# -- connect and stream ------------------------------------------------------------------------------


@pytest.mark.slow
def test_connect_streams_into_plot_numbers_log_and_status(qtbot, window):
    w = window
    assert w.link.state == "disconnected"
    assert w.readout.power.text() == "—"
    connect_sim(qtbot, w)
    # The plot draws pixel-sized summaries of the live store.
    qtbot.waitUntil(lambda: w.plot.last_summary is not None and len(w.plot.last_summary) > 10, timeout=WAIT)
    assert len(w.plot.last_summary) <= w.plot.pixels()
    assert w.plot.follow
    # Numbers: the datacenter profile idles around 310 W at 230 V.
    qtbot.waitUntil(lambda: w.readings is not None and w.readings.w is not None, timeout=WAIT)
    assert 200 < w.readings.w < 2500
    assert w.readout.power.text().endswith("W")
    assert w.readout.voltage.value.text().endswith("V")
    # Event log and status bar.
    assert any(t.startswith("Connected to station SIM-PA1") for t in w.log.texts())
    qtbot.waitUntil(lambda: "S/s" in w.rate_label.text(), timeout=WAIT)
    assert "running" in w.state_label.text()
    qtbot.waitUntil(lambda: "disk free" in w.disk_label.text(), timeout=WAIT)
    assert w.panel.connect_button.text() == "Disconnect"
    assert "SIM" in w.panel.identity_label.text()


def test_disconnect_releases_the_instrument_and_keeps_the_last_data(qtbot, window):
    w = window
    connect_sim(qtbot, w)
    session = w.link.session
    w.connect_action.trigger()  # Ctrl+K toggles
    qtbot.waitUntil(lambda: w.link.state == "disconnected", timeout=WAIT)
    assert session.state == "stopped"
    with pytest.raises(InstrumentError):  # released: the driver answers no more
        session.driver.identify()
    assert w.plot.store is not None and w.plot.store.total_samples > 0
    assert w.panel.connect_button.text() == "Connect"
    assert any(t.startswith("Instrument released") for t in w.log.texts())


def test_connection_failure_is_reported_not_raised(qtbot, window):
    w = window
    w.panel.select_driver("wt300e")
    w.panel.resource_combo.setEditText("tcp://127.0.0.1:1")
    qtbot.mouseClick(w.panel.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Cannot connect" in w.panel.message.text(), timeout=WAIT)
    assert w.link.state == "disconnected"
    assert w.log.entries("error")


class _GatedAnalyzer(SimulatedAnalyzer):
    """The simulated analyzer whose open() waits until the test lets it go."""

    gate = threading.Event()

    def open(self) -> None:
        if not self.gate.wait(30):
            raise TimeoutError("gate never opened")
        super().open()


def test_gui_keeps_running_while_an_instrument_takes_its_time_to_connect(qtbot, window, monkeypatch):
    monkeypatch.setitem(registry._registered, "gated-sim", _GatedAnalyzer)  # removed again after the test
    _GatedAnalyzer.gate.clear()
    w = window
    try:
        w.panel.drivers = registry.available()
        w.panel.driver_combo.addItem("gated-sim", "gated-sim")
        w.panel.select_driver("gated-sim")
        w.connect_action.trigger()
        assert w.link.state == "connecting"
        ticks = w.ticks
        # The frame timer keeps firing while open() blocks on its worker thread.
        qtbot.waitUntil(lambda: w.ticks >= ticks + 10, timeout=WAIT)
        assert w.link.state == "connecting"
        assert not w.panel.connect_button.isEnabled()
    finally:
        _GatedAnalyzer.gate.set()
    qtbot.waitUntil(lambda: w.link.state == "running", timeout=WAIT)


# -- ranges, overrange, uncertainty ---------------------------------------------------------------------


@pytest.mark.slow
def test_fixed_current_range_far_too_small_raises_the_overrange_banner(qtbot, window):
    w = window
    connect_sim(qtbot, w)
    assert "overrange" not in w.banners.active()
    # ~1.6 A at idle on a 5 mA range.
    apply_form(qtbot, w, current_range=0.005, voltage_range=300.0)
    qtbot.waitUntil(lambda: "overrange" in w.banners.active(), timeout=WAIT)
    assert w.banners.level("overrange") == ALARM
    assert "OVERRANGE" in w.banners.active()["overrange"]
    assert "the current exceeds the 5 mA range" in w.banners.active()["overrange"]
    qtbot.waitUntil(lambda: w.readout.power.text() == "OVERRANGE", timeout=WAIT)
    assert any(t.startswith("OVERRANGE") for t in w.log.texts())
    # The plot shades the overrange stretch.
    qtbot.waitUntil(lambda: not w.plot.bad._path.isEmpty(), timeout=WAIT)
    banner = w.banners._banners["overrange"][0]
    assert banner.isVisible() and banner.height() > 30
    # Back to a suitable range: the alarm goes once its latch time is over.
    apply_form(qtbot, w, current_range=5.0)
    qtbot.waitUntil(lambda: "overrange" not in w.banners.active(), timeout=WAIT)
    assert w.readout.power.text() != "OVERRANGE"


def test_changing_ranges_is_logged_and_fixed_ranges_give_an_uncertainty(qtbot, window):
    w = window
    connect_sim(qtbot, w)
    qtbot.waitUntil(lambda: w.readings is not None and w.readings.samples > 0, timeout=WAIT)
    assert w.readout.uncert.value.text() == "unknown"  # auto ranges: not assured
    apply_form(qtbot, w, voltage_range=300.0, current_range=10.0)
    assert any(t.startswith("Settings applied: ranges 300 V, 10 A") for t in w.log.texts())
    qtbot.waitUntil(lambda: w.readout.a_range.value.text() == "10 A", timeout=WAIT)
    assert w.readout.v_range.value.text() == "300 V"
    qtbot.waitUntil(lambda: w.readout.uncert.value.text().startswith("±"), timeout=WAIT)
    assert w.readings.uncert is not None and 0 < w.readings.uncert < 0.05
    assert w.link.session.ranges.current == 10.0 and not w.link.session.ranges.current_auto


def test_a_refused_setting_keeps_the_old_settings_and_streaming(qtbot, window):
    w = window
    connect_sim(qtbot, w)
    w.panel.form.set_value("update_interval_s", 1e-6)  # below the driver's fastest
    assert not w.panel.apply_button.isEnabled()
    assert "Update interval" in w.panel.form.error_label.text()
    w.panel.form.set_value("update_interval_s", 0.001)
    assert w.panel.apply_button.isEnabled()


def test_new_update_interval_restarts_the_live_view(qtbot, window):
    w = window
    connect_sim(qtbot, w)
    old = w.link.store
    apply_form(qtbot, w, update_interval_s=0.002)
    assert w.link.store is not old
    assert w.link.store.interval_s == pytest.approx(0.002)
    qtbot.waitUntil(lambda: w.plot.store is w.link.store and w.link.store.total_samples > 50, timeout=WAIT)


# -- region ----------------------------------------------------------------------------------------------


def test_region_reads_duration_mean_and_energy(qtbot, window):
    w = window
    connect_sim(qtbot, w)
    store = w.link.store
    qtbot.waitUntil(lambda: store.span() is not None and store.span()[1] - store.span()[0] > 1.5, timeout=WAIT)
    w.set_follow(False)
    w.region_action.trigger()  # R
    assert w.plot.region_visible
    w.plot.set_region(0.2, 1.2)
    qtbot.waitUntil(lambda: w.plot.region_stats() is not None and w.plot.region_stats().samples > 0,
                    timeout=WAIT)
    s = w.plot.region_stats()
    t0, t1 = w.plot.region_bounds()
    recs = store.latest(store.total_samples)
    sel = recs[(recs["t"] >= t0) & (recs["t"] <= t1)]
    good = sel[good_mask(sel)]
    expected_energy = float(good["w"].sum()) * store.interval_s
    assert s.samples == len(sel)
    assert s.energy_j == pytest.approx(expected_energy, rel=1e-9)
    assert s.mean_w == pytest.approx(float(good["w"].mean()), rel=1e-9)
    assert s.duration_s == pytest.approx(1.0, abs=0.01)
    text = w.region_readout.text()
    assert "energy" in text and "J" in text and "1.00" in text
    # Moving the region changes the reading.
    w.plot.set_region(0.2, 0.7)
    qtbot.waitUntil(lambda: w.plot.region_stats().duration_s < 0.6, timeout=WAIT)


def test_manual_pan_pauses_and_follow_resumes(qtbot, window):
    w = window
    connect_sim(qtbot, w)
    assert w.plot.follow
    w.plot.vb.sigRangeChangedManually.emit([True, False])  # as a mouse drag does
    assert not w.plot.follow and not w.follow_action.isChecked()
    (x0, x1) = w.plot.visible_range()
    qtbot.waitUntil(lambda: w.link.store.revision != w.plot._revision or True, timeout=WAIT)
    w.follow_action.trigger()
    assert w.plot.follow
    w.pause_action.trigger()
    assert not w.plot.follow


# -- recording ------------------------------------------------------------------------------------------


def test_recording_with_mark_writes_the_journal(qtbot, window, tmp_path):
    w = window
    connect_sim(qtbot, w)
    run_dir = tmp_path / "run-a"
    assert w.start_recording(run_dir)
    qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
    assert "Stop" in w.record_action.text()
    qtbot.waitUntil(lambda: (w.recorder.journal_bytes() or 0) > 0, timeout=WAIT)
    w.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_M)
    assert w._mark_count == 1
    qtbot.waitUntil(lambda: "REC" in w.journal_label.text(), timeout=WAIT)
    w.record_action.trigger()  # Ctrl+R stops
    qtbot.waitUntil(lambda: w.recorder.state == "idle", timeout=WAIT)
    reader = JournalReader(run_dir)
    assert reader.complete
    samples = reader.samples()
    assert len(samples) > 0
    kinds = [e["kind"] for e in reader.events()]
    assert "recording_started" in kinds and "recording_finished" in kinds
    marks = [e for e in reader.events() if e["kind"] == "mark"]
    assert len(marks) == 1 and marks[0]["label"] == "M1"
    assert samples["t"][0] <= marks[0]["t"] <= samples["t"][-1] + 1.0
    assert reader.header["settings"]["command"] == "gui"
    assert reader.header["settings"]["instrument"]["driver"] == "sim"
    assert reader.summary_file()["samples"] == len(samples)
    assert any(t.startswith("Recording complete") for t in w.log.texts())


@pytest.mark.slow
def test_recording_with_a_duration_stops_by_itself(qtbot, window, tmp_path):
    w = window
    connect_sim(qtbot, w)
    w.duration_spin.setValue(1)
    assert w.start_recording(tmp_path / "run-d")
    qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
    qtbot.waitUntil(lambda: w.recorder.state == "idle", timeout=WAIT)
    summary = JournalReader(tmp_path / "run-d").summary_file()
    assert summary["state"] == "complete"
    assert summary["duration_s"] == pytest.approx(1.0, abs=0.01)


def test_mark_without_recording_says_it_is_not_recorded(qtbot, window):
    w = window
    connect_sim(qtbot, w)
    w.mark_action.trigger()
    assert w.plot.marks and w.plot.marks[0][1] == "M1"
    assert any("not recorded" in t for t in w.log.texts())


def test_recording_into_an_existing_run_is_refused_clearly(qtbot, window, tmp_path):
    w = window
    connect_sim(qtbot, w)
    run_dir = tmp_path / "run-x"
    assert w.start_recording(run_dir)
    qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
    w.stop_recording()
    qtbot.waitUntil(lambda: w.recorder.state == "idle", timeout=WAIT)
    assert w.start_recording(run_dir)
    qtbot.waitUntil(lambda: "recording" in w.banners.active(), timeout=WAIT)
    assert "already holds a recorded run" in w.banners.active()["recording"]
    assert w.recorder.state == "idle"


def test_disconnect_while_recording_finishes_the_run_first(qtbot, window, tmp_path):
    w = window
    connect_sim(qtbot, w)
    assert w.start_recording(tmp_path / "run-dc")
    qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
    w.disconnect_instrument()
    qtbot.waitUntil(lambda: w.link.state == "disconnected", timeout=WAIT)
    assert JournalReader(tmp_path / "run-dc").complete


# -- open a recorded run -------------------------------------------------------------------------------


@pytest.mark.slow
def test_open_a_recording_and_browse_it(qtbot, window, tmp_path):
    w = window
    connect_sim(qtbot, w)
    run_dir = tmp_path / "run-b"
    w.duration_spin.setValue(2)
    assert w.start_recording(run_dir)
    qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
    w.mark()
    qtbot.waitUntil(lambda: w.recorder.state == "idle", timeout=WAIT)
    reader = JournalReader(run_dir)
    summary = reader.summary_file()

    w.open_run(run_dir)
    qtbot.waitUntil(lambda: w.browse is not None, timeout=WAIT)
    assert w.plot.store is w.browse.store and not w.plot.live
    assert w.browse.store.total_samples == len(reader.samples())
    assert "recorded run" in w.windowTitle()
    assert [m[1] for m in w.plot.marks] == ["M1"]
    assert any(t.startswith("[run] Recording started") for t in w.log.texts())
    qtbot.waitUntil(lambda: w.plot.last_summary is not None and len(w.plot.last_summary) > 0, timeout=WAIT)
    # The whole run in view; a region over all of it reads the run's energy.
    x0, x1 = w.plot.visible_range()
    assert x0 < 0.0 and x1 > 1.9
    w.toggle_region(True)
    w.plot.set_region(x0, x1)
    qtbot.waitUntil(lambda: w.plot.region_stats() is not None and w.plot.region_stats().samples > 0,
                    timeout=WAIT)
    assert w.plot.region_stats().energy_j == pytest.approx(summary["energy_j"], rel=1e-9)
    assert w.plot.region_stats().samples == summary["samples"]
    # Back to live.
    w.live_action.trigger()
    assert w.browse is None and w.plot.store is w.link.store and w.plot.live
    assert [m[1] for m in w.plot.marks] == ["M1"]  # the live marks come back with the live view


def test_opening_something_that_is_not_a_run_says_so(qtbot, window, tmp_path):
    w = window
    w.open_run(tmp_path)
    qtbot.waitUntil(lambda: "open" in w.banners.active(), timeout=WAIT)
    assert "holds no recorded run" in w.banners.active()["open"]
    assert w.browse is None


# -- calibration ------------------------------------------------------------------------------------------


def test_expired_calibration_is_remembered_per_serial_warned_and_recorded(qtbot, ui_settings, tmp_path):
    w = _open_window(qtbot, ui_settings)
    try:
        connect_sim(qtbot, w)
        serial = w.link.session.identity.serial
        assert any("No calibration due date" in t for t in w.log.texts())
        past = date.today() - timedelta(days=3)
        w.panel.set_calibration_due(past)
        assert "calibration" in w.banners.active()
        assert "EXPIRED" in w.panel.cal_status.text()
        assert any("expired" in t for t in w.log.texts())
        assert w.start_recording(tmp_path / "run-cal")
        qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
        w.stop_recording()
        qtbot.waitUntil(lambda: w.recorder.state == "idle", timeout=WAIT)
        reader = JournalReader(tmp_path / "run-cal")
        assert any(e["kind"] == "calibration_expired" for e in reader.events())
        assert reader.header["settings"]["calibration"] == {"serial": serial, "due": past.isoformat(),
                                                            "status": "expired"}
    finally:
        _dispose(w)
    # A new window (same settings) knows the date for this serial number.
    w2 = _open_window(qtbot, ui_settings)
    try:
        connect_sim(qtbot, w2)
        assert "calibration" in w2.banners.active()
        assert w2.panel.calibration_due() == past
        w2.panel.set_calibration_due(date.today() + timedelta(days=365))
        assert "calibration" not in w2.banners.active()
        assert "Valid until" in w2.panel.cal_status.text()
    finally:
        _dispose(w2)


# -- settings, themes, shortcuts --------------------------------------------------------------------------


def test_window_state_theme_and_instrument_settings_persist(qtbot, ui_settings):
    w = _open_window(qtbot, ui_settings)
    w.set_theme("dark")
    w.window_combo.setCurrentIndex(w.window_combo.findData(60.0))
    w.panel.select_driver("sim")
    w.panel.form.set_value("profile", "tiny")
    w.panel.form.set_value("current_range", 0.05)
    w.duration_spin.setValue(600)
    w.resize(760, 640)  # within the offscreen screen (800 x 800), so nothing clamps it
    w.save_settings()
    saved_size = w.size()
    _dispose(w)
    assert ui_settings.value("ui/theme") == "dark"

    w2 = _open_window(qtbot, ui_settings, size=None)
    try:
        assert w2.theme.name == "dark"
        assert w2.theme_action.isChecked()
        assert w2.plot.window_s == 60.0
        assert w2.panel.driver_name == "sim"
        assert w2.panel.form.values()["profile"] == "tiny"
        assert w2.panel.form.current_range() == 0.05
        assert w2.duration_spin.value() == 600
        assert w2.size() == saved_size
    finally:
        _dispose(w2)


def test_dark_theme_changes_the_palette_and_the_plot(qtbot, window):
    from PySide6.QtWidgets import QApplication

    w = window
    light_bg = QApplication.instance().palette().window().color().name()
    w.theme_action.trigger()
    assert w.theme.name == "dark"
    assert QApplication.instance().palette().window().color().name() != light_bg
    assert w.plot.plot.backgroundBrush().color().name() == "#0f1215"
    w.theme_action.trigger()
    assert w.theme.name == "light"


def test_keyboard_shortcuts(window):
    keys = {a.objectName(): a.shortcut().toString() for a in window.actions()}
    assert keys["connect"] == "Ctrl+K"
    assert keys["record"] == "Ctrl+R"
    assert keys["mark"] == "M"
    assert keys["pause"] == "P"
    assert keys["follow"] == "End"
    assert keys["region"] == "R"
    assert keys["open"] == "Ctrl+O"


def test_demo_window_connects_the_simulator_and_streams(qtbot, ui_settings):
    w = create_window(demo=True, settings=ui_settings)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.link.state == "running", timeout=WAIT)
        assert w.link.request.driver == "sim"
        qtbot.waitUntil(lambda: w.plot.last_summary is not None and len(w.plot.last_summary) > 0, timeout=WAIT)
    finally:
        _dispose(w)


def test_identity_shown_in_the_panel(qtbot, window):
    w = window
    w.panel.set_connection(True, identity=Identity("ACME", "PM-1", "X42", "1.0"))
    assert "ACME PM-1" in w.panel.identity_label.text() and "X42" in w.panel.identity_label.text()


def test_events_from_the_acquisition_thread_reach_the_log_through_the_inbox(qtbot, window):
    w = window
    listener = w.inbox.event_listener("inst0")
    t = threading.Thread(target=lambda: [listener("gap", t=1.0e9 + i, length_s=0.5, missing_samples=499)
                                         for i in range(5)])
    t.start()
    t.join()
    assert not any("Gap" in x for x in w.log.texts())  # nothing touched the widget from that thread
    qtbot.waitUntil(lambda: sum("Gap in the data" in x for x in w.log.texts()) == 5, timeout=WAIT)
    assert "gap" in w.banners.active()


def test_a_flood_of_events_never_drops_a_task_completion_or_a_connection_change(qtbot, ui_settings, monkeypatch):
    from station.ui import main_window
    from station.ui.inbox import Inbox

    monkeypatch.setattr(main_window, "Inbox", lambda: Inbox(capacity=500))
    w = _open_window(qtbot, ui_settings)
    try:
        delivered: list[tuple] = []
        real_drain = w.inbox.drain

        def drain_and_keep(limit=1000):
            items = real_drain(limit)
            delivered.extend(items)
            return items

        w.inbox.drain = drain_and_keep
        calls: list[tuple[str, int, bool]] = []
        lanes = (w.instrument_lane, w.journal_lane, w.probe_lane)
        jobs_per_lane, threads_n, posts_per_thread = 60, 4, 20_000
        start = threading.Event()

        def flood(n: int) -> None:
            listener = w.inbox.event_listener(f"flood{n}")
            start.wait(10)
            for i in range(posts_per_thread):
                listener("range", t=n * 1e6 + i, current=float(i))
                if i % 2000 == 0:
                    listener("stall", t=n * 1e6 + i, message=f"flood {n} #{i}")

        def on_gui(lane_name: str, i: int):
            return lambda result, error: calls.append(
                (lane_name, result, threading.current_thread() is threading.main_thread()))

        floods = [threading.Thread(target=flood, args=(n,)) for n in range(threads_n)]
        for t in floods:
            t.start()
        start.set()
        for i in range(jobs_per_lane):  # jobs complete on three lanes while the threads flood
            for lane in lanes:
                lane.submit(lambda i=i: i, on_gui(lane.name, i))
        for t in floods:  # the GUI thread is busy here: nothing is drained until the floods end
            t.join(60)
            assert not t.is_alive()
        qtbot.waitUntil(lambda: len(calls) == jobs_per_lane * len(lanes) and len(w.inbox) == 0, timeout=WAIT)

        for lane in lanes:  # every callback once, on the GUI thread, in the order submitted
            mine = [(result, on_main) for name, result, on_main in calls if name == lane.name]
            assert mine == [(i, True) for i in range(jobs_per_lane)]
        stalls = [it for it in delivered if it[0] == "event" and it[2] == "stall"]
        assert len(stalls) == threads_n * posts_per_thread // 2000  # connection state: all of it
        ranges = sum(1 for it in delivered if it[0] == "event" and it[2] == "range")
        assert w.inbox.dropped > 0 and ranges + w.inbox.dropped == threads_n * posts_per_thread
        told = [x for x in w.log.texts() if "faster than this window could show" in x]
        assert told == [f"{w.inbox.dropped} instrument events came faster than this window could show them "
                        "and are missing from this log; a recording's journal keeps every one."]
    finally:
        _dispose(w)


def test_readings_average_only_good_samples():
    from station.ui.readings import compute_readings
    from tests.helpers.sample_blocks import make_block

    b = make_block(0.0, 10, 0.1, np.arange(10.0) + 1)
    b["flags"][0] = 1  # overrange
    r = compute_readings(b)
    assert r.samples == 10 and r.good == 9 and r.overrange == 1
    assert r.w == pytest.approx(np.mean(np.arange(2.0, 11.0)))


# -- failures ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_lost_instrument_raises_an_alarm_until_it_is_back(qtbot, window):
    from instruments.base import Config
    from station.ui.instrument_link import InstrumentRequest

    w = window
    w.connect_instrument(InstrumentRequest("sim", options={"disconnect_after_s": 0.5, "offline_s": 1.0},
                                           config=Config(update_interval_s=0.001)))
    qtbot.waitUntil(lambda: "connection" in w.banners.active(), timeout=WAIT)
    assert "CONNECTION LOST" in w.banners.active()["connection"]
    assert w.banners.level("connection") == ALARM
    qtbot.waitUntil(lambda: "connection" not in w.banners.active(), timeout=WAIT)
    texts = w.log.texts()
    assert any(t.startswith("Connection to the instrument lost") for t in texts)
    assert any(t.startswith("Instrument back") for t in texts)
    assert w.link.state == "running"


def test_a_journal_that_cannot_be_written_stops_the_recording_with_an_alarm(qtbot, window, tmp_path):
    from station.core.journal import JournalError

    w = window
    connect_sim(qtbot, w)
    assert w.start_recording(tmp_path / "run-full")
    qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
    journal = w.recorder.recording.journal

    def full(inst_id, samples):
        raise JournalError("writing the journal failed (No space left on device)")

    journal.write = full
    qtbot.waitUntil(lambda: "recording" in w.banners.active(), timeout=WAIT)
    assert "No space left on device" in w.banners.active()["recording"]
    qtbot.waitUntil(lambda: w.recorder.state == "idle", timeout=WAIT)
    assert JournalReader(tmp_path / "run-full").summary_file()["state"] == "failed"
    assert w.link.state == "running"  # the live view goes on


def test_closing_the_window_while_recording_finishes_the_run(qtbot, ui_settings, tmp_path):
    w = _open_window(qtbot, ui_settings)
    try:
        connect_sim(qtbot, w)
        assert w.start_recording(tmp_path / "run-close")
        qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
        w.close()  # does not block: the run is finished and the instrument released first
        assert w.isVisible()
        qtbot.waitUntil(lambda: not w.isVisible(), timeout=WAIT)
        reader = JournalReader(tmp_path / "run-close")
        assert reader.complete and reader.summary_file()["state"] == "stopped"
        assert not w.link.connected
    finally:
        _dispose(w)


def test_scan_fills_the_resource_list_in_the_background(qtbot, window, monkeypatch):
    from instruments import discovery

    found = [{"resource": "TCPIP::10.0.0.7::INSTR", "kind": "visa", "description": "VISA instrument"},
             {"resource": "/dev/ttyUSB3", "kind": "serial", "description": "USB serial"}]
    monkeypatch.setattr(discovery, "discover", lambda: found)
    w = window
    w.panel.select_driver("wt300e")
    assert w.panel.scan_button.isVisible() and w.panel.scan_button.isEnabled()
    qtbot.mouseClick(w.panel.scan_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.panel.resource_combo.count() == 2, timeout=WAIT)
    w.panel.resource_combo.setCurrentIndex(1)
    assert w.panel.resource == "/dev/ttyUSB3"
    assert "2 resource(s) found" in w.panel.message.text()


# -- traces, several instruments, settings without a gap ----------------------------------------------

def test_volts_trace_on_demand_shows_the_instrument_voltage(qtbot, window):
    w = window
    connect_sim(qtbot, w)
    assert not w.plot.rows
    w.trace_actions["v"].trigger()  # the toolbar / View menu toggle
    assert w.trace_actions["v"].isChecked() and "v" in w.plot.rows
    qtbot.waitUntil(lambda: len(w.plot.trace_values("v")[1]) > 20, timeout=WAIT)
    _, y = w.plot.trace_values("v")
    recent = w.link.store.latest(2000)["v"]
    assert np.nanmin(recent) * 0.98 <= np.nanmedian(y) <= np.nanmax(recent) * 1.02
    w.trace_actions["v"].trigger()
    assert "v" not in w.plot.rows


def test_two_instruments_stream_and_both_show_with_a_total(qtbot, window):
    w = window
    connect_sim(qtbot, w, profile="edge", seed=1)
    w.panel.form.set_value("profile", "datacenter")
    w.panel.form.set_value("seed", 2)
    inst = w.add_instrument(w.panel.request())
    qtbot.waitUntil(lambda: inst in w.plot.sources and w.extra_links[inst].store.total_samples > 300,
                    timeout=WAIT)
    w.set_show_total(True)
    w.set_trace("a", True)
    qtbot.waitUntil(lambda: len(w.plot.trace_values("w", inst)[1]) > 20
                    and len(w.plot.trace_values("w", "total")[1]) > 20, timeout=WAIT)
    assert w.link.store.total_samples > 300  # the first one still streams
    _, mine = w.plot.trace_values("w", inst)
    other = w.extra_links[inst].store.latest(5000)["w"]
    assert np.nanmin(other) * 0.9 <= np.nanmedian(mine) <= np.nanmax(other) * 1.1
    assert np.nanmedian(w.plot.trace_values("w", "total")[1]) > np.nanmedian(mine)
    assert len(w.plot.trace_values("a", inst)[1]) > 0
    names = [lbl.text for _, lbl in w.plot.legend.items]
    assert names[0].startswith("inst0: SIM-PA1") and names[1].startswith(f"{inst}: SIM-PA1")
    assert names[2] == "system total"
    w.set_trace("a", False)  # no trace row left: the frame draws no extras after the removal
    w.remove_instrument(inst)
    assert inst not in w.plot.sources
    w.disconnect_instrument()
    qtbot.waitUntil(lambda: not w.link.connected, timeout=WAIT)
    w.plot.refresh()
    # Nothing of the removed instrument or the total stays in the legend (it used to).
    assert not w.plot.legend.isVisible() or [lbl.text for _, lbl in w.plot.legend.items] == []
    assert not len(w.plot.trace_values("w", "total")[1])


@pytest.mark.slow
def test_settings_change_while_streaming_keeps_the_stream_without_a_gap(qtbot, window):
    w = window
    connect_sim(qtbot, w, update_interval_s=0.01)
    worker = w.link.session._worker
    store = w.link.store
    n_before = store.total_samples
    apply_form(qtbot, w, voltage_range=300.0, current_range=10.0, crest_factor=6.0)
    assert w.link.session._worker is worker and worker.is_alive()  # never stopped
    assert w.link.store is store and w.link.session.config.crest_factor == 6.0
    qtbot.waitUntil(lambda: store.total_samples > n_before + 100, timeout=WAIT)
    data = store.latest(store.total_samples)
    steps = np.diff(data["t"])
    assert steps.max() < 0.015  # no hole anywhere around the change
    assert np.any(data["flags"] & int(Flag.RANGE_CHANGE))
    texts = w.log.texts()
    assert any(t.startswith("Settings applied") for t in texts)
    assert not any("stopped" in t.lower() for t in texts)


# -- frequency, range changes, deep zoom ------------------------------------------------------------------


def test_frequency_shows_and_each_auto_range_step_is_logged_once(qtbot, window):
    w = window
    connect_sim(qtbot, w, profile="edge")  # 120 V / 60 Hz; the meter comes up on its top ranges
    qtbot.waitUntil(lambda: w.readout.freq.value.text().endswith("Hz"), timeout=WAIT)
    assert w.readings.freq == pytest.approx(60.0, abs=0.05)
    assert abs(float(w.readout.freq.value.text().split()[0]) - 60.0) < 0.05
    qtbot.waitUntil(lambda: len([e for e in w.log.entries() if e[2].startswith("Range change")]) >= 3,
                    timeout=WAIT)
    steps = [(t, text) for t, _, text in w.log.entries() if text.startswith("Range change")]
    # The simulator and the run monitor both report each step, in the same shape: shown once.
    assert len(steps) == len(set(steps))
    assert all("→" in text for _, text in steps)


def test_deep_zoom_into_an_old_part_of_an_opened_run_reads_the_journal(qtbot, window, tmp_path, monkeypatch):
    from station.core.journal import InstrumentEntry, JournalWriter
    from station.ui import main_window
    from tests.helpers.sample_blocks import make_block

    n, dt, t0 = 120_000, 1e-3, 1.7e9
    b = make_block(t0, n, dt, 500 + 80 * np.sin(np.arange(n) / 700.0))
    writer = JournalWriter(tmp_path / "long", [InstrumentEntry("inst0", "sim", b.dtype, dt, {})])
    writer.write("inst0", b)
    writer.close({"samples": n})
    monkeypatch.setattr(main_window, "RECORDED_WINDOW_SAMPLES", 2048)  # as if the run were days long
    w = window
    w.open_run(tmp_path / "long")
    qtbot.waitUntil(lambda: w.browse is not None and w.plot.last_summary is not None, timeout=WAIT)
    w.plot.vb.setXRange(10.0, 10.3, padding=0)  # 300 samples, 110 s before the end
    qtbot.waitUntil(lambda: w.plot.detail_shown, timeout=WAIT)
    s = w.plot.last_summary
    assert s.is_raw
    sel = (b["t"] >= s.t[0]) & (b["t"] <= s.t[-1])
    assert sel.sum() >= 290 and np.array_equal(s.mean, b["w"][sel])
    w.close_run()
    assert w.plot.detail is None


# -- trust: range switches are not alarms, "(auto)" only on auto ranges ---------------------------------


def _flagged_block(flags_of_first: int, n: int = 500, flagged: int = 5) -> np.ndarray:
    from tests.helpers.sample_blocks import make_block

    b = make_block(1000.0, n, 0.001, 300.0)
    b["flags"][:flagged] = flags_of_first
    b["w"][:flagged] = np.nan
    return b


def test_a_range_switch_says_switching_range_and_raises_no_invalid_banner(qtbot, window, monkeypatch):
    w = window
    connect_sim(qtbot, w)
    switching = _flagged_block(int(Flag.RANGE_CHANGE | Flag.INVALID | Flag.AUTO_RANGE))
    monkeypatch.setattr(w.link.store, "latest", lambda n: switching)
    qtbot.waitUntil(lambda: w.readout.status.text() == "495 of 500 samples good, switching range", timeout=WAIT)
    assert "invalid" not in w.banners.active()
    assert w.readout.power.text() == "300.00 W"
    # Invalid readings a range switch does not explain are an alarm.
    broken = _flagged_block(int(Flag.INVALID))
    monkeypatch.setattr(w.link.store, "latest", lambda n: broken)
    qtbot.waitUntil(lambda: "invalid" in w.banners.active(), timeout=WAIT)
    assert w.banners.level("invalid") == ALARM
    assert "5 invalid" in w.readout.status.text() and "switching range" not in w.readout.status.text()


def test_readings_keep_range_switches_apart_from_invalid_data():
    from station.ui.readings import compute_readings

    r = compute_readings(_flagged_block(int(Flag.RANGE_CHANGE | Flag.INVALID), n=10, flagged=2))
    assert (r.invalid, r.switching, r.invalid_not_switching) == (2, 2, 0)
    r = compute_readings(_flagged_block(int(Flag.INVALID), n=10, flagged=3))
    assert (r.invalid, r.switching, r.invalid_not_switching) == (3, 0, 3)


def test_a_fixed_current_range_beside_an_auto_voltage_range_is_not_called_auto(qtbot, window):
    from instruments.base import AUTO

    w = window
    connect_sim(qtbot, w, profile="edge")
    qtbot.waitUntil(lambda: w.readout.a_range.value.text().endswith("(auto)"), timeout=WAIT)
    apply_form(qtbot, w, voltage_range=AUTO, current_range=1.0)
    qtbot.waitUntil(lambda: w.readout.a_range.value.text() == "1 A", timeout=WAIT)
    assert w.readout.v_range.value.text().endswith(" V (auto)")


def test_long_texts_and_every_row_shown_never_make_the_window_grow(qtbot, window):
    w = window
    size = w.size()
    name = "a_very_long_instrument_name_without_any_space_" * 6
    for key in ("v", "a", "pf"):
        w.trace_actions[key].trigger()
    w.banners.set_banner("connection", ALARM, f"ACQUISITION FAILED: {name}. Disconnect and connect again.")
    w.banners.set_banner("stall", "warn", f"NO DATA: {name}")
    w.readout.show_meters([("inst0", name, None), ("inst1", "second meter", None)])
    w.readout.power_caption.setText(f"Power of {name} (mean of the last 0.5 s)")
    w.readout.status.setText(name)
    w.log_event(0.0, "info", name * 3)
    w.state_label.setText(f"running · {name}")
    w.region_readout.setText(name)
    deadline_ticks = w.ticks + 10  # ten frames: every layout pass has run
    qtbot.waitUntil(lambda: w.ticks >= deadline_ticks, timeout=WAIT)
    assert w.size() == size
    assert w.plot.plot.height() >= 100  # the power plot keeps a readable height


# -- shortcuts and quitting -------------------------------------------------------------------------------


def test_no_shortcut_clashes_with_a_menu_mnemonic_or_another_shortcut(qtbot, ui_settings):
    from PySide6.QtGui import QAction

    w = create_window(settings=ui_settings)
    try:
        titles = [a.text() for a in w.menuBar().actions()]
        mnemonics = {f"Alt+{t[t.index('&') + 1].upper()}" for t in titles if "&" in t}
        assert {"Alt+S", "Alt+V", "Alt+M", "Alt+D"} <= mnemonics
        keys = [a.shortcut().toString() for a in w.findChildren(QAction) if not a.shortcut().isEmpty()]
        assert len(keys) > 15
        assert not set(keys) & mnemonics
        assert sorted(k for k in keys if keys.count(k) > 1) == []
        traces = {a.objectName(): a.shortcut().toString() for a in w.trace_actions.values()}
        assert traces == {"trace_v": "Shift+V", "trace_a": "Shift+A", "trace_pf": "Shift+F", "trace_ch_w": "Shift+E"}
    finally:
        _dispose(w)


def _answer_quit_question(answer: str) -> None:
    """Press ``answer`` ("stop_and_quit" or "cancel") in the quit question once it is up."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

    tries = [0]

    def press():
        box = next((b for b in QApplication.topLevelWidgets()
                    if b.objectName() == "quit_question" and b.isVisible()), None)
        if box is None:
            tries[0] += 1
            if tries[0] < 500:  # 10 s: the question never came, and the test's assertions say so
                QTimer.singleShot(20, press)
            return
        button = (box.button(QMessageBox.StandardButton.Cancel) if answer == "cancel"
                  else box.findChild(QPushButton, "stop_and_quit"))
        button.click()

    QTimer.singleShot(0, press)


def test_quit_while_recording_asks_and_cancel_keeps_recording(qtbot, ui_settings, tmp_path):
    w = _open_window(qtbot, ui_settings)
    try:
        connect_sim(qtbot, w)
        assert w.start_recording(tmp_path / "run-quit")
        qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
        _answer_quit_question("cancel")
        w.quit_action.trigger()  # Ctrl+Q
        assert w.isVisible() and w.recorder.state == "recording"
        _answer_quit_question("stop_and_quit")
        w.quit_action.trigger()
        qtbot.waitUntil(lambda: not w.isVisible(), timeout=WAIT)
        reader = JournalReader(tmp_path / "run-quit")
        assert reader.complete and reader.summary_file()["state"] == "stopped"
    finally:
        _dispose(w)


def test_quit_without_a_recording_asks_nothing(qtbot, ui_settings):
    w = _open_window(qtbot, ui_settings)
    try:
        asked = []
        w.confirm_stop_and_quit = lambda: asked.append(True) or True
        w.quit_action.trigger()
        qtbot.waitUntil(lambda: not w.isVisible(), timeout=WAIT)
        assert asked == []
    finally:
        _dispose(w)
