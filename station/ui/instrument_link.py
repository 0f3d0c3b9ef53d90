"""The connected instrument as the window sees it, with every blocking step off the GUI thread.

:class:`InstrumentLink` owns the driver's :class:`InstrumentSession`, the :class:`LiveStore`
the plot reads and a :class:`RunMonitor` that turns the stream into events (ranges, overrange,
gaps, uncertainty) for the event log even when nothing is recorded. Connecting, changing
settings and disconnecting run as jobs on one :class:`TaskLane`, in the order asked, so the
window never waits on an instrument. Nothing here imports Qt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from instruments import registry
from instruments.base import Config, RangeValue
from station.core.acquisition import InstrumentSession
from station.core.live_store import LiveStore
from station.core.monitor import RunMonitor
from station.ui.inbox import Inbox, TaskLane

# Settings a driver declares that are measurement configuration (applied by configure(),
# changeable while connected); every other declared setting is a driver option, fixed at connect.
CONFIG_FIELDS = ("update_interval_s", "crest_factor", "mode")
LIVE_WINDOW_S = 120.0  # seconds of raw samples kept (capped below): exact regions and zoom in them
LIVE_WINDOW_MIN, LIVE_WINDOW_MAX = 1 << 12, 1 << 20

Done = Callable[[Any, BaseException | None], None]


@dataclass
class InstrumentRequest:
    """Everything needed to open an instrument the way the operator set it up."""

    driver: str
    resource: str | None = None
    options: dict = field(default_factory=dict)
    config: Config = field(default_factory=Config)
    voltage_range: RangeValue = "auto"
    current_range: RangeValue = "auto"

    def to_dict(self) -> dict:
        return {"driver": self.driver, "resource": self.resource, "options": dict(self.options),
                "config": self.config.to_dict(), "voltage_range": self.voltage_range,
                "current_range": self.current_range}


def live_store_for(session: InstrumentSession) -> LiveStore:
    interval = session.interval_s
    window = int(min(LIVE_WINDOW_MAX, max(LIVE_WINDOW_MIN, LIVE_WINDOW_S / interval)))
    return LiveStore(session.dtype, window_samples=window, interval_s=interval)


class InstrumentLink:
    """One instrument: connect, reconfigure and disconnect as background jobs."""

    inst_id = "inst0"

    def __init__(self, inbox: Inbox, lane: TaskLane) -> None:
        self.inbox = inbox
        self.lane = lane
        self.session: InstrumentSession | None = None
        self.store: LiveStore | None = None
        self.monitor: RunMonitor | None = None
        self.request: InstrumentRequest | None = None
        self.pending = ""  # "connecting", "applying", "disconnecting" while a job runs
        self._listener = inbox.event_listener(self.inst_id)

    # -- state (GUI thread) ----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.session is not None

    @property
    def state(self) -> str:
        if self.pending:
            return self.pending
        if self.session is None:
            return "disconnected"
        return self.session.state

    # -- jobs ----------------------------------------------------------------------------------
    def connect(self, request: InstrumentRequest, done: Done | None = None) -> None:
        """Create the driver, connect, configure and start streaming (in the background)."""
        if self.session is not None or self.pending:
            raise RuntimeError("an instrument is already connected or busy")
        self.pending = "connecting"

        def job():
            driver = registry.create(request.driver, request.resource or None, **dict(request.options))
            session = InstrumentSession(self.inst_id, driver, request.config,
                                        request.voltage_range, request.current_range)
            store = live_store_for(session)
            monitor = RunMonitor(self.inst_id, session.interval_s, on_event=self._listener)
            session.add_listener(self._listener)
            session.add_sink(store.append)
            session.add_sink(monitor.write)
            try:
                session.connect()
                session.start()
            except BaseException:
                try:
                    driver.close()
                except Exception:
                    pass
                raise
            return session, store, monitor

        def finished(result, error):
            self.pending = ""
            if error is None:
                self.session, self.store, self.monitor = result
                self.request = request
            if done is not None:
                done(result, error)

        self.lane.submit(job, finished)

    def apply(self, config: Config, voltage_range: RangeValue, current_range: RangeValue,
              done: Done | None = None) -> None:
        """Stop streaming, change configuration and ranges, stream again.

        A new update interval needs a new live store (energy = readings x interval); the
        result of the job is ``(store, monitor)``, new or the same. On a refusal the old
        settings are restored and streaming resumes before the error is reported.
        """
        session = self.session
        if session is None or self.pending:
            raise RuntimeError("no instrument connected, or it is busy")
        self.pending = "applying"
        old = (session.config, session.voltage_range, session.current_range)
        store, monitor = self.store, self.monitor

        def job():
            was_running = session.state == "running"
            session.stop()
            try:
                session.driver.configure(config)
                session.driver.set_ranges(voltage_range, current_range)
            except BaseException:
                session.driver.configure(old[0])
                session.driver.set_ranges(old[1], old[2])
                if was_running:
                    session.start()
                raise
            new_store, new_monitor = store, monitor
            if abs(float(config.update_interval_s) - float(old[0].update_interval_s)) > 1e-12:
                session.remove_sink(store.append)
                session.remove_sink(monitor.write)
            session.config = config
            session.voltage_range, session.current_range = voltage_range, current_range
            session.ranges = session.driver.ranges()
            if abs(float(config.update_interval_s) - float(old[0].update_interval_s)) > 1e-12:
                new_store = live_store_for(session)
                new_monitor = RunMonitor(self.inst_id, session.interval_s, on_event=self._listener)
                session.add_sink(new_store.append)
                session.add_sink(new_monitor.write)
            session.emit("settings_applied", config=config.to_dict(),
                         requested_ranges={"voltage": voltage_range, "current": current_range},
                         ranges=session.ranges.to_dict())
            if was_running:
                session.start()
            return new_store, new_monitor

        def finished(result, error):
            self.pending = ""
            if error is None:
                self.store, self.monitor = result
                if self.request is not None:
                    self.request.config = config
                    self.request.voltage_range, self.request.current_range = voltage_range, current_range
            if done is not None:
                done(result, error)

        self.lane.submit(job, finished)

    def disconnect(self, done: Done | None = None) -> None:
        """Stop streaming and release the instrument (in the background)."""
        session = self.session
        if session is None:
            if done is not None:
                done(None, None)
            return
        self.pending = "disconnecting"

        def job():
            try:
                session.close()
            finally:
                session.remove_listener(self._listener)

        def finished(result, error):
            self.pending = ""
            self.session = None
            self.monitor = None  # the store stays: the last data remains on screen
            if done is not None:
                done(result, error)

        self.lane.submit(job, finished)
