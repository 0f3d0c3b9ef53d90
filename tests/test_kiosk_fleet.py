"""The fleet kiosk: settings naming the prometheus driver, a cycle that measures the fleet as it
is (one node stopping), and the window with the node table and an honest result card."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QApplication  # noqa: E402

from instruments.fakes.prometheus import FleetPrometheus  # noqa: E402
from station.core.journal import JournalReader  # noqa: E402
from station.kiosk.config import KioskConfigError, parse_config  # noqa: E402
from station.kiosk.cycle import DemoLoop  # noqa: E402
from station.ui.kiosk_window import KioskWindow  # noqa: E402
from tests.helpers.waiting import wait_until  # noqa: E402

WAIT_S = 60.0  # generous for a loaded 2-core machine


def swing(t: float) -> float:
    """200 W +- 20 W over 30 s."""
    return 200.0 + 20.0 * math.sin(2 * math.pi * t / 30.0)


def swing_energy(a: float, b: float) -> float:
    return 200.0 * (b - a) - 20.0 * 30.0 / (2 * math.pi) * (math.cos(2 * math.pi * b / 30.0)
                                                           - math.cos(2 * math.pi * a / 30.0))


@pytest.fixture
def fleet():
    fake = FleetPrometheus({"n1": 100.0, "n2": swing, "n3": 300.0}, scrape_s=0.25)
    yield fake
    fake.close()


def fleet_config(tmp_path, url: str, **over):
    data = {"pin": "8642", "data_dir": str(tmp_path / "kiosk"), "fullscreen": False, "testing_s": 4,
            "result_s": 0, "instrument": {"driver": "prometheus", "resource": url,
                                          "options": {"query": "node_power_watts", "lookback_s": 5}}}
    data.update(over)
    return parse_config(data, None)


# -- settings --------------------------------------------------------------------------------------
def test_a_prometheus_instrument_makes_a_fleet_kiosk_without_profiles_or_ranging(tmp_path):
    c = fleet_config(tmp_path, "http://127.0.0.1:9090", testing_s=30)
    assert c.fleet and c.testing_s == 30 and c.rate_hz == 1.0
    assert [p.name for p in c.profiles] == ["fleet"]
    assert "127.0.0.1:9090: node_power_watts" in c.profiles[0].detail
    assert "Prometheus" in c.text("subtitle") and "simulated" not in c.text("subtitle")
    assert not parse_config({"data_dir": str(tmp_path / "k")}, None).fleet  # the simulated analyzer


@pytest.mark.parametrize("over, key, words", [
    ({"profiles": ["edge"]}, "profiles", "measures the fleet as it is: it plays no workload profiles"),
    ({"ranging_s": 10}, "ranging_s", "there is no ranging"),
    ({"testing_s": "cycle"}, "testing_s", "a fleet has no workload cycle"),
    ({"rate_hz": 20}, "rate_hz", "prometheus takes 0.1 to 60 s"),
    ({"instrument": {"driver": "prometheus", "options": {"query": "up"}}}, "instrument",
     "prometheus needs a resource (http://"),
    ({"instrument": {"driver": "wt300e", "resource": "TCPIP::192.0.2.7::INSTR"}}, "instrument.driver",
     "wt300e does neither"),
])
def test_fleet_settings_that_make_no_sense_are_refused_by_key(tmp_path, over, key, words):
    with pytest.raises(KioskConfigError) as err:
        fleet_config(tmp_path, "http://127.0.0.1:9090", **over)
    assert err.value.key == key
    assert words in err.value.message


# -- the cycle ---------------------------------------------------------------------------------------
def test_a_fleet_cycle_integrates_every_node_and_names_the_one_that_stopped(tmp_path, fleet):
    loop = DemoLoop(fleet_config(tmp_path, fleet.url, testing_s=6))
    loop.max_cycles = 1
    loop.start()
    try:
        wait_until(lambda: loop.status().phase == "measuring", WAIT_S, "the fleet cycle to start")
        assert loop.status().channels == [fleet.series_name(n) for n in ("n1", "n2", "n3")]
        wait_until(lambda: loop.status().store.span(), WAIT_S, "the first records")
        fleet.stop_node("n3")  # after it was measured: the driver bridges it at its mean
        wait_until(lambda: loop.status().results.get("fleet"), WAIT_S, "the fleet cycle's result")
    finally:
        loop.stop()
    r = loop.status().results["fleet"]
    assert r.fleet and r.nodes == 3 and r.nodes_reporting == 2
    assert r.stopped == (fleet.series_name("n3"),)
    records = np.asarray(JournalReader(tmp_path / "kiosk" / "runs" / r.run_dir.rsplit("/", 1)[1] / "fleet")
                         .samples("inst0"))
    a, b = float(records["t"][0]) - 1.0, float(records["t"][-1])
    # n3 stopped but its share is bridged at its (constant) mean: the whole fleet's integral.
    exact = 100.0 * (b - a) + swing_energy(a, b) + 300.0 * (b - a)
    assert r.energy_j == pytest.approx(exact, rel=0.01)
    assert r.avg_w == pytest.approx(exact / (b - a), rel=0.01)
    assert math.isnan(r.v_range) and r.joules_per_item is None  # no ranges, no per-item figures


# -- the window ---------------------------------------------------------------------------------------
def test_the_fleet_kiosk_shows_the_node_table_and_says_what_its_result_is(qtbot, tmp_path, fleet):
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    config = fleet_config(tmp_path, fleet.url, testing_s=5, result_s=600)
    w = KioskWindow(config)
    try:
        w.resize(1280, 720)
        w.show()
        w.loop.max_cycles = 1
        w.loop.start()
        assert [s.text() for s in w.steps] == ["1  Measuring the fleet", "2  Result"]
        qtbot.waitUntil(lambda: w.node_table.model.rowCount() == 3 and w.node_table.cell(2, 4) != "0",
                        timeout=int(WAIT_S * 1000))
        assert w.node_table.isVisible()
        assert [w.node_table.cell(i, 0) for i in range(3)] == ["n1", "n2", "n3"]
        fleet.stop_node("n3")
        qtbot.waitUntil(lambda: w.loop.status().phase == "result", timeout=int(WAIT_S * 1000))
        qtbot.waitUntil(lambda: "NOT an MLPerf-compliant" in w.explain.text(), timeout=5000)
        assert "1 stopped reporting (n3)" in w.explain.text()
        assert w.tiles["per_joule"][1].text() == "2 / 3"
        qtbot.waitUntil(lambda: w.node_table.cell(2, 7) == "STALE", timeout=5000)
        assert not w.glossary.isVisible()  # inferences per joule: nothing a fleet shows
    finally:
        w.leave()
