"""The live form of the rules: :class:`LiveChecks` feeds every rule module while a run records.

A recording's listener (:meth:`LiveChecks.on_event`: the run monitor's overrange, invalid, gap,
uncertainty and range events, the instruments' disconnects, the recording's ``clock_jump``), the
procedure's ticks with the monitors' snapshots (:meth:`LiveChecks.tick`), the workload's start and
end (:meth:`LiveChecks.workload`) and clock checks against NTP (:meth:`LiveChecks.clock`) go to
each rule's :class:`LiveRule`; the rule says what it means for validity through
:meth:`LiveChecks.set`. ``on_change(check)`` is called whenever a status or evidence changes
(from whatever thread fed the event: a GUI posts it to its own thread). A failure stays visible
for the rest of the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from station.measurement.checks import FAIL, Check
from station.rules import RuleSet


def clock_text(t: float | None) -> str:
    """A moment as the live checks say it (``12:03:04.250 UTC``)."""
    if t is None:
        return "now"
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d} UTC"


class LiveRule:
    """The live form of one rule; every feed is optional (the default ignores it)."""

    def __init__(self, live: LiveChecks) -> None:
        self.live = live

    def on_event(self, kind: str, t: float | None, detail: dict) -> None:
        """A recording event (``detail`` holds its fields, ``instrument`` among them)."""

    def tick(self, snapshots: list[dict], now: float) -> None:
        """The run monitors' snapshots, a few times a second."""

    def clock(self, offset_s: float | None, error: str | None, server: str) -> None:
        """A clock check against NTP."""


class LiveChecks:
    """The live checks of one run (``kind`` "ranging" or "testing").

    ``instruments`` are the session's instrument entries (``session["instruments"]``) for the
    rules that judge them at the start (calibration); ``ranging_average_w`` is the ranging run's
    average power, which a testing run is compared with while it records.
    """

    def __init__(self, rules: RuleSet, kind: str, on_change: Callable[[Check], None] | None = None,
                 instruments: list[dict] | None = None, ranging_average_w: float | None = None) -> None:
        from station.measurement.checks.catalogue import RULES

        self.rules = rules
        self.kind = kind
        self.on_change = on_change
        self.instruments = list(instruments or [])
        self.ranging_average_w = ranging_average_w
        self.checks: dict[str, Check] = {}
        self._lock = threading.Lock()
        self.workload_started: float | None = None
        self.workload_ended: float | None = None
        self.forms: list[LiveRule] = [module.Live(self) for module in RULES if hasattr(module, "Live")]

    @property
    def testing(self) -> bool:
        return self.kind != "ranging"

    # -- state -----------------------------------------------------------------------------
    def source(self, param: str | None) -> str:
        """Where the rule behind ``param`` comes from (the rule set's name when unknown)."""
        return self.rules.source(param) if param and param in self.rules.parameters else self.rules.name

    def set(self, name: str, status: str, evidence: str, param: str | None, t: float | None = None) -> None:
        """Set the check ``name``; ``param`` is the rule parameter it judges by (None: none)."""
        with self._lock:
            old = self.checks.get(name)
            if old is not None and old.status == FAIL and status != FAIL:
                return  # a failure stays visible for the rest of the run
            if old is not None and (old.status, old.evidence) == (status, evidence):
                return
            new = Check(name, status, evidence, self.source(param), t)
            self.checks[name] = new
        if self.on_change is not None:
            self.on_change(new)

    @property
    def failed(self) -> list[Check]:
        with self._lock:
            return [c for c in self.checks.values() if c.status == FAIL]

    def snapshot(self) -> list[dict]:
        with self._lock:
            return [c.to_dict() for c in self.checks.values()]

    # -- feeds -----------------------------------------------------------------------------
    def on_event(self, kind: str, t: float | None = None, **detail) -> None:
        """Recording listener: monitor, instrument and clock events."""
        for form in self.forms:
            form.on_event(kind, t, detail)

    def workload(self, started: float | None = None, ended: float | None = None) -> None:
        if started is not None:
            self.workload_started = started
        if ended is not None:
            self.workload_ended = ended

    def tick(self, snapshots: list[dict], now: float | None = None) -> None:
        """Periodic update from the run monitors' snapshots."""
        now = time.time() if now is None else now
        for form in self.forms:
            form.tick(snapshots, now)

    def clock(self, offset_s: float | None, error: str | None = None, server: str = "") -> None:
        """Result of a clock check against NTP."""
        for form in self.forms:
            form.clock(offset_s, error, server)
