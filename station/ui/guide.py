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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
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
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station import rules as rules_mod
from station.procedure import InstrumentSpec, Procedure, ProcedureError, SetupInfo, Step
from station.ui.inbox import Inbox, TaskLane, run_callback

STEPS = [(Step.SETUP, "1 Setup"), (Step.RANGING, "2 Ranging"), (Step.RANGE_SELECTION, "3 Ranges"),
         (Step.TESTING, "4 Testing"), (Step.REVIEW, "5 Review"), (Step.DONE, "6 Export")]
SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream", "Interactive")
STATUS_COLOURS = {"pass": "#1b7f3b", "warn": "#b26a00", "fail": "#c62828"}
REFRESH_KINDS = frozenset({"busy", "idle", "step", "ranges_proposed", "review", "done"})  # the page changes
OPERATOR_ERRORS = (ProcedureError, rules_mod.RuleError, ValueError)  # said as they are; others name the action


def _big(widget: QWidget, scale: float, bold: bool = False) -> None:
    f = QFont(widget.font())
    f.setPointSizeF(f.pointSizeF() * scale)
    f.setBold(bold)
    widget.setFont(f)


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
        self.log_lines: list[str] = []

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
        self.do_now = QLabel()
        self.do_now.setWordWrap(True)
        _big(self.do_now, 1.5, bold=True)
        self.why = QLabel()
        self.why.setWordWrap(True)
        _big(self.why, 1.1)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        _big(self.problem, 1.2, bold=True)
        self.problem.setStyleSheet("background:#c62828;color:white;padding:8px;border-radius:4px;")
        self.problem.hide()
        for w in (self.do_now, self.why, self.problem):
            layout.addWidget(w)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._setup_page())
        self.pages.addWidget(self._ranges_page())
        self.pages.addWidget(self._review_page())
        layout.addWidget(self.pages, 1)

        live = QGroupBox("What is happening")
        ll = QVBoxLayout(live)
        self.live_list = QListWidget()
        self.live_list.setMinimumHeight(120)
        ll.addWidget(self.live_list)
        layout.addWidget(live)

        buttons = QHBoxLayout()
        self.primary = QPushButton()
        _big(self.primary, 1.3, bold=True)
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
        self.driver = QLineEdit("sim")
        self.resource = QLineEdit()
        self.resource.setPlaceholderText("VISA resource, host:port or serial port (none for sim)")
        self.options = QLineEdit()
        self.options.setPlaceholderText("driver options, e.g. profile=datacenter seed=1")
        self.workload = QLineEdit()
        self.workload.setPlaceholderText("command that runs the benchmark (writes LoadGen logs)")
        self.ntp = QLineEdit()
        self.ntp.setPlaceholderText("NTP server for the clock check, e.g. pool.ntp.org (optional)")
        for label, w in (("Operator", self.operator), ("System under test", self.sut),
                         ("Benchmark", self.benchmark), ("Scenario", self.scenario), ("Rule set", self.rules),
                         ("Analyzer driver", self.driver), ("Resource", self.resource),
                         ("Driver options", self.options), ("Workload command", self.workload),
                         ("Clock check (NTP)", self.ntp)):
            form.addRow(label, w)
        return page

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
        _big(self.verdict, 1.8, bold=True)
        self.metric_label = QLabel()
        _big(self.metric_label, 1.4)
        self.checks = QTableWidget(0, 3)
        self.checks.setHorizontalHeaderLabels(["Check", "Verdict", "Evidence"])
        self.checks.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.checks.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.checks.verticalHeader().setVisible(False)
        self.export_label = QLabel()
        self.export_label.setWordWrap(True)
        self.export_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for w in (self.verdict, self.metric_label, self.checks, self.export_label):
            v.addWidget(w)
        return page

    # -- procedure events (any thread) ---------------------------------------------------------------
    def _on_event(self, kind: str, detail: dict) -> None:
        # A step's events are few (a handful per action), and each may change the page: control items.
        self.inbox.call_soon(self._on_procedure_event, kind, dict(detail))

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
        self._say("error", text)
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
        spec = InstrumentSpec(self.driver.text().strip() or "sim", self.resource.text().strip() or None, options)
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
        said = f"operator mark: workload {'begins' if edge == 'begin' else 'ends'}"
        # A mark goes into the run's journal (disk); it must not wait for, nor hold up, a step.
        self._submit(lambda: self.proc.mark(edge), "the mark", then=lambda _: self._say("info", said),
                     pending=False)

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
                self._say("error", f"export failed: {error}")
            else:
                self.export_result = result
                self.export_label.setText(f"Bundle: {result['dir']}\nZip: {result['zip']}\n"
                                          f"Check it with: station verify {result['zip']}")
                self._say("info", f"exported bundle {result['bundle_id']}")
                self.exported.emit(result["dir"])
            self.refresh()

        self._exporting = True
        self._say("info", f"exporting to {out} …")
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
        if kind == "check":
            status = d.get("status", "")
            if status in ("fail", "warn"):
                self._say(status, f"{d.get('run')}: {d.get('name')} {status.upper()}: {d.get('evidence')}")
        elif kind == "workload_started":
            self._say("info", f"workload started: {d.get('command')}")
        elif kind == "workload_ended":
            self._say("info" if d.get("exit_status") == 0 else "fail",
                      f"workload ended with status {d.get('exit_status')}")
        elif kind == "clock_check":
            self._say("info" if not d.get("error") else "warn",
                      d.get("error") or f"clock offset {d.get('offset_s', 0) * 1000:+.1f} ms "
                                        f"against {d.get('server')}")
        elif kind == "run_discarded":
            self._say("warn", f"run {d.get('run')} does not count ({d.get('reason')})")
        elif kind in ("step", "run_start", "run_complete", "ranges_proposed", "ranges_confirmed",
                      "ranges_override", "review", "cancelled", "step_failed", "done"):
            text = d.get("message") or ", ".join(f"{k}={v}" for k, v in d.items()
                                                 if isinstance(v, str | int | float))
            self._say("fail" if kind == "step_failed" else "info", f"{kind.replace('_', ' ')}: {text}")
        if kind in REFRESH_KINDS:
            self.refresh()

    def refresh(self) -> None:
        g = self.proc.guidance()
        step = self.proc.step
        for s, lab in self.step_labels.items():
            current = s == step
            lab.setStyleSheet("font-weight:bold;border-bottom:3px solid #1f6fd1;padding:4px;" if current
                              else "color:#5b6470;padding:4px;")
        self.do_now.setText(g.do_now)
        self.why.setText(g.why)
        if g.problem:
            self.problem.setText(f"Cannot go on: {g.problem}")
            self.problem.show()
        elif not self.busy and not self.problem.text().startswith("an override"):
            self.problem.hide()
        busy = self.busy
        page = {Step.SETUP: 0, Step.RANGE_SELECTION: 1, Step.REVIEW: 2, Step.DONE: 2}.get(step)
        if page is not None:
            self.pages.setCurrentIndex(page)
        self.pages.setEnabled(not busy)
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
        self.primary.setText(text)
        self.primary.setEnabled(not busy and step in labels and not (step == Step.DONE and self._exporting))
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
        valid = review.get("valid")
        self.verdict.setText("VALID" if valid else "NOT VALID")
        self.verdict.setStyleSheet(f"color:{STATUS_COLOURS['pass' if valid else 'fail']};")
        m = review.get("metric") or {}
        value = m.get("value")
        shown = f"{value:.6g}" if isinstance(value, float) else ("—" if value is None else str(value))
        self.metric_label.setText(f"Metric: {shown} {m.get('unit', '')}".strip())
        checks = sorted(review.get("checks", []), key=lambda c: {"fail": 0, "warn": 1}.get(c.get("status"), 2))
        self.checks.setRowCount(len(checks))
        for r, c in enumerate(checks):
            status = str(c.get("status", ""))
            items = [QTableWidgetItem(str(c.get("name"))), QTableWidgetItem(status.upper()),
                     QTableWidgetItem(str(c.get("evidence")))]
            items[1].setForeground(QColor(STATUS_COLOURS.get(status, "#000000")))
            for col, it in enumerate(items):
                it.setToolTip(it.text())
                self.checks.setItem(r, col, it)
        self.checks.resizeColumnToContents(0)

    def close_procedure(self) -> None:
        """Cancel what runs and release the analyzers on the lane; ``closed`` turns True when done."""
        self.proc.cancel()
        if self._closing:
            return
        self._closing = True

        def done(result, error) -> None:
            self.closed = True
            self.timer.stop()
            if error is not None:
                self._say("warn", f"closing the analyzers reported: {error}")

        self.lane.submit(self.proc.close, done)
        if self._own_lane:
            self.lane.close(0)  # the lane's thread ends after the close job
