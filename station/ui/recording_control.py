"""Start, mark and finish a recording from the window, with the disk work off the GUI thread.

A :class:`station.core.recording.Recording` creates its journal (directories, an fsynced
header) when it is made and fsyncs again when it finishes: both run as jobs on a disk
:class:`TaskLane`. Marks are journal events written on the same lane, so they reach the
journal in the order the operator pressed the key. Nothing here imports Qt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from station.core.acquisition import InstrumentSession
from station.core.recording import Recording
from station.core.run_index import RunIndex, station_home
from station.ui.inbox import TaskLane

Done = Callable[[Any, BaseException | None], None]


def default_run_directory(now: float | None = None) -> Path:
    """``<station home>/runs/run-<UTC stamp>``, never an existing directory."""
    stamp = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime("%Y%m%dT%H%M%SZ")
    base = station_home() / "runs" / f"run-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class RecordingControl:
    """The window's recording: idle → starting → recording → finishing → idle."""

    def __init__(self, lane: TaskLane) -> None:
        self.lane = lane
        self.recording: Recording | None = None
        self.state = "idle"
        self.marks = 0
        self.last_summary: dict | None = None
        self.directory: Path | None = None

    @property
    def active(self) -> bool:
        return self.state in ("starting", "recording")

    def start(self, session: InstrumentSession, directory: Path, settings: dict,
              duration_s: float | None = None, events: list[tuple[str, dict]] = (),
              done: Done | None = None) -> None:
        """Create the journal in ``directory`` and attach it to ``session``; ``events`` are
        written first (e.g. an expired calibration)."""
        if self.state != "idle":
            raise RuntimeError(f"a recording is {self.state}")
        self.state = "starting"
        self.marks = 0
        self.directory = Path(directory)

        def job():
            rec = Recording(directory, [session], settings=settings, duration_s=duration_s, index=RunIndex())
            for kind, detail in events:
                rec.journal.event(kind, **detail)
            rec.start()
            return rec

        def finished(result, error):
            if error is None:
                self.recording = result
                self.state = "recording"
            else:
                self.state = "idle"
            if done is not None:
                done(result, error)

        self.lane.submit(job, finished)

    def mark(self, t: float, label: str, done: Done | None = None) -> bool:
        """Write an operator mark into the journal; False when nothing is being recorded."""
        rec = self.recording
        if rec is None or self.state != "recording":
            return False
        self.marks += 1
        number = self.marks
        self.lane.submit(lambda: rec.operator_mark("mark", t=t, source="operator", number=number, label=label),
                         done)
        return True

    def finish(self, state: str = "complete", done: Done | None = None) -> None:
        """Detach, sync and close the journal; ``done`` gets the run summary."""
        rec = self.recording
        if rec is None or self.state != "recording":
            if done is not None:
                done(None, None)
            return
        self.state = "finishing"

        def finished(result, error):
            self.recording = None
            self.state = "idle"
            self.last_summary = result
            if done is not None:
                done(result, error)

        self.lane.submit(lambda: rec.finish(state), finished)

    # -- live figures (cheap: counters and flags, no disk access) ----------------------------------
    def journal_bytes(self) -> int | None:
        rec = self.recording
        if rec is None:
            return None
        j = rec.journal
        return sum(n * j.instruments[i].dtype.itemsize for i, n in dict(j.counts).items())

    def elapsed_s(self) -> float | None:
        rec = self.recording
        if rec is None:
            return None
        snap = next(iter(rec.monitors.values())).snapshot()
        return snap["duration_s"]
