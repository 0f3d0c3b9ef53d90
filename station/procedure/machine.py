"""The guided procedure as a state machine: setup, ranging, range selection, testing, review, done.

Every action returns at once: connecting, running and reviewing happen on one worker thread
of the procedure, and what happens is told through ``on_event(kind, detail)`` (from that
thread: a GUI posts it to its own). ``wait()`` blocks until the current action ends (headless
use and tests). :meth:`Procedure.guidance` says in plain words what to do now and why, and
what is wrong when the procedure cannot go on. See :mod:`station.procedure` for the session
directory this writes.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

import station
from station.core.journal import JournalReader, write_json_atomic
from station.core.monitor import average_since, power_sums
from station.measurement.audit import AUDIT_FILE, AuditError, AuditLog
from station.measurement.calibration import calibration_due
from station.measurement.instruments import InstrumentSpec, SpecError, open_instrument
from station.measurement.ranges import RangeProposal, RangingMaxima, headroom_of, propose_ranges
from station.procedure.checks import FAIL, LiveChecks
from station.procedure.windows import (
    Window,
    collect_loadgen_logs,
    find_loadgen_detail,
    gpio_windows,
    loadgen_window,
    mark_windows,
)
from station.procedure.workload import WorkloadError, WorkloadProcess
from station.rules import RuleSet

DISCARDED = "discarded"


class Step(StrEnum):
    SETUP = "setup"
    RANGING = "ranging"
    RANGE_SELECTION = "range_selection"
    TESTING = "testing"
    REVIEW = "review"
    DONE = "done"
    ABANDONED = "abandoned"


class ProcedureError(Exception):
    """An action that is not possible now, or bad input; the message says why."""


class _Cancelled(Exception):
    pass


class _RunFailed(Exception):
    pass


@dataclass
class SetupInfo:
    operator: str
    sut: str
    benchmark: str
    scenario: str
    rules: RuleSet
    instruments: list[InstrumentSpec]
    workload: str | None = None  # shell command the station starts and times
    workload_dir: str | None = None  # where it runs (default: the directory the station was started from)
    loadgen_dir: str | None = None  # where LoadGen writes (default: a directory per run)
    ntp_server: str | None = None  # host[:port]
    clock_interval_s: float = 60.0  # clock checks while a run records
    start_timeout_s: float = 20.0  # how long to wait for the first samples


@dataclass
class Guidance:
    step: str
    state: str  # ready, busy, blocked, done
    do_now: str
    why: str
    problem: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def default_session_factory(spec: InstrumentSpec, inst_id: str, interval_s: float):
    """The procedure's instruments come from the measurement service's one builder."""
    try:
        return open_instrument(spec, inst_id, interval_s=interval_s)
    except SpecError as exc:
        raise ProcedureError(str(exc)) from None


class Procedure:
    """One guided measurement session in ``out_dir``."""

    def __init__(self, out_dir: str | Path, on_event: Callable[[str, dict], None] | None = None,
                 session_factory: Callable = default_session_factory) -> None:
        self.dir = Path(out_dir)
        self.on_event = on_event
        self.session_factory = session_factory
        self.step = Step.SETUP
        self.problem: str | None = None
        self.info: SetupInfo | None = None
        self.rules: RuleSet | None = None
        self.sessions: list = []
        self.session: dict = {}
        self.proposal: dict[str, RangeProposal] = {}
        self.selection: dict[str, dict] = {}
        self.testing_done = 0
        self.ranging_average_w: float | None = None  # whole ranging run, all instruments: the live comparison
        self.review: dict | None = None
        self.live: LiveChecks | None = None
        self.current_run: str | None = None
        self._worker: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._cancel = threading.Event()
        self._end_run = threading.Event()
        self._recording = None
        self._events_lock = threading.Lock()
        self._audit: AuditLog | None = None

    # -- observation -------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current action has ended (True) or ``timeout`` passed (False)."""
        return self._idle.wait(timeout)

    def guidance(self) -> Guidance:
        step, busy = self.step, self.busy
        state = "busy" if busy else ("blocked" if self.problem else "ready")
        if step == Step.SETUP:
            if busy:
                return Guidance(step, state, "Wait: the analyzers are being connected and the clock checked.",
                                "Setup ends when every analyzer answers and the clock is known to be right.")
            return Guidance(step, state, "Enter the operator, the system under test, benchmark and scenario, "
                            "choose the rule set and the analyzer(s), then start setup.",
                            "These go into every file of the session and the rule set decides which checks "
                            "apply; the clock check makes sure the workload's timestamps and the samples line up.",
                            self.problem)
        if step == Step.RANGING:
            if busy:
                return Guidance(step, state, "Ranging: the workload runs once while the analyzers choose their "
                                "own ranges. Wait for it to end, or cancel.",
                                "The largest voltage and current seen now decide the fixed ranges for testing.")
            return Guidance(step, state, "Start the ranging run: the workload runs once with the analyzers on "
                            "auto ranges.",
                            "Fixed ranges give the accuracy the rules need, and they are chosen from the largest "
                            "voltage and current of this run.", self.problem)
        if step == Step.RANGE_SELECTION:
            lines = [f"{p.inst}: {p.voltage:g} V / {p.current:g} A — {p.why}" for p in self.proposal.values()]
            lines += [f"ranges: not settable on {inst} ({why})" for inst, why in self.rangeless().items()]
            problems = [p.problem for p in self.proposal.values() if p.problem]
            return Guidance(step, state, "Confirm the proposed ranges, or override them with a reason: "
                            + "; ".join(lines),
                            f"Testing uses fixed ranges: voltage from the ranging maximum, current from "
                            f"{headroom_of(self.rules):g} x the ranging maximum, each rounded up "
                            "to a range the analyzer has. An override is recorded in the audit log.",
                            "; ".join(problems) or self.problem)
        if step == Step.TESTING:
            if busy:
                return Guidance(step, state, f"Testing ({self.current_run}): the workload runs on fixed ranges "
                                "while every check watches. Wait for it to end, or cancel.",
                                "This is the measurement that counts; a failing check shows at once.")
            if self.testing_done:
                return Guidance(step, state, "Run another testing run, or go on to the review.",
                                f"{self.testing_done} testing run(s) done; the review checks every run against "
                                "the rules and computes the metric.", self.problem)
            return Guidance(step, state, "Start the testing run: the workload runs again, on the fixed ranges.",
                            "This is the measurement the result comes from; every check watches it live.",
                            self.problem)
        if step == Step.REVIEW:
            verdict = "valid" if self.review and self.review["valid"] else "NOT valid"
            return Guidance(step, state, f"Read every check and the metric (the result is {verdict}), then "
                            "finish to hand the session over to export.",
                            "The review is computed from the recorded samples and the workload windows, the "
                            "way the MLCommons tools compute it.", self.problem)
        if step == Step.DONE:
            return Guidance(step, "done", f"Export the session: station export {self.dir}",
                            "The bundle holds every file, the audit log and the report, with checksums.")
        return Guidance(step, "done", "This session was abandoned; start a new one.",
                        "Nothing of it is used for a result.", self.problem)

    def rangeless(self) -> dict[str, str]:
        """Instruments with no ranges to set (telemetry such as Prometheus), each with the driver's reason."""
        return {s.inst_id: getattr(s.driver, "no_ranges_reason", "no ranges to set")
                for s in self.sessions if not s.driver.description.voltage_ranges
                and not s.driver.description.current_ranges}

    # -- actions -------------------------------------------------------------------------------
    def start_setup(self, info: SetupInfo) -> None:
        self._need(Step.SETUP)
        self._spawn("setup", self._do_setup, info)

    def start_ranging(self) -> None:
        self._need(Step.RANGING)
        self._spawn("ranging", self._do_run, "ranging", "ranging")

    def select_ranges(self, override: dict[str, tuple[float, float]] | None = None, reason: str = "") -> None:
        """Confirm the proposal, or override ranges (by instrument id) — the override is audited.

        Also allowed before the first testing run when no ranging run was made (lab rules).
        """
        if self.busy:
            raise ProcedureError("wait for the current step to end")
        if self.step not in (Step.RANGE_SELECTION, Step.TESTING) or (
                self.step == Step.TESTING and (self.testing_done or self.proposal)):
            raise ProcedureError(f"ranges are chosen after ranging, not in step {self.step}")
        override = dict(override or {})
        unknown = set(override) - {s.inst_id for s in self.sessions}
        if unknown:
            raise ProcedureError(f"no instrument {', '.join(sorted(unknown))}; the instruments are "
                                 f"{', '.join(s.inst_id for s in self.sessions)}")
        if override and not reason.strip():
            raise ProcedureError("an override of the proposed ranges needs a reason (it goes into the audit log)")
        from instruments.base import ConfigurationError, check_range

        selection: dict[str, dict] = {}
        for s in self.sessions:
            desc = s.driver.description
            p = self.proposal.get(s.inst_id)
            if s.inst_id in override:
                v, a = override[s.inst_id]
                try:
                    v = check_range(desc.voltage_ranges, v, "voltage")
                    a = check_range(desc.current_ranges, a, "current")
                except ConfigurationError as exc:
                    raise ProcedureError(f"{s.inst_id}: {exc}") from None
                selection[s.inst_id] = {"voltage": v, "current": a, "override": True, "reason": reason,
                                        "proposed_voltage": p.voltage if p else None,
                                        "proposed_current": p.current if p else None}
            elif p is not None:
                if p.problem:
                    raise ProcedureError(f"{s.inst_id}: {p.problem}")
                selection[s.inst_id] = {"voltage": p.voltage, "current": p.current, "override": False,
                                        "why": p.why}
        self.selection = selection
        self.session["range_selection"] = selection
        for inst, item in selection.items():
            self._event("ranges_override" if item["override"] else "ranges_confirmed", instrument=inst,
                        operator=self.info.operator, **{k: v for k, v in item.items() if k != "override"})
        self._save_session()
        self.problem = None
        self._set_step(Step.TESTING)

    def start_testing(self) -> None:
        self._need(Step.TESTING)
        if self.rules.get("fixed_ranges_required") and not self.selection and len(self.rangeless()) < len(self.sessions):
            raise ProcedureError("choose the fixed ranges first (range selection)")
        name = f"testing_{self.testing_done + 1}"
        self._spawn("testing", self._do_run, name, "testing")

    def start_review(self) -> None:
        self._need(Step.TESTING)
        if not self.testing_done:
            raise ProcedureError("there is no completed testing run to review yet")
        self._spawn("review", self._do_review)

    def finish(self) -> None:
        """Review accepted: close the instruments; the session is ready for export."""
        self._need(Step.REVIEW)
        self._close_instruments()
        self.session["state"] = "done"
        self._event("done", valid=self.review["valid"])
        self._save_session()
        self._set_step(Step.DONE)

    def mark(self, edge: str) -> None:
        """Operator mark of the workload's ``begin`` or ``end`` while a run records."""
        if edge not in ("begin", "end"):
            raise ProcedureError("a mark is 'begin' or 'end'")
        rec = self._recording
        if rec is None:
            raise ProcedureError("marks are taken while a run records")
        rec.operator_mark("workload_mark", edge=edge, operator=self.info.operator)
        self._event("mark", edge=edge, t=time.time(), run=self.current_run, operator=self.info.operator)

    def end_run(self) -> None:
        """End a run that has no workload command (the operator says the workload is over)."""
        self._end_run.set()

    def cancel(self) -> None:
        """Cancel the running action; its run is finished as cancelled and moved to discarded/."""
        if self.busy:
            self._cancel.set()

    def abandon(self, reason: str = "") -> None:
        """Give up the session: nothing of it will be used."""
        self.cancel()
        self.wait(60)
        self._close_instruments()
        if self.session:
            self.session["state"] = "abandoned"
            self._event("abandoned", reason=reason)
            self._save_session()
        self._set_step(Step.ABANDONED)

    def close(self) -> None:
        self.cancel()
        self.wait(60)
        self._close_instruments()
        with self._events_lock:
            if self._audit is not None:
                self._audit.close()  # an event after this opens it again and continues the chain
                self._audit = None

    # -- worker plumbing -----------------------------------------------------------------------
    def _need(self, step: Step) -> None:
        if self.busy:
            raise ProcedureError("wait for the current step to end (or cancel it)")
        if self.step != step:
            raise ProcedureError(f"this is step {self.step.value}, not {step.value}")

    def _spawn(self, name: str, fn: Callable, *args: Any) -> None:
        self._idle.clear()
        self._cancel.clear()
        self._end_run.clear()
        self.problem = None
        self._emit("busy", action=name)

        def body() -> None:
            try:
                fn(*args)
            except _Cancelled:
                self.problem = f"{name} was cancelled; nothing of it is used. Start it again when ready."
                self._event("cancelled", action=name)
            except (ProcedureError, _RunFailed, WorkloadError) as exc:
                self.problem = str(exc)
                self._event("step_failed", action=name, message=str(exc))
            except Exception as exc:  # shown to the operator, never swallowed
                self.problem = f"{name} failed: {type(exc).__name__}: {exc}"
                self._event("step_failed", action=name, message=self.problem)
            finally:
                self._idle.set()
                self._emit("idle", action=name, problem=self.problem, guidance=self.guidance().to_dict())

        self._worker = threading.Thread(target=body, name=f"procedure-{name}", daemon=True)
        self._worker.start()

    def _emit(self, kind: str, /, **detail: Any) -> None:
        if self.on_event is not None:
            try:
                self.on_event(kind, detail)
            except Exception:
                pass

    def _event(self, kind: str, /, **detail: Any) -> None:
        """An audited session event (DIR/audit.jsonl, chained as it happens) also told to the listener."""
        self._audit_append(kind, **detail)
        self._emit(kind, **detail)

    def _audit_append(self, kind: str, /, t: float | None = None, **detail: Any) -> None:
        # Nothing is audited before setup has written session.json: until then there is no session.
        if not (self.dir / "session.json").exists():
            return
        with self._events_lock:
            if self._audit is None:
                self._audit = AuditLog(self.dir / AUDIT_FILE)
            audit = self._audit
        audit.append(kind, t=t, **detail)

    def _run_event(self, run: str) -> Callable[..., None]:
        """A recording listener that puts the run's events (overrange, gaps, ranges, ...) into the
        session's audit log too; it runs on acquisition threads, which the log never makes wait."""
        def listener(kind: str, t: float | None = None, **detail: Any) -> None:
            try:
                self._audit_append(kind, t=t, source=run, **detail)
            except AuditError as exc:  # never into the acquisition thread; the operator is told
                self._emit("audit_error", run=run, message=str(exc))

        return listener

    def _set_step(self, step: Step) -> None:
        self.step = step
        if self.session and self.session.get("state") not in ("done", "abandoned"):
            self.session["step"] = step.value
            self._save_session()
        self._event("step", step=step.value)

    def _save_session(self) -> None:
        write_json_atomic(self.dir / "session.json", self.session)

    # -- setup ---------------------------------------------------------------------------------
    def _do_setup(self, info: SetupInfo) -> None:
        for key in ("operator", "sut", "benchmark", "scenario"):
            if not str(getattr(info, key) or "").strip():
                raise ProcedureError(f"setup: the {key} is missing")
        from station.mlperf.metric import SCENARIOS, canonical_scenario

        scenario = canonical_scenario(info.scenario)
        if scenario is None and info.rules.name == "mlperf-inference":  # its metric depends on the scenario
            raise ProcedureError(f"setup: {info.scenario!r} is not an MLPerf scenario; use one of "
                                 f"{', '.join(SCENARIOS)}")
        info.scenario = scenario or info.scenario.strip()
        if not info.instruments:
            raise ProcedureError("setup: choose at least one analyzer")
        if self.dir.exists() and any(self.dir.iterdir()):
            raise ProcedureError(f"{self.dir} is not empty; choose a new session directory (nothing was touched)")
        rules = info.rules
        interval = float(rules.get("sample_interval_s"))
        sessions = []
        try:
            ids = []
            for k, spec in enumerate(info.instruments):
                inst_id = spec.id or f"{spec.driver}-{k + 1}"
                if inst_id in ids:
                    raise ProcedureError(f"two instruments are called {inst_id}")
                ids.append(inst_id)
                try:
                    s = self.session_factory(spec, inst_id, interval)
                except ProcedureError:
                    raise
                except Exception as exc:
                    raise ProcedureError(f"{inst_id}: {exc}") from None
                sessions.append(s)
            for s in sessions:
                self._check_cancel()
                try:
                    s.connect()
                except Exception as exc:
                    raise ProcedureError(f"cannot connect {s.inst_id}: {exc}. Check the cable and the resource, "
                                         "then start setup again") from None
        except BaseException:
            for s in sessions:
                try:
                    s.driver.close()
                except Exception:
                    pass
            raise
        clock = None
        if info.ntp_server:
            clock = self._clock_check(info.ntp_server)
            if clock.get("error"):
                for s in sessions:
                    s.close()
                raise ProcedureError(f"clock check: {clock['error']}. Fix the NTP server or the network, then "
                                     "start setup again")
            limit = rules.get("max_clock_offset_s")
            if limit is not None and abs(clock["offset_s"]) > limit:
                for s in sessions:
                    s.close()
                raise ProcedureError(f"clock check: this computer is {clock['offset_s'] * 1000:+.0f} ms off "
                                     f"{info.ntp_server}, more than the {limit * 1000:.0f} ms allowed; synchronise "
                                     "it (NTP) and start setup again")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.info, self.rules, self.sessions = info, rules, sessions
        created = datetime.now(UTC)
        self.session = {
            "format": "station-session", "format_version": 1,
            "session_id": f"{created.strftime('%Y-%m-%d_%H-%M-%S')}_{self.dir.name}",
            "created_utc": created.isoformat(timespec="seconds"),
            "station_version": station.__version__,
            "operator": info.operator, "sut": info.sut, "benchmark": info.benchmark, "scenario": info.scenario,
            "rules": rules.name, "rule_overrides": rules.overrides,
            "workload": info.workload, "workload_dir": str(Path(info.workload_dir or Path.cwd()).resolve()),
            "loadgen_dir": info.loadgen_dir, "ntp_server": info.ntp_server,
            "setup_clock": clock,
            "instruments": [{"id": s.inst_id, "name": s.inst_id, "resource": spec.resource,
                             "options": spec.options, **s.settings_snapshot(),
                             "calibration_due": calibration_due(s.identity.serial if s.identity else None)}
                            for s, spec in zip(sessions, info.instruments, strict=True)],
            "settings": {"sample_interval_s": interval},
            "state": "open", "step": Step.SETUP.value, "runs": [],
        }
        write_json_atomic(self.dir / "rules.json", rules.to_dict())
        self._save_session()
        self._event("setup", operator=info.operator, sut=info.sut, benchmark=info.benchmark,
                    scenario=info.scenario, rules=rules.name, overrides=rules.overrides,
                    instruments=[s.inst_id for s in sessions], clock=clock)
        for s in sessions:
            self._event("connected", instrument=s.inst_id, identity=s.identity.to_dict() if s.identity else None)
        self._set_step(Step.RANGING if rules.get("ranging_required") else Step.TESTING)

    def _clock_check(self, server: str) -> dict:
        from station.core.ntp import NtpError, query

        try:
            res = query(server, timeout=2.0)
        except (NtpError, ValueError) as exc:
            out = {"server": server, "error": str(exc), "t": time.time()}
        else:
            out = res.to_dict()
        self._event("clock_check", **out)
        return out

    # -- runs ----------------------------------------------------------------------------------
    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled()

    def _apply_ranges(self, kind: str) -> dict:
        from instruments.base import AUTO

        used = {}
        for s in self.sessions:
            desc = s.driver.description
            if not desc.voltage_ranges and not desc.current_ranges:
                used[s.inst_id] = {"settable": False, "reason": self.rangeless()[s.inst_id]}
                continue
            if kind == "ranging" or s.inst_id not in self.selection:
                v, a = AUTO, AUTO
            else:
                v, a = self.selection[s.inst_id]["voltage"], self.selection[s.inst_id]["current"]
            s.driver.set_ranges(v, a)
            s.voltage_range, s.current_range = v, a
            s.ranges = s.driver.ranges()
            used[s.inst_id] = s.ranges.to_dict()
            self._event("ranges_set", instrument=s.inst_id, run=kind, requested={"voltage": v, "current": a},
                        ranges=used[s.inst_id])
        return used

    def _do_run(self, name: str, kind: str) -> None:
        from station.core.run_index import RunIndex
        from station.measurement.run import MeasuredRun, RunCancelled, RunFailed

        rules, info = self.rules, self.info
        run_dir = self.dir / name
        if run_dir.exists():
            self._discard(run_dir, "interrupted")
        self.current_run = name
        self._event("run_start", run=name, run_kind=kind)
        ranges = self._apply_ranges(kind)
        clocks = []
        if info.ntp_server:
            clocks.append(self._clock_check(info.ntp_server))
        live = LiveChecks(rules, kind, on_change=lambda c: self._emit("check", run=name, **c.to_dict()),
                          instruments=self.session.get("instruments"),
                          ranging_average_w=self.ranging_average_w if kind != "ranging" else None)
        self.live = live
        if clocks:
            live.clock(clocks[-1].get("offset_s"), clocks[-1].get("error"), info.ntp_server)
        run = MeasuredRun(run_dir, self.sessions, settings={"procedure_run": name, "kind": kind, "rules": rules.name,
                                                            "session": self.session.get("session_id")},
                          live=live, max_uncertainty=rules.get("max_uncertainty"),
                          start_timeout_s=info.start_timeout_s, index=RunIndex(), cancel=self._cancel)
        run.listeners.append(self._run_event(name))
        self._recording = run.recording
        state, failure, workload, load_on = "complete", None, None, False
        try:
            run.start()

            def tick() -> None:
                if info.ntp_server and time.time() - clocks[-1]["t"] >= info.clock_interval_s:
                    clocks.append(self._clock_check(info.ntp_server))
                    live.clock(clocks[-1].get("offset_s"), clocks[-1].get("error"), info.ntp_server)

            run.wait_first_samples(tick)
            settle = float(rules.get("settle_s", 0.0))
            run.pause(settle, tick)
            if info.workload:
                loadgen_dir = Path(info.loadgen_dir) if info.loadgen_dir else run_dir / "loadgen"
                loadgen_dir.mkdir(parents=True, exist_ok=True)
                workload = WorkloadProcess(info.workload, run_dir, {
                    "STATION_LOADGEN_DIR": str(loadgen_dir.resolve()), "STATION_RUN": name,
                    "STATION_SESSION_DIR": str(self.dir.resolve())}, cwd=info.workload_dir)
                load_on = True
                run.workload(True)  # an analyzer that follows the workload (the simulator) sees its load from here
                workload.start()
                load_base = power_sums(run.snapshots())
                live.workload(started=workload.begin)
                self._event("workload_started", run=name, command=info.workload, t=workload.begin)
                try:
                    while workload.running:
                        run.pause(0.1, tick)
                finally:
                    if workload.running:
                        workload.terminate()
                    load_on = False
                    run.workload(False)
                load_end = run.snapshots()
                live.workload(ended=workload.end)
                self._event("workload_ended", run=name, exit_status=workload.returncode, t=workload.end)
                failure = workload.failure()
            else:
                load_on = True
                run.workload(True)
                load_base = power_sums(run.snapshots())
                live.workload(started=time.time())
                while not self._end_run.is_set():
                    run.pause(0.1, tick)
                load_on = False
                run.workload(False)
                load_end = run.snapshots()
                live.workload(ended=time.time())
            if failure is None:
                run.pause(settle, tick)
            if kind == "ranging":  # the live testing check compares with the ranging run's workload time
                self.ranging_average_w = average_since(load_base, load_end)
            if failure is not None:
                state = "failed"
        except RunCancelled:
            state = "cancelled"
            raise _Cancelled() from None
        except RunFailed as exc:
            state, failure = "failed", str(exc)
        finally:
            if load_on:
                run.workload(False)
            if run.recording.error and state == "complete":
                state, failure = "failed", run.recording.error
            run.finish(state)
            self._recording = None
            self.current_run = None
            kept = self._discard(run_dir, state) if state != "complete" else None
        if state == "failed":
            raise _RunFailed(self._failure_text(name, kind, failure, workload, kept))
        if info.ntp_server:
            clocks.append(self._clock_check(info.ntp_server))
            live.clock(clocks[-1].get("offset_s"), clocks[-1].get("error"), info.ntp_server)
        run_info = {"name": name, "kind": kind, "dir": name, "state": "complete", "ranges": ranges,
                    "workload": workload.to_dict() if workload else None, "clock": clocks,
                    "live_checks": live.snapshot(), "windows": []}
        run_info["windows"] = [w.to_dict() for w in self._windows(run_dir, workload, run_info)]
        self.session["runs"].append(run_info)
        self._save_session()
        self._event("run_complete", run=name, windows=run_info["windows"],
                    failed_checks=[c.name for c in live.failed])
        if kind == "ranging":
            self._propose(run_dir)
            self._set_step(Step.RANGE_SELECTION)
        else:
            self.testing_done += 1
            self._set_step(Step.TESTING)

    def _windows(self, run_dir: Path, workload: WorkloadProcess | None, run_info: dict) -> list[Window]:
        out: list[Window] = []
        if workload is not None and workload.begin is not None and workload.end is not None:
            out.append(Window(workload.begin, workload.end, "command", "workload command",
                              {"exit_status": workload.returncode}))
            where = Path(self.info.loadgen_dir) if self.info.loadgen_dir else run_dir / "loadgen"
            found = find_loadgen_detail(where, workload.begin)
            if found is not None:
                try:
                    win = loadgen_window(found)
                except Exception as exc:  # FormatError and friends: the message names file and line
                    run_info["loadgen"] = {"file": str(found), "error": str(exc)}
                    self._event("loadgen_error", file=str(found), message=str(exc))
                else:
                    run_info["loadgen"] = {"file": str(found), "copied": collect_loadgen_logs(found, run_dir)}
                    out.append(win)
            else:
                run_info["loadgen"] = {"error": f"no {('mlperf_log_detail.txt')} written during the run in {where}"}
        reader = JournalReader(run_dir)
        events = reader.events()
        first = next(iter(reader.instruments))
        out += gpio_windows(events, np.asarray(reader.samples(first)))
        out += mark_windows(events)
        return out

    def _propose(self, run_dir: Path) -> None:
        reader = JournalReader(run_dir)
        headroom = headroom_of(self.rules)
        self.proposal = {}
        for s in self.sessions:
            desc = s.driver.description
            if not desc.voltage_ranges or not desc.current_ranges:
                continue
            maxima = RangingMaxima()
            maxima.add(np.asarray(reader.samples(s.inst_id)))
            self.proposal[s.inst_id] = propose_ranges(desc, maxima, s.inst_id, headroom)
        self.session["range_proposal"] = {k: p.to_dict() for k, p in self.proposal.items()}
        self._event("ranges_proposed", proposal=self.session["range_proposal"], not_settable=self.rangeless())

    def _failure_text(self, name: str, kind: str, failure: str | None, workload: WorkloadProcess | None,
                      kept: Path | None) -> str:
        """What went wrong, where the run and the workload's output really are, and how to go on."""
        if workload is not None and kept is not None and workload.failure() is not None:
            workload.output_path = kept / workload.output_path.name  # the run directory was moved
            failure = workload.failure()
        else:
            failure = (failure or "the run failed").rstrip(". ")
            if kept is not None:
                failure += f". The run is kept in {kept}"
        again = "start ranging" if kind == "ranging" else "start the testing run"
        return (f"{name} failed: {failure}. Nothing of the failed run counts; when the cause is fixed, repeat "
                f"the step ({again} again): the session keeps everything before it")

    def _discard(self, run_dir: Path, why: str) -> Path:
        """Move a run that does not count out of the way: DIR/discarded/<name>.<why>-<k>; where it went."""
        base = self.dir / DISCARDED
        base.mkdir(exist_ok=True)
        k = 1
        while (base / f"{run_dir.name}.{why}-{k}").exists():
            k += 1
        target = base / f"{run_dir.name}.{why}-{k}"
        shutil.move(str(run_dir), str(target))
        self._event("run_discarded", run=run_dir.name, reason=why, moved_to=str(target.relative_to(self.dir)))
        return target

    # -- review ----------------------------------------------------------------------------
    def _do_review(self) -> None:
        from station.procedure.review import Reviewer

        review = Reviewer(self.dir, self.session, self.rules).run()
        review["created_utc"] = datetime.now(UTC).isoformat(timespec="seconds")
        write_json_atomic(self.dir / "review.json", review)
        self.review = review
        self.session["state"] = "reviewed"
        self._event("review", valid=review["valid"], failed=[c["name"] for c in review["checks"]
                                                               if c["status"] == FAIL],
                    metric=review.get("metric"))
        self._set_step(Step.REVIEW)

    def _close_instruments(self) -> None:
        for s in self.sessions:
            try:
                s.close()
            except Exception:
                pass
        self.sessions_closed = True


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
