"""Acquisition: one worker thread per instrument, fanning sample blocks out to sinks.

An :class:`InstrumentSession` owns one driver. ``connect`` opens, identifies and configures
it (blocking I/O: call it from a worker thread in a GUI). ``start`` launches the
:class:`AcquisitionWorker`, which reads blocks and hands each block, on its own thread, to
every attached sink (live store, recorder, monitor) in arrival order. Sinks are attached and
detached at any time, so the live view runs without recording and a recording starts and
stops without touching the instrument.

When the instrument goes away the worker says so at once (event ``disconnected``), keeps
trying to reconnect with the same settings, and marks the first sample after the hole with
``GAP_BEFORE`` so the gap is visible in the data itself.

Settings change while streaming without stopping the session: :meth:`InstrumentSession.apply`
hands the new configuration and ranges to the worker, which applies them between two reads
(no thread restart, no hole in the timeline), emits ``settings_applied`` and flags the first
samples read after the change with ``RANGE_CHANGE``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import numpy as np

from instruments.base import (
    AUTO,
    Config,
    Driver,
    Identity,
    InstrumentDisconnected,
    InstrumentError,
    Ranges,
    RangeValue,
)
from station.core.samples import Flag

log = logging.getLogger(__name__)

SampleSink = Callable[[np.ndarray], None]
EventListener = Callable[..., None]  # listener(kind, t=..., **detail)
APPLY_FLAGGED_SAMPLES = 1  # samples after a settings change flagged RANGE_CHANGE (at least the first)


class _Change:
    """A settings change waiting for the worker: what to set, what to run then, the outcome."""

    def __init__(self, config: Config | None, voltage_range: RangeValue | None,
                 current_range: RangeValue | None, then: Callable[[], None] | None) -> None:
        self.config = config
        self.voltage_range = voltage_range
        self.current_range = current_range
        self.then = then
        self.future: Future = Future()


def describe(exc: Exception) -> str:
    """An error as the operator reads it: instrument errors speak for themselves."""
    return str(exc) if isinstance(exc, InstrumentError) else f"{type(exc).__name__}: {exc}"


class InstrumentSession:
    """A driver with its settings, its listeners and (when started) its acquisition thread."""

    def __init__(
        self,
        inst_id: str,
        driver: Driver,
        config: Config | None = None,
        voltage_range: RangeValue = AUTO,
        current_range: RangeValue = AUTO,
        stall_timeout_s: float = 2.0,
        reconnect_interval_s: float = 1.0,
    ) -> None:
        self.inst_id = inst_id
        self.driver = driver
        self.config = config or Config()
        self.voltage_range = voltage_range
        self.current_range = current_range
        self.stall_timeout_s = stall_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        self.identity: Identity | None = None
        self.ranges: Ranges | None = None
        self.state = "idle"  # idle, connected, running, reconnecting, stopped, failed
        self.error: str | None = None
        self._sinks: list[SampleSink] = []
        self._listeners: list[EventListener] = []
        self._lock = threading.Lock()
        self._worker: AcquisitionWorker | None = None
        self._changes: list[_Change] = []
        self._apply_lock = threading.Lock()  # one change at a time, whoever applies it

    @property
    def interval_s(self) -> float:
        return float(self.config.update_interval_s)

    @property
    def dtype(self) -> np.dtype:
        return self.driver.dtype

    # -- listeners and sinks ---------------------------------------------------------------
    def add_sink(self, sink: SampleSink) -> None:
        with self._lock:
            self._sinks = [*self._sinks, sink]

    def remove_sink(self, sink: SampleSink) -> None:
        with self._lock:
            self._sinks = [s for s in self._sinks if s is not sink]

    def add_listener(self, listener: EventListener) -> None:
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: EventListener) -> None:
        with self._lock:
            self._listeners = [s for s in self._listeners if s is not listener]

    def emit(self, kind: str, t: float | None = None, **detail: Any) -> None:
        """Tell every listener that something happened (any thread)."""
        t = time.time() if t is None else t
        detail.setdefault("instrument", self.inst_id)
        for listener in self._listeners:
            try:
                listener(kind, t=t, **detail)
            except Exception:  # a broken listener must not stop acquisition
                log.exception("event listener failed on %s", kind)

    def deliver(self, samples: np.ndarray) -> None:
        for sink in self._sinks:
            sink(samples)

    # -- instrument control ------------------------------------------------------------------
    def connect(self) -> Identity:
        """Open, identify and configure the instrument (blocking I/O)."""
        self._open_and_configure()
        self.state = "connected"
        self.emit("connected", identity=self.identity.to_dict(), ranges=self.ranges.to_dict(),
                  config=self.config.to_dict())
        return self.identity

    def _open_and_configure(self) -> None:
        self.driver.open()
        self.identity = self.driver.identify()
        self.driver.configure(self.config)
        self.driver.set_ranges(self.voltage_range, self.current_range)
        self.ranges = self.driver.ranges()

    def apply(self, config: Config | None = None, voltage_range: RangeValue | None = None,
              current_range: RangeValue | None = None, then: Callable[[], None] | None = None,
              timeout: float = 30.0) -> Ranges:
        """Change configuration and / or ranges without stopping the session (blocking).

        While streaming, the worker applies the change between two reads: the driver is
        reconfigured (stopped and started again, on the worker, only for a new update
        interval), ``then`` runs on the worker before the next read
        (e.g. to swap sinks for a new update interval), the event ``settings_applied`` is
        emitted and the first samples read afterwards carry ``RANGE_CHANGE``. Not streaming,
        the change is applied here. None leaves a setting as it is. On a refusal the old
        settings are restored and the driver's error is raised. Returns the ranges in force.
        """
        change = _Change(config, voltage_range, current_range, then)
        worker = self._worker
        if worker is not None and worker.is_alive() and not worker.stopping:
            with self._lock:
                self._changes.append(change)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    return change.future.result(timeout=0.1)
                except TimeoutError:
                    pass
                if not worker.is_alive():
                    # The worker ended before it got to the change: apply it here instead.
                    with self._lock:
                        still_queued = change in self._changes
                        self._changes = [c for c in self._changes if c is not change]
                    if still_queued:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.inst_id}: the acquisition thread did not apply the settings "
                                       f"within {timeout:g} s")
        self._apply_now(change, measuring=False)
        return change.future.result()

    def _take_changes(self) -> list[_Change]:
        with self._lock:
            changes, self._changes = self._changes, []
        return changes

    def _apply_now(self, change: _Change, measuring: bool) -> bool:
        """Apply one change to the driver (worker thread while streaming); True if applied."""
        drv = self.driver
        old = (self.config, self.voltage_range, self.current_range)
        config = change.config if change.config is not None else old[0]
        vr = change.voltage_range if change.voltage_range is not None else old[1]
        cr = change.current_range if change.current_range is not None else old[2]
        new_config = config.to_dict() != old[0].to_dict()
        # A meter that takes a new interval while measuring (a declared capability of its driver)
        # is never stopped: stopping and starting a paced stream loses the samples not yet read.
        restart = (measuring and new_config and not drv.reconfigures_while_measuring
                   and float(config.update_interval_s) != float(old[0].update_interval_s))
        with self._apply_lock:
            try:
                if new_config:
                    # A new update interval: most meters take it only when stopped. Stopped and
                    # started again between two reads, on this thread: the timeline goes on.
                    if restart:
                        drv.stop()
                    try:
                        drv.configure(config)
                    finally:
                        if restart:
                            drv.start()
                drv.set_ranges(vr, cr)
                ranges = drv.ranges()
            except BaseException as exc:
                try:
                    if new_config:
                        if restart:
                            drv.stop()
                        drv.configure(old[0])
                        if restart:
                            drv.start()
                    drv.set_ranges(old[1], old[2])
                except Exception:
                    log.exception("restoring the settings of %s failed", self.inst_id)
                change.future.set_exception(exc)
                return False
            self.config = config
            self.voltage_range, self.current_range = vr, cr
            self.ranges = ranges
        if change.then is not None:
            try:
                change.then()
            except Exception:
                log.exception("settings change hook of %s failed", self.inst_id)
        self.emit("settings_applied", config=config.to_dict(),
                  requested_ranges={"voltage": vr, "current": cr}, ranges=ranges.to_dict(),
                  while_streaming=measuring)
        change.future.set_result(ranges)
        return True

    def reconnect(self) -> None:
        """Close and open again with the same settings; raises if the instrument is not back."""
        try:
            self.driver.close()
        except Exception:
            pass
        self._open_and_configure()
        self.driver.start()

    def start(self) -> None:
        """Start streaming on a new acquisition thread."""
        if self._worker is not None and self._worker.is_alive():
            return
        if self.identity is None:
            self.connect()
        self._worker = AcquisitionWorker(self)
        self.state = "running"
        self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop streaming and wait for the worker; the instrument stays connected."""
        worker = self._worker
        if worker is not None:
            worker.request_stop()
            worker.join(timeout)
        if self.state not in ("failed",):
            self.state = "stopped"

    def close(self) -> None:
        self.stop()
        try:
            self.driver.close()
        finally:
            self.emit("closed")

    @property
    def samples_delivered(self) -> int:
        return self._worker.delivered if self._worker else 0

    def settings_snapshot(self) -> dict:
        return {
            "driver": self.driver.description.name,
            "driver_settings": self.driver.settings_snapshot(),
            "config": self.config.to_dict(),
            "requested_ranges": {"voltage": self.voltage_range, "current": self.current_range},
            "ranges": self.ranges.to_dict() if self.ranges else None,
            "identity": self.identity.to_dict() if self.identity else None,
            "description": self.driver.description.to_dict(),
        }


class AcquisitionWorker(threading.Thread):
    """Reads blocks from one driver and hands them to the session's sinks."""

    def __init__(self, session: InstrumentSession) -> None:
        super().__init__(name=f"acquisition-{session.inst_id}", daemon=True)
        self.session = session
        self._stop_requested = threading.Event()
        self.delivered = 0

    @property
    def stopping(self) -> bool:
        return self._stop_requested.is_set()

    def request_stop(self) -> None:
        self._stop_requested.set()

    def run(self) -> None:
        s = self.session
        drv = s.driver
        try:
            drv.start()
            s.emit("started")
            last_data = time.monotonic()
            stalled = False
            mark_gap = False
            mark_change = 0
            while not self._stop_requested.is_set():
                for change in s._take_changes():
                    if s._apply_now(change, measuring=True):
                        mark_change = APPLY_FLAGGED_SAMPLES
                try:
                    block = drv.read_block(timeout=0.25)
                except InstrumentDisconnected as exc:
                    s.emit("disconnected", message=str(exc))
                    if not self._reconnect():
                        break
                    mark_gap = True
                    last_data = time.monotonic()
                    continue
                if block is None or len(block) == 0:
                    if not stalled and time.monotonic() - last_data > s.stall_timeout_s:
                        stalled = True
                        s.emit("stall", message=f"no data from {s.inst_id} for {s.stall_timeout_s:g} s")
                    continue
                if stalled:
                    stalled = False
                    s.emit("resumed")
                last_data = time.monotonic()
                samples = block.samples
                if mark_gap:
                    samples = samples.copy()
                    samples["flags"][0] |= int(Flag.GAP_BEFORE)
                    mark_gap = False
                if mark_change:
                    samples = samples.copy() if samples is block.samples else samples
                    samples["flags"][:mark_change] |= int(Flag.RANGE_CHANGE)
                    mark_change = max(0, mark_change - len(samples))
                for ev in block.events:
                    s.emit(ev.kind, t=ev.t, **ev.detail)
                s.deliver(samples)
                self.delivered += len(samples)
        except Exception as exc:  # any failure ends this worker, said clearly, never silently
            s.state = "failed"
            s.error = describe(exc)
            s.emit("error", message=s.error)
            log.exception("acquisition of %s failed", s.inst_id)
        finally:
            try:
                drv.stop()
            except Exception as exc:
                s.emit("warning", message=f"stopping {s.inst_id} failed: {exc}")
            for change in s._take_changes():  # asked while stopping: applied by apply() itself
                with s._lock:
                    s._changes.append(change)
            s.emit("stopped", samples=self.delivered)

    def _reconnect(self) -> bool:
        s = self.session
        s.state = "reconnecting"
        attempt = 0
        while not self._stop_requested.wait(s.reconnect_interval_s if attempt else 0.05):
            attempt += 1
            try:
                s.reconnect()
            except Exception as exc:
                if attempt == 1 or attempt % 10 == 0:
                    s.emit("reconnecting", attempt=attempt, message=describe(exc))
                continue
            s.state = "running"
            s.emit("reconnected", attempt=attempt)
            return True
        return False
