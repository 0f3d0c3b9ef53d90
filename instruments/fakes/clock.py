"""A clock that only pretends to wait, shared by a fake device and the driver under test."""

from __future__ import annotations

import threading

from instruments.base import SystemClock


class FakeClock:
    """UTC time and monotonic time that advance only when someone sleeps or waits.

    A driver polling every second over a fake device then runs a minute of acquisition in
    microseconds, and the device's update cycle stays exactly in step with the driver's clock.
    """

    def __init__(self, start_utc: float = 1_750_000_000.0, start_monotonic: float = 1000.0) -> None:
        self._utc = float(start_utc)
        self._mono = float(start_monotonic)
        self._lock = threading.Lock()
        self.slept = 0.0  # total time spent in sleep(), for tests of "does not hammer"

    def time(self) -> float:
        return self._utc

    def monotonic(self) -> float:
        return self._mono

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept += seconds
            self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (transport latency, timeouts, the device's own time)."""
        if seconds > 0:
            with self._lock:
                self._utc += seconds
                self._mono += seconds

    def jump(self, seconds: float) -> None:
        """The wall clock is set forward (or back, negative) while monotonic time goes on."""
        with self._lock:
            self._utc += seconds


class WallClock(SystemClock):
    """Real time, for a device served to another process (it cannot share a FakeClock)."""

    def advance(self, seconds: float) -> None:
        """Time passes by itself here; transports that simulate latency call this harmlessly."""
