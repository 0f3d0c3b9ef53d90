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
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
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
            while not self._stop_requested.is_set():
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
