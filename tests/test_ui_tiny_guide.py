"""The MLPerf Tiny energy run in the window, on the emulated DUT + interface board and the fake
LPM01A (instruments.fakes), their clock ten times faster than the wall clock as in
tests/test_tiny_procedure.py: the operator chooses the boards, starts the run, watches each
trial's window appear on the plot and reads the median and the verdict."""

from __future__ import annotations

import json
import re
import time

import pytest
from PySide6.QtCore import QTimer

from station.ui.tiny_guide import PAGE_RUN, PAGE_SETUP, TinyGuideWidget

SPEED = 10.0
DEADLINE_MS = 150_000
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def guide(qtbot, tmp_path):
    g = TinyGuideWidget(tmp_path / "tiny-out")
    qtbot.addWidget(g)
    g.resize(1400, 900)
    g.show()
    yield g
    g.stop()
    qtbot.waitUntil(lambda: not g.lane.busy, timeout=DEADLINE_MS)  # the boards are closed by the run
    g.close_run()


@pytest.fixture
def dataset(tmp_path):
    d = tmp_path / "dataset"
    d.mkdir()
    for i in range(5):
        (d / f"tst_{i:06d}.bin").write_bytes(bytes((i * 11 + k) % 256 for k in range(80)))
    return d


def _start_emulated(g: TinyGuideWidget, dataset, inferences: int = 0) -> None:
    g.use_emulation(SPEED)
    g.dataset.setText(str(dataset))
    g.inferences_spin.setValue(inferences)
    assert g.primary.text() == "Start energy run" and g.primary.isEnabled()
    g.primary.click()


class TickGaps:
    """The longest wait between two ticks of a 50 ms GUI timer: how long the window froze."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.longest = 0.0
        self.timer = QTimer()
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.longest = max(self.longest, now - self.last)
        self.last = now


@pytest.mark.slow
def test_a_guided_run_marks_five_windows_as_they_happen_and_shows_the_median_of_results_txt(
        qtbot, guide, dataset, tmp_path, capsys):
    g = guide
    gaps = TickGaps()
    _start_emulated(g, dataset)
    assert g.pages.currentIndex() == PAGE_RUN and g.running
    assert g.emulation_banner.isVisible() and "EMULATED" in g.emulation_banner.text()
    assert not g.primary.isEnabled() and g.stop_button.isEnabled()
    # The first window is shaded and labelled while the run goes on, not only at the end.
    qtbot.waitUntil(lambda: len(g.windows) >= 1 or not g.running, timeout=DEADLINE_MS)
    assert g.running and len(g.windows) == 1, g.log_lines
    assert g.median.text().startswith("Median so far: ") and "(1 of 5 windows)" in g.median.text()
    assert g.plot.store is not None and g.plot.store.total_samples > 0
    qtbot.waitUntil(lambda: not g.running, timeout=DEADLINE_MS)
    gaps.timer.stop()
    assert g.failure is None, g.failure
    # The window never froze: the run is on the lane, the GUI thread only drew.
    assert gaps.longest < 1.0, gaps.longest

    out = tmp_path / "tiny-out"
    results = (out / "results.txt").read_text()
    printed = re.search(r"Median energy cost is ([\d.]+) uJ/inf\.", results).group(1)
    assert g.median.text() == f"Median: {printed} uJ/inference"
    assert g.verdict.text() == "VALID" and "Every check passed over 5 windows" in g.reason.text()
    assert "EMULATED" in g.reason.text()

    trials = json.loads((out / "results.json").read_text())
    windows = g.summary["windows"]
    n = g.summary["inferences_per_window"]
    assert len(g.windows) == 5 and [m.trial for m in g.windows] == [0, 1, 2, 3, 4]
    for mark, w, trial in zip(g.windows, windows, trials, strict=True):
        # "trial k: N inferences, E uJ/inf", E as the procedure scored the window
        assert mark.text.replace("\n", " ") == f"trial {w['trial']}: {n} inferences, {w['uj_per_inference']:.3f} uJ/inf"
        # the shaded region spans the window between the two timestamp edges of results.json
        x0, x1 = mark.region.getRegion()
        first, last = trial["power"]["timestamps"][-2][1], trial["power"]["timestamps"][-1][1]
        assert x1 - x0 == pytest.approx((last - first) / 1000.0, abs=1e-6)
        assert x1 - x0 >= 10.0 and mark.region.isVisible()
    # the trial list: one row per trial with its energy per inference and the +/- 1 sample doubt
    assert g.trials.rowCount() == 5
    for k, w in enumerate(windows):
        assert g.trials.item(k, 1).text() == trials[k]["file"]
        assert g.trials.item(k, 5).text() == (f"{w['uj_per_inference']:.3f} ± "
                                              f"{w['uj_per_inference_uncertainty']:.3f}")
    assert g.checks.isVisible() and g.checks.rowCount() == len(g.summary["checks"])
    assert g.primary.text() == "Run again" and g.primary.isEnabled() and g.open_folder_button.isEnabled()
    # where the runner's files and the bundle went, and `station verify`'s first line for the bundle
    assert g.files.isVisible() and f"(results.txt, results.json, log.txt): {out}" in g.files.text()
    assert g.verify_line == _verify_first_line(out / "station", capsys) and g.verify_line in g.files.text()
    assert g.open_report_button.isEnabled() and g.report_path == out / "station" / "report.html"


@pytest.mark.slow
def test_a_missing_timestamp_edge_reads_not_valid_with_the_reason(qtbot, guide, dataset, tmp_path):
    g = guide
    g.emulation_faults = {"missing_edge_trial": 2}
    _start_emulated(g, dataset, inferences=850)  # 10.6 s windows, no calibration: trial 2 is the third infer
    qtbot.waitUntil(lambda: not g.running, timeout=DEADLINE_MS)
    assert g.failure is None, g.failure
    assert g.verdict.text() == "NOT VALID"
    assert "timestamp events" in g.reason.text() and "trial 2: 1 events" in g.reason.text(), g.reason.text()
    assert [m.trial for m in g.windows] == [0, 1, 3, 4]  # no window drawn where there was none
    assert "no window" in g.trials.item(2, 3).text()
    assert g.checks.item(0, 1).text() == "FAIL"  # failed checks first


@pytest.mark.slow
def test_stopping_a_run_keeps_nothing_and_the_window_can_start_again(qtbot, guide, dataset, tmp_path):
    g = guide
    _start_emulated(g, dataset)
    qtbot.waitUntil(lambda: g.trial is not None or not g.running, timeout=DEADLINE_MS)
    g.stop_button.click()
    qtbot.waitUntil(lambda: not g.running, timeout=DEADLINE_MS)
    assert g.summary is None and "stopped" in g.failure and g.problem.isVisible()
    assert g.verdict.text() == "NO RESULT" and g.median.text() == ""
    assert not (tmp_path / "tiny-out" / "results.txt").exists()
    assert g.primary.text() == "Run again" and g.primary.isEnabled()


def test_the_setup_says_what_is_missing_and_starts_nothing(qtbot, guide):
    g = guide
    assert g.pages.currentIndex() == PAGE_SETUP
    g.primary.click()
    assert not g.running and not g.lane.busy
    assert g.problem.isVisible()
    assert g.problem.text() == "Give the monitor's port, the interface board's port, the dataset directory."
    g.use_emulation(SPEED)  # the emulated boards need no port and make their own inputs
    assert g.setup().dataset is None and g.setup().emulation_speed == SPEED


def test_the_measure_menu_opens_the_tiny_energy_run(qtbot):
    from station.ui.app import create_window
    from station.ui.tiny_guide import TinyGuideWindow

    w = create_window(demo=False)
    qtbot.addWidget(w)
    w.measure_actions["tiny"].trigger()
    tw = next(x for x in w._measure_windows if isinstance(x, TinyGuideWindow))
    assert tw.isVisible() and tw.guide.primary.text() == "Start energy run"
    assert "tiny" in tw.guide.out.text()
    tw.close()
    assert tw.guide.closed
    w.shutdown()
    w._close_ready = True


def _verify_first_line(path, capsys) -> str:
    from station.cli import main

    capsys.readouterr()
    main(["verify", str(path)])
    return capsys.readouterr().out.splitlines()[0]


@pytest.mark.slow
def test_a_streaming_run_marks_its_one_window_live_and_shows_the_average_power_of_results_txt(
        qtbot, guide, tmp_path, capsys, monkeypatch):
    g = guide
    g.emulated_stream_s = 60.0  # the runner's audio lasts 20 minutes; 60 s keep the test short
    g.use_streaming()
    g.use_emulation(SPEED)
    g.operator.setText("A. Tester")
    assert g.primary.text() == "Start streaming run"
    assert g.form.labelForField(g.dataset.parentWidget()).text() == "Truth file folder"
    assert not g.inferences_spin.isEnabled()
    g.primary.click()
    assert g.running and g.emulation_banner.isVisible()
    # While the audio plays, the open window says how long it has run and its average power so far.
    qtbot.waitUntil(lambda: any(m.stop is None and "mW so far" in m.text for m in g.marks) or not g.running,
                    timeout=DEADLINE_MS)
    assert g.running, (g.failure, g.log_lines)
    assert "Streaming wakeword:" in g.state.text() and "of 60 s of audio played" in g.state.text()
    qtbot.waitUntil(lambda: not g.running, timeout=DEADLINE_MS)
    assert g.failure is None, g.failure

    out = tmp_path / "tiny-out"
    printed = re.search(r"Power\s+: ([\d.]+) mW", (out / "results.txt").read_text()).group(1)
    assert g.median.text() == f"Average power: {printed} mW"
    assert g.verdict.text() == "VALID" and "of streaming" in g.reason.text()
    [mark] = g.windows
    [window] = g.summary["windows"]
    x0, x1 = mark.region.getRegion()
    # the shaded window is the scored one, between the DUT's start and stop edges around the 60 s audio
    assert x1 - x0 == pytest.approx(window["duration_s"], abs=1e-6) and 60.0 <= x1 - x0 < 61.0
    assert mark.text.replace("\n", " ") == f"streaming wakeword: {x1 - x0:.1f} s, {printed} mW average"
    assert g.trials.horizontalHeaderItem(5).text() == "Average (mW)" and g.trials.item(0, 5).text() == printed
    # Where the files went, and what `station verify` says of the bundle, in its own words.
    bundle = out / "station"
    assert g.summary["bundle"] == str(bundle)
    assert g.verify_line == _verify_first_line(bundle, capsys)
    assert g.verify_line == f"{bundle}: station result, VALID"  # the operator was given: compliant too
    assert f"Station bundle: {bundle}" in g.files.text() and g.verify_line in g.files.text()
    assert str(out) in g.files.text() and g.files.isVisible()
    opened = []
    monkeypatch.setattr("station.ui.tiny_guide.QDesktopServices.openUrl", lambda url: opened.append(url.toLocalFile()))
    g.open_report_button.click()
    g.open_folder_button.click()
    assert opened == [str(bundle / "report.html"), str(out)]


def test_joulescope_needs_no_voltage_and_a_bad_setting_starts_nothing(qtbot, guide, dataset, tmp_path):
    g = guide
    assert g.voltage.isEnabled() and not g.monitor_note.isVisible()
    g.monitor.setCurrentIndex(g.monitor.findData("joulescope"))
    # It measures the supply it is wired into: no voltage to set, and the window says why.
    assert not g.voltage.isEnabled() and g.monitor_note.isVisible()
    assert "measures the supply it is wired into" in g.monitor_note.text()
    missing = tmp_path / "nowhere.jls"
    g.monitor_port.setText(str(missing))
    g.interface_port.setText(str(tmp_path / "no-such-port"))
    g.dataset.setText(str(dataset))
    g.primary.click()
    assert not g.running and not g.lane.busy and g.pages.currentIndex() == PAGE_SETUP
    assert g.problem.isVisible() and f"no JLS recording at {missing}" in g.problem.text()
    assert "Nothing was started" in g.problem.text()
    assert not (tmp_path / "tiny-out").exists()
    g.monitor.setCurrentIndex(g.monitor.findData("lpm01a"))
    assert g.voltage.isEnabled() and not g.monitor_note.isVisible()


def test_streaming_asks_for_the_truth_file_folder(qtbot, guide, dataset):
    g = guide
    g.use_streaming()
    g.monitor_port.setText("/dev/ttyACM0")
    g.interface_port.setText("/dev/ttyACM1")
    g.primary.click()
    assert g.problem.text() == "Give the truth file folder."
    g.dataset.setText(str(dataset))  # input files, no truth file
    g.primary.click()
    assert not g.running and "no truth file" in g.problem.text()


@pytest.mark.slow
def test_a_folder_that_holds_a_run_is_kept_and_the_next_run_goes_beside_it(qtbot, guide, dataset, tmp_path):
    g = guide
    earlier = tmp_path / "tiny-out"
    earlier.mkdir()
    (earlier / "results.txt").write_text("an earlier run\n")
    _start_emulated(g, dataset)
    assert g.running and g.out.text() == str(tmp_path / "tiny-out-2")
    assert any("holds an earlier run" in line for line in g.log_lines)
    g.stop_button.click()
    qtbot.waitUntil(lambda: not g.running, timeout=DEADLINE_MS)
    assert (earlier / "results.txt").read_text() == "an earlier run\n"


def test_run_again_keeps_each_run_in_its_own_folder(tmp_path):
    from station.ui.tiny_guide import fresh_out_dir

    out = tmp_path / "tiny-out"
    assert fresh_out_dir(out) == out  # not there yet
    out.mkdir()
    assert fresh_out_dir(out) == out  # there, but no run in it
    (out / "results.txt").write_text("x")
    assert fresh_out_dir(out) == tmp_path / "tiny-out-2"
    (tmp_path / "tiny-out-2" / "station").mkdir(parents=True)
    assert fresh_out_dir(out) == tmp_path / "tiny-out-3"
    assert fresh_out_dir(tmp_path / "tiny-out-2") == tmp_path / "tiny-out-3"  # not tiny-out-2-2


def test_the_open_window_meter_averages_only_the_samples_between_the_edges():
    import numpy as np

    from station.ui.tiny_guide import OpenWindowMeter

    def block(t0: float, n: int, w: float) -> np.ndarray:
        b = np.zeros(n, dtype=[("t", "f8"), ("w", "f8")])
        b["t"], b["w"] = t0 + np.arange(n) / 1000.0, w
        return b

    m = OpenWindowMeter()
    m.block(block(0.0, 1000, 0.003))  # idle, before the start edge
    assert m.reading() is None
    m.block(block(1.0, 1000, 0.006))
    m.edge(1.5)  # the start edge falls inside the block just fed: only its second half counts
    elapsed, mean_w = m.reading()
    assert elapsed == pytest.approx(0.499) and mean_w == pytest.approx(0.006)
    m.block(block(2.0, 1000, 0.009))
    elapsed, mean_w = m.reading()
    assert elapsed == pytest.approx(1.499) and mean_w == pytest.approx((500 * 0.006 + 1000 * 0.009) / 1500)
    m.block(block(3.0, 1000, 0.012))
    m.edge(3.25)  # the stop edge: what came after it is taken out again
    elapsed, mean_w = m.reading()
    assert elapsed == pytest.approx(1.75)
    assert mean_w == pytest.approx((500 * 0.006 + 1000 * 0.009 + 250 * 0.012) / 1750)
