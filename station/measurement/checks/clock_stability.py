"""Clock stability: the computer's clock must not step while a run records.

Sample times stay on the time base the run started with (station.core.clockwatch); event
times and the workload window come from a clock (this one's, or the SUT's for LoadGen) that a
step moves, so after one they no longer line up with the samples. A testing run with a jump is
not valid; while ranging it is a warning. Live: the recording's ``clock_jump`` events. Final: the
``clock_jump`` events in each run's journal. The source is ``max_clock_offset_s``: a step breaks
the one-clock-within-the-limit rule.
"""

from __future__ import annotations

from station.core.clockwatch import describe_clock_jumps
from station.measurement.checks import FAIL, PASS, WARN, Check
from station.measurement.checks.final import Review, ReviewedRun
from station.measurement.checks.live import LiveRule

PARAMETERS: dict = {}  # judged against max_clock_offset_s (station.measurement.checks.clock_offset)
PARAM = "max_clock_offset_s"


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        self.jumps = 0
        live.set("clock_stable", PASS, "the computer's clock has not jumped so far", PARAM)

    def on_event(self, kind: str, t: float | None, detail: dict) -> None:
        if kind != "clock_jump":
            return
        self.jumps += 1
        what = "the computer's clock jumped " + describe_clock_jumps([{"t": t, **detail}])[0]
        if self.jumps > 1:
            what += f"; {self.jumps} jumps in this run so far"
        if self.live.testing:
            self.live.set("clock_stable", FAIL, f"{what}. Power samples and LoadGen timestamps can no longer be "
                          "aligned: the samples keep the run's time base while times taken from the clock after the "
                          "jump are off by it, so the average may cover the wrong samples. The run is invalid — keep "
                          "the clock from stepping (let NTP slew it, do not set it by hand) and repeat testing",
                          PARAM, t)
        else:
            self.live.set("clock_stable", WARN, f"{what} while ranging: the ranging window and average may be taken "
                          "over the wrong samples, which the testing run is compared with; repeat ranging if its "
                          "average looks off", PARAM, t)


def final(review: Review) -> list[Check]:
    return [_run_check(review, run) for run in review.runs]


def _run_check(review: Review, run: ReviewedRun) -> Check:
    name = f"{run.name}: clock_stable"
    events = review.events(run)
    jumps = [e for e in events if e.get("kind") == "clock_jump" and e.get("jump_s") is not None]
    if not jumps:
        return review.check(name, PASS, "the computer's clock did not jump while the run recorded (no clock_jump "
                            "in its journal): samples, events and the workload window share one time base", PARAM)
    start = next((e.get("t") for e in events if e.get("kind") == "recording_started"), None)
    told = "; ".join(describe_clock_jumps(jumps, start))
    count = f"{len(jumps)} jumps" if len(jumps) > 1 else "one jump"
    if run.kind == "ranging":
        return review.check(name, WARN, f"the computer's clock jumped while ranging ({count}): {told}. The ranging "
                            "window and its average, which the testing run is compared with, may be taken over the "
                            "wrong samples; repeat ranging if that average looks off", PARAM)
    return review.check(name, FAIL, f"the computer's clock jumped during the run ({count}): {told}. Power samples "
                        "and LoadGen timestamps can no longer be aligned: the samples stay on the time base the run "
                        "started with, but the workload window and events stamped by the clock after the jump are "
                        "off by it, so the window may select the wrong samples and the average cannot be trusted. "
                        "The run is not valid — keep the clock from stepping during runs (let NTP slew it, nobody "
                        "sets the time, no suspend) and repeat testing", PARAM)
