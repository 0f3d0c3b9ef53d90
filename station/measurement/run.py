"""One recorded run on the measurement service: start, live checks, stop, keep.

A :class:`MeasuredRun` records the given instrument sessions into a run directory (the
crash-safe journal of :class:`station.core.recording.Recording`), feeds the live checks with the
recording's events and the monitors' snapshots, watches the instruments, and ends on time:

- no samples from an instrument within ``start_timeout_s`` -> :class:`RunFailed`;
- an instrument that failed for good -> :class:`RunFailed`;
- a run with a duration ends when every instrument reached it, and at the latest
  ``grace_s`` after the duration has passed on the wall clock (an instrument that answers but
  never delivers, a front-panel HOLD, a reconnect loop), keeping what it has;
- :meth:`cancel` (from any thread) -> :class:`RunCancelled`.

The procedure (``station measure``, the guide), the kiosk and ``station run`` make their runs
here; :meth:`finish` always runs (use the run as a context manager), so the journal is closed
and the sessions stopped whatever happened.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from station.core.monitor import MonitorLimits

END_GRACE_S = 10.0  # a run with a duration ends at most this long after it, whatever the instrument does


class RunFailed(Exception):
    """The run cannot go on (no data, instrument lost for good, recording failed); the message says why."""


class RunCancelled(Exception):
    """The operator (or the front end) cancelled the run."""


class MeasuredRun:
    """The mechanics of one run; the caller decides when the workload begins and ends."""

    def __init__(self, run_dir: str | Path, sessions: Sequence, *, settings: dict | None = None,
                 duration_s: float | None = None, live=None, max_uncertainty: float | None = None,
                 start_timeout_s: float = 20.0, grace_s: float = END_GRACE_S, index=None,
                 cancel: threading.Event | None = None) -> None:
        from station.core.recording import Recording

        self.dir = Path(run_dir)
        self.sessions = list(sessions)
        self.duration_s = duration_s
        self.live = live
        self.start_timeout_s = start_timeout_s
        self.grace_s = grace_s
        self.cancel_event = cancel or threading.Event()
        limits = MonitorLimits(max_uncertainty=max_uncertainty if max_uncertainty is not None else 1.0)
        self.recording = Recording(self.dir, self.sessions, settings=settings or {}, duration_s=duration_s,
                                   limits=limits, index=index)
        if live is not None:
            self.recording.listeners.append(live.on_event)
        self.started_monotonic: float | None = None
        self.state = "new"
        self.ended_by: str | None = None  # "duration", "deadline", "stopped", ...
        self.summary: dict | None = None

    # -- life cycle -----------------------------------------------------------------------------
    def __enter__(self) -> MeasuredRun:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.summary is None:
            if exc_type is RunCancelled:
                self.finish("cancelled")
            elif exc_type is not None:
                self.finish("failed")
            else:
                self.finish("complete")

    @property
    def listeners(self) -> list[Callable[..., Any]]:
        """The recording's event listeners (``listener(kind, t=..., **detail)``)."""
        return self.recording.listeners

    @property
    def journal(self):
        return self.recording.journal

    @property
    def monitors(self) -> dict:
        return self.recording.monitors

    def start(self) -> None:
        """Open the journal and start every instrument's worker."""
        self.recording.start()
        self.started_monotonic = time.monotonic()
        self.state = "recording"
        for s in self.sessions:
            s.start()

    def cancel(self) -> None:
        """Any thread: the run raises :class:`RunCancelled` at its next wait."""
        self.cancel_event.set()

    def workload(self, active: bool) -> None:
        """The workload begins (True) or ends (False): instruments whose driver follows it are told."""
        for s in self.sessions:
            if s.driver.follows_workload:
                s.driver.workload(active)

    def snapshots(self) -> list[dict]:
        return [m.snapshot() for m in self.recording.monitors.values()]

    def check(self) -> None:
        """Raise if the run cannot go on; tick the live checks."""
        if self.cancel_event.is_set():
            raise RunCancelled()
        bad = [s for s in self.sessions if s.state == "failed"]
        if bad:
            raise RunFailed(f"{bad[0].inst_id} failed: {bad[0].error}. The run stops; what was recorded is kept "
                            "aside. Repeat the step when the instrument is back")
        if self.recording.error:
            raise RunFailed(self.recording.error)
        if self.live is not None:
            self.live.tick(self.snapshots())

    def pause(self, seconds: float, tick: Callable[[], None] | None = None) -> None:
        """Wait ``seconds`` while checking (and calling ``tick``) about five times a second."""
        end = time.monotonic() + seconds
        while True:
            self.check()
            if tick is not None:
                tick()
            left = end - time.monotonic()
            if left <= 0:
                return
            self.cancel_event.wait(min(0.2, left))

    def wait_first_samples(self, tick: Callable[[], None] | None = None) -> None:
        """Until every instrument delivered a sample; RunFailed naming the silent ones after the timeout."""
        deadline = time.monotonic() + self.start_timeout_s
        while not all(s["samples"] > 0 for s in self.snapshots()):
            if time.monotonic() > deadline:
                silent = [i for i, m in self.recording.monitors.items() if m.snapshot()["samples"] == 0]
                raise RunFailed(f"no samples from {', '.join(silent)} within {self.start_timeout_s:g} s; "
                                "check the instrument (is it on HOLD, or its output off?) and repeat the step")
            self.pause(0.05, tick)

    def wait_duration(self, tick: Callable[[], None] | None = None) -> str:
        """Until the duration is reached by every instrument ("duration"), or the wall-clock deadline passed.

        The deadline is ``duration + grace_s`` after :meth:`start`; ending there returns "deadline"
        (the run is kept; the summary says how much each instrument delivered).
        """
        if self.duration_s is None:
            raise ValueError("this run has no duration")
        deadline = self.started_monotonic + self.duration_s + self.grace_s
        while True:
            self.check()
            if tick is not None:
                tick()
            if self.recording.reached_duration:
                self.ended_by = "duration"
                return self.ended_by
            if all(s.state in ("failed", "stopped") for s in self.sessions):
                self.check()  # a failed session raises; stopped ones end the run
                self.ended_by = "stopped"
                return self.ended_by
            if time.monotonic() >= deadline:
                self.ended_by = "deadline"
                self.journal.event("run_deadline", message=(
                    f"the run did not reach its {self.duration_s:g} s of data within {self.grace_s:g} s after the "
                    "duration; it was ended with what had been recorded"))
                return self.ended_by
            self.recording.wait(timeout=0.1, poll=0.05, should_stop=self.cancel_event.is_set)

    def finish(self, state: str = "complete") -> dict:
        """Stop every instrument's worker, close the journal; the run's summary (also on disk)."""
        if self.summary is not None:
            return self.summary
        for s in self.sessions:
            try:
                s.stop()
            except Exception:
                pass
        if self.recording.error and state == "complete":
            state = "failed"
        if self.live is not None:
            try:
                self.live.tick(self.snapshots())
            except Exception:
                pass
        self.summary = self.recording.finish(state)
        if self.ended_by:
            self.summary["ended_by"] = self.ended_by
        self.state = state
        return self.summary
