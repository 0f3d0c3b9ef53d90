"""The power plot against synthetic live stores: pixels, band, modes, region, bad-data shading."""

from __future__ import annotations

import gc

import numpy as np
import pytest

pytest.importorskip("pytestqt")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from station.core.live_store import LiveStore  # noqa: E402
from station.core.samples import Flag, good_mask  # noqa: E402
from station.ui.power_plot import PowerPlot, band_path  # noqa: E402
from tests.helpers.sample_blocks import make_block  # noqa: E402

T0 = 1.7e9
INTERVAL = 1e-3


def filled_store(n: int = 120_000, overrange: slice | None = None, gap_at: int | None = None) -> LiveStore:
    store = LiveStore(interval_s=INTERVAL, window_samples=1 << 18)
    w = 300 + 100 * np.sin(np.arange(n) / 5000.0) + np.random.default_rng(1).normal(0, 3, n)
    b = make_block(T0, n, INTERVAL, w)
    if overrange is not None:
        b["flags"][overrange] |= int(Flag.OVERRANGE)
        b["w"][overrange] = np.nan
    if gap_at is not None:
        b["t"][gap_at:] += 5.0
    for i in range(0, n, 10_000):
        store.append(b[i:i + 10_000])
    return store


@pytest.fixture
def plot(qtbot):
    p = PowerPlot()
    p.resize(1200, 500)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.close()
    p.deleteLater()


def test_a_frame_asks_for_at_most_one_entry_per_pixel(plot):
    store = filled_store()
    plot.set_store(store, live=True)
    plot.set_window(120)
    assert plot.refresh()
    s = plot.last_summary
    assert 0 < len(s) <= plot.pixels()
    assert not s.is_raw
    # The band spans the per-pixel min..max, the line is the mean.
    assert np.all(s.min <= s.mean + 1e-9) and np.all(s.mean <= s.max + 1e-9)
    # Dense entries: one vertical min..max line per entry (a sparse view fills a polygon).
    xs, ys = plot.band_lines.getData()
    assert len(xs) == 2 * len(s) and plot.band._path.isEmpty()
    assert np.nanmax(ys) == pytest.approx(np.nanmax(s.max)) and np.nanmin(ys) == pytest.approx(np.nanmin(s.min))
    # Nothing new, nothing to draw.
    assert not plot.refresh()


def test_follow_keeps_the_newest_data_in_view_and_y_fits_it(plot):
    store = filled_store()
    plot.set_store(store, live=True)
    plot.set_window(10)
    plot.refresh()
    x0, x1 = plot.visible_range()
    end = store.span()[1] - plot.origin
    assert x1 >= end >= x1 - 1.0
    assert x1 - x0 == pytest.approx(10.2, rel=0.01)
    y0, y1 = plot.y_range()
    s = plot.last_summary
    assert y0 <= np.nanmin(s.min) and np.nanmax(s.max) <= y1
    more = make_block(store.span()[1] + INTERVAL, 5000, INTERVAL, 250.0)
    store.append(more)
    plot.refresh()
    assert plot.visible_range()[1] >= store.span()[1] - plot.origin


def test_manual_zoom_pauses_and_the_view_then_stays(plot):
    store = filled_store()
    plot.set_store(store, live=True)
    plot.refresh()
    plot.vb.setXRange(10, 20, padding=0)
    plot.vb.sigRangeChangedManually.emit([True, False])
    assert not plot.follow
    store.append(make_block(store.span()[1] + INTERVAL, 5000, INTERVAL, 250.0))
    plot.refresh()
    assert plot.visible_range() == pytest.approx((10, 20))
    # Zoomed in to 10 s of 1 kHz data on ~1100 pixels: still one entry per pixel at most.
    assert len(plot.last_summary) <= plot.pixels()
    plot.vb.setXRange(10, 10.2, padding=0)
    plot._dirty = True
    plot.refresh()
    assert plot.last_summary.is_raw  # single samples, drawn as points
    assert len(plot.points.data) > 0


def test_fit_all_shows_the_whole_recording(plot):
    store = filled_store()
    plot.set_store(store, live=False)
    plot.refresh()
    x0, x1 = plot.visible_range()
    span = store.span()
    assert x0 <= 0 and x1 >= span[1] - span[0]
    assert not plot.follow


def test_overrange_stretches_are_shaded_and_leave_no_line(plot):
    store = filled_store(overrange=slice(40_000, 45_000))
    plot.set_store(store, live=False)
    plot.refresh()
    assert not plot.bad._path.isEmpty()
    r = plot.bad._path.boundingRect()
    assert r.left() == pytest.approx(40.0, abs=0.2) and r.right() == pytest.approx(45.0, abs=0.2)
    s = plot.last_summary
    inside = (s.t_start - plot.origin > 40.1) & (s.t_end - plot.origin < 44.9)
    assert inside.any() and np.all(np.isnan(s.mean[inside]))
    assert "OVERRANGE" in plot.readout_at(42.5)


def test_a_gap_breaks_the_line(plot):
    store = filled_store(gap_at=60_000)
    plot.set_store(store, live=False)
    plot.refresh()
    x, _ = plot.mean.getData()
    assert np.isnan(x).sum() >= 1


def test_region_energy_matches_the_samples(plot):
    store = filled_store(overrange=slice(40_000, 41_000))
    plot.set_store(store, live=False)
    plot.refresh()
    plot.set_region(30.0, 50.0)
    plot.refresh()
    s = plot.region_stats()
    recs = store.latest(store.total_samples)
    rel = recs["t"] - plot.origin
    sel = recs[(rel >= 30.0 - 1e-9) & (rel <= 50.0 + 1e-9)]
    good = sel[good_mask(sel)]
    assert s.samples == len(sel)
    assert s.bad_samples == 1000
    # the region's whole duration: the overranged second is bridged at the mean good power
    duration = sel["t"][-1] - sel["t"][0] + INTERVAL
    bridged = good["w"].mean() * (duration - len(good) * INTERVAL)
    assert s.energy_j == pytest.approx(good["w"].sum() * INTERVAL + bridged, rel=1e-9)
    assert s.min_w == pytest.approx(good["w"].min()) and s.max_w == pytest.approx(good["w"].max())


def test_cursor_readout_names_time_and_power(plot):
    store = filled_store()
    plot.set_store(store, live=False)
    plot.refresh()
    text = plot.readout_at(12.0)
    assert text.startswith("t = 12.0") and " W" in text and "min" in text and "max" in text


def test_marks_sit_on_the_time_axis(plot):
    store = filled_store()
    plot.set_store(store, live=False)
    plot.add_mark(T0 + 7.5, "M1")
    plot.refresh()
    (_, _, line), = plot._marks
    assert line.value() == pytest.approx(7.5)


def test_sparse_entries_are_drawn_as_a_filled_band(plot):
    store = LiveStore(interval_s=1.0, window_samples=64, max_bins_per_level=64)
    for i in range(0, 20_000, 1000):  # old data only at coarse resolution: fewer entries than pixels
        store.append(make_block(T0 + i, 1000, 1.0, 100.0 + np.arange(1000.0) % 7))
    plot.set_store(store, live=False)
    plot.refresh()
    assert len(plot.last_summary) < 0.6 * plot.pixels()
    assert not plot.band._path.isEmpty()


def test_band_path_breaks_at_nan_and_closes_each_run():
    x = np.arange(10.0)
    lo = np.arange(10.0)
    hi = lo + 1
    lo[4] = np.nan
    path = band_path(x, lo, hi)
    polys = path.toSubpathPolygons()
    assert len(polys) == 2  # [0..3] and [5..9]
    assert len(polys[0]) == 8 and len(polys[1]) == 10
    assert band_path(x, np.full(10, np.nan), hi).isEmpty()


@pytest.mark.slow
def test_plot_widgets_survive_200_create_destroy_cycles(qtbot):
    """Guards the PySide6 6.12 / pyqtgraph 0.14 abort (none_dealloc in AxisItem painting)."""
    store = filled_store(20_000)
    app = QApplication.instance()
    for i in range(200):
        if i % 2:
            p = PowerPlot()
            p.resize(640, 320)
            p.show()
            p.set_store(store, live=bool(i % 4 == 1))
            p.refresh()
            p.plot.viewport().repaint()
        else:
            p = pg.PlotWidget()
            p.resize(640, 320)
            p.show()
            p.plot(np.arange(100.0), np.sin(np.arange(100.0)))
            p.viewport().repaint()
        p.close()
        p.deleteLater()
        app.processEvents()
        if i % 50 == 0:
            gc.collect()
    gc.collect()
    app.processEvents()


# -- traces on demand and several instruments ------------------------------------------------------

def _store_with(n, w, v, pf=1.0, t0=T0, dtype=None):
    kw = {} if dtype is None else {"dtype": dtype}
    store = LiveStore(interval_s=INTERVAL, window_samples=1 << 18, **kw)
    b = make_block(t0, n, INTERVAL, w, v=v, **kw)
    b["pf"] = pf
    store.append(b)
    return store, b


def test_volts_amps_and_power_factor_traces_show_the_samples_values(plot):
    n = 20_000
    w = 100 + 50 * np.sin(np.arange(n) / 2000.0)
    store, b = _store_with(n, w, v=np.linspace(228.0, 232.0, n), pf=0.9)
    plot.set_store(store, live=True)
    plot.set_window(30)
    assert plot.refresh()
    assert not plot.rows  # nothing on demand yet
    for name in ("v", "a", "pf"):
        plot.set_trace(name, True)
    assert plot.refresh()
    for name in ("v", "a", "pf"):
        row = plot.rows[name]
        assert row.widget.isVisible()
        x, y = plot.trace_values(name)
        assert len(x) > 100
        # Each drawn point is the mean of the samples of its pixel: inside the samples' range
        # around that time, and close to the value at its time.
        t = x + plot.origin
        expected = np.interp(t, b["t"], b[name].astype(float))
        assert np.allclose(y, expected, rtol=2e-3, atol=1e-6), name
        lo, hi = row.vb.viewRange()[1]
        assert lo <= np.nanmin(y) and np.nanmax(y) <= hi  # fitted to its own axis
    assert plot.rows["v"].widget.getPlotItem().getAxis("left").labelUnits == "V"
    assert "V = " in plot.readout_at(float(plot.trace_values("v")[0][50]))
    plot.set_trace("a", False)
    assert "a" not in plot.rows and set(plot.rows) == {"v", "pf"}
    plot.refresh()
    # The rows follow the power plot's time axis.
    plot.set_follow(False)
    plot.vb.setXRange(1.0, 2.0, padding=0)
    assert plot.rows["v"].vb.viewRange()[0] == pytest.approx([1.0, 2.0])


def test_per_element_power_is_one_line_per_element(plot):
    from station.core.samples import sample_dtype

    dt = sample_dtype(3)
    n = 5000
    store, b = _store_with(n, 300.0, v=230.0, dtype=dt)
    b["ch_w"] = np.array([50.0, 100.0, 150.0], np.float32)
    store = LiveStore(dtype=dt, interval_s=INTERVAL, window_samples=1 << 16)
    store.append(b)
    plot.set_store(store, live=True)
    plot.set_trace("ch_w", True)
    assert plot.refresh()
    for ch, watts in enumerate((50.0, 100.0, 150.0)):
        _, y = plot.trace_values("w", f"ch:{ch}")
        assert len(y) and np.allclose(y, watts)
    assert plot.legend.isVisible()
    assert [lbl.text for _, lbl in plot.legend.items] == ["element 1", "element 2", "element 3"]


def test_two_instruments_each_in_its_colour_with_legend_and_total(plot):
    n = 20_000
    a, _ = _store_with(n, 200.0, v=230.0)
    b, _ = _store_with(n, 50.0, v=120.0, t0=T0 + 0.0005)
    plot.set_store(a, live=True)
    plot.label = "analyzer A"
    plot.add_source("inst1", "analyzer B", b)
    plot.set_show_total(True)
    plot.set_trace("v", True)
    plot.set_window(30)
    assert plot.refresh()
    assert np.allclose(plot.last_summary.mean, 200.0)
    _, yb = plot.trace_values("w", "inst1")
    assert len(yb) > 100 and np.allclose(yb, 50.0)
    _, total = plot.trace_values("w", "total")
    assert len(total) > 100 and np.allclose(total, 250.0)
    _, va = plot.trace_values("v")
    _, vb_ = plot.trace_values("v", "inst1")
    assert np.allclose(va, 230.0) and np.allclose(vb_, 120.0)
    pen_b = plot._w_series["inst1"].mean.opts["pen"].color().name()
    assert pen_b != plot.mean.opts["pen"].color().name()
    assert [lbl.text for _, lbl in plot.legend.items] == ["analyzer A", "analyzer B", "system total"]
    text = plot.readout_at(float(plot.trace_values("w", "inst1")[0][40]))
    assert "analyzer B: 50" in text and "total 250" in text
    plot.remove_source("inst1")
    plot.refresh()
    assert "inst1" not in plot._w_series and "inst1" not in plot.rows["v"].series



def _legend_of(plot) -> list[str]:
    return [lbl.text for _, lbl in plot.legend.items] if plot.legend.isVisible() else []


def test_the_legend_forgets_removed_instruments_and_the_total_after_disconnecting(plot):
    """Add instrument, remove it, disconnect: no old name and no "system total" stays behind."""
    n = 20_000
    a, _ = _store_with(n, 200.0, v=230.0)
    b, _ = _store_with(n, 50.0, v=120.0, t0=T0 + 0.0005)
    plot.set_store(a, live=True)
    plot.label = "analyzer A"
    plot.add_source("inst1", "analyzer B", b)
    plot.set_show_total(True)  # as the window does with two instruments
    plot.set_window(30)
    assert plot.refresh()
    assert _legend_of(plot) == ["analyzer A", "analyzer B", "system total"]
    plot.remove_source("inst1")
    plot.refresh()
    assert _legend_of(plot) == []  # one instrument: nothing to tell apart
    _, total = plot.trace_values("w", "total")
    assert not len(total)  # and no total line left on the plot
    plot.set_store(None)
    plot.refresh()
    assert _legend_of(plot) == []
    # Connected again and another instrument added: only the new names.
    c, _ = _store_with(n, 80.0, v=230.0)
    plot.set_store(a, live=True)
    plot.add_source("inst2", "analyzer C", c)
    assert plot.refresh()
    assert _legend_of(plot) == ["analyzer A", "analyzer C", "system total"]


def test_the_element_legend_goes_with_the_store_it_came_from(plot):
    from station.core.samples import sample_dtype

    dt = sample_dtype(3)
    store, b = _store_with(5000, 300.0, v=230.0, dtype=dt)
    b["ch_w"] = np.array([50.0, 100.0, 150.0], np.float32)
    store = LiveStore(dtype=dt, interval_s=INTERVAL, window_samples=1 << 16)
    store.append(b)
    plot.set_store(store, live=True)
    plot.set_trace("ch_w", True)
    assert plot.refresh()
    assert _legend_of(plot) == ["element 1", "element 2", "element 3"]
    plot.set_store(None)  # disconnected
    plot.refresh()
    assert _legend_of(plot) == []


def test_deep_zoom_into_an_old_stretch_draws_the_journals_samples(qtbot, plot, tmp_path):
    """The store remembers the last 4 s in full; zoomed into the first minute of a long run the
    pyramid has only wide bins there, and the plot draws the journal's samples instead, read
    on a background thread."""
    from station.core.journal import InstrumentEntry, JournalWriter
    from station.ui.deep_zoom import JournalDetail

    n = 200_000
    w = 300 + 100 * np.sin(np.arange(n) / 5000.0) + np.random.default_rng(4).normal(0, 3, n)
    b = make_block(T0, n, INTERVAL, w)
    store = LiveStore(interval_s=INTERVAL, window_samples=4096)
    journal = JournalWriter(tmp_path / "run", [InstrumentEntry("inst0", "sim", b.dtype, INTERVAL, {})])
    for i in range(0, n, 10_000):
        store.append(b[i:i + 10_000])
        journal.write("inst0", b[i:i + 10_000])
    journal.close({"samples": n})
    plot.set_store(store, live=False)
    plot.vb.setXRange(20.0, 20.4, padding=0)  # 400 samples of the 21st second
    plot.refresh()
    coarse = plot.last_summary
    assert coarse.level > 0 and len(coarse) < 50  # the pyramid's wide bins
    detail = JournalDetail(tmp_path / "run")
    plot.set_journal(detail)
    assert plot.refresh() and not plot.detail_shown  # the GUI thread did not wait for the disk
    qtbot.waitUntil(lambda: (plot.refresh(), plot.detail_shown)[1], timeout=15000)
    s = plot.last_summary
    assert s.is_raw and len(s) > 350
    sel = (b["t"] >= s.t[0]) & (b["t"] <= s.t[-1])
    assert np.array_equal(s.t, b["t"][sel]) and np.array_equal(s.mean, b["w"][sel])
    xs, ys = plot.mean.getData()
    assert np.allclose(ys[np.isfinite(ys)], b["w"][sel])
    # Back out to the whole run: the pyramid serves it again, no journal read needed.
    reads = detail.reads
    plot.fit_all()
    plot.refresh()
    assert not plot.detail_shown and detail.reads == reads and len(plot.last_summary) > 500
    plot.set_journal(None)


def test_the_lowest_volts_amps_pf_row_has_a_time_axis_that_reads_like_the_power_plots(plot):
    store, _ = _store_with(20_000, 100.0, v=230.0, pf=0.9)
    plot.set_store(store, live=True)
    plot.set_window(30)
    plot.set_trace("v", True)
    plot.set_trace("a", True)
    plot.refresh()

    def bottom(name):
        return plot.rows[name].widget.getPlotItem().getAxis("bottom")

    assert bottom("a").isVisible() and not bottom("v").isVisible()  # a is the lowest row
    assert bottom("a").labelText == "Time since first sample" and bottom("a").labelUnits == "s"
    power_axis = plot.plot.getPlotItem().getAxis("bottom")
    assert bottom("a").range == pytest.approx(power_axis.range)
    assert bottom("a").tickValues(*bottom("a").range, 600) == power_axis.tickValues(*power_axis.range, 600)
    plot.set_trace("a", False)  # the voltage row is now the lowest: it takes the axis
    assert bottom("v").isVisible()
