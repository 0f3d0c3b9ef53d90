"""The kiosk window covers the whole screen, its live plot reads forward in time, and after a
cycle it shows the latest result of every profile side by side."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import numpy as np  # noqa: E402
from PySide6.QtCore import QRect, Qt  # noqa: E402
from PySide6.QtGui import QImage, QPainter  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from station.kiosk.config import parse_config  # noqa: E402
from station.kiosk.cycle import CycleResult, DemoLoop  # noqa: E402
from station.ui.kiosk_window import KioskWindow  # noqa: E402

WAIT = 30000  # ms; generous for a loaded 2-core machine


def _config(tmp_path, **over):
    data = {"pin": "1357", "data_dir": str(tmp_path / "kiosk"), "fullscreen": False, "realtime": False,
            "ranging_s": 2, "testing_s": 2, "result_s": 0, "rate_hz": 50, "max_runs": 3}
    data.update(over)
    return parse_config(data, None)


@pytest.fixture
def windows(qtbot):
    """Kiosk windows that are always left (demo loop stopped, event filter removed) after the test."""
    made: list[KioskWindow] = []

    def make(config, loop=None, show=True) -> KioskWindow:
        app = QApplication.instance()
        assert isinstance(app, QApplication), f"the test process already has a {type(app).__name__}, not a QApplication"
        w = KioskWindow(config, loop)
        made.append(w)
        if show:
            w.resize(1280, 720)
            w.show()
            qtbot.waitExposed(w)
        return w

    yield make
    for w in made:
        w.leave()
        w.deleteLater()


# -- the whole screen ---------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_the_kiosk_takes_the_screens_geometry_frameless_and_on_top(qtbot, windows, tmp_path):
    w = windows(_config(tmp_path, fullscreen=True), show=False)
    w.fill_screen()  # what run_window does
    qtbot.waitExposed(w)
    screen = w.screen().geometry()
    assert screen.width() > 0 and screen.height() > 0
    qtbot.waitUntil(lambda: w.geometry() == screen, timeout=WAIT)
    flags = w.windowFlags()
    assert flags & Qt.WindowType.FramelessWindowHint
    assert flags & Qt.WindowType.WindowStaysOnTopHint
    # Something (a window manager, a resolution change) shrinks and moves it: it takes the screen again.
    w.setWindowState(Qt.WindowState.WindowNoState)
    w.setGeometry(QRect(40, 30, screen.width() // 2, screen.height() // 2))
    qtbot.waitUntil(lambda: w.geometry() != screen, timeout=WAIT)
    qtbot.waitUntil(lambda: w.geometry() == screen, timeout=WAIT)


@pytest.mark.timeout(120)
def test_the_kiosk_fills_the_screen_where_nobody_acts_on_the_fullscreen_flag(qtbot, windows, tmp_path, monkeypatch):
    # Bare X without a window manager (or one that ignores the request): showing "fullscreen"
    # changes nothing by itself, so the window must take the screen's geometry on its own.
    w = windows(_config(tmp_path, fullscreen=True), show=False)
    monkeypatch.setattr(w, "showFullScreen", w.show)
    w.resize(640, 360)
    w.fill_screen()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.geometry() == w.screen().geometry(), timeout=WAIT)
    assert not w.isFullScreen()


# -- the live plot reads forward ----------------------------------------------------------------------------
def _drawn_tick_labels(w: KioskWindow) -> list[str]:
    axis = w.plot.getPlotItem().getAxis("bottom")
    image = QImage(max(1, w.plot.width()), max(1, w.plot.height()), QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    assert specs is not None, "the time axis draws nothing"
    return [text for _rect, _flags, text in specs[2]]


@pytest.mark.timeout(120)
def test_the_live_plot_runs_left_to_right_up_to_now_with_no_negative_labels(qtbot, windows, tmp_path):
    w = windows(_config(tmp_path, realtime=True, profiles=["edge"], ranging_s=30, testing_s=30))
    w.loop.start()
    # Wait for a few seconds of samples on the plot.
    qtbot.waitUntil(lambda: len(w.curve.getData()[0] if w.curve.getData()[0] is not None else []) > 100,
                    timeout=WAIT)
    x, _ = w.curve.getData()
    assert np.all(np.diff(x) > 0), "time does not increase to the right"
    assert x[-1] == pytest.approx(0.0) and x[0] < 0, "the newest sample is not at the right end (now)"
    x_min, x_max = w.plot.getPlotItem().viewRange()[0]
    assert x_min < x[0] and x_max >= 0
    labels = _drawn_tick_labels(w)
    assert "now" in labels and "10 s ago" in labels and "20 s ago" in labels
    assert not any(label.lstrip().startswith(("-", "−")) for label in labels), labels
    assert labels.index("20 s ago") < labels.index("10 s ago") < labels.index("now")


# -- the comparison board -------------------------------------------------------------------------------------
class CannedLoop(DemoLoop):
    """The real loop (phases, latest result per profile, timing), with measurements given instead of made."""

    FIGURES = {"tiny": (0.0042, 100.0), "edge": (44.26, 2000.0), "datacenter": (1588.2, 120000.0)}

    def _run_cycle(self, cycle, profile):
        avg, throughput = self.FIGURES[profile.name]
        self._set(cycle=cycle, profile=profile, phase="testing")
        return CycleResult(profile.name, cycle, 15.0, 0.5, 3.3, 0.05, avg * 1.2, avg, 10.0, avg * 10.0,
                           avg / throughput, throughput / avg, 0, "")


@pytest.mark.timeout(120)
def test_after_a_cycle_the_board_shows_every_profiles_latest_result_side_by_side(qtbot, windows, tmp_path):
    config = _config(tmp_path, realtime=True, profiles=["tiny", "edge", "datacenter"], result_s=0.3,
                     compare_s=60)
    loop = CannedLoop(config)
    w = windows(config, loop)
    loop.start()
    qtbot.waitUntil(lambda: loop.status().phase == "compare", timeout=WAIT)
    # One result is nothing to compare: the board comes once two profiles have one.
    assert loop.status().cycles_done == 2
    qtbot.waitUntil(lambda: w.pages.currentWidget() is w.board and w.board.isVisible(), timeout=WAIT)
    cards = w.board.cards
    assert [name for name in cards] == ["tiny", "edge", "datacenter"]
    # Units follow the size: microjoules for the microcontroller, millijoules for the edge box.
    assert cards["tiny"]["energy"].text() == "42.0 µJ"
    assert cards["tiny"]["energy_caption"].text() == "Energy per inference"
    assert cards["tiny"]["per_joule"].text() == "23,810"
    assert cards["tiny"]["power"].text() == "4.20 mW"
    assert cards["edge"]["energy"].text() == "22.1 mJ"
    assert cards["edge"]["energy_caption"].text() == "Energy per image"
    assert cards["edge"]["per_joule_caption"].text() == "Images per joule"
    assert cards["edge"]["per_joule"].text() == "45.2"
    assert cards["datacenter"]["energy"].text() == "measured soon"
    assert cards["tiny"]["title"].text() == "Microcontroller" and cards["datacenter"]["title"].text() == "GPU server"
    # Large text: the figures are at least twice the height of the captions.
    assert cards["tiny"]["energy"].fontInfo().pixelSize() >= 2 * cards["tiny"]["energy_caption"].fontInfo().pixelSize()
    # The next cycle brings the measuring page back.
    loop._stop.set()  # end the board's wait early; the loop then ends
    qtbot.waitUntil(lambda: not loop.running, timeout=WAIT)
    qtbot.waitUntil(lambda: w.pages.currentWidget() is not w.board, timeout=WAIT)


@pytest.mark.timeout(120)
def test_a_real_demo_loop_keeps_the_latest_result_per_profile_for_the_board(qtbot, windows, tmp_path):
    config = _config(tmp_path, profiles=["tiny", "edge"], ranging_s=12, testing_s=12, compare_s=5)
    loop = DemoLoop(config)
    loop.max_cycles = 3
    loop.start()
    qtbot.waitUntil(lambda: not loop.running, timeout=120000)
    results = loop.status().results
    assert set(results) == {"tiny", "edge"}
    assert results["tiny"].cycle == 2 and results["edge"].cycle == 1  # the latest, not the first
    assert results["tiny"].joules_per_item < results["edge"].joules_per_item
    w = windows(config, loop)
    w.board.show_results(results)
    assert w.board.cards["tiny"]["energy"].text().endswith("mJ")
    assert w.board.cards["edge"]["energy"].text().endswith("mJ")
