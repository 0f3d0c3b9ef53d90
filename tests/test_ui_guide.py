"""The guided measurement in the window: an operator clicks through setup, ranging, ranges,
testing, review and export on the simulated analyzer with a fake LoadGen workload, and watches
the runs on the guide's live page (the procedure's own analyzers in the window's plot and
readout, the workload state, the times, the live checks)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox

from instruments import registry
from station.bundle.verify import verify_bundle
from station.core.journal import JournalReader
from station.procedure import Step
from station.ui import guide as guide_mod
from station.ui.guide import PAGE_LIVE, STATUS_COLOURS, GuideWidget
from station.ui.guide_text import EventWording
from tests.helpers.guided_runs import SHORT, hand_average, loadgen_times, make_workload

DEADLINE_MS = 120_000
pytestmark = pytest.mark.timeout(300)
OLD_LOG_LINE = re.compile(r"^[a-z ]+: \w+=")  # the old log's "step: step=testing", "run start: run=ranging, ..."


@pytest.fixture
def guide(qtbot, tmp_path):
    g = GuideWidget(tmp_path / "session", rule_overrides=SHORT)
    qtbot.addWidget(g)
    g.resize(1100, 900)
    g.show()
    yield g
    g.close_procedure()
    # pytest-qt deletes the widget while this waits, so wait on the lane, not on the widget's callback
    qtbot.waitUntil(lambda: not g.lane.busy, timeout=DEADLINE_MS)


def _fill_setup(g: GuideWidget, tmp_path, duration: float = 0.4) -> None:
    g.operator.setText("Ada")
    g.sut.setText("test box")
    g.scenario.setCurrentText("Offline")
    g.rules.setCurrentText("mlperf-inference")
    g.select_driver("sim")
    g.options.setText("profile=training seed=3")
    g.workload.setText(make_workload(tmp_path, duration=duration))


def _opened_urls(monkeypatch) -> list[str]:
    """What the guide asks the desktop to open (instead of opening it)."""
    urls: list[str] = []

    def open_url(url) -> bool:
        urls.append(url.toLocalFile())
        return True

    monkeypatch.setattr(guide_mod.QDesktopServices, "openUrl", staticmethod(open_url))
    return urls


def _click_and_wait(qtbot, g: GuideWidget, until_step: Step) -> None:
    assert g.primary.isEnabled(), g.primary.text()
    g.primary.click()
    qtbot.waitUntil(lambda: not g.busy and g.proc.step == until_step or bool(g.proc.problem),
                    timeout=DEADLINE_MS)
    g.refresh()
    assert g.proc.problem is None, g.proc.problem


@pytest.mark.slow
def test_operator_clicks_through_to_a_valid_result_and_a_verified_bundle(qtbot, guide, tmp_path, monkeypatch):
    g = guide
    urls = _opened_urls(monkeypatch)
    assert "operator" in g.do_now.text() and g.primary.text() == "Start setup"
    _fill_setup(g, tmp_path)
    _click_and_wait(qtbot, g, Step.RANGING)
    assert g.primary.text() == "Start ranging run" and "auto ranges" in g.do_now.text()
    assert g.pages.currentIndex() == PAGE_LIVE
    _click_and_wait(qtbot, g, Step.RANGE_SELECTION)
    # the ranging run was on screen from the procedure's own analyzer: every recorded sample is in
    # the store the plot read (a second simulator would hold other samples)
    journal = np.asarray(JournalReader(tmp_path / "session" / "ranging").samples("sim-1"))
    shown = g.runs["ranging"].stores["sim-1"]
    assert shown.total_samples == len(journal) > 0
    assert shown.span() == (journal["t"][0], journal["t"][-1])
    assert float(shown.latest(1)["w"][0]) == float(journal["w"][-1])
    # the proposal is on screen with its reason: 300 V and 50 A for the simulated training node's
    # load while the workload runs (up to about 5.9 kW on 230 V)
    assert g.range_table.rowCount() == 1
    assert g.range_table.cellWidget(0, 1).value() == 300.0 and g.range_table.cellWidget(0, 2).value() == 50.0
    assert "1.1 x largest current" in g.range_table.item(0, 5).text()
    assert g.primary.text() == "Confirm ranges"
    _click_and_wait(qtbot, g, Step.TESTING)
    _click_and_wait(qtbot, g, Step.TESTING)  # the testing run
    assert g.primary.text() == "Go to review"
    _click_and_wait(qtbot, g, Step.REVIEW)
    assert g.verdict.text() == "VALID, NOT COMPLIANT"  # shortened rules: a rehearsal
    assert "min_testing_s" in g.verdict.toolTip()
    out = tmp_path / "session"
    begin, end, _ = loadgen_times(out / "testing_1" / "mlperf_log_detail.txt")
    avg, _n = hand_average(out / "testing_1", begin, end)
    assert g.metric_label.text().startswith("Metric: ") and g.metric_label.text().endswith(" W")
    assert float(g.metric_label.text().split()[1]) == pytest.approx(avg, rel=1e-5)
    # what the operator watched agrees with the metric: the live plot's average over the metric's
    # window within the uncertainty the review states, and it is said on the page
    c = g.comparison
    assert c is not None and c["run"] == "testing_1" and c["window_source"] == "loadgen"
    assert c["metric_w"] == pytest.approx(avg, rel=1e-5)
    assert c["uncertainty"] is not None and 0 < c["uncertainty"] < 0.01
    assert abs(c["plot_w"] - c["metric_w"]) <= c["uncertainty"] * c["metric_w"] and c["agree"]
    assert c["watched_w"] is not None and abs(c["watched_w"] - c["metric_w"]) <= 0.05 * c["metric_w"]
    assert "You watched" in g.watched_label.text() and "within" in g.watched_label.text()
    names = [g.checks.item(r, 0).text() for r in range(g.checks.rowCount())]
    assert "testing_1 sim-1: fixed ranges" in names
    _click_and_wait(qtbot, g, Step.DONE)
    assert g.primary.text() == "Export bundle"
    g.primary.click()
    qtbot.waitUntil(lambda: (g.refresh() or g.export_result is not None), timeout=DEADLINE_MS)
    bundle = tmp_path / "session-bundle"
    assert str(bundle) in g.export_label.text()
    result = verify_bundle(bundle)
    assert result["valid"], [c for c in result["checks"] if c["status"] == "fail"]
    assert (bundle / "run_1" / "spl.txt").is_file() and (bundle / "run_1" / "mlperf_log_detail.txt").is_file()
    # the end offers the report and the folder, and cannot export twice
    g.refresh()
    assert g.open_report_button.isVisible() and g.open_folder_button.isVisible()
    assert g.primary.text() == "Exported" and not g.primary.isEnabled()
    g.open_report_button.click()
    g.open_folder_button.click()
    assert urls == [str(g.report_path()), str(bundle)]
    assert g.report_path().parent == bundle and g.report_path().name in ("report.pdf", "report.html")
    # the log reads as sentences
    for line in ("The ranging run started.", "Testing run 1 started.", "The workload ended normally."):
        assert line in g.log_lines, g.log_lines
    confirmed = [x for x in g.log_lines if x.startswith("Ranges confirmed for sim-1: 300 V / 50 A (proposed from "
                                                         "the ranging maxima ")]
    assert len(confirmed) == 1, g.log_lines
    assert not [x for x in g.log_lines if OLD_LOG_LINE.match(x) or not x[0].isupper()], g.log_lines


@pytest.mark.slow
def test_a_too_small_override_is_audited_and_the_run_flagged_invalid(qtbot, guide, tmp_path):
    g = guide
    _fill_setup(g, tmp_path)
    _click_and_wait(qtbot, g, Step.RANGING)
    _click_and_wait(qtbot, g, Step.RANGE_SELECTION)
    g.range_table.cellWidget(0, 2).setValue(5.0)  # 5 A for a 3 kW load: too small
    g.refresh()
    assert g.primary.text() == "Apply override"
    g.primary.click()  # no reason given: refused, said on screen
    g.refresh()
    assert g.proc.step == Step.RANGE_SELECTION and "reason" in g.problem.text()
    g.override_reason.setText("testing the overrange check")
    _click_and_wait(qtbot, g, Step.TESTING)
    events = [json.loads(x) for x in (tmp_path / "session" / "audit.jsonl").read_text().splitlines()]
    override = [e for e in events if e["kind"] == "ranges_override"]
    assert override and "testing the overrange check" in json.dumps(override[0])
    _click_and_wait(qtbot, g, Step.TESTING)
    # the overrange was a failing live check on the live page: first, in red, and it stays after the run
    assert g.live_check_rows and g.live_check_rows[0][0] == "fail"
    assert any(name == "overrange" and status == "fail" for status, name, _ in g.live_check_rows)
    first_row = g.live_checks.findChildren(QLabel)[0]
    assert STATUS_COLOURS["fail"] in first_row.text() and "FAIL" in first_row.text()
    assert any(x.startswith("Check failed in testing run 1: overrange — ") for x in g.log_lines), g.log_lines
    assert any(x.startswith("Ranges overridden for sim-1 by Ada: 300 V / 5 A instead of the proposed 300 V / 50 A.")
               for x in g.log_lines), g.log_lines
    _click_and_wait(qtbot, g, Step.REVIEW)
    assert g.verdict.text() == "NOT VALID"
    first = g.checks.item(0, 1).text(), g.checks.item(0, 2).text()
    assert first[0] == "FAIL"
    assert any("range" in g.checks.item(r, 0).text().lower() or "overrange" in g.checks.item(r, 2).text().lower()
               for r in range(g.checks.rowCount()) if g.checks.item(r, 1).text() == "FAIL")


@pytest.mark.slow
def test_the_guide_in_the_window_runs_on_its_lane_and_never_holds_the_gui_thread(qtbot, tmp_path):
    """Driven through the station window: the steps run on the window's guide lane, the
    procedure's events arrive through the window's inbox, and while the analyzers take their
    time to close (finishing the review) the window keeps drawing frames."""
    import threading

    from station.procedure.machine import default_session_factory
    from station.ui.app import create_window

    release_close = threading.Event()
    closing = threading.Event()

    def slow_closing_factory(spec, inst_id, interval_s):
        session = default_session_factory(spec, inst_id, interval_s)
        real_close = session.close

        def close():
            closing.set()
            release_close.wait(60)
            real_close()

        session.close = close
        return session

    w = create_window(demo=False)
    w.show()
    g = w.new_guide(tmp_path / "session", rule_overrides=SHORT, session_factory=slow_closing_factory)
    g.resize(1100, 900)
    g.show()
    on_gui_thread: list[bool] = []
    real_handler = g._on_procedure_event

    def handler(kind, detail):
        on_gui_thread.append(threading.current_thread() is threading.main_thread())
        real_handler(kind, detail)

    g._on_procedure_event = handler
    try:
        assert g.inbox is w.inbox and g.lane is w.guide_lane
        _fill_setup(g, tmp_path)
        for step in (Step.RANGING, Step.RANGE_SELECTION, Step.TESTING, Step.TESTING, Step.REVIEW):
            _click_and_wait(qtbot, g, step)
        assert g.verdict.text() == "VALID, NOT COMPLIANT"  # shortened rules: a rehearsal
        assert "min_testing_s" in g.verdict.toolTip()
        assert on_gui_thread and all(on_gui_thread)
        qtbot.waitUntil(lambda: any(line.startswith("The review is ready") for line in g.log_lines), timeout=10000)

        g.primary.click()  # finish the review: closes the analyzers, which hang until released
        assert closing.wait(30)
        ticks = w.ticks
        qtbot.waitUntil(lambda: w.ticks >= ticks + 10, timeout=DEADLINE_MS)  # the window still draws
        g.refresh()
        assert g.busy and not g.primary.isEnabled() and g.proc.step == Step.REVIEW
        release_close.set()
        qtbot.waitUntil(lambda: not g.busy and g.proc.step == Step.DONE, timeout=DEADLINE_MS)
        qtbot.waitUntil(lambda: g.primary.text() == "Export bundle" and g.primary.isEnabled(), timeout=DEADLINE_MS)
    finally:
        release_close.set()
        g.close_procedure()
        qtbot.waitUntil(lambda: g.closed, timeout=DEADLINE_MS)
        g.close()
        w.shutdown()
        w._close_ready = True
        w.close()


@pytest.mark.slow
def test_the_live_page_shows_the_testing_run_as_it_happens(qtbot, tmp_path):
    """While the workload runs the page says so, with elapsed and remaining time, the big power
    readout of the procedure's analyzer, the plot and the live checks; at the end it says the run
    ended and keeps the whole run in view."""
    g = GuideWidget(tmp_path / "session", rule_overrides=["min_testing_s=1.5", "settle_s=0.3",
                                                          "sample_interval_s=0.05"])
    qtbot.addWidget(g)
    g.resize(1280, 900)
    g.show()
    try:
        _fill_setup(g, tmp_path, duration=5.0)  # long enough to look at it while it runs, even on a slow machine
        _click_and_wait(qtbot, g, Step.RANGING)
        assert "No run yet" in g.workload_state.text()
        _click_and_wait(qtbot, g, Step.RANGE_SELECTION)
        _click_and_wait(qtbot, g, Step.TESTING)
        g.primary.click()  # the testing run
        qtbot.waitUntil(lambda: g.workload_running and g.live_run.name == "testing_1", timeout=DEADLINE_MS)
        g.refresh()
        assert g.pages.currentIndex() == PAGE_LIVE
        assert g.workload_state.text().startswith("● WORKLOAD RUNNING")
        assert g.workload_state.property("state") == "running"
        store = g.live_run.stores["sim-1"]
        assert g.plot.store is store and g.plot.live
        qtbot.waitUntil(lambda: g.plot.last_summary is not None and len(g.plot.last_summary) > 0,
                        timeout=DEADLINE_MS)
        power = g.readout.power.text()
        assert power.endswith("W") and power[0].isdigit(), power
        assert re.fullmatch(r"Testing run 1: \d+:\d\d elapsed", g.elapsed_label.text())
        remaining = g.remaining_label.text()
        assert "minimum duration" in remaining and "in the ranging run" in remaining, remaining
        assert "Workload average so far" in g.workload_avg_label.text()
        qtbot.waitUntil(lambda: any(name == "duration" for _, name, _ in g.live_check_rows), timeout=DEADLINE_MS)
        assert all(status in STATUS_COLOURS for status, _, _ in g.live_check_rows)

        qtbot.waitUntil(lambda: not g.busy and g.proc.testing_done == 1, timeout=DEADLINE_MS)
        qtbot.waitUntil(lambda: g.live_run.ended is not None, timeout=DEADLINE_MS)
        g.refresh()
        assert g.workload_state.text().startswith("Testing run 1 ended") and not g.workload_running
        assert ("pass", "duration") in [(status, name) for status, name, _ in g.live_check_rows]
        assert not g.plot.live  # the recorded run stays in view, no longer followed
        assert [text for _, text in g.plot.marks] == ["workload begins", "workload ends"]
        assert g.live_run.workload_end - g.live_run.workload_begin >= 5.0
        assert "Workload average:" in g.workload_avg_label.text()
    finally:
        g.close_procedure()
        qtbot.waitUntil(lambda: not g.lane.busy, timeout=DEADLINE_MS)


@pytest.mark.slow
def test_esc_closes_the_guide_and_asks_first_while_a_run_is_in_progress(qtbot, tmp_path, monkeypatch):
    from station.ui.measure_menu import GuideWindow

    asked: list[str] = []
    answer = {"value": QMessageBox.StandardButton.No}

    def question(parent, title, text, *args, **kwargs):
        asked.append(title)
        return answer["value"]

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))

    idle = GuideWindow(tmp_path / "idle")
    qtbot.addWidget(idle)
    idle.show()
    qtbot.keyClick(idle.guide.operator, Qt.Key.Key_Escape)  # from a field of the page
    assert not idle.isVisible() and asked == []  # nothing runs: no question
    qtbot.waitUntil(lambda: idle.guide.closed, timeout=DEADLINE_MS)

    gw = GuideWindow(tmp_path / "busy")
    qtbot.addWidget(gw)
    g = gw.guide
    g.rule_overrides = list(SHORT)
    gw.show()
    _fill_setup(g, tmp_path, duration=60.0)
    _click_and_wait(qtbot, g, Step.RANGING)
    g.primary.click()
    qtbot.waitUntil(lambda: g.workload_running, timeout=DEADLINE_MS)
    qtbot.keyClick(g.live_list, Qt.Key.Key_Escape)
    assert asked == ["Stop the measurement?"] and gw.isVisible() and g.proc.busy  # "No": the run goes on
    answer["value"] = QMessageBox.StandardButton.Yes
    qtbot.keyClick(g.live_list, Qt.Key.Key_Escape)
    assert len(asked) == 2 and not gw.isVisible()
    qtbot.waitUntil(lambda: g.closed, timeout=DEADLINE_MS)
    assert not g.proc.busy and (tmp_path / "busy" / "discarded").is_dir()  # cancelled: nothing half-done kept


def test_the_analyzer_is_chosen_from_the_installed_drivers(qtbot, tmp_path):
    g = GuideWidget(tmp_path / "session")
    qtbot.addWidget(g)
    try:
        names = [g.driver.itemData(i) for i in range(g.driver.count())]
        assert names == list(registry.available()) and not g.driver.isEditable()
        assert g.driver.currentData() == "sim" and "none needed" in g.resource.placeholderText()
        g.select_driver("wt300e")
        assert "TCPIP::" in g.resource.placeholderText()  # the driver's own resource forms
        g.operator.setText("Ada")
        g.resource.setText("TCPIP::192.0.2.7::INSTR")
        spec = g.setup_info().instruments[0]
        assert (spec.driver, spec.resource) == ("wt300e", "TCPIP::192.0.2.7::INSTR")
        with pytest.raises(Exception, match="no driver 'nosuch'"):
            g.select_driver("nosuch")
    finally:
        g.close_procedure()
        qtbot.waitUntil(lambda: not g.lane.busy, timeout=DEADLINE_MS)


def test_the_log_says_the_procedure_events_as_sentences():
    w = EventWording()
    assert w.describe("busy", {"action": "testing"}) is None
    assert w.describe("step", {"step": "testing"}) == ("info", "Testing runs can start now, on the fixed ranges.")
    assert w.describe("step", {"step": "testing"}) is None  # said once, not after every testing run
    assert w.describe("run_start", {"run": "testing_1", "run_kind": "testing"}) == ("info", "Testing run 1 started.")
    assert w.describe("run_start", {"run": "ranging", "run_kind": "ranging"}) == ("info", "The ranging run started.")
    w.describe("ranges_proposed", {"proposal": {"wt-1": {"voltage": 300.0, "current": 5.0, "max_volts": 231.0,
                                                         "max_amps": 3.9, "why": "", "problem": None}}})
    assert w.describe("ranges_confirmed", {"instrument": "wt-1", "voltage": 300.0, "current": 5.0}) == (
        "info", "Ranges confirmed for wt-1: 300 V / 5 A (proposed from the ranging maxima 231 V / 3.90 A).")
    level, text = w.describe("workload_ended", {"exit_status": 3})
    assert level == "fail" and "exit status 3" in text and "does not count" in text
    assert w.describe("check", {"run": "testing_1", "name": "gaps", "status": "pass", "evidence": "none"}) is None
    assert w.describe("check", {"run": "testing_2", "name": "overrange", "status": "fail",
                                "evidence": "wt-1 overrange at 12:00:01"}) == (
        "fail", "Check failed in testing run 2: overrange — wt-1 overrange at 12:00:01.")
    # a warning whose evidence changes every tick (an average so far) is said once, when it turns
    said = [w.describe("check", {"run": "testing_1", "name": "testing_vs_ranging", "status": status,
                                 "evidence": f"average so far {p} W"})
            for status, p in (("warn", 90), ("warn", 91), ("warn", 92), ("pass", 99), ("warn", 93))]
    assert [s and s[1] for s in said] == [
        "Warning in testing run 1: testing_vs_ranging — average so far 90 W.", None, None, None,
        "Warning in testing run 1: testing_vs_ranging — average so far 93 W."]
    assert w.describe("step_failed", {"action": "testing", "message": "testing_1 failed: no samples"}) == (
        "fail", "Testing run 1 failed: no samples.")
