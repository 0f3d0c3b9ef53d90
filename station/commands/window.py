"""``station`` without a subcommand: the window, the demo, the self-test or the kiosk.

    station [--demo]                       open the station window (--demo: simulated analyzer)
    station --open PATH                    ... showing a result, or every result of a tree (dir or zip)
    station --smoke                        self-test (window offscreen, stream, record), exit 0 if all worked
    station --kiosk [--kiosk-config FILE]  unattended demo stand (station.kiosk)

These are options of ``station`` itself, so this module adds them to the top-level parser
(:func:`add_options`) instead of a subparser; :func:`run` is the top-level parser's command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from station.commands.grammar import ExitCode


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true", help="open the window connected to the simulated analyzer")
    parser.add_argument("--smoke", action="store_true", help="self-test: window offscreen on the simulated "
                        "analyzer, stream, record; exit 0 only if every step worked")
    parser.add_argument("--kiosk", action="store_true", help="unattended demo stand (fullscreen, PIN to leave)")
    parser.add_argument("--kiosk-config", type=Path, metavar="FILE", help="kiosk settings (JSON or TOML)")
    parser.add_argument("--kiosk-demo", action="store_true", help="a kiosk demo stand: allow the built-in PIN")
    parser.add_argument("--kiosk-window", action="store_true", help=argparse.SUPPRESS)  # the supervisor's child
    parser.add_argument("--open", type=Path, metavar="PATH", dest="open_path",
                        help="open a result, or a results tree (directory or zip), in the window")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.smoke:
        from station.smoke import run_smoke

        return run_smoke()
    if args.kiosk or args.kiosk_window:
        from station.kiosk import run_kiosk

        return run_kiosk(args.kiosk_config, window=args.kiosk_window, demo=args.kiosk_demo)
    from station.commands.display import display_problem
    from station.commands.recover import recover_pending

    recover_pending(False)
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return ExitCode.FAILED
    try:
        from station.ui.app import run_app
    except ImportError as exc:
        print(f"station: the window cannot start ({exc}); headless commands still work "
              "(station run, recover, instruments)", file=sys.stderr)
        return ExitCode.FAILED
    return run_app(demo=args.demo, open_path=args.open_path)
