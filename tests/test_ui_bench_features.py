"""Lab-bench features of the window: cursors, statistics of the view, energy and charge since
record start, per-meter readouts, CSV / clipboard / image export, and their shortcuts."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtGui import QImage, QKeySequence  # noqa: E402
from PySide6.QtWidgets import QApplication, QMenu  # noqa: E402

from station.core.journal import InstrumentEntry, JournalReader, JournalWriter  # noqa: E402
from station.core.live_store import LiveStore  # noqa: E402
from station.core.samples import Flag, good_mask  # noqa: E402
from station.ui import units  # noqa: E402
from station.ui.app import create_window  # noqa: E402
from station.ui.bench_tools import KEYS  # noqa: E402
from station.ui.deep_zoom import JournalDetail  # noqa: E402
from station.ui.power_plot import PowerPlot  # noqa: E402
from station.ui.readout_panel import TOTAL  # noqa: E402
from tests.helpers.sample_blocks import make_block  # noqa: E402

WAIT = 15000  # ms: generous bounds for a loaded 2-core machine; tests never sleep
T0 = 1.7e9
INTERVAL = 1e-3


def _samples(n: int, seed: int = 1) -> np.ndarray:
    w = 300 + 100 * np.sin(np.arange(n) / 5000.0) + np.random.default_rng(seed).normal(0, 3, n)
    b = make_block(T0, n, INTERVAL, w)
    b["flags"][40_000:40_500] |= int(Flag.OVERRANGE)
    b["w"][40_000:40_500] = np.nan
    return b


def _brute(b: np.ndarray, t0: float, t1: float) -> dict:
    sel = b[(b["t"] >= t0) & (b["t"] <= t1)]
    good = sel[good_mask(sel)]
    # energy over the span's whole duration: the time without a good sample at the mean good power
    duration = float(sel["t"][-1] - sel["t"][0]) + INTERVAL
    energy = float(good["w"].sum()) * INTERVAL + float(good["w"].mean()) * max(0.0, duration - len(good) * INTERVAL)
    return {"samples": len(sel), "energy": energy, "mean": float(good["w"].mean()),
            "min": float(good["w"].min()), "max": float(good["w"].max()), "bad": len(sel) - len(good)}


@pytest.fixture
def plot(qtbot):
    p = PowerPlot()
    p.resize(1200, 500)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.set_journal(None)
    p.close()
    p.deleteLater()


# -- cursors and the view's statistics (plot) -----------------------------------------------------------


@pytest.mark.timeout(60)
def test_cursors_read_delta_t_mean_and_energy_of_the_samples_between_them(qtbot, plot):
    b = _samples(120_000)
    store = LiveStore(interval_s=INTERVAL, window_samples=1 << 18)
    store.append(b)
    plot.set_store(store, live=False)
    plot.refresh()
    assert not plot.cursor_stats_line.isVisible()
    plot.set_cursors(45.5, 30.0)  # B left of A: the span is still between them
    plot.refresh()
    s = plot.cursor_stats()
    want = _brute(b, plot.origin + 30.0, plot.origin + 45.5)
    assert s.samples == want["samples"] and s.bad_samples == want["bad"] == 500
    assert s.energy_j == pytest.approx(want["energy"], rel=1e-9)
    assert s.mean_w == pytest.approx(want["mean"], rel=1e-9)
    assert s.min_w == pytest.approx(want["min"]) and s.max_w == pytest.approx(want["max"])
    text = plot.cursor_stats_line.text()
    assert plot.cursor_stats_line.isVisible()
    assert "Δt <b>15.500 s</b>" in text and units.energy(want["energy"]) in text
    assert "500 bad samples excluded" in text
    # Dragging cursor B (what a mouse drag does to the line) reads the new span.
    plot.cursors.lines[0].setValue(80.0)
    qtbot.waitUntil(lambda: (plot.refresh(), plot.cursor_stats().samples != want["samples"])[1], timeout=WAIT)
    again = _brute(b, plot.origin + 30.0, plot.origin + 80.0)
    assert plot.cursor_stats().energy_j == pytest.approx(again["energy"], rel=1e-9)
    assert "Δt <b>50.000 s</b>" in plot.cursor_stats_line.text()


@pytest.mark.timeout(60)
def test_cursors_on_an_old_stretch_read_the_journal_at_full_resolution(qtbot, plot, tmp_path):
    """The store keeps 4096 samples whole and coarse bins before; between cursors in the first
    minute its figures are approximate, the journal's exact ones replace them."""
    n = 200_000
    b = _samples(n, seed=3)
    store = LiveStore(interval_s=INTERVAL, window_samples=4096, max_bins_per_level=64, levels=3)
    journal = JournalWriter(tmp_path / "run", [InstrumentEntry("inst0", "sim", b.dtype, INTERVAL, {})])
    for i in range(0, n, 10_000):
        store.append(b[i:i + 10_000])
        journal.write("inst0", b[i:i + 10_000])
    journal.close({"samples": n})
    plot.set_store(store, live=False)
    plot.refresh()
    plot.set_cursors(12.3456, 51.2345)
    plot.refresh()
    assert not store.stats(plot.origin + 12.3456, plot.origin + 51.2345).exact
    plot.set_journal(JournalDetail(tmp_path / "run"))
    qtbot.waitUntil(lambda: (plot.refresh(), plot.cursor_stats().exact)[1], timeout=WAIT)
    want = _brute(b, plot.origin + 12.3456, plot.origin + 51.2345)
    s = plot.cursor_stats()
    assert s.samples == want["samples"]
    assert s.energy_j == pytest.approx(want["energy"], rel=1e-12)
    assert s.min_w == pytest.approx(want["min"]) and s.max_w == pytest.approx(want["max"])
    assert "approximate" not in plot.cursor_stats_line.text()


@pytest.mark.timeout(60)
def test_view_statistics_follow_zoom_and_pan(qtbot, plot):
    b = _samples(120_000)
    store = LiveStore(interval_s=INTERVAL, window_samples=1 << 18)
    store.append(b)
    plot.set_store(store, live=False)
    plot.refresh()
    whole = plot.view_stats()
    assert whole.samples == len(b)  # fit_all: the whole run is in view
    plot.vb.setXRange(10.0, 20.0, padding=0)  # as a zoom by the mouse
    qtbot.waitUntil(lambda: (plot.refresh(), plot.view_stats().samples < len(b))[1], timeout=WAIT)
    want = _brute(b, plot.origin + 10.0, plot.origin + 20.0)
    s = plot.view_stats()
    assert s.samples == want["samples"] and s.energy_j == pytest.approx(want["energy"], rel=1e-9)
    assert s.duration_s == pytest.approx(10.0, abs=2 * INTERVAL)
    text = plot.view_stats_line.text()
    assert text.startswith("<b>View</b> 10.00") and units.si(want["mean"], "W") in text
    plot.vb.setXRange(35.0, 45.0, padding=0)  # pan onto the overrange stretch
    qtbot.waitUntil(lambda: (plot.refresh(), plot.view_stats().bad_samples == 500)[1], timeout=WAIT)
    assert plot.view_stats().max_w == pytest.approx(_brute(b, plot.origin + 35.0, plot.origin + 45.0)["max"])
    assert "500 bad samples excluded" in plot.view_stats_line.text()


# -- the window ---------------------------------------------------------------------------------------


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "station-ui-test.ini"), QSettings.Format.IniFormat)
    w = create_window(settings=settings)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown()
    w._close_ready = True
    w.close()
    w.deleteLater()


def _connect_sim(qtbot, w, **form_values) -> None:
    w.panel.select_driver("sim")
    for name, value in form_values.items():
        w.panel.form.set_value(name, value)
    qtbot.mouseClick(w.panel.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.link.state == "running" and w.link.store.total_samples > 300, timeout=WAIT)


def _record(qtbot, w, directory, seconds: float) -> None:
    assert w.start_recording(directory)
    qtbot.waitUntil(lambda: w.recorder.state == "recording", timeout=WAIT)
    qtbot.waitUntil(lambda: w.bench.totals is not None and w.bench.totals.duration_s >= seconds, timeout=WAIT)
    w.record_action.trigger()
    qtbot.waitUntil(lambda: w.recorder.state == "idle", timeout=WAIT)
    qtbot.waitUntil(lambda: not w.bench.totals.running, timeout=WAIT)


@pytest.mark.timeout(90)
@pytest.mark.slow
def test_energy_and_charge_since_record_start_match_the_journal_and_reset(qtbot, window, tmp_path):
    w = window
    _connect_sim(qtbot, w, update_interval_s=0.01)
    assert not w.readout.totals.isVisible()  # nothing recorded yet: no accumulator
    assert w.start_recording(tmp_path / "run-1")
    qtbot.waitUntil(lambda: w.readout.totals.isVisible() and w.bench.totals.samples > 50, timeout=WAIT)
    assert "(recording)" in w.readout.totals.title.text()
    qtbot.waitUntil(lambda: w.bench.totals.duration_s >= 1.0, timeout=WAIT)
    w.record_action.trigger()
    qtbot.waitUntil(lambda: w.recorder.state == "idle" and not w.bench.totals.running, timeout=WAIT)
    t = w.bench.totals
    recs = np.asarray(JournalReader(tmp_path / "run-1").samples())
    assert t.t_first == recs["t"][0]  # from the first recorded sample on
    sel = recs[recs["t"] <= t.t_last]
    assert t.samples == len(sel) >= len(recs) - 30  # up to the last sample shown (0.25 s of data at most)
    good = sel[good_mask(sel)]
    uncovered = max(0.0, t.duration_s - len(good) * 0.01)  # bridged at the mean, as the summary does
    assert t.energy_j == pytest.approx(float(good["w"].sum()) * 0.01 + float(good["w"].mean()) * uncovered,
                                       rel=1e-9)
    assert t.charge_c == pytest.approx(float(good["a"].astype(np.float64).sum()) * 0.01, rel=1e-6)
    assert t.mean_w == pytest.approx(float(good["w"].mean()), rel=1e-9)
    assert t.max_w == pytest.approx(float(good["w"].max())) and t.min_w == pytest.approx(float(good["w"].min()))
    panel = w.readout.totals
    assert "recording ended" in panel.title.text()
    assert panel.energy.value.text() == units.energy(t.energy_j)
    assert panel.charge.value.text().endswith(" C") or " C  (" in panel.charge.value.text()
    assert panel.duration.value.text() == units.duration(t.duration_s)
    assert panel.max.value.text() == units.si(t.max_w, "W", 5)
    # The figures stay while the instrument streams on, and a new recording starts from zero.
    first_energy = t.energy_j
    n_live = w.link.store.total_samples
    qtbot.waitUntil(lambda: w.link.store.total_samples > n_live + 20, timeout=WAIT)
    assert w.bench.totals.energy_j == first_energy
    assert w.start_recording(tmp_path / "run-2")
    qtbot.waitUntil(lambda: w.bench.totals is not t and w.bench.totals is not None
                    and w.bench.totals.samples > 0, timeout=WAIT)
    qtbot.waitUntil(lambda: len(JournalReader(tmp_path / "run-2").samples()) > 0, timeout=WAIT)
    second = JournalReader(tmp_path / "run-2").samples()
    assert w.bench.totals.t_first == second["t"][0]
    assert w.bench.totals.energy_j < first_energy  # counted from the new start, not on top
    assert "(recording)" in w.readout.totals.title.text()


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_cursors_key_and_the_data_menu_export_csv_clipboard_and_images(qtbot, window, tmp_path):
    w = window
    _connect_sim(qtbot, w, update_interval_s=0.01)
    run = tmp_path / "run"
    _record(qtbot, w, run, 1.5)
    w.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_C)
    assert w.plot.cursors_visible and w.bench.cursor_action.isChecked() and not w.plot.follow
    first, last = (t - w.plot.origin for t in w.plot.store.span())
    assert all(first <= x <= last for x in w.plot.cursor_positions())  # placed on data, not beside it
    recs = np.asarray(JournalReader(run).samples())
    origin = w.plot.origin
    a, b = recs["t"][20] - origin + 0.002, recs["t"][110] - origin + 0.002  # samples 21..110
    w.plot.set_cursors(a, b)
    qtbot.waitUntil(lambda: w.plot.cursor_stats() is not None and w.plot.cursor_stats().samples == 90,
                    timeout=WAIT)
    # The selection to CSV: read from the journal, exactly the 90 samples between the cursors.
    out = tmp_path / "sel.csv"
    assert w.bench.export_selection_csv(out)
    qtbot.waitUntil(lambda: w.bench.last_export == out, timeout=WAIT)
    text = out.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO("\n".join(x for x in text.splitlines() if not x.startswith("#")))))
    assert len(rows) == 90
    assert np.allclose([float(r["t_epoch_s"]) for r in rows], recs["t"][21:111], atol=2e-6)
    assert "# instrument: inst0 (sim)" in text and "w_W: active power, watts" in text
    # The whole run.
    whole = tmp_path / "whole.csv"
    assert w.bench.export_run_csv(whole)
    qtbot.waitUntil(lambda: w.bench.last_export == whole, timeout=WAIT)
    assert sum(1 for x in whole.read_text().splitlines() if x and not x.startswith(("#", "t_utc"))) == len(recs)
    assert any(f"Exported {len(recs)} samples of the whole run" in t for t in w.log.texts())
    # Clipboard: the values (tab-separated) and the samples as CSV.
    w.bench.copy_values_action.trigger()
    lines = dict((ln.split("\t")[0], ln.split("\t")[1]) for ln in QApplication.clipboard().text().splitlines()
                 if ln.split("\t")[2] == "J")
    sel = recs[21:111]
    assert float(lines["energy"]) == pytest.approx(float(sel["w"][good_mask(sel)].sum()) * 0.01, rel=1e-6)
    w.bench.copy_csv_action.trigger()
    copied = QApplication.clipboard().text().splitlines()
    assert copied[-91].startswith("t_utc,") and len([x for x in copied if x[:2] == "20" or x[:2] == "19"]) == 90
    # The plot as PNG and SVG.
    png, svg = tmp_path / "plot.png", tmp_path / "plot.svg"
    assert w.bench.export_plot_image(png) and w.bench.export_plot_image(svg)
    img = QImage(str(png))
    assert not img.isNull() and img.width() >= 1200
    drawing = svg.read_text(encoding="utf-8")
    assert "<svg" in drawing[:2000] and drawing.count("<path") + drawing.count("<polyline") > 10
    assert "Time since first sample" in drawing or "Time" in drawing
    # Nothing selected: a clear sentence, no file.
    qtbot.keyClick(w, Qt.Key.Key_C)
    assert not w.plot.cursors_visible
    assert not w.bench.export_selection_csv(tmp_path / "none.csv")
    assert not (tmp_path / "none.csv").exists()
    assert "press C for the cursors or R for a region" in w.log.texts()[-1]


@pytest.mark.timeout(60)
def test_export_without_a_recording_says_what_to_do(qtbot, window, tmp_path):
    w = window
    _connect_sim(qtbot, w)
    assert not w.bench.export_run_csv(tmp_path / "x.csv")
    assert "record (Ctrl+R) or open a run (Ctrl+O)" in w.log.texts()[-1]
    # A short selection of live data that was never recorded still exports, from the live view.
    w.toggle_region(True)
    w.plot.set_region(*[x - w.plot.origin for x in w.link.store.span()])
    qtbot.waitUntil(lambda: w.plot.region_stats() is not None and w.plot.region_stats().samples > 100,
                    timeout=WAIT)
    assert w.bench.export_selection_csv(tmp_path / "live.csv")
    text = (tmp_path / "live.csv").read_text(encoding="utf-8")
    assert "# source: the live view (not recorded)" in text


def test_bench_shortcuts_clash_with_no_other_key_or_menu_mnemonic(window):
    w = window
    shortcuts: list[str] = []
    menus: list[QMenu] = [a.menu() for a in w.menuBar().actions() if a.menu() is not None]
    seen = set()
    for action in [*w.actions(), *(a for m in menus for a in m.actions())]:
        if id(action) in seen:
            continue
        seen.add(id(action))
        shortcuts += [k.toString() for k in action.shortcuts() if not k.isEmpty()]
    mnemonics = set()
    for a in w.menuBar().actions():
        text = a.text()
        if "&" in text:
            mnemonics.add(f"Alt+{text[text.index('&') + 1].upper()}")
    assert "Alt+D" in mnemonics  # the Data menu
    for name, key in KEYS.items():
        norm = QKeySequence(key).toString()
        assert shortcuts.count(norm) == 1, f"{name}: {key} is used {shortcuts.count(norm)} times"
        assert norm not in mnemonics, f"{name}: {key} opens a menu"
    assert not {"Alt+D"} & set(shortcuts)
    names = [a.text() for a in w.bench.menu.actions() if a.text()]
    assert names == ["Export run to CSV…", "Export selection to CSV…", "Copy selection values",
                     "Copy selection samples as CSV", "Export plot image…"]


@pytest.mark.timeout(90)
def test_several_meters_each_shown_and_the_big_number_says_whose(qtbot, window):
    w = window
    _connect_sim(qtbot, w, profile="edge", seed=1)
    assert not w.readout.meters.isVisible()  # one meter: no strip
    w.panel.form.set_value("profile", "datacenter")
    w.panel.form.set_value("seed", 2)
    inst = w.add_instrument(w.panel.request())
    qtbot.waitUntil(lambda: w.readout.meters.isVisible() and "total" in w.readout.meters.values.text()
                    and units.DASH not in w.readout.meters.values.text(), timeout=WAIT)
    values = w.readout.meters.values.text()
    assert "inst0: SIM-PA1" in values and f"{inst}: SIM-PA1" in values and ">total<" in values
    assert w.readout.power_caption.text().startswith("Power of inst0: SIM-PA1")
    w.readout.meters.select(TOTAL)
    meters = w.readout.meters
    total, missing = meters.total()
    assert not missing and total == pytest.approx(sum(meters.readings_of(k).w for k in ("inst0", inst)))
    assert w.readout.power_caption.text().startswith("Power: total of 2 meters")
    assert w.readout.power.text() == units.si(total, "W", 5)
    w.readout.meters.select(inst)
    qtbot.waitUntil(lambda: w.readout.power_caption.text().startswith(f"Power of {inst}: SIM-PA1"), timeout=WAIT)
    r = meters.readings_of(inst)
    assert w.readout.power.text() == units.si(r.w, "W", 5)
    # The choice survives the next refreshes, and a meter removed leaves the strip.
    qtbot.waitUntil(lambda: meters.readings_of(inst) is not r, timeout=WAIT)
    assert meters.selected() == inst
    w.remove_instrument(inst)
    qtbot.waitUntil(lambda: not w.readout.meters.isVisible(), timeout=WAIT)
    assert w.readout.power_caption.text() == "Power (mean of the last 0.5 s)"
