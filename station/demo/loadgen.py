"""A LoadGen stand-in: runs for SECONDS and writes the logs LoadGen writes, with the power window.

    python -m station.demo.loadgen SECONDS [--scenario Offline] [--qps 100] [--queries N] [--dir DIR]
                                           [--lead-in 1] [--lead-out 1]

The logs go into ``--dir``, else ``$STATION_LOADGEN_DIR`` (which ``station measure`` gives every
workload), else the current directory:

- ``mlperf_log_detail.txt``: ``:::MLLOG {json}`` lines as LoadGen 5.x writes them (key, value,
  time_ms since the start, namespace, event_type, metadata), with the settings, ``power_begin`` /
  ``power_end`` (UTC, ``MM-DD-YYYY hh:mm:ss.fff``) around the SECONDS of "running", and the
  results: ``result_validity``, ``result_query_count``, the scenario's throughput or latency;
- ``mlperf_log_summary.txt``: the human summary (``Scenario :``, ``Result is : VALID``, the
  throughput line the power metric's efficiency is taken from, ...).

Like LoadGen, it works a while before ``power_begin`` (LoadGen loads its sample set) and after
``power_end`` (it writes its logs): ``--lead-in`` and ``--lead-out`` seconds, 1 s each by default,
so that the analyzer's samples at both ends of a short power window are all taken under load.
No inference happens: the process sleeps, and the SUT name and the version say it is the
station's stand-in, so such logs are never mistaken for a benchmark's. The summary is written
before the detail log, so a reader that sees the detail log finds both. A process stopped before
the end (SIGTERM, Ctrl-C) writes nothing, like a LoadGen run that did not complete.
Exit status: 0 done, 2 bad arguments or an output directory that cannot be written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

DETAIL = "mlperf_log_detail.txt"
SUMMARY = "mlperf_log_summary.txt"
SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream", "Interactive")
VERSION = "5.0.25 @ station-demo"  # LoadGen's version line shape; the commit part names the stand-in
SUT_NAME = "station demo (LoadGen stand-in, no inference)"
SAMPLES_PER_QUERY = {"MultiStream": 8}  # the others send one sample per query


def power_time(t: float) -> str:
    """UTC seconds as LoadGen writes power_begin / power_end: ``MM-DD-YYYY hh:mm:ss.fff``."""
    return datetime.fromtimestamp(t, UTC).strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]


class DetailLog:
    """``:::MLLOG`` lines in LoadGen's shape; time_ms counts from the stand-in's start."""

    def __init__(self, started_monotonic: float) -> None:
        self.started = started_monotonic
        self.lines: list[str] = []

    def add(self, key: str, value, *, error: bool = False) -> None:
        entry = {"key": key, "value": value, "time_ms": round((time.monotonic() - self.started) * 1000.0, 6),
                 "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME",
                 "metadata": {"is_error": error, "is_warning": False, "file": "station/demo/loadgen.py",
                              "line_no": 0, "pid": os.getpid(), "tid": threading.get_native_id()}}
        self.lines.append(":::MLLOG " + json.dumps(entry))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def results(scenario: str, seconds: float, qps: float, queries: int) -> tuple[dict, list[str]]:
    """The scenario's result keys for the detail log and its lines for the summary."""
    samples = queries * SAMPLES_PER_QUERY.get(scenario, 1)
    per_second = samples / seconds if seconds > 0 else 0.0
    latency_ns = int(1e9 / qps) if qps > 0 else 0
    if scenario == "Offline":
        return ({"result_samples_per_second": round(per_second, 4)},
                [f"Samples per second: {per_second:.2f}"])
    if scenario in ("Server", "Interactive"):
        return ({"result_scheduled_samples_per_sec": round(qps, 4),
                 "result_completed_samples_per_sec": round(per_second, 4)},
                [f"Completed samples per second    : {per_second:.2f}"])
    percentile = "90.0" if scenario == "SingleStream" else "99.0"
    return ({f"result_{percentile}0_percentile_latency_ns": latency_ns, "result_mean_latency_ns": latency_ns},
            [f"{percentile}th percentile latency (ns) : {latency_ns}"])


def summary_text(scenario: str, result_lines: list[str], seconds: float, queries: int) -> str:
    rule = "=" * 48
    return "\n".join([
        rule, "MLPerf Results Summary", rule,
        f"SUT name : {SUT_NAME}",
        f"Scenario : {scenario}",
        "Mode     : PerformanceOnly",
        *result_lines,
        "Result is : VALID",
        "  Min duration satisfied : Yes",
        "  Min queries satisfied : Yes",
        "  Early stopping satisfied: Yes",
        "", rule, "Test Parameters Used", rule,
        f"min_duration (ms): {int(seconds * 1000)}",
        f"min_query_count : {queries}",
        "", "This run is the station's LoadGen stand-in (station.demo.loadgen): no inference ran.",
        "", "No warnings encountered during test.", "", "No errors encountered during test.", "",
    ])


def work(seconds: float) -> None:
    """Pretend to work for ``seconds`` (on the monotonic clock: a clock step does not shorten it)."""
    end_at = time.monotonic() + seconds
    while (left := end_at - time.monotonic()) > 0:
        time.sleep(min(left, 1.0))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m station.demo.loadgen",
                                description="A LoadGen stand-in: runs SECONDS, then writes LoadGen's detail and "
                                            "summary logs with the power window (no inference runs).")
    p.add_argument("seconds", type=float, help="how long the 'benchmark' runs (power_begin to power_end)")
    p.add_argument("--scenario", default="Offline", choices=SCENARIOS, help="LoadGen scenario (default Offline)")
    p.add_argument("--qps", type=float, default=100.0, help="queries per second it pretends to serve (default 100)")
    p.add_argument("--queries", type=int, help="result_query_count (default: qps x seconds, at least 1)")
    p.add_argument("--dir", type=Path, help="where the logs go (default $STATION_LOADGEN_DIR, else the current "
                                            "directory)")
    p.add_argument("--lead-in", type=float, default=1.0, help="seconds of work before power_begin (default 1)")
    p.add_argument("--lead-out", type=float, default=1.0, help="seconds of work after power_end (default 1)")
    args = p.parse_args(argv)
    if not (args.seconds > 0 and args.seconds < 1e7):
        p.error(f"SECONDS must be a positive number of seconds, not {args.seconds:g}")
    if not args.qps > 0:
        p.error(f"--qps must be positive, not {args.qps:g}")
    if args.queries is not None and args.queries < 1:
        p.error(f"--queries must be at least 1, not {args.queries}")
    for name in ("lead_in", "lead_out"):
        if not 0 <= getattr(args, name) < 3600:
            p.error(f"--{name.replace('_', '-')} must be 0 to 3600 seconds, not {getattr(args, name):g}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    out = args.dir or Path(os.environ.get("STATION_LOADGEN_DIR") or ".")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"loadgen stand-in: cannot create the log directory {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    queries = args.queries or max(1, round(args.qps * args.seconds))
    log = DetailLog(started)
    log.add("loadgen_version", VERSION)
    log.add("test_datetime", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    log.add("sut_name", SUT_NAME)
    log.add("requested_scenario", args.scenario)
    log.add("requested_test_mode", "PerformanceOnly")
    log.add("requested_min_duration_ms", int(args.seconds * 1000))
    log.add("effective_scenario", args.scenario)
    log.add("effective_test_mode", "PerformanceOnly")
    log.add("effective_min_duration_ms", int(args.seconds * 1000))
    log.add("effective_target_qps", args.qps)
    log.add("effective_samples_per_query", SAMPLES_PER_QUERY.get(args.scenario, 1))
    print(f"loadgen stand-in: {args.scenario}, running {args.seconds:g} s (no inference), logs into "
          f"{out.resolve()}", flush=True)
    work(args.lead_in)
    begin = time.time()
    work(args.seconds)
    end = time.time()
    work(args.lead_out)
    log.add("power_begin", power_time(begin))
    log.add("power_end", power_time(end))
    keys, result_lines = results(args.scenario, end - begin, args.qps, queries)
    log.add("result_validity", "VALID")
    log.add("result_min_duration_met", True)
    log.add("result_min_queries_met", True)
    log.add("result_query_count", queries)
    for key, value in keys.items():
        log.add(key, value)
    log.add("num_errors", 0)
    try:
        (out / SUMMARY).write_text(summary_text(args.scenario, result_lines, args.seconds, queries), encoding="utf-8")
        (out / DETAIL).write_text(log.text(), encoding="utf-8")
    except OSError as exc:
        print(f"loadgen stand-in: cannot write the logs into {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"loadgen stand-in: done, {queries} queries; power_begin {power_time(begin)}, power_end "
          f"{power_time(end)} (UTC); {out / DETAIL}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
