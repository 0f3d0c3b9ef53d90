"""The ``station`` command: the window by default, and headless subcommands.

    station [--demo | --smoke | --kiosk]   the window, the self-test, the kiosk (station.commands.window)
    station run --instrument NAME ...      record a run headless and print its summary
    station recover [DIR] [--json]         restore an interrupted run (all of them without DIR)
    station instruments [--json]           list drivers and the resources that can be found
    station measure ...                    the guided MLPerf Power procedure, headless
    station serve ...                      the MLCommons power director (protocol v3)
    station export SESSION                 an audited bundle of a session
    station verify PATH                    check a bundle or a published MLPerf power result
    station training --perf-log F ...      MLPerf Training power: every node over a run, MLLOG node files

Every subcommand is a module in station/commands with ``add_parser(subparsers)`` (which sets
``func=run`` on its parser) and ``run(args) -> ExitCode``; instruments are given the same way
in each (station.commands.grammar). Exit codes (:class:`ExitCode`): 0 done, 1 failed or not
valid, 2 bad arguments or settings, 130 stopped by the operator (what was recorded is kept).
"""

from __future__ import annotations

import importlib
import os
import sys

import station
from station.commands.grammar import CommandParser, ExitCode, UsageError

# The subcommands, in the order ``station --help`` lists them. Add one by naming its module here.
COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "recover",
    "instruments",
    "measure",
    "serve",
    "export",
    "verify",
    "tiny",
    "training",
)


def build_parser() -> CommandParser:
    from station.commands import window

    p = CommandParser(prog="station", description="Measurement station for the energy efficiency of ML systems.")
    p.add_argument("--version", action="version", version=f"station {station.__version__}")
    window.add_options(p)
    sub = p.add_subparsers(dest="command", parser_class=CommandParser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"station.commands.{name}").add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        where = f"station {args.command}" if args.command else "station"
        print(f"{where}: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # ``station ... | head``: the reader has gone. Nothing more can be said on stdout, and
        # Python's final flush would fail again, so stdout is pointed at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return ExitCode.BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
