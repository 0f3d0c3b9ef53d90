"""Jetperch Joulescope JS110 / JS220 as an energy monitor (MLPerf Tiny), through ``pyjoulescope_driver``.

The driver never talks to ``pyjoulescope_driver`` directly: it reads a :class:`JoulescopeSource`,
a small seam (open, identity, configure the rate and the timestamp input, start with callbacks
that receive current / voltage / GPI blocks, stop, close). Two sources implement it:

- :class:`PyJoulescopeSource`: a real instrument through ``pyjoulescope_driver`` 2.x (the optional
  ``joulescope`` extra). Topics: ``h/fs`` (host sample rate), ``s/i/!data`` / ``s/v/!data``
  (float32 amps / volts), ``s/gpi/<n>/!data`` (one bit per sample, 8 packed per byte, little
  endian), their ``.../ctrl`` switches; current range ``auto`` (JS220 ``s/i/range/mode``, JS110
  ``s/i/range/select``). Stream callbacks carry ``sample_id`` at the device rate and a
  ``decimate_factor`` to the host rate.
- :class:`ReplaySource`: recorded or synthetic streams (arrays, a generator, or a JLS v2 file
  read with ``pyjls``) delivered through the same callbacks, paced in real time or as fast as
  they are read. There is no Joulescope simulator; this is what tests and demos use.

What the driver makes of the stream. The Joulescope samples at up to 1 MHz (JS220) or 2 MHz
(JS110), far more than the station's records should carry. Each output sample is one
``update_interval_s`` period (1 ms by default, the MLCommons runner's virtual sample): its power
is the mean of ``i x v`` over the period's source samples, so ``sum(w) x interval`` is exactly
the integral ``sum(i x v) / fs`` of the raw stream. The GPI input (``gpi``, default 0) is read at
the full source rate: each edge (``gpi_edge``: falling, the EEMBC timestamp, as the LPM01A sees
it; the MLCommons runner's JS220 path takes the rising edge) becomes a ``gpio`` event with its
exact source sample (``source_sample``), its time, and the index of the output ``sample`` it fell
in, which is flagged MARK; the procedure's windows are therefore exact to one source sample.

Integrity. Source samples are counted by their ``sample_id``: a hole in any signal becomes NaN
(the output samples over it are INVALID, never numbers) and a ``gap`` event with the count
(``missing_samples`` in output samples, ``missing_source_samples``); overlapping data is
dropped. A device that goes away (unplugged, USB reset) makes :meth:`Joulescope.read_block`
raise InstrumentDisconnected. The incomplete last period at ``stop`` is not released.

Ranges: the Joulescope switches its current shunts by itself, sample by sample, within its
accuracy; there is nothing for the station to choose, so ranges are automatic only.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from instruments.base import (
    AccuracySpec,
    Config,
    ConfigurationError,
    Description,
    Driver,
    Identity,
    InstrumentDisconnected,
    InstrumentError,
    NoRanges,
    SettingSpec,
)
from instruments.records import Block, Flag, InstrumentEvent, empty_block

VENDOR = "Jetperch"
MODELS = ("JS110", "JS220")
DEFAULT_SOURCE_RATE_HZ = 1_000_000  # the JS220's full rate; the JS110 streams 2 MHz
GPI_SIGNAL = "gpi"
EDGE_NAMES = {"fal": "falling", "ris": "rising"}
MAX_QUEUED_CHUNKS = 64  # chunks a replay may queue ahead of the reader (3 per frame)
INSTALL_HINT = "install the optional Joulescope support: pip install 'station[joulescope]'"

JOULESCOPE_ACCURACY = AccuracySpec(
    bands=((0.0, 1.0, 0.0),),
    cf_range_factor=((3.0, 1.0), (6.0, 1.0)),
    source="station assumption, not a datasheet figure: 1 % of reading for power (current and voltage "
           "gain errors together); the range-dependent current offset of the JS110/JS220 is not included. "
           "Replace with the model's datasheet figures before relying on the uncertainty",
)

DESCRIPTION = Description(
    name="joulescope",
    vendor=VENDOR,
    models=MODELS,
    channels=1,
    quantities=("w", "v", "a"),
    voltage_ranges=(),
    current_ranges=(),
    fastest_interval_s=1e-5,
    slowest_interval_s=1.0,
    accuracy=JOULESCOPE_ACCURACY,
    transports=("none",),
    settings=(
        SettingSpec("update_interval_s", "Output sample period", "float", 1e-3, unit="s", minimum=1e-5,
                    maximum=1.0, help="each output sample is the mean power of this period (an integer "
                                      "number of source samples); 1 ms as the MLCommons Tiny runner"),
        SettingSpec("sample_rate_hz", "Source sample rate", "int", DEFAULT_SOURCE_RATE_HZ, unit="Hz",
                    minimum=1000, maximum=2_000_000,
                    help="host sample rate asked of the device (h/fs); GPI edges have this resolution"),
        SettingSpec("gpi", "Timestamp input", "int", 0, minimum=0, maximum=3,
                    help="the general-purpose input wired to the DUT's timestamp pin"),
        SettingSpec("gpi_edge", "Timestamp edge", "choice", "fal", choices=("fal", "ris", "both"),
                    help="fal: the EEMBC timestamp (pin pulled low), as the LPM01A reports it; ris: the "
                         "MLCommons runner's JS220 path"),
        SettingSpec("serial", "Serial number", "str", "",
                    help="which Joulescope (the end of its device path); empty: the only one connected"),
    ),
    summary="Joulescope JS110/JS220 energy analyzer: current and voltage up to 2 MHz, energy exact "
            "to the source sample, GPI timestamp edges (pyjoulescope_driver)",
)


# -- the seam ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamChunk:
    """A block of one signal: ``current`` (A), ``voltage`` (V) or ``gpi`` (0/1 per sample)."""

    signal: str
    sample_id: int  # index of data[0] in the stream, counted at sample_rate
    sample_rate: float
    data: np.ndarray
    utc: float | None = None  # UTC seconds of data[0], when the source knows it


ChunkCallback = Callable[[StreamChunk], None]
GoneCallback = Callable[[str], None]


class JoulescopeSource(Protocol):
    """Where a :class:`Joulescope` driver's streams come from: an instrument or a replay."""

    def open(self) -> None: ...

    def identity(self) -> Identity: ...

    def configure(self, *, sample_rate_hz: int, gpi: int) -> None: ...

    def start(self, on_chunk: ChunkCallback, on_gone: GoneCallback) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


class PyJoulescopeSource:
    """A Joulescope on USB through ``pyjoulescope_driver`` 2.x (imported when opened)."""

    def __init__(self, serial: str = "", timeout_s: float = 2.0) -> None:
        self.serial = serial
        self.timeout_s = timeout_s
        self.resource = f"joulescope:{serial}" if serial else "joulescope"
        self._driver: Any = None
        self._path = ""
        self._gpi = 0
        self._subscriptions: list[tuple[str, Callable]] = []

    @property
    def is_open(self) -> bool:
        return self._driver is not None

    def open(self) -> None:
        """Find the device (by serial number, or the only one) and open it with its defaults."""
        try:
            import pyjoulescope_driver
        except ImportError as exc:
            raise InstrumentError(f"pyjoulescope_driver is not installed ({exc}): {INSTALL_HINT}") from None
        driver = pyjoulescope_driver.Driver()
        try:
            paths = list(driver.device_paths())
            if self.serial:
                paths = [p for p in paths if p.lower().endswith(self.serial.lower())]
            if len(paths) != 1:
                which = f"with serial number {self.serial}" if self.serial else "connected"
                raise InstrumentError(
                    f"{len(paths)} Joulescopes {which} ({', '.join(paths) or 'none'}); connect one, or name it "
                    "with joulescope:SERIAL")
            self._path = paths[0]
            driver.open(self._path, "defaults", timeout=self.timeout_s)
        except InstrumentError:
            driver.finalize()
            raise
        except Exception as exc:  # the binding raises its own error types
            driver.finalize()
            raise InstrumentDisconnected(f"cannot open the Joulescope: {exc}") from None
        self._driver = driver

    def identity(self) -> Identity:
        """Model and serial number from the device path (``u/js220/002122``)."""
        parts = self._path.strip("/").split("/")
        model = parts[1].upper() if len(parts) > 1 else "JS220"
        return Identity(VENDOR, model, parts[-1] if parts else "", "", self._path)

    def configure(self, *, sample_rate_hz: int, gpi: int) -> None:
        """Host sample rate and automatic current ranging."""
        d, p = self._need(), self._path
        d.publish(f"{p}/h/fs", int(sample_rate_hz), timeout=self.timeout_s)
        if "js110" in p:
            d.publish(f"{p}/s/i/range/select", "auto", timeout=self.timeout_s)
        else:
            d.publish(f"{p}/s/i/range/mode", "auto", timeout=self.timeout_s)
        self._gpi = gpi

    def start(self, on_chunk: ChunkCallback, on_gone: GoneCallback) -> None:
        """Subscribe to current, voltage and the GPI input and switch their streams on."""
        d, p = self._need(), self._path
        from pyjoulescope_driver import time64

        def handler(signal: str) -> Callable:
            def on_data(topic: str, value: dict) -> None:
                factor = max(1, int(value.get("decimate_factor", 1)))
                data = np.asarray(value["data"])
                if signal == GPI_SIGNAL:
                    data = np.unpackbits(data.astype(np.uint8), bitorder="little")
                on_chunk(StreamChunk(signal, int(value["sample_id"]) // factor,
                                     float(value["sample_rate"]) / factor, data,
                                     float(time64.as_timestamp(value["utc"]))))
            return on_data

        def removed(topic: str, value: Any) -> None:
            if str(value).rstrip("/") == p.rstrip("/"):
                on_gone(f"the Joulescope {p} was removed")

        topics = [("s/i", "current"), ("s/v", "voltage"), (f"s/gpi/{self._gpi}", GPI_SIGNAL)]
        for base, signal in topics:
            fn = handler(signal)
            d.subscribe(f"{p}/{base}/!data", "pub", fn, timeout=self.timeout_s)
            self._subscriptions.append((f"{p}/{base}/!data", fn))
        d.subscribe("@/!remove", "pub", removed, timeout=self.timeout_s)
        self._subscriptions.append(("@/!remove", removed))
        for base, _ in topics:
            d.publish(f"{p}/{base}/ctrl", 1, timeout=self.timeout_s)

    def stop(self) -> None:
        """Switch the streams off and unsubscribe."""
        if self._driver is None:
            return
        for base in ("s/i", "s/v", f"s/gpi/{self._gpi}"):
            try:
                self._driver.publish(f"{self._path}/{base}/ctrl", 0, timeout=self.timeout_s)
            except Exception:  # noqa: BLE001 - a device already gone cannot be switched off
                pass
        for topic, fn in self._subscriptions:
            try:
                self._driver.unsubscribe(topic, fn, timeout=self.timeout_s)
            except Exception:  # noqa: BLE001
                pass
        self._subscriptions.clear()

    def close(self) -> None:
        """Release the device and the driver."""
        if self._driver is None:
            return
        self.stop()
        try:
            self._driver.close(self._path, timeout=self.timeout_s)
        except Exception:  # noqa: BLE001 - closing a device that vanished
            pass
        self._driver.finalize()
        self._driver = None

    def _need(self) -> Any:
        if self._driver is None:
            raise InstrumentError("the Joulescope is not open: call open() first")
        return self._driver


Frames = Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]  # (current, voltage, gpi bits)


class ReplaySource:
    """Recorded or synthetic Joulescope streams through the seam, as an instrument would send them.

    ``frames`` is called at each start and yields ``(current, voltage, gpi)`` arrays of equal
    length in order (gpi may be None: the input stays high). Sample ids run on from 0. With
    ``realtime`` each frame is delivered when its last sample would have been measured; otherwise
    as fast as it is produced. ``skip_frames`` leaves frames out (a dropped USB transfer), for tests.
    """

    def __init__(self, frames: Callable[[], Frames], sample_rate_hz: float, *, model: str = "JS220",
                 serial: str = "REPLAY", utc_start: float | None = None, realtime: bool = False,
                 skip_frames: Iterable[int] = (), resource: str = "replay") -> None:
        self.frames = frames
        self.sample_rate_hz = float(sample_rate_hz)
        self.model, self.serial = model, serial
        self.utc_start = utc_start
        self.realtime = realtime
        self.skip_frames = set(skip_frames)
        self.resource = resource
        self.present = True  # False: the device is unplugged (tests)
        self.backpressure = True  # the driver may hold a delivery until it has read what it has
        self.sent: list[str] = []  # what the driver asked of the "device", in order
        self.opens = 0
        self.finished = threading.Event()  # the last frame was delivered
        self._open = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- building ------------------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, current: np.ndarray, voltage: np.ndarray | float, sample_rate_hz: float,
                    gpi: np.ndarray | None = None, frame_samples: int = 10_000, **kw: Any) -> ReplaySource:
        """A replay of whole arrays, cut into frames of ``frame_samples``."""
        current = np.asarray(current, dtype=np.float32)
        volts = np.broadcast_to(np.asarray(voltage, dtype=np.float32), current.shape)
        bits = None if gpi is None else np.asarray(gpi, dtype=np.uint8)

        def frames() -> Frames:
            for a in range(0, len(current), frame_samples):
                b = a + frame_samples
                yield current[a:b], volts[a:b], None if bits is None else bits[a:b]

        return cls(frames, sample_rate_hz, **kw)

    @classmethod
    def from_jls(cls, path: str | Path, frame_samples: int = 100_000, gpi: str = "gpi[0]",
                 **kw: Any) -> ReplaySource:
        """A replay of a JLS v2 file (a Joulescope recording) with ``current`` and ``voltage`` signals
        and, when present, the GPI signal ``gpi``; read frame by frame, so any length fits."""
        try:
            import pyjls
        except ImportError as exc:
            raise InstrumentError(f"pyjls is not installed ({exc}): {INSTALL_HINT}") from None
        path = Path(path)
        with pyjls.Reader(str(path)) as reader:
            signals = {s.name: s for s in reader.signals.values()}
            missing = [n for n in ("current", "voltage") if n not in signals]
            if missing:
                raise ConfigurationError(f"{path}: no {' or '.join(missing)} signal in this JLS file "
                                         f"(it has {', '.join(sorted(signals))})")
            cur = signals["current"]
            rate, length = float(cur.sample_rate), int(cur.length)
            source = reader.sources.get(cur.source_id)
            utc0 = float(pyjls.jls_to_utc(reader.sample_id_to_timestamp(cur.signal_id, 0)))
        model = (getattr(source, "model", "") or "JS220").upper()
        serial = getattr(source, "serial_number", "") or "JLS"

        def frames() -> Frames:
            with pyjls.Reader(str(path)) as r:
                ids = {s.name: s.signal_id for s in r.signals.values()}
                for a in range(0, length, frame_samples):
                    n = min(frame_samples, length - a)
                    bits = None
                    if gpi in ids:
                        bits = np.unpackbits(r.fsr(ids[gpi], a, n), bitorder="little")[:n]
                    yield r.fsr(ids["current"], a, n), r.fsr(ids["voltage"], a, n), bits

        kw.setdefault("utc_start", utc0 if utc0 > 1e9 else None)
        kw.setdefault("resource", f"jls:{path}")
        return cls(frames, rate, model=model if model in MODELS else "JS220", serial=serial, **kw)

    # -- the seam ------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        """Connect (fails while unplugged)."""
        if not self.present:
            raise InstrumentDisconnected(f"{self.resource}: no Joulescope connected")
        self._open = True
        self.opens += 1

    def identity(self) -> Identity:
        """The model and serial number the replay stands for."""
        return Identity(VENDOR, self.model, self.serial, "replay", self.resource)

    def configure(self, *, sample_rate_hz: int, gpi: int) -> None:
        """A replay has the rate it was recorded at; asking for another is refused."""
        self.sent.append(f"h/fs {sample_rate_hz}")
        if not math.isclose(sample_rate_hz, self.sample_rate_hz):
            raise ConfigurationError(f"the replay was recorded at {self.sample_rate_hz:g} Hz, not "
                                     f"{sample_rate_hz:g} Hz: set sample_rate_hz={self.sample_rate_hz:g}")

    def start(self, on_chunk: ChunkCallback, on_gone: GoneCallback) -> None:
        """Deliver the frames from a thread."""
        self.stop()
        self.sent.append("start")
        self._stop.clear()
        self.finished.clear()
        frames = self.frames()  # here, so a live source's sample 0 is the moment start() was called
        self._thread = threading.Thread(target=self._run, args=(frames, on_chunk, on_gone), daemon=True,
                                        name="joulescope-replay")
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def close(self) -> None:
        """Stop and disconnect."""
        self.stop()
        self._open = False

    def _run(self, frames: Frames, on_chunk: ChunkCallback, on_gone: GoneCallback) -> None:
        rate = self.sample_rate_hz
        utc0 = self.utc_start if self.utc_start is not None else time.time()
        t_start = time.monotonic()
        sample_id = 0
        for index, (cur, volt, bits) in enumerate(frames):
            if self._stop.is_set():
                return
            n = len(cur)
            if self.realtime:
                due = t_start + (sample_id + n) / rate
                while not self._stop.is_set() and time.monotonic() < due:
                    self._stop.wait(min(0.05, max(0.0, due - time.monotonic())))
            if not self.present:
                on_gone(f"{self.resource}: the Joulescope was unplugged")
                return
            if index not in self.skip_frames:
                utc = utc0 + sample_id / rate
                on_chunk(StreamChunk("current", sample_id, rate, np.asarray(cur), utc))
                on_chunk(StreamChunk("voltage", sample_id, rate, np.asarray(volt), utc))
                # A recording without the GPI signal: the input idled high (no edges), as on a device.
                bits = np.ones(n, np.uint8) if bits is None else np.asarray(bits)
                on_chunk(StreamChunk(GPI_SIGNAL, sample_id, rate, bits, utc))
            sample_id += n
        self.finished.set()


# -- from source samples to output samples ------------------------------------------------------------
class PeriodIntegrator:
    """Source chunks -> output samples of ``per`` source samples each (mean i x v), GPI edges, gaps.

    Signals are kept aligned by sample id: each keeps its pending samples from ``next_id`` on;
    whole periods present in every signal are released.
    """

    def __init__(self, per: int, rate: float, gpi_edge: str, gpi_line: int, use_gpi: bool = True) -> None:
        self.per, self.rate = per, rate
        self.gpi_edge, self.gpi_line = gpi_edge, gpi_line
        self.signals = ("current", "voltage", GPI_SIGNAL) if use_gpi else ("current", "voltage")
        self.next_id: int | None = None  # source sample id of the first pending sample
        self.pending: dict[str, list[np.ndarray]] = {s: [] for s in self.signals}
        self.ends: dict[str, int | None] = {s: None for s in self.signals}  # id after the last sample received
        self.t0: float | None = None  # UTC of source sample id 0
        self.k = 0  # output samples released
        self.last_bit: int | None = None  # the line's level before the pending samples (None: not seen yet)
        self.edges = 0
        self.missing = 0  # source samples never received
        self._gap_events: list[InstrumentEvent] = []

    def add(self, chunk: StreamChunk) -> None:
        if chunk.signal not in self.pending or not len(chunk.data):
            return
        if self.next_id is None:
            self.next_id = chunk.sample_id
            for s in self.signals:
                self.ends[s] = chunk.sample_id
        if self.t0 is None and chunk.utc is not None:
            self.t0 = chunk.utc - chunk.sample_id / self.rate
        end = self.ends[chunk.signal]
        data = chunk.data
        start = chunk.sample_id
        if start < end:  # overlap: already have those
            data = data[end - start:]
            start = end
            if not len(data):
                return
        if start > end:  # a hole: unknown values, never numbers
            hole = start - end
            level = self.last_bit if self.last_bit is not None else 1
            fill = np.full(hole, level if chunk.signal == GPI_SIGNAL else np.nan,
                           dtype=np.float64 if chunk.signal != GPI_SIGNAL else np.uint8)
            self.pending[chunk.signal].append(fill)
            if chunk.signal == "current":
                self.missing += hole
                t = (self.t0 or time.time()) + end / self.rate
                self._gap_events.append(InstrumentEvent(t, "gap", {
                    "missing_samples": math.ceil(hole / self.per), "missing_source_samples": hole,
                    "missing_s": hole / self.rate}))
        self.pending[chunk.signal].append(data)
        self.ends[chunk.signal] = start + len(data)

    def release(self, dtype: np.dtype, uncert: float) -> Block | None:
        if self.next_id is None:
            return None
        have = min(self.ends[s] for s in self.signals) - self.next_id
        periods = have // self.per
        events, self._gap_events = self._gap_events, []
        if periods <= 0:
            return Block(np.empty(0, dtype), events) if events else None
        m = periods * self.per
        cols = {s: self._take(s, m) for s in self.signals}
        i = cols["current"].astype(np.float64).reshape(periods, self.per)
        v = cols["voltage"].astype(np.float64).reshape(periods, self.per)
        block = empty_block(periods, dtype)
        if self.t0 is None:
            self.t0 = time.time() - self.next_id / self.rate
        first = self.next_id
        block["t"] = self.t0 + (first + np.arange(periods) * self.per) / self.rate
        block["w"] = (i * v).mean(axis=1)
        block["a"] = i.mean(axis=1)
        block["v"] = v.mean(axis=1)
        block["uncert"] = uncert
        flags = np.zeros(periods, dtype=np.uint16)
        bad = ~np.isfinite(block["w"])
        flags[bad] |= int(Flag.INVALID)
        if GPI_SIGNAL in cols:
            bits = cols[GPI_SIGNAL].astype(np.int8)
            # the first sample ever seen is a level, not an edge (an unconnected input reads low)
            prev = np.concatenate(([bits[0] if self.last_bit is None else self.last_bit], bits[:-1]))
            step = bits - prev
            picks = {"fal": step < 0, "ris": step > 0, "both": step != 0}[self.gpi_edge]
            for j in np.flatnonzero(picks):
                self.edges += 1
                out = int(j) // self.per
                flags[out] |= int(Flag.MARK)
                sid = first + int(j)
                events.append(InstrumentEvent(self.t0 + sid / self.rate, "gpio", {
                    "line": self.gpi_line, "edge": "falling" if step[j] < 0 else "rising",
                    "number": self.edges, "sample": self.k + out, "source_sample": sid}))
            self.last_bit = int(bits[-1])
        block["flags"] = flags
        self.next_id += m
        self.k += periods
        events.sort(key=lambda e: e.t)
        return Block(block, events)

    def _take(self, signal: str, m: int) -> np.ndarray:
        parts = self.pending[signal]
        data = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self.pending[signal] = [data[m:]] if len(data) > m else []
        return data[:m]


# -- the driver -------------------------------------------------------------------------------------------
class Joulescope(NoRanges, Driver):
    """A Joulescope JS110 or JS220 as a power and energy monitor with GPI timestamp edges.

    The transport is a :class:`JoulescopeSource`: None opens the connected Joulescope through
    ``pyjoulescope_driver`` (``serial`` picks one), a :class:`ReplaySource` replays a stream.
    ``freq`` (output samples per second) and ``voltage`` (the latest mean voltage) are read by
    the MLPerf Tiny procedure; ``stats`` counts samples, edges and missing source samples.
    """

    description = DESCRIPTION
    no_ranges_reason = "the Joulescope ranges its current by itself, sample by sample; use auto"
    resource_forms = ("joulescope", "joulescope:002122", "jls:recording.jls")

    def __init__(self, transport: Any = None, **options: Any) -> None:
        super().__init__(transport, **options)
        self.check_options()
        self.identity: Identity | None = None
        self.freq = 1.0 / float(self.setting("update_interval_s"))
        self.voltage = math.nan
        self.stats: dict[str, int] = {}
        self._per = 0
        self._rate = float(self.setting("sample_rate_hz"))
        self._configured = False
        self._streaming = False
        self._own_source = False
        self._queue: collections.deque[StreamChunk] = collections.deque()
        self._arrived = threading.Condition()
        self._gone: str | None = None
        self._integrator: PeriodIntegrator | None = None

    # -- how it is reached ---------------------------------------------------------------------------
    @classmethod
    def claims(cls, resource: str) -> bool:
        """``joulescope``, ``joulescope:SERIAL``, ``jls:PATH`` or a path ending in ``.jls``."""
        r = resource.strip()
        return r.lower() == "joulescope" or r.lower().startswith(("joulescope:", "jls:")) or r.lower().endswith(".jls")

    @classmethod
    def from_resource(cls, resource: str | None, **options: Any) -> Driver:
        """None or ``joulescope``: the connected one (opened later); ``joulescope:SERIAL``: that one;
        a JLS file: its replay. Nothing is opened here."""
        r = (resource or "").strip()
        if not r or r.lower() == "joulescope":
            return cls(None, **options)
        if r.lower().startswith("joulescope:"):
            options.setdefault("serial", r.split(":", 1)[1])
            return cls(None, **options)
        path = r[4:] if r.lower().startswith("jls:") else r
        if not Path(path).is_file():
            raise ConfigurationError(f"no JLS recording at {path}")
        return cls(ReplaySource.from_jls(path), **options)

    # -- helpers ------------------------------------------------------------------------------------------
    def _need_open(self) -> JoulescopeSource:
        if self.transport is None or not getattr(self.transport, "is_open", True):
            raise InstrumentError("the Joulescope is not connected: call open() first")
        return self.transport

    # -- the interface --------------------------------------------------------------------------------------
    def open(self) -> None:
        """Connect: the replay given, else the Joulescope found through ``pyjoulescope_driver``."""
        if self.transport is None or self._own_source:
            self.transport = PyJoulescopeSource(str(self.setting("serial")))
            self._own_source = True
        self._gone = None
        self.transport.open()

    def identify(self) -> Identity:
        """Model (JS110 / JS220) and serial number."""
        self.identity = self._need_open().identity()
        return self.identity

    def configure(self, config: Config) -> None:
        """Output period (``update_interval_s``: an integer number of source samples) and source rate."""
        source = self._need_open()
        if self._streaming:
            raise InstrumentError("the Joulescope is streaming: stop it before changing its settings")
        interval = float(self.description.setting("update_interval_s").validate(config.update_interval_s))
        rate = float(self.setting("sample_rate_hz"))
        per = round(interval * rate)
        if per < 1 or not math.isclose(per / rate, interval, rel_tol=1e-9):
            raise ConfigurationError(f"an output period of {interval:g} s is not a whole number of source "
                                     f"samples at {rate:g} Hz; choose a multiple of {1 / rate:g} s")
        source.configure(sample_rate_hz=int(rate), gpi=int(self.setting("gpi")))
        self._per, self._rate, self.freq, self._configured = per, rate, 1.0 / interval, True

    def start(self) -> None:
        """Start streaming; output samples then come from :meth:`read_block`."""
        source = self._need_open()
        if not self._configured:
            self.configure(Config(update_interval_s=float(self.setting("update_interval_s"))))
        if self._streaming:
            return
        self._queue.clear()
        self._gone = None
        self._integrator = PeriodIntegrator(self._per, self._rate, str(self.setting("gpi_edge")), int(self.setting("gpi")))
        self.stats = {"samples": 0, "source_samples": 0, "missing_source_samples": 0, "edges": 0}
        self._streaming = True
        source.start(self._on_chunk, self._on_gone)

    def _on_chunk(self, chunk: StreamChunk) -> None:  # the source's thread
        with self._arrived:
            # A replay read faster than it is consumed waits here, so memory stays bounded; an
            # instrument's callback is never held up (its data would be lost at the device).
            while (getattr(self.transport, "backpressure", False) and self._streaming
                   and len(self._queue) >= MAX_QUEUED_CHUNKS):
                self._arrived.wait(0.1)
            self._queue.append(chunk)
            self._arrived.notify_all()

    def _on_gone(self, why: str) -> None:  # the source's thread
        with self._arrived:
            self._gone = why
            self._arrived.notify_all()

    def read_block(self, timeout: float = 0.5) -> Block | None:
        """The whole output periods measured since the last call, with their GPI edges and gaps;
        None if none completed within ``timeout``. InstrumentDisconnected when the device is gone."""
        integrator = self._integrator
        if not self._streaming or integrator is None:
            raise InstrumentError("the Joulescope is not streaming: call start() first")
        deadline = time.monotonic() + timeout
        while True:
            with self._arrived:
                while not self._queue and self._gone is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    self._arrived.wait(left)
                chunks = list(self._queue)
                self._queue.clear()
                gone = self._gone
                self._arrived.notify_all()  # a replay waiting for room goes on
            for chunk in chunks:
                integrator.add(chunk)
            block = integrator.release(self.dtype, JOULESCOPE_ACCURACY.bands[0][1] / 100.0)
            if block is not None:
                n = len(block.samples)
                if n:
                    self.voltage = float(np.nanmean(block.samples["v"])) if np.isfinite(block.samples["v"]).any() \
                        else self.voltage
                self.stats.update(samples=self.stats["samples"] + n, source_samples=integrator.next_id or 0,
                                  missing_source_samples=integrator.missing, edges=integrator.edges)
                return block
            if gone is not None:
                self._streaming = False
                raise InstrumentDisconnected(gone)
            if time.monotonic() >= deadline:
                return None

    def stop(self) -> None:
        """Stop streaming (the incomplete last period is dropped)."""
        streaming, self._streaming = self._streaming, False
        with self._arrived:
            self._arrived.notify_all()  # a delivery held for room gives up
        if self.transport is not None and streaming:
            self.transport.stop()

    def close(self) -> None:
        """Stop and release the device."""
        self.stop()
        if self.transport is not None:
            self.transport.close()

    def settings_snapshot(self) -> dict:
        """Options, rates, the timestamp input and who the device said it was."""
        return {"driver": "joulescope", "options": dict(self.options), "output_rate_hz": self.freq,
                "source_rate_hz": self._rate, "samples_per_output": self._per,
                "source": type(self.transport).__name__ if self.transport is not None else None,
                "identity": self.identity.to_dict() if self.identity else None}
