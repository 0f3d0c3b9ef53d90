"""A recording: the journal of a run, fed by one or more instrument sessions.

A recording attaches a sink to each session: the sink trims the stream to the requested
duration, appends it to the journal and feeds the run monitor. Events of the sessions and
of the monitors go to the journal's events file. ``finish`` detaches, syncs and writes the
summary; after a crash, :func:`station.core.recovery.recover` writes the same summary from
what reached the disk.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from station.core.acquisition import InstrumentSession
from station.core.clockwatch import ClockWatch
from station.core.journal import SUMMARY, InstrumentEntry, JournalError, JournalWriter, write_json_atomic
from station.core.monitor import MonitorLimits, RunMonitor
from station.core.run_index import RunIndex


class Recording:
    """Records the given sessions into ``directory`` until ``finish`` or the duration ends."""

    def __init__(
        self,
        directory: str | os.PathLike,
        sessions: list[InstrumentSession],
        settings: dict | None = None,
        duration_s: float | None = None,
        limits: MonitorLimits | None = None,
        sync_interval: float = 0.25,
        index: RunIndex | None = None,
        clock=None,
    ) -> None:
        if not sessions:
            raise ValueError("a recording needs at least one instrument")
        if duration_s is not None and duration_s <= 0:
            raise ValueError("the duration must be positive")
        self.directory = Path(directory)
        self.sessions = list(sessions)
        self.duration_s = duration_s
        self.entries = [
            InstrumentEntry(s.inst_id, s.driver.description.name, s.dtype, s.interval_s, s.settings_snapshot())
            for s in self.sessions
        ]
        self.journal = JournalWriter(self.directory, self.entries, settings=settings, sync_interval=sync_interval)
        self.index = index
        if index is not None:
            index.register(self.directory)
        self.monitors = {
            s.inst_id: RunMonitor(s.inst_id, s.interval_s, on_event=self._monitor_event, limits=limits)
            for s in self.sessions
        }
        self.listeners: list = []
        self._range_steps: OrderedDict[tuple, str] = OrderedDict()
        self._range_lock = threading.Lock()  # session listeners and sinks run on acquisition threads
        self.error: str | None = None
        self._done = {s.inst_id: threading.Event() for s in self.sessions}
        self._t0: dict[str, float] = {}
        self._sinks = {s.inst_id: self._make_sink(s.inst_id) for s in self.sessions}
        self._finished = False
        self._operator_marks = 0
        self._lock = threading.Lock()
        self.clock_watch = ClockWatch(clock)  # a jump of the wall clock is recorded, not absorbed
        self._watch_lock = threading.Lock()

    # -- wiring ------------------------------------------------------------------------------
    def start(self) -> None:
        """Attach to the sessions: from now on every block they deliver is recorded."""
        self.journal.event("recording_started", duration_s=self.duration_s,
                           instruments=[s.inst_id for s in self.sessions])
        for s in self.sessions:
            s.add_listener(self._session_event)
            s.add_sink(self._sinks[s.inst_id])

    def _make_sink(self, inst_id: str):
        done = self._done[inst_id]
        monitor = self.monitors[inst_id]
        interval = next(s.interval_s for s in self.sessions if s.inst_id == inst_id)

        def sink(samples: np.ndarray) -> None:
            if done.is_set() or len(samples) == 0:
                return
            if inst_id not in self._t0:
                self._t0[inst_id] = float(samples["t"][0])
            with self._watch_lock:  # before trimming: the block that ends the run may be the one
                jump = self.clock_watch.check()
            if jump is not None:
                self._event("clock_jump", t=jump.t_after, jump_s=jump.jump_s, before=jump.t_before,
                            instrument=inst_id, message=jump.describe())
            if self.duration_s is not None:
                # A sample covers [t, t + interval); keep those that start inside the duration.
                end = self._t0[inst_id] + self.duration_s - interval * 0.5
                n = int(np.searchsorted(samples["t"], end, side="right"))
                if n < len(samples):
                    samples = samples[:n]
                    done.set()
            if len(samples):
                try:
                    self.journal.write(inst_id, samples)
                except JournalError as exc:
                    self.error = self.error or str(exc)  # the first failure says what happened
                    done.set()
                    self._event("error", message=str(exc), instrument=inst_id)
                    return
                monitor.write(samples)

        return sink

    def _session_event(self, kind: str, t: float | None = None, **detail: Any) -> None:
        if kind == "range" and self._range_seen_twice("instrument", t, detail):
            return
        self._event(kind, t=t, **detail)

    def _monitor_event(self, kind: str, t: float | None = None, **detail: Any) -> None:
        if kind == "range" and self._range_seen_twice("monitor", t, detail):
            return
        self._event(kind, t=t, **detail)

    def _range_seen_twice(self, source: str, t: float | None, detail: dict) -> bool:
        """A range step is reported by the instrument (some drivers do) and found in the records
        by the run monitor: the journal gets it once, from whichever came first."""
        if "message" in detail:
            return False  # says more than the step itself (e.g. a meter changing range by itself)
        key = (detail.get("instrument"), t, *(detail.get(k) for k in
                                              ("voltage", "current", "previous_voltage", "previous_current")))
        with self._range_lock:
            other = self._range_steps.get(key)
            if other is not None and other != source:
                del self._range_steps[key]
                return True
            self._range_steps[key] = source
            while len(self._range_steps) > 512:
                self._range_steps.popitem(last=False)
        return False

    def _event(self, kind: str, t: float | None = None, **detail: Any) -> None:
        try:
            self.journal.event(kind, t=t, **detail)
        except JournalError as exc:
            self.error = self.error or str(exc)
            for d in self._done.values():
                d.set()
        for listener in self.listeners:
            listener(kind, t=t, **detail)

    # -- progress ------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None, poll: float = 0.1, should_stop=None) -> bool:
        """Block until every instrument reached the duration (True) or ``timeout`` passed.

        Also returns early when ``should_stop()`` is true or every session has stopped.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if all(d.is_set() for d in self._done.values()):
                return True
            if should_stop is not None and should_stop():
                return False
            if all(s.state in ("failed", "stopped") for s in self.sessions):
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            next(iter(self._done.values())).wait(poll)

    @property
    def reached_duration(self) -> bool:
        return all(d.is_set() for d in self._done.values()) and self.error is None

    def operator_mark(self, kind: str = "mark", **detail) -> None:
        """An operator's mark (key M, the procedure's begin/end): journalled and counted in the summary."""
        self.journal.event(kind, **detail)
        with self._lock:
            self._operator_marks += 1

    def finish(self, state: str = "complete") -> dict:
        """Detach, sync and close the journal; returns the summary (also written to disk)."""
        with self._lock:
            if self._finished:
                return self.summary(state)
            self._finished = True
        for s in self.sessions:
            s.remove_sink(self._sinks[s.inst_id])
            s.remove_listener(self._session_event)
        summary = self.summary(state)
        try:
            self.journal.event("recording_finished", state=state)
        except JournalError:
            pass
        self.journal.close(summary)
        if self.journal.error is not None:
            summary = self._summary_from_disk(summary)
        if self.index is not None:
            self.index.unregister(self.directory)
        return summary

    def _summary_from_disk(self, summary: dict) -> dict:
        """After a write failure: cut torn tails and summarise what the journal really holds."""
        from station.core.recovery import recover

        try:
            disk = recover(self.directory, index=self.index)
            disk.update(state="failed", error=summary.get("error"))
            write_json_atomic(self.directory / SUMMARY, disk)
            return disk
        except (JournalError, OSError):
            return summary  # the disk refuses even that: the next start recovers the run

    def summary(self, state: str = "running") -> dict:
        """The run summary; with one instrument its keys are at the top level."""
        per = {i: m.snapshot() for i, m in self.monitors.items()}
        out = build_summary(self.directory, self.journal.run_id, per, state, self.error)
        out["operator_marks"] = self._operator_marks
        out["clock_jumps"] = [{"t": j.t_after, "jump_s": j.jump_s, "message": j.describe()}
                              for j in self.clock_watch.jumps]
        return out


OPERATOR_MARK_EVENTS = ("mark", "workload_mark")  # journal events of an operator's mark


def build_summary(directory: Path, run_id: str, per_instrument: dict[str, dict], state: str,
                  error: str | None = None) -> dict:
    """Top-level summary: the first instrument's figures, plus all instruments by id."""
    first = next(iter(per_instrument.values()))
    keys = ("samples", "duration_s", "avg_w", "min_w", "max_w", "energy_j", "energy_measured_j", "energy_bridged_j",
            "coverage", "interval_s",
            "good_samples", "overrange_samples", "invalid_samples", "gaps", "marks", "t_first", "t_last",
            "uncertainty_known_samples", "uncertainty_avg", "uncertainty_max",
            "uncertainty_over_1pct_samples")
    out = {k: first.get(k) for k in keys}
    out.update({
        "run_dir": str(directory),
        "run_id": run_id,
        "state": state,
        "error": error,
        "instruments": per_instrument,
    })
    return out
