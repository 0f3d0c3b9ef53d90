"""A simulated SCPI power analyzer: state, measurement physics and a strict command parser.

The device is written from the instruments' manuals, not from the drivers: it keeps its own
range tables and command headers, so a typo in a driver's table is an error here, as it would
be on the bench. Headers are matched the SCPI way (short or long form, any case, numeric
suffixes, optional nodes), arguments are validated, and anything it does not understand goes
to the error queue with the family's code.

Physics: every element measures a :class:`Load`. At each update (every update interval) the
device auto-ranges one step where auto is on, reports over-range (the value becomes the
family's over-range sentinel) when a fixed range is too small, raises its status bits, and
integrates energy while the integrator runs. Settings changes restart the measurement (no data
until the next update), as on the real instruments.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from instruments.fakes.clock import FakeClock


# -- SCPI header matching --------------------------------------------------------------------------
class ScpiHeader:
    """A header written as in a manual, e.g. ``[:INPut]:VOLTage:RANGe[:ALL]`` or ``:NUMeric:ITEM#``.

    Upper-case letters are the short form, the whole word is the long form; ``#`` takes a
    numeric suffix; ``[...]`` is optional.
    """

    _NODE = re.compile(r"(\[)?:?([A-Za-z*]+)(#)?\]?")

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.nodes: list[tuple[str, str, bool, bool]] = []  # (long, short, optional, suffix)
        for m in self._NODE.finditer(spec):
            word = m.group(2)
            short = "".join(ch for ch in word if ch.isupper() or ch == "*") or word.upper()
            self.nodes.append((word.upper(), short, bool(m.group(1)), bool(m.group(3))))

    def match(self, header: str) -> list[int | None] | None:
        tokens = [t for t in header.strip().lstrip(":").split(":")]
        parsed = []
        for tok in tokens:
            m = re.fullmatch(r"([A-Za-z*]+)(\d*)", tok)
            if not m:
                return None
            parsed.append((m.group(1).upper(), int(m.group(2)) if m.group(2) else None))
        return self._match(0, parsed, [])

    def _match(self, i: int, tokens: list[tuple[str, int | None]], suffixes: list) -> list | None:
        if i == len(self.nodes):
            return suffixes if not tokens else None
        long, short, optional, takes_suffix = self.nodes[i]
        if tokens:
            word, number = tokens[0]
            if word in (long, short) and (number is None or takes_suffix):
                found = self._match(i + 1, tokens[1:], suffixes + ([number] if takes_suffix else []))
                if found is not None:
                    return found
        if optional:
            return self._match(i + 1, tokens, suffixes + ([None] if takes_suffix else []))
        return None


def word_is(arg: str, mnemonic: str) -> bool:
    """Character data in short or long form: ``word_is("norm", "NORMal")``."""
    short = "".join(ch for ch in mnemonic if ch.isupper() or ch.isdigit())
    return arg.strip().upper() in (mnemonic.upper(), short)


_NUMBER = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)$")


def number(arg: str, unit: str = "") -> float:
    """A numeric argument with an optional multiplier and unit (``200MA``, ``1.5E+2``, ``250MS``)."""
    m = _NUMBER.match(arg.strip())
    if not m:
        raise DeviceError("illegal")
    value, suffix = float(m.group(1)), m.group(2).upper()
    if unit and suffix.endswith(unit):
        suffix = suffix[: -len(unit)]
    scale = {"": 1.0, "M": 1e-3, "U": 1e-6, "K": 1e3}.get(suffix)
    if scale is None:
        raise DeviceError("illegal")
    return value * scale


def nr3(x: float) -> str:
    """A number the way Yokogawa writes it: five digits, engineering exponent (``432.10E-03``)."""
    if x == 0:
        return "0.0000E+00"
    exp = math.floor(math.log10(abs(x)))
    eng = 3 * math.floor(exp / 3)
    decimals = max(4 - (exp - eng), 0)
    text = f"{x / 10 ** eng:.{decimals}f}"
    if abs(float(text)) >= 1000:  # rounding carried into the next power of ten
        return nr3(float(text) * 10 ** eng)
    return f"{text}E{eng:+03d}"


class DeviceError(Exception):
    """A command the device refuses; ``kind`` picks the family's error code."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


# -- the signal being measured ---------------------------------------------------------------------
Value = float | Callable[[float], float]


@dataclass
class Load:
    """What one element sees: RMS volts and amps, power factor, frequency (0 = DC).

    Any field may be a function of the device's monotonic time, for loads that change.
    """

    urms: Value = 230.0
    irms: Value = 0.5
    pf: Value = 0.95
    freq: Value = 50.0
    peak_factor: float = math.sqrt(2.0)  # waveform crest factor (peak / rms)

    def at(self, t: float) -> tuple[float, float, float, float]:
        def v(x: Value) -> float:
            return float(x(t)) if callable(x) else float(x)

        return v(self.urms), v(self.irms), v(self.pf), v(self.freq)


@dataclass(frozen=True)
class DeviceModel:
    """A model as the device knows itself: its answer to *IDN? and its hardware."""

    idn_model: str
    elements: int
    voltage_ranges: dict[float, tuple[float, ...]]
    current_ranges: dict[float, tuple[float, ...]]
    intervals: tuple[float, ...]
    max_items: int = 255
    over_ratio: float = 1.4  # -OL- above 140 % of range
    protects_milliamp_ranges: bool = False  # WT310E: excessive input on 5-200 mA -> 1 A auto


Handler = Callable[[str, list, bool], "str | None"]


class AnalyzerDevice:
    """A power analyzer's state and physics; a family subclass adds its dialect (headers)."""

    vendor = "VENDOR"
    errors: dict[str, tuple[int, str]] = {
        "undefined": (113, "Undefined header"),
        "suffix": (114, "Header suffix out of range"),
        "illegal": (224, "Illegal parameter value"),
        "out_of_range": (222, "Data out of range"),
        "integrating": (813, "Operation is not allowed during integration"),
        "integ_running": (842, "Integration is already started"),
        "integ_not_running": (844, "Integration is not started"),
        "integ_reset_running": (845, "Cannot reset while integration is running"),
    }
    no_error = '0,"No error"'
    functions: dict[str, str] = {}  # instrument function name -> quantity computed below

    def __init__(self, model: DeviceModel, clock: FakeClock | None = None, serial: str = "FAKE0001",
                 firmware: str = "F1.00") -> None:
        self.model = model
        self.clock = clock or FakeClock()
        self.serial = serial
        self.firmware = firmware
        self.present = True
        self.stalled = False
        self.held = False
        self.generation = 0
        self.loads = [Load() for _ in range(model.elements)]
        self.received: list[str] = []
        self.output: list[str] = []  # replies not read yet (the instrument's output queue)
        self._table: list[tuple[ScpiHeader, Handler]] = [(ScpiHeader(h), f) for h, f in self.dialect()]
        self.power_on()

    # -- what a subclass provides -------------------------------------------------------------------
    def dialect(self) -> list[tuple[str, Handler]]:
        """(header pattern, handler) pairs; a handler gets (argument text, suffixes, is_query)."""
        return []

    def idn(self) -> str:
        return f"{self.vendor},{self.model.idn_model},{self.serial},{self.firmware}"

    def number_text(self, x: float) -> str:
        """How a setting (range, interval) is written in a query reply."""
        return nr3(x)

    def format_value(self, x: float) -> str:
        """How a measured value goes on the wire; NaN = no data, inf = over-range."""
        if math.isnan(x):
            return "NAN"
        if math.isinf(x):
            return "INF"
        return nr3(x)

    # -- power and connection -----------------------------------------------------------------------
    def power_on(self) -> None:
        """Factory state, as after power-on or *RST."""
        m = self.model
        self.output = []
        n = m.elements
        self.crest_factor = 3.0
        self.i_crest_factor = 3.0  # the same setting except on the HMC8015, which sets it per input
        self.v_range = [m.voltage_ranges[3.0][-1]] * n
        self.i_range = [m.current_ranges[3.0][-1]] * n
        self.v_auto = [False] * n
        self.i_auto = [False] * n
        self.mode = "RMS"
        self.interval = 0.5 if 0.5 in m.intervals else m.intervals[0]
        self.headers = True
        self.verbose = False
        self.qmes = True
        self.remote = False
        self.errors_queue: deque[tuple[int, str]] = deque(maxlen=32)
        self.integ_state = "RESET"
        self.integ_mode = "NORM"
        self.energy_wh = [0.0] * n
        self.integ_time = 0.0
        self.filters = ["NEVER"] * 16
        self.eesr = 0
        self.condition = 0
        self.numeric_format = "ASC"
        self.item_table: dict[int, tuple[str, int]] = dict(enumerate(self.default_items(), start=1))
        self.item_count = max(len(self.item_table), 1)
        self._restart_cycle()

    def default_items(self) -> list[tuple[str, int]]:
        """The items the device returns after power-on (function, element)."""
        return []

    def unplug(self) -> None:
        """The device vanishes (cable pulled, powered off): open sessions die."""
        self.present = False
        self.generation += 1

    def plug(self, power_cycle: bool = False) -> None:
        """The device is back; after a power cycle it has forgotten every setting."""
        self.present = True
        if power_cycle:
            self.power_on()

    def stall(self) -> None:
        """The device stops answering (busy, hung), while the connection stays up."""
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False

    def hold(self) -> None:
        """Front-panel HOLD: the device answers every command but its readings stop updating."""
        self.held = True

    def release_hold(self) -> None:
        self.held = False
        self._t0 = self.clock.monotonic() - self._updates_done * self.interval

    def set_load(self, element: int = 1, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(self.loads[element - 1], key, value)

    # -- measurement cycle --------------------------------------------------------------------------
    def _restart_cycle(self) -> None:
        """A setting changed: measuring starts over; no data until the next update."""
        self._t0 = self.clock.monotonic()
        self._updates_done = 0
        nan = [math.nan] * self.model.elements
        self.snapshot: dict[str, list[float]] = {q: list(nan) for q in (
            "U", "I", "P", "S", "Q", "LAMBDA", "PHI", "FU", "FI", "URANGE", "IRANGE", "WH", "TIME", "NONE")}

    def advance(self) -> None:
        """Run the updates that fell due since the last look at the clock (none while on HOLD)."""
        if self.held:
            return
        due = int((self.clock.monotonic() - self._t0 + 1e-9) // self.interval)
        missed = due - self._updates_done
        if missed <= 0:
            return
        skipped = max(missed - 100, 0)  # a long silence: integrate the skipped ones in one go
        if skipped and self.integ_state == "START":
            for e in range(self.model.elements):
                p = self.snapshot["P"][e]
                if math.isfinite(p):
                    self.energy_wh[e] += p * self.interval * skipped / 3600.0
            self.integ_time += self.interval * skipped
        for k in range(self._updates_done + skipped + 1, due + 1):
            self._update(self._t0 + k * self.interval)
        self._updates_done = due

    def _update(self, t: float) -> None:
        m = self.model
        cf, icf = self.crest_factor, self.i_crest_factor
        over_bits = 0
        snap = {q: [math.nan] * m.elements for q in self.snapshot}
        for e, load in enumerate(self.loads):
            u, i, pf, f = load.at(t)
            vr_table, ir_table = m.voltage_ranges[cf], m.current_ranges[icf]
            if self.v_auto[e]:
                self.v_range[e] = self._auto_step(vr_table, self.v_range[e], u, load.peak_factor)
            if self.i_auto[e]:
                self.i_range[e] = self._auto_step(ir_table, self.i_range[e], i, load.peak_factor)
            elif (m.protects_milliamp_ranges and self.i_range[e] <= 0.2 and i > 3 * self.i_range[e]):
                # Input protection: the mA shunt is taken out, 1 A (0.5 A at CF 6) under auto.
                self.i_range[e] = 1.0 if icf == 3.0 else 0.5
                self.i_auto[e] = True
            vr, ir = self.v_range[e], self.i_range[e]
            v_over = u > m.over_ratio * vr
            i_over = i > m.over_ratio * ir
            v_peak = u * load.peak_factor > vr * cf
            i_peak = i * load.peak_factor > ir * icf
            p = u * i * pf
            s = u * i
            inf = math.inf
            snap["U"][e] = inf if v_over else u
            snap["I"][e] = inf if i_over else i
            for q, value in (("P", p), ("S", s), ("Q", math.sqrt(max(s * s - p * p, 0.0))),
                             ("LAMBDA", pf), ("PHI", math.degrees(math.acos(max(min(pf, 1.0), -1.0))))):
                snap[q][e] = inf if (v_over or i_over) else value
            snap["FU"][e] = f if f > 0 and u > 0.01 * vr else math.nan
            snap["FI"][e] = f if f > 0 and i > 0.01 * ir else math.nan
            snap["URANGE"][e], snap["IRANGE"][e] = vr, ir
            if self.integ_state == "START" and math.isfinite(snap["P"][e]):
                self.energy_wh[e] += p * self.interval / 3600.0
            snap["WH"][e] = self.energy_wh[e]
            snap["TIME"][e] = self.integ_time
            base = 6 + 3 * e
            over_bits |= ((v_over or i_over) << base) | (v_peak << (base + 1)) | (i_peak << (base + 2))
        if self.integ_state == "START":
            self.integ_time += self.interval
        self.snapshot = snap
        self._set_condition(over_bits | 1)  # UPD rises while the update is computed ...
        self._set_condition(over_bits)  # ... and falls when it is done

    @staticmethod
    def _auto_step(table: tuple[float, ...], current: float, rms: float, peak_factor: float) -> float:
        """One auto-range step: up above 130 %, down below 30 % if it fits the lower range."""
        k = table.index(current) if current in table else len(table) - 1
        if rms > 1.3 * table[k] and k + 1 < len(table):
            return table[k + 1]
        if k > 0 and rms <= 0.3 * table[k] and rms <= 1.25 * table[k - 1]:
            return table[k - 1]
        return table[k]

    def _set_condition(self, new: int) -> None:
        old, self.condition = self.condition, new
        for bit in range(16):
            was, now = (old >> bit) & 1, (new >> bit) & 1
            f = self.filters[bit]
            if (was < now and f in ("RISE", "BOTH")) or (was > now and f in ("FALL", "BOTH")):
                self.eesr |= 1 << bit

    # -- message handling ---------------------------------------------------------------------------
    def handle(self, message: str) -> list[str]:
        """Process one message (``;``-separated commands); the reply lines it produces."""
        self.advance()
        self.received.append(message)
        replies = []
        for part in message.split(";"):
            if part.strip():
                reply = self._dispatch(part.strip())
                if reply is not None:
                    replies.append(reply)
        return [";".join(replies)] if replies else []

    def _dispatch(self, text: str) -> str | None:
        header, _, args = text.partition(" ")
        query = header.endswith("?")
        header = header.rstrip("?")
        try:
            if header.startswith("*"):
                return self._common(header.upper(), query)
            for pattern, handler in self._table:
                suffixes = pattern.match(header)
                if suffixes is not None:
                    reply = handler(args.strip(), suffixes, query)
                    if query and reply is not None and self.headers:
                        reply = f"{header.upper()} {reply}"
                    return reply
            raise DeviceError("undefined")
        except DeviceError as exc:
            self.push_error(exc.kind)
            return None

    def push_error(self, kind: str) -> None:
        self.errors_queue.append(self.errors[kind])

    def _common(self, header: str, query: bool) -> str | None:
        if header == "*IDN" and query:
            return self.idn()
        if header == "*CLS" and not query:
            self.errors_queue.clear()
            self.eesr = 0
            return None
        if header == "*RST" and not query:
            self.power_on()
            return None
        if header == "*OPC" and query:
            return "1"
        raise DeviceError("undefined")

    # -- handlers shared by the dialects ------------------------------------------------------------
    def _element_list(self, suffix: int | None) -> list[int]:
        if suffix is None:
            return list(range(self.model.elements))
        if not 1 <= suffix <= self.model.elements:
            raise DeviceError("undefined")
        return [suffix - 1]

    def _settings_locked(self) -> None:
        if self.integ_state == "START":
            raise DeviceError("integrating")

    def range_handler(self, kind: str, unit: str, element_at: int | None = None) -> Handler:
        """Fixed range of ``kind`` ("v" or "i") for all elements, or the one a suffix names."""

        def handler(args: str, sfx: list, query: bool) -> str | None:
            elements = self._element_list(sfx[element_at] if element_at is not None else None)
            ranges = self.v_range if kind == "v" else self.i_range
            if query:
                return ",".join(self.number_text(ranges[e]) for e in elements)
            self._settings_locked()
            table = (self.model.voltage_ranges[self.crest_factor] if kind == "v"
                     else self.model.current_ranges[self.i_crest_factor])
            value = number(args, unit)
            match = next((r for r in table if math.isclose(r, value, rel_tol=1e-6)), None)
            if match is None:
                raise DeviceError("illegal")
            autos = self.v_auto if kind == "v" else self.i_auto
            for e in elements:
                ranges[e] = match
                autos[e] = False
            self._restart_cycle()
            return None

        return handler

    def auto_handler(self, kind: str, element_at: int | None = None) -> Handler:
        def handler(args: str, sfx: list, query: bool) -> str | None:
            elements = self._element_list(sfx[element_at] if element_at is not None else None)
            autos = self.v_auto if kind == "v" else self.i_auto
            if query:
                return "1" if autos[elements[0]] else "0"
            self._settings_locked()
            state = self.on_off(args)
            for e in elements:
                autos[e] = state
            self._restart_cycle()
            return None

        return handler

    @staticmethod
    def on_off(args: str) -> bool:
        word = args.strip().upper()
        if word in ("ON", "1"):
            return True
        if word in ("OFF", "0"):
            return False
        raise DeviceError("illegal")

    def crest_factor_handler(self, inputs: str = "both") -> Handler:
        """Crest factor 3 or 6 for voltage and current ("both"), or for one input ("v"/"i")."""

        def handler(args: str, sfx: list, query: bool) -> str | None:
            if query:
                return f"{self.i_crest_factor if inputs == 'i' else self.crest_factor:g}"
            self._settings_locked()
            try:
                cf = float(args)
            except ValueError:
                raise DeviceError("illegal") from None
            if cf not in self.model.voltage_ranges:
                raise DeviceError("illegal")
            m = self.model
            for e in range(m.elements):
                # Fixed ranges go to the maximum of the new table (auto ones keep ranging).
                if inputs in ("both", "v") and cf != self.crest_factor:
                    table = m.voltage_ranges[cf]
                    self.v_range[e] = self._nearest(table, self.v_range[e]) if self.v_auto[e] else table[-1]
                if inputs in ("both", "i") and cf != self.i_crest_factor:
                    table = m.current_ranges[cf]
                    self.i_range[e] = self._nearest(table, self.i_range[e]) if self.i_auto[e] else table[-1]
            if inputs in ("both", "v"):
                self.crest_factor = cf
            if inputs in ("both", "i"):
                self.i_crest_factor = cf
            self._restart_cycle()
            return None

        return handler

    @staticmethod
    def _nearest(table: tuple[float, ...], value: float) -> float:
        return next((r for r in table if r >= value), table[-1])

    def choice_handler(self, attribute: str, words: tuple[str, ...], locked: bool = True) -> Handler:
        """A setting that takes one of ``words`` (mnemonics, short or long form)."""

        def handler(args: str, sfx: list, query: bool) -> str | None:
            if query:
                return getattr(self, attribute)
            if locked:
                self._settings_locked()
            for w in words:
                if word_is(args, w):
                    short = "".join(ch for ch in w if ch.isupper() or ch.isdigit())
                    setattr(self, attribute, short)
                    if locked:
                        self._restart_cycle()
                    return None
            raise DeviceError("illegal")

        return handler

    def interval_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if query:
            return self.number_text(self.interval)
        self._settings_locked()
        value = number(args, "S")
        match = next((i for i in self.model.intervals if math.isclose(i, value, rel_tol=1e-6)), None)
        if match is None:
            raise DeviceError("illegal")
        self.interval = match
        self._restart_cycle()
        return None

    def flag_handler(self, attribute: str) -> Handler:
        def handler(args: str, sfx: list, query: bool) -> str | None:
            if query:
                return "1" if getattr(self, attribute) else "0"
            setattr(self, attribute, self.on_off(args))
            return None

        return handler

    def error_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if not query:
            raise DeviceError("undefined")
        if not self.errors_queue:
            return self.no_error if self.qmes else "0"
        code, message = self.errors_queue.popleft()
        return f'{code},"{message}"' if self.qmes else str(code)

    def eesr_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if not query:
            raise DeviceError("undefined")
        value, self.eesr = self.eesr, 0
        return str(value)

    def condition_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if not query:
            raise DeviceError("undefined")
        return str(self.condition)

    def filter_handler(self, args: str, sfx: list, query: bool) -> str | None:
        bit = (sfx[0] or 1) - 1
        if not 0 <= bit < 16:
            raise DeviceError("undefined")
        if query:
            return self.filters[bit]
        for w in ("RISE", "FALL", "BOTH", "NEVer"):
            if word_is(args, w):
                self.filters[bit] = w.upper()
                return None
        raise DeviceError("illegal")

    # -- integrator ---------------------------------------------------------------------------------
    def integ_start(self, args: str, sfx: list, query: bool) -> str | None:
        if query:
            raise DeviceError("undefined")
        if self.integ_state == "START":
            raise DeviceError("integ_running")
        self.integ_state = "START"
        return None

    def integ_stop(self, args: str, sfx: list, query: bool) -> str | None:
        if query:
            raise DeviceError("undefined")
        if self.integ_state != "START":
            raise DeviceError("integ_not_running")
        self.integ_state = "STOP"
        return None

    def integ_reset(self, args: str, sfx: list, query: bool) -> str | None:
        if query:
            raise DeviceError("undefined")
        if self.integ_state == "START":
            raise DeviceError("integ_reset_running")
        self.integ_state = "RESET"
        self.energy_wh = [0.0] * self.model.elements
        self.integ_time = 0.0
        return None

    def integ_state_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if not query:
            raise DeviceError("undefined")
        return self.integ_state

    def accept(self, *words: str) -> Handler:
        """A setting the device accepts (validated) without it changing the simulation."""

        def handler(args: str, sfx: list, query: bool) -> str | None:
            if query:
                return words[0].upper() if words else "0"
            if words and not any(word_is(args, w) for w in words):
                raise DeviceError("illegal")
            return None

        return handler

    # -- values -------------------------------------------------------------------------------------
    def value_of(self, function: str, element: int) -> float:
        """The latest update's value of an instrument function (canonical name) for a 0-based element."""
        quantity = self.functions.get(function, "NONE")
        if element >= self.model.elements:
            return math.nan
        return self.snapshot[quantity][element]

    def function_name(self, arg: str) -> str:
        """An instrument function name in canonical form; DeviceError if the device lacks it."""
        for name in self.functions:
            if word_is(arg, name):
                return name
        raise DeviceError("illegal")

    # -- numbered numeric items (WT300E, WT500, GPM-8213) ---------------------------------------
    def item_count_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if query:
            return str(self.item_count)
        n = int(number(args))
        if not 1 <= n <= self.model.max_items:
            raise DeviceError("out_of_range")
        self.item_count = n
        return None

    def item_handler(self, with_element: bool) -> Handler:
        """``ITEM<x> <function>[,<element>]``; the GPM-8213 takes no element."""

        def handler(args: str, sfx: list, query: bool) -> str | None:
            index = sfx[0] or 1
            if not 1 <= index <= self.model.max_items:
                raise DeviceError("suffix")
            if query:
                fn, el = self.item_table.get(index, ("NONE", 1))
                return f"{fn},{el}" if with_element else fn
            parts = [p.strip() for p in args.split(",")]
            if with_element:
                if len(parts) not in (1, 2):
                    raise DeviceError("illegal")
                element = int(number(parts[1])) if len(parts) == 2 else 1
                if not 1 <= element <= self.model.elements:
                    raise DeviceError("out_of_range")
            else:
                if len(parts) != 1:
                    raise DeviceError("illegal")
                element = 1
            self.item_table[index] = (self.function_name(parts[0]), element)
            return None

        return handler

    def numbered_values_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if not query:
            raise DeviceError("undefined")
        if self.numeric_format != "ASC":
            return "#4" + "\x7f" * 8  # binary floats: not what a text reader can use
        values = []
        for index in range(1, self.item_count + 1):
            fn, el = self.item_table.get(index, ("NONE", 1))
            values.append(self.format_value(self.value_of(fn, el - 1)))
        return ",".join(values)
