"""Instruments delivering: every analyzer sends samples, often enough, for the whole window.

Live: an instrument that disconnects, reports an error or stalls leaves a hole in the data.
Final, per testing run: valid samples of the system total inside the window; ``min_samples``
and ``max_sample_interval_s`` (MLPerf Training); with ``sum_nodes`` every node (instrument) has
valid samples inside the window, since the energy is summed over all of them.
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, Check
from station.measurement.checks.final import Review, ReviewedRun
from station.measurement.checks.live import LiveRule
from station.rules import ParamSpec

PARAMETERS = {
    "min_samples": ParamSpec("int", 0),
    "max_sample_interval_s": ParamSpec("float", 1e-6, 3600.0),
    "sum_nodes": ParamSpec("bool"),
}


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        live.set("instrument", PASS, "every instrument is delivering data", None)

    def on_event(self, kind: str, t: float | None, detail: dict) -> None:
        if kind in ("disconnected", "error", "stall"):
            msg = detail.get("message") or kind
            self.live.set("instrument", FAIL, f"{detail.get('instrument', '')}: {msg}. The data has a hole; a run "
                          "with a hole in the workload window is not valid — repeat the step when the instrument "
                          "is back", None, t)


def final(review: Review) -> list[Check]:
    out: list[Check] = []
    for run in review.testing:
        if run.window is not None:
            out.extend(_run_checks(review, run))
    return out


def _run_checks(review: Review, run: ReviewedRun) -> list[Check]:
    r, name, total = review.rules, run.name, run.total
    out = []
    if total["valid_samples"] == 0:
        out.append(review.check(f"{name}: samples", FAIL, "no valid power sample falls inside the workload window"))
    else:
        out.append(review.check(f"{name}: samples", PASS, f"{total['valid_samples']} valid samples inside the "
                                f"window (of {total['samples']}); average {total['average_w']:.6g} W"))
    if r.get("min_samples") is not None:
        ok = total["valid_samples"] >= r.get("min_samples")
        out.append(review.check(f"{name}: minimum samples", PASS if ok else FAIL,
                                f"{total['valid_samples']} samples, at least {r.get('min_samples')} needed",
                                "min_samples"))
    if r.get("max_sample_interval_s") is not None:
        worst = max(dt for _, dt in run.data.streams.values())
        ok = worst <= r.get("max_sample_interval_s") * (1 + 1e-9)
        out.append(review.check(f"{name}: sample rate", PASS if ok else FAIL,
                                f"slowest update interval {worst:g} s (at most {r.get('max_sample_interval_s'):g} s)",
                                "max_sample_interval_s"))
    if r.get("sum_nodes"):
        silent = [i for i, s in run.per.items() if s["average_w"] is None]
        if silent:
            out.append(review.check(f"{name}: every node measured", FAIL,
                                    f"{', '.join(silent)} has no valid sample inside the window; every node of "
                                    "the run must be measured", "sum_nodes"))
        else:
            eff = r.get("conversion_efficiency", 1.0)
            inter = (r.get("interconnect_power_w", 0.0) * r.get("interconnect_provisioning", 1.0)
                     * run.window.duration_s * eff)
            out.append(review.check(f"{name}: every node measured", PASS, f"{len(run.per)} nodes summed; "
                                    f"interconnect estimate {inter:.6g} J; AC/DC efficiency {eff:g}", "sum_nodes"))
    return out
