"""The MLPerf Tiny energy run in the window: choose the boards, watch the five trials, read the verdict.

The window drives the same Qt-free procedure as ``station tiny``
(:func:`station.tiny.procedure.run_energy`) on its own :class:`TaskLane`, so the GUI thread never
waits on a serial port; the procedure's observer events come back through an :class:`Inbox` drained
on the page's timer. The monitor's sample blocks go straight into a :class:`LiveStore` on the
procedure's recorder thread (one writer), which the :class:`PowerPlot` reads on the frame timer,
like the guide's live page. Each trial's window between the DUT's timestamp edges is shaded as the
edges arrive and labelled with its energy per inference when the trial ends. At the end: the
median in uJ/inference as ``results.txt`` prints it, the verdict words of :mod:`station.verify`,
where the runner's files and the station bundle went and the line ``station verify`` prints for
that bundle.

Streaming wakeword (``station tiny --mode streaming``): the dataset field asks for the runner's
truth file folder; the one long window is shaded from its start edge, labelled with the time so far
and the average power (:class:`OpenWindowMeter`), and the result is that average in mW. The monitor
is an LPM01A (it supplies the DUT at the voltage chosen) or a Joulescope (it measures the supply it
is wired into: no voltage), both opened by :func:`station.tiny.boards.open_monitor`.

"Emulated boards" runs the procedure on the emulated DUT + interface board and the fake LPM01A
(instruments.fakes), said as such on the page; ``emulation_speed`` runs their clock faster, for
tests and demos.
"""

from __future__ import annotations

import math
import re
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from station.core.live_store import LiveStore
from station.tiny.boards import BoardError, dataset_files, open_interface, open_monitor
from station.tiny.bundle import BUNDLE_DIR, SESSION_DIR
from station.tiny.demo import STREAMING_DEMO_S, build_bench, write_truth
from station.ui.guide_parts import STATUS_COLOURS, enlarge, fill_checks, instruction_labels
from station.ui.inbox import Inbox, TaskLane, run_callback
from station.ui.power_plot import PowerPlot
from station.ui.theme import qcolor

MONITOR_LPM01A, MONITOR_JOULESCOPE, MONITOR_EMULATED = "lpm01a", "joulescope", "emulated"
MODE_SINGLE, MODE_STREAMING = "single-stream", "streaming"
JOULESCOPE_NOTE = ("The Joulescope measures the supply it is wired into: it sets no voltage, so set the DUT's "
                   "supply yourself.")
PAGE_SETUP, PAGE_RUN = range(2)
FRAME_MS = 100
MIN_VIEW_S = 20.0  # the plot shows at least this much, then the whole run so far
WINDOW_BRUSH = "#2b8a3e40"  # a trial's window: green, see-through so the trace stays readable
OPEN_WINDOW_BRUSH = "#f2a40040"  # a window whose second edge has not come yet
CALIBRATION_BRUSH = "#8a94a340"
NO_WINDOW_BRUSH = "#c6282833"  # a trial whose edges do not make a window
EMULATED_INPUT_BYTES = 80
TRIAL_COLUMNS = ("Trial", "Input file", "Inferences", "Window (s)", "Energy (uJ)", "uJ/inference")
STREAMING_COLUMNS = ("Trial", "Audio file", "Inferences", "Window (s)", "Energy (uJ)", "Average (mW)")


@dataclass
class WindowMark:
    """One shaded window on the plot: a trial's (or the calibration's) span between two edges, in
    the monitor records' time (seconds); ``stop`` is None while the second edge has not come."""

    trial: int | None  # None: the calibration run that measures one inference's time
    start: float
    stop: float | None
    text: str
    region: pg.LinearRegionItem
    label: pg.InfLineLabel
    final: bool = False  # the procedure measured this window (trial_done), not only its edges


@dataclass
class TinyRunSetup:
    """What the operator chose on the setup page."""

    monitor: str  # MONITOR_LPM01A, MONITOR_JOULESCOPE or MONITOR_EMULATED
    monitor_port: str
    interface_port: str
    dut_baud: int
    voltage: float
    dataset: Path | None
    out: Path
    inferences: int | None = None  # None: measured so each window lasts at least 10 s
    emulation_speed: float = 1.0
    extra: dict = field(default_factory=dict)  # further LPM01A driver options
    faults: dict = field(default_factory=dict)  # the emulated boards' faults
    streaming: bool = False  # streaming wakeword: one long trial scored as average power (mW)
    stream_s: float = 1200.0  # the emulated audio's length when no truth file is given
    operator: str = ""  # who ran it and on what: the bundle's verdict says "not given" without them
    sut: str = ""


def emulated_dataset(directory: Path, files: int = 5) -> list[Path]:
    """Five small input files for the emulated DUT (it only checks that every byte arrives)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        path = directory / f"emulated_input_{i:02d}.bin"
        path.write_bytes(bytes((i * 7 + k) % 256 for k in range(EMULATED_INPUT_BYTES)))
        paths.append(path)
    return paths


def fresh_out_dir(out: Path) -> Path:
    """``out`` when it holds no run yet, else the first of ``out-2``, ``out-3``, … that holds none."""
    def holds_run(d: Path) -> bool:
        return any((d / name).exists() for name in (SESSION_DIR, BUNDLE_DIR, "results.txt", "results.json"))
    if not holds_run(out):
        return out
    # "Run again" after out-2 goes on to out-3, not out-2-2.
    numbered = re.fullmatch(r"(.+)-(\d+)", out.name)
    base, k = (numbered.group(1), int(numbered.group(2))) if numbered and out.with_name(numbered.group(1)).exists() \
        else (out.name, 1)
    candidate = out
    while holds_run(candidate):
        k += 1
        candidate = out.with_name(f"{base}-{k}")
    return candidate


class OpenWindowMeter:
    """Elapsed time and average power of the window the latest timestamp edge opened, as the samples
    come (streaming wakeword's one long window). The recorder's thread feeds it, blocks before their
    edges as the procedure reports them; the GUI thread reads it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: np.ndarray | None = None  # the latest block: an edge falls inside the block just fed
        self.start: float | None = None
        self.stop: float | None = None
        self._sum_w = 0.0
        self._n = 0
        self._t_last: float | None = None

    def _add(self, samples: np.ndarray, sign: int) -> None:
        if len(samples):
            w = samples["w"]
            good = np.isfinite(w)
            self._sum_w += sign * float(w[good].sum())
            self._n += sign * int(good.sum())

    def block(self, samples: np.ndarray) -> None:
        with self._lock:
            self._last = samples
            if self.start is not None and self.stop is None and len(samples):
                inside = samples[samples["t"] >= self.start]
                self._add(inside, 1)
                if len(inside):
                    self._t_last = float(inside["t"][-1])

    def edge(self, t: float) -> None:
        with self._lock:
            last = self._last if self._last is not None else np.empty(0, dtype=[("t", "f8"), ("w", "f8")])
            if self.start is None or self.stop is not None:  # a window opens
                self.start, self.stop, self._sum_w, self._n, self._t_last = t, None, 0.0, 0, t
                inside = last[last["t"] >= t]
                self._add(inside, 1)
                if len(inside):
                    self._t_last = float(inside["t"][-1])
            else:  # it closes: the samples of this block after the edge were counted, take them out
                self.stop = t
                self._add(last[last["t"] >= t], -1)
                self._t_last = t

    def reading(self) -> tuple[float, float | None] | None:
        """(seconds since the window opened, average watts so far or None), None before it opens."""
        with self._lock:
            if self.start is None:
                return None
            return (self._t_last or self.start) - self.start, (self._sum_w / self._n if self._n > 0 else None)


class TinyGuideWidget(QWidget):
    """One MLPerf Tiny energy run, from choosing the boards to the verdict."""

    def __init__(self, out_dir: str | Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inbox = Inbox()
        self.lane = TaskLane("tiny", self.inbox)
        self._stop = threading.Event()
        self.running = False
        self.closed = False
        self.summary: dict | None = None  # the finished run's summary (TinyRunResult.summary())
        self.failure: str | None = None
        self.emulated = False
        self.store: LiveStore | None = None
        self.freq = 1000.0
        self.t_first: float | None = None
        self.inferences: int | None = None
        self.trial: int | None = None  # the trial running now, numbered from 0 as results.txt numbers them
        self.trials_planned = 5
        self.window_values: dict[int, float] = {}  # uJ/inference of each measured window, by trial
        self.trial_edges = 0  # timestamp edges seen in the running trial (or calibration)
        self.marks: list[WindowMark] = []
        self.log_lines: list[str] = []
        self._store_lock = threading.Lock()  # the recorder thread makes the store, a new run drops it
        self._run_id = 0  # events of an earlier run (still draining) are ignored
        # Faults for the emulated boards (instruments.fakes.tiny_dut.TinyRig options such as
        # missing_edge_trial), to show or test what a broken run looks like.
        self.emulation_faults: dict = {}
        self.streaming = False  # the run on now (or the last one) is streaming wakeword
        self.stream_length_s: float | None = None  # its audio's length, from the truth file
        self.meter = OpenWindowMeter()
        # The emulated streaming audio's length without a truth file: the runner's 20 minutes (tests shorten it).
        self.emulated_stream_s = STREAMING_DEMO_S
        self.verify_line: str | None = None  # what `station verify` says of the run's bundle

        layout = QVBoxLayout(self)
        self.do_now, self.why, self.problem = instruction_labels(1.4, 1.05, 1.15)
        self.emulation_banner = QLabel("EMULATED BOARDS: the DUT, the interface board and the LPM01A are software "
                                       "stand-ins. This shows how a run goes; it measures no device.")
        self.emulation_banner.setObjectName("tiny_emulation_banner")
        self.emulation_banner.setWordWrap(True)
        self.emulation_banner.setStyleSheet("background:#f0a400;color:#1a1a1a;padding:6px;border-radius:4px;"
                                            "font-weight:bold;")
        self.emulation_banner.hide()
        for w in (self.do_now, self.why, self.problem, self.emulation_banner):
            layout.addWidget(w)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._setup_page(Path(out_dir)))
        self.pages.addWidget(self._run_page())
        layout.addWidget(self.pages, 1)

        log_box = QGroupBox("What is happening")
        ll = QVBoxLayout(log_box)
        ll.setContentsMargins(6, 2, 6, 6)
        self.log_list = QListWidget()
        self.log_list.setMinimumHeight(70)
        self.log_list.setMaximumHeight(110)
        ll.addWidget(self.log_list)
        layout.addWidget(log_box)

        buttons = QHBoxLayout()
        self.primary = QPushButton("Start energy run")
        enlarge(self.primary, 1.3, bold=True)
        self.primary.setMinimumHeight(44)
        self.primary.clicked.connect(self.start)
        self.setup_button = QPushButton("Change setup")
        self.setup_button.clicked.connect(self.show_setup)
        self.stop_button = QPushButton("Stop run")
        self.stop_button.setToolTip("End the run at the next answer from the boards; nothing of it is kept")
        self.stop_button.clicked.connect(self.stop)
        self.open_folder_button = QPushButton("Open result folder")
        self.open_folder_button.setToolTip("The runner's results.txt, results.json and log.txt, and the station bundle")
        self.open_folder_button.clicked.connect(self.open_folder)
        self.open_report_button = QPushButton("Open bundle report")
        self.open_report_button.setToolTip("The station bundle's report: the trials' windows plotted, every check")
        self.open_report_button.clicked.connect(self.open_report)
        for b in (self.primary, self.setup_button, self.stop_button, self.open_folder_button,
                  self.open_report_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)

        # The start button and the instructions name the mode and the monitor.
        self.mode.currentIndexChanged.connect(self.refresh)
        self.monitor.currentIndexChanged.connect(self.refresh)
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()
        self.refresh()

    # -- pages ------------------------------------------------------------------------------------
    def _setup_page(self, out_dir: Path) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.form = form
        self.mode = QComboBox()
        self.mode.addItem("Single stream: five trials, median uJ/inference", MODE_SINGLE)
        self.mode.addItem("Streaming wakeword: one ~20-minute trial, average power in mW", MODE_STREAMING)
        self.mode.currentIndexChanged.connect(self._monitor_changed)
        self.monitor = QComboBox()
        self.monitor.addItem("ST LPM01A energy monitor (serial port)", MONITOR_LPM01A)
        self.monitor.addItem("Joulescope JS110/JS220 (the one connected, a serial number, or a JLS file)",
                             MONITOR_JOULESCOPE)
        self.monitor.addItem("Emulated boards (no hardware: a demonstration)", MONITOR_EMULATED)
        self.monitor.currentIndexChanged.connect(self._monitor_changed)
        self.monitor_port = QLineEdit()
        self.monitor_port.setPlaceholderText("the LPM01A's port, e.g. /dev/ttyACM0 or COM5")
        self.interface_port = QLineEdit()
        self.interface_port.setPlaceholderText("the interface board's port (STM32H573I-DK or Arduino)")
        self.dut_baud = QSpinBox()
        self.dut_baud.setRange(1200, 2_000_000)
        self.dut_baud.setValue(9600)
        self.voltage = QDoubleSpinBox()
        self.voltage.setRange(1.8, 3.3)
        self.voltage.setDecimals(2)
        self.voltage.setSingleStep(0.05)
        self.voltage.setValue(3.0)
        self.voltage.setSuffix(" V")
        self.monitor_note = QLabel(JOULESCOPE_NOTE)
        self.monitor_note.setObjectName("tiny_monitor_note")
        self.monitor_note.setWordWrap(True)
        self.monitor_note.setStyleSheet("color:#8a5a00;font-weight:bold;")
        self.dataset = QLineEdit()
        self.dataset.setPlaceholderText("directory of the model's input files (the first five by name are the trials)")
        self.out = QLineEdit(str(out_dir))
        self.operator = QLineEdit()
        self.operator.setPlaceholderText("your name: the bundle is not compliant without it")
        self.sut = QLineEdit()
        self.sut.setPlaceholderText("the DUT board and firmware (default: the name the DUT gives)")
        self.inferences_spin = QSpinBox()
        self.inferences_spin.setRange(0, 10**8)
        self.inferences_spin.setSpecialValueText("measured: each window lasts at least 10 s")
        self.speed = QDoubleSpinBox()
        self.speed.setRange(1.0, 100.0)
        self.speed.setValue(1.0)
        self.speed.setSuffix(" x real time")
        self.speed.setToolTip("The emulated boards' clock runs this much faster than the wall clock")

        def with_browse(edit: QLineEdit, title: str) -> QWidget:
            row = QWidget()
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            h.addWidget(edit, 1)
            button = QPushButton("Browse…")

            def browse() -> None:
                path = QFileDialog.getExistingDirectory(self, title, edit.text())
                if path:
                    edit.setText(path)
            button.clicked.connect(browse)
            h.addWidget(button)
            return row

        for label, w in (("Benchmark mode", self.mode), ("Energy monitor", self.monitor),
                         ("Monitor port", self.monitor_port),
                         ("Interface board port", self.interface_port), ("DUT baud rate (energy mode)", self.dut_baud),
                         ("DUT supply voltage", self.voltage), ("", self.monitor_note),
                         ("Dataset", with_browse(self.dataset, "The model's input files")),
                         ("Result folder", with_browse(self.out, "Where the result files go")),
                         ("Operator", self.operator), ("System under test", self.sut),
                         ("Inferences per window", self.inferences_spin), ("Emulation speed", self.speed)):
            form.addRow(label, w)
        self._monitor_changed()
        return page

    def _monitor_changed(self) -> None:
        """Fit the fields to the monitor and the mode chosen."""
        monitor = self.monitor.currentData()
        emulated = monitor == MONITOR_EMULATED
        streaming = self.mode.currentData() == MODE_STREAMING
        for w in (self.monitor_port, self.interface_port):
            w.setEnabled(not emulated)
        self.speed.setEnabled(emulated)
        joulescope = monitor == MONITOR_JOULESCOPE
        # The Joulescope only measures: a voltage typed here would be set nowhere.
        self.voltage.setEnabled(not joulescope)
        self.monitor_note.setVisible(joulescope)
        self.monitor_port.setPlaceholderText(
            "empty: the Joulescope connected; or its serial number; or jls:FILE.jls, a recording replayed"
            if joulescope else "the LPM01A's port, e.g. /dev/ttyACM0 or COM5")
        dataset_label = self.form.labelForField(self.dataset.parentWidget())
        if dataset_label is not None:
            dataset_label.setText("Truth file folder" if streaming else "Dataset")
        if streaming:
            self.dataset.setPlaceholderText(
                "optional with emulated boards (a generated truth file)" if emulated else
                "folder of the runner's truth file (sww_long_test.json; the wav file is on the interface "
                "board's SD card)")
        else:
            self.dataset.setPlaceholderText(
                "optional with emulated boards (five generated inputs)" if emulated
                else "directory of the model's input files (the first five by name are the trials)")
        self.inferences_spin.setEnabled(not streaming)

    def _run_page(self) -> QWidget:
        page = QWidget()
        v = QHBoxLayout(page)
        v.setContentsMargins(0, 0, 0, 0)
        left = QVBoxLayout()
        self.state = QLabel()
        self.state.setObjectName("tiny_state")
        self.state.setWordWrap(True)
        enlarge(self.state, 1.3, bold=True)
        left.addWidget(self.state)
        self.plot = PowerPlot(page)
        self.plot.empty_label.setText("No samples yet: the monitor's power is shown here once it measures.")
        left.addWidget(self.plot, 1)
        v.addLayout(left, 3)

        right = QVBoxLayout()
        self.verdict = QLabel()
        self.verdict.setObjectName("tiny_verdict")
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        enlarge(self.verdict, 1.7, bold=True)
        self.median = QLabel()
        self.median.setObjectName("tiny_median")
        self.median.setWordWrap(True)
        self.median.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        enlarge(self.median, 1.35, bold=True)
        self.reason = QLabel()
        self.reason.setObjectName("tiny_reason")
        self.reason.setWordWrap(True)
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        enlarge(self.reason, 1.05)
        self.files = QLabel()
        self.files.setObjectName("tiny_files")
        self.files.setWordWrap(True)
        self.files.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.files.setStyleSheet("background:#eef1f5;color:#1d232b;padding:6px;border-radius:4px;")
        self.files.hide()
        for w in (self.verdict, self.median, self.reason, self.files):
            right.addWidget(w)
        self.trials = QTableWidget(0, len(TRIAL_COLUMNS))
        self.trials.setObjectName("tiny_trials")
        self.trials.setHorizontalHeaderLabels(TRIAL_COLUMNS)
        self.trials.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.trials.verticalHeader().setVisible(False)
        self.trials.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.trials.horizontalHeader().setStretchLastSection(True)
        self.trials.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Five rows without scrolling and no more: the checks below need the room for their evidence.
        rows = self.trials.verticalHeader().defaultSectionSize() * 5
        self.trials.setFixedHeight(rows + self.trials.horizontalHeader().sizeHint().height()
                                   + 2 * self.trials.frameWidth() + 4)
        right.addWidget(self.trials)
        self.checks = QTableWidget(0, 3)
        self.checks.setObjectName("tiny_checks")
        self.checks.setHorizontalHeaderLabels(["Check", "Verdict", "Evidence"])
        self.checks.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.checks.verticalHeader().setVisible(False)
        self.checks.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.checks.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.checks.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.checks.setWordWrap(True)
        self.checks.hide()
        right.addWidget(self.checks, 1)
        right.addStretch(0)
        box = QWidget()
        box.setLayout(right)
        box.setMinimumWidth(590)
        box.setMaximumWidth(680)
        v.addWidget(box, 2)
        return page

    # -- setup -------------------------------------------------------------------------------------
    def setup(self) -> TinyRunSetup:
        """The setup page as a :class:`TinyRunSetup`; ValueError says what is missing."""
        from station.tiny.procedure import TinyRunError, read_truth

        monitor = self.monitor.currentData()
        emulated = monitor == MONITOR_EMULATED
        streaming = self.mode.currentData() == MODE_STREAMING
        missing = []
        if not emulated:
            # An empty Joulescope setting is the one connected; an LPM01A needs its port.
            fields = (("the monitor's port", self.monitor_port),) if monitor == MONITOR_LPM01A else ()
            missing += [name for name, w in fields + (("the interface board's port", self.interface_port),)
                        if not w.text().strip()]
        dataset = Path(self.dataset.text().strip()) if self.dataset.text().strip() else None
        if dataset is None and not emulated:
            missing.append("the truth file folder" if streaming else "the dataset directory")
        if not self.out.text().strip():
            missing.append("the result folder")
        if missing:
            raise ValueError(f"Give {', '.join(missing)}.")
        if dataset is not None and not dataset.is_dir():
            raise ValueError(f"The dataset {dataset} is not a directory.")
        if dataset is not None and not dataset_files(dataset):
            raise ValueError(f"The dataset {dataset} holds no input files.")
        if dataset is not None and streaming:
            try:
                read_truth(dataset_files(dataset))
            except TinyRunError as exc:
                raise ValueError(f"The truth file folder {dataset}: {exc}.") from None
        return TinyRunSetup(monitor, self.monitor_port.text().strip(),
                            self.interface_port.text().strip(), self.dut_baud.value(), self.voltage.value(), dataset,
                            Path(self.out.text().strip()),
                            None if streaming else (self.inferences_spin.value() or None), self.speed.value(),
                            faults=dict(self.emulation_faults) if emulated else {}, streaming=streaming,
                            stream_s=self.emulated_stream_s, operator=self.operator.text().strip(),
                            sut=self.sut.text().strip())

    def use_emulation(self, speed: float = 1.0) -> None:
        """Choose the emulated boards, their clock ``speed`` times the wall clock."""
        self.monitor.setCurrentIndex(self.monitor.findData(MONITOR_EMULATED))
        self.speed.setValue(speed)

    def use_streaming(self, streaming: bool = True) -> None:
        """Choose the streaming-wakeword mode (or back to single stream)."""
        self.mode.setCurrentIndex(self.mode.findData(MODE_STREAMING if streaming else MODE_SINGLE))

    # -- the run -----------------------------------------------------------------------------------
    def start(self) -> None:
        """The primary button: start the run on the lane (GUI thread)."""
        if self.running:
            return
        try:
            setup = self.setup()
        except ValueError as exc:
            self._show_problem(str(exc))
            return
        boards = None
        if setup.monitor != MONITOR_EMULATED:
            # Made here, not on the lane: the drivers check their settings without opening anything,
            # so a refused setting is said before a run starts.
            try:
                boards = (open_monitor(setup.monitor, self._monitor_resource(setup), setup.extra, setup.voltage),
                          open_interface(setup.interface_port))
            except BoardError as exc:
                self._show_problem(f"The {setup.monitor} setting is refused: {exc}. Nothing was started; "
                                   "correct the monitor setting and start again.")
                return
        self._reset()
        fresh = fresh_out_dir(setup.out)
        if fresh != setup.out:
            # The procedure refuses a folder that holds a run, and "Run again" must keep the last one.
            self._say(f"{setup.out} holds an earlier run, kept as it is; this one goes into {fresh}.")
            self.out.setText(str(fresh))
            setup.out = fresh
        self.running = True
        self.emulated = setup.monitor == MONITOR_EMULATED
        self.streaming = setup.streaming
        self._set_trial_columns()
        if setup.streaming and setup.dataset is not None:
            from station.tiny.procedure import read_truth

            self.stream_length_s = read_truth(dataset_files(setup.dataset))["length_sec"]
        elif setup.streaming:
            self.stream_length_s = setup.stream_s
        self._stop = stop = threading.Event()
        run_id = self._run_id
        what = "Streaming-wakeword run" if setup.streaming else "Energy run"
        self._say(f"{what} into {setup.out}" + (" on EMULATED boards." if self.emulated else "."))
        self.lane.submit(lambda: self._run(setup, run_id, stop, boards), self._finished)
        self.refresh()

    @staticmethod
    def _monitor_resource(setup: TinyRunSetup) -> str:
        """The port field as open_monitor takes it: a Joulescope's .jls path is its replay."""
        port = setup.monitor_port
        if setup.monitor == MONITOR_JOULESCOPE and port.lower().endswith(".jls") and not port.startswith("jls:"):
            return f"jls:{port}"
        return port

    def _run(self, setup: TinyRunSetup, run_id: int, stop: threading.Event, boards: tuple | None):
        """The lane's job: open the boards, run the procedure, close what the emulation made; then
        verify the bundle as ``station verify`` does. Returns (TinyRunResult, that verdict line or None)."""
        from station.tiny.procedure import run_energy

        freq = {"hz": self.freq}
        meter = self.meter

        def on_event(kind: str, detail: dict) -> None:
            if kind == "block":
                self._feed(run_id, detail, freq["hz"])
                meter.block(detail["samples"])
            else:
                if kind == "edge" and detail.get("t") is not None:
                    meter.edge(float(detail["t"]))
                if kind == "monitor":  # told on this thread before the recorder's first block
                    freq["hz"] = float(detail["freq"])
                self.inbox.call_soon(self._on_run_event, run_id, kind, dict(detail))

        made: list = []
        scratch: Path | None = None
        try:
            if setup.dataset is not None:
                files = dataset_files(setup.dataset)
            else:
                scratch = Path(tempfile.mkdtemp(prefix="station-tiny-inputs-"))
                files = [write_truth(scratch, setup.stream_s)[0]] if setup.streaming else emulated_dataset(scratch)
            if setup.monitor == MONITOR_EMULATED:
                from instruments.fakes.lpm01a import Lpm01aDevice
                from instruments.fakes.tiny_dut import ScaledClock, TinyRig

                clock = ScaledClock(setup.emulation_speed)
                if setup.streaming:
                    # The demo's streaming bench: the emulated DUT hears each of the truth file's
                    # wakewords 0.3 s after it starts, as `station tiny --demo --mode streaming`.
                    from station.tiny.procedure import read_truth

                    truth = read_truth(files)
                    rig, board = build_bench(clock, model="sww01", stream_s=truth["length_sec"],
                                             detect_at=tuple(a + 0.3 for a, _ in truth["detection_windows"]))
                    made += [rig, board]
                else:
                    rig = TinyRig(clock, **setup.faults)
                    made.append(rig)
                    board = Lpm01aDevice(seed=5, clock=clock)
                    made.append(board)
                    board.workload = rig.load_for(board)
                monitor = open_monitor(MONITOR_LPM01A, board.port, setup.extra, setup.voltage)
                interface = open_interface(rig.port)
            else:
                clock = time.monotonic
                monitor, interface = boards
            result = run_energy(monitor=monitor, interface=interface, dataset=files, out=setup.out,
                                dut_baud=setup.dut_baud, inferences=setup.inferences, clock=clock,
                                on_event=on_event, stop=stop, streaming=setup.streaming,
                                operator=setup.operator, sut=setup.sut)
            return result, self._verify_bundle(result.bundle)
        finally:
            for thing in made:
                thing.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)

    @staticmethod
    def _verify_bundle(bundle: Path | None) -> str | None:
        """The line ``station verify BUNDLE`` prints first (the lane's thread: it reads the bundle)."""
        if bundle is None:
            return None
        from station.commands.verify import verdict_line
        from station.verify import Unusable, verify_path

        try:
            return verdict_line(bundle, verify_path(bundle))
        except Unusable as exc:
            return f"station: cannot verify: {exc}"

    def _feed(self, run_id: int, detail: dict, freq: float) -> None:
        """The recorder's thread: the block's samples into the run's live store (made at the first)."""
        samples = detail["samples"]
        if not len(samples):
            return
        with self._store_lock:
            if run_id != self._run_id:
                return
            if self.store is None:
                self.store = LiveStore(samples.dtype, window_samples=1 << 18, interval_s=1.0 / freq)
                self.inbox.call_soon(self._show_store, run_id, self.store, detail.get("t_first"))
            store = self.store
        store.append(samples)

    def _finished(self, result, error) -> None:
        """The lane's answer (GUI thread): the result, or why there is none."""
        from station.tiny.procedure import TinyRunError

        self.running = False
        self.trial = None
        if error is not None:
            self.failure = (str(error) if isinstance(error, TinyRunError)
                            else f"The run failed: {type(error).__name__}: {error}")
            self._show_problem(self.failure)
            # Windows measured before the failure are not a result: nothing was written.
            self.verdict.setText("NO RESULT")
            self.verdict.setStyleSheet(f"color:{STATUS_COLOURS['fail']};")
            self.median.setText("")
            self.reason.setText(self.failure)
        else:
            result, self.verify_line = result
            self.summary = result.summary()
            self._show_result(self.summary)
        if self.plot.store is not None:
            self.plot.set_store(self.plot.store, live=False, keep_view=True)
            self.plot.fit_all()
        self.refresh()

    def stop(self) -> None:
        """End the run at the boards' next line (the procedure raises; nothing is written)."""
        if self.running:
            self._stop.set()
            self._say("Stopping the run…")

    # -- events (GUI thread) ------------------------------------------------------------------------
    def _show_store(self, run_id: int, store: LiveStore, t_first: float | None) -> None:
        if run_id != self._run_id:
            return
        self.t_first = t_first
        self.plot.set_store(store, live=True)
        self.plot.window_s = MIN_VIEW_S

    def _on_run_event(self, run_id: int, kind: str, d: dict) -> None:
        if run_id != self._run_id:
            return
        if kind == "dut":
            self._say(f"The DUT answers: {d.get('name')}, model {d.get('model') or 'not given'}.")
        elif kind == "monitor":
            self.freq = float(d.get("freq") or self.freq)
        elif kind == "inferences":
            self.inferences = int(d["n"])
            self._say(f"{self.inferences} inferences per window.")
        elif kind == "trial_start":
            self.trial, self.trial_edges, self.trials_planned = int(d["trial"]), 0, int(d.get("of") or 5)
            if self.streaming:
                self._say(f"Streaming wakeword: the interface board plays {d.get('file')}"
                          + (f" ({self.stream_length_s:g} s)." if self.stream_length_s else "."))
                self._trial_row(self.trial, d.get("file", ""), "playing…")
            else:
                self._say(f"Trial {self.trial} ({self.trial + 1} of {self.trials_planned}): loading {d.get('file')}.")
                self._trial_row(self.trial, d.get("file", ""), "loading…")
        elif kind == "edge":
            self._on_edge(d)
        elif kind == "trial_done":
            self._on_trial_done(d)
        self.refresh()

    def _on_edge(self, d: dict) -> None:
        t = d.get("t")
        if t is None:
            return
        self.trial_edges += 1
        trial = self.trial
        if self.trial_edges % 2:  # a window opens
            if trial is None:  # only the latest calibration is named: they are close together
                for m in self.marks:
                    if m.trial is None:
                        m.label.setFormat("")
            if trial is None:
                text = "calibration"
            elif self.streaming:
                text = "streaming wakeword:\nwindow open…"
            else:
                text = f"trial {trial}:\n{self.inferences} inferences,\nmeasuring…"
            self.marks.append(self._new_mark(trial, t, text))
            if trial is not None:
                self._trial_row(trial, None, "running…")
        else:
            mark = next((m for m in reversed(self.marks) if m.trial == trial and m.stop is None), None)
            if mark is not None:
                mark.stop = t
                if trial is None:
                    self._say(f"Calibration window: {t - mark.start:.3f} s.")

    def _on_trial_done(self, d: dict) -> None:
        k = int(d["trial"])
        w = d.get("window")
        mine = [m for m in self.marks if m.trial == k]
        if w is None or self.t_first is None:
            # No window to score: what the monitor saw of it stays on the plot, in red, saying why.
            for m in mine[:-1]:
                self._drop_mark(m)
            if mine:
                span = self.plot.store.span() if self.plot.store is not None else None
                mark = mine[-1]
                mark.stop = span[1] if span else mark.start
                edges = int(d.get("events") or 0)
                mark.text = f"trial {k}:\nno window:\n" + (f"{edges} of 2 edges" if edges < 2 else f"{edges} edges")
                mark.label.setFormat(mark.text)
                mark.region.setBrush(pg.mkBrush(NO_WINDOW_BRUSH))
            self._trial_row(k, d.get("file"), f"no window: {d.get('events')} timestamp edge(s)", bad=True)
            self._say(f"Trial {k}: the monitor saw {d.get('events')} timestamp edge(s), two are needed.")
            return
        begin = int(d.get("begin", 0))
        start = self.t_first + (begin + int(w["start_sample"])) / self.freq
        stop = self.t_first + (begin + int(w["stop_sample"])) / self.freq
        for m in mine[:-1]:  # extra edges: the procedure takes the last two, as the runner does
            self._drop_mark(m)
        mark = mine[-1] if mine else self._new_mark(k, start, "")
        if not mine:
            self.marks.append(mark)
        mark.start, mark.stop, mark.final = start, stop, True
        mark.text = streaming_label(w) if self.streaming else window_label(k, w)
        mark.label.setFormat(mark.text)
        mark.region.setBrush(pg.mkBrush(WINDOW_BRUSH))
        self._trial_row(k, d.get("file"), None, w)
        self.trial = None
        if self.streaming:
            self._say(f"The streaming window: {w['duration_s']:.3f} s, {w['energy_uj']:.1f} uJ, "
                      f"{w['power_mw']:.4f} mW average.")
            self.verdict.setText("Checking…")
            self.verdict.setStyleSheet(f"color:{STATUS_COLOURS['pending']};")
            self.median.setText(f"Average power: {w['power_mw']:.4f} mW (checks pending)")
            return
        self._say(f"Trial {k}: {w['inferences']} inferences in {w['duration_s']:.3f} s, "
                  f"{w['uj_per_inference']:.3f} uJ/inference.")
        self.window_values[k] = float(w["uj_per_inference"])
        so_far = statistics.median(self.window_values.values())
        self.verdict.setText("Measuring…")
        self.verdict.setStyleSheet(f"color:{STATUS_COLOURS['pending']};")
        self.median.setText(f"Median so far: {so_far:.4f} uJ/inference ({len(self.window_values)} of "
                            f"{self.trials_planned} windows)")
        self.trial = None

    # -- marks ---------------------------------------------------------------------------------------
    def _new_mark(self, trial: int | None, start: float, text: str) -> WindowMark:
        brush = OPEN_WINDOW_BRUSH if trial is not None else CALIBRATION_BRUSH
        region = pg.LinearRegionItem(values=(0, 0), movable=False, brush=pg.mkBrush(brush),
                                     pen=pg.mkPen(qcolor(self.plot.theme.mark), width=1))
        region.setZValue(-10)  # under the trace
        colour = qcolor(self.plot.theme.plot_fg)
        # A busy DUT draws its highest power inside the window, so the label sits below the trace
        # there; calibration windows are named at the bottom, out of the trials' way.
        label = pg.InfLineLabel(region.lines[0], text, position=0.55 if trial is not None else 0.04,
                                anchors=[(0, 0.5), (0, 0.5)] if trial is not None else [(0, 1), (0, 1)],
                                color=colour)
        label.setZValue(20)
        font = QFont(label.textItem.font())
        font.setPointSizeF(font.pointSizeF() * 1.1)
        label.textItem.setFont(font)
        self.plot.vb.addItem(region, ignoreBounds=True)
        mark = WindowMark(trial, start, None, text, region, label)
        self._place(mark)
        return mark

    def _drop_mark(self, mark: WindowMark) -> None:
        self.plot.vb.removeItem(mark.region)
        if mark in self.marks:
            self.marks.remove(mark)

    def _place(self, mark: WindowMark) -> None:
        origin = self.plot.origin
        if origin is None:
            mark.region.hide()
            return
        span = self.plot.store.span() if self.plot.store is not None else None
        stop = mark.stop if mark.stop is not None else (span[1] if span else mark.start)
        mark.region.setRegion((mark.start - origin, max(stop, mark.start) - origin))
        mark.region.show()

    @property
    def windows(self) -> list[WindowMark]:
        """The trials' measured windows on the plot, in trial order."""
        return sorted((m for m in self.marks if m.final), key=lambda m: m.trial)

    # -- page ------------------------------------------------------------------------------------------
    def _trial_row(self, k: int, file: str | None, note: str | None, w: dict | None = None,
                   bad: bool = False) -> None:
        if self.trials.rowCount() <= k:
            self.trials.setRowCount(k + 1)
        cells = {0: str(k)}
        if file:
            cells[1] = file
        if w is not None:
            cells.update({2: str(w["inferences"]),
                          3: f"{w['duration_s']:.3f} ± {w['duration_uncertainty_s']:.3f}",
                          4: f"{w['energy_uj']:.1f}",
                          5: (f"{w['power_mw']:.4f}" if self.streaming else
                              f"{w['uj_per_inference']:.3f} ± {w['uj_per_inference_uncertainty']:.3f}")})
        elif note is not None:
            cells.update({2: str(self.inferences or ""), 3: note, 4: "", 5: ""})
        # A note spans the figures' columns, so it never widens the window column past the table.
        span = 1 if w is not None else len(TRIAL_COLUMNS) - 3
        if self.trials.columnSpan(k, 3) != span:
            self.trials.setSpan(k, 3, 1, span)
        for col, text in cells.items():
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            if bad:
                item.setForeground(QColor(STATUS_COLOURS["fail"]))
            self.trials.setItem(k, col, item)

    def _set_trial_columns(self) -> None:
        self.trials.setHorizontalHeaderLabels(STREAMING_COLUMNS if self.streaming else TRIAL_COLUMNS)
        # One row for the one streaming trial, five otherwise, without scrolling: the checks need the room.
        rows = self.trials.verticalHeader().defaultSectionSize() * (1 if self.streaming else 5)
        self.trials.setFixedHeight(rows + self.trials.horizontalHeader().sizeHint().height()
                                   + 2 * self.trials.frameWidth() + 4)

    def _show_result(self, summary: dict) -> None:
        from station.measurement.verdict import tiny_verdict

        verdict = tiny_verdict(summary["checks"])
        self.verdict.setText(verdict.headline)
        self.verdict.setToolTip(verdict.text)
        self.verdict.setStyleSheet(f"color:{STATUS_COLOURS[verdict.tone]};")
        metric = summary.get("metric") or {}
        value = metric.get("value")
        shown = f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else "—"
        if metric.get("unit") == "mW":
            unit = "mW"
            self.median.setText(f"Average power: {shown} mW")
            self.median.setToolTip("the streaming window's average power, as results.txt prints it (Power : X mW)")
        else:
            unit = "uJ/inference"
            self.median.setText(f"Median: {shown} uJ/inference")
            self.median.setToolTip("the median of the trials' energy per inference, as results.txt prints it")
        failed = [c for c in summary["checks"] if c["status"] == "fail"]
        emulated = " On EMULATED boards: a demonstration, not a measurement of a device." if self.emulated else ""
        if failed:
            self.reason.setText("Why: " + "; ".join(f"{c['name']}: {c['evidence']}" for c in failed) + "." + emulated)
        elif unit == "mW":
            seconds = sum(w["duration_s"] for w in summary.get("windows", []))
            self.reason.setText(f"Every check passed over {seconds:.1f} s of streaming.{emulated}")
        else:
            self.reason.setText(f"Every check passed over {len(summary.get('windows', []))} windows of "
                                f"{summary.get('inferences_per_window')} inferences.{emulated}")
        bundle = summary.get("bundle")
        self.files.setText(
            f"Runner files (results.txt, results.json, log.txt): {summary.get('out')}\n"
            + (f"Station bundle: {bundle}\nstation verify says: {self.verify_line}" if bundle
               else "No station bundle was written."))
        self.files.show()
        fill_checks(self.checks, summary["checks"])
        self.checks.resizeRowsToContents()
        self.checks.show()
        what = "Average power" if unit == "mW" else "Median"
        self._say(f"{verdict.text}. {what} {shown} {unit}; the files are in {summary.get('out')}.")
        if self.verify_line:
            self._say(self.verify_line)

    def _show_problem(self, text: str) -> None:
        self._say(text)
        self.problem.setText(text)
        self.problem.show()

    def _say(self, text: str) -> None:
        self.log_lines.append(text)
        self.log_list.addItem(text)
        self.log_list.scrollToBottom()

    def _reset(self) -> None:
        with self._store_lock:
            self._run_id += 1
            self.store = None
        for mark in list(self.marks):
            self._drop_mark(mark)
        self.plot.set_store(None)
        self.t_first, self.inferences, self.trial, self.trial_edges = None, None, None, 0
        self.window_values = {}
        self.summary, self.failure, self.verify_line = None, None, None
        self.meter = OpenWindowMeter()
        self.files.hide()
        self.files.setText("")
        self.trials.setRowCount(0)
        self.checks.setRowCount(0)
        self.checks.hide()
        for label in (self.verdict, self.median, self.reason):
            label.setText("")
        self.problem.hide()

    def show_setup(self) -> None:
        if not self.running:
            self.pages.setCurrentIndex(PAGE_SETUP)
            self.refresh()

    def open_folder(self) -> None:
        if self.summary is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.summary["out"])))

    @property
    def report_path(self) -> Path | None:
        """The finished run's bundle report (None without one)."""
        bundle = (self.summary or {}).get("bundle")
        report = Path(bundle) / "report.html" if bundle else None
        return report if report is not None and report.is_file() else None

    def open_report(self) -> None:
        if self.report_path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.report_path)))

    def _tick(self) -> None:
        for item in self.inbox.drain():
            run_callback(item)
        if self.pages.currentIndex() == PAGE_RUN and self.isVisible():
            self._frame()

    def _frame(self) -> None:
        store = self.plot.store
        span = store.span() if store is not None else None
        if self.running and span is not None and self.plot.follow:
            self.plot.window_s = max(MIN_VIEW_S, 1.05 * (span[1] - span[0]))
        self.plot.refresh()
        for mark in self.marks:
            self._place(mark)
        if self.streaming and self.running:
            self._show_open_stream()
        self._show_state(span)

    def _show_open_stream(self) -> None:
        """Relabel the open streaming window with its elapsed time and average power so far."""
        mark = next((m for m in self.marks if m.trial is not None and m.stop is None), None)
        reading = self.meter.reading()
        if mark is None or reading is None:
            return
        text = open_streaming_label(reading[0], self.stream_length_s, reading[1])
        if text != mark.text:
            mark.text = text
            mark.label.setFormat(text)

    def _show_state(self, span) -> None:
        measured = f" — {span[1] - span[0]:.0f} s measured" if span else ""
        if self.running:
            reading = self.meter.reading() if self.streaming else None
            if self.streaming and self.trial is not None and reading is not None and self.meter.stop is None:
                elapsed, mean_w = reading
                of = f" of {self.stream_length_s:.0f}" if self.stream_length_s else ""
                power = f", average {mean_w * 1e3:.3f} mW so far" if mean_w is not None else ""
                text = f"● Streaming wakeword: {elapsed:.0f}{of} s of audio played{power}"
            elif self.streaming and self.trial is not None:
                text = f"● Streaming wakeword: starting the DUT and the audio{measured}"
            elif self.trial is not None:
                n = f"{self.inferences} inferences" if self.inferences else "inferences"
                text = f"● Trial {self.trial} ({self.trial + 1} of {self.trials_planned}): {n}{measured}"
            elif self.inferences is None:
                text = f"● Finding the boards and measuring one inference{measured}"
            else:
                text = f"● Between trials{measured}"
            colour = "#1b7f3b"
        elif self.summary is not None:
            windows = "one streaming window" if self.streaming else f"{len(self.windows)} windows"
            text, colour = f"Run finished: {windows} measured{measured}", "#1d232b"
        elif self.failure is not None:
            text, colour = "The run ended without a result", "#c62828"
        else:
            text, colour = "No run yet", "#5b6470"
        self.state.setText(text)
        self.state.setStyleSheet(f"color:{colour};")

    def refresh(self) -> None:
        """The texts and buttons for where the run is (GUI thread)."""
        if self.running and self.streaming:
            page = PAGE_RUN
            self.do_now.setText("The streaming run is on: leave the boards alone until the audio file has played.")
            self.why.setText("The shaded band is the one window between the DUT's start and stop edges; its label "
                             "gives the time so far and the average power, the score (mW).")
        elif self.running:
            page = PAGE_RUN
            self.do_now.setText("The run is on: leave the boards alone until the five trials are done.")
            self.why.setText("Each shaded band is one trial's window between the DUT's two timestamp edges; its "
                             "label gives the energy per inference once the trial ends. N is chosen so every "
                             "window lasts at least 10 s.")
        elif (self.summary is not None or self.failure is not None) and self.pages.currentIndex() == PAGE_RUN:
            page = PAGE_RUN
            self.do_now.setText("The run is finished: read the verdict and the trials, or open the result folder."
                                if self.summary is not None else "The run failed: fix what the red line says, then "
                                "start it again.")
            self.why.setText(("The average power over the streaming window is the score (results.txt)"
                              if self.streaming else "The median over the five trials is the score (results.txt)")
                             + "; the checks are stricter than the reference runners, which only print warnings.")
        else:
            page = self.pages.currentIndex()
            streaming = self.mode.currentData() == MODE_STREAMING
            self.do_now.setText("Choose the mode, the energy monitor, the interface board's port, "
                                + ("the truth file folder" if streaming else "the dataset")
                                + " and the result folder, then start the run.")
            monitor = ("the Joulescope measures the supply it is wired into"
                       if self.monitor.currentData() == MONITOR_JOULESCOPE
                       else "the LPM01A supplies the DUT and measures it")
            self.why.setText("The interface board passes the runner's commands to the DUT at 9600 baud; "
                             + monitor + ", and its timestamp edges bound the windows; "
                             + ("one trial while the board plays the runner's audio file, scored by its average "
                                "power in mW." if streaming else
                                "five trials, one per input file, scored by their median in uJ/inference."))
        if page != self.pages.currentIndex():
            self.pages.setCurrentIndex(page)
        self.emulation_banner.setVisible(self.emulated and page == PAGE_RUN)
        self.pages.widget(PAGE_SETUP).setEnabled(not self.running)
        self.primary.setEnabled(not self.running and not self.closed)
        finished = self.summary is not None or self.failure is not None
        self.primary.setText("Run again" if finished and self.pages.currentIndex() == PAGE_RUN
                             else "Start streaming run" if self.mode.currentData() == MODE_STREAMING
                             else "Start energy run")
        self.setup_button.setEnabled(not self.running and self.pages.currentIndex() == PAGE_RUN)
        self.stop_button.setEnabled(self.running)
        self.open_folder_button.setEnabled(self.summary is not None)
        self.open_report_button.setEnabled(self.report_path is not None)

    def close_run(self) -> None:
        """Stop a run and let the lane's thread end (the boards are closed by the run itself)."""
        self._stop.set()
        self.closed = True
        self.timer.stop()
        self.lane.close(0)


def window_label(trial: int, w: dict) -> str:
    """The plot's label of a measured window: ``trial k: N inferences, E uJ/inf``, on three lines."""
    return f"trial {trial}:\n{w['inferences']} inferences,\n{w['uj_per_inference']:.3f} uJ/inf"


def streaming_label(w: dict) -> str:
    """The plot's label of the measured streaming window: its length and average power."""
    return f"streaming wakeword:\n{w['duration_s']:.1f} s,\n{w['power_mw']:.4f} mW average"


def open_streaming_label(elapsed_s: float, length_s: float | None, mean_w: float | None) -> str:
    """The label of the streaming window while it runs: seconds so far (of the audio's) and the average."""
    of = f" of {length_s:.0f}" if length_s else ""
    power = f"{mean_w * 1e3:.3f} mW so far" if mean_w is not None else "no samples yet"
    return f"streaming wakeword:\n{elapsed_s:.0f}{of} s,\n{power}"


class TinyGuideWindow(QMainWindow):
    """The Tiny energy run in its own window; closing it while a run is on asks first."""

    def __init__(self, out_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"MLPerf Tiny energy run — {out_dir}")
        self.guide = TinyGuideWidget(out_dir)
        self.setCentralWidget(self.guide)
        self.resize(1400, 900)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self.guide.running:
            answer = QMessageBox.question(self, "Stop the energy run?",
                                          "A run is in progress. Closing stops it (nothing half-done is kept).")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.guide.close_run()
        event.accept()


__all__ = ["OpenWindowMeter", "TinyGuideWidget", "TinyGuideWindow", "TinyRunSetup", "WindowMark", "emulated_dataset",
           "open_streaming_label", "streaming_label", "window_label"]
