"""Clock offset: this computer's clock within ``max_clock_offset_s`` of NTP (MLPerf: 400 ms), so
the workload window (stamped by the SUT's clock) and the samples line up.

Live: each clock check against NTP during the run. Final: the largest offset over every
completed run's clock checks; a failed check fails, none measured is a warning.
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, PENDING, WARN, Check
from station.measurement.checks.final import Review
from station.measurement.checks.live import LiveRule
from station.rules import ParamSpec

PARAMETERS = {"max_clock_offset_s": ParamSpec("float", 0.0)}
PARAM = "max_clock_offset_s"


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        self.limit = live.rules.get(PARAM)
        if self.limit is not None:
            live.set("clock", PENDING, "clock offset not measured yet", PARAM)

    def clock(self, offset_s: float | None, error: str | None, server: str) -> None:
        limit = self.limit
        if limit is None:
            return
        if error is not None:
            self.live.set("clock", FAIL, f"the clock could not be checked: {error}. Without it the workload "
                          "window cannot be trusted against the samples", PARAM)
        elif abs(offset_s) > limit:
            self.live.set("clock", FAIL, f"this computer's clock is {offset_s * 1000:+.0f} ms off {server}, beyond "
                          f"{limit * 1000:.0f} ms: the workload window and the samples may not line up, the run is "
                          "invalid — synchronise the clock (NTP) and repeat", PARAM)
        else:
            self.live.set("clock", PASS, f"clock offset {offset_s * 1000:+.1f} ms against {server} "
                          f"(limit {limit * 1000:.0f} ms)", PARAM)


def final(review: Review) -> list[Check]:
    limit = review.rules.get(PARAM)
    if limit is None:
        return []
    offsets, errors = [], []
    for run in review.session.get("runs", []):
        if run.get("state") != "complete":
            continue
        for c in run.get("clock", []):
            (errors if c.get("error") else offsets).append((run["name"], c))
    if errors:
        name, c = errors[0]
        return [review.check("clock offset", FAIL, f"{name}: {c['error']}", PARAM)]
    if not offsets:
        return [review.check("clock offset", WARN, "no NTP server configured: the offset was not measured. "
                             "Acceptable only when LoadGen runs on this computer (one clock for the window and the "
                             "samples)", PARAM)]
    worst_run, worst = max(offsets, key=lambda x: abs(x[1]["offset_s"]))
    ok = abs(worst["offset_s"]) <= limit
    return [review.check("clock offset", PASS if ok else FAIL,
                         f"largest offset {worst['offset_s'] * 1000:+.1f} ms ({worst_run}, {len(offsets)} checks "
                         f"against {worst.get('server')}), limit {limit * 1000:.0f} ms", PARAM)]
