"""Duration: the workload of a testing run lasts at least ``min_testing_s`` (MLPerf Inference: 600 s).

Live: time still needed while the workload runs, failed when it ends too early. Final: the
length of each testing run's workload window.
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, PENDING, Check
from station.measurement.checks.final import Review
from station.measurement.checks.live import LiveRule
from station.rules import ParamSpec

PARAMETERS = {"min_testing_s": ParamSpec("float", 0.0)}


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        self.need = live.rules.get("min_testing_s")
        self.active = live.testing and bool(self.need)
        if self.active:
            live.set("duration", PENDING, f"the workload must run at least {self.need:g} s", "min_testing_s")

    def tick(self, snapshots: list[dict], now: float) -> None:
        live = self.live
        if not self.active or live.workload_started is None:
            return
        need = float(self.need)
        end = live.workload_ended if live.workload_ended is not None else now
        ran = end - live.workload_started
        if ran >= need:
            live.set("duration", PASS, f"the workload ran {ran:.0f} s (minimum {need:g} s)", "min_testing_s")
        elif live.workload_ended is not None:
            live.set("duration", FAIL, f"the workload ended after {ran:.1f} s, shorter than the minimum {need:g} s: "
                     "the run is too short to be valid — make the benchmark run longer", "min_testing_s")
        else:
            live.set("duration", PENDING, f"{need - ran:.0f} s to go until the minimum duration of {need:g} s",
                     "min_testing_s")


def final(review: Review) -> list[Check]:
    need = review.rules.get("min_testing_s")
    if need is None:
        return []
    return [review.check(f"{run.name}: duration", PASS if run.window.duration_s >= need else FAIL,
                         f"workload window {run.window.duration_s:.3f} s, minimum {need:g} s", "min_testing_s")
            for run in review.testing if run.window is not None]
