"""A fleet in the window: the prometheus driver's channels (one per node) as a table beside the total.

The window test connects the real prometheus driver to a fake Prometheus HTTP API on 127.0.0.1
(instruments.fakes.prometheus) whose three nodes draw constant power at wall-clock times (so every number is known); one
node's exporter dies, and the table must call it stale with one gap while the others go on.
"""

from __future__ import annotations

import numpy as np
import pytest

from instruments.fakes.prometheus import FleetPrometheus
from instruments.records import empty_block, sample_dtype
from station.ui.node_table import NodeTally, short_labels


def test_series_are_named_by_the_labels_that_tell_them_apart():
    names = ['node_power_watts{instance="a:9100",job="fleet",node="n1"}',
             'node_power_watts{instance="b:9100",job="fleet",node="n2"}']
    assert short_labels(names) == ["n1", "n2"]  # one label tells them apart: its value, the shortest way
    assert short_labels(['p{gpu="0",host="a"}', 'p{gpu="1",host="a"}', 'p{gpu="0",host="b"}']) == \
        ["gpu=0, host=a", "gpu=1, host=a", "gpu=0, host=b"]
    assert short_labels(['a{gpu="0"}', 'b{gpu="0"}']) == ["a", "b"]
    assert short_labels(["element 1", "element 2"]) == ["element 1", "element 2"]
    assert short_labels(['p{gpu="0"}', 'p{}']) == ["0", "p{}"]  # a series without the label keeps its name


def test_the_tally_counts_energy_samples_and_gaps_per_node_from_records():
    block = empty_block(10, sample_dtype(2))
    block["t"] = 1000.0 + np.arange(1, 11)
    block["ch_w"][:, 0] = 100.0
    block["ch_w"][:, 1] = [50, 50, np.nan, np.nan, 50, 50, 50, np.nan, 50, 50]
    tally = NodeTally(["n1", "n2"], interval_s=1.0, stale_after_s=[2.0, 2.0])
    assert tally.feed(block[:4]) == 4
    assert tally.feed(block) == 6  # the first four again are not counted twice
    n1, n2 = tally.rows(now=1010.5)
    assert (n1.energy_j, n1.samples, n1.gaps, n1.latest_w, n1.average_w) == (1000.0, 10, 0, 100.0, 100.0)
    assert (n2.energy_j, n2.samples, n2.gaps, n2.average_w) == (350.0, 7, 2, 50.0)
    assert not n1.stale and not n2.stale and n1.age_s == pytest.approx(0.5)
    # no record for longer than the staleness limit plus two intervals: the whole source stopped
    assert all(r.stale for r in tally.rows(now=1010 + 4.5))
    # a channel whose last record is NaN is stale at once
    tail = empty_block(1, sample_dtype(2))
    tail["t"], tail["ch_w"][0] = 1011.0, (100.0, np.nan)
    tally.feed(tail)
    n1, n2 = tally.rows(now=1011.1)
    assert not n1.stale and n2.stale and n2.gaps == 3 and n2.latest_w == 50.0


@pytest.mark.timeout(120)
def test_the_window_shows_each_node_beside_the_total_and_flags_the_one_that_stopped(qtbot):
    from PySide6.QtCore import Qt

    from station.ui.app import create_window

    fake = FleetPrometheus({"n1": 400.0, "n2": 250.0, "n3": 120.0})
    w = create_window(demo=False)
    qtbot.addWidget(w)
    w.resize(1400, 880)
    w.show()
    try:
        dock = w.node_dock
        assert not dock.dock.isVisible()  # nothing with several channels connected yet
        # set up in the instrument panel as an operator does
        w.panel.select_driver("prometheus")
        qtbot.waitUntil(lambda: w.panel.form.isVisible(), timeout=10_000)
        # no ranges to set: no range box, not even one lying over the first row
        assert not w.panel.form.v_range.isVisible() and not w.panel.form.a_range.isVisible()
        w.panel.resource_combo.setEditText(fake.url)
        for name, value in (("query", "node_power_watts"), ("update_interval_s", 0.5), ("stale_after_s", 1.0),
                            ("lookback_s", 10.0)):
            w.panel.form.set_value(name, value)
        w.connect_instrument(w.panel.request())
        qtbot.waitUntil(lambda: w.link.state == "running", timeout=30_000)
        qtbot.waitUntil(lambda: dock.dock.isVisible(), timeout=10_000)
        qtbot.waitUntil(lambda: dock.tally is not None and min(dock.tally.samples) >= 4, timeout=30_000)
        table = dock.widget
        assert [table.cell(r, 0) for r in range(3)] == ["n1", "n2", "n3"]
        assert table.model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole) == fake.series_name("n1")
        assert [table.cell(r, 7) for r in range(3)] == ["ok", "ok", "ok"]
        assert table.cell(0, 1) == "400.0 W" and table.cell(1, 2) == "250.0 W"
        assert dock.widget.summary.text().startswith("3 of 3 nodes measured now: 770.0 W")

        fake.stop_node("n3")
        qtbot.waitUntil(lambda: table.cell(2, 7) == "STALE", timeout=30_000)
        rows = dock.tally.rows()
        assert [r.stale for r in rows] == [False, False, True] and [r.gaps for r in rows] == [0, 0, 1]
        assert rows[2].latest_w == 120.0  # its last measured power stays in view
        assert dock.widget.summary.text().startswith("2 of 3 nodes measured now: 650.0 W\n1 STALE")
        # the others go on: more samples, energy = power x measured time
        before = rows[0].samples
        qtbot.waitUntil(lambda: dock.tally.rows()[0].samples >= before + 2, timeout=30_000)
        n1, n2, _ = dock.tally.rows()
        assert n1.energy_j == pytest.approx(400.0 * 0.5 * n1.samples, rel=1e-6)
        assert n2.average_w == pytest.approx(250.0, rel=1e-6)
        # the total the plot shows is the fleet's (the stopped node is bridged at its mean)
        qtbot.waitUntil(lambda: w.link.store.last() is not None
                        and float(w.link.store.last()["w"]) == pytest.approx(770.0, rel=1e-4), timeout=30_000)
        w.disconnect_instrument()
        qtbot.waitUntil(lambda: not w.link.connected and not w.link.pending, timeout=30_000)
        qtbot.waitUntil(lambda: not dock.dock.isVisible(), timeout=10_000)
    finally:
        w.shutdown()
        w._close_ready = True
        fake.close()
