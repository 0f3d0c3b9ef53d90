"""``station training``: the MLPerf Training power procedure, headless.

    station training --perf-log result_<name>.txt --out DIR
                     --instrument prometheus --resource URL -o query=SELECTOR [--node-label LABEL]
                     [--instrument redfish --resource redfish://BMC ...] [--id ID ...]
                     [--measured-switch ID ...] [--switch NAME:MAX_W[:SHARE] ...]
                     [--conversion-eff X --measurement-type AC|DC] [--follow] [--margin S] [--json]

Records every node over the training run whose performance log is ``--perf-log``
(``run_start``..``run_stop``; with ``--follow`` the log is followed while the run goes on), writes
``DIR/power/result_<name>/node_<i>.txt`` and ``sw_<j>.txt``, and prints the energy as the official
summarizer computes it from those files, with the audit of ``station verify`` on them (1 Hz
sampling per node, duplicate timestamps, windows covering the run, switches counted as 0 J,
naming). The performance log is copied to ``DIR`` (the submission layout) and the journal of the
recording is in ``DIR/station/result_<name>``. Exit 0 when the result was written and every
check passed, 1 when a check failed (the checks say why) or the run failed, 2 for bad arguments,
130 when stopped.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from station.commands.grammar import (
    GROUPS,
    ExitCode,
    UsageError,
    add_instrument_group,
    instrument_specs,
    positive_float,
)


def add_parser(sub) -> None:
    p = sub.add_parser("training", help="MLPerf Training power: every node over a training run, MLLOG node files")
    p.add_argument("--perf-log", type=Path, metavar="FILE",
                   help="the training run's performance log (result_<name>.txt, with run_start and run_stop)")
    p.add_argument("--out", type=Path, metavar="DIR", help="results folder: power/result_<name>/ is written in it")
    add_instrument_group(p, acquisition=("interval",))
    p.add_argument("--node-label", metavar="LABEL",
                   help="Prometheus series with the same value of this label are one node (e.g. instance, "
                        "Hostname); default: each series is a node")
    p.add_argument("--measured-switch", action="append", default=[], metavar="ID",
                   help="the instrument with this --id measures switches, not nodes (repeatable)")
    p.add_argument("--switch", action="append", default=[], metavar="NAME:MAX_W[:SHARE]",
                   help="an estimated switch: its maximum power and the share provisioned to the run (default 1)")
    p.add_argument("--conversion-eff", type=positive_float, metavar="X",
                   help="conversion efficiency written into every file (with --measurement-type)")
    p.add_argument("--measurement-type", choices=("AC", "DC"), help="where the readings were taken")
    p.add_argument("--follow", action="store_true",
                   help="the training run is going on: follow the performance log and record live")
    p.add_argument("--margin", type=float, default=2.0, metavar="S",
                   help="seconds recorded before run_start and after run_stop (default 2)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def parse_switch(text: str):
    """``NAME:MAX_W[:SHARE]`` -> EstimatedSwitch; UsageError otherwise."""
    from station.training.procedure import EstimatedSwitch

    parts = text.split(":")
    try:
        if len(parts) not in (2, 3) or not parts[0]:
            raise ValueError
        max_w = float(parts[1])
        share = float(parts[2]) if len(parts) == 3 else 1.0
    except ValueError:
        raise UsageError(f"--switch {text!r}: give NAME:MAX_W[:SHARE], e.g. spine0:1500:0.25") from None
    if max_w < 0 or not 0 < share <= 1:
        raise UsageError(f"--switch {text!r}: the maximum power is >= 0 W and the share is in (0, 1]")
    return EstimatedSwitch(parts[0], max_w, share)


def run(args: argparse.Namespace) -> int:
    from station.training.procedure import TrainingPlan, TrainingRunError, run_training

    missing = [flag for flag, value in (("--perf-log", args.perf_log), ("--out", args.out)) if value is None]
    if missing:
        raise UsageError(f"give {', '.join(missing)} (see station training --help)")
    if not args.follow and not args.perf_log.is_file():
        raise UsageError(f"--perf-log {args.perf_log}: no such file (give --follow for a run that has not begun)")
    if (args.conversion_eff is None) != (args.measurement_type is None):
        raise UsageError("--conversion-eff and --measurement-type go together")
    if args.margin < 0:
        raise UsageError("--margin is 0 or more seconds")
    groups = getattr(args, GROUPS, None)
    specs = instrument_specs(args, default_driver="prometheus") if groups else []
    if not specs:
        raise UsageError("give the nodes' instruments, e.g. --instrument prometheus --resource http://HOST:9090 "
                         "-o query=DCGM_FI_DEV_POWER_USAGE")
    plan = TrainingPlan(perf_log=args.perf_log, instruments=specs, out=args.out, node_label=args.node_label,
                        measured_switches=tuple(args.measured_switch),
                        estimated_switches=tuple(parse_switch(s) for s in args.switch),
                        conversion_eff=args.conversion_eff, measurement_type=args.measurement_type,
                        follow=args.follow, margin_s=args.margin)
    cancel = threading.Event()

    def _on_signal(signum, frame):
        cancel.set()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    try:
        result = run_training(plan, say, cancel)
    except TrainingRunError as exc:
        print(f"station training: {exc}", file=sys.stderr)
        return ExitCode.INTERRUPTED if cancel.is_set() else ExitCode.FAILED
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, sort_keys=True, default=str))
    else:
        metric = summary["metric"]
        print(f"{summary['power_dir']}: {summary.get('headline', '')}; {len(summary['nodes'])} node(s), "
              f"{len(summary['switches'])} switch(es), time to train {summary['time_to_train_s']:.3f} s")
        energy = "not computable" if metric is None else f"{metric['value']:.6g} J"
        print(f"  energy (official summarizer): {energy}")
        print(f"  energy (station's records):   {summary['energy_recorded_j']:.6g} J")
        for c in summary["checks"]:
            print(f"  [{c['status']:<4}] {c['name']}: {c['evidence']}")
    return ExitCode.OK if result.valid else ExitCode.FAILED
