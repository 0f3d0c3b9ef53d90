"""Overrange: readings above the range in force are lost; with ``overrange_allowed`` false
(MLPerf Inference) one inside the testing window makes the run invalid.

Live: the first overrange of a stretch (a failure while testing when not allowed, a warning
otherwise, expected while ranging as auto ranges settle). Final: overrange samples inside each
testing run's window, per instrument.
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, WARN, Check
from station.measurement.checks.final import Review
from station.measurement.checks.live import LiveRule, clock_text
from station.rules import ParamSpec

PARAMETERS = {"overrange_allowed": ParamSpec("bool")}


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        live.set("overrange", PASS, "no reading above the range so far", "overrange_allowed")

    def on_event(self, kind: str, t: float | None, detail: dict) -> None:
        if kind != "overrange" or detail.get("state") != "begin":
            return
        live, inst, at = self.live, detail.get("instrument", ""), clock_text(t)
        if live.testing and not live.rules.get("overrange_allowed", True):
            live.set("overrange", FAIL, f"{inst} overranged at {at}: readings above the range are lost. Inside the "
                     "workload window this makes the run invalid — stop, choose a larger range and repeat testing",
                     "overrange_allowed", t)
        elif live.testing:
            live.set("overrange", WARN, f"{inst} overranged at {at}: those readings are lost and do not enter the "
                     "average", "overrange_allowed", t)
        else:
            live.set("overrange", WARN, f"{inst} overranged at {at} while ranging: expected while auto ranges "
                     "settle; the ranging maximum may be underestimated if it lasts", "overrange_allowed", t)


def final(review: Review) -> list[Check]:
    allowed = review.rules.get("overrange_allowed", True)
    out = []
    for run in review.testing:
        for inst, s in run.per.items():
            name = f"{run.name} {inst}: overrange"
            if s["overrange_samples"]:
                out.append(review.check(
                    name, WARN if allowed else FAIL,
                    f"{s['overrange_samples']} overrange samples inside the window, the first at "
                    f"{s['first_overrange']:.3f}: the range in force was too small for the load"
                    + ("" if allowed else "; the run is invalid — choose a larger range and repeat testing"),
                    "overrange_allowed"))
            else:
                out.append(review.check(name, PASS, "no overrange sample inside the window", "overrange_allowed"))
    return out
