"""``station run``: record a run headless and print its summary.

    station run [--instrument NAME [--resource R] [-o key=value ...] ...] [--duration S] [--out DIR] [--json]
                [--metrics HOST:PORT]

Several ``--instrument`` groups record several instruments into one journal; the summary's
top-level figures are the first instrument's, every instrument's are under ``instruments``.
An instrument that reads a past window (``-o from_utc=T``, the prometheus driver) reads
``--duration`` seconds of it: without ``-o until_utc=U`` the window ends with the run.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from station.commands.grammar import (
    ExitCode,
    UsageError,
    add_instrument_group,
    connect_or_exit_code,
    instrument_specs,
    open_spec,
    positive_float,
)
from station.commands.recover import recover_pending
from station.measurement.instruments import InstrumentSpec, SpecError, driver_class, interval_for


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="record a run headless and print its summary")
    add_instrument_group(p)
    p.add_argument("--duration", type=positive_float, default=30.0, help="seconds to record (default 30)")
    p.add_argument("--out", type=Path, help="run directory to create (default: a new one under the station home)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--metrics", metavar="HOST:PORT",
                   help="serve the live readings to Prometheus on this address while the run lasts "
                        "(e.g. 127.0.0.1:9101; port 0 picks one and says which)")
    p.set_defaults(func=run)


def _default_out() -> Path:
    from station.core.run_index import station_home

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return station_home() / "runs" / f"run-{stamp}"


def past_window_ends_with_the_run(specs: list[InstrumentSpec], duration_s: float) -> list[InstrumentSpec]:
    """``specs``, where one reads a past window from ``from_utc`` without ``until_utc``, with the window
    ending with the run: ``until_utc = from_utc + duration + one update interval``.

    The extra interval is the record that tells the recording the duration is complete (records
    are stamped at their interval's end; the recording keeps the ones inside the duration). Without
    an end, the replay would read on past the run and journal gaps of series that stop after it.
    """
    out = []
    for spec in specs:
        try:
            settings = {s.name for s in driver_class(spec.driver).description.settings}
            begin = float(spec.options.get("from_utc") or 0.0)
            interval = interval_for(spec)
        except (SpecError, TypeError, ValueError):
            out.append(spec)  # opening it says what is wrong
            continue
        if {"from_utc", "until_utc"} <= settings and begin > 0 and not spec.options.get("until_utc"):
            spec = replace(spec, options={**spec.options, "until_utc": begin + duration_s + interval})
        out.append(spec)
    return out


def open_sessions(specs: list[InstrumentSpec], duration_s: float) -> list:
    """One session per spec (nothing connected yet); UsageError for anything wrong."""
    from station.measurement.instruments import SpecError, instrument_ids

    try:
        ids = instrument_ids(specs)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    sessions = []
    try:
        for spec, inst_id in zip(specs, ids, strict=True):
            session = open_spec(spec, inst_id)
            sessions.append(session)
            if session.interval_s > duration_s:
                raise UsageError(f"the duration ({duration_s:g} s) is shorter than one update interval "
                                 f"({session.interval_s:g} s) of {inst_id}")
    except BaseException:
        _close_all(sessions)
        raise
    return sessions


def _close_all(sessions: list) -> None:
    for s in sessions:
        try:
            s.close()
        except Exception:
            pass


def run(args: argparse.Namespace) -> ExitCode:
    from station.core.journal import HEADER, JournalError
    from station.core.run_index import RunIndex
    from station.core.summary import format_summary, overrange_throughout
    from station.measurement.calibration import calibration_due
    from station.measurement.run import MeasuredRun, RunCancelled, RunFailed

    out = args.out or _default_out()
    if (out / HEADER).exists():
        raise UsageError(f"{out} already holds a recorded run; choose another --out (nothing was overwritten)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    specs = past_window_ends_with_the_run(instrument_specs(args), args.duration)
    sessions = open_sessions(specs, args.duration)
    recover_pending(args.json)
    for k, (spec, session) in enumerate(zip(specs, sessions, strict=True)):
        failed = connect_or_exit_code(session, spec.driver if len(specs) == 1 else session.inst_id)
        if failed is not None:
            _close_all(sessions[:k] + sessions[k + 1:])
            return failed
    metrics = _serve_metrics(args.metrics, sessions) if args.metrics else None
    first = sessions[0]
    settings = {
        "command": "run",
        "argv": sys.argv[1:],
        "duration_s": args.duration,
        "instrument": specs[0].driver,
        "resource": specs[0].resource,
        "instruments": [spec.to_dict() for spec in specs],
        "calibration_due": calibration_due(first.identity.serial if first.identity else None),
    }
    try:
        run = MeasuredRun(out, sessions, settings=settings, duration_s=args.duration, index=RunIndex())
    except (JournalError, ValueError) as exc:
        if metrics is not None:
            metrics.close()
        _close_all(sessions)
        raise UsageError(str(exc)) from None
    recording = run.recording

    def _on_signal(signum, frame):
        run.cancel()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    state = "complete"
    progress = sys.stderr.isatty() and not args.json
    last_print = [time.monotonic()]

    def tick() -> None:
        if progress and time.monotonic() - last_print[0] >= 2.0:
            snap = recording.monitors[first.inst_id].snapshot()
            avg = snap["avg_w"]
            print(f"  {snap['duration_s']:8.1f} s  {snap['samples']:>10d} samples  "
                  f"avg {avg if avg is not None else float('nan'):.4g} W", file=sys.stderr)
            last_print[0] = time.monotonic()

    failure = None
    try:
        run.start()
        if run.wait_duration(tick) == "deadline":
            state = "failed"
            failure = _deadline_reason(run, args.duration)
    except RunCancelled:
        state = "stopped"
    except RunFailed as exc:
        state, failure = "failed", str(exc)
    finally:
        summary = run.finish(state)
        if metrics is not None:
            metrics.close()
        _close_all(sessions)
        for s, h in old.items():
            signal.signal(s, h)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print(format_summary(summary))
        if len(sessions) > 1:
            for inst_id, snap in summary["instruments"].items():
                avg = snap.get("avg_w")
                energy = snap.get("energy_j")
                print(f"  {inst_id:<10} {snap['samples']} samples, average "
                      f"{avg if avg is not None else float('nan'):.6g} W, energy "
                      f"{'none' if energy is None else f'{energy:.6g} J'}")
    if state == "failed":
        error = failure or recording.error or next((s.error for s in sessions if s.error), None)
        print(f"station: the run failed: {error}", file=sys.stderr)
        return ExitCode.FAILED
    if state == "complete":
        unusable = [(i, overrange_throughout(snap)) for i, snap in summary["instruments"].items()]
        unusable = [(i, why) for i, why in unusable if why]
        if unusable:
            for inst_id, why in unusable:
                print(f"station: {inst_id}: {why}", file=sys.stderr)
            return ExitCode.FAILED
    return ExitCode.INTERRUPTED if state == "stopped" else ExitCode.OK


def _serve_metrics(address: str, sessions: list):
    """The live readings of ``sessions`` on ``address`` for Prometheus; UsageError if it cannot listen there."""
    from station.telemetry.exporter import MetricsServer

    try:
        server = MetricsServer(address)
    except (ValueError, OSError) as exc:
        _close_all(sessions)
        raise UsageError(f"--metrics {address}: {exc}") from None
    for session in sessions:
        server.metrics.attach(session)
    print(f"station: Prometheus metrics at {server.url}", file=sys.stderr, flush=True)
    return server


def _deadline_reason(run, duration_s: float) -> str:
    """What happened when a run did not reach its duration in time, per instrument."""
    parts = []
    for inst_id, monitor in run.monitors.items():
        snap = monitor.snapshot()
        session = next((s for s in run.sessions if s.inst_id == inst_id), None)
        state = f", instrument {session.state}" + (f": {session.error}" if session and session.error else "") \
            if session else ""
        parts.append(f"{inst_id} delivered {snap['duration_s']:.3f} s of the {duration_s:g} s{state}")
    return ("the instruments did not deliver the requested duration in time (is the analyzer on HOLD, or "
            "not updating?): " + "; ".join(parts) + ". What was recorded is kept")
