"""``station run``: record a run headless and print its summary.

    station run [--instrument NAME [--resource R] [-o key=value ...] ...] [--duration S] [--out DIR] [--json]

Several ``--instrument`` groups record several instruments into one journal; the summary's
top-level figures are the first instrument's, every instrument's are under ``instruments``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
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
from station.measurement.instruments import InstrumentSpec


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="record a run headless and print its summary")
    add_instrument_group(p)
    p.add_argument("--duration", type=positive_float, default=30.0, help="seconds to record (default 30)")
    p.add_argument("--out", type=Path, help="run directory to create (default: a new one under the station home)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def _default_out() -> Path:
    from station.core.run_index import station_home

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return station_home() / "runs" / f"run-{stamp}"


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
    from station.core.recording import Recording
    from station.core.run_index import RunIndex
    from station.core.summary import format_summary
    from station.measurement.calibration import calibration_due

    out = args.out or _default_out()
    if (out / HEADER).exists():
        raise UsageError(f"{out} already holds a recorded run; choose another --out (nothing was overwritten)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    specs = instrument_specs(args)
    sessions = open_sessions(specs, args.duration)
    recover_pending(args.json)
    for k, (spec, session) in enumerate(zip(specs, sessions, strict=True)):
        failed = connect_or_exit_code(session, spec.driver if len(specs) == 1 else session.inst_id)
        if failed is not None:
            _close_all(sessions[:k] + sessions[k + 1:])
            return failed
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
        recording = Recording(out, sessions, settings=settings, duration_s=args.duration, index=RunIndex())
    except (JournalError, ValueError) as exc:
        _close_all(sessions)
        raise UsageError(str(exc)) from None

    stop = threading.Event()

    def _on_signal(signum, frame):
        stop.set()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    state = "complete"
    try:
        recording.start()
        for session in sessions:
            session.start()
        progress = sys.stderr.isatty() and not args.json
        last_print = time.monotonic()
        while not recording.wait(timeout=0.5, should_stop=stop.is_set):
            if stop.is_set():
                state = "stopped"
                break
            if any(s.state == "failed" for s in sessions):
                state = "failed"
                break
            if progress and time.monotonic() - last_print >= 2.0:
                snap = recording.monitors[first.inst_id].snapshot()
                avg = snap["avg_w"]
                print(f"  {snap['duration_s']:8.1f} s  {snap['samples']:>10d} samples  "
                      f"avg {avg if avg is not None else float('nan'):.4g} W", file=sys.stderr)
                last_print = time.monotonic()
        if recording.error:
            state = "failed"
    finally:
        for session in sessions:
            session.stop()
        summary = recording.finish(state)
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
                print(f"  {inst_id:<10} {snap['samples']} samples, average "
                      f"{avg if avg is not None else float('nan'):.6g} W, energy {snap['energy_j']:.6g} J")
    if state == "failed":
        error = recording.error or next((s.error for s in sessions if s.error), None)
        print(f"station: the run failed: {error}", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.INTERRUPTED if state == "stopped" else ExitCode.OK
