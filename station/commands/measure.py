"""``station measure``: the guided MLPerf Power procedure, headless.

    station measure --instrument sim,profile=training --rules mlperf-inference \\
        --workload "./run_benchmark.sh" --out sessions/resnet-offline \\
        --operator Ada --sut "test box" --benchmark resnet50 --scenario Offline --yes

Setup, ranging, range selection, testing and review run one after another; each step's
instructions and results are printed. Analyzers are given as in every command
(``--instrument NAME [--resource R] [-o key=value ...]``, repeated for several analyzers,
summed; see station.commands.grammar), or in the compact ``DRIVER[,key=value...]`` form with
``resource=`` and ``id=`` keys. The rule set fixes the update interval; ranging fixes the ranges. ``--set name=value`` overrides a rule (a "short" rehearsal; recorded and
reported). ``--range-override [ID=]V,A`` replaces the proposed testing ranges (audited).
The last verdict line has the same words as ``station verify``, the report and the window
(``VALID``, ``VALID, NOT COMPLIANT: why``, ``NOT VALID: failed checks``); a session without
``--operator`` or ``--sut`` is not compliant.
Exit status: 0 the review says valid, 1 not valid or a step failed, 2 bad usage, 130 stopped.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from station.commands.grammar import ExitCode, UsageError, add_instrument_group, check_specs, instrument_specs


def add_parser(sub) -> None:
    p = sub.add_parser("measure", help="guided measurement: ranging, range selection, testing, review")
    add_instrument_group(p, acquisition=("crest_factor", "mode"))
    p.add_argument("--rules", default="mlperf-inference", help="rule set name or rule file (default mlperf-inference)")
    p.add_argument("--workload", required=True, help="shell command that runs the benchmark once")
    p.add_argument("--loadgen-logs", type=Path, help="directory where LoadGen writes its logs "
                   "(default: one the station gives the workload in $STATION_LOADGEN_DIR)")
    p.add_argument("--out", type=Path, required=True, help="session directory to create")
    p.add_argument("--operator", default="", help="who runs the measurement (without it the result is "
                   "not compliant: the verdict says the operator was not given)")
    p.add_argument("--sut", default="", help="description of the system under test (without it the result "
                   "is not compliant)")
    p.add_argument("--benchmark", default="", help="benchmark, e.g. resnet50")
    p.add_argument("--scenario", default="Offline",
                   help="Offline, Server, Interactive, SingleStream or MultiStream (default Offline)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override a rule parameter, e.g. min_testing_s=5 (recorded; not compliant)")
    p.add_argument("--range-override", action="append", default=[], metavar="[ID=]V,A",
                   help="use these testing ranges instead of the proposal (audited)")
    p.add_argument("--override-reason", default="", help="why the ranges were overridden (audit log)")
    p.add_argument("--yes", action="store_true", help="accept the proposed ranges without asking")
    p.add_argument("--testing-runs", type=int, default=1, help="number of testing runs (default 1)")
    p.add_argument("--ntp", help="NTP server host[:port] for the clock checks")
    p.add_argument("--clock-interval", type=float, default=60.0, help="seconds between clock checks while recording")
    p.add_argument("--json", action="store_true", help="print the review as one JSON object at the end")
    p.set_defaults(func=run)


def parse_override(text: str, ids: list[str]) -> dict[str, tuple[float, float]]:
    target, sep, pair = text.rpartition("=")
    chosen = [target] if sep else ids
    if sep and target not in ids:
        raise UsageError(f"--range-override {text!r}: no instrument {target!r} (instruments: {', '.join(ids)})")
    v, comma, a = pair.partition(",")
    try:
        volts, amps = float(v), float(a)
    except ValueError:
        raise UsageError(f"--range-override {text!r} must look like V,A (e.g. 300,5)") from None
    if not comma or volts <= 0 or amps <= 0:
        raise UsageError(f"--range-override {text!r} must look like V,A with positive numbers")
    return {i: (volts, amps) for i in chosen}


def _say(text: str = "") -> None:
    print(text, flush=True)


def _metric_text(metric: dict | None) -> str:
    if not metric:
        return "none"
    extra = ""
    if metric.get("kwh") is not None:
        extra = f" ({metric['kwh']:.6g} kWh)"
    return f"{metric['value']:.6g} {metric['unit']}{extra}"


def run(args: argparse.Namespace) -> ExitCode:
    from station import rules as rules_mod
    from station.measurement.checks.dropped_samples import gap_text
    from station.measurement.verdict import MISSING_OPERATOR, MISSING_SUT, review_verdict
    from station.procedure import Procedure, ProcedureError, SetupInfo, Step

    if args.testing_runs < 1:
        raise UsageError("--testing-runs must be at least 1")
    try:
        rules = rules_mod.load(args.rules, args.overrides or None)
    except rules_mod.RuleError as exc:
        raise UsageError(str(exc)) from None
    specs = instrument_specs(args)
    check_specs(specs, float(rules.get("sample_interval_s")))
    ids = [s.id or f"{s.driver}-{k + 1}" for k, s in enumerate(specs)]
    override: dict[str, tuple[float, float]] = {}
    for text in args.range_override:
        override.update(parse_override(text, ids))
    if args.ntp:
        from station.core.ntp import parse_server

        try:
            parse_server(args.ntp)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        raise UsageError(f"--out {args.out} exists and is not empty; choose a new session directory "
                         "(nothing was overwritten)")
    if args.loadgen_logs is not None and not args.loadgen_logs.is_dir():
        raise UsageError(f"--loadgen-logs {args.loadgen_logs} is not a directory")

    def on_event(kind: str, d: dict) -> None:
        if kind == "check" and d.get("status") in ("fail", "warn"):
            _say(f"  ! {d['run']}: {d['name']} {d['status'].upper()}: {d['evidence']}")
        elif kind == "workload_started":
            _say(f"  workload started: {d.get('command')}")
        elif kind == "workload_ended":
            _say(f"  workload ended with status {d.get('exit_status')}")
        elif kind == "clock_check":
            if d.get("error"):
                _say(f"  clock check: {d['error']}")
            else:
                _say(f"  clock offset {d['offset_s'] * 1000:+.1f} ms against {d['server']}")
        elif kind == "run_discarded":
            _say(f"  run {d['run']} does not count ({d['reason']}); kept in {d['moved_to']}")

    proc = Procedure(args.out, on_event=on_event)
    stopped = {"flag": False}

    def _on_signal(signum, frame):
        stopped["flag"] = True
        proc.cancel()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Left out, they are recorded as missing and the verdict says the result is not compliant.
        info = SetupInfo(args.operator.strip() or MISSING_OPERATOR, args.sut.strip() or MISSING_SUT,
                         args.benchmark or "unspecified benchmark", args.scenario, rules, specs,
                         workload=args.workload, loadgen_dir=str(args.loadgen_logs) if args.loadgen_logs else None,
                         ntp_server=args.ntp, clock_interval_s=args.clock_interval)

        def step(title: str, action) -> bool:
            g = proc.guidance()
            _say(f"== {title}")
            _say(f"  what to do: {g.do_now}")
            _say(f"  why: {g.why}")
            action()
            while not proc.wait(0.5):
                pass
            g = proc.guidance()
            if g.problem:
                _say(f"  PROBLEM: {g.problem}")
                if proc.session and not stopped["flag"]:
                    _say(f"  kept: {args.out} holds the session so far (a failed run under "
                         f"{args.out / 'discarded'}). station measure starts every session from setup: "
                         "fix the cause, then run the same command again with a new --out")
                return False
            return True

        if not step("setup", lambda: proc.start_setup(info)):
            return ExitCode.INTERRUPTED if stopped["flag"] else ExitCode.FAILED
        changed = ", ".join(f"{k}={v['to']}" for k, v in rules.overrides.items())
        _say(f"  session {args.out}: {len(specs)} analyzer(s), rules {rules.name}"
             + (f" with overrides {changed} (not compliant)" if changed else ""))
        if proc.step == Step.RANGING:
            if not step("ranging", proc.start_ranging):
                return ExitCode.INTERRUPTED if stopped["flag"] else ExitCode.FAILED
            _say("== range selection")
            g = proc.guidance()
            _say(f"  what to do: {g.do_now}")
            _say(f"  why: {g.why}")
            if override:
                reason = args.override_reason or f"--range-override given on the command line by {info.operator}"
                proc.select_ranges(override, reason)
                _say("  override: " + ", ".join(f"{i} {v:g} V / {a:g} A" for i, (v, a) in override.items())
                     + f" (reason: {reason})")
            elif args.yes:
                proc.select_ranges()
                _say("  confirmed (--yes)")
            elif sys.stdin.isatty():
                answer = input("  accept the proposed ranges? [y/N] ").strip().lower()
                if answer not in ("y", "yes"):
                    _say("  not accepted; run again with --range-override V,A and --override-reason")
                    proc.abandon("ranges not accepted")
                    return ExitCode.FAILED
                proc.select_ranges()
            else:
                proc.abandon("no operator to confirm the ranges")
                raise UsageError("range selection needs the operator: pass --yes to accept the proposal "
                                 "or --range-override V,A")
        elif override:
            proc.select_ranges(override, args.override_reason or f"--range-override given by {info.operator}")
        for n in range(args.testing_runs):
            if not step(f"testing run {n + 1}", proc.start_testing):
                return ExitCode.INTERRUPTED if stopped["flag"] else ExitCode.FAILED
        if not step("review", proc.start_review):
            return ExitCode.FAILED
        review = proc.review
        for c in review["checks"]:
            _say(f"  [{c['status']:>4}] {c['name']}: {c['evidence']}")
        for run_name, m in review["metrics"].items():
            if m.get("average_power_w") is not None:
                _say(f"  {run_name}: average {m['average_power_w']:.6g} W, peak {m['peak_power_w']:.6g} W, "
                     f"energy {m['energy_j']:.6g} J over {m['window_s']:.3f} s ({m['window_source']} window)")
            for inst, stats in m.get("instruments", {}).items():
                for gap in stats.get("channel_gaps", []):
                    _say(f"    {inst} gap: {gap_text(gap)}")
        _say(f"  metric: {_metric_text(review.get('metric'))}")
        verdict = review_verdict(review, rules.to_dict(), proc.session)
        _say(f"  verdict: {verdict.text}")
        proc.finish()
        _say(f"== done: export with  station export {args.out}")
        if args.json:
            print(json.dumps(review, sort_keys=True, default=str))
        return ExitCode.OK if verdict.valid else ExitCode.FAILED
    except ProcedureError as exc:
        raise UsageError(str(exc)) from None
    finally:
        proc.close()
        for s, h in old.items():
            signal.signal(s, h)
