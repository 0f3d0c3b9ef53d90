"""Shared machinery of the SCPI power-analyzer drivers (Yokogawa, R&S HMC8015, GW Instek GPM).

A family of analyzers is described by data, not by code: one :class:`CommandTable` holds every
command string the family understands, and one :class:`ModelSpec` per model holds its element
count, its range tables (per crest factor) and its accuracy. :class:`ScpiPowerAnalyzer` is the
one driver that speaks any such table; a family module only declares its table and models.

Reading data is polling: the driver asks for the numeric items at the instrument's update
interval. Families with a status register that says "a new update is ready" (Yokogawa's EESR
UPD bit) are polled in step with the instrument, so no update is read twice or skipped; the
others are polled on the driver's own clock at the update interval. A sample's timestamp is
taken in the middle of its values exchange, between sending the query and receiving the reply:
that is when the instrument handed over its latest update (within half a round trip, however
slow the link), so timestamps stay one update interval apart whatever the link's latency (see
:class:`ScpiPowerAnalyzer`).

Special values in replies (``NAN``, ``INF``, 9.91E+37 "no data", 9.9E+37 "over-range") never
become numbers: the value turns into NaN and the sample is flagged INVALID or OVERRANGE.

Multi-element models fill the per-element fields (``ch_w``, ``ch_v``, ``ch_a``, ``ch_pf``) and
put the totals in the base fields: watts and amps summed, volts averaged, power factor as
total watts over the sum of the elements' volt-amperes. A bad element makes the total bad.
Ranges are set for all elements at once.

Uncertainty (field ``uncert``, relative) follows each model's AccuracySpec: per element
rdg % of |P| + rng % of the power range (V range x A range, doubled at crest factor 6) +
``pf_error_pct`` % of the reactive power on AC, the band picked by the measured voltage
frequency; the elements' errors add up. It is NaN while either range is under auto control
(the sample is flagged AUTO_RANGE) and for flagged samples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from instruments.base import (
    AUTO,
    Clock,
    Config,
    ConfigurationError,
    Description,
    Driver,
    Identity,
    InstrumentDisconnected,
    InstrumentError,
    ModelSpec,
    Ranges,
    RangeValue,
    SettingSpec,
    SystemClock,
    check_range,
)
from instruments.records import Block, Flag, InstrumentEvent, empty_block, sample_dtype
from instruments.transports.base import TransportError, TransportTimeout

# Yokogawa's FLOAT-format sentinels, also sent as numbers in ASCII by the WT210 and HMC8015.
OVERRANGE_VALUE = 9.9e37  # -OL-, -OF-, "Error" on the display
NO_DATA_VALUE = 9.91e37  # "------": no item, no data yet
_HUGE = 9.0e37  # anything this large is a sentinel of some kind, never a measurement


# -- reply parsing --------------------------------------------------------------------------------
Sentinels = tuple[tuple[float, int], ...]
YOKOGAWA_SENTINELS: Sentinels = ((OVERRANGE_VALUE, int(Flag.OVERRANGE)), (NO_DATA_VALUE, int(Flag.INVALID)))


def parse_value(token: str, sentinels: Sentinels = YOKOGAWA_SENTINELS) -> tuple[float, int]:
    """One numeric token of a reply as (value, flags). Special values give (NaN, flag).

    ``NAN`` -> INVALID (no data), ``INF`` -> OVERRANGE, a family sentinel -> its flag, any other
    number beyond 9E+37 -> INVALID, and a token that is not a number at all -> INVALID.
    """
    t = token.strip().upper()
    if t.lstrip("+-") == "NAN":
        return math.nan, int(Flag.INVALID)
    if t.lstrip("+-") == "INF":
        return math.nan, int(Flag.OVERRANGE)
    try:
        x = float(t)
    except ValueError:
        return math.nan, int(Flag.INVALID)
    if not math.isfinite(x):
        return math.nan, int(Flag.OVERRANGE if math.isinf(x) else Flag.INVALID)
    if abs(x) >= _HUGE:
        for value, flag in sentinels:
            if math.isclose(abs(x), value, rel_tol=1e-4):
                return math.nan, flag
        return math.nan, int(Flag.INVALID)
    return x, 0


def parse_values(reply: str, sentinels: Sentinels = YOKOGAWA_SENTINELS) -> tuple[np.ndarray, np.ndarray]:
    """A comma-separated reply as (float64 values, uint16 flags), one entry per token."""
    tokens = [t for t in reply.strip().split(",")] if reply.strip() else []
    values = np.empty(len(tokens), dtype=np.float64)
    flags = np.zeros(len(tokens), dtype=np.uint16)
    for k, tok in enumerate(tokens):
        values[k], flags[k] = parse_value(tok, sentinels)
    return values, flags


_QUANTITY = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:E[-+]?\d+)?)([A-Z]*)$")
_UNITS = ("HZ", "V", "A", "S", "W")
_MULTIPLIERS = {"": 1.0, "M": 1e-3, "U": 1e-6, "N": 1e-9, "K": 1e3}


def parse_quantity(reply: str) -> float:
    """A setting read back from an instrument, in base units (volts, amps, seconds).

    Accepts NR1/NR2/NR3 numbers with or without a header before them and with or without a
    Yokogawa-style multiplier and unit after them: ``300.0E+00``, ``:RATE 500.0E-03``,
    ``200MA`` (milliamps, Yokogawa spells milli "M"), ``250MS``, ``1S``.
    """
    text = reply.strip().split()[-1].upper() if reply.strip() else ""
    m = _QUANTITY.match(text)
    if not m:
        raise ValueError(f"{reply!r} is not a number")
    number, suffix = float(m.group(1)), m.group(2)
    for unit in _UNITS:
        if suffix.endswith(unit):
            suffix = suffix[: -len(unit)]
            break
    if suffix not in _MULTIPLIERS:
        raise ValueError(f"{reply!r} has an unknown unit")
    return number * _MULTIPLIERS[suffix]


def parse_quantities(reply: str) -> list[float]:
    """A comma-separated list of settings (one per element) in base units."""
    text = reply.strip()
    if text and text.split()[0].startswith(":"):  # a header in front: drop it
        text = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    return [parse_quantity(part) for part in text.split(",") if part.strip()]


def parse_bool(reply: str) -> bool:
    """An ON/OFF or 1/0 reply (a header in front is ignored)."""
    word = reply.strip().split()[-1].upper() if reply.strip() else ""
    word = word.split(",")[0]
    if word in ("1", "ON"):
        return True
    if word in ("0", "OFF"):
        return False
    raise ValueError(f"{reply!r} is neither on nor off")


def parse_error(reply: str) -> tuple[int | None, str]:
    """An error-queue entry ``113,"Undefined header"`` as (113, "Undefined header").

    A reply that is not in this form gives (None, reply) so that it is reported as it came.
    """
    text = reply.strip()
    if text and text.split()[0].startswith(":"):
        text = text.split(None, 1)[1] if len(text.split(None, 1)) > 1 else ""
    code_text, _, message = text.partition(",")
    try:
        code = int(code_text.strip())
    except ValueError:
        return None, reply.strip()
    return code, message.strip().strip('"')


def time_token(seconds: float) -> str:
    """An update interval as Yokogawa writes it: ``100MS``, ``250MS``, ``1S``, ``20S``."""
    if seconds < 1.0:
        return f"{round(seconds * 1000)}MS"
    return f"{seconds:g}S"


def range_token(value: float, unit: Literal["V", "A"], with_units: bool) -> str:
    """A range as sent to the instrument: ``150V``, ``200MA``, ``2.5A``, or a bare number."""
    if not with_units:
        return f"{value:g}"
    if value < 1.0:
        return f"{value * 1000:g}M{unit}"
    return f"{value:g}{unit}"


# -- family and model data ------------------------------------------------------------------------
@dataclass(frozen=True)
class CommandTable:
    """Every command string a family of analyzers understands, in one place.

    Set commands are tuples (some settings take two commands, e.g. the HMC8015 crest factor
    is set for voltage and current separately) of format strings with the placeholders
    ``{value}``, ``{state}``, ``{count}``, ``{index}``, ``{function}``, ``{functions}`` and
    ``{element}``. An empty tuple / None means the family has no such command.
    """

    family: str
    init: tuple[str, ...]  # communication mode: sent on every open, errors checked after
    error_query: str
    voltage_range: tuple[str, ...]
    voltage_range_query: str
    voltage_auto: tuple[str, ...]
    voltage_auto_query: str
    current_range: tuple[str, ...]
    current_range_query: str
    current_auto: tuple[str, ...]
    current_auto_query: str
    crest_factor: tuple[str, ...]
    crest_factor_query: str
    mode: tuple[str, ...]
    mode_names: tuple[tuple[str, str], ...]  # (config mode, instrument word)
    values_query: str
    functions: tuple[tuple[str, str], ...]  # (quantity, instrument function name)
    # numbered: count + one numbered item per (function, element); list: one command naming
    # all functions; switch: every function the instrument knows switched ON or OFF.
    item_style: Literal["numbered", "list", "switch"]
    item_select: str
    item_count: str | None = None
    switch_functions: tuple[str, ...] = ()  # switch style: all functions, in reply order
    interval: tuple[str, ...] = ()  # () = fixed update rate: the driver only polls at the interval
    interval_query: str | None = None
    integ_setup: tuple[str, ...] = ()
    integ_start: str | None = None
    integ_stop: str | None = None
    integ_reset: str | None = None
    integ_state_query: str | None = None
    status_setup: tuple[str, ...] = ()
    update_query: str | None = None  # event register whose update bit says "new data"
    update_bit: int | None = None
    condition_query: str | None = None  # condition register: over-range now
    element_status_bits: tuple[tuple[int, ...], ...] = ()  # per element: (over-range, V peak, I peak)
    overflow_bit: int | None = None  # computation overflow: the numbers are not valid
    sentinels: Sentinels = YOKOGAWA_SENTINELS
    on_off: tuple[str, str] = ("ON", "OFF")
    range_units: bool = True  # send "150V" / "200MA" rather than bare numbers
    local: tuple[str, ...] = ()  # give the front panel back on close
    identify: str = "*IDN?"
    verify_query: str | None = None  # a query only this family answers (WT210 hides its name)
    verify_hint: str = ""


QUANTITIES = ("v", "a", "w", "pf", "freq", "v_range", "a_range", "wh")


def standard_settings(intervals: Sequence[float], crest_factors: Sequence[float],
                      has_interval_command: bool, has_integrator: bool) -> tuple[SettingSpec, ...]:
    """The settings every SCPI analyzer driver declares (same names, model-specific choices)."""
    interval_help = ("the instrument's data update interval" if has_interval_command else
                     "how often the driver reads the instrument (its own update rate is fixed)")
    settings = [
        SettingSpec("update_interval_s", "Update interval", "choice", 1.0, unit="s",
                    choices=tuple(intervals),
                    help=f"{interval_help}; applied by configure() from the session's settings"),
        SettingSpec("crest_factor", "Crest factor", "choice", 3.0, choices=tuple(crest_factors),
                    help="3 or 6; changes which ranges exist and doubles the range error at 6; "
                         "applied by configure()"),
        SettingSpec("mode", "Measurement mode", "choice", "rms", choices=("rms", "dc"),
                    help="true RMS (AC+DC) or DC mean; applied by configure()"),
        SettingSpec("query_timeout_s", "Reply timeout", "float", 1.0, unit="s", minimum=0.05, maximum=60.0,
                    help="how long to wait for a reply before the instrument counts as gone"),
        SettingSpec("model", "Expected model", "str", "",
                    help="refuse to run if the instrument reports another model (empty: any of the family)"),
    ]
    if has_integrator:
        settings.append(SettingSpec(
            "integrate", "Run the energy integrator", "bool", False,
            help="reset and start the instrument's integrator on start(), stop it on stop(); "
                 "the energy is read with each sample (see energy_wh)"))
    return tuple(settings)


def describe(name: str, vendor: str, models: Sequence[ModelSpec], commands: CommandTable,
             intervals: Sequence[float], transports: tuple[str, ...], summary: str) -> Description:
    """A family's Description. Ranges and accuracy are those of the first (reference) model at
    crest factor 3; the connected model's own tables are on the driver (:meth:`range_table`)."""
    ref = models[0]
    has_integrator = commands.integ_start is not None
    # What the sample records carry. Frequency is read too (it picks the accuracy band) and
    # the integrator's energy is on the driver (energy_wh); neither has a record field.
    quantities = ("w", "v", "a", "pf")
    crest_factors = sorted({cf for m in models for cf in m.crest_factors})
    return Description(
        name=name,
        vendor=vendor,
        models=tuple(dict.fromkeys(m.name for m in models)),
        channels=max(m.elements for m in models),
        quantities=quantities,
        voltage_ranges=ref.ranges_for("voltage", 3.0),
        current_ranges=ref.ranges_for("current", 3.0),
        fastest_interval_s=min(intervals),
        slowest_interval_s=max(intervals),
        accuracy=ref.accuracy,
        transports=transports,
        settings=standard_settings(intervals, crest_factors, bool(commands.interval), has_integrator),
        summary=summary,
    )


# -- the driver -----------------------------------------------------------------------------------
@dataclass
class _Reading:
    """One poll's worth of data before it becomes a record: per-element arrays."""

    t: float
    values: dict[str, np.ndarray]
    flags: np.ndarray  # per element, from special values and status bits
    garbled: bool = False


class ScpiPowerAnalyzer(Driver):
    """A power analyzer that speaks SCPI-style text, driven by its family's command table.

    Subclasses declare ``description``, ``commands``, ``model_specs``, ``vendor_names`` and
    ``intervals``; they add no methods of their own.

    Timestamps: each sample's time is the midpoint between sending the values query and
    receiving its reply (UTC, the clock's ``time()``). The reply is the instrument's latest
    completed update; with symmetric link delays the midpoint is when the instrument handed
    it over, within half a round trip either way, however slow the link. The values are the
    average over the update interval that ended just before: at most a tenth of an interval
    before for families polled on their update flag, up to one interval for the others.
    """

    commands: ClassVar[CommandTable]
    model_specs: ClassVar[tuple[ModelSpec, ...]]
    vendor_names: ClassVar[tuple[str, ...]]  # first *IDN? field, upper case
    intervals: ClassVar[tuple[float, ...]]

    def __init__(self, transport: Any = None, *, clock: Clock | None = None, **options: Any) -> None:
        super().__init__(transport, **options)
        self.check_options()
        self.clock: Clock = clock or SystemClock()
        self.model: ModelSpec | None = None
        self.identity: Identity | None = None
        self.energy_wh = math.nan  # integrator total, updated with every sample when integrating
        self._answered = False
        self._reset_session_state()

    # -- small helpers ----------------------------------------------------------------------------
    def _reset_session_state(self) -> None:
        self._config: Config | None = None
        self._interval = 1.0
        self._crest_factor: float | None = None
        self._layout: list[tuple[str, int]] = []
        self._state: Ranges | None = None
        self._running = False
        self._integrating = False
        self._next_poll = 0.0
        self._latched_bits = 0
        self._prev_ranges: tuple[float, float] | None = None
        self._lost_after_block: InstrumentDisconnected | None = None

    @property
    def _who(self) -> str:
        name = self.model.name if self.model else self.commands.family
        where = getattr(self.transport, "resource", "") or ""
        return f"{name} at {where}" if where else name

    @property
    def _timeout(self) -> float:
        return float(self.setting("query_timeout_s"))

    def _lost(self, exc: Exception, command: str) -> InstrumentDisconnected:
        if isinstance(exc, TransportTimeout):
            why = f"no reply to {command!r} within {self._timeout:g} s"
        else:
            why = f"the connection broke while sending {command!r} ({exc})"
        if not self._answered:
            hint = f" {self.commands.verify_hint}" if self.commands.verify_hint else ""
            where = str(getattr(self.transport, "resource", "") or "")
            if where.lower().startswith(("serial:", "asrl")):  # RS-232: settings must match the meter's
                hint = (" On a serial port the baud rate, data bits, parity and stop bits must match the "
                        "instrument's communication settings (e.g. serial:///dev/ttyUSB0?baudrate=9600)."
                        + hint)
            return InstrumentDisconnected(
                f"{self._who} does not answer: {why}. Check the resource, cable and power.{hint}")
        return InstrumentDisconnected(
            f"{self._who} stopped answering: {why}. No samples are taken until it is back; "
            "check its cable and power.")

    def _write(self, command: str) -> None:
        if self.transport is None:
            raise InstrumentError(f"the {self.description.name} driver has no transport: give it a resource")
        try:
            self.transport.write(command)
        except TransportError as exc:
            raise self._lost(exc, command) from exc

    def _query(self, command: str) -> str:
        if self.transport is None:
            raise InstrumentError(f"the {self.description.name} driver has no transport: give it a resource")
        try:
            reply = self.transport.query(command, timeout=self._timeout)
        except TransportError as exc:
            raise self._lost(exc, command) from exc
        self._answered = True
        return reply

    def _parsed(self, command: str, reply: str, parse: Any) -> Any:
        """``parse(reply)``; a reply that does not parse means the dialogue is out of step."""
        try:
            return parse(reply)
        except (ValueError, IndexError) as exc:
            raise InstrumentDisconnected(
                f"{self._who} answered {command!r} with {reply!r}, which is not what that query "
                "returns: the conversation is out of step. Reconnecting resets it.") from exc

    def _drain(self) -> None:
        """Throw away replies left over from an earlier, interrupted conversation."""
        try:
            self.transport.drain(timeout=min(0.05, self._timeout))
        except TransportError as exc:
            raise InstrumentDisconnected(f"cannot talk to {self._who}: {exc}") from exc

    def read_errors(self) -> list[tuple[int | None, str]]:
        """Empty the instrument's error queue; the errors it held, oldest first."""
        errors: list[tuple[int | None, str]] = []
        for _ in range(32):  # a queue holds a few dozen entries at most; never loop forever
            code, message = parse_error(self._query(self.commands.error_query))
            if code == 0:
                break
            errors.append((code, message))
            if code is None:
                break
        return errors

    def _apply(self, what: str, commands: Sequence[str], **fields: Any) -> None:
        """Send the commands of one setting, then read the error queue; refuse loudly."""
        sent = []
        for template in commands:
            command = template.format(**fields)
            self._write(command)
            sent.append(command)
        errors = self.read_errors()
        if errors:
            listed = "; ".join(f"error {c} {m!r}" if c is not None else repr(m) for c, m in errors)
            raise ConfigurationError(
                f"{self._who} refused {what} ({'; '.join(sent)}): {listed}. "
                "The instrument is not set up as asked; correct the setting and connect again.")

    def _require_model(self) -> ModelSpec:
        if self.model is None:
            raise InstrumentError(f"{self._who}: identify() the instrument before configuring it")
        return self.model

    # -- identification ---------------------------------------------------------------------------
    @classmethod
    def match_idn(cls, idn_reply: str) -> ModelSpec | None:
        """The model an ``*IDN?`` reply names, if it belongs to this family."""
        fields = [f.strip() for f in idn_reply.split(",")]
        if len(fields) < 2 or fields[0].upper() not in cls.vendor_names:
            return None
        token = fields[1].upper()
        for spec in cls.model_specs:
            for name in spec.idn_models:
                if token == name.upper() or token.startswith(name.upper() + "-"):
                    return spec
        return None

    def open(self) -> None:
        """Connect and put the instrument in the communication mode the driver reads."""
        if self.transport is None:
            raise InstrumentError(f"the {self.description.name} driver has no transport: give it a resource")
        self._reset_session_state()
        self._answered = False  # nothing heard on this connection yet
        try:
            self.transport.open()
        except TransportError as exc:
            raise InstrumentDisconnected(f"cannot connect to {self._who}: {exc}") from exc
        self._drain()
        self._apply("the communication mode", self.commands.init)

    def identify(self) -> Identity:
        """Ask ``*IDN?``, match the model (or verify the family where the name is hidden)."""
        c = self.commands
        raw = self._query(c.identify).strip()
        fields = [f.strip() for f in raw.split(",")] + ["", "", ""]
        vendor, token, serial, firmware = fields[:4]
        if vendor.upper() not in self.vendor_names:
            raise InstrumentError(
                f"{self._who} answers {raw!r}: that is not a {self.description.vendor} analyzer "
                f"of the {self.description.name} family ({', '.join(self.description.models)}); "
                "choose the driver that matches the instrument.")
        spec = self.match_idn(raw)
        if c.verify_query:
            spec = self._verify_family(raw, spec)
        if spec is None:
            raise InstrumentError(
                f"{self._who} reports model {token!r}, which the {self.description.name} driver does not "
                f"know (it knows {', '.join(self.description.models)}).")
        expected = str(self.setting("model") or "").strip()
        if expected and expected.upper() not in (spec.name.upper(), token.upper()):
            raise InstrumentError(
                f"{self._who} is a {spec.name} (serial {serial}), not the {expected} this setup expects.")
        self.model = spec
        self.identity = Identity(vendor, spec.name, serial, firmware, raw)
        return self.identity

    def _verify_family(self, raw: str, spec: ModelSpec | None) -> ModelSpec | None:
        c = self.commands
        hint = f" {c.verify_hint}" if c.verify_hint else ""
        try:
            reply = self.transport.query(c.verify_query, timeout=self._timeout)
        except TransportTimeout as exc:
            raise InstrumentError(
                f"{self._who} answers *IDN? with {raw!r} but not {c.verify_query!r}, which every "
                f"{'/'.join(self.description.models)} answers.{hint}") from exc
        except TransportError as exc:
            raise self._lost(exc, c.verify_query) from exc
        errors = self.read_errors()
        if errors or not reply.strip():
            raise InstrumentError(
                f"{self._who} does not understand {c.verify_query!r} (errors {errors}).{hint}")
        # The name is hidden: a family member that answers but reports an unknown code is
        # taken as the family's first model.
        return spec or self.model_specs[0]

    # -- configuration ----------------------------------------------------------------------------
    def range_table(self, kind: Literal["voltage", "current"]) -> tuple[float, ...]:
        """The ranges of ``kind`` the connected model has at the crest factor in force."""
        model = self._require_model()
        return model.ranges_for(kind, self._crest_factor or 3.0)

    def round_up_range(self, kind: Literal["voltage", "current"], value: float) -> float:
        """Smallest range of the connected model (at its crest factor) that holds ``value``."""
        table = self.range_table(kind)
        return next((r for r in table if r >= value), table[-1])

    def configure(self, config: Config) -> None:
        """Crest factor, measurement mode, update interval, numeric items, status reporting.

        Each setting is checked against the instrument's error queue as it is applied; the
        first refusal raises ConfigurationError naming the setting, the code and the message.
        """
        model = self._require_model()
        c = self.commands
        interval = float(config.update_interval_s)
        if not any(math.isclose(interval, i) for i in self.intervals):
            raise ConfigurationError(
                f"the {model.name} updates every {', '.join(f'{i:g}' for i in self.intervals)} s; "
                f"{interval:g} s is not one of them")
        cf = float(config.crest_factor)
        model.ranges_for("voltage", cf)  # raises for a crest factor the model lacks
        modes = dict(c.mode_names)
        if config.mode not in modes:
            raise ConfigurationError(f"the {model.name} measures in {', '.join(modes)} mode, not {config.mode!r}")
        self._running = False
        self._quiesce_integrator()
        self._apply(f"crest factor {cf:g}", c.crest_factor, value=f"{cf:g}")
        self._crest_factor = cf
        self._state = None  # a crest-factor change moves fixed ranges to the maximum
        self._apply(f"measurement mode {config.mode.upper()}", c.mode, value=modes[config.mode])
        if c.interval:
            self._apply(f"update interval {interval:g} s", c.interval, value=time_token(interval))
        layout, item_commands = self._items(model)
        self._apply("the numeric items", item_commands)
        self._layout = layout
        if c.status_setup:
            self._apply("status reporting", c.status_setup)
        if self.setting("integrate") and c.integ_setup:
            self._apply("the integrator mode", c.integ_setup)
        self._interval = interval
        self._config = Config(interval, cf, config.mode, dict(config.extra))

    def _items(self, model: ModelSpec) -> tuple[list[tuple[str, int]], list[str]]:
        """What the values reply will hold, in order, and the commands that select it."""
        c = self.commands
        functions = dict(c.functions)
        wanted = [q for q in QUANTITIES if q in functions and (q != "wh" or self.setting("integrate"))]
        elements = range(1, model.elements + 1)
        if c.item_style == "numbered":
            layout = [(q, e) for e in elements for q in wanted]
            if len(layout) > model.max_items:
                raise ConfigurationError(f"the {model.name} returns at most {model.max_items} items")
            commands = [c.item_count.format(count=len(layout))] if c.item_count else []
            commands += [c.item_select.format(index=k, function=functions[q], element=e)
                         for k, (q, e) in enumerate(layout, start=1)]
            return layout, commands
        if c.item_style == "list":
            layout = [(q, 1) for q in wanted]
            return layout, [c.item_select.format(functions=",".join(functions[q] for q in wanted))]
        # switch: the reply holds the switched-on functions in the instrument's own order,
        # element by element within each function.
        on = {functions[q]: q for q in wanted}
        on_word, off_word = c.on_off
        commands = [c.item_select.format(function=f, state=on_word if f in on else off_word)
                    for f in c.switch_functions]
        layout = [(on[f], e) for f in c.switch_functions if f in on for e in elements]
        return layout, commands

    def _quiesce_integrator(self) -> None:
        """Settings cannot change while integrating: stop and reset the integrator first."""
        c = self.commands
        if c.integ_reset is None:
            return
        self._integrating = False
        if c.integ_state_query:
            state = self._parsed(c.integ_state_query, self._query(c.integ_state_query),
                                 lambda r: r.strip().split()[-1].upper())
            commands = ([c.integ_stop] if state.startswith("STAR") else []) + (
                [c.integ_reset] if not state.startswith("RES") else [])
            if commands:
                self._apply("stopping the integrator", commands)
        else:
            # No state query: stop and reset blindly. "Not running" refusals are expected here.
            self._write(c.integ_stop)
            self._write(c.integ_reset)
            self.read_errors()

    def set_ranges(self, voltage: RangeValue, current: RangeValue) -> None:
        """Fixed ranges from the model's table at the crest factor in force, or AUTO."""
        model = self._require_model()
        c = self.commands
        cf = self._crest_factor
        if cf is None:
            cf = self._parsed(c.crest_factor_query, self._query(c.crest_factor_query), parse_quantity)
            self._crest_factor = cf
        v = check_range(model.ranges_for("voltage", cf), voltage, f"{model.name} voltage (crest factor {cf:g})")
        a = check_range(model.ranges_for("current", cf), current, f"{model.name} current (crest factor {cf:g})")
        on, off = c.on_off
        if v == AUTO:
            self._apply("voltage auto range", c.voltage_auto, state=on)
        else:
            self._apply(f"voltage range {v:g} V", (*c.voltage_auto, *c.voltage_range), state=off,
                        value=range_token(float(v), "V", c.range_units))
        if a == AUTO:
            self._apply("current auto range", c.current_auto, state=on)
        else:
            self._apply(f"current range {a:g} A", (*c.current_auto, *c.current_range), state=off,
                        value=range_token(float(a), "A", c.range_units))
        state = self.ranges()
        for asked, got, auto, what in ((v, state.voltage, state.voltage_auto, "voltage"),
                                       (a, state.current, state.current_auto, "current")):
            if asked == AUTO and not auto or asked != AUTO and (auto or not math.isclose(got, float(asked))):
                raise ConfigurationError(
                    f"{self._who} was asked for {what} range {asked} but reports "
                    f"{'auto' if auto else f'{got:g}'}; the ranges are not as set up.")

    def ranges(self) -> Ranges:
        """The ranges in force, read from the instrument (element 1 for multi-element models)."""
        c = self.commands

        def ask(command: str, parse: Any) -> Any:
            return self._parsed(command, self._query(command), parse)

        v = ask(c.voltage_range_query, parse_quantities)
        v_auto = ask(c.voltage_auto_query, parse_bool)
        a = ask(c.current_range_query, parse_quantities)
        a_auto = ask(c.current_auto_query, parse_bool)
        self._state = Ranges(v[0] if v else math.nan, a[0] if a else math.nan, v_auto, a_auto)
        return self._state

    # -- integrator -------------------------------------------------------------------------------
    def start_integration(self) -> None:
        """Reset and start the instrument's energy integrator."""
        c = self.commands
        if c.integ_start is None:
            raise InstrumentError(f"the {self._who} has no energy integrator")
        self._apply("starting the integrator", [c.integ_reset, c.integ_start])
        self._integrating = True

    def stop_integration(self) -> None:
        """Stop the energy integrator; its count stays readable until the next reset."""
        c = self.commands
        if c.integ_stop is None:
            raise InstrumentError(f"the {self._who} has no energy integrator")
        self._integrating = False
        self._apply("stopping the integrator", [c.integ_stop])

    def integration_state(self) -> str:
        """START, STOP, RESET, TIMEUP or ERROR as the instrument reports it ("" if it cannot tell)."""
        c = self.commands
        if not c.integ_state_query:
            return ""
        return self._parsed(c.integ_state_query, self._query(c.integ_state_query),
                            lambda r: r.strip().split()[-1].upper())

    # -- streaming --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start polling (and the integrator if the ``integrate`` option is on)."""
        if self._config is None:
            raise InstrumentError(f"{self._who}: configure() before start()")
        c = self.commands
        if self._state is None:
            self.ranges()
        if self.setting("integrate") and c.integ_start:
            self.start_integration()
        anchor = getattr(self.clock, "anchor", None)
        if anchor is not None:
            anchor()  # this run's timestamps start from the wall clock now, then run steadily
        if c.update_query:
            self._query(c.update_query)  # clear events latched while configuring
        self._latched_bits = 0
        self._prev_ranges = None
        # With an update flag, ask at once (the flag says when data is ready). Without one,
        # wait an interval: the settings just applied restarted the instrument's measurement.
        self._next_poll = self.clock.monotonic() + (0.0 if c.update_query else self._interval)
        self._running = True

    def stop(self) -> None:
        """Stop polling (and the integrator). Nothing to do if not running."""
        if not self._running:
            return
        self._running = False
        if self._integrating:
            self.stop_integration()

    def close(self) -> None:
        """Stop, give the front panel back, and close the transport. Never raises."""
        try:
            self.stop()
        except InstrumentError:
            pass
        self._running = False
        if self.transport is None:
            return
        try:
            if self.transport.is_open:
                for command in self.commands.local:
                    self.transport.write(command)
        except TransportError:
            pass
        try:
            self.transport.close()
        except TransportError:
            pass

    def read_block(self, timeout: float = 0.5) -> Block | None:
        """The samples that came due within ``timeout``, polled at the update interval.

        A family with an update flag is asked for it first, and its values are read only once
        the instrument has a new update; otherwise the driver asks again a tenth of an interval
        later. Returns None when nothing came due. Raises InstrumentDisconnected when the
        instrument stops answering; close() then open()/identify()/configure()/start() resume.
        """
        if self._lost_after_block is not None:  # the device vanished after the last block's readings
            exc, self._lost_after_block = self._lost_after_block, None
            raise exc
        if not self._running:
            raise InstrumentError(f"{self._who} is not started; call start() first")
        clock = self.clock
        deadline = clock.monotonic() + max(float(timeout), 0.0)
        readings: list[_Reading] = []
        retry = max(self._interval / 10.0, 0.01)
        while len(readings) < 10_000:
            now = clock.monotonic()
            if self._next_poll > now:
                if self._next_poll > deadline:
                    if not readings:
                        clock.sleep(deadline - now)
                    break
                clock.sleep(self._next_poll - now)
            polled_at = clock.monotonic()
            try:
                reading = self._poll()
            except InstrumentDisconnected as exc:
                self._running = False
                self._integrating = False
                if not readings:
                    raise
                # Readings already taken in this call are measurements: hand them out now and
                # report the loss on the next call, so no acquired sample is dropped.
                self._lost_after_block = exc
                break
            if reading is None:
                self._next_poll = polled_at + retry
                continue
            readings.append(reading)
            if self.commands.update_query:
                # The update just happened; the next one is an interval after it.
                self._next_poll = polled_at + self._interval
            else:
                due = self._next_poll + self._interval
                self._next_poll = due if due > polled_at else polled_at + self._interval
        if not readings:
            return None
        events: list[InstrumentEvent] = []
        return Block(self._records(readings, events), events)

    def _poll(self) -> _Reading | None:
        c = self.commands
        model = self._require_model()
        bits = 0
        if c.update_query:
            bits = int(self._parsed(c.update_query, self._query(c.update_query), parse_quantity))
            if c.update_bit is not None and not (bits >> c.update_bit) & 1:
                self._latched_bits |= bits  # keep over-range events for the next fresh sample
                return None
            bits |= self._latched_bits
            self._latched_bits = 0
            if c.condition_query:
                bits |= int(self._parsed(c.condition_query, self._query(c.condition_query), parse_quantity))
        t_sent = self.clock.time()
        reply = self._query(c.values_query)
        t_received = self.clock.time()
        values, flags = parse_values(reply, c.sentinels)
        n = model.elements
        per_element = {q: np.full(n, np.nan) for q in QUANTITIES}
        element_flags = np.zeros(n, dtype=np.uint16)
        garbled = len(values) != len(self._layout)
        if garbled:
            element_flags[:] = int(Flag.INVALID)
        else:
            for (quantity, element), value, flag in zip(self._layout, values, flags, strict=True):
                per_element[quantity][element - 1] = value
                if quantity in ("v", "a", "w"):  # PF and frequency may be missing legitimately
                    element_flags[element - 1] |= flag
        for k, element_bits in enumerate(c.element_status_bits[:n]):
            over, *peaks = element_bits
            if (bits >> over) & 1:
                element_flags[k] |= int(Flag.OVERRANGE)
            if any((bits >> b) & 1 for b in peaks):
                element_flags[k] |= int(Flag.OVERRANGE | Flag.CLIPPED)
        if c.overflow_bit is not None and (bits >> c.overflow_bit) & 1:
            element_flags[:] |= int(Flag.INVALID)
        return _Reading((t_sent + t_received) / 2.0, per_element, element_flags, garbled)

    def _records(self, readings: list[_Reading], events: list[InstrumentEvent]) -> np.ndarray:
        model = self._require_model()
        block = empty_block(len(readings), self.dtype)
        multi = model.elements > 1
        for i, r in enumerate(readings):
            block[i] = self._record(r, block[i], multi, events)
        return block

    def _record(self, r: _Reading, rec: np.void, multi: bool, events: list[InstrumentEvent]) -> np.void:
        model = self._require_model()
        state = self._state or Ranges(math.nan, math.nan, True, True)
        vals = r.values
        if r.garbled:
            events.append(InstrumentEvent(r.t, "error", {
                "message": f"{self._who} sent a values reply that does not match the "
                           f"{len(self._layout)} items asked for; the sample is marked invalid"}))
        # Ranges: per sample where the instrument reports them, else the ones set up.
        v_rng = vals["v_range"] if np.isfinite(vals["v_range"]).any() else np.full(
            model.elements, math.nan if state.voltage_auto else state.voltage)
        a_rng = vals["a_range"] if np.isfinite(vals["a_range"]).any() else np.full(
            model.elements, math.nan if state.current_auto else state.current)
        v_range = float(np.nanmax(v_rng)) if np.isfinite(v_rng).any() else math.nan
        a_range = float(np.nanmax(a_rng)) if np.isfinite(a_rng).any() else math.nan
        flags = int(np.bitwise_or.reduce(r.flags))
        now_ranges = (v_range, a_range)
        if self._prev_ranges is not None and not _same(self._prev_ranges, now_ranges):
            flags |= int(Flag.RANGE_CHANGE)
            v_moved = not _same((self._prev_ranges[0],), (v_range,))
            a_moved = not _same((self._prev_ranges[1],), (a_range,))
            if (v_moved and not state.voltage_auto) or (a_moved and not state.current_auto):
                self._unexpected_range(r.t, now_ranges, events)
                state = self._state or state
        self._prev_ranges = now_ranges
        auto = state.voltage_auto or state.current_auto
        if auto:
            flags |= int(Flag.AUTO_RANGE)
        w_el, v_el, a_el, pf_el = vals["w"], vals["v"], vals["a"], vals["pf"]
        if multi:
            w = float(np.sum(w_el))
            a = float(np.sum(a_el))
            v = float(np.mean(v_el))
            s = float(np.sum(v_el * a_el))
            pf = w / s if s > 0 else math.nan
            rec["ch_w"], rec["ch_v"], rec["ch_a"], rec["ch_pf"] = w_el, v_el, a_el, pf_el
        else:
            w, v, a, pf = float(w_el[0]), float(v_el[0]), float(a_el[0]), float(pf_el[0])
        if np.isfinite(vals["wh"]).any():
            self.energy_wh = float(np.nansum(vals["wh"]))
        uncert = math.nan
        if not auto and not flags & int(Flag.OVERRANGE | Flag.INVALID):
            uncert = self._uncertainty(model, w_el, v_el, a_el, vals["freq"], v_rng, a_rng)
        rec["t"], rec["w"], rec["v"], rec["a"], rec["pf"] = r.t, w, v, a, pf
        rec["v_range"], rec["a_range"], rec["uncert"], rec["flags"] = v_range, a_range, uncert, flags
        return rec

    def _unexpected_range(self, t: float, now: tuple[float, float], events: list[InstrumentEvent]) -> None:
        """A fixed range changed by itself (the WT310E's input protection does this): say so."""
        state = self.ranges()
        events.append(InstrumentEvent(t, "range", {
            "voltage": now[0], "current": now[1],
            "voltage_auto": state.voltage_auto, "current_auto": state.current_auto,
            "message": f"{self._who} changed its range by itself to {now[0]:g} V / {now[1]:g} A"
                       f"{' and switched to auto range' if state.voltage_auto or state.current_auto else ''}; "
                       "samples from here are not at the ranges chosen for this run."}))

    def _uncertainty(self, model: ModelSpec, w: np.ndarray, v: np.ndarray, a: np.ndarray,
                     freq: np.ndarray, v_rng: np.ndarray, a_rng: np.ndarray) -> float:
        """Relative uncertainty of the total power: the elements' absolute errors added up.

        Per element: rdg % of |P| + rng % of the power range (times the crest-factor factor)
        + the PF term (pf_error_pct % of the reactive power) on AC. The band comes from the
        measured frequency; DC mode, or no measurable frequency, uses the DC band.
        """
        spec = model.accuracy
        cf_factor = dict(spec.cf_range_factor).get(float(self._crest_factor or 3.0), 1.0)
        dc = self._config is not None and self._config.mode == "dc"
        total_error = 0.0
        for k in range(model.elements):
            f = 0.0 if dc or not math.isfinite(freq[k]) else float(freq[k])
            rdg, rng = spec.band_for(f)
            p = abs(float(w[k]))
            error = rdg / 100.0 * p + rng / 100.0 * cf_factor * float(v_rng[k]) * float(a_rng[k])
            if f > 0.0:
                s = abs(float(v[k]) * float(a[k]))
                error += model.pf_error_pct / 100.0 * math.sqrt(max(s * s - p * p, 0.0))
            total_error += error
        total = abs(float(np.sum(w)))
        if not math.isfinite(total_error) or total == 0.0:
            return math.nan
        return total_error / total

    # -- description of the instance ----------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        """Record type: per-element fields for the connected model (final after identify())."""
        return sample_dtype(self.model.elements if self.model else self.description.channels)

    def settings_snapshot(self) -> dict:
        """Driver, options, the identified model and the settings last applied."""
        snap = super().settings_snapshot()
        snap.update({
            "family": self.commands.family,
            "model": self.model.name if self.model else None,
            "identity": self.identity.to_dict() if self.identity else None,
            "config": self._config.to_dict() if self._config else None,
            "ranges": self._state.to_dict() if self._state else None,
            "numeric_items": [f"{q}{e}" for q, e in self._layout],
        })
        return snap


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all((math.isnan(x) and math.isnan(y)) or math.isclose(x, y) for x, y in zip(a, b, strict=True))


def scpi_drivers() -> dict[str, type[ScpiPowerAnalyzer]]:
    """Every registered driver that speaks SCPI through a command table, by registry name."""
    from instruments import registry

    return {name: cls for name, cls in registry.available().items()
            if isinstance(cls, type) and issubclass(cls, ScpiPowerAnalyzer)}


def recognise(idn_reply: str) -> tuple[str, str] | None:
    """(registry driver name, model) for an ``*IDN?`` reply, or None if no driver knows it.

    The WT210/WT230 report a model code rather than their name; the code is enough here
    (``identify`` verifies the family with a WT210-only command when it connects).
    """
    for name, cls in sorted(scpi_drivers().items()):
        spec = cls.match_idn(idn_reply)
        if spec is not None:
            return name, spec.name
    return None
