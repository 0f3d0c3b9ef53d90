"""The MLPerf Tiny energy run, headless: interface board + DUT, an LPM01A in energy mode, five trials.

The sequence is the MLCommons runner's (benchmark/runner; reference/tiny.md): find the DUT behind
the interface board (``name%``, ``setbaud 9600%``, ``dut name%``, ``dut profile%``), set the
monitor to energy mode and start it, then per trial load one input file (``db load N`` and
``db <hex>`` chunks of 26 bytes) and run ``infer N W``. The DUT pulls the timestamp line low just
before and just after its N timed inferences; the monitor reports those edges with the index of
the sample they fell in. A trial's window is the last two edges of that trial, its score the
energy between them divided by N, and the result the median of the five.

Unlike the runner, N is not a placeholder: a calibration ``infer`` measures one inference's time
between the edges and N is chosen so each window lasts at least ``min_window_s`` with a margin.
The result is written in the runner's layout and then judged by the same code that verifies a
published result (:func:`station.tiny.verify.verify_tiny`), so a run is never valid by a looser
standard than a submission.

``clock`` is the host's notion of time for deadlines and the DUT's timing; tests share a faster
clock with the emulated hardware (instruments.fakes.tiny_dut.ScaledClock).

``on_event(kind, detail)`` lets a front end follow the run (the window's live plot): it is called
on the run's threads, must return quickly and must not raise. Kinds: ``dut`` (name, model),
``monitor`` (freq), ``block`` (samples: the monitor's records, the ``w`` field is power; its
events; t_first), ``edge`` (number, sample: a timestamp edge by the monitor's sample index; t),
``inferences`` (n), ``trial_start`` (trial, of, file, begin), ``trial_done`` (trial, file, begin,
events, window: :meth:`TinyWindow.to_dict` with sample indices from ``begin``, or None without
two edges) and ``result`` (the summary). A sample index ``i`` is at ``t_first + i / freq`` in the
records' time, ``t_first`` the first record's ``t``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from instruments.base import AUTO, Config, InstrumentError
from instruments.lpm01a import ENERGY_MODE_INTERVAL_S
from instruments.transports.base import TransportError, TransportTimeout
from station.tiny.published import SINGLE as SINGLE_MODE
from station.tiny.published import STREAMING as STREAMING_MODE
from station.tiny.published import DutRun
from station.tiny.runner_layout import TrialRecord, write_runner_layout
from station.tiny.scoring import measure_window

CHUNK_BYTES = 26  # bytes per 'db' line when an energy monitor is attached (the runner's choice)
TRIALS = 5
MARGIN = 1.2  # windows aim at 20 % above the minimum: inference time varies with the input
CALIBRATION_MIN_S = 0.2  # a calibration window this long measures one inference to 0.5 % (1 ms edges)
SETTLE_S = 1.0  # baseline before the first trial (the EnergyRunner's 'echo head 1000')
TAIL_S = 0.3  # samples kept after the DUT's m-infer-done: its last edge came before that line
INFER_SLACK_S = 15.0  # beyond twice the expected window: a DUT this late has stopped answering
_NAME = re.compile(r"m-name-dut-\[([^\]]+)\]")
_MODEL = re.compile(r"m-model-\[([^\]]+)\]")
_RESULTS = re.compile(r"m-results-\[([^\]]*)\]")


class TinyRunError(Exception):
    """The run cannot go on; the message says what happened and what to do."""


@dataclass
class TinyRunResult:
    out: Path
    dut_name: str
    model: str
    inferences: int
    verification: dict
    trials: list[TrialRecord] = field(default_factory=list)
    emulation: str | None = None  # what was emulated, when the boards were not hardware
    mode: str = SINGLE_MODE
    bundle: Path | None = None  # the station bundle (out/station), when one was exported
    notes: list[str] = field(default_factory=list)  # what the bundle left out, and why

    @property
    def valid(self) -> bool:
        return bool(self.verification["valid"])

    def summary(self) -> dict:
        metric = self.verification.get("metric") or {}
        per_inference = metric.get("unit") == "uJ/inf"
        return {"valid": self.valid, "median_uj_per_inference": metric.get("value") if per_inference else None,
                "average_power_mw": metric.get("value") if metric.get("unit") == "mW" else None, "metric": metric,
                "inferences_per_window": self.inferences, "dut": {"name": self.dut_name, "model": self.model},
                "emulated": self.emulation is not None or self.dut_name.startswith("station-emulated"),
                "emulation": self.emulation, "out": str(self.out), "mode": self.mode,
                "kind": "tiny", "bundle": None if self.bundle is None else str(self.bundle),
                "windows": self.verification.get("windows", []), "checks": self.verification["checks"]}


class InterfaceBoard:
    """The interface board's serial link: ``%``-terminated commands, replies end with ``m-ready``."""

    def __init__(self, transport, clock: Callable[[], float], log: list[str],
                 stop: threading.Event | None = None) -> None:
        self.transport, self.clock, self.log, self.stop = transport, clock, log, stop

    def _lines_until(self, done: Callable[[str], bool], timeout_s: float, what: str) -> list[str]:
        deadline = self.clock() + timeout_s
        lines: list[str] = []
        while True:
            if self.stop is not None and self.stop.is_set():
                raise TinyRunError(f"the run was stopped during {what}; nothing of it is kept")
            if self.clock() > deadline:
                raise TinyRunError(f"no answer to {what} within {timeout_s:g} s: the board or the DUT stopped "
                                   "answering; check the cables and power, then run again")
            try:
                line = self.transport.read_line(0.1).strip()
            except TransportTimeout:
                continue
            except TransportError as exc:
                raise TinyRunError(f"the interface board's port failed during {what}: {exc}") from None
            self.log.append(f"RX:{line}")
            lines.append(line)
            if done(line):
                return lines

    def command(self, cmd: str, timeout_s: float = 5.0) -> list[str]:
        """A command for the interface board itself."""
        self.log.append(f"{cmd}%")
        self.transport.write(cmd)
        return self._lines_until(lambda line: line == "m-ready", timeout_s, repr(cmd))

    def dut(self, cmd: str, timeout_s: float = 5.0, on_line: Callable[[str], None] | None = None) -> list[str]:
        """A DUT command through the board: its own ``m-ready`` first, then the DUT's lines until the
        DUT's ``m-ready``. An answer to an earlier command (a stale ``m-ready``) is skipped."""
        self.log.append(f"dut {cmd}%")
        self.transport.write(f"dut {cmd}")
        self._lines_until(lambda line: line == f"m-dut-passthrough({cmd})", timeout_s, f"'dut {cmd}'")
        self._lines_until(lambda line: line == "m-ready", timeout_s, f"'dut {cmd}'")
        out: list[str] = []

        def done(line: str) -> bool:
            if not line.startswith("[dut]: "):
                return False
            text = line[len("[dut]: "):]
            out.append(text)
            if on_line:
                on_line(text)
            return text == "m-ready"
        self._lines_until(done, timeout_s, f"'dut {cmd}'")
        return out


class EnergyRecorder:
    """Reads the monitor's blocks in a thread: energy per sample (J) by board sample index, and the
    timestamp edges ``(event number, sample index)``. Samples that never arrived stay NaN."""

    def __init__(self, driver, freq: float, on_event: Callable[[str, dict], None] | None = None,
                 on_block: Callable[[np.ndarray], None] | None = None) -> None:
        self.driver, self.freq, self.on_event, self.on_block = driver, freq, on_event, on_block
        self.energy = np.full(1 << 16, math.nan)
        self.count = 0  # board samples accounted for (received or known lost)
        self.events: list[tuple[int, int]] = []
        self.missing = 0
        self.error: Exception | None = None
        self._t_first: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tiny-energy-recorder")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                block = self.driver.read_block(timeout=0.2)
                if block is not None:
                    self._add(block)
        except Exception as exc:  # the run reports it; a silent recorder would make a result without data
            self.error = exc

    @property
    def t_first(self) -> float | None:
        """Time of sample 0 on the monitor's time base (None before the first sample)."""
        return self._t_first

    def _add(self, block) -> None:
        s = block.samples
        if self.on_block is not None:
            self.on_block(s)
        with self._lock:
            if len(s):
                if self._t_first is None:
                    self._t_first = float(s["t"][0])
                k = np.rint((s["t"] - self._t_first) * self.freq).astype(np.int64)
                end = int(k[-1]) + 1
                if end > len(self.energy):
                    grown = np.full(max(end, 2 * len(self.energy)), math.nan)
                    grown[:len(self.energy)] = self.energy
                    self.energy = grown
                self.energy[k] = s["w"] / self.freq
                self.count = max(self.count, end)
            edges = []
            for e in block.events:
                if e.kind == "gpio" and "sample" in e.detail:
                    edges.append((int(e.detail["number"]), int(e.detail["sample"])))
                elif e.kind == "gap":
                    self.missing += int(e.detail.get("missing_samples", 0))
            self.events.extend(edges)
            t_first = self._t_first
        if self.on_event is not None:  # outside the lock: the run's waits are not held up by a viewer
            self.on_event("block", {"samples": s, "events": list(block.events), "t_first": t_first})
            for number, sample in edges:
                self.on_event("edge", {"number": number, "sample": sample,
                                       "t": None if t_first is None else t_first + sample / self.freq})

    def snapshot(self, begin: int, end: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
        with self._lock:
            return (self.energy[begin:end].copy(),
                    [(n, i - begin) for n, i in self.events if begin <= i < end])

    def wait(self, ready: Callable[[], bool], timeout_s: float, clock: Callable[[], float]) -> bool:
        deadline = clock() + timeout_s
        while clock() < deadline:
            if self.error is not None:
                raise TinyRunError(f"the energy monitor failed: {self.error}")
            with self._lock:
                if ready():
                    return True
            time.sleep(0.01)
        return False


def choose_inferences(window_s: float, calibration_n: int, min_window_s: float) -> int:
    """N so that N inferences last ``MARGIN x min_window_s``, from a calibration window of ``calibration_n``."""
    per = window_s / calibration_n
    return max(1, math.ceil(MARGIN * min_window_s / per))


def run_energy(*, monitor, interface, dataset: list[Path], out: Path, dut_baud: int = 9600,
               min_window_s: float = 10.0, inferences: int | None = None, warmups: int = 1,
               clock: Callable[[], float] = time.monotonic, progress: Callable[[str], None] | None = None,
               on_event: Callable[[str, dict], None] | None = None, stop: threading.Event | None = None,
               emulation: str | None = None, streaming: bool = False, operator: str = "", sut: str = "",
               bundle: bool = True) -> TinyRunResult:
    """Run the energy procedure on an opened-or-not LPM01A driver ``monitor`` and the interface
    board's transport ``interface``; write the runner's layout into ``out``, verify it, and (with
    ``bundle``) export the station bundle to ``out/station`` from the session kept in ``out/session``.

    ``streaming``: the streaming-wakeword procedure instead (one trial as long as the wav file the
    interface board plays, scored as average power; ``dataset`` holds the truth file, :func:`read_truth`). ``emulation``: a
    sentence saying the boards are emulated; it heads the log and results.txt and goes into the bundle.
    ``on_event`` follows the run (see the module's doc); setting ``stop`` ends it with TinyRunError
    at the next line from the board.
    """
    from station.tiny.bundle import SESSION_DIR, TinySession
    from station.tiny.verify import verify_tiny

    say = progress or (lambda text: None)
    tell = on_event or (lambda kind, detail: None)
    log: list[str] = ([emulation] if emulation else []) + [
        "station tiny: MLPerf Tiny " + ("streaming wakeword" if streaming else "energy") +
        " run (MLCommons runner procedure)"]
    files = sorted(Path(p) for p in dataset)
    if not files:
        raise TinyRunError("the dataset holds no input files; give the directory of the model's inputs")
    truth = read_truth(files) if streaming else None
    record = TinySession(Path(out) / SESSION_DIR, operator=operator, sut=sut, emulation=emulation, settings={
        "mode": STREAMING_MODE if streaming else SINGLE_MODE, "dut_baud": dut_baud, "min_window_s": min_window_s,
        "inferences": inferences, "warmups": warmups, "inputs": [p.name for p in files],
        "truth": truth}) if bundle else None
    interface.open()
    board = InterfaceBoard(interface, clock, log, stop)
    recorder = None
    try:
        board.command("name")
        board.command(f"setbaud {dut_baud}")
        name_lines = board.dut("name")
        m = next((m for line in name_lines if (m := _NAME.search(line))), None)
        if m is None:
            raise TinyRunError(f"the DUT did not say its name at {dut_baud} baud (got {name_lines!r}); is its "
                               "firmware built for energy mode (EE_CFG_ENERGY_MODE 1, 9600 baud)?")
        dut_name = m.group(1)
        model = next((m.group(1) for line in board.dut("profile") if (m := _MODEL.search(line))), "")
        log.append(f"Device name retrieved: {dut_name}")
        log.append(f"Device model retrieved: {model}")
        say(f"DUT {dut_name}, model {model or '?'}")
        tell("dut", {"name": dut_name, "model": model})
        if streaming and model and "ww" not in model:
            raise TinyRunError(f"the DUT runs {model}, not the streaming wakeword model (sww01): flash the "
                               "streaming wakeword firmware or leave out --mode streaming")
        if record is not None:
            record.sut = record.sut or (f"EMULATED {dut_name}" if emulation else dut_name)
            record.event("boards", dut=dut_name, model=model, dut_baud=dut_baud)
        try:
            monitor.open()
            identity = monitor.identify()
            monitor.configure(Config(update_interval_s=ENERGY_MODE_INTERVAL_S))
            monitor.set_ranges(AUTO, AUTO)
            freq = float(monitor.freq)
            monitor.start()
        except InstrumentError as exc:
            raise TinyRunError(f"the energy monitor did not take its energy-mode settings: {exc}. Nothing was "
                               "measured; check its port and firmware (1.0.6 or later), unplug it and plug it "
                               "in again, then run again") from None
        log.append(f"monitor: {identity.vendor} {identity.model} serial {identity.serial} firmware "
                   f"{identity.firmware}; energy mode at {freq:g} Hz")
        if record is not None:
            record.instrument_info.update(identity=_as_dict(identity), settings=monitor.settings_snapshot())
            record.event("monitor", identity=_as_dict(identity), settings=monitor.settings_snapshot())
        started = clock()
        recorder = EnergyRecorder(monitor, freq, on_event, on_block=(
            (lambda s: record.add_block(s, 1.0 / freq)) if record is not None else None))
        tell("monitor", {"freq": freq})
        recorder.start()
        recorder.wait(lambda: recorder.count >= SETTLE_S * freq, 5 * SETTLE_S + 5, clock)

        def sample_now() -> int:
            """The monitor's sample index for this moment (it samples on the same time base)."""
            return int((clock() - started) * freq)

        def collect(begin: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
            """The samples and edges since ``begin``, up to TAIL_S after now: the DUT has finished, so
            its last edge is in there once the monitor's data (sent once a second) has arrived."""
            end = sample_now() + int(TAIL_S * freq)
            if not recorder.wait(lambda: recorder.count >= end, 5.0, clock):
                log.append(f"the monitor's data stopped at sample {recorder.count}, {end} expected")
            return recorder.snapshot(begin, end)

        trials: list[TrialRecord] = []
        dut_runs: list[DutRun] = []
        begins: list[int] = []
        if streaming:
            n = 1
            tell("inferences", {"n": n})
            begin = sample_now()
            tell("trial_start", {"trial": 0, "of": 1, "file": truth["wav_file"], "begin": begin})
            trial, run = _stream(board, truth, clock, say, log)
            samples, events = collect(begin)
            trial.samples_j, trial.events = samples.tolist(), events
            trial.voltage = float(getattr(monitor, "voltage", 0.0)) or None
            trials.append(trial)
            dut_runs.append(run)
            begins.append(begin)
            if record is not None:
                record.event("trial", trial=0, file=trial.file, events=len(events), detections=len(trial.detections))
            tell("trial_done", {"trial": 0, "file": trial.file, "begin": begin, "events": len(events),
                                "window": _window_dict(samples, events, n, freq, 0)})
        else:
            n = inferences
            per_inference_s: float | None = None
            if n is None:
                n_cal = 10
                while True:
                    begin = sample_now()
                    board.dut(f"infer {n_cal} 0", timeout_s=120.0)
                    _, events = collect(begin)
                    if len(events) < 2:
                        raise TinyRunError("the calibration run raised no timestamp edges on the monitor: is the "
                                           "DUT's timestamp pin wired to the LPM01A's D7?")
                    width = (events[-1][1] - events[-2][1]) / freq
                    if width >= CALIBRATION_MIN_S or n_cal >= 10**7:
                        break
                    n_cal *= 10
                n = choose_inferences(width, n_cal, min_window_s)
                per_inference_s = width / n_cal
                log.append(f"calibration: {n_cal} inferences in {width:.3f} s; N = {n}")
                if record is not None:
                    record.event("calibration", inferences=n_cal, window_s=width, chosen_inferences=n)
            say(f"{n} inferences per window")
            tell("inferences", {"n": n})
            for k, path in enumerate(files[:TRIALS]):
                data = path.read_bytes()
                say(f"trial {k + 1}/{min(TRIALS, len(files))}: {path.name}")
                begin = sample_now()
                tell("trial_start", {"trial": k, "of": min(TRIALS, len(files)), "file": path.name, "begin": begin})
                board.dut(f"db load {len(data)}")
                for i in range(0, len(data), CHUNK_BYTES):
                    board.dut(f"db {data[i:i + CHUNK_BYTES].hex()}")
                run = DutRun(n)

                def seen(text: str, run: DutRun = run) -> None:
                    if text.startswith("m-infer-start"):
                        run.host_start_s = clock()
                    elif text == "m-infer-done" and run.host_start_s is not None:
                        run.host_span_s = clock() - run.host_start_s
                expected_s = (n + warmups) * per_inference_s if per_inference_s else MARGIN * min_window_s + 45.0
                lines = board.dut(f"infer {n} {warmups}", timeout_s=2 * expected_s + INFER_SLACK_S, on_line=seen)
                samples, events = collect(begin)
                scores = next((m.group(1) for line in lines if (m := _RESULTS.search(line))), "")
                trials.append(TrialRecord(path.name, n, warmups, samples.tolist(), events,
                                          [float(x) for x in scores.split(",") if x.strip()],
                                          float(getattr(monitor, "voltage", 0.0)) or None))
                dut_runs.append(run)
                begins.append(begin)
                if record is not None:
                    record.event("trial", trial=k, file=path.name, inferences=n, events=len(events),
                                 host_span_s=run.host_span_s)
                tell("trial_done", {"trial": k, "file": path.name, "begin": begin, "events": len(events),
                                    "window": _window_dict(samples, events, n, freq, k)})
    except BaseException as exc:
        if record is not None:
            record.abandon(str(exc) or type(exc).__name__)
        raise
    finally:
        if recorder is not None:
            recorder.stop()
        for closing in (monitor.close, interface.close):
            try:
                closing()
            except Exception:  # closing a port that is gone must not hide what went wrong
                pass
    windows = [measure_window(np.asarray(t.samples_j), t.events[-2][1], t.events[-1][1], n, 1.0 / freq, k)
               for k, t in enumerate(trials) if len(t.events) >= 2]
    t_first = recorder.t_first or 0.0
    windows_utc = [(t_first + (b + t.events[-2][1]) / freq, t_first + (b + t.events[-1][1]) / freq)
                   for t, b in zip(trials, begins, strict=True) if len(t.events) >= 2]
    extra = accuracy_lines(trials[0], truth) if streaming and trials else []
    write_runner_layout(out, trials, windows, log, streaming=streaming, note=emulation, extra=extra)
    verification = verify_tiny(out, dut_runs=dut_runs)
    result = TinyRunResult(Path(out), dut_name, model, n, verification, trials, emulation,
                           STREAMING_MODE if streaming else SINGLE_MODE)
    if record is not None:
        exported, notes = record.finish(out, verification, dut_runs, windows_utc, result.summary())
        result.bundle, result.notes = exported.directory, notes
    tell("result", result.summary())
    return result


def _window_dict(samples: np.ndarray, events: list[tuple[int, int]], n: int, freq: float, trial: int) -> dict | None:
    """A trial's window for ``on_event`` (sample indices from the trial's begin), None without two edges."""
    if len(events) < 2:
        return None
    return measure_window(samples, events[-2][1], events[-1][1], n, 1.0 / freq, trial).to_dict()


def _as_dict(identity) -> dict:
    """The identity as the bundle's report reads it."""
    if identity is None:
        return {}
    return {"manufacturer": identity.vendor, "model": identity.model, "serial": identity.serial,
            "firmware": identity.firmware}


def read_truth(files: list[Path]) -> dict:
    """The streaming-wakeword truth: the runner's ``sww_*_test.json`` (a list of ``{wav_file,
    length_sec, detection_windows: [[start_s, stop_s], ...]}``), its first entry."""
    found = [p for p in files if p.suffix.lower() == ".json"]
    if not found:
        raise TinyRunError("the dataset holds no truth file (the runner's sww_long_test.json: the wav file on the "
                           "interface board's SD card, its length and its detection windows)")
    try:
        entries = json.loads(found[0].read_text(encoding="utf-8"))
        entry = entries[0] if isinstance(entries, list) else entries
        truth = {"wav_file": str(entry["wav_file"]), "length_sec": float(entry["length_sec"]),
                 "detection_windows": [[float(a), float(b)] for a, b in entry["detection_windows"]]}
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise TinyRunError(f"{found[0]}: not a streaming-wakeword truth file ({type(exc).__name__}: {exc})") from None
    return truth


_DETECTION = re.compile(r"^(\d+),?$")


def _stream(board: InterfaceBoard, truth: dict, clock: Callable[[], float], say: Callable[[str], None],
            log: list[str]) -> tuple[TrialRecord, DutRun]:
    """One streaming-wakeword trial (the runner's ``stream`` step): the DUT starts detecting (a
    timestamp edge), the interface board plays the wav file and records the DUT's detections, the
    DUT stops (the second edge)."""
    wav, length = truth["wav_file"], truth["length_sec"]
    board.dut("stop", timeout_s=10.0)  # in case it was left detecting
    run = DutRun(1)
    run.host_start_s = clock()
    board.dut("start", timeout_s=10.0)
    board.command("record_detections")
    say(f"playing {wav} ({length:g} s)")
    log.append(f"Playing {wav} (length = {length}s)")
    board.command(f"play {wav}", timeout_s=length + 10.0)
    board.dut("stop", timeout_s=10.0)
    run.host_span_s = clock() - run.host_start_s
    lines = board.command("print_detections", timeout_s=10.0)
    detections = [int(m.group(1)) for line in lines if (m := _DETECTION.match(line))]
    log.append(f"Detection Timestamps (ms): {detections}")
    trial = TrialRecord(wav, 1, 0, [], [], detections=detections, truth=truth)
    return trial, run


def detection_counts(detections_ms: list[int], windows: list[list[float]], suppress_s: float = 1.0,
                     debounce_s: float = 1.0) -> tuple[int, int, int]:
    """(true positives, false negatives, false positives) as the runner counts them: the first
    detection marks the start; a window is found when a detection falls in it (up to ``suppress_s``
    after its end); other detections are false positives, those within ``debounce_s`` of one counted once."""
    if not detections_ms:
        return 0, len(windows), 0
    times = [(d - detections_ms[0]) / 1000.0 for d in detections_ms[1:]]
    used: set[int] = set()
    found = 0
    for a, b in windows:
        hits = [i for i, x in enumerate(times) if i not in used and a <= x <= b + suppress_s]
        if hits:
            found += 1
            used.update(hits)
    false_pos, last = 0, -math.inf
    for x in sorted(x for i, x in enumerate(times) if i not in used):
        if x > last + debounce_s:
            false_pos += 1
            last = x
    return found, len(windows) - found, false_pos


def accuracy_lines(trial: TrialRecord, truth: dict | None) -> list[str]:
    """The runner's accuracy lines of a streaming-wakeword results.txt."""
    if truth is None:
        return []
    tp, fn, fp = detection_counts(trial.detections, truth["detection_windows"])
    return [f"== File {truth['wav_file']} ({truth['length_sec']:2.1f} s) ==",
            f"Accuracy: {tp} True positives, {fn} False negatives, {fp} False positives"]
