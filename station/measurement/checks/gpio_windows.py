"""GPIO windows (MLPerf Tiny energy mode): exactly ``windows`` windows between GPIO timestamps,
each at least ``min_window_s`` long, and a known ``inferences_per_window`` to divide by.

Live: GPIO edges counted as the energy monitor reports them. Final: the ``gpio`` windows of each
testing run.
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, PENDING, Check
from station.measurement.checks.final import Review, ReviewedRun
from station.measurement.checks.live import LiveRule
from station.procedure.windows import Window
from station.rules import ParamSpec

PARAMETERS = {
    "windows": ParamSpec("int", 1),
    "min_window_s": ParamSpec("float", 0.0),
    "inferences_per_window": ParamSpec("int", 1),
}


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        self.need = live.rules.get("windows")
        self.edges = 0
        if live.testing and self.need is not None:
            live.set("gpio_windows", PENDING, f"no GPIO timestamp yet; {self.need} windows needed", "windows")

    def on_event(self, kind: str, t: float | None, detail: dict) -> None:
        if kind != "gpio" or not self.live.testing or self.need is None:
            return
        self.edges += 1
        self.live.set("gpio_windows", PENDING, f"{self.edges} GPIO timestamps so far; {self.need} windows needed "
                      "(counted at the review)", "windows", t)


def gpio_windows(run: ReviewedRun) -> list[Window]:
    """The run's windows between GPIO timestamps."""
    return [Window.from_dict(w) for w in run.info.get("windows", []) if w["source"] == "gpio"]


def final(review: Review) -> list[Check]:
    out: list[Check] = []
    for run in review.testing:
        if run.window is not None:
            out.extend(_run_checks(review, run))
    return out


def _run_checks(review: Review, run: ReviewedRun) -> list[Check]:
    r, out = review.rules, []
    wins = gpio_windows(run)
    need = r.get("windows")
    if need is not None:
        out.append(review.check(f"{run.name}: GPIO windows", PASS if len(wins) == need else FAIL,
                                f"{len(wins)} windows between GPIO timestamps, exactly {need} needed", "windows"))
    if "inferences_per_window" in r.parameters and r.get("inferences_per_window") is None:
        out.append(review.check(f"{run.name}: inference count", FAIL, "the number of inferences per window is not "
                                "known (--set inferences_per_window=N)", "inferences_per_window"))
    least = r.get("min_window_s")
    if least is not None and wins:
        short = [f"{w.label} {w.duration_s:.3f} s" for w in wins if w.duration_s < least]
        out.append(review.check(f"{run.name}: window length", FAIL if short else PASS,
                                ("below the minimum: " + ", ".join(short)) if short else
                                f"every window lasts at least {least:g} s", "min_window_s"))
    return out
