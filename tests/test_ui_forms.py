"""Generated settings forms, number formatting, event wording, calibration status, inbox."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox  # noqa: E402

from instruments import registry  # noqa: E402
from instruments.base import AUTO, ConfigurationError  # noqa: E402
from station.ui import calibration, units  # noqa: E402
from station.ui.calibration import CalibrationBook  # noqa: E402
from station.ui.event_text import ERROR, describe  # noqa: E402
from station.ui.inbox import Inbox, TaskLane, run_callback  # noqa: E402
from station.ui.instrument_panel import InstrumentPanel  # noqa: E402
from station.ui.settings_form import SettingsForm  # noqa: E402


@pytest.mark.parametrize(("value", "text"), [
    (1543.2, "1.543 kW"), (0.0123456, "12.35 mW"), (1.5e-6, "1.500 µW"), (999.96, "1.000 kW"),
    (0.000999996, "1.000 mW"), (230.0, "230.0 W"), (None, "— W"), (float("nan"), "— W"),
])
def test_power_is_shown_with_the_prefix_that_suits_it(value, text):
    assert units.si(value, "W") == text


def test_ranges_durations_and_energy_read_naturally():
    assert units.range_label(0.0005, "A") == "500 µA"
    assert units.range_label(300.0, "V") == "300 V"
    assert units.duration(723.2) == "12 min 03.2 s"
    assert units.energy(7200.0) == "7.200 kJ  (2.000 Wh)"


@pytest.mark.parametrize("name", sorted(registry.available()))
def test_every_registered_driver_gets_a_complete_form(qtbot, name):
    desc = registry.available()[name].description
    form = SettingsForm(desc)
    qtbot.addWidget(form)
    for spec in desc.settings:
        assert spec.name in form.editors, spec.name
        w = form.editors[spec.name].widget
        expected = {"choice": QComboBox, "bool": QCheckBox}.get(spec.kind)
        if expected is not None:
            assert isinstance(w, expected)
            if spec.kind == "choice":
                assert w.count() == len(spec.choices)
        else:
            assert isinstance(w, (QLineEdit, QSpinBox))
    # Ranges: auto first, then the description's table.
    if desc.current_ranges:
        assert form.a_range.itemData(0) == AUTO
        assert [form.a_range.itemData(i) for i in range(1, form.a_range.count())] == list(desc.current_ranges)
    # The defaults are valid as they come.
    assert form.errors() == {}
    cfg = form.config()
    assert desc.fastest_interval_s <= cfg.update_interval_s <= desc.slowest_interval_s


def test_form_validation_names_the_problem_and_blocks_connect(qtbot):
    panel = InstrumentPanel()
    qtbot.addWidget(panel)
    panel.select_driver("sim")
    assert panel.connect_button.isEnabled()
    panel.form.set_value("update_interval_s", "fast")
    assert not panel.connect_button.isEnabled()
    assert "Update interval" in panel.form.error_label.text()
    with pytest.raises(ConfigurationError):
        panel.request()
    panel.form.set_value("update_interval_s", "2")  # above the simulator's slowest (1 s)
    assert "above" in panel.form.error_label.text()
    panel.form.set_value("update_interval_s", "0.01")
    assert panel.connect_button.isEnabled()
    req = panel.request()
    assert req.driver == "sim" and req.config.update_interval_s == 0.01
    assert "update_interval_s" not in req.options and "profile" in req.options


def test_options_are_fixed_while_connected_and_only_ranges_during_a_recording(qtbot):
    panel = InstrumentPanel()
    qtbot.addWidget(panel)
    panel.select_driver("sim")
    panel.set_connection(True)
    assert not panel.form.editors["profile"].widget.isEnabled()
    assert panel.form.editors["update_interval_s"].widget.isEnabled()
    assert not panel.driver_combo.isEnabled()
    panel.set_connection(True, recording=True)
    assert not panel.form.editors["update_interval_s"].widget.isEnabled()
    assert panel.form.a_range.isEnabled()


def test_a_driver_needing_a_resource_says_so(qtbot):
    panel = InstrumentPanel()
    qtbot.addWidget(panel)
    panel.select_driver("wt300e")
    with pytest.raises(ConfigurationError, match="needs a resource"):
        panel.request()
    panel.resource_combo.setEditText("TCPIP::10.0.0.5::INSTR")
    assert panel.request().resource == "TCPIP::10.0.0.5::INSTR"


def test_calibration_dates_are_kept_per_serial(tmp_path):
    book = CalibrationBook(QSettings(str(tmp_path / "cal.ini"), QSettings.Format.IniFormat))
    assert book.due("A1") is None
    book.set_due("A1", date(2030, 5, 1))
    book.set_due("B/2", date(2020, 1, 1))
    assert book.due("A1") == date(2030, 5, 1)
    assert book.due("B/2") == date(2020, 1, 1)
    book.set_due("A1", None)
    assert book.due("A1") is None
    today = date(2026, 1, 10)
    assert calibration.status(None, today) == calibration.UNKNOWN
    assert calibration.status(today - timedelta(days=1), today) == calibration.EXPIRED
    assert calibration.status(today + timedelta(days=10), today) == calibration.SOON
    assert calibration.status(today + timedelta(days=100), today) == calibration.VALID


def test_events_read_as_sentences():
    level, text = describe("overrange", {"state": "begin"})
    assert level == ERROR and text.startswith("OVERRANGE")
    _, text = describe("range", {"voltage": 300.0, "previous_voltage": 300.0, "current": 0.005,
                                 "previous_current": 1.0})
    assert text == "Range change: current 1 A → 5 mA"
    _, text = describe("something_new", {"message": "hello"})
    assert text == "something_new: hello"


def test_task_lane_runs_jobs_in_order_and_reports_errors_through_the_inbox():
    inbox = Inbox()
    lane = TaskLane("t", inbox)
    order: list[int] = []
    results = []
    gate = threading.Event()
    lane.submit(lambda: gate.wait(5) and order.append(1), None)
    lane.submit(lambda: order.append(2) or "two", lambda r, e: results.append((r, e)))
    lane.submit(lambda: 1 / 0, lambda r, e: results.append((r, type(e))))
    assert lane.busy
    gate.set()
    lane.close(5)
    assert order == [1, 2]
    for _, done, result, error in inbox.drain():
        done(result, error)
    assert results == [("two", None), (None, ZeroDivisionError)]


def test_inbox_is_bounded_and_counts_what_it_dropped():
    inbox = Inbox(capacity=10)
    for i in range(25):
        inbox.post(("x", i))
    items = inbox.drain()
    assert len(items) == 10 and items[0] == ("x", 15) and inbox.dropped == 15


def test_control_items_survive_a_flood_and_keep_their_place_among_the_data():
    inbox = Inbox(capacity=10)
    inbox.post(("x", 0))
    inbox.post_control(("task", "first", None, None))
    for i in range(1, 50):
        inbox.post(("x", i))
        if i % 10 == 0:
            inbox.post_control(("task", f"after {i}", None, None))
    items = inbox.drain(limit=3)
    items += inbox.drain()
    assert [it[1] for it in items if it[0] == "task"] == ["first", "after 10", "after 20", "after 30", "after 40"]
    data = [it[1] for it in items if it[0] == "x"]
    assert data == list(range(40, 50)) and inbox.dropped == 40
    # the data that is left is in order with the control items: "after 40" before 41..49
    assert items.index(("task", "after 40", None, None)) < items.index(("x", 41))
    assert len(inbox) == 0


def test_connection_events_are_control_and_range_events_are_data():
    inbox = Inbox(capacity=5)
    listener = inbox.event_listener("inst0")
    listener("disconnected", t=1.0, message="cable")
    for i in range(100):
        listener("range", t=2.0 + i, current=1.0)
    listener("reconnected", t=200.0, attempt=1)
    kinds = [it[2] for it in inbox.drain()]
    assert kinds == ["disconnected", "range", "range", "range", "range", "range", "reconnected"]
    assert inbox.dropped == 95


def test_a_flood_is_told_once_when_it_is_over():
    inbox = Inbox(capacity=4)
    for i in range(20):
        inbox.post(("x", i))
    inbox.drain(limit=2)
    assert inbox.take_drop_notice() == 0  # still behind: the count is still growing
    inbox.drain()
    assert inbox.take_drop_notice() == 16
    assert inbox.take_drop_notice() == 0  # told once
    inbox.post(("x", 99))
    inbox.drain()
    assert inbox.take_drop_notice() == 0 and inbox.dropped == 16


def test_a_failing_callback_does_not_stop_the_ones_behind_it():
    inbox = Inbox()
    ran = []
    inbox.call_soon(lambda: 1 / 0)
    inbox.call_soon(ran.append, "second")
    inbox.post(("disk", "/", 1))
    handled = [run_callback(item) for item in inbox.drain()]
    assert handled == [True, True, False] and ran == ["second"]
