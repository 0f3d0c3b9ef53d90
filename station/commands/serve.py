"""``station serve``: the station as the director of the MLCommons power workflow.

    station serve --instrument sim --port 4950 --out DIR [--settle 10] [--resource R -o key=value ...]
                  [--instrument NAME ... (a second analyzer, and so on)]

Listens for the SUT-side client of mlcommons/power-dev (protocol v3) and runs ranging and
testing on the analyzer (or on each of several, as power-dev's ``analyzerCount``) for it; each session's files go to ``DIR/<session id>/`` (see
:mod:`station.director.session`). Runs until Ctrl-C / SIGTERM (exit 0) or a client's ``stop``.
Exit 1 when the port cannot be opened or the analyzer cannot be reached, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
from pathlib import Path

from station.commands.grammar import (
    ExitCode,
    UsageError,
    add_instrument_group,
    connect_or_exit_code,
    instrument_specs,
    open_spec,
)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port {text!r} is not a number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 0-65535")
    return value


def _settle(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"settle time {text!r} must be 0 or more seconds")
    return value


def add_parser(sub) -> None:
    from station.director.protocol import DEFAULT_PORT

    p = sub.add_parser("serve", help="act as the MLCommons power director (protocol v3) for the SUT's client")
    # The director chooses the ranges itself (auto for ranging, the proposal for testing).
    add_instrument_group(p, acquisition=("interval", "crest_factor", "mode"))
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"TCP port (default {DEFAULT_PORT}; 0 = any free port, printed at start)")
    p.add_argument("--out", type=Path, required=True, help="directory that receives one directory per session")
    p.add_argument("--settle", type=_settle, default=10.0,
                   help="seconds measured before Go and after the workload, as the official server waits "
                        "(default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> ExitCode:
    from station.director import Analyzer, DirectorServer
    from station.measurement.instruments import SpecError, instrument_ids
    from station.mlperf.ptd_files import server_log_formatter

    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a directory")
    specs = instrument_specs(args)
    try:
        ids = instrument_ids(specs)
    except SpecError as exc:
        raise UsageError(str(exc)) from None
    # several --instrument: one analyzer each, numbered in that order (power-dev's analyzerCount)
    insts = [open_spec(spec, ident) for spec, ident in zip(specs, ids, strict=True)]
    server = DirectorServer([Analyzer(x, spec.resource) for x, spec in zip(insts, specs, strict=True)], args.out,
                            host=args.host, port=args.port, settle_s=args.settle, command=["station", *sys.argv[1:]])
    try:
        host, port = server.bind()
    except OSError as exc:
        print(f"station: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
              + (" (another director or program uses this port; stop it or choose --port)"
                 if getattr(exc, "errno", None) in (98, 48, 10048) else ""), file=sys.stderr)
        return ExitCode.FAILED
    for x, spec in zip(insts, specs, strict=True):
        failed = connect_or_exit_code(x, spec.driver)
        if failed is not None:
            return failed

    logger = logging.getLogger("station.director")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(server_log_formatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def _on_signal(signum, frame):
        server.shutdown()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    names = "; ".join(f"analyzer {i + 1} {x.identity.vendor} {x.identity.model} serial {x.identity.serial}"
                      if len(insts) > 1 else
                      f"analyzer {x.identity.vendor} {x.identity.model} serial {x.identity.serial}"
                      for i, x in enumerate(insts))
    print(f"station: director listening on {host}:{port} (MLCommons power protocol v3); {names}; sessions go to "
          f"{args.out}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for x in insts:
            try:
                x.close()
            except Exception:
                pass
        logger.removeHandler(handler)
    print(f"station: director stopped after {len(server.sessions)} session(s)", file=sys.stderr)
    return ExitCode.OK
