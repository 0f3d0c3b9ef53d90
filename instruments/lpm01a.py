"""ST X-NUCLEO-LPM01A (STM32 Power Shield): the energy monitor of MLPerf Tiny, over its USB serial port.

The board supplies the target (1.8 V to 3.3 V) and measures the current it draws; it does not
measure voltage. Power here is therefore ``target voltage x measured current`` (the voltage is
the board's setpoint), and energy output (``output energy``) becomes power as ``energy x freq``.

Protocol (ST UM2269 command table as quoted in mlcommons/tiny ``power_manager_lpm.py``; 3686400
baud, host writes ``<cmd>\\n``, the board answers ``PowerShield > ack <cmd> [output]`` or an
``error`` line followed by ``Error detail: <why>``). The session is: ``htc`` (host takes
control), ``acqmode``, ``volt``, ``freq``, ``acqtime`` (``0`` = infinite), ``output``,
``format``, ``trigsrc``, ``trigdelay``, ``eventsrc d7 <edge>``, ``pwr``; ``start`` ... ``stop``
(the board ends with ``Acquisition completed``); ``hrc`` gives control back.

Data while acquiring:

- ``ascii_dec``: one line per sample, ``dddd[+-]dd`` = mantissa x 10^exponent (``6409-07`` =
  640.9 uA), up to 5 kHz without time limit. Metadata lines: ``TimeStamp: 001s 000ms, buff 00%``
  once per second of acquisition (the board's own clock and its transmit buffer fill level),
  ``event NN fal|ris`` for edges on D7, ``Acquisition completed`` at the end.
- ``bin_hexa``: big-endian 16-bit words, top nibble exponent, 12-bit mantissa: value =
  mantissa x 16^-exponent (``52A0`` = 0x2A0 x 16^-5 = 640.9 uA), up to 100 kHz. Exponent 15 is
  never a measurement (it would mean < 4e-15 A), so ``F0`` followed by ``F3``/``F4``/``F5`` marks
  a block: ``F0 F3`` + 4-byte ms timestamp + 1 byte buffer % + ``FF FF`` (per a third-party
  decoder), ``F0 F4 FF FF`` end of acquisition, and ``F0 F5`` + event number + edge (0 falling,
  1 rising) + ``FF FF`` for D7 edges. The event block is our assumption: no public ST document
  we found shows how the binary stream carries events. Check it against a real board.

Integrity. Samples are released one TimeStamp at a time (about once per second): the board's
timestamp says how many samples it produced (``ms x freq / 1000``), so each second is checked
against what arrived. Lines that are not a sample or known metadata are counted (``garbled``)
and become INVALID samples with NaN values, never numbers. A second with fewer samples than
the board produced (its buffer overflowed, bytes were dropped) keeps what arrived and the
next sample carries GAP_BEFORE with a ``gap`` event; sample times follow the board's clock,
so after a loss they are right again. In ``bin_hexa`` a second whose bytes are misaligned or
surplus (stray bytes) cannot be decoded safely: all its samples are INVALID. Lines without a
sample (stray text on a line of its own) are dropped when the count shows they were extra.
When the board vanishes, :meth:`LPM01A.read_block` raises InstrumentDisconnected at once; the
unverified samples of the second in progress go with it (counted in ``stats["lost"]``).

Energy mode (MLPerf Tiny, :data:`ENERGY_MODE_OPTIONS`): ``output energy``, ``format ascii_dec``,
``freq 1k``, ``eventsrc d7 fal``, ``acqtime inf``, ``trigsrc sw``; each sample is the energy of
one 1 ms period (J), delivered as power (``energy x freq``; ``w / freq`` gives it back).

Events: ``gpio`` (edge on D7, with the board's event ``number`` and the index of the ``sample``
it fell in since ``start``; that sample is flagged MARK, so a procedure can cut GPIO windows), ``buffer`` (the board's buffer crossed 50 / 80 / 100 % or went back under
25 %), ``gap``, ``warning`` and ``error`` (board messages during acquisition).

Ranges. The board picks its shunts itself; what the host chooses is the acquisition mode:
current range 0.05 A = dynamic mode (100 nA to 50 mA, varying currents; also 'auto') and
0.2 A = static mode (1 nA to 200 mA, the current must be steady). There are no voltage
ranges: the "voltage range" reported is the target supply voltage. Uncertainty is 2 % of
reading in both modes (UM2243 Rev 2 sections 9 and 10); samples above the mode's top are
OVERRANGE. The board's own shunt switching is covered by that figure, so samples are never
AUTO_RANGE.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from instruments.base import (
    AUTO,
    AccuracySpec,
    Config,
    ConfigurationError,
    Description,
    Driver,
    Identity,
    InstrumentDisconnected,
    InstrumentError,
    Ranges,
    RangeValue,
    SettingSpec,
    check_range,
)
from instruments.records import Block, Flag, InstrumentEvent
from instruments.transports.base import TransportError, TransportTimeout

BAUDRATE = 3_686_400
PROMPT = "PowerShield >"
FREQUENCIES = (100_000, 50_000, 20_000, 10_000, 5_000, 2_000, 1_000, 500, 200, 100, 50, 20, 10, 5, 2, 1)
ASCII_UNLIMITED_HZ = 5_000  # ascii_dec above this only for short acquisitions (table below)
ASCII_MAX_ACQTIME = {10_000: 1.0, 20_000: 0.5}  # freq -> longest acqtime in ascii_dec
ENERGY_MAX_HZ = 10_000  # energy output integrates over >= 100 us
VOLT_MIN, VOLT_MAX = 1.8, 3.3
DYNAMIC_A, STATIC_A = 0.05, 0.2  # full scale of dynamic / static mode (UM2243 sections 9, 10)
CURRENT_RANGES = (DYNAMIC_A, STATIC_A)
ACCURACY_PCT = 2.0
GPIO_LINE = 7
BUFFER_LEVELS = (50, 80, 100)  # a rising crossing of each is an event
BUFFER_CLEAR = 25  # back under this: an event too
UNVERIFIED_AFTER_S = 3.0  # release samples without a TimeStamp after this much data
_READ_CHUNK = 1 << 16

LPM01A_ACCURACY = AccuracySpec(
    bands=((0.0, ACCURACY_PCT, 0.0),),
    cf_range_factor=((3.0, 1.0), (6.0, 1.0)),
    source="ST UM2243 Rev 2: static mode 1 nA-200 mA 'accuracy better than 2 %' (section 9), dynamic "
           "mode 100 nA-50 mA 'accuracy in the range of 2 %' (section 10); current only: power uses "
           "the target voltage setpoint, whose regulation (up to 60 mV dropout in static mode) is not included",
)


def _interval_choices() -> tuple[float, ...]:
    return tuple(1.0 / f for f in sorted(FREQUENCIES))


DESCRIPTION = Description(
    name="lpm01a",
    vendor="STMicroelectronics",
    models=("X-NUCLEO-LPM01A",),
    channels=1,
    quantities=("w", "v", "a"),
    voltage_ranges=(),
    current_ranges=CURRENT_RANGES,
    fastest_interval_s=1.0 / max(FREQUENCIES),
    slowest_interval_s=1.0 / min(FREQUENCIES),
    accuracy=LPM01A_ACCURACY,
    transports=("serial",),
    settings=(
        SettingSpec("update_interval_s", "Sampling interval", "choice", 1e-3, unit="s",
                    choices=_interval_choices(),
                    help="1 / sampling frequency (1 Hz to 100 kHz); applied by configure()"),
        SettingSpec("target_voltage_v", "Target supply voltage", "float", 3.3, unit="V",
                    minimum=VOLT_MIN, maximum=VOLT_MAX,
                    help="the voltage the board supplies to the target; power = this x measured current"),
        SettingSpec("data_format", "Data format", "choice", "auto", choices=("auto", "ascii_dec", "bin_hexa"),
                    help="auto: ascii_dec up to 5 kHz, bin_hexa above (ascii_dec cannot stream faster)"),
        SettingSpec("output", "Output", "choice", "current", choices=("current", "energy"),
                    help="current: instantaneous current; energy: energy per sample period (up to 10 kHz)"),
        SettingSpec("trigger", "Trigger source", "choice", "sw", choices=("sw", "d7"),
                    help="sw: acquisition starts at once; d7: at an edge on Arduino connector D7"),
        SettingSpec("gpio_edge", "GPIO events", "choice", "fal", choices=("fal", "ris", "none"),
                    help="which D7 edges the board reports as events (MLPerf Tiny: falling); none: no "
                         "eventsrc command (older firmware)"),
        SettingSpec("target_power", "Target power", "choice", "auto", choices=("auto", "on", "off"),
                    help="auto: the board powers the target when acquisition starts; on / off: forced"),
        SettingSpec("power_off_on_close", "Power the target off on close", "bool", False,
                    help="send 'pwr off' before releasing the board (as the MLPerf Tiny runner does)"),
        SettingSpec("acquisition_time_s", "Acquisition time", "float", 0.0, unit="s", minimum=0.0,
                    maximum=100.0, help="0: until stopped (acqtime 0); otherwise 100 us to 100 s"),
        SettingSpec("acqtime_infinite", "Infinite acquisition as", "choice", "0", choices=("0", "inf"),
                    help="how an acquisition without time limit is asked for: 'acqtime 0' (ST's manual) or "
                         "'acqtime inf' (what the MLCommons Tiny runner sends; firmware >= 1.0.6)"),
        SettingSpec("baudrate", "Baud rate", "int", BAUDRATE, minimum=9600,
                    help="serial speed; the board's firmware uses 3686400 (applied to a serial port "
                         "opened with pyserial's default)"),
        SettingSpec("reply_timeout_s", "Reply timeout", "float", 2.0, unit="s", minimum=0.1, maximum=60.0,
                    help="how long to wait for the board's answer to a command"),
    ),
    summary="ST Power Shield energy monitor (MLPerf Tiny): current up to 100 kHz over USB serial, "
            "target supply 1.8-3.3 V, GPIO D7 events",
)


# MLPerf Tiny energy mode, as the MLCommons runner sets the board up (power_manager_lpm.py): energy per
# 1 ms sample in ascii_dec, software start, falling edges on D7 reported as events, no time limit.
ENERGY_MODE_OPTIONS: dict[str, Any] = {"output": "energy", "data_format": "ascii_dec", "trigger": "sw",
                                       "gpio_edge": "fal", "acquisition_time_s": 0.0, "acqtime_infinite": "inf",
                                       "update_interval_s": 1e-3}
ENERGY_MODE_INTERVAL_S = 1e-3


# -- number formats -----------------------------------------------------------------------------------
_POW10 = 10.0 ** np.arange(-99, 100, dtype=np.float64)  # index exponent + 99
_POW16 = 16.0 ** -np.arange(16, dtype=np.float64)
_ASCII_VALUE = re.compile(r"^(\d{4})([+-]\d{2})$")
_TIMESTAMP = re.compile(r"^TimeStamp:\s*[ ><]?\s*(\d{1,4})s\s+(\d{1,3})ms,\s*buff\s+(\d{1,3})%$")
_EVENT = re.compile(r"^event\s+(\d+)\s+(ris|fal)\w*$")
_MARKER = re.compile(rb"\xf0[\xf3\xf4\xf5]")
_MARKER_LEN = {0xF3: 9, 0xF4: 4, 0xF5: 6}
_EDGES = {"ris": "rising", "fal": "falling"}


def decode_ascii_value(token: str) -> float:
    """``6409-07`` -> 6.409e-4. ValueError for anything that is not exactly that shape."""
    m = _ASCII_VALUE.match(token.strip())
    if not m:
        raise ValueError(f"{token!r} is not an LPM01A number (dddd[+-]dd)")
    return int(m.group(1)) * 10.0 ** int(m.group(2))


def _number_token(x: float) -> str:
    """A number as the board reads it: ``3300m``, ``100u``, ``2``."""
    if x >= 1 and float(x).is_integer():
        return f"{int(x)}"
    if x >= 1e-3 and math.isclose(x * 1e3, round(x * 1e3), rel_tol=1e-9):
        return f"{round(x * 1e3)}m"
    return f"{round(x * 1e6)}u"


def _freq_token(freq: int) -> str:
    return f"{freq // 1000}k" if freq >= 1000 else str(freq)


# -- stream parsing -------------------------------------------------------------------------------------
@dataclass
class _Data:
    """Entries in arrival order: values (NaN for garbled ones) and which are bad."""

    values: np.ndarray
    bad: np.ndarray
    suspect: bool = False  # binary chunk misaligned or with impossible words: the whole second is unsafe


@dataclass
class _Meta:
    kind: str  # "timestamp", "event", "end", "text"
    detail: dict = field(default_factory=dict)


class AsciiStream:
    """``ascii_dec`` bytes -> entries and metadata, in bulk: numpy finds the lines and decodes every
    sample line at once; Python only looks at the rare other lines (metadata, garbage)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.garbled = 0

    def feed(self, data: bytes) -> list[_Data | _Meta]:
        if self.buf:
            data = bytes(self.buf) + data
            self.buf.clear()
        cut = data.rfind(b"\n")
        if cut < 0:
            self.buf += data
            if len(self.buf) > 4096:  # a line that never ends is garbage
                self.buf.clear()
                self.garbled += 1
                return [_Data(np.array([math.nan]), np.array([True]))]
            return []
        self.buf += data[cut + 1:]
        fast = self._rows(data, cut + 1)
        return fast if fast is not None else self._lines(data, cut)

    def _rows(self, chunk: bytes, size: int) -> list[_Data | _Meta] | None:
        """The usual chunk, fast: sample lines of one fixed width (``dddd-dd`` + CRLF or LF) between rare
        metadata lines, which are found with ``bytes.find`` (every metadata line has a space, no
        sample line has one). The sample bytes are decoded as one strided (rows x width) array,
        column by column, with no per-line index arrays. None if anything is irregular (garbage, a
        torn line): :meth:`_lines` then takes the whole chunk."""
        a = np.frombuffer(chunk, dtype=np.uint8, count=size)
        spans: list[np.ndarray] = []
        marks: list[tuple[int, int, _Meta]] = []  # (bytes of samples before it, _, meta)
        sample_bytes = pos = 0
        while True:
            sp = chunk.find(b" ", pos, size)
            if sp < 0:
                spans.append(a[pos:size])
                sample_bytes += size - pos
                break
            line_start = chunk.rfind(b"\n", pos, sp) + 1 or pos
            line_end = chunk.find(b"\n", sp, size)
            meta = _classify(chunk[line_start:line_end].decode("ascii", errors="replace").strip())
            if meta is None:
                return None
            spans.append(a[pos:line_start])
            sample_bytes += line_start - pos
            marks.append((sample_bytes, len(marks), meta))
            pos = line_end + 1
        body = spans[0] if len(spans) == 1 else np.concatenate(spans)
        if not len(body):
            return [m for _, _, m in marks]
        width = 9 if len(body) > 8 and body[8] == 10 else 8
        if len(body) % width or any(at % width for at, _, _ in marks):
            return None
        values = _decode_rows(body, width)
        if values is None:
            return None
        return _interleave(values, np.zeros(len(values), dtype=bool), [(at // width, m) for at, _, m in marks])

    def _lines(self, chunk: bytes, size: int) -> list[_Data | _Meta]:
        """The lines in ``chunk[:size]`` (which holds whole lines, the last one without its LF)."""
        a = np.frombuffer(chunk, dtype=np.uint8, count=size)
        nl = np.flatnonzero(a == 10)
        starts = np.concatenate(([0], nl + 1))
        ends = np.concatenate((nl, [len(a)]))
        lens = ends - starts
        eff = lens - ((lens > 0) & (a[ends - 1] == 13)) if len(a) else lens
        n = len(starts)
        cand = np.flatnonzero(eff == 7)  # "dddd-dd": the only shape a sample line has
        is_data = np.zeros(n, dtype=bool)
        values = np.full(n, math.nan)
        if len(cand):
            s0 = starts[cand]
            c = [a[s0 + k] for k in range(7)]  # one column per character
            ok = (c[4] == 43) | (c[4] == 45)
            for k in (0, 1, 2, 3, 5, 6):
                ok &= (c[k] - 48) <= 9  # uint8: anything below '0' wraps round to > 9
            decoded = _values(c)  # garbage rows decode to nonsense here; only ok rows are kept
            if ok.all():
                if len(cand) == n:  # the usual chunk: nothing but samples
                    return [_Data(decoded, np.zeros(n, dtype=bool))]
                fast = self._samples_and_metadata(chunk, starts, ends, eff, decoded)
                if fast is not None:
                    return fast
            is_data[cand[ok]] = True
            values[cand[ok]] = decoded[ok]
        entry = is_data.copy()
        metas: list[tuple[int, _Meta]] = []
        for i in np.flatnonzero(~is_data & (eff > 0)):
            text = chunk[starts[i]:ends[i]].decode("ascii", errors="replace").strip()
            meta = _classify(text)
            if meta is None:
                entry[i] = True  # a garbled line: one entry, flagged, never a number
                self.garbled += 1
            else:
                metas.append((int(i), meta))
        ent = np.flatnonzero(entry)
        offsets = np.searchsorted(ent, [i for i, _ in metas]).tolist()
        return _interleave(values[ent], ~is_data[ent], [(off, m) for off, (_, m) in zip(offsets, metas, strict=True)])


    def _samples_and_metadata(self, chunk: bytes, starts: np.ndarray, ends: np.ndarray, eff: np.ndarray,
                              decoded: np.ndarray) -> list[_Data | _Meta] | None:
        """Every line is a sample or metadata (the usual chunk at low rates): slices, no masks.
        None if a line is garbage (the general path handles it)."""
        others = np.flatnonzero(eff != 7)
        lengths = eff[others].tolist()
        marks: list[tuple[int, _Meta]] = []
        for j, (i, length) in enumerate(zip(others.tolist(), lengths, strict=True)):
            if length == 0:
                continue
            meta = _classify(chunk[starts[i]:ends[i]].decode("ascii", errors="replace").strip())
            if meta is None:
                return None
            marks.append((i - j, meta))  # every line before it that is not "other" is a sample
        return _interleave(decoded, np.zeros(len(decoded), dtype=bool), marks)


def _interleave(values: np.ndarray, bad: np.ndarray, marks: list[tuple[int, _Meta]]) -> list[_Data | _Meta]:
    """Runs of entries cut at each mark's offset (the entries before it), the marks in between."""
    out: list[_Data | _Meta] = []
    prev = 0
    for off, meta in marks:
        if off > prev:
            out.append(_Data(values[prev:off], bad[prev:off]))
            prev = off
        out.append(meta)
    if prev < len(values):
        out.append(_Data(values[prev:], bad[prev:]))
    return out


def _field(body: np.ndarray, width: int, offset: int, dtype: str) -> np.ndarray:
    """One fixed-position field of every row, read in place as a little-endian integer (unaligned)."""
    return np.ndarray((len(body) // width,), dtype=dtype, buffer=body, offset=offset, strides=(width,))


def _all_digits(x: np.ndarray, high_nibbles: int, sixes: int) -> bool:
    """Every byte of every word is '0'..'9': its high nibble is 3, and adding 6 to it does not carry
    into the high nibble (a low nibble of 10 or more would)."""
    want = high_nibbles & 0x33333333
    return bool(((x & high_nibbles) == want).all() and (((x + sixes) & high_nibbles) == want).all())


def _decode_rows(body: np.ndarray, width: int) -> np.ndarray | None:
    """Values of contiguous fixed-width sample lines ``dddd[+-]dd`` + CRLF (9) or LF (8), or None if
    a row is anything else. Digits are checked and combined a whole word at a time (SWAR), so no
    column is widened to a wider integer type first."""
    body = np.ascontiguousarray(body)
    mant = _field(body, width, 0, "<u4")  # bytes d0 d1 d2 d3, d0 lowest
    expo = _field(body, width, 5, "<u2")  # bytes e0 e1
    sign = _field(body, width, 4, "u1")
    end = _field(body, width, 7, "<u2") if width == 9 else _field(body, width, 7, "u1")
    if not (end == (0x0A0D if width == 9 else 0x0A)).all() or not ((sign == 43) | (sign == 45)).all():
        return None
    if not (_all_digits(mant, 0xF0F0F0F0, 0x06060606) and _all_digits(expo, 0xF0F0, 0x0606)):
        return None
    t = mant & 0x0F0F0F0F
    t = (t & 0x00FF00FF) * 10 + ((t >> 8) & 0x00FF00FF)  # d0d1 in the low half, d2d3 in the high half
    m = (t & 0xFFFF) * 100 + (t >> 16)
    e = expo & 0x0F0F
    e = (e & 0xFF) * 10 + (e >> 8)
    idx = np.where(sign == 45, 99 - e.astype(np.int16), 99 + e.astype(np.int16))
    return m * _POW10[idx]


def _values(c: list[np.ndarray]) -> np.ndarray:
    """Mantissa x 10^exponent from the seven character columns of sample lines."""
    m = c[0].astype(np.int32) * 1000
    m += c[1].astype(np.int32) * 100
    m += c[2].astype(np.int32) * 10
    m += c[3]
    m -= 48 * 1111
    e = c[5].astype(np.int32) * 10
    e += c[6]
    e -= 48 * 11
    e *= 44 - c[4].astype(np.int32)  # '+' (43) -> 1, '-' (45) -> -1
    e += 99
    np.clip(e, 0, 198, out=e)  # rows of garbage may land anywhere; they are dropped by the caller
    return m * _POW10[e]


def _classify(text: str) -> _Meta | None:
    """A non-sample line as metadata, or None if it is garbage."""
    body = text
    while body.startswith(PROMPT):
        body = body[len(PROMPT):].strip()
    m = _TIMESTAMP.match(body)
    if m:
        return _Meta("timestamp", {"ms": int(m.group(1)) * 1000 + int(m.group(2)), "buffer": int(m.group(3))})
    m = _EVENT.match(body)
    if m:
        return _Meta("event", {"number": int(m.group(1)), "edge": _EDGES[m.group(2)]})
    if "Acquisition completed" in body:
        return _Meta("end")
    if body.startswith(("ack", "error", "Error detail", "summary", "PowerShield", "Acquisition")) or (
            text.startswith(PROMPT) and body == ""):
        return _Meta("text", {"line": body})
    return None


class BinaryStream:
    """``bin_hexa`` bytes -> entries and metadata. Words are decoded per chunk between two markers
    with numpy; markers are found with one regex search each (about one per second)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.payload = bytearray()
        self.garbled = 0
        self.ended = False
        self.text = AsciiStream()  # after the end marker the board talks text again

    def feed(self, data: bytes) -> list[_Data | _Meta]:
        if self.ended:
            return self.text.feed(data)
        self.buf += data
        out: list[_Data | _Meta] = []
        pos = 0
        buf = self.buf
        while True:
            m = _MARKER.search(buf, pos)
            if m is None:
                end = len(buf) - 1 if buf.endswith(b"\xf0") else len(buf)  # maybe half a marker
                self.payload += buf[pos:end]
                pos = end
                break
            at = m.start()
            kind = buf[at + 1]
            size = _MARKER_LEN[kind]
            if len(buf) - at < size:
                self.payload += buf[pos:at]
                pos = at
                break
            block = bytes(buf[at:at + size])
            if not block.endswith(b"\xff\xff"):
                self.payload += buf[pos:at + 2]  # not a real marker: bytes of garbage
                pos = at + 2
                continue
            self.payload += buf[pos:at]
            pos = at + size
            self._flush(out)
            if kind == 0xF3:
                out.append(_Meta("timestamp", {"ms": int.from_bytes(block[2:6], "big"), "buffer": block[6]}))
            elif kind == 0xF5:
                out.append(_Meta("event", {"number": block[2], "edge": "rising" if block[3] else "falling"}))
            else:
                out.append(_Meta("end"))
                self.ended = True
                rest = bytes(buf[pos:])
                self.buf.clear()
                out.extend(self.text.feed(rest))
                return out
        del self.buf[:pos]
        return out

    def flush(self) -> list[_Data | _Meta]:
        """Decode what arrived since the last marker (used when markers stop coming)."""
        out: list[_Data | _Meta] = []
        self._flush(out)
        return out

    def _flush(self, out: list) -> None:
        p = self.payload
        if not p:
            return
        odd = len(p) % 2
        words = np.frombuffer(bytes(p[:len(p) - odd]), dtype=">u2")
        self.payload = bytearray()
        exp = words >> 12
        reserved = exp == 15
        values = (words & 0x0FFF) * _POW16[exp]
        if odd or reserved.any():
            self.garbled += 1
            out.append(_Data(np.full(len(words) + odd, math.nan), np.ones(len(words) + odd, dtype=bool), True))
        else:
            out.append(_Data(values, np.zeros(len(words), dtype=bool)))


# -- the driver -----------------------------------------------------------------------------------------
class LPM01A(Driver):
    """ST X-NUCLEO-LPM01A Power Shield: target supply and current (or energy) stream over USB serial.

    Options are the declared settings (see ``DESCRIPTION.settings``). The board's state while
    streaming is on the driver: ``buffer_percent`` (last reported fill of its transmit buffer)
    and ``stats`` (samples, garbled lines, invalid and lost samples, gaps).
    """

    description = DESCRIPTION
    # The board enumerates as a USB CDC-ACM port.
    resource_forms = ("/dev/ttyACM0", "COM5", "serial:///dev/ttyACM0")

    def __init__(self, transport: Any = None, **options: Any) -> None:
        super().__init__(transport, **options)
        self.check_options()
        self.identity: Identity | None = None
        self.freq = 1000
        self.format = "ascii_dec"
        self.voltage = float(self.setting("target_voltage_v"))
        self.current_range = DYNAMIC_A
        self.current_auto = True
        self.buffer_percent: int | None = None
        self.stats = _new_stats()
        self._config: Config | None = None
        self._open = False
        self._streaming = False
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._parser: AsciiStream | BinaryStream | None = None
        self._completed = False  # the board ended the acquisition (acquisition time reached)
        self._t0: float | None = None  # UTC time of the board's sample 0
        self._k = 0  # board sample index of the next entry to release
        self._pending: list[_Data] = []
        self._pending_n = 0
        self._pending_marks: list[tuple[int, dict]] = []
        self._gap_next = False
        self._warned_unverified = False
        self._ready: list[Block] = []
        self._level_state = 0
        self.buffer_percent = None
        self.stats = _new_stats()

    # -- helpers ------------------------------------------------------------------------------------------
    @property
    def _timeout(self) -> float:
        return float(self.setting("reply_timeout_s"))

    def _need_open(self) -> None:
        if not self._open or self.transport is None:
            raise InstrumentError("the LPM01A is not connected: call open() first")

    def _gone(self, exc: Exception) -> InstrumentDisconnected:
        self._streaming = False
        return InstrumentDisconnected(f"the LPM01A on {getattr(self.transport, 'resource', '?')} is gone: {exc}")

    def _read_line(self, deadline: float, what: str) -> str:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransportTimeout(f"no reply to {what}")
        return self.transport.read_line(left)

    def command(self, cmd: str, setting: bool = False, timeout: float | None = None) -> str:
        """Send ``cmd`` and return what follows ``ack <cmd>``; the board's refusal raises with its reason.

        Lines that are not the answer (samples still in flight, metadata) are skipped. A refused
        setting raises ConfigurationError, anything else InstrumentError; no answer at all means
        the board is gone (InstrumentDisconnected).
        """
        self._need_open()
        deadline = time.monotonic() + (self._timeout if timeout is None else timeout)
        try:
            self.transport.write(cmd)
            while True:
                text = _strip_prompt(self._read_line(deadline, repr(cmd)))
                if text.startswith("ack"):
                    rest = text[3:].strip()
                    if rest == cmd or rest.startswith(cmd + " "):
                        return rest[len(cmd):].strip()
                    continue  # the answer to an earlier command nobody waited for
                if text.startswith("error"):
                    detail = self._error_detail(text, deadline)
                    kind = ConfigurationError if setting else InstrumentError
                    raise kind(f"the LPM01A refused {cmd!r}: {detail}")
        except TransportTimeout as exc:
            raise self._gone(f"no answer to {cmd!r} within {self._timeout:g} s ({exc})") from exc
        except TransportError as exc:
            raise self._gone(exc) from exc

    def _error_detail(self, error_line: str, deadline: float) -> str:
        try:
            nxt = _strip_prompt(self.transport.read_line(max(0.05, min(0.5, deadline - time.monotonic()))))
        except TransportTimeout:
            return error_line
        if nxt.lower().startswith("error detail"):
            return nxt.split(":", 1)[1].strip() if ":" in nxt else nxt
        return f"{error_line} ({nxt})"

    # -- Driver interface ---------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the port at the board's speed and take host control (``htc``).

        If the board is still streaming (a previous program died without stopping it), the
        acquisition is stopped first.
        """
        if self.transport is None:
            raise InstrumentError("the LPM01A driver needs a serial transport (e.g. --resource /dev/ttyACM0)")
        settings = getattr(self.transport, "settings", None)
        if isinstance(settings, dict) and settings.get("baudrate") == 9600 and not getattr(self.transport, "is_open", False):
            settings["baudrate"] = int(self.setting("baudrate"))  # pyserial's default would garble everything
        try:
            self.transport.open()
        except TransportError as exc:
            raise InstrumentDisconnected(str(exc)) from exc
        self._open = True
        self._streaming = False
        try:
            self.command("htc")
        except InstrumentDisconnected:
            self._stop_stream(self._timeout)  # a binary stream in full flow can hide the answer
            self.command("htc")
        # A program that died while acquiring left the board streaming; 'stop' is harmless otherwise.
        self._stop_stream(self._timeout)

    def identify(self) -> Identity:
        """Board identity: ``powershield`` (unique board id) and ``version`` (firmware)."""
        present = self.command("powershield")
        version = self.command("version")
        if "present" not in present.lower():
            raise InstrumentError(f"the device does not answer like a PowerShield: {present!r}")
        serial = present.split()[-1] if present.split() else ""
        m = re.search(r"\d+(?:\.\d+)+", version)
        self.identity = Identity("STMicroelectronics", "X-NUCLEO-LPM01A", serial, m.group(0) if m else version,
                                 raw=f"{present}; version {version}")
        return self.identity

    def configure(self, config: Config) -> None:
        """Sampling frequency (1 / update interval), target voltage, format, output, trigger, events."""
        self._need_open()
        if self._streaming:
            raise InstrumentError("the LPM01A is acquiring: stop it before changing its settings")
        freq = _freq_for(config.update_interval_s)
        output = str(self.setting("output"))
        acqtime = float(self.setting("acquisition_time_s"))
        fmt = _format_for(str(self.setting("data_format")), freq, acqtime)
        if output == "energy" and freq > ENERGY_MAX_HZ:
            raise ConfigurationError(f"energy output works up to {ENERGY_MAX_HZ // 1000} kHz, not "
                                     f"{freq / 1000:g} kHz: lower the rate or use output=current")
        if 0 < acqtime < 100e-6:
            raise ConfigurationError(f"acquisition time {acqtime:g} s is below the board's 100 us")
        volt = float(self.setting("target_voltage_v"))
        self.command(f"volt {_number_token(volt)}", setting=True)
        self.command(f"freq {_freq_token(freq)}", setting=True)
        self.command(f"acqtime {_number_token(acqtime) if acqtime else self.setting('acqtime_infinite')}", setting=True)
        self.command(f"output {output}", setting=True)
        self.command(f"format {fmt}", setting=True)
        self.command(f"trigsrc {self.setting('trigger')}", setting=True)
        self.command("trigdelay 0", setting=True)
        edge = str(self.setting("gpio_edge"))
        if edge != "none":
            self.command(f"eventsrc d7 {edge}", setting=True)
        self.command(f"pwr {self.setting('target_power')}", setting=True)
        self.freq, self.format, self.voltage, self._config = freq, fmt, volt, config

    def set_ranges(self, voltage: RangeValue, current: RangeValue) -> None:
        """Current 'range' = acquisition mode: 0.05 A (or auto) dynamic, 0.2 A static. No voltage ranges."""
        self._need_open()
        if not (voltage == AUTO or (isinstance(voltage, str) and voltage.lower() == AUTO)):
            raise ConfigurationError(
                f"the LPM01A has no voltage ranges (asked for {voltage!r}): it supplies the target itself; "
                "set the supply with the target_voltage_v option")
        chosen = check_range(CURRENT_RANGES, current, "current")
        if self._streaming:
            raise InstrumentError("the LPM01A is acquiring: stop it before changing its acquisition mode")
        rng = DYNAMIC_A if chosen == AUTO else float(chosen)
        self.command(f"acqmode {'dyn' if rng == DYNAMIC_A else 'stat'}", setting=True)
        self.current_range, self.current_auto = rng, chosen == AUTO

    def ranges(self) -> Ranges:
        """Supply voltage as the voltage 'range'; the acquisition mode's full scale as the current range."""
        return Ranges(self.voltage, self.current_range, False, self.current_auto)

    def start(self) -> None:
        """Start acquiring (``start``); samples then come from :meth:`read_block`."""
        self._need_open()
        if self._config is None:
            self.configure(Config(update_interval_s=float(self.setting("update_interval_s"))))
        if self._streaming:
            return
        self.command("start")
        self._reset_stream()
        self._parser = BinaryStream() if self.format == "bin_hexa" else AsciiStream()
        self._streaming = True
        self._t0 = time.time() if self.setting("trigger") == "sw" else None

    def read_block(self, timeout: float = 0.5) -> Block | None:
        """The samples of every second the board has time-stamped since the last call (or None)."""
        if not self._streaming and not self._ready:
            if self._completed:
                time.sleep(max(0.0, min(timeout, 0.25)))
                return None
            raise InstrumentError("the LPM01A is not acquiring: call start() first")
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self._ready:
                return self._take()
            if not self._streaming:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                data = self.transport.read_bytes(_READ_CHUNK, timeout=min(left, 0.25))
            except TransportError as exc:
                # Raised at once, as the acquisition worker expects; the unverified part of the
                # current second (under one second of samples) goes with the connection.
                self.stats["lost"] += self._pending_n
                self._pending, self._pending_n = [], 0
                raise self._gone(exc) from exc
            if data:
                self.stats["bytes"] += len(data)
                self._consume(self._parser.feed(data))
            if self._pending_n > max(1, UNVERIFIED_AFTER_S * self.freq):
                if isinstance(self._parser, BinaryStream):
                    self._consume(self._parser.flush())
                self._release_unverified(f"no TimeStamp from the board for {UNVERIFIED_AFTER_S:g} s of data")

    def stop(self) -> None:
        """Stop acquiring (``stop``) and wait for ``Acquisition completed``; the last partial second is
        dropped (the board sends no count for it)."""
        if not self._streaming:
            return
        self._streaming = False
        self._stop_stream(self._timeout)

    def close(self) -> None:
        """Stop, optionally power the target off, give control back (``hrc``) and close the port."""
        if self.transport is None:
            return
        try:
            if self._open and self.transport.is_open:
                try:
                    self.stop()
                    if self.setting("power_off_on_close"):
                        self.command("pwr off")
                    self.command("hrc")
                except (InstrumentError, TransportError):
                    pass  # a board that is gone cannot be released; closing the port is all that is left
        finally:
            self._open = False
            self._streaming = False
            self.transport.close()

    def power_target(self, on: bool) -> None:
        """Switch the target's supply on or off now (``pwr on|off``), also while acquiring."""
        self.command(f"pwr {'on' if on else 'off'}", setting=True)

    def settings_snapshot(self) -> dict:
        """Driver settings plus what the board was set to."""
        return {"driver": "lpm01a", "options": dict(self.options), "frequency_hz": self.freq,
                "format": self.format, "target_voltage_v": self.voltage,
                "acquisition_mode": "dynamic" if self.current_range == DYNAMIC_A else "static",
                "output": self.setting("output"), "trigger": self.setting("trigger"),
                "gpio_edge": self.setting("gpio_edge")}

    # -- streaming internals -----------------------------------------------------------------------------
    def _stop_stream(self, timeout: float) -> None:
        try:
            self.transport.write("stop")
            deadline = time.monotonic() + timeout
            tail = b""
            while time.monotonic() < deadline:
                data = self.transport.read_bytes(_READ_CHUNK, timeout=min(0.1, deadline - time.monotonic()))
                tail = tail[-64:] + data
                if b"Acquisition completed" in tail:
                    return
                if data == b"" and (b"ack stop" in tail or b"error stop" in tail):
                    return  # it was not acquiring
            raise InstrumentError(f"the LPM01A did not confirm 'stop' within {timeout:g} s")
        except TransportError as exc:
            raise self._gone(exc) from exc

    def _consume(self, items: list[_Data | _Meta]) -> None:
        for item in items:
            if isinstance(item, _Data):
                self._pending.append(item)
                self._pending_n += len(item.values)
            elif item.kind == "timestamp":
                self._on_timestamp(item.detail["ms"], item.detail["buffer"])
            elif item.kind == "event":
                self._pending_marks.append((self._pending_n, item.detail))
            elif item.kind == "end":
                if self._pending_n:
                    self._release_unverified("the acquisition ended (acquisition time reached)")
                self._streaming = False
                self._completed = True
                self._events_now([("warning", {"message": "the LPM01A finished its acquisition "
                                               "(acquisition time reached); no more samples until restarted"})])
            elif item.kind == "text":
                line = item.detail["line"]
                if line.startswith("error") or line.startswith("Error detail"):
                    self._events_now([("error", {"message": f"the LPM01A reported: {line}"})])

    def _events_now(self, events: list[tuple[str, dict]]) -> None:
        t = time.time()
        self._ready.append(Block(np.empty(0, self.dtype), [InstrumentEvent(t, k, d) for k, d in events]))

    def _on_timestamp(self, ms: int, buffer: int) -> None:
        expected_end = int(round(ms * self.freq / 1000.0))
        events = self._buffer_events(buffer)
        if self._t0 is None:  # triggered on D7: the board's time 0 is when the first data left it
            self._t0 = time.time() - ms / 1000.0
        n_exp = expected_end - self._k
        if n_exp < 0:  # the board's clock went back: restarted under us; trust the count
            self._release_unverified("the board's TimeStamp went backwards", events)
            return
        values, bad, suspect = self._take_pending()
        marks = self._pending_marks
        self._pending_marks = []
        n = len(values)
        lost = 0
        if suspect:
            self.stats["invalid_seconds"] += 1
            values, bad = np.full(n_exp, math.nan), np.ones(n_exp, dtype=bool)
        elif n > n_exp:
            surplus = n - n_exp
            bad_idx = np.flatnonzero(bad)
            if len(bad_idx) >= surplus:  # stray lines without a sample: drop them
                keep = np.ones(n, dtype=bool)
                keep[bad_idx[:surplus]] = False
                values, bad = values[keep], bad[keep]
                marks = [(max(0, i - int(np.count_nonzero(~keep[:i]))), d) for i, d in marks]
            else:  # more numbers than the board produced: something injected bytes that look like samples
                self.stats["invalid_seconds"] += 1
                values, bad = np.full(n_exp, math.nan), np.ones(n_exp, dtype=bool)
        elif n < n_exp:
            lost = n_exp - n
        self._emit_samples(values, bad, marks, events)
        if lost:
            self.stats["lost"] += lost
            self.stats["gaps"] += 1
            self._gap_next = True
            t = self._t0 + (expected_end - lost) / self.freq  # where the hole starts, by the board's count
            self._ready[-1].events.append(InstrumentEvent(t, "gap", {
                "missing_samples": lost, "missing_s": lost / self.freq, "buffer_percent": buffer,
                "message": f"{lost} samples lost in the LPM01A's last second "
                           f"({'its buffer was full' if buffer >= 100 else 'bytes dropped on the link'}); "
                           "the samples after the hole are marked"}))
        self._k = expected_end

    def _release_unverified(self, why: str, events: list[InstrumentEvent] | None = None) -> None:
        values, bad, suspect = self._take_pending()
        if suspect:
            bad = np.ones(len(values), dtype=bool)
            values = np.full(len(values), math.nan)
        marks = self._pending_marks
        self._pending_marks = []
        events = list(events or [])
        if not self._warned_unverified:
            self._warned_unverified = True
            events.append(InstrumentEvent(time.time(), "warning", {
                "message": f"LPM01A samples released without the board's count ({why}); "
                           "losses in them cannot be detected"}))
        if self._t0 is None:
            self._t0 = time.time() - len(values) / self.freq
        self._emit_samples(values, bad, marks, events)
        self._k += len(values)

    def _take_pending(self) -> tuple[np.ndarray, np.ndarray, bool]:
        parts = self._pending
        self._pending, self._pending_n = [], 0
        if not parts:
            return np.empty(0), np.empty(0, dtype=bool), False
        if len(parts) == 1:
            p = parts[0]
            return p.values, p.bad, p.suspect
        return (np.concatenate([p.values for p in parts]), np.concatenate([p.bad for p in parts]),
                any(p.suspect for p in parts))

    def _emit_samples(self, values: np.ndarray, bad: np.ndarray, marks: list[tuple[int, dict]],
                      events: list[InstrumentEvent]) -> None:
        n = len(values)
        block = np.empty(n, self.dtype)
        t = block["t"]
        t[:] = np.arange(self._k, self._k + n, dtype=np.float64)
        t *= 1.0 / self.freq
        t += self._t0
        if self.setting("output") == "energy":
            w = values * float(self.freq)
            a = w / self.voltage
        else:
            a = values
            w = values * self.voltage
        block["w"] = w
        block["a"] = a
        block["v"] = self.voltage
        block["pf"] = 1.0
        block["v_range"] = self.voltage
        block["a_range"] = self.current_range
        if "hz" in block.dtype.names:
            block["hz"] = np.nan  # the board supplies DC: there is no frequency
        flags = np.zeros(n, dtype=np.uint16)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            flags[bad] |= int(Flag.INVALID)
        over = (a > self.current_range) & ~bad
        if over.any():
            flags[over] |= int(Flag.OVERRANGE)
        block["uncert"] = np.where(bad | over, np.float32(math.nan), np.float32(ACCURACY_PCT / 100.0))
        if n and self._gap_next:
            flags[0] |= int(Flag.GAP_BEFORE)
            self._gap_next = False
        out_events = list(events)
        for i, detail in marks:
            j = min(i, n - 1)
            if j < 0:  # an edge after the last sample of the run: kept as an event only
                te = self._t0 + self._k / self.freq
            else:
                flags[j] |= int(Flag.MARK)
                te = float(t[j])
            out_events.append(InstrumentEvent(te, "gpio", {"line": GPIO_LINE, "edge": detail["edge"],
                                                           "number": detail["number"],
                                                           "sample": self._k + max(j, 0)}))
        block["flags"] = flags
        self.stats["samples"] += n
        self.stats["invalid"] += n_bad
        self.stats["garbled"] = self._parser.garbled + (
            self._parser.text.garbled if isinstance(self._parser, BinaryStream) else 0)
        out_events.sort(key=lambda e: e.t)
        self._ready.append(Block(block, out_events))

    def _buffer_events(self, level: int) -> list[InstrumentEvent]:
        self.buffer_percent = level
        events = []
        state = self._level_state
        new = state
        for i, threshold in enumerate(BUFFER_LEVELS, start=1):
            if level >= threshold:
                new = max(new, i)
        if new > state:
            events.append(InstrumentEvent(time.time(), "buffer", {
                "percent": level, "message": f"the LPM01A's transmit buffer is {level} % full"
                + ("; samples are being lost" if level >= 100 else "; the host is not keeping up")}))
        elif state and level < BUFFER_CLEAR:
            new = 0
            events.append(InstrumentEvent(time.time(), "buffer", {
                "percent": level, "message": f"the LPM01A's transmit buffer is back to {level} %"}))
        self._level_state = new
        return events

    def _take(self) -> Block:
        blocks, self._ready = self._ready, []
        if len(blocks) == 1:
            return blocks[0]
        samples = np.concatenate([b.samples for b in blocks])
        return Block(samples, [e for b in blocks for e in b.events])


def _strip_prompt(line: str) -> str:
    text = line.strip()
    while text.startswith(PROMPT):
        text = text[len(PROMPT):].strip()
    return text


def _new_stats() -> dict:
    return {"samples": 0, "garbled": 0, "invalid": 0, "lost": 0, "gaps": 0, "invalid_seconds": 0, "bytes": 0}


def _freq_for(interval_s: float) -> int:
    try:
        f = 1.0 / float(interval_s)
    except (TypeError, ValueError, ZeroDivisionError):
        raise ConfigurationError(f"sampling interval {interval_s!r} is not a positive number") from None
    for freq in FREQUENCIES:
        if math.isclose(f, freq, rel_tol=1e-6):
            return freq
    listed = ", ".join(_freq_token(x) for x in FREQUENCIES)
    raise ConfigurationError(f"the LPM01A samples at {listed} Hz; {f:g} Hz (interval {interval_s:g} s) is not one")


def _format_for(requested: str, freq: int, acqtime: float) -> str:
    if requested == "auto":
        return "ascii_dec" if freq <= ASCII_UNLIMITED_HZ else "bin_hexa"
    if requested == "ascii_dec" and freq > ASCII_UNLIMITED_HZ:
        limit = ASCII_MAX_ACQTIME.get(freq)
        if limit is None or acqtime == 0 or acqtime > limit:
            allowed = (f"only with an acquisition time of at most {limit:g} s" if limit
                       else "not at all")
            raise ConfigurationError(
                f"ascii_dec at {freq / 1000:g} kHz works {allowed} (the serial link is too slow); "
                "use data_format=bin_hexa or auto")
    return requested
