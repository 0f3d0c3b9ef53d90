"""Live checks while a run records: each says at once what a problem means for validity.

:class:`LiveChecks` listens to a recording's events (the run monitor's overrange, invalid,
gap and uncertainty events, the instruments' disconnects, the recording's ``clock_jump``: a
step of the wall clock fails a testing run and is a warning while ranging) and is ticked by
the procedure with the monitors' snapshots (average uncertainty, time still needed to reach
the minimum duration) and with clock offsets measured against NTP. Every check has a status
("pass", "warn", "fail", "pending") and a message for the operator; ``on_change(check)`` is
called whenever a status or message changes (from whatever thread fed the event: a GUI posts
it to its own thread).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from station.core.clockwatch import describe_clock_jumps
from station.rules import RuleSet

PASS, WARN, FAIL, PENDING = "pass", "warn", "fail", "pending"


@dataclass
class Check:
    name: str
    status: str
    message: str
    source: str = ""
    t: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _clock(t: float | None) -> str:
    if t is None:
        return "now"
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d} UTC"


class LiveChecks:
    """The live checks of one run (``kind`` "ranging" or "testing")."""

    def __init__(self, rules: RuleSet, kind: str, on_change: Callable[[Check], None] | None = None) -> None:
        self.rules = rules
        self.kind = kind
        self.on_change = on_change
        self.checks: dict[str, Check] = {}
        self._lock = threading.Lock()
        self.workload_started: float | None = None
        self.workload_ended: float | None = None
        testing = kind != "ranging"
        self._set("overrange", PASS, "no reading above the range so far", "overrange_allowed")
        self._set("invalid", PASS, "no invalid sample so far", "max_dropped_fraction")
        self._set("gaps", PASS, "no gap in the data so far", "max_dropped_fraction")
        self._set("instrument", PASS, "every instrument is delivering data", "")
        self._set("clock_stable", PASS, "the computer's clock has not jumped so far", "max_clock_offset_s")
        self.clock_jumps = 0
        if testing and rules.get("max_uncertainty") is not None:
            self._set("uncertainty", PASS, "every sample so far is within the uncertainty limit", "max_uncertainty")
        if testing and rules.get("max_avg_uncertainty") is not None:
            self._set("average_uncertainty", PENDING, "no sample with a known uncertainty yet", "max_avg_uncertainty")
        if testing and rules.get("min_testing_s"):
            self._set("duration", PENDING, f"the workload must run at least {rules.get('min_testing_s'):g} s",
                      "min_testing_s")
        if rules.get("max_clock_offset_s") is not None:
            self._set("clock", PENDING, "clock offset not measured yet", "max_clock_offset_s")

    # -- state -----------------------------------------------------------------------------
    def _set(self, name: str, status: str, message: str, param: str, t: float | None = None) -> None:
        with self._lock:
            old = self.checks.get(name)
            if old is not None and old.status == FAIL and status != FAIL:
                return  # a failure stays visible for the rest of the run
            source = self.rules.source(param) if param in self.rules.parameters else self.rules.name
            new = Check(name, status, message, source, t)
            if old is not None and (old.status, old.message) == (status, message):
                return
            self.checks[name] = new
        if self.on_change is not None:
            self.on_change(new)

    @property
    def failed(self) -> list[Check]:
        with self._lock:
            return [c for c in self.checks.values() if c.status == FAIL]

    def snapshot(self) -> list[dict]:
        with self._lock:
            return [c.to_dict() for c in self.checks.values()]

    # -- feeds -----------------------------------------------------------------------------
    def on_event(self, kind: str, t: float | None = None, **detail) -> None:
        """Recording listener: monitor and instrument events."""
        inst = detail.get("instrument", "")
        testing = self.kind != "ranging"
        if kind == "overrange" and detail.get("state") == "begin":
            if testing and not self.rules.get("overrange_allowed", True):
                self._set("overrange", FAIL,
                          f"{inst} overranged at {_clock(t)}: readings above the range are lost. Inside the "
                          "workload window this makes the run invalid — stop, choose a larger range and repeat "
                          "testing", "overrange_allowed", t)
            elif testing:
                self._set("overrange", WARN, f"{inst} overranged at {_clock(t)}: those readings are lost and "
                          "do not enter the average", "overrange_allowed", t)
            else:
                self._set("overrange", WARN, f"{inst} overranged at {_clock(t)} while ranging: expected while "
                          "auto ranges settle; the ranging maximum may be underestimated if it lasts",
                          "overrange_allowed", t)
        elif kind == "invalid" and detail.get("state") == "begin":
            self._set("invalid", WARN, f"{inst} delivered invalid samples from {_clock(t)}: they are left out of "
                      "the average (as the MLCommons tools do); many of them make the result less certain",
                      "max_dropped_fraction", t)
        elif kind == "gap":
            missing = detail.get("missing_samples", 0)
            limit = self.rules.get("max_dropped_fraction")
            status = FAIL if limit is not None and limit == 0 else WARN
            self._set("gaps", status, f"{inst}: {missing} samples missing before {_clock(t)} "
                      f"({detail.get('length_s', 0):.3g} s); energy in the gap is not measured",
                      "max_dropped_fraction", t)
        elif kind == "uncertainty" and detail.get("state") == "begin" and testing and "uncertainty" in self.checks:
            value = float(detail.get("value", float("nan")))
            limit = self.rules.get("max_uncertainty")
            self._set("uncertainty", FAIL, f"{inst}: a sample at {_clock(t)} has uncertainty {value * 100:.3g} %, "
                      f"above the {limit * 100:g} % limit: inside the workload window this makes the run "
                      "invalid; a smaller range gives a lower uncertainty", "max_uncertainty", t)
        elif kind == "clock_jump":
            self._clock_jump(t, detail)
        elif kind in ("disconnected", "error", "stall"):
            msg = detail.get("message") or kind
            self._set("instrument", FAIL, f"{inst}: {msg}. The data has a hole; a run with a hole in the "
                      "workload window is not valid — repeat the step when the instrument is back", "", t)

    def _clock_jump(self, t: float | None, detail: dict) -> None:
        """The recording saw the wall clock step (station.core.clockwatch): say what it breaks."""
        self.clock_jumps += 1
        what = "the computer's clock jumped " + describe_clock_jumps([{"t": t, **detail}])[0]
        if self.clock_jumps > 1:
            what += f"; {self.clock_jumps} jumps in this run so far"
        if self.kind != "ranging":
            self._set("clock_stable", FAIL, f"{what}. Power samples and LoadGen timestamps can no longer be "
                      "aligned: the samples keep the run's time base while times taken from the clock after the jump "
                      "are off by it, so the average may cover the wrong samples. The run is invalid — keep the clock from stepping (let NTP "
                      "slew it, do not set it by hand) and repeat testing", "max_clock_offset_s", t)
        else:
            self._set("clock_stable", WARN, f"{what} while ranging: the ranging window and average may be taken "
                      "over the wrong samples, which the testing run is compared with; repeat ranging if its "
                      "average looks off", "max_clock_offset_s", t)

    def workload(self, started: float | None = None, ended: float | None = None) -> None:
        if started is not None:
            self.workload_started = started
        if ended is not None:
            self.workload_ended = ended

    def tick(self, snapshots: list[dict], now: float | None = None) -> None:
        """Periodic update from the run monitors' snapshots."""
        now = time.time() if now is None else now
        if "average_uncertainty" in self.checks:
            known = sum(s.get("uncertainty_known_samples") or 0 for s in snapshots)
            if known:
                worst = max((s.get("uncertainty_avg") or 0.0) for s in snapshots)
                limit = self.rules.get("max_avg_uncertainty")
                if worst > limit:
                    self._set("average_uncertainty", WARN, f"average uncertainty {worst * 100:.3g} % is above the "
                              f"{limit * 100:g} % limit so far", "max_avg_uncertainty")
                else:
                    self._set("average_uncertainty", PASS, f"average uncertainty {worst * 100:.3g} % "
                              f"(limit {limit * 100:g} %)", "max_avg_uncertainty")
        if "duration" in self.checks and self.workload_started is not None:
            need = float(self.rules.get("min_testing_s"))
            end = self.workload_ended if self.workload_ended is not None else now
            ran = end - self.workload_started
            if ran >= need:
                self._set("duration", PASS, f"the workload ran {ran:.0f} s (minimum {need:g} s)", "min_testing_s")
            elif self.workload_ended is not None:
                self._set("duration", FAIL, f"the workload ended after {ran:.1f} s, shorter than the minimum "
                          f"{need:g} s: the run is too short to be valid — make the benchmark run longer",
                          "min_testing_s")
            else:
                self._set("duration", PENDING, f"{need - ran:.0f} s to go until the minimum duration of "
                          f"{need:g} s", "min_testing_s")

    def clock(self, offset_s: float | None, error: str | None = None, server: str = "") -> None:
        """Result of a clock check against NTP."""
        if "clock" not in self.checks:
            return
        limit = self.rules.get("max_clock_offset_s")
        if error is not None:
            self._set("clock", FAIL, f"the clock could not be checked: {error}. Without it the workload "
                      "window cannot be trusted against the samples", "max_clock_offset_s")
        elif abs(offset_s) > limit:
            self._set("clock", FAIL, f"this computer's clock is {offset_s * 1000:+.0f} ms off {server}, beyond "
                      f"{limit * 1000:.0f} ms: the workload window and the samples may not line up, the run is "
                      "invalid — synchronise the clock (NTP) and repeat", "max_clock_offset_s")
        else:
            self._set("clock", PASS, f"clock offset {offset_s * 1000:+.1f} ms against {server} "
                      f"(limit {limit * 1000:.0f} ms)", "max_clock_offset_s")
