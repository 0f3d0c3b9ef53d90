"""The workload window: when the benchmark really ran, and that the analyzers measured all of it.

Live: whether the workload has started and how long it has run. Final, for every run: the
workload command's exit status, the window from the first source the rule set accepts
(``window_sources``), and with ``loadgen_window_inside`` that the window lies strictly inside
the measured span (as the MLCommons compliance checker's phases check wants).
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, PENDING, Check
from station.measurement.checks.final import Review, ReviewedRun
from station.measurement.checks.live import LiveRule, clock_text
from station.rules import ParamSpec

PARAMETERS = {"loadgen_window_inside": ParamSpec("bool")}


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        live.set("workload", PENDING, "the workload has not started yet", None)

    def tick(self, snapshots: list[dict], now: float) -> None:
        live = self.live
        if live.workload_started is None:
            return
        if live.workload_ended is None:
            live.set("workload", PASS, f"the workload runs since {clock_text(live.workload_started)}", None)
        else:
            live.set("workload", PASS, f"the workload ran from {clock_text(live.workload_started)} to "
                     f"{clock_text(live.workload_ended)} "
                     f"({live.workload_ended - live.workload_started:.1f} s)", None)


def final(review: Review) -> list[Check]:
    out: list[Check] = []
    for run in review.runs:
        out.extend(_run_checks(review, run))
    return out


def _run_checks(review: Review, run: ReviewedRun) -> list[Check]:
    out = []
    wl = run.info.get("workload")
    if wl:
        status = wl.get("exit_status")
        if status == 0:
            out.append(review.check(f"{run.name}: workload", PASS, f"{wl['command']!r} exited with status 0 after "
                                    f"{wl['end'] - wl['begin']:.3f} s"))
        else:
            out.append(review.check(f"{run.name}: workload", FAIL, f"{wl['command']!r} ended with status {status}; "
                                    f"its output is {run.info['dir']}/{wl.get('output')}"))
    win = run.window
    if not run.accepted:
        have = ", ".join(w["source"] for w in run.info.get("windows", [])) or "none"
        lg = (run.info.get("loadgen") or {}).get("error")
        out.append(review.check(
            f"{run.name}: workload window", FAIL,
            f"no workload window from {' or '.join(review.rules.window_sources)} (found: {have})"
            + (f"; LoadGen: {lg}" if lg else "")
            + (f"; the metrics below use the {win.source} window, for information only" if win else "")))
        return out
    out.append(review.check(f"{run.name}: workload window", PASS, f"{win.source}: {win.label}, "
                            f"{win.duration_s:.3f} s"))
    meas = run.data.measured
    if review.rules.get("loadgen_window_inside") and meas is not None:
        inside = meas[0] < win.begin and win.end < meas[1]
        out.append(review.check(
            f"{run.name}: window inside measurement", PASS if inside else FAIL,
            f"window {win.begin:.3f}..{win.end:.3f}, measured {meas[0]:.3f}..{meas[1]:.3f} (UTC seconds)"
            + ("" if inside else ": part of the workload was not measured"), "loadgen_window_inside"))
    return out
