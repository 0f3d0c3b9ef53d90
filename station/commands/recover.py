"""``station recover [DIR] [--json]``: restore an interrupted run (all of them without DIR)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from station.commands.grammar import ExitCode, UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("recover", help="restore an interrupted run and print its summary")
    p.add_argument("dir", type=Path, nargs="?", help="run directory (default: every interrupted run)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def recover_pending(quiet: bool) -> None:
    """Recover every interrupted run the index knows (each start of a recording or the window does)."""
    from station.core.recovery import recover_interrupted

    for s in recover_interrupted():
        if not quiet:
            if s.get("state") == "unrecoverable":
                print(f"station: could not recover {s['run_dir']}: {s['error']}", file=sys.stderr)
            else:
                print(f"station: recovered interrupted run {s['run_dir']} ({s['samples']} samples)",
                      file=sys.stderr)


def run(args: argparse.Namespace) -> ExitCode:
    from station.core.journal import JournalError
    from station.core.recovery import recover, recover_interrupted
    from station.core.summary import format_summary

    if args.dir is None:
        summaries = recover_interrupted()
        if args.json:
            print(json.dumps(summaries, sort_keys=True))
        elif not summaries:
            print("no interrupted runs")
        for s in summaries if not args.json else []:
            print(format_summary(s) if s.get("state") != "unrecoverable" else f"{s['run_dir']}: {s['error']}")
        return ExitCode.OK
    if not args.dir.is_dir():
        raise UsageError(f"{args.dir} is not a directory")
    try:
        summary = recover(args.dir)
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(summary, sort_keys=True) if args.json else format_summary(summary))
    return ExitCode.OK
