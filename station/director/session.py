"""One director session: ranging and testing on the analyzer, and the files they leave.

Directory of a session (``<out>/<session id>/``)::

    director.json          state of the session (initial, ranging, ranging_done, testing,
                           testing_done, complete, failed, abandoned, interrupted) and why,
                           the ranges chosen, per-phase figures, the instrument (with its
                           calibration_due); rewritten at every change
    audit.jsonl            every event of the session, hash-chained and on disk as it happens
                           (station.measurement.audit): session_start, phase_start, ranges_set,
                           phase_end, session_failed, session_end, and each phase's own
                           events (overrange, gap, ...) with "source": the phase
    power/ptd_logs_analyzer_<i>.txt   analyzer i's log in PTDaemon's format, written as things happen
    power/ptd_logs.txt     for each analyzer "Analyzer <i>" then its log (when the session ends)
    power/server.log       the director's log of the connection (at done / when it ends)
    power/server.json      the director's summary (at done / when it ends); ptd_config has one
                           entry per analyzer, ptd_messages analyzer 1's then analyzer 2's ...
    ranging/spl_analyzer_<i>.csv, run_1/spl_analyzer_<i>.txt   each analyzer's 1 s samples
    ranging/spl.txt        1 s samples of the ranging phase (mark <id>_ranging): analyzer 1's
    run_1/spl.txt          (testing, mark <id>_testing) or, with several, the merged lines
    run_1/ptd_out.txt      Watts and Uncertainty of the testing phase, "Analyzer <i>:" each
    journal/ranging/       full-resolution journal of each phase (station.core.recording;
    journal/testing/       ``station recover`` restores it after a crash); with several
                           analyzers journal/<phase>_analyzer_<i>/

This is the layout power-dev's server writes since its multi-analyzer change (2024-11): the
per-analyzer files, the merged ``spl.txt`` (lines paired by position, the sum of the analyzers'
watts, see :func:`station.mlperf.ptd_files.merge_spl`) and the joined ``ptd_logs.txt``, so
today's official checker and the submission checker read a session of one or several analyzers.
With several analyzers every step (ranges, Go, Stop, the replies) is done on each in turn, and
each gets testing ranges from its own ranging maxima.

Ranges follow the official server: auto for ranging; for testing the ranges come from the
measurement service's one proposal (:func:`station.measurement.ranges.propose_ranges`, the same
as ``station measure``'s): the voltage range holding the highest voltage seen while ranging and
the current range holding ``current_headroom`` (1.1 in the MLPerf Inference rules) x the highest
current, each rounded up to a range the analyzer has. The maxima come from the valid
full-resolution readings, so they are never below the 1 s values PTDaemon would have used; with
several elements, the highest element reading counts (ranges apply per element). After testing
(or when the session ends) the ranges in force before the session are restored.

The analyzer is driven through :class:`station.core.acquisition.InstrumentSession`: its worker
runs only during a phase, and ranges change only while it is stopped. ``server.json`` holds the
analyzer actions in PTDaemon's command vocabulary (``ptd_messages``: Hello, Identify, RR, SR, Go,
Stop, Watts, Uncertainty) although no PTDaemon is involved: the station talks to the analyzer
through its own driver. Such a result therefore does not pass the official compliance checker's
source-checksum and PTDaemon-version checks, by design: it is the station's own measurement.
With several analyzers today's checker also fails its PTD-messages check on the third ``Stop``
(analyzer 2's first), as it does for power-dev's own multi-analyzer sessions.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import station
from instruments.base import AUTO, InstrumentError, RangeValue
from station.core.acquisition import InstrumentSession, describe
from station.core.journal import write_json_atomic
from station.core.run_index import RunIndex
from station.measurement.audit import AUDIT_FILE, AuditError, AuditLog
from station.measurement.calibration import calibration_due
from station.measurement.ranges import RangingMaxima, propose_ranges
from station.measurement.run import MeasuredRun
from station.mlperf import ptd_files

log = logging.getLogger("station.director")

PHASE_DIR = {"ranging": "ranging", "testing": "run_1"}


class DirectorError(Exception):
    """A command cannot be carried out; the client gets ``Error: <message>``."""


def ptd_model_name(vendor: str, model: str) -> str:
    """The analyzer's name the way PTDaemon spells it (``YokogawaWT310E``)."""
    v = "".join(c for c in vendor.title() if c.isalnum())
    m = "".join(c for c in model if c.isalnum() or c in "-_")
    return f"{v}{m}" or "analyzer"


@dataclass
class Analyzer:
    """The instrument the director serves, shared by the sessions one after another."""

    inst: InstrumentSession
    resource: str | None = None
    suspect: bool = False  # lost during a phase: open it again before the next one

    @property
    def model(self) -> str:
        ident = self.inst.identity
        return ptd_model_name(ident.vendor, ident.model) if ident else self.inst.driver.description.name

    def ready(self) -> None:
        """Make sure the analyzer is open and answering (opens it again after a loss)."""
        inst = self.inst
        if self.suspect or inst.state in ("idle", "failed", "reconnecting"):
            try:
                inst.driver.close()
            except Exception:
                pass
            try:
                inst.connect()
            except (InstrumentError, OSError) as exc:
                self.suspect = True
                raise DirectorError(f"cannot reach the analyzer: {describe(exc)}") from exc
            inst.error = None
            self.suspect = False

    def set_ranges(self, voltage: RangeValue, current: RangeValue) -> None:
        """Change ranges while the worker is stopped (a driver has one user at a time)."""
        inst = self.inst
        inst.driver.set_ranges(voltage, current)
        inst.voltage_range, inst.current_range = voltage, current
        inst.ranges = inst.driver.ranges()


@dataclass
class PhaseResult:
    seconds: np.ndarray
    maxima: RangingMaxima
    lost: str | None
    summary: dict = field(default_factory=dict)

    @property
    def max_volts(self) -> float:
        return self.maxima.volts

    @property
    def max_amps(self) -> float:
        return self.maxima.amps


class Phase:
    """One measurement (ranging or testing): journal, 1 s samples, analyzer log lines."""

    def __init__(self, name: str, mark: str, analyzer: Analyzer, journal_dir: Path, ptd_log: ptd_files.PtdLog,
                 ranges: tuple[float, float] | None, settings: dict) -> None:
        self.name = name
        self.mark = mark
        self.analyzer = analyzer
        self.ptd_log = ptd_log
        self.ranges = ranges
        self.agg = ptd_files.SecondAggregator()
        self._seconds: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.maxima = RangingMaxima()
        self.lost: str | None = None
        self._end_t: float | None = None
        inst = analyzer.inst
        # The service's run: the director starts the analyzer before the phase (to settle) and
        # stops it before the phase ends, so the run only adds the journal and its bookkeeping.
        self.run = MeasuredRun(journal_dir, [inst], settings=settings, index=RunIndex())
        self.recording = self.run.recording
        self.run.listeners.append(self._event)

    def begin(self) -> None:
        self.run.start()
        self.analyzer.inst.add_sink(self._sink)

    def _sink(self, records: np.ndarray) -> None:
        self.maxima.add(records)
        with self._lock:
            self._end_t = float(records["t"][-1]) + self.analyzer.inst.interval_s
            self._take(self.agg.add(records))

    def _take(self, seconds: np.ndarray) -> None:
        if len(seconds):
            self._seconds.append(seconds)
            cf = float(self.analyzer.inst.config.crest_factor)
            self.ptd_log.lines(ptd_files.sample_log_lines(seconds, self.analyzer.model, self.ranges, cf))

    def _event(self, kind: str, t: float | None = None, **detail: Any) -> None:
        msg = detail.get("message", "")
        if kind == "disconnected":
            self.lost = msg or "connection lost"
            self.ptd_log.line(f"ERROR: Lost connection to {self.analyzer.model}: {self.lost}", t)
            log.error("Analyzer lost during %s: %s", self.name, self.lost)
        elif kind == "reconnected":
            self.lost = None
            self.ptd_log.line(f"Reconnected to {self.analyzer.model}; the samples in between are missing", t)
            log.warning("Analyzer back during %s; the samples in between are missing", self.name)
        elif kind == "error":
            self.lost = msg or "acquisition failed"
            self.ptd_log.line(f"ERROR: {self.lost}", t)
            log.error("Acquisition failed during %s: %s", self.name, self.lost)
        elif kind == "clock_jump":
            # Samples keep the phase's time base; the client's LoadGen times and this log's times
            # after the step do not: say so where the compliance reviewer reads.
            self.ptd_log.line(f"WARNING: {msg}", t)
            log.warning("Clock jump during %s: %s", self.name, msg)
        elif kind == "gap" and "missing_samples" in detail:
            self.ptd_log.line(f"ERROR: {detail['missing_samples']} samples missing from the analyzer "
                              f"({float(detail.get('length_s', 0.0)):.3f} s without data)", t)

    def end(self, state: str) -> PhaseResult:
        """Detach (the worker must be stopped first), close the journal, return the 1 s samples."""
        inst = self.analyzer.inst
        inst.remove_sink(self._sink)
        with self._lock:
            self._take(self.agg.finish(self._end_t))
            parts = self._seconds
        if inst.state in ("failed", "reconnecting") and self.lost is None:
            self.lost = inst.error or "the analyzer stopped answering"
        summary = self.run.finish(state if self.lost is None else "failed")
        seconds = np.concatenate(parts) if parts else np.zeros(0, ptd_files.second_dtype(1))
        return PhaseResult(seconds, self.maxima, self.lost, summary)


def _range_text(kind: str, value: RangeValue) -> str:
    return f"{kind} range set to Auto" if value == AUTO else f"{kind} range set to {float(value):.6f}{kind[0]}"


@dataclass
class Meter:
    """One analyzer of a session, numbered from 1 as power-dev numbers them: its own log, its
    PTDaemon-vocabulary messages, its ranges and maxima, and its phase in progress."""

    n: int
    analyzer: Analyzer
    ptd_log: ptd_files.PtdLog
    ptd_messages: list[dict[str, str]] = field(default_factory=list)
    initial_ranges: tuple[RangeValue, RangeValue] | None = None
    max_volts: float | None = None
    max_amps: float | None = None
    ranging_maxima: RangingMaxima | None = None
    testing_ranges: tuple[float, float] | None = None
    current: Phase | None = None

    def ptd(self, cmd: str, reply: str) -> None:
        self.ptd_messages.append({"cmd": cmd, "reply": reply})


class DirectorSession:
    """Ranging then testing for one client session on one or several analyzers; every file
    under ``directory``."""

    def __init__(self, session_id: str, directory: Path, analyzer: Analyzer | Sequence[Analyzer], *, label: str,
                 client_uuid: str, server_uuid: str, client: str, settle_s: float,
                 stop: threading.Event, headroom: float | None = None) -> None:
        self.id = session_id
        if headroom is None:
            from station import rules

            headroom = rules.load("mlperf-inference").get("current_headroom")
        self.headroom = float(headroom)
        self.dir = directory
        self.analyzers = [analyzer] if isinstance(analyzer, Analyzer) else list(analyzer)
        if not self.analyzers:
            raise ValueError("a director session needs at least one analyzer")
        self.analyzer = self.analyzers[0]
        self.label = label
        self.client_uuid = client_uuid
        self.server_uuid = server_uuid
        self.client = client
        self.settle_s = settle_s
        self._stop = stop
        self.state = "initial"
        self.reason: str | None = None
        self.phases: dict[str, list[list[float]]] = {"ranging": [], "testing": []}
        self.created = time.time()
        self.requested: tuple[str, str] | None = None  # SR,V / SR,A values asked for testing
        self.figures: dict[str, dict] = {}
        self._finished = False
        self._audit_closed = False
        (directory / "power").mkdir(parents=True, exist_ok=False)
        self.calibration_due = [calibration_due(a.inst.identity.serial if a.inst.identity else None)
                                for a in self.analyzers]
        self.audit = AuditLog(directory / AUDIT_FILE)
        self.audit.append("session_start", label=label, client=client,
                          uuid={"client": client_uuid, "server": server_uuid},
                          station_version=station.__version__, instrument=self._instrument(),
                          **({"instruments": self._instruments()} if len(self.analyzers) > 1 else {}))
        self.meters = [self._meter(i, a) for i, a in enumerate(self.analyzers, start=1)]
        self.save_state()

    def _meter(self, n: int, analyzer: Analyzer) -> Meter:
        # Each analyzer's log is written as it happens to power/ptd_logs_analyzer_<n>.txt;
        # power/ptd_logs.txt joins them when the session ends, as power-dev does since 2024-11.
        banner = [
            f"station director {station.__version__}: analyzer driver '{analyzer.inst.driver.description.name}'"
            + (f" at {analyzer.resource}" if analyzer.resource else ""),
            f"Redirecting data output to {self.dir / 'journal'}",
        ]
        log_ = ptd_files.PtdLog(ptd_files.analyzer_log_path(self.dir / "power", n), analyzer=n, banner=banner,
                                header=False)
        ident = analyzer.inst.identity
        if ident is not None:
            log_.line(f"Analyzer identity response of {len(ident.raw)} bytes: {ident.raw}")
        if analyzer.inst.driver.description.accuracy is not None:
            log_.line(f"Uncertainty checking for {analyzer.model} is activated")
        else:
            log_.line(f"Uncertainty checking for {analyzer.model} is not available (no accuracy model)")
        log_.line(f"Connected to {analyzer.model} successfully")
        return Meter(n, analyzer, log_)

    # analyzer 1's figures, under the names a one-analyzer session has always had
    @property
    def ptd_log(self) -> ptd_files.PtdLog:
        return self.meters[0].ptd_log

    @property
    def current(self) -> Phase | None:
        return self.meters[0].current

    @property
    def initial_ranges(self) -> tuple[RangeValue, RangeValue] | None:
        return self.meters[0].initial_ranges

    @property
    def max_volts(self) -> float | None:
        return self.meters[0].max_volts

    @property
    def max_amps(self) -> float | None:
        return self.meters[0].max_amps

    @property
    def testing_ranges(self) -> tuple[float, float] | None:
        return self.meters[0].testing_ranges

    @property
    def ptd_messages(self) -> list[dict[str, str]]:
        """Every analyzer's PTDaemon messages, analyzer 1's first (power-dev appends them so)."""
        return [m for meter in self.meters for m in meter.ptd_messages]

    # -- bookkeeping -------------------------------------------------------------------------------
    def phase_mark(self, mode: str, n: int) -> None:
        lst = self.phases[mode]
        pair = [time.time(), time.monotonic()]
        if len(lst) == n:
            lst.append(pair)
        elif len(lst) > n:
            lst[n] = pair

    def save_state(self) -> None:
        meters = getattr(self, "meters", [])
        state = {
            "session_id": self.id,
            "label": self.label,
            "state": self.state,
            "reason": self.reason,
            "client": self.client,
            "uuid": {"client": self.client_uuid, "server": self.server_uuid},
            "created": self.created,
            "updated": time.time(),
            "station_version": station.__version__,
            "instrument": self._instrument(),
            "initial_ranges": list(self.initial_ranges) if meters and self.initial_ranges else None,
            "ranging_max": {"volts": self.max_volts if meters else None, "amps": self.max_amps if meters else None},
            "testing_request": list(self.requested) if self.requested else None,
            "testing_ranges": list(self.testing_ranges) if meters and self.testing_ranges else None,
            "phases": self.figures,
        }
        if len(self.analyzers) > 1:
            state["instruments"] = [{
                **inst,
                "initial_ranges": list(m.initial_ranges) if m.initial_ranges else None,
                "ranging_max": {"volts": m.max_volts, "amps": m.max_amps},
                "testing_ranges": list(m.testing_ranges) if m.testing_ranges else None,
            } for inst, m in zip(self._instruments(), meters, strict=False)]
        write_json_atomic(self.dir / "director.json", state)

    def _instrument(self, i: int = 0) -> dict:
        analyzer = self.analyzers[i]
        inst = analyzer.inst
        return {
            "driver": inst.driver.description.name,
            "resource": analyzer.resource,
            "identity": inst.identity.to_dict() if inst.identity else None,
            "calibration_due": self.calibration_due[i],
        }

    def _instruments(self) -> list[dict]:
        return [{"analyzer": i + 1, **self._instrument(i)} for i in range(len(self.analyzers))]

    def _audit(self, kind: str, /, **detail: Any) -> None:
        if self._audit_closed:  # closed by finish(): the session's record is complete
            return
        try:
            self.audit.append(kind, **detail)
        except AuditError as exc:  # the client's session goes on; the log says what is missing
            log.error("Session %s: %s", self.id, exc)

    def _phase_listener(self, mode: str, n: int):
        """Puts the phase's recording events (overrange, gaps, ...) into the session's audit log."""
        several = len(self.meters) > 1

        def listener(kind: str, t: float | None = None, **detail: Any) -> None:
            self._audit(kind, t=t, source=mode, **({"analyzer": n} if several else {}), **detail)

        return listener

    def _wait_settle(self) -> None:
        if self._stop.wait(self.settle_s):
            raise DirectorError("the director is shutting down")

    def _journal(self, mode: str, n: int) -> Path:
        """Each phase's full-resolution journal: ``journal/<mode>``, per analyzer when several."""
        return self.dir / "journal" / (mode if len(self.meters) == 1 else f"{mode}_analyzer_{n}")

    def _who(self, m: Meter) -> str:
        return f"analyzer {m.n} " if len(self.meters) > 1 else "the analyzer "

    # -- phases --------------------------------------------------------------------------------------
    def start(self, mode: str, max_volts: str | None = None, max_amps: str | None = None) -> None:
        """``session,<id>,start,<mode>[,<maxVolts>,<maxAmps>]``; raises DirectorError."""
        if self.state == mode:
            return  # the official server answers a repeated start with OK
        if mode == "ranging":
            if self.state != "initial":
                raise DirectorError(f"cannot start ranging: the session is {self.state}; ranging comes first")
        elif max_volts is not None:
            if self.state not in ("initial", "ranging_done"):
                raise DirectorError(f"cannot start testing: the session is {self.state}")
            try:
                v, a = float(max_volts), float(max_amps)
            except (TypeError, ValueError):
                raise DirectorError(f"maximum volts and amps must be numbers, got {max_volts!r} and {max_amps!r}") from None
            if not (math.isfinite(v) and math.isfinite(a) and v > 0 and a > 0):
                raise DirectorError(f"maximum volts and amps must be positive, got {max_volts!r} and {max_amps!r}")
            # Experimental in the official client: the values are the ranges asked for, as they are.
            self.requested = (max_volts, max_amps)
            log.warning("Testing with ranges given by the client (%s V, %s A): not valid for a submission",
                        max_volts, max_amps)
        elif self.state != "ranging_done":
            raise DirectorError(f"cannot start testing: the session is {self.state}; "
                                "ranging must be done first")
        self.phase_mark(mode, 0)
        for m in self.meters:
            m.analyzer.ready()
        for m in self.meters:
            inst = m.analyzer.inst
            if m.initial_ranges is None:
                r = inst.driver.ranges()
                m.initial_ranges = (AUTO if r.voltage_auto else r.voltage, AUTO if r.current_auto else r.current)
                # power-dev's order (Hello, Identify, RR): the official checker reads the initial
                # ranges from the third message; the reply says no PTDaemon answered
                m.ptd("Hello", "Hello, station director here (no PTDaemon)")
                m.ptd("Identify", f"{m.analyzer.model},version={station.__version__}-station,"
                                  f"{(inst.identity.raw if inst.identity else '').replace(',', ';')}")
                m.ptd("RR", f"Ranges,{int(r.current_auto)},{r.current:.6f},{int(r.voltage_auto)},{r.voltage:.6f}")
            if mode == "ranging":
                self._set_ranges(m, AUTO, AUTO, sr=("Auto", "Auto"))
                self._current_auto_again(m)
            else:
                m.testing_ranges = self._testing_ranges(m)
        for m in self.meters:
            m.analyzer.inst.start()
        log.info("Analyzer%s settling for %g s before the %s measurement", "s" if len(self.meters) > 1 else "",
                 self.settle_s, mode)
        self._wait_settle()
        for m in self.meters:
            if m.analyzer.inst.state == "failed":
                raise DirectorError(f"{self._who(m)}failed before {mode} began: {m.analyzer.inst.error}")
        mark = f"{self.id}_{mode}"
        fixed = self.meters[0].testing_ranges if mode == "testing" else None
        several = len(self.meters) > 1
        self._audit("phase_start", phase=mode, mark=mark, ranges=list(fixed) if fixed else "auto",
                    requested=list(self.requested) if self.requested else None,
                    **({"analyzers": [{"analyzer": m.n, "ranges": list(m.testing_ranges)
                                       if mode == "testing" and m.testing_ranges else "auto"}
                                      for m in self.meters]} if several else {}))
        for m in self.meters:
            ranges = m.testing_ranges if mode == "testing" else None
            phase = Phase(mode, mark, m.analyzer, self._journal(mode, m.n), m.ptd_log, ranges,
                          settings={"command": "serve", "session": self.id, "phase": mode, "mark": mark,
                                    **({"analyzer": m.n} if several else {})})
            phase.run.listeners.append(self._phase_listener(mode, m.n))
            m.ptd_log.line("Go command received")
            phase.begin()
            m.ptd_log.line(f"Go with mark '{mark}'")
            m.ptd(f"Go,1000,0,{mark}",
                  "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples")
            m.current = phase
        self.state = mode
        for m in self.meters:  # the client runs its workload from the OK on: a simulated analyzer draws it
            m.current.run.workload(True)
        self.phase_mark(mode, 1)
        log.info("Started %s measurement, mark %s", mode, mark)
        self.save_state()

    def _set_ranges(self, m: Meter, voltage: RangeValue, current: RangeValue, sr: tuple[str, str]) -> None:
        try:
            m.analyzer.set_ranges(voltage, current)
        except (InstrumentError, ValueError) as exc:
            m.ptd(f"SR,V,{sr[0]}", f"Error: {exc}")
            raise DirectorError(f"Error setting ranges: {describe(exc)}") from exc
        m.ptd(f"SR,V,{sr[0]}", "Range V changed")
        m.ptd(f"SR,A,{sr[1]}", "Range A changed")
        r = m.analyzer.inst.ranges
        self._audit("ranges_set", requested={"voltage": voltage, "current": current}, ranges=r.to_dict(),
                    **({"analyzer": m.n} if len(self.meters) > 1 else {}))
        m.ptd_log.line(_range_text("Volt", AUTO if r.voltage_auto else r.voltage))
        m.ptd_log.line(_range_text("Amp", AUTO if r.current_auto else r.current))

    def _current_auto_again(self, m: Meter) -> None:
        """The current range set to auto a second time, as power-dev's server does before ranging
        (``SR,A,Auto`` twice): today's checker looks for a 4th ``SR,A`` and fails without one."""
        try:
            m.analyzer.set_ranges(AUTO, AUTO)  # the voltage range is auto already: only the current is asked again
        except (InstrumentError, ValueError) as exc:
            m.ptd("SR,A,Auto", f"Error: {exc}")
            raise DirectorError(f"Error setting ranges: {describe(exc)}") from exc
        m.ptd("SR,A,Auto", "Range A changed")
        m.ptd_log.line(_range_text("Amp", AUTO))

    def _testing_ranges(self, m: Meter) -> tuple[float, float]:
        desc = m.analyzer.inst.driver.description
        try:
            if self.requested is not None:
                want_v, want_a = float(self.requested[0]), float(self.requested[1])
                sr = self.requested
                v = desc.round_up_range("voltage", want_v)
                a = desc.round_up_range("current", want_a)
            else:
                proposal = propose_ranges(desc, m.ranging_maxima, m.analyzer.inst.inst_id, self.headroom)
                v, a = proposal.voltage, proposal.current
                want_v, want_a = proposal.max_volts, proposal.max_amps * self.headroom
                sr = (f"{m.max_volts:.6f}", str(round(m.max_amps, 6) * self.headroom))
        except InstrumentError as exc:
            raise DirectorError(f"Error setting voltage range: {describe(exc)}") from exc
        for kind, want, got, unit in (("voltage", want_v, v, "V"), ("current", want_a, a, "A")):
            if want > got:
                log.warning("The %s needs a %.6g %s range but the largest the analyzer has is %g %s: "
                            "expect overrange", kind, want, unit, got, unit)
                m.ptd_log.line(f"WARNING: {kind} {want:.6f}{unit} is above the largest range {got:g}{unit}")
        log.info("Testing ranges%s: %g V (voltage maximum %.6g V), %g A (%g x current maximum = %.6g A)",
                 f" of analyzer {m.n}" if len(self.meters) > 1 else "", v, want_v, a, self.headroom, want_a)
        self._set_ranges(m, v, a, sr=sr)
        return v, a

    def stop(self, mode: str) -> None:
        """``session,<id>,stop,<mode>``; raises DirectorError (the phase's files are kept)."""
        done = f"{mode}_done"
        if self.state == done:
            return
        if self.state != mode or self.current is None:
            raise DirectorError(f"cannot stop {mode}: the session is {self.state}")
        self.phase_mark(mode, 2)
        for m in self.meters:
            m.current.run.workload(False)
        log.info("Measuring %g s more after the workload, then stopping %s", self.settle_s, mode)
        interrupted = self._stop.wait(self.settle_s)
        for m in self.meters:
            m.ptd_log.line("Stop command received")
        results = self._end_phase("complete" if not interrupted else "stopped")
        if interrupted:
            raise DirectorError("the director is shutting down")
        for m, result in zip(self.meters, results, strict=True):
            if result.lost is not None:
                who = self._who(m)
                self._fail(f"{who}was lost during {mode}: {result.lost}")
                raise DirectorError(f"{who}was lost during {mode}: {result.lost}; "
                                    f"{len(result.seconds)} s of samples kept, the {mode} measurement is not valid")
        if mode == "ranging":
            for m, result in zip(self.meters, results, strict=True):
                if not (math.isfinite(result.max_volts) and math.isfinite(result.max_amps)):
                    self._fail(f"the ranging measurement of {self._who(m)}gave no valid reading")
                    raise DirectorError(f"the ranging measurement of {self._who(m)}gave no valid reading (it ended "
                                        "too fast, or every reading was invalid); no testing ranges can be chosen")
            for m, result in zip(self.meters, results, strict=True):
                m.max_volts, m.max_amps = result.max_volts, result.max_amps
                m.ranging_maxima = result.maxima
                log.info("Ranging maxima%s: %.6f V, %.6f A", f" of analyzer {m.n}" if len(self.meters) > 1 else "",
                         m.max_volts, m.max_amps)
        self.state = done
        self.phase_mark(mode, 3)
        self.save_state()

    def _end_phase(self, state: str) -> list[PhaseResult]:
        """Stop every analyzer's phase and write its files: each analyzer's own samples
        (``spl_analyzer_<i>``), ``spl.txt`` (a copy with one analyzer, merged with several) and,
        for testing, each analyzer's ``Watts`` / ``Uncertainty`` in ``ptd_out.txt``."""
        phases = [m.current for m in self.meters]
        mode = phases[0].name
        out_dir = self.dir / PHASE_DIR[mode]
        for phase in phases:
            if phase is not None:
                phase.run.workload(False)  # a session ended early: its workload is over too
        now: dict[int, tuple[str, str]] = {}
        if mode == "testing":  # what the official server asks each analyzer before Stop
            for m, phase in zip(self.meters, phases, strict=True):
                so_far = self._snapshot(phase)
                now[m.n] = (ptd_files.format_watts_reply(so_far), ptd_files.format_uncertainty_reply(so_far))
        for m in self.meters:
            m.analyzer.inst.stop()
        results, figures = [], []
        for m, phase in zip(self.meters, phases, strict=True):
            m.current = None
            result = phase.end(state)
            if result.lost is not None:
                m.analyzer.suspect = True
            secs = result.seconds
            watts = ptd_files.format_watts_reply(secs)
            unc = ptd_files.format_uncertainty_reply(secs)
            if mode == "testing":
                m.ptd("Watts", now[m.n][0])
                m.ptd("Uncertainty", now[m.n][1])
                m.ptd_log.line(f"Response to client sent: {now[m.n][0]}")
                m.ptd_log.line(f"Response to client sent: {now[m.n][1]}")
            m.ptd("Stop", "Stopping untimed measurement")
            m.ptd("Uncertainty", unc)
            m.ptd("Watts", watts)
            m.ptd_log.line("Completed test")
            m.ptd_log.line(ptd_files.format_completed(secs))
            ptd_files.write_spl(ptd_files.spl_analyzer_path(out_dir, mode, m.n), secs, phase.mark)
            if mode == "testing":
                ptd_files.write_ptd_out(out_dir / "ptd_out.txt", watts, unc, analyzer=m.n, append=m.n > 1)
            stats = ptd_files.watts_stats(secs)
            figures.append({
                "mark": phase.mark,
                "seconds": stats["samples"], "valid_seconds": stats["valid"], "invalid_seconds": stats["errors"],
                "avg_w": stats["avg"] if stats["valid"] else None,
                "max_volts": result.max_volts if math.isfinite(result.max_volts) else None,
                "max_amps": result.max_amps if math.isfinite(result.max_amps) else None,
                "records": result.summary.get("samples"),
                "journal": self._journal(mode, m.n).relative_to(self.dir).as_posix(),
                "lost": result.lost,
                "state": state if result.lost is None else "failed",
            })
            log.info("%s%s: %d s of samples (%d valid), average %.6f W", mode,
                     f" (analyzer {m.n})" if len(self.meters) > 1 else "", stats["samples"], stats["valid"],
                     stats["avg"])
            results.append(result)
        ptd_files.merge_spl([ptd_files.spl_analyzer_path(out_dir, mode, m.n) for m in self.meters],
                            out_dir / "spl.txt")
        self.figures[mode] = {**figures[0], **({"analyzers": figures} if len(figures) > 1 else {})}
        self._audit("phase_end", phase=mode, **self.figures[mode])
        return results

    @staticmethod
    def _snapshot(phase: Phase) -> np.ndarray:
        with phase._lock:
            return np.concatenate(phase._seconds) if phase._seconds else np.zeros(0, ptd_files.second_dtype(1))

    def _fail(self, reason: str) -> None:
        self.state = "failed"
        self.reason = reason
        log.error("Session %s failed: %s", self.id, reason)
        self._audit("session_failed", reason=reason)
        self.save_state()

    # -- the end -------------------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        """finish() ran: the files are final (a failed session still waits for done or the end)."""
        return self._finished

    def finish(self, state: str, reason: str | None = None) -> None:
        """End the session: stop a phase in progress (its files are written), restore ranges,
        join the analyzers' logs into ``power/ptd_logs.txt``."""
        if self.current is not None:
            log.warning("Ending the %s measurement early: %s", self.current.name, reason or state)
            for m in self.meters:
                m.ptd_log.line(f"Stop command received ({reason or state})")
            self._end_phase(state)
        if self.state != "failed":
            if state == "complete" and self.state != "testing_done":
                state = "incomplete"
                reason = reason or f"done while the session was {self.state}"
            self.state = state
            self.reason = reason
        self._finished = True
        for m in self.meters:
            self._restore_ranges(m)
        self._audit("session_end", state=self.state, reason=self.reason)
        self._audit_closed = True
        self.audit.close()
        for m in self.meters:
            m.ptd_log.close()
        try:
            ptd_files.join_analyzer_logs(self.dir / "power", len(self.meters))
        except OSError as exc:
            log.error("Could not write power/ptd_logs.txt: %s", exc)
        self.save_state()
        log.info("Session %s ended: %s%s", self.id, self.state, f" ({self.reason})" if self.reason else "")

    def _restore_ranges(self, m: Meter) -> None:
        if m.initial_ranges is None or m.analyzer.suspect:
            return
        inst = m.analyzer.inst
        if inst.state == "running":
            inst.stop()
        v, a = m.initial_ranges
        try:
            self._set_ranges(m, v, a, sr=("Auto" if v == AUTO else f"{float(v):.6f}",
                                          "Auto" if a == AUTO else f"{float(a):.6f}"))
            log.info("Analyzer ranges restored to %s V, %s A", v, a)
        except DirectorError as exc:
            log.warning("Could not restore the analyzer's ranges: %s", exc)
