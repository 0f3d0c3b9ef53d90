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

from instruments.base import Config, RangeValue
from station.core.acquisition import InstrumentSession
from station.core.live_store import LiveStore
from station.core.monitor import RunMonitor
from station.measurement.instruments import InstrumentSpec, open_instrument
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

    def spec(self) -> InstrumentSpec:
        """The same request in the measurement service's terms (what every front end opens)."""
        return InstrumentSpec(self.driver, self.resource or None, dict(self.options),
                              interval_s=float(self.config.update_interval_s),
                              crest_factor=float(self.config.crest_factor), mode=self.config.mode,
                              voltage_range=self.voltage_range, current_range=self.current_range)


def live_store_for(session: InstrumentSession) -> LiveStore:
    interval = session.interval_s
    window = int(min(LIVE_WINDOW_MAX, max(LIVE_WINDOW_MIN, LIVE_WINDOW_S / interval)))
    return LiveStore(session.dtype, window_samples=window, interval_s=interval)


class InstrumentLink:
    """One instrument: connect, reconfigure and disconnect as background jobs."""

    inst_id = "inst0"

    def __init__(self, inbox: Inbox, lane: TaskLane, inst_id: str | None = None) -> None:
        if inst_id is not None:
            self.inst_id = inst_id
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
            session = open_instrument(request.spec(), self.inst_id)
            driver = session.driver
            session.add_listener(self._listener)
            try:
                session.connect()
                # after connect: a driver may know its channels (the record type) only once it has
                # identified the instrument (prometheus: one channel per series found)
                store = live_store_for(session)
                monitor = RunMonitor(self.inst_id, session.interval_s, on_event=self._listener)
                session.add_sink(store.append)
                session.add_sink(monitor.write)
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
        """Change configuration and ranges while streaming (in the background).

        The session's worker applies them between two reads (:meth:`InstrumentSession.apply`):
        the stream goes on without a hole. A new update interval needs a new live store
        (energy = readings x interval): the sinks are swapped on the worker at the change, so
        every sample lands in the store of its own interval. The result of the job is
        ``(store, monitor)``, new or the same. On a refusal the old settings stay in force.
        """
        session = self.session
        if session is None or self.pending:
            raise RuntimeError("no instrument connected, or it is busy")
        self.pending = "applying"
        old_interval = float(session.config.update_interval_s)
        current = {"store": self.store, "monitor": self.monitor}

        def swap_sinks():  # on the acquisition thread, between two reads
            if abs(float(config.update_interval_s) - old_interval) <= 1e-12:
                return
            store, monitor = current["store"], current["monitor"]
            new_store = live_store_for(session)
            new_monitor = RunMonitor(self.inst_id, session.interval_s, on_event=self._listener)
            session.add_sink(new_store.append)
            session.add_sink(new_monitor.write)
            session.remove_sink(store.append)
            session.remove_sink(monitor.write)
            current["store"], current["monitor"] = new_store, new_monitor

        def job():
            session.apply(config, voltage_range, current_range, then=swap_sinks)
            return current["store"], current["monitor"]

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
