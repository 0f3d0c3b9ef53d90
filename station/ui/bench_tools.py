"""The lab-bench tools of the window: cursors, energy since record start, per-meter readouts,
CSV / clipboard / image export.

What people expect from Joulescope UI, WTViewerE and BenchVue, added to the
:class:`~station.ui.main_window.MainWindow` by :class:`BenchTools` in one place (its actions,
its menu, its part of the frame timer), so the window's own code stays as it was.

* **Cursors** (C): two lines to drag on the plot; Δt, mean power and energy between them.
* **Since record start**: a running energy and charge accumulator with mean / min / max and
  duration, reset at each recording (:class:`~station.ui.running_totals.RunningTotals`).
* **Several analyzers**: each one's power under the big number, which says whose it is or
  shows the total.
* **Data menu**: the whole run or the selection (cursors, else the region R) to CSV, the
  selection's values or samples to the clipboard, the plot to PNG or SVG.

Exports of a recorded run stream from its journal on a background lane; the GUI never waits.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QApplication, QFileDialog, QMenu

from station.core.csv_export import export_csv, records_csv
from station.core.journal import JournalError, JournalReader
from station.core.journal_region import iter_span
from station.core.live_store import RegionStats
from station.ui import units
from station.ui.event_text import ERROR, INFO, WARNING
from station.ui.readings import compute_readings, samples_for
from station.ui.running_totals import RunningTotals

if TYPE_CHECKING:
    from station.ui.main_window import MainWindow

CLIPBOARD_MAX_SAMPLES = 100_000  # samples copied as CSV text; more go to a file
PANEL_S = 0.25  # readouts are refreshed this often (like the window's numeric panel)

# Shortcuts of the bench tools. None of them is a menu mnemonic (Alt+letter) or another
# action's key: tests/test_ui_bench_features.py checks it against the whole window.
KEYS = {
    "cursors": "C",
    "export_run_csv": "Ctrl+E",
    "export_selection_csv": "Ctrl+Shift+E",
    "copy_selection_values": "Ctrl+Shift+C",
    "export_plot_image": "Ctrl+Shift+P",
}


def _utc(t: float | None) -> str:
    if t is None:
        return units.DASH
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def values_text(kind: str, s: RegionStats, bounds: tuple[float, float]) -> str:
    """A selection's figures as tab-separated lines (quantity, value, unit): pastes into a sheet."""
    rows = [
        ("selection", kind, ""),
        ("start (UTC)", _utc(bounds[0]), ""),
        ("end (UTC)", _utc(bounds[1]), ""),
        ("duration", f"{s.duration_s:.6f}", "s"),
        ("samples", str(s.samples), ""),
        ("bad samples (excluded)", str(s.bad_samples), ""),
        ("mean power", "" if s.mean_w is None else f"{s.mean_w:.9g}", "W"),
        ("min power", "" if s.min_w is None else f"{s.min_w:.9g}", "W"),
        ("max power", "" if s.max_w is None else f"{s.max_w:.9g}", "W"),
        ("energy", f"{s.energy_j:.9g}", "J"),
        ("energy", f"{s.energy_j / 3600.0:.9g}", "Wh"),
    ]
    if not s.exact:
        rows.append(("note", "edges approximate (old data at reduced resolution)", ""))
    return "".join(f"{a}\t{b}\t{c}\n" for a, b, c in rows)


class BenchTools:
    """Adds the bench features to a main window (call once, after the window is built)."""

    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.totals: RunningTotals | None = None
        self._recording = None  # the Recording the totals belong to
        self._last = 0.0
        self.last_export: Path | None = None  # the last file written (tests, status)
        w = window
        self.cursor_action = w._action("Cursors", KEYS["cursors"], self.toggle_cursors,
                                       "Two cursors to drag: Δt, mean power and energy between them",
                                       checkable=True, name="cursors")
        self.export_run_action = w._action("Export run to CSV…", KEYS["export_run_csv"], self.export_run_csv,
                                           "Every sample of the recorded run (or the recording) to a CSV file",
                                           name="export_run_csv")
        self.export_selection_action = w._action(
            "Export selection to CSV…", KEYS["export_selection_csv"], self.export_selection_csv,
            "The samples between the cursors (or in the region R) to a CSV file", name="export_selection_csv")
        self.copy_values_action = w._action(
            "Copy selection values", KEYS["copy_selection_values"], self.copy_selection_values,
            "Duration, mean / min / max power and energy of the selection, to paste into a sheet",
            name="copy_selection_values")
        self.copy_csv_action = w._action(
            "Copy selection samples as CSV", None, self.copy_selection_csv,
            f"The selection's samples as CSV text (up to {CLIPBOARD_MAX_SAMPLES} samples)",
            name="copy_selection_csv")
        self.export_image_action = w._action("Export plot image…", KEYS["export_plot_image"],
                                             self.export_plot_image, "The power plot as PNG or SVG",
                                             name="export_plot_image")
        view = next((a.menu() for a in w.menuBar().actions() if a.text() == "&View"), None)
        if isinstance(view, QMenu):
            view.insertAction(w.fit_action, self.cursor_action)
        w.toolbar.insertAction(w.fit_action, self.cursor_action)
        menu = w.menuBar().addMenu("&Data")
        menu.setObjectName("data_menu")
        for a in (self.export_run_action, self.export_selection_action):
            menu.addAction(a)
        menu.addSeparator()
        menu.addAction(self.copy_values_action)
        menu.addAction(self.copy_csv_action)
        menu.addSeparator()
        menu.addAction(self.export_image_action)
        self.menu = menu
        w.timer.timeout.connect(self.frame)

    # -- messages ----------------------------------------------------------------------------------
    def _say(self, level: str, text: str) -> None:
        self.w.log_event(time.time(), level, text)
        self.w.statusBar().showMessage(text, 8000)

    # -- cursors -----------------------------------------------------------------------------------
    def toggle_cursors(self, checked: bool | None = None) -> None:
        show = (not self.w.plot.cursors_visible) if not isinstance(checked, bool) else checked
        self.w.plot.show_cursors(show)
        self.cursor_action.setChecked(show)
        if show:
            self.w.plot.set_follow(False)  # the cursors stay on the data they were put on

    # -- the frame: totals and meters ----------------------------------------------------------------
    def frame(self) -> None:
        now = time.monotonic()
        if now - self._last < PANEL_S:
            return
        self._last = now
        self.update_totals()
        self.update_meters()

    def update_totals(self) -> None:
        """Feed the accumulator from the live store, bounded by what the recording's journal holds."""
        w = self.w
        rec = w.recorder.recording if w.recorder.state == "recording" else None
        store = w.link.store
        if rec is not None and rec is not self._recording:
            self._recording, self.totals = rec, None  # a new recording: start from zero
        if self._recording is None or store is None:
            return
        monitor = self._recording.monitors.get(w.link.inst_id)
        if monitor is None:
            return
        snap = monitor.snapshot()
        if snap["t_first"] is None:
            return
        if self.totals is None:
            self.totals = RunningTotals(monitor.interval_s, snap["t_first"])
        if self.totals.running:
            self.totals.follow(store, snap["t_last"])
            if rec is None:  # the recording ended: its last samples are in; keep the figures
                self.totals.stop()
        w.readout.show_totals(self.totals)

    def update_meters(self) -> None:
        """Each analyzer's power when several are connected (the big number says whose)."""
        w = self.w
        if not w.extra_links or w.browse is not None:
            w.readout.show_meters([])
            return
        meters = [(w.link.inst_id, w.plot.label or w.link.inst_id, self._readings(w.link.store))]
        for key, src in w.plot.sources.items():
            link = w.extra_links.get(key)
            meters.append((key, src.label, self._readings(link.store if link is not None else None)))
        w.readout.show_meters(meters)

    @staticmethod
    def _readings(store):
        if store is None or store.span() is None:
            return None
        return compute_readings(store.latest(samples_for(store.interval_s)))

    # -- what there is to export ------------------------------------------------------------------------
    def run_directory(self) -> Path | None:
        """The journal of what the plot shows: the opened run, else the recording (current or last)."""
        w = self.w
        if w.browse is not None:
            return Path(w.browse.directory)
        if w.recorder.directory is not None and (w.recorder.directory / "header.json").exists():
            return Path(w.recorder.directory)
        return None

    def _inst_id(self) -> str | None:
        return self.w.browse.inst_id if self.w.browse is not None else self.w.link.inst_id

    def _instrument_name(self) -> str:
        return self.w.plot.label or self._inst_id() or ""

    def _selection(self) -> tuple[str, tuple[float, float], RegionStats | None] | None:
        sel = self.w.plot.selection_bounds()
        if sel is None:
            self._say(WARNING, "Nothing selected: press C for the cursors or R for a region first.")
            return None
        kind, bounds = sel
        stats = self.w.plot.cursor_stats() if kind == "cursors" else self.w.plot.region_stats()
        return kind, bounds, stats

    def _save_path(self, title: str, suggestion: Path, filters: str) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self.w, title, str(suggestion), filters)
        return Path(path) if path else None

    def _export_dir(self) -> Path:
        run = self.run_directory()
        return run.parent if run is not None else Path.home()

    # -- CSV ------------------------------------------------------------------------------------------
    def export_run_csv(self, path: Path | None = None) -> bool:
        """Every sample of the run to CSV, on a background lane. False if there is nothing to export."""
        run = self.run_directory()
        if run is None:
            self._say(WARNING, "No recorded run to export: record (Ctrl+R) or open a run (Ctrl+O) first. "
                               "Live data that is not recorded is not kept on disk.")
            return False
        if not isinstance(path, (str, Path)):
            path = self._save_path("Export the run to CSV", run.parent / f"{run.name}.csv", "CSV (*.csv)")
            if path is None:
                return False
        self._export_journal(run, Path(path), None, None, "the whole run")
        return True

    def export_selection_csv(self, path: Path | None = None) -> bool:
        """The samples between the cursors (or in the region) to CSV."""
        sel = self._selection()
        if sel is None:
            return False
        kind, (t0, t1), _ = sel
        if not isinstance(path, (str, Path)):
            path = self._save_path(f"Export the {kind} to CSV", self._export_dir() / f"selection-{kind}.csv",
                                   "CSV (*.csv)")
            if path is None:
                return False
        path = Path(path)
        run = self.run_directory()
        if run is not None and self._journal_holds(run, t0, t1):
            self._export_journal(run, path, t0, t1, f"the {kind}")
            return True
        records = self._live_records(t0, t1)
        if records is None:
            self._say(ERROR, f"The {kind} reaches back beyond what the live view keeps and nothing was "
                             "recorded there: record the run to export long spans.")
            return False
        text = records_csv(records, self._instrument_name(), self.w.plot.store.interval_s, t0, t1,
                           source="the live view (not recorded)")
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            self._say(ERROR, f"Cannot write {path}: {exc.strerror or exc}")
            return False
        self.last_export = path
        self._say(INFO, f"Exported {len(records)} samples of the {kind} to {path}")
        return True

    def _journal_holds(self, run: Path, t0: float, t1: float) -> bool:
        try:
            records = JournalReader(run).samples(self._inst_id())
        except (JournalError, OSError, KeyError):
            return False
        if len(records) == 0:
            return False
        span = self.w.plot.store.span() if self.w.plot.store is not None else None
        a = max(t0, span[0]) if span else t0
        b = min(t1, span[1]) if span else t1
        slack = 1.5 * float(self.w.plot.store.interval_s or 0.0) if self.w.plot.store is not None else 0.0
        return float(records["t"][0]) <= a + slack and float(records["t"][-1]) >= b - slack

    def _live_records(self, t0: float, t1: float) -> np.ndarray | None:
        """The plot store's samples in [t0, t1] if its raw window still holds all of them."""
        store = self.w.plot.store
        if store is None or store.span() is None:
            return None
        records = store.latest(store.total_samples)
        if len(records) and float(records["t"][0]) > max(t0, store.span()[0]) + 1e-9:
            return None
        return records[(records["t"] >= t0) & (records["t"] <= t1)]

    def _export_journal(self, run: Path, path: Path, t0: float | None, t1: float | None, what: str) -> None:
        inst = self._inst_id()
        self._say(INFO, f"Exporting {what} to {path}…")

        def done(result, error) -> None:
            if error is not None:
                self._say(ERROR, f"Export to {path} failed: {error}")
                return
            self.last_export = result.path
            self._say(INFO, f"Exported {result.rows} samples of {what} to {result.path}")

        self.w.probe_lane.submit(lambda: export_csv(run, path, t0, t1, inst), done)

    # -- clipboard ----------------------------------------------------------------------------------
    def copy_selection_values(self) -> bool:
        """The selection's duration, power and energy as tab-separated text on the clipboard."""
        sel = self._selection()
        if sel is None:
            return False
        kind, bounds, stats = sel
        if stats is None or stats.samples == 0:
            self._say(WARNING, f"The {kind} holds no samples: nothing to copy.")
            return False
        QApplication.clipboard().setText(values_text(kind, stats, bounds))
        self._say(INFO, f"Copied the {kind}'s values: {units.duration(stats.duration_s)}, "
                        f"mean {units.si(stats.mean_w, 'W')}, energy {units.energy(stats.energy_j)}")
        return True

    def copy_selection_csv(self) -> bool:
        """The selection's samples as CSV text, when they are few enough for a clipboard."""
        sel = self._selection()
        if sel is None:
            return False
        kind, (t0, t1), stats = sel
        n = stats.samples if stats is not None else 0
        if n > CLIPBOARD_MAX_SAMPLES:
            self._say(WARNING, f"The {kind} holds {n} samples, more than {CLIPBOARD_MAX_SAMPLES} fit a clipboard: "
                               "use Data → Export selection to CSV.")
            return False
        records = self._live_records(t0, t1)
        source = "the live view"
        if records is None:
            run = self.run_directory()
            if run is None or not self._journal_holds(run, t0, t1):
                self._say(ERROR, f"The samples of the {kind} are no longer in memory and were not recorded.")
                return False
            records = np.concatenate(list(iter_span(JournalReader(run), self._inst_id(), t0, t1)) or
                                     [self.w.plot.store.latest(0)])
            source = f"journal {run}"
        QApplication.clipboard().setText(records_csv(records, self._instrument_name(),
                                                     self.w.plot.store.interval_s, t0, t1, source=source))
        self._say(INFO, f"Copied {len(records)} samples of the {kind} as CSV")
        return True

    def _render_svg(self, path: Path) -> None:
        from PySide6.QtCore import QRectF, QSize
        from PySide6.QtGui import QPainter
        from PySide6.QtSvg import QSvgGenerator

        widget = self.w.plot.plot
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(QSize(widget.width(), widget.height()))
        gen.setViewBox(QRectF(0, 0, widget.width(), widget.height()))
        gen.setTitle("Station power plot")
        painter = QPainter(gen)
        try:
            widget.scene().render(painter, QRectF(0, 0, widget.width(), widget.height()),
                                  widget.sceneRect())
        finally:
            painter.end()

    # -- plot image ----------------------------------------------------------------------------------
    def export_plot_image(self, path: Path | None = None) -> bool:
        """The power plot as PNG or SVG (by the file name's suffix)."""
        import pyqtgraph.exporters as exporters

        if not isinstance(path, (str, Path)):
            path = self._save_path("Export the plot", self._export_dir() / "power-plot.png",
                                   "PNG image (*.png);;SVG drawing (*.svg)")
            if path is None:
                return False
        path = Path(path)
        item = self.w.plot.plot.getPlotItem()
        suffix = path.suffix.lower()
        if suffix not in (".png", ".svg"):
            self._say(ERROR, f"Cannot export the plot as {suffix or 'a file without suffix'}: name it .png or .svg")
            return False
        try:
            if suffix == ".svg":
                try:
                    exporters.SVGExporter(item).export(str(path))
                except (ValueError, IndexError):
                    # pyqtgraph's SVG clean-up cannot parse every path Qt writes (e.g. the filled
                    # band); Qt's own SVG painter draws the same scene as vectors.
                    self._render_svg(path)
            else:
                exporter = exporters.ImageExporter(item)
                exporter.parameters()["width"] = max(1200, int(item.width()))
                exporter.export(str(path))
        except OSError as exc:
            self._say(ERROR, f"Cannot write {path}: {exc.strerror or exc}")
            return False
        if not path.exists():
            self._say(ERROR, f"The plot could not be written to {path}")
            return False
        self.last_export = path
        self._say(INFO, f"Exported the plot to {path}")
        return True
