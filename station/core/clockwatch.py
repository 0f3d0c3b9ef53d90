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
