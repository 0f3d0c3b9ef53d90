"""A simulated Keysight N6705B/C mainframe speaking the ELOG commands, for :class:`~instruments.fakes.FakeTransport`.

Written from the N6700 user's guide, not from the driver: SCPI headers are matched in short or long
form (:class:`~instruments.fakes.scpi_device.ScpiHeader`), channel lists are ``(@n)``, and what it
does not understand goes to the error queue (``-113,"Undefined header"``; ``-222,"Data out of
range"`` for a channel without a module or a period out of limits; ``-221,"Settings conflict"``
for fetching from a log that is not running).

Physics: each installed module supplies ``voltage`` volts and draws ``current(t)`` amps (``t`` in
seconds on the shared :class:`FakeClock` since the log was triggered). Once ``INIT:ELOG`` and
``TRIG:ELOG`` have run, one record per integration period is computed from 16 sub-samples
(average, minimum, maximum of current and voltage) when fetched. The FIFO holds ``fifo_s`` seconds
of records (about 20 s on the instrument); older records are overwritten and counted in
``overwritten``. The instrument reports no error for that (the guide names none), so a driver must
notice the loss by counting. Faults: :meth:`N6705Device.unplug` / ``plug``, ``stall`` / ``resume``.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from instruments.fakes.clock import FakeClock
from instruments.fakes.scpi_device import DeviceError, ScpiHeader, number, word_is

SUBSAMPLES = 16


def stepped_load(t: np.ndarray) -> np.ndarray:
    """An MCU-like load: 1, 2 or 3 mA in 50 ms steps (constant within any period dividing 50 ms)."""
    return 1e-3 * (1 + np.floor(np.asarray(t) / 0.05) % 3)


@dataclass
class Module:
    """One output module: its model, its supply voltage and the load's current as a function of time."""

    model: str = "N6781A"
    voltage: float = 3.0
    current: Callable[[np.ndarray], np.ndarray] = stepped_load
    # ELOG state
    log_current: bool = False
    log_voltage: bool = False
    current_minmax: bool = False
    voltage_minmax: bool = False
    period: float = 0.1
    source: str = "BUS"
    state: str = "idle"  # idle -> initiated -> logging
    t_trigger: float = 0.0
    produced: int = 0  # records computed so far
    fifo: deque = field(default_factory=deque)


class N6705Device:
    """The mainframe: modules in channels 1..n, error queue, ELOG per channel, present / stalled."""

    errors = {"undefined": (-113, "Undefined header"), "illegal": (-224, "Illegal parameter value"),
              "out_of_range": (-222, "Data out of range"), "conflict": (-221, "Settings conflict")}

    def __init__(self, model: str = "N6705C", modules: list[Module] | None = None, clock: FakeClock | None = None,
                 fifo_s: float = 20.0, serial: str = "MY56000123", firmware: str = "D.04.07") -> None:
        self.model, self.serial, self.firmware = model, serial, firmware
        self.modules = modules if modules is not None else [Module(), Module(model="N6781A", voltage=1.8)]
        self.clock = clock or FakeClock()
        self.fifo_s = fifo_s
        self.present = True
        self.stalled = False
        self.generation = 0
        self.received: list[str] = []
        self.output: list[str] = []
        self.error_queue: deque = deque()
        self.format = "ASC"
        self.overwritten = 0
        self._table: list[tuple[ScpiHeader, Callable]] = [(ScpiHeader(h), f) for h, f in (
            ("SYSTem:ERRor[:NEXT]", self._error),
            ("SYSTem:CHANnel[:COUNt]", self._channel_count),
            ("SYSTem:CHANnel:MODel", self._module_model),
            ("FORMat[:DATA]", self._format),
            ("FORMat:BORDer", self._byte_order),
            ("[SENSe]:ELOG:FUNCtion:CURRent", self._flag("log_current")),
            ("[SENSe]:ELOG:FUNCtion:VOLTage", self._flag("log_voltage")),
            ("[SENSe]:ELOG:FUNCtion:CURRent:MINMax", self._flag("current_minmax")),
            ("[SENSe]:ELOG:FUNCtion:VOLTage:MINMax", self._flag("voltage_minmax")),
            ("[SENSe]:ELOG:CURRent[:DC]:RANGe:AUTO", self._autorange),
            ("[SENSe]:ELOG:PERiod", self._period),
            ("TRIGger:ELOG:SOURce", self._source),
            ("INITiate[:IMMediate]:ELOG", self._initiate),
            ("TRIGger:ELOG[:IMMediate]", self._trigger),
            ("FETCh:ELOG", self._fetch),
            ("ABORt:ELOG", self._abort),
        )]

    # -- plugging ----------------------------------------------------------------------------------
    def unplug(self) -> None:
        self.present = False
        self.generation += 1

    def plug(self, power_cycle: bool = False) -> None:
        self.present = True
        if power_cycle:
            for m in self.modules:
                m.state = "idle"
                m.fifo.clear()

    def stall(self) -> None:
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False

    # -- messages ----------------------------------------------------------------------------------------
    def handle(self, message: str) -> list[str]:
        """One message (``;``-separated commands) -> the reply lines."""
        self.received.append(message)
        replies = []
        for part in message.split(";"):
            part = part.strip()
            if not part:
                continue
            header, _, args = part.partition(" ")
            query = header.endswith("?")
            header = header.rstrip("?")
            try:
                reply = self._dispatch(header, args.strip(), query)
            except DeviceError as exc:
                self.error_queue.append(self.errors[exc.kind])
                continue
            if reply is not None:
                replies.append(reply)
        return [";".join(replies)] if replies else []

    def _dispatch(self, header: str, args: str, query: bool) -> str | None:
        if header.upper() == "*IDN" and query:
            return f"Keysight Technologies,{self.model},{self.serial},{self.firmware}"
        if header.upper() == "*CLS" and not query:
            self.error_queue.clear()
            return None
        for pattern, handler in self._table:
            if pattern.match(header) is not None:
                return handler(args, query)
        raise DeviceError("undefined")

    # -- argument helpers -----------------------------------------------------------------------------------
    def _channels(self, text: str) -> list[Module]:
        m = re.search(r"\(@\s*([\d,:\s]+)\)", text)
        if not m:
            raise DeviceError("illegal")
        found = []
        for item in m.group(1).split(","):
            lo, _, hi = item.strip().partition(":")
            for ch in range(int(lo), int(hi or lo) + 1):
                if not 1 <= ch <= len(self.modules):
                    raise DeviceError("out_of_range")
                found.append(self.modules[ch - 1])
        return found

    @staticmethod
    def _value(args: str) -> str:
        return args.split(",(@")[0].split("(@")[0].strip().rstrip(",")

    # -- handlers -------------------------------------------------------------------------------------------
    def _error(self, args: str, query: bool) -> str:
        code, text = self.error_queue.popleft() if self.error_queue else (0, "No error")
        return f'{code:+d},"{text}"'

    def _channel_count(self, args: str, query: bool) -> str:
        return str(len(self.modules))

    def _module_model(self, args: str, query: bool) -> str:
        return ",".join(m.model for m in self._channels(args))

    def _format(self, args: str, query: bool) -> str | None:
        if query:
            return self.format
        if word_is(args, "ASCii"):
            self.format = "ASC"
        elif word_is(args, "REAL"):
            self.format = "REAL"
        else:
            raise DeviceError("illegal")
        return None

    def _byte_order(self, args: str, query: bool) -> str | None:
        if not (word_is(args, "NORMal") or word_is(args, "SWAPped")):
            raise DeviceError("illegal")
        return None

    def _flag(self, attribute: str) -> Callable:
        def handler(args: str, query: bool) -> str | None:
            modules = self._channels(args)
            if query:
                return "1" if getattr(modules[0], attribute) else "0"
            word = self._value(args).upper()
            if word not in ("ON", "OFF", "1", "0"):
                raise DeviceError("illegal")
            for m in modules:
                if m.state != "idle":
                    raise DeviceError("conflict")
                setattr(m, attribute, word in ("ON", "1"))
            return None

        return handler

    def _autorange(self, args: str, query: bool) -> str | None:
        self._channels(args)
        return "1" if query else None

    def _period(self, args: str, query: bool) -> str | None:
        modules = self._channels(args)
        if query:
            return f"{modules[0].period:.6E}"
        period = number(self._value(args), "S")
        if not 102.4e-6 <= period <= 60.0:
            raise DeviceError("out_of_range")
        for m in modules:
            m.period = period
        return None

    def _source(self, args: str, query: bool) -> str | None:
        modules = self._channels(args)
        word = self._value(args)
        if not any(word_is(word, w) for w in ("BUS", "EXTernal", "IMMediate")):
            raise DeviceError("illegal")
        for m in modules:
            m.source = word.upper()[:3]
        return None

    def _initiate(self, args: str, query: bool) -> None:
        for m in self._channels(args):
            if not (m.log_current or m.log_voltage):
                raise DeviceError("conflict")
            m.state, m.produced = "initiated", 0
            m.fifo.clear()
        return None

    def _trigger(self, args: str, query: bool) -> None:
        for m in self._channels(args):
            if m.state == "initiated":
                m.state, m.t_trigger = "logging", self.clock.monotonic()
        return None

    def _abort(self, args: str, query: bool) -> None:
        for m in self._channels(args):
            m.state = "idle"
            m.fifo.clear()
        return None

    def _fetch(self, args: str, query: bool) -> str:
        if not query:
            raise DeviceError("undefined")
        (m,) = self._channels(args)
        if m.state != "logging":
            raise DeviceError("conflict")
        wanted = int(number(self._value(args)))
        self._produce(m)
        take = [m.fifo.popleft() for _ in range(min(wanted, len(m.fifo)))]
        values = [x for rec in take for x in rec]
        if self.format == "REAL":
            body = np.asarray(values, dtype=">f4").tobytes()
            size = str(len(body))
            return f"#{len(size)}{size}" + body.decode("latin-1")
        return ",".join(f"{x:+.6E}" for x in values)

    def _produce(self, m: Module) -> None:
        """Compute the records whose period has ended; the FIFO keeps the newest ``fifo_s`` of them."""
        due = int((self.clock.monotonic() - m.t_trigger) / m.period)
        capacity = max(1, int(self.fifo_s / m.period))
        first = max(m.produced, due - capacity)  # older ones were overwritten before anyone could fetch them
        self.overwritten += first - m.produced
        for k in range(first, due):
            t = (k + (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES) * m.period
            i = np.asarray(m.current(t), dtype=np.float64)
            v = np.full(SUBSAMPLES, m.voltage)
            rec: list[float] = []
            if m.log_current:
                rec += [float(i.mean())] + ([float(i.min()), float(i.max())] if m.current_minmax else [])
            if m.log_voltage:
                rec += [float(v.mean())] + ([float(v.min()), float(v.max())] if m.voltage_minmax else [])
            m.fifo.append(rec)
        while len(m.fifo) > capacity:
            m.fifo.popleft()
            self.overwritten += 1
        m.produced = due


def n6705_bench(model: str | None = None, clock: FakeClock | None = None, resource: str = "TCPIP0::192.0.2.9::inst0::INSTR",
                **options):
    """A bench for ``fake_for("n6705")``: the mainframe, a FakeTransport to it and the shared clock."""
    from instruments.fakes import FakeBench
    from instruments.fakes.transport import FakeTransport

    clock = clock or FakeClock()
    device = N6705Device(model=model or "N6705C", clock=clock, **options)
    return FakeBench(device, FakeTransport(device, resource), clock, {"clock": clock})


def exact_energy(module: Module, seconds: float, steps: int = 1_000_000) -> float:
    """The energy the module delivers in its first ``seconds`` after the trigger (fine midpoint sum)."""
    t = (np.arange(steps) + 0.5) * (seconds / steps)
    return float(np.sum(module.current(t)) * module.voltage * seconds / steps) if not math.isclose(seconds, 0) else 0.0
