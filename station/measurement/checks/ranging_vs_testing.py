"""Ranging vs testing: the testing average may not be more than ``max_testing_below_ranging``
(5 %) below the ranging average, and a testing window much shorter than the ranging one
(``warn_testing_shorter_than_ranging``) is a warning, as the compliance checker's phases check.

Live (testing, when the procedure gives the ranging average): the average since the workload
started, every instrument summed, against the ranging run's average over its own workload (both
from the monitors' running sums, see :func:`station.core.monitor.average_since`, so the idle settle time around the
workload counts in neither); only a warning until the final form. Final: the averages strictly
inside the two workload windows.
"""

from __future__ import annotations

from station.core.monitor import average_since, power_sums
from station.core.samples import good_mask
from station.measurement.checks import FAIL, PASS, PENDING, WARN, Check
from station.measurement.checks.final import Review, window_average
from station.measurement.checks.live import LiveRule
from station.rules import ParamSpec

PARAMETERS = {
    "max_testing_below_ranging": ParamSpec("float", 0.0, 1.0),
    "warn_testing_shorter_than_ranging": ParamSpec("float", 0.0, 1.0),
}
PARAM = "max_testing_below_ranging"
SETTLE_S = 5.0  # seconds of workload before the live form compares averages


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        self.limit = live.rules.get(PARAM)
        self.active = live.testing and self.limit is not None and bool(live.ranging_average_w)
        if self.active:
            live.set("testing_vs_ranging", PENDING, f"compared with the ranging average {live.ranging_average_w:.6g} W "
                     "once the workload runs", PARAM)
        self.base: list[tuple[float, int]] | None = None

    def tick(self, snapshots: list[dict], now: float) -> None:
        live = self.live
        if not self.active or live.workload_started is None or live.workload_ended is not None:
            return  # before and after the workload the analyzer sees idle power: not what is compared
        if self.base is None:  # the first look after the workload began: count from here
            self.base = power_sums(snapshots)
            return
        avg = average_since(self.base, snapshots)
        if avg is None or now - live.workload_started < SETTLE_S:
            return  # the first seconds of a workload ramp up: too early to say anything
        delta = avg / live.ranging_average_w - 1.0
        text = (f"average while the workload runs {avg:.6g} W vs ranging {live.ranging_average_w:.6g} W: "
                f"{delta * 100:+.2f} % "
                f"(not more than {self.limit * 100:g} % below)")
        if delta > -self.limit:
            live.set("testing_vs_ranging", PASS, text, PARAM)
        else:
            live.set("testing_vs_ranging", WARN, text + "; if it stays so the run is invalid — is the workload the "
                     "same as while ranging?", PARAM)


def final(review: Review) -> list[Check]:
    r = review.rules
    limit = r.get(PARAM)
    ravg = ranging_average(review) if limit is not None else None
    if ravg is None:
        return []
    rwin = review.ranging.window
    out = []
    for run in review.testing:
        if run.window is None or not run.total["average_w"]:
            continue
        tavg = run.total["average_w"]
        delta = tavg / ravg - 1.0
        out.append(review.check(f"{run.name}: testing vs ranging power", PASS if delta > -limit else FAIL,
                                f"testing average {tavg:.6g} W vs ranging {ravg:.6g} W: {delta * 100:+.2f} % "
                                f"(not more than {limit * 100:g} % below)", PARAM))
        frac = r.get("warn_testing_shorter_than_ranging")
        win = run.window
        if frac is not None and rwin.duration_s > 0 and (rwin.duration_s - win.duration_s) / rwin.duration_s > frac:
            out.append(review.check(f"{run.name}: testing vs ranging duration", WARN,
                                    f"testing window {win.duration_s:.1f} s is more than {frac * 100:g} % shorter "
                                    f"than the ranging window {rwin.duration_s:.1f} s",
                                    "warn_testing_shorter_than_ranging"))
    return out


def ranging_average(review: Review) -> float | None:
    """The ranging run's average power inside its workload window (from a source the rule set
    accepts): what testing is compared with. None without one."""
    ranging = review.ranging
    if ranging is None or ranging.window is None or not ranging.accepted:
        return None
    total = ranging.data.total
    avg, n = window_average(total["t"], total["w"], ranging.window.begin, ranging.window.end, good_mask(total))
    return avg if n else None
