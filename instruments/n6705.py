"""Keysight N6705B/C DC power analyzer: one output channel's energy through the external data log (ELOG).

The ELOG (mainframe firmware D.01.09 and later; SCPI only) averages voltage and current over
an integration period and queues one record per period in a FIFO that holds about 20 s; the
computer must fetch faster than that or the oldest records are overwritten. Commands (Keysight
N6700 user's / programming guide, ELOG subsystem; :data:`COMMANDS` holds every string sent):

- ``SENS:ELOG:FUNC:CURR ON,(@1)``, ``SENS:ELOG:FUNC:VOLT ON,(@1)`` (and ``...:MINM ON`` for the
  minimum and maximum), ``SENS:ELOG:CURR:DC:RANG:AUTO ON,(@1)``, ``SENS:ELOG:PER <s>,(@1)``;
- ``FORM ASC`` or ``FORM REAL`` + ``FORM:BORD NORM``, ``TRIG:ELOG:SOUR BUS,(@1)``;
- ``INIT:ELOG (@1)``, ``TRIG:ELOG (@1)``, then ``FETC:ELOG? <records>,(@1)`` repeatedly; ``ABOR:ELOG (@1)``.

A record holds, in this order, current average, current minimum, current maximum, voltage
average, voltage minimum, voltage maximum (minimum / maximum only when enabled). ASCII replies
are comma-separated numbers; REAL replies an IEEE 488.2 definite-length block of float32
(``#<n><length><bytes>``, big-endian with ``FORM:BORD NORM``). The shortest period is
102.4 us per logged parameter (REAL format; ASCII is slower). Not yet checked on an instrument
(the guide's excerpts we read do not say): that REAL values are 32-bit, the replies of
``SYST:CHAN:COUN?`` / ``SYST:CHAN:MOD?``, and the ELOG auto-range header.

Power and energy. A record's power is ``I_avg x V_avg``: the ELOG gives no average of the
product. On a regulated supply the difference is small and bounded by the record's own spread,
``|mean(i v) - mean(i) mean(v)| <= (I_max - I_min)(V_max - V_min) / 4``; with ``minmax`` on, that
bound is added to each sample's uncertainty. Energy is ``sum(P) x period``.

Loss. The records produced since the trigger are ``elapsed / period`` on the driver's clock.
After a fetch that emptied the FIFO (fewer records than asked for), a shortfall beyond
:data:`LOSS_SLACK_RECORDS` means the FIFO overflowed: the missing records are counted
(``stats["lost"]``), a ``gap`` event says how many, the next record carries GAP_BEFORE, and the
timestamps after it move on by the lost time. A reply whose numbers do not make whole records is
garbled: its samples are INVALID.

The N6705 cannot timestamp by itself: in an MLPerf Tiny run the edges come from the interface
board. Ranges are the module's automatic current ranging (seamless on the N678xA SMUs); the
station sets none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from instruments.base import (
    AccuracySpec,
    Clock,
    Config,
    ConfigurationError,
    Description,
    Driver,
    Identity,
    InstrumentDisconnected,
    InstrumentError,
    NoRanges,
    SettingSpec,
    SystemClock,
)
from instruments.records import Block, Flag, InstrumentEvent, empty_block
from instruments.transports.base import TransportError, TransportTimeout

MODELS = ("N6705B", "N6705C")
MIN_PERIOD_PER_PARAMETER_S = 102.4e-6
MAX_PERIOD_S = 60.0
FIFO_S = 20.0  # what the FIFO holds, about
LOSS_SLACK_RECORDS = 3  # records in flight between the instrument's count and ours (timing jitter)

COMMANDS: dict[str, str] = {
    "identify": "*IDN?",
    "clear": "*CLS",
    "error": "SYST:ERR?",
    "channel_count": "SYST:CHAN:COUN?",
    "module": "SYST:CHAN:MOD? (@{ch})",
    "format": "FORM {fmt}",
    "byte_order": "FORM:BORD NORM",
    "log_current": "SENS:ELOG:FUNC:CURR ON,(@{ch})",
    "log_voltage": "SENS:ELOG:FUNC:VOLT ON,(@{ch})",
    "current_minmax": "SENS:ELOG:FUNC:CURR:MINM {on},(@{ch})",
    "voltage_minmax": "SENS:ELOG:FUNC:VOLT:MINM {on},(@{ch})",
    "current_autorange": "SENS:ELOG:CURR:DC:RANG:AUTO ON,(@{ch})",
    "period": "SENS:ELOG:PER {period},(@{ch})",
    "trigger_source": "TRIG:ELOG:SOUR BUS,(@{ch})",
    "initiate": "INIT:ELOG (@{ch})",
    "trigger": "TRIG:ELOG (@{ch})",
    "fetch": "FETC:ELOG? {records},(@{ch})",
    "abort": "ABOR:ELOG (@{ch})",
}

N6705_ACCURACY = AccuracySpec(
    bands=((0.0, 0.5, 0.0),),
    cf_range_factor=((3.0, 1.0), (6.0, 1.0)),
    source="station assumption, not a datasheet figure: 0.5 % of reading for I x V of an N678xA/N673xB "
           "module's ELOG averages; offsets per range not included. Use the module's datasheet for a claim",
)

DESCRIPTION = Description(
    name="n6705",
    vendor="Keysight",
    models=MODELS,
    channels=1,
    quantities=("w", "v", "a"),
    voltage_ranges=(),
    current_ranges=(),
    fastest_interval_s=2 * MIN_PERIOD_PER_PARAMETER_S,
    slowest_interval_s=MAX_PERIOD_S,
    accuracy=N6705_ACCURACY,
    transports=("visa",),
    settings=(
        SettingSpec("update_interval_s", "ELOG integration period", "float", 1e-3, unit="s",
                    minimum=2 * MIN_PERIOD_PER_PARAMETER_S, maximum=MAX_PERIOD_S,
                    help="one record per period: averages (and min / max) of current and voltage"),
        SettingSpec("channel", "Output channel", "int", 1, minimum=1, maximum=4,
                    help="the mainframe output whose module supplies the device under test"),
        SettingSpec("minmax", "Log minimum and maximum", "bool", True,
                    help="also log min / max per record (bounds the I_avg x V_avg error; needs a longer period)"),
        SettingSpec("data_format", "Data format", "choice", "ascii", choices=("ascii", "real"),
                    help="ascii: comma-separated numbers; real: float32 blocks (needed near the shortest periods)"),
        SettingSpec("fetch_records", "Records per fetch", "int", 5000, minimum=1, maximum=1_000_000,
                    help="the most records asked for in one FETC:ELOG?"),
        SettingSpec("poll_interval_s", "Fetch interval", "float", 0.5, unit="s", minimum=0.01, maximum=10.0,
                    help="how often the FIFO is emptied (it holds about 20 s)"),
        SettingSpec("reply_timeout_s", "Reply timeout", "float", 2.0, unit="s", minimum=0.1, maximum=60.0),
    ),
    summary="Keysight N6705B/C power analyzer mainframe: ELOG energy logging of one output over VISA",
)


def decode_real_block(data: bytes) -> np.ndarray:
    """An IEEE 488.2 definite-length block of big-endian float32 (``#<n><length><bytes>``) -> values."""
    if len(data) < 2 or data[:1] != b"#" or not data[1:2].isdigit() or data[1:2] == b"0":
        raise ValueError(f"not a definite-length block: {data[:12]!r}")
    digits = int(data[1:2])
    header = 2 + digits
    try:
        length = int(data[2:header])
    except ValueError:
        raise ValueError(f"bad block length field {data[2:header]!r}") from None
    body = data[header:header + length]
    if len(body) != length or length % 4:
        raise ValueError(f"block of {len(body)} bytes, {length} announced (float32 needs a multiple of 4)")
    return np.frombuffer(body, dtype=">f4").astype(np.float64)


def encode_real_block(values: np.ndarray) -> bytes:
    """Float32 big-endian values as a definite-length block (what the instrument sends with FORM REAL)."""
    body = np.asarray(values, dtype=">f4").tobytes()
    size = str(len(body)).encode()
    return b"#" + str(len(size)).encode() + size + body


class N6705(NoRanges, Driver):
    """One output of a Keysight N6705B/C mainframe, logged with the ELOG.

    Options are the declared settings. While logging, ``stats`` counts records, lost records,
    garbled replies and fetches.
    """

    description = DESCRIPTION
    no_ranges_reason = "the N6705 driver logs with the module's automatic current ranging; use auto"

    def __init__(self, transport: Any = None, *, clock: Clock | None = None, **options: Any) -> None:
        super().__init__(transport, **options)
        self.check_options()
        self.clock: Clock = clock or SystemClock()
        self.identity: Identity | None = None
        self.module = ""
        self.period = float(self.setting("update_interval_s"))
        self.freq = 1.0 / self.period
        self.stats: dict[str, int] = {}
        self._configured = False
        self._streaming = False
        self._t0 = 0.0
        self._m0 = 0.0
        self._next_poll = 0.0
        self._index = 0  # records accounted for since the trigger (fetched + lost)
        self._gap_next = False

    # -- helpers ------------------------------------------------------------------------------------
    @property
    def channel(self) -> int:
        return int(self.setting("channel"))

    def _cmd(self, key: str, **values: Any) -> str:
        return COMMANDS[key].format(ch=self.channel, **values)

    def _who(self) -> str:
        return f"the N6705 on {getattr(self.transport, 'resource', '?')}"

    def _write(self, command: str) -> None:
        if self.transport is None:
            raise InstrumentError("the N6705 driver has no transport: give the instrument's VISA resource")
        try:
            self.transport.write(command)
        except TransportError as exc:
            self._streaming = False
            raise InstrumentDisconnected(f"{self._who()} is gone ({command}): {exc}") from None

    def _query(self, command: str) -> str:
        self._write(command)
        try:
            return self.transport.read_line(float(self.setting("reply_timeout_s")))
        except TransportTimeout:
            raise InstrumentError(f"{self._who()} did not answer {command!r}{self._errors_text()}") from None
        except TransportError as exc:
            self._streaming = False
            raise InstrumentDisconnected(f"{self._who()} is gone ({command}): {exc}") from None

    def errors(self) -> list[str]:
        """Empty the instrument's error queue; the errors it held (``-222,"Data out of range"``)."""
        found = []
        for _ in range(20):
            self._write(COMMANDS["error"])
            try:
                reply = self.transport.read_line(float(self.setting("reply_timeout_s"))).strip()
            except (TransportTimeout, TransportError):
                break
            if not reply or reply.split(",", 1)[0].strip().lstrip("+") in ("0", "-0"):
                break
            found.append(reply)
        return found

    def _errors_text(self) -> str:
        try:
            errs = self.errors()
        except InstrumentError:
            return ""
        return f" (its errors: {'; '.join(errs)})" if errs else ""

    # -- the interface -----------------------------------------------------------------------------------
    def identify(self) -> Identity:
        """``*IDN?`` (an N6705B/C), and the module in the chosen channel (refused when the slot is empty)."""
        raw = self._query(COMMANDS["identify"]).strip()
        fields = [f.strip() for f in raw.split(",")] + ["", "", ""]
        vendor, model, serial, firmware = fields[:4]
        if model.upper() not in MODELS:
            raise InstrumentError(f"{self._who()} answers {raw!r}: not an N6705B/C; choose the driver of that instrument")
        count = int(float(self._query(COMMANDS["channel_count"])))
        if self.channel > count:
            raise ConfigurationError(f"channel {self.channel} has no module: this {model} has {count} "
                                     f"output channel(s); set channel=1..{count}")
        self.module = self._query(self._cmd("module")).strip().strip('"')
        self.identity = Identity(vendor, model.upper(), serial, firmware, raw)
        return self.identity

    def configure(self, config: Config) -> None:
        """The ELOG functions, integration period, data format and bus trigger of the channel."""
        if self._streaming:
            raise InstrumentError("the N6705 is logging: stop it before changing its settings")
        period = float(config.update_interval_s)
        minmax = bool(self.setting("minmax"))
        parameters = 6 if minmax else 2
        shortest = MIN_PERIOD_PER_PARAMETER_S * parameters
        if not shortest - 1e-12 <= period <= MAX_PERIOD_S:
            raise ConfigurationError(f"an ELOG period of {period:g} s is outside {shortest * 1e6:.1f} us .. "
                                     f"{MAX_PERIOD_S:g} s for {parameters} logged parameters"
                                     + (" (minmax=false halves the shortest)" if minmax else ""))
        self._write(COMMANDS["clear"])
        self._write(self._cmd("abort"))  # a log left running (by a session that lost the instrument) locks the settings
        fmt = "REAL" if self.setting("data_format") == "real" else "ASC"
        for command in (COMMANDS["format"].format(fmt=fmt), COMMANDS["byte_order"], self._cmd("log_current"),
                        self._cmd("log_voltage"), self._cmd("current_minmax", on="ON" if minmax else "OFF"),
                        self._cmd("voltage_minmax", on="ON" if minmax else "OFF"), self._cmd("current_autorange"),
                        self._cmd("period", period=f"{period:.7g}"), self._cmd("trigger_source")):
            self._write(command)
        errs = self.errors()
        if errs:
            raise ConfigurationError(f"{self._who()} refused the ELOG settings of channel {self.channel}: "
                                     f"{'; '.join(errs)}")
        self.period, self.freq, self._configured = period, 1.0 / period, True

    def start(self) -> None:
        """Start the log (``INIT:ELOG`` then ``TRIG:ELOG``); records then come from :meth:`read_block`."""
        if not self._configured:
            self.configure(Config(update_interval_s=float(self.setting("update_interval_s"))))
        if self._streaming:
            return
        self._write(self._cmd("abort"))
        self._write(self._cmd("initiate"))
        self._write(self._cmd("trigger"))
        anchor = getattr(self.clock, "anchor", None)
        if callable(anchor):
            anchor()
        self._t0, self._m0 = self.clock.time(), self.clock.monotonic()
        self._next_poll = self._m0 + float(self.setting("poll_interval_s"))
        self._index = 0
        self._gap_next = False
        self.stats = {"records": 0, "lost": 0, "garbled": 0, "fetches": 0}
        self._streaming = True

    def read_block(self, timeout: float = 0.5) -> Block | None:
        """The records logged since the last fetch (one fetch per poll interval); None when the next
        fetch is not due within ``timeout``. InstrumentDisconnected when the instrument is gone."""
        if not self._streaming:
            raise InstrumentError("the N6705 is not logging: call start() first")
        now = self.clock.monotonic()
        if self._next_poll - now > timeout:
            self.clock.sleep(timeout)
            return None
        self.clock.sleep(self._next_poll - now)
        self._next_poll = max(self._next_poll + float(self.setting("poll_interval_s")), self.clock.monotonic())
        asked = int(self.setting("fetch_records"))
        values, garbled = self._fetch(asked)
        per = 6 if self.setting("minmax") else 2
        if garbled or len(values) % per:
            self.stats["garbled"] += 1
            n = max(1, len(values) // per)
            block = empty_block(n, self.dtype)
            block["flags"] = int(Flag.INVALID)
            values = None
        else:
            n = len(values) // per
            block = empty_block(n, self.dtype)
        self.stats["fetches"] += 1
        events: list[InstrumentEvent] = []
        if n < asked:  # the FIFO is empty now: everything produced so far is accounted for
            produced = int((self.clock.monotonic() - self._m0) / self.period)
            lost = produced - (self._index + n)
            if lost > LOSS_SLACK_RECORDS:
                events.append(InstrumentEvent(self._t0 + self._index * self.period, "gap", {
                    "missing_samples": lost, "missing_s": lost * self.period,
                    "why": "the ELOG FIFO overflowed (records were not fetched within about 20 s)"}))
                self._index += lost
                self.stats["lost"] += lost
                self._gap_next = True
        if n == 0:
            return Block(block, events) if events else None
        block["t"] = self._t0 + (self._index + np.arange(n)) * self.period
        if values is not None:
            rec = values.reshape(n, per)
            i_avg, v_avg = rec[:, 0], rec[:, per // 2]
            block["a"], block["v"] = i_avg, v_avg
            block["w"] = i_avg * v_avg
            spread = 0.0
            if per == 6:
                spread = (rec[:, 2] - rec[:, 1]) * (rec[:, 5] - rec[:, 4]) / 4.0
            with np.errstate(divide="ignore", invalid="ignore"):
                block["uncert"] = self.description.accuracy.bands[0][1] / 100.0 + np.abs(spread / block["w"])
            bad = ~np.isfinite(block["w"]) | (np.abs(rec) > 9.8e37).any(axis=1)  # 9.91e37: SCPI "not a number"
            block["flags"][bad] |= int(Flag.INVALID)
        if self._gap_next:
            block["flags"][0] |= int(Flag.GAP_BEFORE)
            self._gap_next = False
        self._index += n
        self.stats["records"] += n
        return Block(block, events)

    def _fetch(self, records: int) -> tuple[np.ndarray, bool]:
        command = self._cmd("fetch", records=records)
        if self.setting("data_format") == "real":
            self._write(command)
            return self._read_block_reply(command)
        reply = self._query(command).strip()
        if not reply:
            return np.empty(0), False
        try:
            return np.array([float(x) for x in reply.split(",")]), False
        except ValueError:
            return np.empty(0), True

    def _read_block_reply(self, command: str) -> tuple[np.ndarray, bool]:
        timeout = float(self.setting("reply_timeout_s"))
        try:
            head = self.transport.read_bytes(2, timeout)
            if len(head) < 2 or head[:1] != b"#" or not head[1:2].isdigit():
                return np.empty(0), True
            size_field = self.transport.read_bytes(int(head[1:2]), timeout)
            length = int(size_field)
            body = b""
            while len(body) < length:
                chunk = self.transport.read_bytes(length - len(body), timeout)
                if not chunk:
                    break
                body += chunk
            self.transport.read_bytes(1, timeout)  # the terminating newline
        except TransportError as exc:
            self._streaming = False
            raise InstrumentDisconnected(f"{self._who()} is gone ({command}): {exc}") from None
        except ValueError:
            return np.empty(0), True
        try:
            return decode_real_block(head + size_field + body), False
        except ValueError:
            return np.empty(0), True

    def stop(self) -> None:
        """Abort the log (``ABOR:ELOG``); records not fetched are discarded by the instrument."""
        if self._streaming and self.transport is not None and getattr(self.transport, "is_open", True):
            try:
                self._write(self._cmd("abort"))
            except InstrumentError:
                pass
        self._streaming = False

    def settings_snapshot(self) -> dict:
        """Options, the ELOG period, the channel's module and the instrument's identity."""
        return {"driver": "n6705", "options": dict(self.options), "period_s": self.period,
                "channel": self.channel, "module": self.module,
                "identity": self.identity.to_dict() if self.identity else None,
                "power": "I_avg x V_avg per record"}

    def open(self) -> None:
        """Connect the VISA session and throw away replies of an interrupted conversation (an
        ELOG block sent after the link broke would otherwise answer the next ``*IDN?``)."""
        self._streaming = False
        super().open()
        try:
            self.transport.drain(timeout=min(0.05, float(self.setting("reply_timeout_s"))))
        except TransportError as exc:
            raise InstrumentDisconnected(f"cannot talk to {self._who()}: {exc}") from None

    def close(self) -> None:
        """Stop logging and release the session."""
        self.stop()
        super().close()
