"""The guided measurement in the window: an operator clicks through setup, ranging, ranges,
testing, review and export on the simulated analyzer with a fake LoadGen workload."""

from __future__ import annotations

import json

import pytest

from station.bundle.verify import verify_bundle
from station.procedure import Step
from station.ui.guide import GuideWidget
from tests.test_procedure import SHORT, hand_average, loadgen_times, make_workload

DEADLINE_MS = 120_000


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


def _fill_setup(g: GuideWidget, tmp_path) -> None:
    g.operator.setText("Ada")
    g.sut.setText("test box")
    g.scenario.setCurrentText("Offline")
    g.rules.setCurrentText("mlperf-inference")
    g.select_driver("sim")
    g.options.setText("profile=training seed=3")
    g.workload.setText(make_workload(tmp_path))


def _click_and_wait(qtbot, g: GuideWidget, until_step: Step) -> None:
    assert g.primary.isEnabled(), g.primary.text()
    g.primary.click()
    qtbot.waitUntil(lambda: not g.busy and g.proc.step == until_step or bool(g.proc.problem),
                    timeout=DEADLINE_MS)
    g.refresh()
    assert g.proc.problem is None, g.proc.problem


def test_operator_clicks_through_to_a_valid_result_and_a_verified_bundle(qtbot, guide, tmp_path):
    g = guide
    assert "operator" in g.do_now.text() and g.primary.text() == "Start setup"
    _fill_setup(g, tmp_path)
    _click_and_wait(qtbot, g, Step.RANGING)
    assert g.primary.text() == "Start ranging run" and "auto ranges" in g.do_now.text()
    _click_and_wait(qtbot, g, Step.RANGE_SELECTION)
    # the proposal is on screen with its reason: 300 V and 20 A for a 3 kW load on 230 V
    assert g.range_table.rowCount() == 1
    assert g.range_table.cellWidget(0, 1).value() == 300.0 and g.range_table.cellWidget(0, 2).value() == 20.0
    assert "1.1 x largest current" in g.range_table.item(0, 5).text()
    assert g.primary.text() == "Confirm ranges"
    _click_and_wait(qtbot, g, Step.TESTING)
    _click_and_wait(qtbot, g, Step.TESTING)  # the testing run
    assert g.primary.text() == "Go to review"
    _click_and_wait(qtbot, g, Step.REVIEW)
    assert g.verdict.text() == "VALID"
    out = tmp_path / "session"
    begin, end, _ = loadgen_times(out / "testing_1" / "mlperf_log_detail.txt")
    avg, _n = hand_average(out / "testing_1", begin, end)
    assert g.metric_label.text().startswith("Metric: ") and g.metric_label.text().endswith(" W")
    assert float(g.metric_label.text().split()[1]) == pytest.approx(avg, rel=1e-5)
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
    g.grab().save(str(tmp_path / "guide-review.png"))


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
    _click_and_wait(qtbot, g, Step.REVIEW)
    assert g.verdict.text() == "NOT VALID"
    first = g.checks.item(0, 1).text(), g.checks.item(0, 2).text()
    assert first[0] == "FAIL"
    assert any("range" in g.checks.item(r, 0).text().lower() or "overrange" in g.checks.item(r, 2).text().lower()
               for r in range(g.checks.rowCount()) if g.checks.item(r, 1).text() == "FAIL")


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
        assert g.verdict.text() == "VALID"
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
