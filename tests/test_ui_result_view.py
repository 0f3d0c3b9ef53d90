"""The result view: a bundle opened in the window shows its verdict, checks, metric and plots."""

from __future__ import annotations

import numpy as np
import pytest

from station.bundle.export import export_session
from station.bundle.result_model import ResultError, load_result
from station.ui.result_view import ResultView
from tests.helpers.sessions import make_session


@pytest.fixture
def bundle(tmp_path):
    return export_session(make_session(tmp_path), tmp_path / "bundle", make_zip=False).directory


def test_bundle_shows_verdict_checks_metric_and_plots(qtbot, bundle, tmp_path):
    model = load_result(bundle)
    view = ResultView(model)
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()
    # its review passed under the lab rule set: valid, and the view says why it is not compliant
    assert view.verdict.text().startswith("VALID, NOT COMPLIANT")
    assert "lab rule set" in view.verdict_detail.text() and "compliant no" in view.verdict_detail.text()
    assert "98 W" in view.metric_label.text()
    names = [view.checks_table.item(r, 0).text() for r in range(view.checks_table.rowCount())]
    assert "files" in names and "audit chain" in names and "rule: uncertainty" in names
    assert len(view.plots) == 2
    # the testing plot draws the recorded power, with the workload window shaded
    items = view.plots[1].getPlotItem().listDataItems()
    ys = np.concatenate([i.getData()[1] for i in items if i.getData()[1] is not None])
    assert 85 < np.nanmin(ys) and np.nanmax(ys) < 110
    view.grab().save(str(tmp_path / "result.png"))


def test_tampered_bundle_shows_not_valid_with_the_failing_check_first(qtbot, bundle):
    npy = bundle / "samples/testing_1/sim-1.npy"
    data = bytearray(npy.read_bytes())
    data[-3] ^= 0xFF
    npy.write_bytes(bytes(data))
    view = ResultView(load_result(bundle))
    qtbot.addWidget(view)
    assert view.verdict.text().startswith("INTEGRITY FAILED")
    assert "samples/testing_1/sim-1.npy" in view.verdict_detail.text()
    assert view.checks_table.item(0, 1).text() == "FAIL"


def test_a_directory_without_a_result_is_refused_clearly(tmp_path):
    with pytest.raises(ResultError, match="neither a station bundle"):
        load_result(tmp_path)


def test_the_window_opens_a_result_from_the_measure_menu(qtbot, bundle, tmp_path):
    from station.ui.app import create_window
    from station.ui.measure_menu import ResultWindow, show_result

    w = create_window(demo=False)
    qtbot.addWidget(w)
    assert set(w.measure_actions) == {"guide", "tiny", "result"}
    show_result(w, bundle)
    qtbot.waitUntil(lambda: any(isinstance(x, ResultWindow) for x in w._measure_windows), timeout=60_000)
    rw = next(x for x in w._measure_windows if isinstance(x, ResultWindow))
    assert "VALID" in rw.centralWidget().verdict.text()
    w.shutdown()
    w._close_ready = True


def test_a_published_mlperf_directory_opens_with_its_checks_and_plots(qtbot, tmp_path):
    from tests.helpers.published_results import make_published

    make_published(tmp_path / "pub", testing_w=95.0)  # 5.9 % below ranging: not valid
    view = ResultView(load_result(tmp_path / "pub"))
    qtbot.addWidget(view)
    assert "NOT VALID" in view.verdict.text() and "95 W" in view.metric_label.text()
    assert view.checks_table.item(0, 0).text() == "testing vs ranging power"
    assert len(view.plots) == 2


def test_a_result_loads_on_the_window_lane_while_the_window_keeps_drawing(qtbot, bundle, tmp_path, monkeypatch):
    import threading

    from station.bundle import result_model
    from station.ui.app import create_window
    from station.ui.measure_menu import ResultWindow, show_result

    release = threading.Event()
    real_load = result_model.load_result

    def slow_load(path):
        release.wait(60)  # a big bundle: verifying hashes every file
        return real_load(path)

    monkeypatch.setattr(result_model, "load_result", slow_load)
    w = create_window(demo=False)
    qtbot.addWidget(w)
    w.show()
    try:
        show_result(w, bundle)  # returns at once: the loading waits on the lane
        assert w.probe_lane.busy and not release.is_set()
        ticks = w.ticks
        qtbot.waitUntil(lambda: w.ticks >= ticks + 10, timeout=60_000)
        qtbot.waitUntil(lambda: w.state_label.text() == f"opening {bundle.name}…", timeout=60_000)
        release.set()
        qtbot.waitUntil(lambda: any(isinstance(x, ResultWindow) for x in w._measure_windows), timeout=60_000)
        assert "VALID" in w._measure_windows[-1].centralWidget().verdict.text()

        failures: list[str] = []
        (tmp_path / "nothing-here").mkdir()
        w.open_result(tmp_path / "nothing-here", lambda model: failures.append("shown"), failures.append)
        qtbot.waitUntil(lambda: bool(failures), timeout=60_000)
        assert "neither a station bundle" in failures[0]
        assert any(x.startswith(f"Cannot open the result {tmp_path / 'nothing-here'}") for x in w.log.texts())
        assert w.loading_run is None
    finally:
        release.set()
        w.shutdown()
        w._close_ready = True
