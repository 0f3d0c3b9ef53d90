"""The station window: live power, numbers, alarms, events, instrument and recording control.

Threads: acquisition threads feed the live store and post events into the :class:`Inbox`;
blocking jobs (connect, reconfigure, journal start/finish, discovery, disk space, loading a
recorded run or a result, the guided measurement's steps and export) run on :class:`TaskLane`
threads and post their results there too. One ``QTimer`` at about 30 Hz drains the inbox and
redraws; widgets are only touched on the GUI thread, and the GUI never waits on an instrument
or the disk.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import deque
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from station.core.journal import JournalError, JournalReader
from station.core.live_store import LiveStore
from station.core.run_index import station_home
from station.ui import calibration, units
from station.ui.calibration import CalibrationBook
from station.ui.deep_zoom import JournalDetail
from station.ui.event_log import EventLog
from station.ui.event_text import ERROR, INFO, WARNING, describe
from station.ui.inbox import Inbox, TaskLane, run_callback
from station.ui.instrument_link import InstrumentLink, InstrumentRequest
from station.ui.instrument_panel import InstrumentPanel
from station.ui.power_plot import PowerPlot
from station.ui.readings import Readings, compute_readings, samples_for
from station.ui.readout_panel import ALARM, WARN, AlarmBanners, ReadoutPanel, RegionReadout
from station.ui.recording_control import RecordingControl, default_run_directory
from station.ui.theme import Theme, apply_theme, theme_named

if TYPE_CHECKING:
    from station.bundle.result_model import ResultModel
    from station.ui.guide import GuideWidget

FRAME_MS = 33
CENTRAL_MIN_WIDTH, CENTRAL_MIN_HEIGHT = 480, 420  # px: all the plot column asks of the window
PANEL_S = 0.25
STATUS_S = 1.0
DISK_PROBE_S = 5.0
WINDOWS_S = (1, 5, 10, 30, 60, 300, 600, 1800, 3600)
LOW_DISK_BYTES = 2 * 1024**3
RECORDED_WINDOW_SAMPLES = 1 << 20  # a recorded run's samples kept whole in memory; deep zoom reads the rest
RECENT_EVENTS = 256  # events remembered to show one that two sources report only once


class RecordedRun:
    """A journal opened for browsing: its reader, its store, its events and its summary."""

    def __init__(self, directory: Path, reader: JournalReader, store: LiveStore, events: list[dict],
                 inst_id: str | None = None, summary: dict | None = None) -> None:
        self.directory = directory
        self.reader = reader
        self.store = store
        self.events = events
        self.inst_id = inst_id  # the instrument shown (None: the first)
        self.summary = summary  # None: the run was interrupted


def load_run(directory: Path) -> RecordedRun:
    """Read a run directory into a store (background thread: every file it needs is read here)."""
    reader = JournalReader(directory)
    if not reader.instruments:
        raise JournalError(f"{directory} lists no instrument")
    inst_id, entry = next(iter(reader.instruments.items()))
    records = reader.samples(inst_id)
    store = LiveStore.from_records(records, interval_s=entry.interval_s,
                                   window_samples=int(min(max(len(records), 1), RECORDED_WINDOW_SAMPLES)))
    return RecordedRun(Path(directory), reader, store, reader.events(), inst_id, reader.summary_file())


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else default_settings()
        self.theme: Theme = theme_named(str(self.settings.value("ui/theme", "light")))
        self.inbox = Inbox()
        self.instrument_lane = TaskLane("instrument", self.inbox)
        self.journal_lane = TaskLane("journal", self.inbox)
        self.probe_lane = TaskLane("probe", self.inbox)  # scans, disk space, opening runs and results
        self.guide_lane = TaskLane("guide", self.inbox)  # the guided measurements' steps and export
        self.link = InstrumentLink(self.inbox, self.instrument_lane)
        self.extra_links: dict[str, InstrumentLink] = {}  # further instruments shown in the plot
        self.recorder = RecordingControl(self.journal_lane)
        self.calibrations = CalibrationBook(self.settings)
        self.browse: RecordedRun | None = None
        self.loading_run: Path | None = None  # a run or a result being read
        self.next_run_dir: Path | None = None
        self.readings: Readings | None = None
        self.cal_status: str | None = None
        self.disk_free: int | None = None
        self._overrange_seen = (None, 0)  # (store, overrange samples seen in it)
        self._conditions: set[str] = set()  # alarm conditions seen at the last readings update
        self._folded_invalid = False
        self._recent_events: deque = deque(maxlen=RECENT_EVENTS)
        self._rate = (None, 0, time.monotonic(), None)  # store id, samples, time, rate
        self._last_panel = 0.0
        self._last_status = 0.0
        self._last_disk_probe = -DISK_PROBE_S
        self._last_tick = time.perf_counter()
        self.max_tick_gap_s = 0.0  # worst frame-timer latency seen (diagnostics, benchmarks)
        self.ticks = 0
        self._closing = False
        self._close_ready = False
        self._quit_confirmed = False  # request_quit asked already (or nothing needed asking)
        self._mark_count = 0
        self.live_marks: list[tuple[float, str]] = []  # marks on the live data (kept while browsing)
        self._settings_pause_until = 0.0
        self.setWindowTitle("Station — power measurement")
        self.setObjectName("station_main_window")

        # -- central: alarms, numbers, plot, region --------------------------------------------------
        central = QWidget(self)
        self.banners = AlarmBanners(central, self.theme)
        self.readout = ReadoutPanel(central, self.theme)
        self.plot = PowerPlot(central, self.theme)
        self.region_readout = RegionReadout(central)
        v = QVBoxLayout(central)
        v.setContentsMargins(6, 6, 6, 2)
        v.setSpacing(4)
        v.addWidget(self.banners)
        v.addWidget(self.readout)
        v.addWidget(self.plot, 1)
        v.addWidget(self.region_readout)
        # What the column shows (banners, trace rows, meters, long names) must never make the
        # window grow by itself: the plot gives up its room first, and when even the smallest
        # layout does not fit, the column scrolls instead of pushing the window's edges.
        column = QScrollArea(self)
        column.setObjectName("central_column")
        column.setWidget(central)
        column.setWidgetResizable(True)
        column.setFrameShape(QFrame.Shape.NoFrame)
        column.setMinimumSize(CENTRAL_MIN_WIDTH, CENTRAL_MIN_HEIGHT)
        self.central_column = column
        self.setCentralWidget(column)

        # -- docks --------------------------------------------------------------------------------------
        self.panel = InstrumentPanel(theme=self.theme)
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(330)
        self.panel_dock = QDockWidget("Instrument", self)
        self.panel_dock.setObjectName("instrument_dock")
        self.panel_dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.panel_dock)
        self.log = EventLog(theme=self.theme)
        self.log_dock = QDockWidget("Events", self)
        self.log_dock.setObjectName("events_dock")
        self.log_dock.setWidget(self.log)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)

        self._build_actions()
        self._build_status_bar()

        self.panel.connectRequested.connect(self.connect_instrument)
        self.panel.disconnectRequested.connect(self.disconnect_instrument)
        self.panel.applyRequested.connect(self.apply_settings)
        self.panel.scanRequested.connect(self.scan_resources)
        self.panel.calibrationChanged.connect(self._on_calibration_changed)
        self.plot.regionChanged.connect(self._on_region_changed)
        self.plot.followChanged.connect(self.follow_action.setChecked)

        self._restore_settings()
        apply_theme_to(self, self.theme)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._on_frame)
        self.timer.start(FRAME_MS)
        self._add_bench_actions()
        self._refresh_controls()

    # =============================================================================================
    # construction
    # =============================================================================================
    def _action(self, text: str, shortcut: str | QKeySequence.StandardKey | None, slot, tip: str = "",
                checkable: bool = False, name: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        a.setCheckable(checkable)
        if tip:
            a.setStatusTip(tip)
            keys = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            a.setToolTip(f"{tip} ({keys})" if keys else tip)
        a.setObjectName(name or text.lower().replace(" ", "_"))
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        self.connect_action = self._action("Connect", "Ctrl+K", self.toggle_connection,
                                           "Connect to / disconnect from the instrument", name="connect")
        self.record_action = self._action("● Record", "Ctrl+R", self.toggle_recording,
                                          "Start / stop recording into the journal", name="record")
        self.record_to_action = self._action("Record to…", None, self.choose_run_directory,
                                             "Choose the directory of the next recording", name="record_to")
        self.mark_action = self._action("Mark", "M", self.mark, "Put a mark at this moment (into the journal "
                                        "when recording)", name="mark")
        self.follow_action = self._action("Follow live", "End", self.set_follow, "Follow the newest data",
                                          checkable=True, name="follow")
        self.follow_action.setChecked(True)
        self.pause_action = self._action("Pause", "P", self.toggle_pause, "Pause / resume following the data",
                                         name="pause")
        self.region_action = self._action("Region", "R", self.toggle_region,
                                          "Select a span to read its duration, power and energy",
                                          checkable=True, name="region")
        self.fit_action = self._action("Fit all", "Home", self.plot.fit_all, "Show the whole recording",
                                       name="fit_all")
        self.open_action = self._action("Open run…", "Ctrl+O", self.choose_run_to_open,
                                        "Open a recorded run (its journal directory) to browse it", name="open")
        self.live_action = self._action("Back to live", "Ctrl+L", self.close_run,
                                        "Leave the recorded run and show the live data", name="back_to_live")
        self.theme_action = self._action("Dark theme", "Ctrl+T", self.toggle_theme, "Switch light / dark theme",
                                         checkable=True, name="theme")
        self.fullscreen_action = self._action("Full screen", "F11", self.toggle_full_screen,
                                              "Full screen on / off", name="full_screen")
        self.quit_action = self._action("Quit", "Ctrl+Q", self.request_quit, "Close the station", name="quit")
        self.trace_actions: dict[str, QAction] = {}
        # Shift+letter: Alt+letter belongs to the menus' mnemonics (Alt+V opens &View).
        for name, text, key, tip in (("v", "Volts", "Shift+V", "Show the voltage in a plot under the power"),
                                     ("a", "Amps", "Shift+A", "Show the current in a plot under the power"),
                                     ("pf", "PF", "Shift+F", "Show the power factor in a plot under the power"),
                                     ("ch_w", "Elements", "Shift+E", "Show the power of each measuring element")):
            act = self._action(text, key, lambda checked, n=name: self.set_trace(n, checked), tip,
                               checkable=True, name=f"trace_{name}")
            self.trace_actions[name] = act
        self.total_action = self._action("Total", None, self.set_show_total,
                                         "Show the system total: the sum of all instruments' power",
                                         checkable=True, name="show_total")
        self.add_instrument_action = self._action(
            "Add instrument", None, self.add_instrument_from_panel,
            "Connect a further instrument with the panel's choice and show it in the plot too",
            name="add_instrument")

        self.window_combo = QComboBox(self)
        self.window_combo.setObjectName("window_combo")
        self.window_combo.setToolTip("Length of the live window")
        for s in WINDOWS_S:
            self.window_combo.addItem(f"{s} s" if s < 60 else f"{s // 60} min", float(s))
        self.window_combo.currentIndexChanged.connect(
            lambda i: self.plot.set_window(self.window_combo.itemData(i)))
        self.duration_spin = QDoubleSpinBox(self)
        self.duration_spin.setObjectName("duration_spin")
        self.duration_spin.setRange(0, 7 * 24 * 3600)
        self.duration_spin.setDecimals(0)
        self.duration_spin.setSuffix(" s")
        self.duration_spin.setSpecialValueText("until stopped")
        self.duration_spin.setToolTip("Length of the next recording (0: until stopped)")

        bar = QToolBar("Main", self)
        bar.setObjectName("main_toolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.addAction(self.connect_action)
        bar.addSeparator()
        bar.addAction(self.record_action)
        bar.addWidget(self.duration_spin)
        bar.addAction(self.record_to_action)
        bar.addAction(self.mark_action)
        bar.addSeparator()
        bar.addAction(self.follow_action)
        bar.addWidget(QLabel(" window ", self))
        bar.addWidget(self.window_combo)
        bar.addAction(self.region_action)
        bar.addAction(self.fit_action)
        bar.addSeparator()
        bar.addWidget(QLabel(" show ", self))
        for act in self.trace_actions.values():
            bar.addAction(act)
        bar.addAction(self.total_action)
        bar.addSeparator()
        bar.addAction(self.open_action)
        bar.addAction(self.live_action)
        bar.addSeparator()
        bar.addAction(self.theme_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.toolbar = bar
        self.record_button = bar.widgetForAction(self.record_action)
        self.record_button.setObjectName("record_button")
        f = self.record_button.font()
        f.setBold(True)
        self.record_button.setFont(f)

        menu = self.menuBar()
        m = menu.addMenu("&Station")
        for a in (self.connect_action, self.record_action, self.record_to_action, self.mark_action):
            m.addAction(a)
        m.addAction(self.add_instrument_action)
        m.addSeparator()
        m.addAction(self.open_action)
        m.addAction(self.live_action)
        m.addSeparator()
        m.addAction(self.quit_action)
        m = menu.addMenu("&View")
        for a in (self.follow_action, self.pause_action, self.region_action, self.fit_action):
            m.addAction(a)
        m.addSeparator()
        for act in (*self.trace_actions.values(), self.total_action):
            m.addAction(act)
        m.addSeparator()
        m.addAction(self.panel_dock.toggleViewAction())
        m.addAction(self.log_dock.toggleViewAction())
        m.addAction(self.theme_action)
        m.addAction(self.fullscreen_action)

    def _add_bench_actions(self) -> None:
        """Cursors, energy since record start, per-meter readouts, CSV / clipboard / image export."""
        from station.ui.bench_tools import BenchTools

        self.bench = BenchTools(self)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.state_label = QLabel("disconnected")
        self.state_label.setObjectName("status_state")
        self.rate_label = QLabel("")
        self.rate_label.setObjectName("status_rate")
        self.journal_label = QLabel("not recording")
        self.journal_label.setObjectName("status_journal")
        self.disk_label = QLabel("")
        self.disk_label.setObjectName("status_disk")
        self.frame_label = QLabel("")
        self.frame_label.setObjectName("status_frame")
        for w in (self.state_label, self.rate_label, self.journal_label, self.disk_label):
            sb.addPermanentWidget(w)
        sb.addWidget(self.frame_label)

    # =============================================================================================
    # instrument
    # =============================================================================================
    def toggle_connection(self) -> None:
        if self.link.pending:
            return
        if self.link.connected:
            self.disconnect_instrument()
        else:
            self.panel._on_connect_clicked()

    def connect_instrument(self, request: InstrumentRequest) -> None:
        """Connect in the background; streaming starts when connected."""
        if self.link.connected or self.link.pending:
            return
        self.panel.show_message(f"Connecting to {request.driver}…")
        self.link.connect(request, self._on_connected)
        self._refresh_controls()

    def _on_connected(self, result, error) -> None:
        if error is not None:
            text = f"Cannot connect to {self.panel.driver_name}: {error}"
            self.panel.show_message(text, error=True)
            self.log_event(time.time(), ERROR, text)
        else:
            session = self.link.session
            self.panel.show_message("")
            self.live_marks.clear()
            if self.browse is None:
                self.plot.set_store(self.link.store, live=True)
                self.plot.clear_marks()
            self.plot.label = f"inst0: {session.identity.model} {session.identity.serial}"
            self._check_calibration(log=True)
            self.setWindowTitle(f"Station — {session.identity.vendor} {session.identity.model} "
                                f"{session.identity.serial}")
        self._refresh_controls()

    def apply_settings(self, config, voltage_range, current_range) -> None:
        """Change configuration and ranges of the connected instrument (in the background)."""
        if not self.link.connected or self.link.pending:
            return
        if self.recorder.active and self.link.session is not None:
            cur = self.link.session.config
            if (abs(cur.update_interval_s - config.update_interval_s) > 1e-12
                    or cur.crest_factor != config.crest_factor or cur.mode != config.mode):
                self.panel.show_message("During a recording only the ranges can change; stop the recording "
                                        "to change update interval, crest factor or mode.", error=True)
                return
        self.panel.show_message("Applying settings…")
        self._settings_pause_until = time.monotonic() + 60.0  # until it is done (see _on_applied)
        self.link.apply(config, voltage_range, current_range, self._on_applied)
        self._refresh_controls()

    def _on_applied(self, result, error) -> None:
        # Settings are applied between two reads, without a hole; a gap reported around the
        # change (e.g. by a meter that pauses while it reconfigures) raises no alarm.
        self._settings_pause_until = time.monotonic() + 2.0
        if error is not None:
            text = f"Settings refused: {error} (the previous settings stay in force)"
            self.panel.show_message(text, error=True)
            self.log_event(time.time(), ERROR, text)
        else:
            self.panel.show_message("Settings applied.")
            if self.browse is None and self.plot.store is not self.link.store:
                self.plot.set_store(self.link.store, live=True)
        self._refresh_controls()

    def disconnect_instrument(self) -> None:
        """Finish a recording (if any), then release the instrument."""
        if not self.link.connected or self.link.pending:
            return
        if self.recorder.active:
            self.stop_recording(then=self.disconnect_instrument)
            return
        self.link.disconnect(self._on_disconnected)
        self._refresh_controls()

    def _on_disconnected(self, result, error) -> None:
        if error is not None:
            self.log_event(time.time(), WARNING, f"Closing the instrument reported: {error}")
        for key in ("overrange", "invalid", "connection", "stall", "calibration"):
            self.banners.clear_banner(key, force=True)
        self.plot.set_follow(False)
        self.plot.live = False
        self.setWindowTitle("Station — power measurement")
        self._refresh_controls()

    def scan_resources(self) -> None:
        def job():
            from instruments import discovery

            return discovery.discover()

        def done(result, error):
            if error is not None:
                self.panel.show_message(f"Scan failed: {error}", error=True)
                return
            self.panel.set_resources(result or [])
            self.panel.show_message(f"{len(result or [])} resource(s) found." if result else
                                    "No VISA instruments or serial ports found.")

        self.panel.show_message("Scanning…")
        self.probe_lane.submit(job, done)

    # -- calibration ----------------------------------------------------------------------------------
    def _serial(self) -> str | None:
        s = self.link.session
        return (s.identity.serial or "") if s is not None and s.identity is not None else None

    def _check_calibration(self, log: bool) -> None:
        serial = self._serial()
        if serial is None:
            return
        self.panel.set_connection(True, identity=self.link.session.identity, recording=self.recorder.active)
        due = self.calibrations.due(serial)
        self.cal_status = self.panel.show_calibration(due)
        self._show_calibration_banner(serial, due, log)

    def _show_calibration_banner(self, serial: str, due: date | None, log: bool) -> None:
        st = calibration.status(due)
        self.cal_status = st
        if st == calibration.EXPIRED:
            self.banners.set_banner("calibration", ALARM,
                                    f"CALIBRATION EXPIRED on {due} (serial {serial}): results may not be accepted.")
            if log:
                self._log_kind("calibration_expired", {"serial": serial, "due": str(due)})
        else:
            self.banners.clear_banner("calibration", force=True)
            if log and st == calibration.UNKNOWN:
                self._log_kind("calibration_unknown", {"serial": serial})

    def _on_calibration_changed(self, serial: str, due) -> None:
        try:
            self.calibrations.set_due(serial, due)
        except calibration.CalibrationError as exc:
            self.log_event(time.time(), WARNING, f"The calibration due date was not stored: {exc}")
            return
        self.log_event(time.time(), INFO, f"Calibration due date of serial {serial} set to {due or 'unknown'}")
        self._show_calibration_banner(serial, due, log=True)

    # =============================================================================================
    # recording
    # =============================================================================================
    def toggle_recording(self) -> None:
        if self.recorder.state == "recording":
            self.stop_recording()
        elif self.recorder.state == "idle":
            self.start_recording()

    def choose_run_directory(self) -> None:
        base = str(station_home() / "runs")
        path = QFileDialog.getExistingDirectory(self, "Directory of the next recording", base)
        if path:
            self.next_run_dir = Path(path) / default_run_directory().name
            self.log_event(time.time(), INFO, f"The next recording goes to {self.next_run_dir}")

    def start_recording(self, directory: Path | None = None, duration_s: float | None = None) -> bool:
        """Start recording the connected instrument; False (with a message) if it cannot start."""
        session = self.link.session
        if session is None or self.link.pending:
            self.log_event(time.time(), WARNING, "Connect an instrument before recording.")
            return False
        if self.recorder.state != "idle":
            return False
        directory = Path(directory or self.next_run_dir or default_run_directory())
        self.next_run_dir = None
        if duration_s is None:
            duration_s = self.duration_spin.value() or None
        serial = self._serial() or ""
        due = self.calibrations.due(serial)
        st = calibration.status(due)
        settings = {
            "command": "gui",
            "instrument": self.link.request.to_dict() if self.link.request else None,
            "calibration": {"serial": serial, "due": due.isoformat() if due else None, "status": st},
            "duration_s": duration_s,
        }
        events = []
        if st == calibration.EXPIRED:
            events.append(("calibration_expired", {"serial": serial, "due": due.isoformat(),
                                                   "message": "calibration expired before this run"}))
        elif st == calibration.UNKNOWN:
            events.append(("calibration_unknown", {"serial": serial,
                                                   "message": "no calibration due date recorded"}))
        self.recorder.start(session, directory, settings, duration_s, events, self._on_recording_started)
        self.log_event(time.time(), INFO, f"Starting a recording in {directory}…")
        self._refresh_controls()
        return True

    def _on_recording_started(self, result, error) -> None:
        if error is not None:
            text = f"The recording could not start: {error}"
            self.banners.set_banner("recording", ALARM, text, latch_s=10)
            self.log_event(time.time(), ERROR, text)
        else:
            self.banners.clear_banner("recording", force=True)
            self._log_kind("recording_started", {"directory": str(self.recorder.directory)})
            self._attach_recording_journal()
        self._refresh_controls()

    def _attach_recording_journal(self) -> None:
        """Deep zoom into the live data reads the journal being recorded (where it holds the view)."""
        store = self.link.store
        if (self.browse is None and self.recorder.state == "recording" and self.recorder.directory is not None
                and store is not None and self.plot.store is store):
            self.plot.set_journal(JournalDetail(self.recorder.directory, self.link.inst_id, store.interval_s))

    def stop_recording(self, state: str = "complete", then=None) -> None:
        if self.recorder.state != "recording":
            if then is not None:
                then()
            return

        def done(summary, error):
            if error is not None:
                text = f"Finishing the recording failed: {error}"
                self.banners.set_banner("recording", ALARM, text, latch_s=10)
                self.log_event(time.time(), ERROR, text)
            elif summary is not None:
                text = (f"{summary['samples']} samples, {units.duration(summary['duration_s'])}, mean "
                        f"{units.si(summary['avg_w'], 'W')}, energy {units.energy(summary['energy_j'])} "
                        f"→ {summary['run_dir']}")
                self._log_kind("recording_finished", {"state": summary.get("state"), "text": text})
            self._refresh_controls()
            if then is not None:
                then()

        self.recorder.finish(state, done)
        self._refresh_controls()

    def mark(self) -> None:
        """Mark this moment: a line on the plot, an event in the log and (when recording) the journal."""
        t = time.time()  # samples carry UTC seconds too: the mark lands where the data of this moment is
        self._mark_count += 1
        n = self._mark_count
        label = f"M{n}"
        recorded = self.recorder.mark(t, label)
        self.live_marks.append((t, label))
        if self.browse is None:
            self.plot.add_mark(t, label)
        self._log_kind("mark", {"number": n, "label": label, "recorded": recorded}, t=t)

    def _check_recording_progress(self) -> None:
        rec = self.recorder.recording
        if rec is None or self.recorder.state != "recording":
            return
        if rec.error:
            self.banners.set_banner("recording", ALARM, f"RECORDING STOPPED: {rec.error}")
            self.stop_recording("failed")
        elif rec.duration_s is not None and rec.reached_duration:
            self.stop_recording("complete")

    # =============================================================================================
    # recorded runs
    # =============================================================================================
    def choose_run_to_open(self) -> None:
        base = str(station_home() / "runs")
        path = QFileDialog.getExistingDirectory(self, "Open a recorded run (its directory)", base)
        if path:
            self.open_run(Path(path))

    def open_run(self, directory: Path) -> None:
        """Load a recorded run in the background and show it like a live one."""
        directory = Path(directory)
        self.loading_run = directory
        self.log_event(time.time(), INFO, f"Opening {directory}…")

        def done(run: RecordedRun | None, error) -> None:
            self.loading_run = None
            if error is not None:
                self.log_event(time.time(), ERROR, f"Cannot open {directory}: {error}")
                self.banners.set_banner("open", WARN, f"Cannot open {directory}: {error}", latch_s=8)
                return
            self.show_run(run)

        self.probe_lane.submit(lambda: load_run(directory), done)
        self._refresh_controls()

    def show_run(self, run: RecordedRun) -> None:
        self.browse = run
        self.plot.set_store(run.store, live=False)
        # Old parts of a long run are read from its journal when zoomed in (deep zoom).
        self.plot.set_journal(JournalDetail(run.directory, run.inst_id, run.store.interval_s))
        self.plot.clear_marks()
        summary = run.summary
        head = f"— recorded run {run.directory.name} ({run.reader.run_id[:8]}) —"
        self.log_event(time.time(), INFO, head)
        for ev in run.events:
            kind = ev.get("kind", "")
            detail = {k: v for k, v in ev.items() if k not in ("t", "kind")}
            if kind == "mark":
                self.plot.add_mark(float(ev["t"]), str(detail.get("label", "mark")))
                detail["recorded"] = True
            level, text = describe(kind, detail)
            self.log.add(float(ev.get("t", 0.0)), level, "[run] " + text)
        if summary is None:
            self.log_event(time.time(), WARNING, "This run has no summary: it was interrupted; "
                           "station recover can restore it.")
        self.setWindowTitle(f"Station — recorded run {run.directory}")
        self._refresh_controls()

    def open_result(self, path: Path, show: Callable[[ResultModel], None],
                    fail: Callable[[str], None]) -> None:
        """Read a bundle or a published MLPerf power directory on the probe lane (a bundle is
        verified: every file is hashed); ``show(model)`` or ``fail(message)`` then runs on the GUI thread."""
        path = Path(path)
        self.loading_run = path
        self.log_event(time.time(), INFO, f"Opening the result {path}…")

        def job() -> ResultModel:
            from station.bundle.result_model import load_result

            return load_result(path)

        def done(model: ResultModel | None, error: BaseException | None) -> None:
            self.loading_run = None
            if error is not None:
                text = f"Cannot open the result {path}: {error}"
                self.log_event(time.time(), ERROR, text)
                fail(str(error))
            else:
                show(model)
            self._refresh_controls()

        self.probe_lane.submit(job, done)
        self._refresh_controls()

    def close_run(self) -> None:
        if self.browse is None:
            return
        self.browse = None
        self.plot.set_store(self.link.store, live=self.link.connected)
        self._attach_recording_journal()
        self.plot.clear_marks()
        for t, label in self.live_marks[-300:]:
            self.plot.add_mark(t, label)
        self.setWindowTitle("Station — power measurement")
        self._refresh_controls()

    # =============================================================================================
    # view
    # =============================================================================================
    def set_trace(self, name: str, show: bool) -> None:
        """Show / hide volts, amps, power factor or per-element power in the plot."""
        self.plot.set_trace(name, bool(show))
        self.trace_actions[name].setChecked(bool(show))

    def set_show_total(self, show: bool) -> None:
        self.plot.set_show_total(bool(show))
        self.total_action.setChecked(bool(show))

    # -- further instruments ----------------------------------------------------------------------
    def add_instrument_from_panel(self) -> None:
        self.add_instrument(self.panel.request())

    def add_instrument(self, request: InstrumentRequest) -> str:
        """Connect a further instrument (in the background) and show it in the plot with its own
        colour and legend entry; its events go to the log. Returns its id."""
        inst_id = f"inst{len(self.extra_links) + 1}"
        while inst_id in self.extra_links:
            inst_id += "x"
        link = InstrumentLink(self.inbox, TaskLane(f"instrument-{inst_id}", self.inbox), inst_id)
        self.extra_links[inst_id] = link
        self.log_event(time.time(), INFO, f"Connecting a further instrument ({request.driver}) as {inst_id}…")

        def done(result, error):
            if error is not None:
                self.extra_links.pop(inst_id, None)
                link.lane.close(0.5)
                self.log_event(time.time(), ERROR, f"Cannot connect {request.driver} as {inst_id}: {error}")
                return
            ident = link.session.identity
            label = f"{inst_id}: {ident.model} {ident.serial}"
            self.plot.add_source(inst_id, label, link.store)
            if not self.plot.label and self.link.session is not None and self.link.session.identity is not None:
                self.plot.label = f"inst0: {self.link.session.identity.model} {self.link.session.identity.serial}"

        link.connect(request, done)
        return inst_id

    def remove_instrument(self, inst_id: str) -> None:
        """Disconnect a further instrument and take it off the plot."""
        link = self.extra_links.pop(inst_id, None)
        if link is None:
            return
        self.plot.remove_source(inst_id)

        def done(result, error):
            link.lane.close(0.5)
            if error is not None:
                self.log_event(time.time(), WARNING, f"Closing {inst_id} reported: {error}")

        link.disconnect(done)

    # -- the guided measurement --------------------------------------------------------------------
    def new_guide(self, out_dir: Path, **options) -> GuideWidget:
        """A guided measurement in ``out_dir`` whose steps run on this window's guide lane and whose
        events come through this window's inbox (``options`` go to :class:`GuideWidget`)."""
        from station.ui.guide import GuideWidget

        return GuideWidget(out_dir, inbox=self.inbox, lane=self.guide_lane, **options)

    def set_follow(self, checked: bool = True) -> None:
        self.plot.set_follow(bool(checked))
        self.follow_action.setChecked(self.plot.follow)

    def toggle_pause(self) -> None:
        self.set_follow(not self.plot.follow)

    def toggle_region(self, checked: bool | None = None) -> None:
        show = (not self.plot.region_visible) if checked is None or not isinstance(checked, bool) else checked
        self.plot.show_region(show)
        self.region_action.setChecked(show)
        if show:
            self.plot.set_follow(False)
        self._on_region_changed()

    def _on_region_changed(self) -> None:
        self.region_readout.show_stats(self.plot.region_stats() if self.plot.region_visible else None)

    def toggle_theme(self) -> None:
        self.set_theme("dark" if self.theme.name == "light" else "light")

    def set_theme(self, name: str) -> None:
        self.theme = theme_named(name)
        apply_theme_to(self, self.theme)
        self.settings.setValue("ui/theme", self.theme.name)

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    # =============================================================================================
    # the frame timer
    # =============================================================================================
    def _on_frame(self) -> None:
        now_pc = time.perf_counter()
        gap = now_pc - self._last_tick
        self._last_tick = now_pc
        self.max_tick_gap_s = max(self.max_tick_gap_s, gap)
        self.ticks += 1
        self.drain()
        self.plot.refresh()
        now = time.monotonic()
        if now - self._last_panel >= PANEL_S:
            self._last_panel = now
            self._update_readings()
        if now - self._last_status >= STATUS_S:
            self._last_status = now
            self._update_status()
            self._check_recording_progress()
            for key in ("overrange", "invalid", "gap", "open"):
                if key not in self._conditions:
                    self.banners.clear_banner(key)

    def drain(self, limit: int = 2000) -> int:
        """Handle what the worker threads posted (GUI thread)."""
        items = self.inbox.drain(limit)
        # A range switch makes a few readings invalid: that is part of the range change, so
        # its invalid begin/end pair is folded into the "Range change" line.
        range_times = [it[3] for it in items if it[0] == "event" and it[2] == "range"]
        for item in items:
            tag = item[0]
            if run_callback(item):
                continue
            if tag == "event":
                _, source, kind, t, detail = item
                if kind == "invalid" and self._is_range_switch(t, detail, range_times):
                    continue
                if kind == "range" and self._said_before(source, kind, t, detail):
                    continue  # the instrument and the monitor watching its data report the same change
                self._on_instrument_event(kind, t, detail)
            elif tag == "disk":
                _, path, free = item
                self.disk_free = free
        dropped = self.inbox.take_drop_notice()
        if dropped:
            self.log_event(time.time(), WARNING, f"{dropped} instrument events came faster than this window "
                           "could show them and are missing from this log; a recording's journal keeps every one.")
        return len(items)

    def _said_before(self, source: str, kind: str, t: float, detail: dict) -> bool:
        """True if exactly this event (same source, kind, time and details) was shown already."""
        try:
            key = (source, kind, t, tuple(sorted(detail.items())))
            hash(key)
        except TypeError:  # details that are not plain values: never taken for a repeat
            return False
        if key in self._recent_events:
            return True
        self._recent_events.append(key)
        return False

    def _is_range_switch(self, t: float, detail: dict, range_times: list[float]) -> bool:
        if detail.get("state") == "begin":
            if any(abs(t - rt) < 1e-6 for rt in range_times):
                self._folded_invalid = True
                return True
            return False
        if self._folded_invalid:
            self._folded_invalid = False
            return True
        return False

    def _on_instrument_event(self, kind: str, t: float, detail: dict) -> None:
        level, text = describe(kind, detail)
        inst = detail.get("instrument")
        if inst in self.extra_links:  # a further instrument: logged under its name, no panel state
            self.log.add(t, level, f"[{inst}] {text}")
            if kind in ("disconnected", "error"):
                self.banners.set_banner(f"connection-{inst}", ALARM, f"{inst}: {text}", latch_s=5)
            elif kind in ("reconnected", "closed"):
                self.banners.clear_banner(f"connection-{inst}", force=True)
            return
        self.log.add(t, level, text)
        if kind in ("disconnected", "reconnecting"):
            self.banners.set_banner("connection", ALARM, "INSTRUMENT CONNECTION LOST — reconnecting. "
                                    "Check the cable and the instrument's power; the hole is marked as a gap.")
        elif kind in ("reconnected", "closed"):
            self.banners.clear_banner("connection", force=True)
        elif kind == "error":
            self.banners.set_banner("connection", ALARM, f"ACQUISITION FAILED: {detail.get('message', '')}. "
                                    "Disconnect and connect again.")
        elif kind == "stall":
            self.banners.set_banner("stall", WARN, f"NO DATA: {detail.get('message', '')}")
        elif kind == "resumed":
            self.banners.clear_banner("stall", force=True)
        elif kind == "gap":
            if time.monotonic() < self._settings_pause_until:
                return  # the stream paused for our own settings change: logged, no alarm
            missing = detail.get("missing_samples")
            self.banners.set_banner(
                "gap", WARN, f"GAP IN THE DATA: {units.duration(detail.get('length_s'))} without samples"
                + (f" (about {missing} missing)" if missing else "") + ". Check the instrument link.", latch_s=5)
        elif kind == "connected":
            self.panel.set_connection(True, busy=bool(self.link.pending), recording=self.recorder.active)

    def _log_kind(self, kind: str, detail: dict, t: float | None = None) -> None:
        level, text = describe(kind, detail)
        self.log.add(time.time() if t is None else t, level, text)

    def log_event(self, t: float, level: str, text: str) -> None:
        self.log.add(t, level, text)

    def _update_readings(self) -> None:
        store = self.browse.store if self.browse is not None else self.link.store
        conditions: set[str] = set()
        if store is None or store.span() is None:
            self.readings = None
            self.readout.show_readings(None, "not connected" if not self.link.connected else "waiting for data")
            self._conditions = conditions
            return
        r = compute_readings(store.latest(samples_for(store.interval_s)))
        ranges = self.link.session.ranges if self.browse is None and self.link.session is not None else None
        if ranges is not None:  # the records only say "some range is auto"; the session knows which
            r.v_auto, r.a_auto = ranges.voltage_auto, ranges.current_auto
        self.readings = r
        note = "end of the recorded run" if self.browse is not None else ""
        self.readout.show_readings(r, note)
        if self.browse is None and self.link.connected:
            total_over = store.overrange_samples
            seen_store, seen = self._overrange_seen
            new_over = total_over > (seen if seen_store is store else 0)
            self._overrange_seen = (store, total_over)
            if r.overrange or new_over:
                conditions.add("overrange")
                self.banners.set_banner(
                    "overrange", ALARM,
                    f"OVERRANGE — {overrange_cause(r)}. These readings are not measurements and enter no "
                    f"average: choose a larger range. ({total_over} overrange samples so far)", latch_s=3.0)
            elif r.invalid_not_switching:
                # Readings taken while the meter switches range are invalid by nature: the panel
                # says "switching range"; only invalid data a range switch does not explain alarms.
                conditions.add("invalid")
                self.banners.set_banner("invalid", ALARM, "INVALID readings: the meter reports no valid "
                                        "value; they enter no average.", latch_s=3.0)
        self._conditions = conditions

    def _update_status(self) -> None:
        state = self.link.state
        s = self.link.session
        if self.loading_run is not None:
            state_text = f"opening {self.loading_run.name}…"
        elif s is not None and s.identity is not None:
            state_text = f"{state} · {s.identity.model} {s.identity.serial}"
        else:
            state_text = state
        self.state_label.setText(f"● {state_text}" if state == "running" else state_text)
        set_style(self.state_label, f"color: {self.theme.ok_fg}; font-weight: 600;" if state == "running"
                                       else (f"color: {self.theme.alarm_bg}; font-weight: 600;"
                                             if state in ("failed", "reconnecting") else ""))
        store = self.link.store
        now = time.monotonic()
        if store is not None and s is not None:
            sid, count, t_prev, rate = self._rate
            total = store.total_samples
            if sid == id(store) and now > t_prev:
                rate = (total - count) / (now - t_prev)
            self._rate = (id(store), total, now, rate)
            self.rate_label.setText(f"{units.rate(rate)} (every {units.si(s.interval_s, 's')})"
                                    if rate is not None else "")
        else:
            self.rate_label.setText("")
        if self.recorder.state == "recording":
            size = self.recorder.journal_bytes()
            self.journal_label.setText(f"REC {units.duration(self.recorder.elapsed_s())} · journal "
                                       f"{units.data_size(size)}")
            set_style(self.journal_label, f"color: {self.theme.alarm_bg}; font-weight: 700;")
        else:
            self.journal_label.setText(self.recorder.state if self.recorder.state != "idle" else "not recording")
            set_style(self.journal_label, "")
        if self.disk_free is not None:
            low = self.disk_free < LOW_DISK_BYTES
            self.disk_label.setText(f"disk free {units.data_size(self.disk_free)}")
            set_style(self.disk_label, f"color: {self.theme.alarm_bg}; font-weight: 700;" if low else "")
        if now - self._last_disk_probe >= DISK_PROBE_S and not self.probe_lane.busy:
            self._last_disk_probe = now
            self._probe_disk()
        self.frame_label.setText(f"frame {self.plot.last_frame_s * 1000:.1f} ms")
        self._refresh_controls()

    def _probe_disk(self) -> None:
        directory = self.recorder.directory if self.recorder.active and self.recorder.directory else (
            station_home() / "runs")

        def job():
            path = Path(directory)
            while not path.exists() and path != path.parent:
                path = path.parent
            free = shutil.disk_usage(path).free
            self.inbox.post(("disk", str(path), free))

        self.probe_lane.submit(job)

    # =============================================================================================
    # controls
    # =============================================================================================
    def _refresh_controls(self) -> None:
        connected = self.link.connected
        busy = bool(self.link.pending)
        rec_state = self.recorder.state
        self.panel.set_connection(connected, busy, self.link.session.identity if connected else None,
                                  recording=self.recorder.active)
        self.connect_action.setText("Disconnect" if connected else "Connect")
        self.connect_action.setEnabled(not busy)
        self.record_action.setEnabled(connected and not busy and rec_state in ("idle", "recording"))
        self.record_action.setText("■ Stop recording" if rec_state == "recording" else "● Record")
        set_style(self.record_button,
            f"QToolButton {{ background: {self.theme.alarm_bg}; color: white; padding: 3px 10px; }}"
            if rec_state == "recording" else "QToolButton { color: #c62828; padding: 3px 10px; }")
        self.duration_spin.setEnabled(rec_state == "idle")
        self.record_to_action.setEnabled(rec_state == "idle")
        self.live_action.setEnabled(self.browse is not None)
        self.follow_action.setEnabled(self.plot.live)
        self.follow_action.setChecked(self.plot.follow)
        self.theme_action.setChecked(self.theme.name == "dark")

    # =============================================================================================
    # persistence and shutdown
    # =============================================================================================
    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(1400, 900)
        st = s.value("window/state")
        if isinstance(st, QByteArray) and not st.isEmpty():
            self.restoreState(st)
        try:
            window = float(s.value("ui/window_s", 30.0))
        except (TypeError, ValueError):
            window = 30.0
        i = self.window_combo.findData(window)
        self.window_combo.setCurrentIndex(i if i >= 0 else self.window_combo.findData(30.0))
        self.plot.set_window(self.window_combo.currentData())
        try:
            self.duration_spin.setValue(float(s.value("recording/duration_s", 0.0)))
        except (TypeError, ValueError):
            pass
        raw = s.value("instrument/panel")
        if raw:
            try:
                self.panel.restore(json.loads(str(raw)))
            except (ValueError, TypeError, KeyError):
                pass

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("ui/theme", self.theme.name)
        s.setValue("ui/window_s", float(self.window_combo.currentData()))
        s.setValue("recording/duration_s", float(self.duration_spin.value()))
        try:
            s.setValue("instrument/panel", json.dumps(self.panel.state(), default=str))
        except (TypeError, ValueError):
            pass
        s.sync()

    def shutdown(self, timeout: float = 15.0) -> None:
        """Finish a recording and release the instrument, waiting for both (used at exit and by tests)."""
        self.timer.stop()
        if self.recorder.state == "recording":
            self.recorder.finish("stopped", None)
        if self.link.connected and not self.link.pending:
            self.link.disconnect(None)
        for link in self.extra_links.values():
            if link.connected and not link.pending:
                link.disconnect(None)
        for lane in (self.journal_lane, self.instrument_lane, self.probe_lane, self.guide_lane,
                     *(link.lane for link in self.extra_links.values())):
            lane.close(timeout)
        self.drain(100000)

    def request_quit(self) -> None:
        """Quit (Ctrl+Q, the window's close button): while recording, only once the operator agrees."""
        if self.recorder.state == "recording" and not self._closing and not self.confirm_stop_and_quit():
            return
        self._quit_confirmed = True
        self.close()

    def confirm_stop_and_quit(self) -> bool:
        """Ask whether to stop the recording and quit; True for "Stop and quit"."""
        box = QMessageBox(QMessageBox.Icon.Question, "Quit while recording?",
                          f"A recording is running ({units.duration(self.recorder.elapsed_s())} so far). "
                          "Quitting stops it; what was recorded is kept.", parent=self)
        box.setObjectName("quit_question")
        stop = box.addButton("Stop and quit", QMessageBox.ButtonRole.DestructiveRole)
        stop.setObjectName("stop_and_quit")
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        return box.clickedButton() is stop

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self._close_ready:
            event.accept()
            return
        quit_confirmed, self._quit_confirmed = self._quit_confirmed, False
        if (event.spontaneous() and not quit_confirmed and self.recorder.state == "recording"
                and not self._closing and not self.confirm_stop_and_quit()):
            event.ignore()  # the title bar's close button while recording: the operator said Cancel
            return
        self.save_settings()
        if not (self.link.connected or self.recorder.state != "idle" or self.link.pending):
            self._finish_close()
            event.accept()
            return
        # Finish the recording and release the instrument without freezing the window; close
        # when both are done (or after a bound, since daemon threads end with the process).
        event.ignore()
        if self._closing:
            return
        self._closing = True
        self.log_event(time.time(), INFO, "Closing: finishing the recording and releasing the instrument…")
        deadline = time.monotonic() + 20.0

        def step():
            if self.recorder.state == "recording":
                self.stop_recording("stopped")
            elif self.recorder.state == "idle" and self.link.connected and not self.link.pending:
                self.link.disconnect(None)
            idle = self.recorder.state == "idle" and not self.link.connected and not self.link.pending
            if idle or time.monotonic() > deadline:
                self._close_ready = True
                self._finish_close()
                self.close()
            else:
                QTimer.singleShot(50, step)

        step()

    def _finish_close(self) -> None:
        self.timer.stop()
        for link in self.extra_links.values():
            if link.connected and not link.pending:
                link.disconnect(None)
        for lane in (self.journal_lane, self.instrument_lane, self.probe_lane, self.guide_lane,
                     *(link.lane for link in self.extra_links.values())):
            lane.close(2.0)


def set_style(widget: QWidget, css: str) -> None:
    """setStyleSheet only when it changes: restyling a widget costs a style pass every time."""
    if widget.styleSheet() != css:
        widget.setStyleSheet(css)


def overrange_cause(r: Readings) -> str:
    """Which input is over its range, as far as the readings tell."""
    v_range = units.range_label(r.v_range, "V")
    a_range = units.range_label(r.a_range, "A")
    if r.v is not None and r.v_range and r.v > 1.3 * r.v_range:
        return f"the voltage ({units.si(r.v, 'V')}) exceeds the {v_range} range"
    if r.v is not None and r.v_range:
        return f"the current exceeds the {a_range} range (voltage {units.si(r.v, 'V')} is within {v_range})"
    return f"the signal exceeds the measuring range (voltage range {v_range}, current range {a_range})"


def default_settings() -> QSettings:
    """The window's settings: an INI file in the station home (STATION_HOME moves it, e.g. in tests)."""
    path = station_home() / "station-ui.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


def apply_theme_to(window: MainWindow, theme: Theme) -> None:
    app = QApplication.instance()
    if app is not None:
        apply_theme(app, theme)
    window.banners.set_theme(theme)
    window.readout.set_theme(theme)
    window.plot.set_theme(theme)
    window.log.set_theme(theme)
    if hasattr(window, "theme_action"):
        window.theme_action.setChecked(theme.name == "dark")
