"""Notice the wall clock jumping (NTP steps, an operator setting the time, a suspended VM).

Sample times are UTC seconds on a steady time base: each driver takes the wall clock when it
starts measuring and runs on from there (its meter's own clock, or the monotonic clock), so a
step of the system clock does not tear a run's timeline. Everything else stamped with the
computer's clock after the step (events, LoadGen logs, a director's phase marks) is off by the
step, so the station does not hide it: a :class:`ClockWatch` compares the wall clock with the
monotonic clock on every check, and a change of their difference beyond ``threshold_s`` (0.1 s,
below the 0.4 s the MLPerf clock rule allows) is reported as a jump (forward or back, with its
size), which the recording writes to the journal as a ``clock_jump`` event, the run summary
lists and the review fails a testing run on. Slow corrections (NTP slewing, well under a
millisecond per second) stay below the threshold and are not jumps.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class _SystemClock:
    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)


@dataclass(frozen=True)
class ClockJump:
    t_before: float  # wall clock at the previous check
    t_after: float  # wall clock now
    jump_s: float  # positive: the clock went forward; negative: back

    def describe(self) -> str:
        way = "forward" if self.jump_s > 0 else "back"
        return (f"the computer's clock jumped {way} by {abs(self.jump_s):.3f} s during the run; samples stay "
                "on the run's time base, but times taken from the computer's clock after this point (events, "
                "LoadGen logs) are off by that much")


class ClockWatch:
    """Call :meth:`check` regularly (e.g. per block of samples); it returns a jump when one happened."""

    def __init__(self, clock: Clock | None = None, threshold_s: float = 0.1) -> None:
        if threshold_s <= 0:
            raise ValueError("the clock jump threshold must be positive")
        self.clock = clock or _SystemClock()
        self.threshold_s = threshold_s
        self._t = self.clock.time()
        self._offset = self._t - self.clock.monotonic()
        self.jumps: list[ClockJump] = []

    def check(self) -> ClockJump | None:
        t = self.clock.time()
        offset = t - self.clock.monotonic()
        delta = offset - self._offset
        before, self._t, self._offset = self._t, t, offset
        if abs(delta) < self.threshold_s:
            return None
        jump = ClockJump(before, t, delta)
        self.jumps.append(jump)
        return jump


def _utc(t: float | None) -> str:
    if t is None:
        return "an unknown time"
    return datetime.fromtimestamp(float(t), UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def describe_clock_jumps(jumps: list[dict], started: float | None = None) -> list[str]:
    """Each ``clock_jump`` event as "forward by 3600.000 s between 1.00 and 1.02 s into the run ...".

    A jump happened between two checks of the clock: ``before`` (the clock at the previous
    check) and ``t`` (the clock at the check that saw it). With the run's start (the
    ``recording_started`` event's time) the position in the run follows from them and the
    jumps before, whatever the clock read.
    """
    out = []
    shifted = 0.0  # sum of the earlier jumps: the clock's offset from the start's time base
    for e in jumps:
        jump = float(e["jump_s"])
        after = e.get("t")
        before = e.get("before", None if after is None else float(after) - jump)
        where = ""
        if started is not None and before is not None and after is not None:
            lo = float(before) - started - shifted
            hi = float(after) - started - shifted - jump
            where = f" between {lo:.2f} s and {hi:.2f} s into the run"
        out.append(f"{'forward' if jump > 0 else 'back'} by {abs(jump):.3f} s{where} (the clock read "
                   f"{_utc(before)} before it, {_utc(after)} after it"
                   + (f"; seen by {e['instrument']}'s data" if e.get("instrument") else "") + ")")
        shifted += jump
    return out
