"""The guided MLPerf Power measurement in the window: setup, ranging, range selection, testing,
review and export, one step at a time, with what to do now and why.

The window drives the Qt-free :class:`station.procedure.Procedure` (the same object ``station
measure`` drives headless) through the window's one queued path: every action that may block
(start a step, confirm ranges, finish and close the analyzers, a mark, export, closing) is a
job on a :class:`TaskLane`, and the procedure's events, told from its own threads, come back
as control items of the :class:`Inbox` (never dropped), handled on the GUI thread. So the GUI
thread never waits on an instrument, a workload or the disk. Only "cancel" and "end run now"
are called directly: they set a flag and must not queue behind a job. A 5 Hz timer refreshes
the page; a guide made without the window's inbox and lane has its own and drains them there.

During ranging and testing the live page shows what the procedure's own analyzers measure: when
a run starts (the procedure's ``run_start`` event, told on its thread before the instruments
start) every session gets a sink into a fresh :class:`LiveStore`, which the window's
:class:`PowerPlot` and :class:`ReadoutPanel` read on the GUI timer. Next to them: whether the
workload runs, elapsed and remaining time, the workload's average so far, and the live checks.
After the review the guide compares what the operator watched with the metric.
"""

from __future__ import annotations

import html
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from instruments import registry
from station import rules as rules_mod
from station.core.live_store import LiveStore
from station.procedure import InstrumentSpec, Procedure, ProcedureError, SetupInfo, Step
from station.ui import units
from station.ui.guide_parts import STATUS_COLOURS, enlarge, fill_checks, instruction_labels
from station.ui.guide_text import EventWording, run_title, sentence
from station.ui.inbox import Inbox, TaskLane, run_callback
from station.ui.instrument_link import live_store_for
from station.ui.power_plot import PowerPlot
from station.ui.readings import compute_readings, samples_for
from station.ui.readout_panel import ReadoutPanel

STEPS = [(Step.SETUP, "1 Setup"), (Step.RANGING, "2 Ranging"), (Step.RANGE_SELECTION, "3 Ranges"),
         (Step.TESTING, "4 Testing"), (Step.REVIEW, "5 Review"), (Step.DONE, "6 Export")]
SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream", "Interactive")
STATUS_WORDS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "pending": "WATCHING"}
STATUS_ORDER = {"fail": 0, "warn": 1, "pending": 2, "pass": 3}
REFRESH_KINDS = frozenset({"busy", "idle", "step", "ranges_proposed", "review", "done"})  # the page changes
RUN_END_KINDS = frozenset({"run_complete", "run_discarded", "step_failed", "cancelled"})
OPERATOR_ERRORS = (ProcedureError, rules_mod.RuleError, ValueError)  # said as they are; others name the action
PAGE_SETUP, PAGE_RANGES, PAGE_REVIEW, PAGE_LIVE = range(4)
WINDOW_NAMES = {"loadgen": "LoadGen", "command": "workload command", "marks": "operator marks", "gpio": "GPIO"}
FRAME_MS = 100  # the live plot's refresh while a run is on screen
MIN_VIEW_S = 10.0  # the live plot shows at least this much, and the whole run up to MAX_VIEW_S
MAX_VIEW_S = 600.0


def clock(seconds: float | None) -> str:
    """Seconds as a wall clock reads across a bench: 0:07, 12:05, 1:02:03."""
    if seconds is None or not math.isfinite(seconds):
        return units.DASH
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


@dataclass
class LiveRun:
    """One run as the live page shows it: a store per analyzer, fed on the acquisition threads.

    Made on the procedure's thread when the run starts; from then on only the GUI thread reads
    and changes it (the stores are safe for one writer and one reader).
    """

    name: str
    kind: str
    started: float  # UTC seconds
    stores: dict[str, LiveStore]  # instrument id -> store
    live_before: object = None  # the procedure's live checks before this run made its own
    checks: object = None  # this run's LiveChecks, once the procedure made them
    workload_begin: float | None = None
    workload_end: float | None = None
    ended: float | None = None
    watched_w: float | None = None  # the workload average shown when the workload ended

    def average(self, t0: float | None, t1: float | None) -> float | None:
        """Mean power of the system (the sum over the analyzers) between t0 and t1, from the stores."""
        total = 0.0
        for store in self.stores.values():
            mean = store.stats(t0, t1).mean_w
            if mean is None:
                return None
            total += mean
        return total


class GuideWidget(QWidget):
    """One guided session in ``out_dir``.

    ``inbox`` and ``lane`` are the window's (its frame timer drains the inbox); without them
    the guide makes its own pair and drains it on its refresh timer.
    """

    exported = Signal(str)

    def __init__(self, out_dir: str | Path, parent: QWidget | None = None,
                 session_factory=None, rule_overrides: list[str] | None = None,
                 inbox: Inbox | None = None, lane: TaskLane | None = None) -> None:
        super().__init__(parent)
        self.out_dir = Path(out_dir)
        self._own_inbox = inbox is None
        self.inbox = inbox if inbox is not None else Inbox()
        self._own_lane = lane is None
        self.lane = lane if lane is not None else TaskLane("guide", self.inbox)
        self._pending = 0  # actions submitted to the lane and not yet answered
        self._exporting = False
        self._closing = False
        self.closed = False  # the procedure's analyzers are released (after close_procedure)
        kwargs = {"session_factory": session_factory} if session_factory else {}
        self.proc = Procedure(self.out_dir, on_event=self._on_event, **kwargs)
        self.rule_overrides = list(rule_overrides or [])
        self.export_result: dict | None = None
        self.comparison: dict | None = None  # what the operator watched against the metric (after the review)
        self.log_lines: list[str] = []
        self.wording = EventWording()
        self.live_run: LiveRun | None = None  # the run on the live page (the current or the last one)
        self.runs: dict[str, LiveRun] = {}  # every run shown, by name: the review compares with them
        self._sink_lock = threading.Lock()  # the procedure's thread attaches sinks, close_procedure removes them
        self._attached: list = []  # (session, sink) of the run being fed

        layout = QVBoxLayout(self)
        steps = QHBoxLayout()
        self.step_labels: dict[Step, QLabel] = {}
        for step, text in STEPS:
            lab = QLabel(text)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setMinimumWidth(110)
            self.step_labels[step] = lab
            steps.addWidget(lab)
        layout.addLayout(steps)
        self.do_now, self.why, self.problem = instruction_labels(1.5, 1.1, 1.2)
        for w in (self.do_now, self.why, self.problem):
            layout.addWidget(w)

        self.pages = QStackedWidget()
        for page in (self._setup_page(), self._ranges_page(), self._review_page(), self._live_page()):
            self.pages.addWidget(page)
        layout.addWidget(self.pages, 1)

        live = QGroupBox("What is happening")
        ll = QVBoxLayout(live)
        ll.setContentsMargins(6, 2, 6, 6)
        self.live_list = QListWidget()
        self.live_list.setMinimumHeight(90)
        self.live_list.setMaximumHeight(150)  # the page above (plot, checks, review) needs the room
        self.live_list.setWordWrap(True)
        ll.addWidget(self.live_list)
        layout.addWidget(live)

        buttons = QHBoxLayout()
        self.primary = QPushButton()
        enlarge(self.primary, 1.3, bold=True)
        self.primary.setMinimumHeight(48)
        self.primary.clicked.connect(self.advance)
        self.mark_begin = QPushButton("Workload begins")
        self.mark_begin.setToolTip("Operator mark: the workload starts now (when there is no workload command)")
        self.mark_begin.clicked.connect(lambda: self._mark("begin"))
        self.mark_end = QPushButton("Workload ends")
        self.mark_end.setToolTip("Operator mark: the workload has ended")
        self.mark_end.clicked.connect(lambda: self._mark("end"))
        buttons.addWidget(self.mark_begin)
        buttons.addWidget(self.mark_end)
        self.end_run_button = QPushButton("End run now")
        self.end_run_button.setToolTip("Stop the running workload window here (operator mark)")
        self.end_run_button.clicked.connect(self.proc.end_run)
        self.cancel_button = QPushButton("Cancel step")
        self.cancel_button.setToolTip("Stop what is running; nothing half-done is kept")
        self.cancel_button.clicked.connect(self.proc.cancel)
        self.retry_button = QPushButton("Retry")
        self.retry_button.clicked.connect(self.retry)
        for b in (self.primary, self.end_run_button, self.cancel_button, self.retry_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)

        self.timer = QTimer(self)
        self.timer.setInterval(200)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.frame_timer = QTimer(self)
        self.frame_timer.setInterval(FRAME_MS)
        self.frame_timer.timeout.connect(self._frame)
        self.frame_timer.start()
        self.refresh()

    # -- pages ----------------------------------------------------------------------------------
    def _setup_page(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.operator = QLineEdit()
        self.operator.setPlaceholderText("who runs the measurement")
        self.sut = QLineEdit()
        self.sut.setPlaceholderText("system under test, e.g. 2x GPU server, 230 V supply")
        self.benchmark = QLineEdit("resnet50")
        self.scenario = QComboBox()
        self.scenario.addItems(SCENARIOS)
        self.rules = QComboBox()
        self.rules.addItems(rules_mod.available())
        self.driver = QComboBox()
        self.driver.setObjectName("guide_driver")
        for name, cls in registry.available().items():
            d = cls.description
            self.driver.addItem(f"{name} — {d.vendor} {', '.join(d.models[:3])}".strip(), name)
        self.driver.setCurrentIndex(max(0, self.driver.findData("sim")))
        self.resource = QLineEdit()
        self.resource.setPlaceholderText("VISA resource, host:port or serial port (none for sim)")
        self.options = QLineEdit()
        self.options.setPlaceholderText("driver options, e.g. profile=datacenter seed=1")
        self.workload = QLineEdit()
        self.workload.setPlaceholderText("command that runs the benchmark (writes LoadGen logs)")
        self.ntp = QLineEdit()
        self.ntp.setPlaceholderText("NTP server for the clock check, e.g. pool.ntp.org (optional)")
        self.driver.currentIndexChanged.connect(self._driver_changed)
        self._driver_changed()
        for label, w in (("Operator", self.operator), ("System under test", self.sut),
                         ("Benchmark", self.benchmark), ("Scenario", self.scenario), ("Rule set", self.rules),
                         ("Analyzer driver", self.driver), ("Resource", self.resource),
                         ("Driver options", self.options), ("Workload command", self.workload),
                         ("Clock check (NTP)", self.ntp)):
            form.addRow(label, w)
        return page

    def _driver_changed(self) -> None:
        cls = registry.available().get(self.driver.currentData())
        forms = tuple(getattr(cls, "resource_forms", ()) or ())
        self.resource.setPlaceholderText("e.g. " + "  or  ".join(forms[:2]) if forms
                                         else "none needed for this driver")

    def select_driver(self, name: str) -> None:
        """Choose the analyzer driver by its registry name."""
        index = self.driver.findData(name)
        if index < 0:
            raise ProcedureError(f"no driver {name!r}; the drivers are "
                                 f"{', '.join(self.driver.itemData(i) for i in range(self.driver.count()))}")
        self.driver.setCurrentIndex(index)

    def _ranges_page(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.range_table = QTableWidget(0, 6)
        self.range_table.setHorizontalHeaderLabels(["Analyzer", "Voltage range (V)", "Current range (A)",
                                                    "Ranging max V", "Ranging max A", "Why"])
        self.range_table.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.range_table.verticalHeader().setVisible(False)
        v.addWidget(self.range_table)
        row = QHBoxLayout()
        row.addWidget(QLabel("Reason for an override (recorded in the audit log):"))
        self.override_reason = QLineEdit()
        row.addWidget(self.override_reason, 1)
        v.addLayout(row)
        return page

    def _review_page(self) -> QWidget:
        page = QWidget()
        v = QVBoxLayout(page)
        self.verdict = QLabel()
        enlarge(self.verdict, 1.8, bold=True)
        self.metric_label = QLabel()
        enlarge(self.metric_label, 1.4)
        self.checks = QTableWidget(0, 3)
        self.checks.setHorizontalHeaderLabels(["Check", "Verdict", "Evidence"])
        self.checks.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.checks.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.checks.verticalHeader().setVisible(False)
        self.watched_label = QLabel()
        self.watched_label.setObjectName("guide_watched")
        self.watched_label.setWordWrap(True)
        self.watched_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        enlarge(self.watched_label, 1.05)
        self.export_label = QLabel()
        self.export_label.setWordWrap(True)
        self.export_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_report_button = QPushButton("Open report")
        self.open_report_button.setToolTip("Open the bundle's report (PDF, or HTML when no PDF could be written)")
        self.open_report_button.clicked.connect(self.open_report)
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.setToolTip("Open the bundle's folder in the file manager")
        self.open_folder_button.clicked.connect(self.open_folder)
        opens = QHBoxLayout()
        for b in (self.open_report_button, self.open_folder_button):
            enlarge(b, 1.2, bold=True)
            b.setMinimumHeight(40)
            b.hide()
            opens.addWidget(b)
        opens.addStretch(1)
        for w in (self.verdict, self.metric_label, self.watched_label, self.checks, self.export_label):
            v.addWidget(w)
        v.addLayout(opens)
        return page

    def _live_page(self) -> QWidget:
        """What a run measures, as it happens: readout, workload state and times, plot, live checks."""
        page = QWidget()
        v = QVBoxLayout(page)
        v.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.readout = ReadoutPanel(page)
        top.addWidget(self.readout, 1)
        status = QVBoxLayout()
        status.setSpacing(4)
        self.workload_state = QLabel()
        self.workload_state.setObjectName("guide_workload_state")
        self.workload_state.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.workload_state.setWordWrap(True)
        self.workload_state.setMinimumWidth(300)
        enlarge(self.workload_state, 1.4, bold=True)
        self.elapsed_label = QLabel()
        self.elapsed_label.setObjectName("guide_elapsed")
        enlarge(self.elapsed_label, 1.5, bold=True)
        self.remaining_label = QLabel()
        self.remaining_label.setObjectName("guide_remaining")
        self.remaining_label.setWordWrap(True)
        enlarge(self.remaining_label, 1.1)
        self.workload_avg_label = QLabel()
        self.workload_avg_label.setObjectName("guide_workload_average")
        self.workload_avg_label.setWordWrap(True)
        self.workload_avg_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        enlarge(self.workload_avg_label, 1.1)
        for w in (self.workload_state, self.elapsed_label, self.remaining_label, self.workload_avg_label):
            status.addWidget(w)
        status.addStretch(1)
        box = QWidget()
        box.setLayout(status)
        box.setMaximumWidth(380)
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        top.addWidget(box)
        v.addLayout(top)
        middle = QHBoxLayout()
        self.plot = PowerPlot(page)
        self.plot.empty_label.setText("No samples yet: the run's analyzers are shown here as soon as it starts.")
        middle.addWidget(self.plot, 3)
        checks_box = QGroupBox("Live checks")
        cl = QVBoxLayout(checks_box)
        cl.setContentsMargins(6, 2, 6, 6)
        self.live_checks = QWidget()
        self.live_checks.setObjectName("guide_live_checks")
        self._checks_layout = QVBoxLayout(self.live_checks)
        self._checks_layout.setContentsMargins(2, 2, 2, 2)
        self._checks_layout.setSpacing(6)
        self._checks_layout.addStretch(1)
        self.live_check_rows: list[tuple[str, str, str]] = []  # (status, name, evidence) as shown
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.live_checks)
        cl.addWidget(scroll)
        checks_box.setMinimumWidth(300)
        checks_box.setMaximumWidth(420)
        middle.addWidget(checks_box, 1)
        v.addLayout(middle, 1)
        self._show_workload_state("idle", "No run yet\nthe run starts with the button below")
        return page

    # -- procedure events (any thread) ---------------------------------------------------------------
    def _on_event(self, kind: str, detail: dict) -> None:
        if kind == "run_start":
            # Told before the run starts its instruments: the stores miss no sample of the run.
            try:
                run = self._attach_stores(detail)
            except Exception as exc:  # the run goes on (it is recorded); only the live view lacks it
                self.inbox.call_soon(self._say, "warn", f"The live view cannot show this run: {exc}")
            else:
                self.inbox.call_soon(self._show_run, run)
        # A step's events are few (a handful per action), and each may change the page: control items.
        self.inbox.call_soon(self._on_procedure_event, kind, dict(detail))

    def _attach_stores(self, detail: dict) -> LiveRun:
        """A live store per analyzer of the procedure, fed by its session (the procedure's thread)."""
        with self._sink_lock:
            self._detach_stores_locked()
            run = LiveRun(str(detail.get("run")), str(detail.get("run_kind")), time.time(), {},
                          live_before=self.proc.live)
            for session in self.proc.sessions:
                store = live_store_for(session)
                session.add_sink(store.append)
                run.stores[session.inst_id] = store
                self._attached.append((session, store.append))
            return run

    def _detach_stores_locked(self) -> None:
        for session, sink in self._attached:
            session.remove_sink(sink)
        self._attached = []

    # -- the lane (GUI thread) -----------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while an action waits on the lane or the procedure runs a step."""
        return self._pending > 0 or self.proc.busy

    def _submit(self, action: Callable[[], object], what: str,
                then: Callable[[object], None] | None = None, pending: bool = True) -> None:
        """Run ``action`` on the lane; its error is shown as a problem, ``then(result)`` runs on success."""
        if pending:
            self._pending += 1

        def done(result, error) -> None:
            if pending:
                self._pending -= 1
            if error is not None:
                self._show_problem(str(error) if isinstance(error, OPERATOR_ERRORS)
                                   else f"{what} failed: {type(error).__name__}: {error}")
            elif then is not None:
                then(result)
            self.refresh()

        self.lane.submit(action, done)

    def _show_problem(self, text: str) -> None:
        self._say("error", sentence(text))
        self.problem.setText(text)
        self.problem.show()

    def _tick(self) -> None:
        if self._own_inbox:
            for item in self.inbox.drain():
                run_callback(item)
        self.refresh()

    # -- actions (GUI thread) ------------------------------------------------------------------------
    def setup_info(self) -> SetupInfo:
        options = {}
        for item in self.options.text().split():
            key, sep, value = item.partition("=")
            if not sep:
                raise ProcedureError(f"driver option {item!r} must look like key=value")
            options[key] = value
        rs = rules_mod.load(self.rules.currentText(), self.rule_overrides or None)
        spec = InstrumentSpec(self.driver.currentData() or "sim", self.resource.text().strip() or None, options)
        return SetupInfo(self.operator.text().strip() or "unknown operator",
                         self.sut.text().strip() or "unspecified system",
                         self.benchmark.text().strip() or "unspecified benchmark",
                         self.scenario.currentText(), rs, [spec],
                         workload=self.workload.text().strip() or None,
                         ntp_server=self.ntp.text().strip() or None)

    def advance(self) -> None:
        """The primary button: start the next thing the current step needs (on the lane)."""
        if self.busy:
            return
        proc = self.proc
        try:
            step = proc.step
            if step == Step.SETUP:
                info = self.setup_info()
                self._submit(lambda: proc.start_setup(info), "setup")
            elif step == Step.RANGING:
                self._submit(proc.start_ranging, "ranging")
            elif step == Step.RANGE_SELECTION:
                override = self.range_override()
                if override:
                    reason = self.override_reason.text().strip()
                    if not reason:
                        raise ProcedureError("an override needs a reason: write it next to the table")
                    self._submit(lambda: proc.select_ranges(override, reason), "range selection")
                else:
                    self._submit(proc.select_ranges, "range selection")
            elif step == Step.TESTING:
                if proc.testing_done:
                    self._submit(proc.start_review, "review")
                else:
                    self._submit(proc.start_testing, "testing")
            elif step == Step.REVIEW:
                self._submit(proc.finish, "finishing the review")  # closes the analyzers: blocking I/O
            elif step == Step.DONE:
                self.start_export()
        except OPERATOR_ERRORS as exc:
            self._show_problem(str(exc))
        self.refresh()

    def _mark(self, edge: str) -> None:
        # A mark goes into the run's journal (disk); it must not wait for, nor hold up, a step.
        self._submit(lambda: self.proc.mark(edge), "the mark", pending=False)  # the "mark" event says it

    def another_testing_run(self) -> None:
        if not self.busy and self.proc.step == Step.TESTING:
            self._submit(self.proc.start_testing, "testing")

    def retry(self) -> None:
        """Run the current step again after a problem (the failed attempt was discarded)."""
        if self.busy:
            return
        self.problem.hide()
        self.advance()

    def range_override(self) -> dict[str, tuple[float, float]] | None:
        changed = {}
        for r in range(self.range_table.rowCount()):
            inst = self.range_table.item(r, 0).text()
            v = self.range_table.cellWidget(r, 1).value()
            a = self.range_table.cellWidget(r, 2).value()
            p = self.proc.proposal.get(inst)
            if p is not None and (abs(v - p.voltage) > 1e-9 or abs(a - p.current) > 1e-9):
                changed[inst] = (v, a)
        if not changed:
            return None
        for inst, p in self.proc.proposal.items():  # an override names every analyzer
            changed.setdefault(inst, (p.voltage, p.current))
        return changed

    def report_path(self) -> Path | None:
        """The exported bundle's report: the PDF when there is one, else the HTML; None before export."""
        if self.export_result is None:
            return None
        directory = Path(self.export_result["dir"])
        return next((p for p in (directory / "report.pdf", directory / "report.html") if p.is_file()), None)

    def open_report(self) -> bool:
        """Open the report with the desktop's viewer; False when there is none (said in the log)."""
        report = self.report_path()
        if report is None:
            self._say("warn", "There is no report to open: export the bundle first.")
            return False
        return self._open(report)

    def open_folder(self) -> bool:
        """Open the bundle's folder in the desktop's file manager."""
        if self.export_result is None:
            self._say("warn", "There is no folder to open: export the bundle first.")
            return False
        return self._open(Path(self.export_result["dir"]))

    def _open(self, path: Path) -> bool:
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            return True
        self._say("warn", f"This desktop could not open {path}; open it by hand.")
        return False

    def start_export(self) -> None:
        """Export the finished session to ``<session>-bundle`` (and its zip) on the lane."""
        if self._exporting or self.export_result is not None:
            return
        out = self.out_dir.with_name(self.out_dir.name + "-bundle")
        session_dir = self.out_dir

        def job() -> dict:
            from station.measurement.export import export_bundle

            res = export_bundle(session_dir, out)
            return {"dir": str(res.directory), "zip": str(res.zip_path), "bundle_id": res.bundle_id}

        def done(result: dict | None, error: BaseException | None) -> None:
            self._exporting = False
            if error is not None:  # the session stays as it is: the operator can export again
                self._say("error", f"The export failed: {error}. The session is unchanged: export again.")
            else:
                self.export_result = result
                report = self.report_path()
                self.export_label.setText(f"Bundle: {result['dir']}\nZip: {result['zip']}\n"
                                          + (f"Report: {report}\n" if report else "")
                                          + f"Check it with: station verify {result['zip']}")
                self.open_report_button.setVisible(report is not None)
                self.open_folder_button.show()
                self._say("info", f"The bundle {result['bundle_id']} is exported to {result['dir']}.")
                self.exported.emit(result["dir"])
            self.refresh()

        self._exporting = True
        self._say("info", f"Exporting the bundle to {out} …")
        self.lane.submit(job, done)

    # -- refresh (GUI thread, 5 Hz) --------------------------------------------------------------------
    def _say(self, level: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        item = QListWidgetItem(f"{stamp}  {text}")
        if level in ("fail", "error"):
            item.setForeground(QColor(STATUS_COLOURS["fail"]))
        elif level == "warn":
            item.setForeground(QColor(STATUS_COLOURS["warn"]))
        self.live_list.addItem(item)
        self.log_lines.append(text)
        while self.live_list.count() > 500:
            self.live_list.takeItem(0)
        self.live_list.scrollToBottom()

    def _on_procedure_event(self, kind: str, d: dict) -> None:
        """One event of the procedure, on the GUI thread, in the order the procedure told them."""
        said = self.wording.describe(kind, d)
        if said is not None:
            self._say(*said)
        run = self.live_run
        if run is not None:
            if kind in ("workload_started", "workload_ended") and d.get("t") is not None:
                self.plot.add_mark(float(d["t"]), "workload begins" if kind == "workload_started"
                                   else "workload ends")
            elif kind == "mark" and d.get("t") is not None:
                self.plot.add_mark(float(d["t"]), f"mark: {d.get('edge')}")
            elif kind in RUN_END_KINDS and run.ended is None:
                self._end_live_run(run)
        if kind in REFRESH_KINDS:
            self.refresh()

    # -- the live page (GUI thread) -------------------------------------------------------------------
    def _show_run(self, run: LiveRun) -> None:
        """A run started: the plot and the readout read its stores from now on."""
        self.live_run = run
        self.runs[run.name] = run
        ids = list(run.stores)
        plot = self.plot
        for key in list(plot.sources):
            plot.remove_source(key)
        plot.clear_marks()
        plot.label = ids[0] if ids else ""
        plot.set_store(run.stores[ids[0]] if ids else None, live=True)
        for inst in ids[1:]:
            plot.add_source(inst, inst, run.stores[inst])
        plot.set_show_total(len(ids) > 1)
        plot.window_s = MIN_VIEW_S
        self._refresh_live()

    def _end_live_run(self, run: LiveRun) -> None:
        """The run ended (complete, discarded or failed): its whole recording stays in view."""
        self._follow_workload(run)
        run.ended = time.time()
        if run.watched_w is None and run.workload_begin is not None:
            run.watched_w = run.average(run.workload_begin, run.workload_end)
        if run is self.live_run and self.plot.store is not None:
            self.plot.set_store(self.plot.store, live=False, keep_view=True)
            self.plot.fit_all()
        self._refresh_live()

    def _follow_workload(self, run: LiveRun) -> None:
        """Take the workload's begin and end from the run's live checks (a command or the operator's
        "End run now" alike); mark them on the plot when they are new."""
        live = self.proc.live
        if run.checks is None and live is not None and live is not run.live_before and run.ended is None:
            run.checks = live
        if run.checks is None:
            return
        begin, end = run.checks.workload_started, run.checks.workload_ended
        if begin is not None and run.workload_begin is None:
            run.workload_begin = begin
        if end is not None and run.workload_end is None:
            run.workload_end = end
            run.watched_w = run.average(run.workload_begin, end)

    def _frame(self) -> None:
        if self.pages.currentIndex() == PAGE_LIVE and self.isVisible():
            if self.live_run is not None and self.live_run.ended is None and self.plot.follow:
                elapsed = time.time() - self.live_run.started
                self.plot.window_s = min(MAX_VIEW_S, max(MIN_VIEW_S, 1.1 * elapsed))
            self.plot.refresh()

    def _show_workload_state(self, state: str, text: str) -> None:
        colours = {"running": ("#1b7f3b", "white"), "waiting": ("#1f6fd1", "white"),
                   "ended": ("#e0e4ea", "#1d232b"), "failed": ("#c62828", "white"), "idle": ("#e0e4ea", "#5b6470")}
        bg, fg = colours.get(state, colours["idle"])
        self.workload_state.setText(text)
        self.workload_state.setProperty("state", state)
        self.workload_state.setStyleSheet(f"background:{bg};color:{fg};padding:10px;border-radius:6px;")

    @property
    def workload_running(self) -> bool:
        """True while the current run's workload runs (the indicator on the live page)."""
        run = self.live_run
        return (run is not None and run.ended is None and run.workload_begin is not None
                and run.workload_end is None)

    def _remaining_text(self, run: LiveRun, now: float) -> str:
        """What is left of the run, one line per reason: the rules' minimum duration (testing), and
        the workload's own length when an earlier run of the same workload tells it."""
        lines = []
        ran = (now - run.workload_begin) if run.workload_begin is not None else 0.0
        need = self.proc.rules.get("min_testing_s") if self.proc.rules is not None else None
        if run.kind == "testing" and need:
            left = float(need) - ran
            lines.append(f"At least {clock(left)} more for the {clock(float(need))} minimum duration." if left > 0
                         else f"The {clock(float(need))} minimum duration is reached.")
        command = self.proc.info is not None and bool(self.proc.info.workload)
        earlier = [r for r in self.runs.values() if r is not run and r.workload_begin is not None
                   and r.workload_end is not None]
        if earlier and command:
            took = earlier[-1].workload_end - earlier[-1].workload_begin
            where = run_title(earlier[-1].name).lower()
            lines.append(f"About {clock(took - ran)} left: the workload took {clock(took)} in {where}."
                         if took > ran else f"Longer than in {where} ({clock(took)}): it ends on its own.")
        if not lines:
            lines.append("The workload ends on its own." if command
                         else "Press “End run now” when the workload is over.")
        return "\n".join(lines)

    def _refresh_live(self) -> None:
        run = self.live_run
        if run is None:
            self.readout.show_readings(None, "no run yet")
            self.elapsed_label.setText("")
            self.remaining_label.setText("")
            self.workload_avg_label.setText("")
            return
        now = time.time()
        self._follow_workload(run)
        first = next(iter(run.stores.values()), None)
        if first is not None and first.span() is not None:
            meters = [(inst, inst, compute_readings(st.latest(samples_for(st.interval_s))) if st.span() else None)
                      for inst, st in run.stores.items()]
            self.readout.show_meters(meters)  # several analyzers: each one's power, the big number says whose
            note = "" if run.ended is None else f"end of {run_title(run.name).lower()}"
            self.readout.show_readings(meters[0][2], note)
        else:
            self.readout.show_readings(None, "waiting for the first samples")
        title = run_title(run.name)
        end = run.ended or now
        if run.ended is not None:
            self._show_workload_state("ended", f"{title} ended\nits data stay in view")
        elif run.workload_end is not None:
            self._show_workload_state("waiting", "Workload finished\nrecording the settle time")
        elif run.workload_begin is not None:
            self._show_workload_state("running", f"● WORKLOAD RUNNING\nfor {clock(now - run.workload_begin)}")
        elif first is None or first.span() is None:
            self._show_workload_state("waiting", "Not yet measuring\nwaiting for the first samples")
        else:
            self._show_workload_state("waiting", "Settling\nthe workload starts soon")
        self.elapsed_label.setText(f"{title}: {clock(end - run.started)} elapsed")
        self.remaining_label.setText("" if run.ended is not None or run.workload_end is not None
                                     else self._remaining_text(run, now))
        if run.workload_begin is not None:
            w_end = run.workload_end or end
            avg = run.watched_w if run.workload_end is not None else run.average(run.workload_begin, w_end)
            what = "Workload average" if run.workload_end is not None else "Workload average so far"
            self.workload_avg_label.setText(f"{what}: <b>{units.si(avg, 'W', 5)}</b> over "
                                            f"{clock(w_end - run.workload_begin)}")
        else:
            self.workload_avg_label.setText("")
        self._fill_live_checks(run)

    def _fill_live_checks(self, run: LiveRun | None) -> None:
        """The run's live checks, worst first: a coloured verdict word, the check, its evidence."""
        checks = run.checks.snapshot() if run is not None and run.checks is not None else []
        checks.sort(key=lambda c: STATUS_ORDER.get(c.get("status"), 4))
        rows = [(str(c.get("status")), str(c.get("name")), str(c.get("evidence"))) for c in checks]
        if rows == self.live_check_rows:
            return
        self.live_check_rows = rows
        layout = self._checks_layout
        while layout.count() > 1:  # the last item is the stretch
            widget = layout.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        if not rows:
            rows = [("pending", "", "No check has spoken yet." if run is not None else "No run yet.")]
        for k, (status, name, evidence) in enumerate(rows):
            colour = STATUS_COLOURS.get(status, "#1d232b")
            word = STATUS_WORDS.get(status, status.upper()) if name else ""
            label = QLabel(f"<span style='color:{colour};font-weight:700'>{html.escape(word)}</span>"
                           f"&nbsp; <b>{html.escape(name)}</b><br>{html.escape(evidence)}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            if status in ("fail", "warn"):
                label.setStyleSheet(f"border-left:4px solid {colour};padding-left:4px;")
            layout.insertWidget(k, label)

    def refresh(self) -> None:
        g = self.proc.guidance()
        step = self.proc.step
        for s, lab in self.step_labels.items():
            current = s == step
            lab.setStyleSheet("font-weight:bold;border-bottom:3px solid #1f6fd1;padding:4px;" if current
                              else "color:#5b6470;padding:4px;")
        do_now, why = g.do_now, g.why
        if step == Step.DONE:  # the window exports with its button, not with the command the CLI names
            if self.export_result is not None:
                do_now = "The bundle is written: open the report, or the folder with every file."
            else:
                do_now = "Export the bundle (the button below)."
        self.do_now.setText(do_now)
        self.why.setText(why)
        if g.problem:
            self.problem.setText(f"Cannot go on: {g.problem}")
            self.problem.show()
        elif not self.busy and not self.problem.text().startswith("an override"):
            self.problem.hide()
        busy = self.busy
        page = {Step.SETUP: PAGE_SETUP, Step.RANGING: PAGE_LIVE, Step.RANGE_SELECTION: PAGE_RANGES,
                Step.TESTING: PAGE_LIVE, Step.REVIEW: PAGE_REVIEW, Step.DONE: PAGE_REVIEW}.get(step)
        if page is not None and page != self.pages.currentIndex():
            self.pages.setCurrentIndex(page)
        for index in (PAGE_SETUP, PAGE_RANGES, PAGE_REVIEW):  # the live page stays readable while busy
            self.pages.widget(index).setEnabled(not busy)
        if page == PAGE_LIVE:
            self._refresh_live()
        if step == Step.RANGE_SELECTION and self.range_table.rowCount() != len(self.proc.proposal):
            self._fill_ranges()
        if step in (Step.REVIEW, Step.DONE) and self.proc.review is not None and self.checks.rowCount() == 0:
            self._fill_review(self.proc.review)
        labels = {Step.SETUP: "Start setup", Step.RANGING: "Start ranging run",
                  Step.RANGE_SELECTION: "Confirm ranges", Step.TESTING: "Start testing run",
                  Step.REVIEW: "Finish review", Step.DONE: "Export bundle"}
        text = labels.get(step, "—")
        if step == Step.TESTING and self.proc.testing_done:
            text = "Go to review"
        if step == Step.RANGE_SELECTION and self.range_override():
            text = "Apply override"
        if step == Step.DONE and self.export_result is not None:
            text = "Exported"
        self.primary.setText(text)
        self.primary.setEnabled(not busy and step in labels and not (step == Step.DONE and (
            self._exporting or self.export_result is not None)))
        recording = self.proc.busy and step in (Step.RANGING, Step.TESTING)
        self.end_run_button.setEnabled(recording)
        self.mark_begin.setEnabled(recording)
        self.mark_end.setEnabled(recording)
        self.cancel_button.setEnabled(self.proc.busy)
        self.retry_button.setEnabled(not busy and bool(g.problem))

    def _fill_ranges(self) -> None:
        props = list(self.proc.proposal.values())
        self.range_table.setRowCount(len(props))
        for r, p in enumerate(props):
            self.range_table.setItem(r, 0, QTableWidgetItem(p.inst))
            for col, value in ((1, p.voltage), (2, p.current)):
                spin = QDoubleSpinBox()
                spin.setDecimals(4)
                spin.setRange(0.0, 1e5)
                spin.setValue(value)
                spin.valueChanged.connect(self.refresh)
                self.range_table.setCellWidget(r, col, spin)
            self.range_table.setItem(r, 3, QTableWidgetItem(f"{p.max_volts:.4g}"))
            self.range_table.setItem(r, 4, QTableWidgetItem(f"{p.max_amps:.4g}"))
            self.range_table.setItem(r, 5, QTableWidgetItem(p.why + (f" — {p.problem}" if p.problem else "")))

    def _fill_review(self, review: dict) -> None:
        from station.measurement.verdict import review_verdict

        # The same words as station verify, the report and station measure: a rehearsal under
        # shortened rules reads "VALID, NOT COMPLIANT", never a bare VALID.
        verdict = review_verdict(review, self.proc.rules.to_dict() if self.proc.rules else None, self.proc.session)
        self.verdict.setText(verdict.headline)
        self.verdict.setToolTip(verdict.text)
        self.verdict.setWordWrap(True)
        self.verdict.setStyleSheet(f"color:{STATUS_COLOURS[verdict.tone]};")
        m = review.get("metric") or {}
        value = m.get("value")
        shown = f"{value:.6g}" if isinstance(value, float) else ("—" if value is None else str(value))
        self.metric_label.setText(f"Metric: {shown} {m.get('unit', '')}".strip())
        fill_checks(self.checks, review.get("checks", []))
        self.checks.resizeColumnToContents(0)
        self.comparison = self.metric_comparison(review)
        self.watched_label.setText(self.comparison["text"] if self.comparison else "")
        self.watched_label.setVisible(bool(self.comparison))

    def metric_comparison(self, review: dict) -> dict | None:
        """What the operator watched against the review's metric, or None when there is nothing to compare.

        ``watched_w``: the workload average the live page showed when the workload ended;
        ``plot_w``: the live stores' average over the metric's own window; ``metric_w``: the
        average power the metric comes from; ``uncertainty``: the largest of the analyzers'
        average per-sample uncertainty the review states (relative); ``text`` says it all.
        """
        m = review.get("metric") or {}
        name = m.get("run")
        metric_w = m.get("average_power_w", m.get("value") if m.get("unit") == "W" else None)
        run = self.runs.get(name)
        if run is None or not units.is_number(metric_w):
            return None
        metrics = (review.get("metrics") or {}).get(name) or {}
        source = metrics.get("window_source")
        window = next((w for w in review.get("windows", []) if w.get("run") == name and w.get("source") == source),
                      None)
        uncerts = [i.get("uncertainty_avg") for i in (metrics.get("instruments") or {}).values()]
        uncerts = [u for u in uncerts if units.is_number(u)]
        uncertainty = max(uncerts) if uncerts else None
        plot_w = run.average(window["begin"], window["end"]) if window else None
        out = {"run": name, "metric_w": float(metric_w), "watched_w": run.watched_w, "plot_w": plot_w,
               "uncertainty": uncertainty, "window_source": source}
        title = run_title(name).lower()
        lines = [f"You watched: workload average {units.si(run.watched_w, 'W', 5)} in {title}."]
        if window is not None and plot_w is not None:
            diff = (plot_w - metric_w) / metric_w if metric_w else math.nan
            agree = uncertainty is not None and abs(diff) <= uncertainty
            u_text = (f"the ±{units.percent(uncertainty)} uncertainty the review states" if uncertainty is not None
                      else "no stated uncertainty (the analyzer has no accuracy model)")
            where = WINDOW_NAMES.get(source, source)
            lines.append(f"The metric's average power {units.si(metric_w, 'W', 5)} is taken over the {where} window "
                         f"({units.duration(window['end'] - window['begin'])}); the live plot over that same window "
                         f"reads {units.si(plot_w, 'W', 5)}: {abs(diff) * 100:.3f} % apart, "
                         + ("within " if agree else "outside ") + u_text + ".")
            out["agree"] = agree
        if units.is_number(run.watched_w) and metric_w and uncertainty is not None \
                and abs(run.watched_w - metric_w) > uncertainty * abs(metric_w):
            lines.append("The whole workload's average differs more than that from the metric because the metric "
                         "counts only the workload window the rules accept (start-up and wind-down are outside it).")
        out["text"] = " ".join(lines)
        return out

    def close_procedure(self) -> None:
        """Cancel what runs and release the analyzers on the lane; ``closed`` turns True when done."""
        self.proc.cancel()
        if self._closing:
            return
        self._closing = True

        def close() -> None:
            self.proc.close()
            with self._sink_lock:
                self._detach_stores_locked()

        def done(result, error) -> None:
            self.closed = True
            self.timer.stop()
            self.frame_timer.stop()
            if error is not None:
                self._say("warn", f"Closing the analyzers reported: {error}")

        self.lane.submit(close, done)
        if self._own_lane:
            self.lane.close(0)  # the lane's thread ends after the close job
