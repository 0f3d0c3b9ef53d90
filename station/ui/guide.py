"""The guided MLPerf Power measurement in the window: setup, ranging, range selection, testing,
review and export, one step at a time, with what to do now and why.

The window drives the Qt-free :class:`station.procedure.Procedure` (the same object ``station
measure`` drives headless). Every procedure action returns at once and runs on the procedure's
own thread; its events arrive on that thread and are queued, and a 5 Hz timer on the GUI thread
drains the queue and refreshes the page, so the GUI thread never waits on an instrument, a
workload or the disk. Export runs on a background thread as well.
"""

from __future__ import annotations

import queue
import threading
import time
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

STEPS = [(Step.SETUP, "1 Setup"), (Step.RANGING, "2 Ranging"), (Step.RANGE_SELECTION, "3 Ranges"),
         (Step.TESTING, "4 Testing"), (Step.REVIEW, "5 Review"), (Step.DONE, "6 Export")]
SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream", "Interactive")
STATUS_COLOURS = {"pass": "#1b7f3b", "warn": "#b26a00", "fail": "#c62828"}


def _big(widget: QWidget, scale: float, bold: bool = False) -> None:
    f = QFont(widget.font())
    f.setPointSizeF(f.pointSizeF() * scale)
    f.setBold(bold)
    widget.setFont(f)


class GuideWidget(QWidget):
    """One guided session in ``out_dir``."""

    exported = Signal(str)

    def __init__(self, out_dir: str | Path, parent: QWidget | None = None,
                 session_factory=None, rule_overrides: list[str] | None = None) -> None:
        super().__init__(parent)
        self.out_dir = Path(out_dir)
        self._events: queue.Queue = queue.Queue(maxsize=10_000)
        kwargs = {"session_factory": session_factory} if session_factory else {}
        self.proc = Procedure(self.out_dir, on_event=self._on_event, **kwargs)
        self.rule_overrides = list(rule_overrides or [])
        self.export_result: dict | None = None
        self._export_thread: threading.Thread | None = None
        self._export_done: dict | None = None
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
        self.timer.timeout.connect(self.refresh)
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
        try:
            self._events.put_nowait((time.time(), kind, dict(detail)))
        except queue.Full:
            pass  # the procedure's own audit.jsonl keeps everything; the screen shows the latest

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
        """The primary button: start the next thing the current step needs."""
        if self.proc.busy:
            return
        try:
            step = self.proc.step
            if step == Step.SETUP:
                self.proc.start_setup(self.setup_info())
            elif step == Step.RANGING:
                self.proc.start_ranging()
            elif step == Step.RANGE_SELECTION:
                override = self.range_override()
                if override:
                    reason = self.override_reason.text().strip()
                    if not reason:
                        raise ProcedureError("an override needs a reason: write it next to the table")
                    self.proc.select_ranges(override, reason)
                else:
                    self.proc.select_ranges()
            elif step == Step.TESTING:
                if self.proc.testing_done:
                    self.proc.start_review()
                else:
                    self.proc.start_testing()
            elif step == Step.REVIEW:
                self.proc.finish()
            elif step == Step.DONE:
                self.start_export()
        except (ProcedureError, rules_mod.RuleError, ValueError) as exc:
            self._say("error", str(exc))
            self.problem.setText(str(exc))
            self.problem.show()
        self.refresh()

    def _mark(self, edge: str) -> None:
        try:
            self.proc.mark(edge)
            self._say("info", f"operator mark: workload {'begins' if edge == 'begin' else 'ends'}")
        except ProcedureError as exc:
            self._say("error", str(exc))

    def another_testing_run(self) -> None:
        if not self.proc.busy and self.proc.step == Step.TESTING:
            self.proc.start_testing()

    def retry(self) -> None:
        """Run the current step again after a problem (the failed attempt was discarded)."""
        if self.proc.busy:
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
        if self._export_thread is not None:
            return
        out = self.out_dir.with_name(self.out_dir.name + "-bundle")

        def job():
            from station.measurement.export import export_bundle

            try:
                res = export_bundle(self.out_dir, out)
                self._export_done = {"dir": str(res.directory), "zip": str(res.zip_path),
                                     "bundle_id": res.bundle_id}
            except Exception as exc:  # shown to the operator, never raised into Qt
                self._export_done = {"error": str(exc)}

        self._say("info", f"exporting to {out} …")
        self._export_thread = threading.Thread(target=job, name="guide-export", daemon=True)
        self._export_thread.start()

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

    def _drain(self) -> None:
        for _ in range(200):
            try:
                _t, kind, d = self._events.get_nowait()
            except queue.Empty:
                break
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

    def refresh(self) -> None:
        self._drain()
        if self._export_done is not None and self.export_result is None:
            self.export_result = self._export_done
            if "error" in self.export_result:
                self._say("error", f"export failed: {self.export_result['error']}")
                self._export_thread = None
                self._export_done = self.export_result = None
            else:
                self.export_label.setText(f"Bundle: {self.export_result['dir']}\nZip: {self.export_result['zip']}\n"
                                          f"Check it with: station verify {self.export_result['zip']}")
                self._say("info", f"exported bundle {self.export_result['bundle_id']}")
                self.exported.emit(self.export_result["dir"])
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
        elif not self.proc.busy and not self.problem.text().startswith("an override"):
            self.problem.hide()
        busy = self.proc.busy
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
        self.primary.setEnabled(not busy and step in labels and not (step == Step.DONE and
                                                                     self._export_thread is not None))
        recording = busy and step in (Step.RANGING, Step.TESTING)
        self.end_run_button.setEnabled(recording)
        self.mark_begin.setEnabled(recording)
        self.mark_end.setEnabled(recording)
        self.cancel_button.setEnabled(busy)
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
        self.timer.stop()
        self.proc.cancel()
        self.proc.close()
