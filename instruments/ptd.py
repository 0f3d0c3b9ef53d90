"""SPEC PTDaemon client: every analyzer PTDaemon supports, reached over TCP (default port 8888).

PTDaemon (the SPEC Power and Temperature Daemon) drives the analyzer itself; this driver is
one of its network clients, like the MLCommons power server and the SPEC harnesses. Resource:
``tcp://host:port`` (``host:port`` too where the transport factory accepts it). Commands are
ASCII lines ending CR LF; each has a one-line reply, except ``RL`` (a header line, then the
samples). The dialogue, as the MLCommons workflow has it (``reference/powerdev.md`` §3)::

    Hello                      -> Hello, PTDaemon here!
    Identify                   -> YokogawaWT210,1000,1,1,1,1,0,0,1,version=1.11.1-462c978e-20240907,...
    RR                         -> Ranges,0,0.500000,0,300.000000   (A auto, A range, V auto, V range)
    SR,V,300 / SR,A,Auto       -> Range V changed / Range A changed
    Go,1000,0,<mark>           -> Starting untimed measurement, maximum 500000 samples at 1000ms ...
    RL,*,* | RL | DC-RL        -> Last <N> samples, then N lines Time,<MM-DD-YYYY hh:mm:ss.mmm>,Watts,..
    Watts / Uncertainty        -> Watts,<avg>,<min>,<max>,<samples>,<errors>,<valid> / Uncertainty,...
    Stop                       -> Stopping untimed measurement

Identify: the analyzer's PTD name becomes the model, its ``*IDN?`` (appended by PTDaemon, fields
joined by ``;``) the vendor, serial and firmware; version, "accepted by SPEC", channels and the
averaging interval are kept (:attr:`PTDaemon.ptd`) and reported as a ``ptd_identity`` event with
the first samples. An analyzer SPEC has not accepted is warned about (``require_accepted``
refuses it). The events reach the journal with the first block of samples.

Samples arrive live: while measuring, the driver asks for the unread samples once per interval.
The first poll tries ``RL,*,*`` (all channels), falls back to ``RL`` on ``Invalid number of
parameters`` and to ``DC-RL`` on ``Unknown command``, as the MLCommons server does; the command
that worked is kept for the connection. Readings PTDaemon could not take (``-1`` error, ``-2``
missed, anything negative, beyond 1E9 or not a number) make the sample INVALID with NaN values:
they never enter an average. Multichannel lines (``Watts,<sum>,Volts,-1,...,Ch1,Watts,...``) fill
``ch_w`` / ``ch_v`` / ``ch_a`` / ``ch_pf``; the totals are the sum of watts and amps, the mean of
volts and watts over the summed volt-amperes for PF. Time stamps are PTDaemon's (UTC, as the
MLCommons workflow runs it with ``TZ=UTC``; ``ptd_clock=local`` reads them as this machine's
local time); a clock that disagrees with the station's is warned about.

Uncertainty: per sample where a line carries an ``Uncertainty,<fraction>`` pair, otherwise
unknown (NaN): the documented ``RL`` line has none. PTDaemon's own run figures (``Watts`` and
``Uncertainty``) are asked every ``summary_every_s`` while measuring and become ``ptd_summary``
events; the figures of the whole run, asked after ``Stop``, are :attr:`PTDaemon.last_summary`.

Failures: a reply that starts with ``Error``, ``Meter busy``, ``Invalid ...`` or ``Unknown
command`` is reported with the command and what it means. A broken or silent connection raises
InstrumentDisconnected (the acquisition layer records a gap and reconnects); after that the
driver stops the measurement it left running on PTDaemon before starting a new one.
Crest factor and measuring mode are PTDaemon command-line settings: the station cannot change
them over the network and records what it was told.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
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
)
from instruments.records import Block, Flag, InstrumentEvent, empty_block, sample_dtype
from instruments.transports.base import TransportError, TransportTimeout
from instruments.yokogawa import WT210_MODELS, WT300E_ACCURACY, WT300E_MODELS, WT500_MODELS

log = logging.getLogger(__name__)

HELLO_REPLY = "Hello, PTDaemon here!"
GO_REPLY = "Starting untimed measurement"
STOP_REPLY = "Stopping untimed measurement"
NOTHING_TO_STOP = "Error: no measurement to stop"
RL_COMMANDS = ("RL,*,*", "RL", "DC-RL")
MAX_READING = 1e9  # SPEC's harness discards readings above this as well as negative ones
_MARK_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_LAST_RE = re.compile(r"^Last (\d+) samples?\b(?:.*channels \d+ - (\d+))?")
_VERSION_RE = re.compile(r"^version=([^-]+)-([0-9A-Fa-f]{8})(?:-(\d{8}))?(?:;module=(.*))?$")
_CHANNEL_RE = re.compile(r"^Ch(\d+)$")
_TIME_RE = re.compile(r"^(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$")

# Range tables of the analyzers MLPerf accepts behind PTDaemon (its SUPPORTED_MODEL names), from
# the Yokogawa drivers' model data; PTDaemon's crest factor is not known here, so both apply.
_WT310E, _WT310, _WT333 = WT300E_MODELS[0], WT300E_MODELS[1], WT300E_MODELS[4]
ANALYZER_MODELS: dict[str, ModelSpec] = {
    "YokogawaWT210": WT210_MODELS[0],
    "YokogawaWT210_DC": WT210_MODELS[0],
    "YokogawaWT310": _WT310,
    "YokogawaWT310E": _WT310E,
    "YokogawaWT310_DC": _WT310,
    "YokogawaWT330": _WT333,
    "YokogawaWT330E": _WT333,
    "YokogawaWT330_multichannel": _WT333,
    "YokogawaWT330_DC": _WT333,
    "YokogawaWT500": WT500_MODELS[0],
    "YokogawaWT500_multichannel": WT500_MODELS[0],
}


def _table(spec: ModelSpec, kind: Literal["voltage", "current"]) -> tuple[float, ...]:
    return tuple(sorted({r for cf in spec.crest_factors for r in spec.ranges_for(kind, cf)}))


# -- replies --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PtdInfo:
    """What PTDaemon says about itself and its analyzer in reply to ``Identify``."""

    driver: str  # PTD's analyzer name, e.g. YokogawaWT310E
    interval_ms: int  # PTDaemon's averaging interval
    can_watts: bool
    can_volts: bool
    can_amps: bool
    can_pf: bool
    accepted: bool  # accepted by SPEC for publication
    version: str  # e.g. 1.11.1
    crc: str
    build_date: str  # yyyymmdd ("" if not given)
    module: str
    os: str
    mode: str  # power / temperature
    accuracy: bool  # uncertainty evaluation enabled
    range_setting: bool
    channels: int
    calibration: str
    analyzer_idn: str
    raw: str

    def to_dict(self) -> dict:
        return asdict(self)


def _flag(text: str) -> bool:
    return text.strip() not in ("", "0", "-1")


def parse_identify(reply: str) -> PtdInfo:
    """The ``Identify`` reply as a :class:`PtdInfo`; ValueError naming what is wrong."""
    raw = reply.strip()
    fields = raw.split(",", 15)
    if len(fields) < 10:
        raise ValueError(f"{raw!r} has {len(fields)} fields; an Identify reply has at least 10")
    m = _VERSION_RE.match(fields[9].strip())
    if not m:
        raise ValueError(f"field 10 of {raw!r} is {fields[9]!r}, not version=<ver>-<crc>-<date>")
    try:
        interval_ms = int(fields[1])
    except ValueError:
        raise ValueError(f"the averaging interval {fields[1]!r} in {raw!r} is not a number") from None
    more = fields[10:] + [""] * (6 - len(fields[10:]))
    host_os, mode, accuracy, range_setting, channels, rest = more[:6]
    rest_fields = rest.split(",", 3) if rest else []
    calibration = rest_fields[2].strip() if len(rest_fields) > 2 else ""
    idn = rest_fields[3].strip() if len(rest_fields) > 3 else ""
    try:
        n_channels = int(channels) if channels.strip() else 1
    except ValueError:
        raise ValueError(f"the channel count {channels!r} in {raw!r} is not a number") from None
    return PtdInfo(
        driver=fields[0].strip().removesuffix("-na"), interval_ms=interval_ms,
        can_watts=_flag(fields[2]), can_volts=_flag(fields[3]), can_amps=_flag(fields[4]),
        can_pf=_flag(fields[5]), accepted=_flag(fields[8]),
        version=m.group(1), crc=m.group(2), build_date=m.group(3) or "", module=m.group(4) or "",
        os=host_os.strip().removeprefix("OS="), mode=mode.strip().removeprefix("mode=") or "power",
        accuracy=_flag(accuracy) if accuracy else False, range_setting=_flag(range_setting) if range_setting else True,
        channels=max(1, n_channels), calibration=calibration, analyzer_idn=idn, raw=raw,
    )


def parse_ranges(reply: str, channels: int) -> list[tuple[int, float, int, float]]:
    """``Ranges,<A auto>,<A range>,<V auto>,<V range>[,...]`` as one tuple per channel.

    PTDaemon 1.4.3 and later put a virtual sum channel first on multichannel analyzers; it is
    dropped. Auto flags are -1 (unknown), 0 (off), 1 (on); a range of -1 is unknown.
    """
    text = reply.strip()
    if not text.startswith("Ranges,"):
        raise ValueError(f"{text!r} is not a Ranges reply")
    values = [float(x) for x in text.split(",")[1:]]
    if not values or len(values) % 4:
        raise ValueError(f"{text!r} does not hold groups of four numbers")
    groups = [(int(values[k]), values[k + 1], int(values[k + 2]), values[k + 3]) for k in range(0, len(values), 4)]
    if channels > 1 and len(groups) == channels + 1:
        groups = groups[1:]
    return groups


def parse_watts(reply: str) -> dict:
    """``Watts,<avg>,<min>,<max>,<samples>,<errors>,<valid>`` (also Volts, Amps, PF)."""
    parts = reply.strip().split(",")
    if len(parts) != 7 or parts[0] not in ("Watts", "Volts", "Amps", "PF"):
        raise ValueError(f"{reply.strip()!r} is not a Watts reply")
    avg, lo, hi = (float(x) for x in parts[1:4])
    samples, errors, valid = (int(float(x)) for x in parts[4:7])
    return {"avg": avg if valid else None, "min": lo if valid else None, "max": hi if valid else None,
            "samples": samples, "errors": errors, "valid": valid}


def parse_uncertainty(reply: str) -> list[dict]:
    """``Uncertainty,<avg>,<min>,<max>,<samples>,<above limit>,<ok>,<unknown>`` per channel.

    Values are fractions (0.01 == 1 %); a negative average means "unknown" (every sample of a
    run under auto range). The fifth field counts samples above the 1 % limit (MLCommons
    powerdev notes; SPEC's harness calls it "invalid").
    """
    parts = reply.strip().split(",")
    if parts[0] != "Uncertainty" or len(parts) < 8 or (len(parts) - 1) % 7:
        raise ValueError(f"{reply.strip()!r} is not an Uncertainty reply")
    out = []
    for k in range(1, len(parts), 7):
        avg, lo, hi = (float(x) for x in parts[k:k + 3])
        samples, above, ok, unknown = (int(float(x)) for x in parts[k + 3:k + 7])
        known = avg >= 0 and ok + above > 0
        out.append({"avg": avg if known else None, "min": lo if known else None, "max": hi if known else None,
                    "samples": samples, "above_limit": above, "ok": ok, "unknown": unknown})
    return out


def parse_ptd_time(text: str, local: bool = False) -> float:
    """``MM-DD-YYYY hh:mm:ss.mmm`` (UTC, or this machine's local time) as Unix seconds."""
    m = _TIME_RE.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a PTDaemon time stamp (MM-DD-YYYY hh:mm:ss.mmm)")
    mo, d, y, hh, mm, ss, frac = m.groups()
    micro = int((frac or "0").ljust(6, "0"))
    stamp = datetime(int(y), int(mo), int(d), int(hh), int(mm), int(ss), micro,
                     tzinfo=None if local else UTC)
    return stamp.timestamp()


def _reading(text: str) -> float:
    """One reading; NaN when PTDaemon could not take it (-1 error, -2 missed, junk)."""
    try:
        x = float(text)
    except ValueError:
        return math.nan
    if not math.isfinite(x) or x < 0 or x > MAX_READING:
        return math.nan
    return x


@dataclass
class SampleLine:
    """One ``RL`` line: its time, the sum channel's fields and each channel's fields (text)."""

    t: float
    total: dict[str, str]
    channels: list[dict[str, str]]


def parse_sample_line(line: str, local_time: bool = False) -> SampleLine:
    """``Time,<stamp>,Watts,w,Volts,v,Amps,a,PF,pf[,Mark,m][,Ch1,Watts,...,Ch2,...]``.

    Channel groups are tagged ``Ch<n>``; a field repeated without a tag also starts the next
    channel (the layout SPEC's harness reads). ValueError for a line that is not a sample.
    """
    tokens = [t.strip() for t in line.strip().split(",")]
    if len(tokens) < 4 or tokens[0] != "Time":
        raise ValueError(f"{line.strip()!r} is not a sample line (Time,...)")
    t = parse_ptd_time(tokens[1], local_time)
    total: dict[str, str] = {}
    channels: list[dict[str, str]] = []
    group = total
    i = 2
    while i < len(tokens):
        tag = _CHANNEL_RE.match(tokens[i])
        if tag:
            index = int(tag.group(1))
            while len(channels) < index:
                channels.append({})
            group = channels[index - 1]
            i += 1
            continue
        if i + 1 >= len(tokens):
            raise ValueError(f"{line.strip()!r}: field {tokens[i]!r} has no value")
        name, value = tokens[i], tokens[i + 1]
        if not name[:1].isalpha():
            raise ValueError(f"{line.strip()!r}: {name!r} is not a field name")
        if name in group and name != "Mark":
            channels.append({})
            group = channels[-1]
        group[name] = value
        i += 2
    return SampleLine(t, total, channels)


# -- the driver -----------------------------------------------------------------------------------
_SETTINGS = (
    SettingSpec("update_interval_s", "Sample interval", "float", 1.0, unit="s", minimum=0.1, maximum=60.0,
                help="the interval of Go,<ms>,0,<mark>; not shorter than PTDaemon's averaging interval "
                     "(MLPerf Power: 1 s); applied by configure() from the session's settings"),
    SettingSpec("mark", "Mark", "str", "",
                help="label PTDaemon writes to its log with every sample (letters, digits, _ . : -); "
                     "empty: station_<UTC date and time> at each start"),
    SettingSpec("query_timeout_s", "Reply timeout", "float", 2.0, unit="s", minimum=0.1, maximum=60.0,
                help="how long to wait for a reply (plus one interval for RL) before PTDaemon counts as gone"),
    SettingSpec("summary_every_s", "PTDaemon figures every", "float", 10.0, unit="s", minimum=0.0,
                maximum=3600.0,
                help="how often to ask PTDaemon for its run average and uncertainty while measuring "
                     "(0: only after Stop)"),
    SettingSpec("ptd_clock", "PTDaemon time stamps", "choice", "utc", choices=("utc", "local"),
                help="PTDaemon stamps samples in its host's time zone; MLPerf runs it with TZ=UTC"),
    SettingSpec("model", "Expected analyzer", "str", "",
                help="refuse to run if PTDaemon drives another analyzer (its PTD name, e.g. "
                     "YokogawaWT310E; empty: any)"),
    SettingSpec("require_accepted", "Only SPEC-accepted analyzers", "bool", False,
                help="refuse an analyzer PTDaemon does not report as accepted by SPEC (it is only "
                     "warned about otherwise)"),
)


class PTDaemon(Driver):
    """A power analyzer behind SPEC PTDaemon, over TCP: identify, ranges, untimed runs, live samples.

    See the module docstring for the dialogue, the RL fallbacks and how readings PTDaemon
    could not take are flagged. Options are the declared settings; ``clock`` (time,
    monotonic, sleep) is for tests.
    """

    description: ClassVar[Description] = Description(
        name="ptd",
        vendor="SPEC PTDaemon",
        models=tuple(ANALYZER_MODELS),
        channels=3,
        quantities=("w", "v", "a", "pf"),
        voltage_ranges=_WT310E.ranges_for("voltage", 3.0),
        current_ranges=_WT310E.ranges_for("current", 3.0),
        fastest_interval_s=0.1,
        slowest_interval_s=60.0,
        accuracy=WT300E_ACCURACY,
        transports=("tcp",),
        settings=_SETTINGS,
        summary="Any analyzer SPEC PTDaemon drives, through PTDaemon's TCP interface (default port "
                "8888). Models listed are those MLPerf Power accepts; listed ranges are the WT310E's "
                "at crest factor 3, the connected analyzer's are used once it is identified. "
                "Uncertainty comes from PTDaemon.",
    )

    # PTDaemon's own port (8888 by default), with or without the scheme, as PTDaemon users write it.
    resource_forms: ClassVar[tuple[str, ...]] = ("tcp://192.0.2.7:8888", "192.0.2.7:8888")

    def __init__(self, transport: Any = None, *, clock: Clock | None = None, **options: Any) -> None:
        super().__init__(transport, **options)
        self.check_options()
        mark = self.setting("mark")
        if mark and not _MARK_RE.match(mark):
            raise ConfigurationError(
                f"mark {mark!r}: PTDaemon marks are 1 to 100 letters, digits, '_', '.', ':' or '-'")
        self.clock: Clock = clock or SystemClock()
        self.ptd: PtdInfo | None = None
        self.identity: Identity | None = None
        self.last_summary: dict | None = None  # PTDaemon's figures of the last run, after stop()
        self._config: Config | None = None
        self._ranges: Ranges | None = None
        self._running = False
        self._left_running = False  # our measurement may still run on PTDaemon (connection lost)
        self._mark = ""
        self._pending: list[InstrumentEvent] = []
        self._reset_connection()

    # -- small helpers ----------------------------------------------------------------------------
    def _reset_connection(self) -> None:
        self._answered = False
        self._rl_command: str | None = None
        self._rl_partial_warned = False

    @property
    def _who(self) -> str:
        where = getattr(self.transport, "resource", "") or ""
        return f"PTDaemon at {where}" if where else "PTDaemon"

    @property
    def _interval(self) -> float:
        if self._config is not None:
            return float(self._config.update_interval_s)
        return float(self.setting("update_interval_s"))

    @property
    def _timeout(self) -> float:
        return float(self.setting("query_timeout_s"))

    @property
    def channels(self) -> int:
        """Channels of the connected analyzer (the description's maximum before identify())."""
        return self.ptd.channels if self.ptd else self.description.channels

    @property
    def dtype(self) -> np.dtype:
        """Record type: per-channel fields for a multichannel analyzer (final after identify())."""
        return sample_dtype(self.channels)

    def _event(self, kind: str, **detail: Any) -> None:
        """An event to hand over with the next samples (the acquisition layer journals it)."""
        self._pending.append(InstrumentEvent(self.clock.time(), kind, detail))

    def _need(self) -> Any:
        if self.transport is None:
            raise InstrumentError("the ptd driver has no transport: give it a resource (tcp://host:8888)")
        return self.transport

    def _lost(self, exc: Exception, command: str) -> InstrumentDisconnected:
        if self._running or self._left_running:
            self._left_running = True
        self._running = False
        if isinstance(exc, TransportTimeout):
            why = f"no reply to {command!r} in time"
        else:
            why = f"the connection broke at {command!r} ({exc})"
        if not self._answered:
            return InstrumentDisconnected(
                f"{self._who} does not answer: {why}. Is PTDaemon running and listening on this port "
                "(ptd -p <port>)?")
        return InstrumentDisconnected(
            f"{self._who} stopped answering: {why}. No samples are taken until it is back; check "
            "PTDaemon and the network.")

    def _send(self, command: str) -> None:
        transport = self._need()
        try:
            transport.write_bytes((command + "\r\n").encode("ascii"))
        except TransportError as exc:
            raise self._lost(exc, command) from exc

    def _line(self, command: str, timeout: float | None = None) -> str:
        try:
            line = self._need().read_line(timeout=self._timeout if timeout is None else timeout)
        except TransportError as exc:
            raise self._lost(exc, command) from exc
        self._answered = True
        return line.strip()

    def _query(self, command: str, timeout: float | None = None) -> str:
        self._send(command)
        return self._line(command, timeout)

    def _out_of_step(self, command: str, reply: str, expected: str) -> InstrumentDisconnected:
        return InstrumentDisconnected(
            f"{self._who} answered {command!r} with {reply!r} where {expected} was expected: the "
            "conversation is out of step. Reconnecting resets it.")

    def explain(self, command: str, reply: str) -> str:
        """An error reply of PTDaemon as the operator reads it: command, reply, meaning."""
        meaning = ""
        if reply.startswith("Invalid number of parameters") or reply.startswith("Error in parameter"):
            meaning = "this PTDaemon does not accept the command in this form"
        elif reply.startswith("Meter busy"):
            meaning = "PTDaemon is busy with the analyzer; try again in a moment"
        elif reply.startswith(("Null channel", "Invalid channel", "Channel number out")):
            meaning = "the analyzer behind PTDaemon has no such channel"
        elif "Unknown command" in reply:
            meaning = "this PTDaemon (version or analyzer type) does not know the command"
        elif reply.startswith("Error"):
            meaning = "PTDaemon refused"
        else:
            meaning = "PTDaemon gave an unexpected reply"
        return f"{self._who} answered {command!r} with {reply!r} ({meaning})"

    # -- connection and identity ------------------------------------------------------------------
    def open(self) -> None:
        """Connect (a fresh connection) and greet PTDaemon: ``Hello`` must be answered as PTDaemon does."""
        transport = self._need()
        self._reset_connection()
        self._running = False
        try:
            transport.close()
            transport.open()
        except TransportError as exc:
            raise InstrumentDisconnected(
                f"cannot connect to {self._who}: {exc}. Is PTDaemon running (ptd -p <port> ...)?") from exc
        reply = self._query("Hello")
        if reply != HELLO_REPLY:
            raise InstrumentError(
                f"{self._who} answered 'Hello' with {reply!r}, not {HELLO_REPLY!r}: this is not PTDaemon. "
                "Check the host and port (PTDaemon listens on 8888 unless started with -p).")

    def identify(self) -> Identity:
        """Ask ``Identify``: analyzer, PTDaemon version, SPEC acceptance, channels, interval."""
        reply = self._query("Identify")
        try:
            info = parse_identify(reply)
        except ValueError as exc:
            raise InstrumentError(f"{self._who} sent an Identify reply the station cannot read: {exc}") from exc
        if info.mode != "power":
            raise InstrumentError(
                f"{self._who} runs a {info.driver} in {info.mode} mode: that is a "
                f"{'temperature sensor' if info.mode == 'temperature' else 'device'}, not a power analyzer.")
        if not info.can_watts:
            raise InstrumentError(f"{self._who}: the {info.driver} behind it cannot measure watts.")
        expected = str(self.setting("model") or "").strip()
        if expected and expected.lower() != info.driver.lower():
            raise InstrumentError(f"{self._who} drives a {info.driver}, not the {expected} this setup expects.")
        if self.ptd is not None and self.identity is not None and info.channels != self.ptd.channels:
            raise InstrumentError(
                f"{self._who} now reports {info.channels} channel(s) instead of {self.ptd.channels}: "
                "the analyzer behind it changed. Start a new run.")
        if not info.accepted and self.setting("require_accepted"):
            raise InstrumentError(
                f"{self._who} reports that the {info.driver} is not accepted by SPEC; this setup "
                "requires an accepted analyzer (require_accepted).")
        # PTDaemon appends the analyzer's *IDN? with ';' for ',': vendor;model;serial;firmware.
        idn = [f.strip() for f in info.analyzer_idn.split(";")] if ";" in info.analyzer_idn else []
        vendor, _, serial, firmware = (idn + ["", "", "", ""])[:4]
        self.ptd = info
        self.identity = Identity(vendor or "SPEC PTDaemon", info.driver, serial, firmware, info.raw)
        message = (f"PTDaemon {info.version} ({info.build_date or 'no build date'}) drives a {info.driver}"
                   f"{' (' + info.analyzer_idn + ')' if info.analyzer_idn else ''}, {info.channels} channel(s), "
                   f"averaging {info.interval_ms} ms, {'accepted' if info.accepted else 'NOT accepted'} by SPEC")
        self._event("ptd_identity", message=message, **{k: v for k, v in info.to_dict().items() if k != "raw"})
        if not info.accepted:
            warning = (f"{self._who} reports that the {info.driver} is not accepted by SPEC: results "
                       "measured with it cannot be published as SPEC or MLPerf Power results.")
            log.warning(warning)
            self._event("warning", message=warning)
        return self.identity

    def _need_identity(self) -> PtdInfo:
        if self.ptd is None:
            raise InstrumentError(f"{self._who}: identify() before configuring it")
        return self.ptd

    # -- settings ---------------------------------------------------------------------------------
    def configure(self, config: Config) -> None:
        """The sample interval (checked against PTDaemon's averaging interval).

        Crest factor and measuring mode are set on PTDaemon's command line; they are recorded,
        and a value other than PTDaemon's usual (3, rms) is warned about.
        """
        info = self._need_identity()
        if self._running:
            raise InstrumentError(f"{self._who} is measuring; stop before changing its settings")
        interval = float(config.update_interval_s)
        ms = round(interval * 1000)
        if not math.isclose(ms, interval * 1000, abs_tol=1e-6) or ms < 1:
            raise ConfigurationError(f"the PTDaemon interval is whole milliseconds; {interval:g} s is not")
        if ms < info.interval_ms:
            raise ConfigurationError(
                f"{self._who} averages over {info.interval_ms} ms; it cannot give a sample every {ms} ms. "
                f"Choose {info.interval_ms / 1000:g} s or longer.")
        if float(config.crest_factor) != 3.0 or config.mode != "rms":
            self._event("warning", message=(
                f"crest factor {config.crest_factor:g} and {config.mode} mode were asked for, but PTDaemon "
                "sets them from its own command line; the station cannot change them over the network."))
        self._config = Config(interval, float(config.crest_factor), config.mode, dict(config.extra))

    def range_table(self, kind: Literal["voltage", "current"]) -> tuple[float, ...]:
        """Ranges of ``kind`` the identified analyzer has (any crest factor); () if not known."""
        spec = ANALYZER_MODELS.get(self.ptd.driver) if self.ptd else None
        return _table(spec, kind) if spec else ()

    def round_up_range(self, kind: Literal["voltage", "current"], value: float) -> float:
        """Smallest known range that holds ``value``; ``value`` itself for an analyzer of unknown
        ranges (PTDaemon then picks the analyzer's next range at or above it)."""
        table = self.range_table(kind)
        if not table:
            return float(value)
        return next((r for r in table if r >= value * (1 - 1e-9)), table[-1])

    def _check_range(self, kind: Literal["voltage", "current"], value: RangeValue) -> RangeValue:
        if value == AUTO or (isinstance(value, str) and value.strip().lower() == AUTO):
            return AUTO
        try:
            v = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{kind} range {value!r} is neither a number nor 'auto'") from exc
        if not v > 0 or not math.isfinite(v):
            raise ConfigurationError(f"{kind} range {v:g} must be a positive number")
        table = self.range_table(kind)
        if table and not any(math.isclose(r, v, rel_tol=1e-6) for r in table):
            listed = ", ".join(f"{r:g}" for r in table)
            raise ConfigurationError(
                f"the {self.ptd.driver} behind {self._who} has no {kind} range {v:g} "
                f"{'V' if kind == 'voltage' else 'A'} (it has {listed})")
        return v

    def set_ranges(self, voltage: RangeValue, current: RangeValue) -> None:
        """``SR,V,<range|Auto>`` and ``SR,A,<range|Auto>``, then ``RR`` to confirm them.

        A fixed range must be one the analyzer has (when its table is known). PTDaemon
        choosing a smaller range than asked, or refusing, raises ConfigurationError.
        """
        info = self._need_identity()
        v = self._check_range("voltage", voltage)
        a = self._check_range("current", current)
        if not info.range_setting:
            if v != AUTO or a != AUTO:
                raise ConfigurationError(
                    f"{self._who} reports that range setting is disabled for the {info.driver}; set the "
                    "ranges on the analyzer or PTDaemon's command line and use 'auto' here.")
            self.ranges()
            return
        for letter, value in (("V", v), ("A", a)):
            token = "Auto" if value == AUTO else _number(float(value))
            command = f"SR,{letter},{token}"
            reply = self._query(command)
            if reply.lower() != f"range {letter} changed".lower():
                raise ConfigurationError(
                    f"{self.explain(command, reply)}. The ranges are not as requested; correct them and "
                    "connect again.")
        state = self.ranges()
        for asked, got, auto, what in ((v, state.voltage, state.voltage_auto, "voltage"),
                                       (a, state.current, state.current_auto, "current")):
            if asked == AUTO:
                continue
            if auto or not got >= float(asked) * (1 - 1e-6):
                raise ConfigurationError(
                    f"{self._who} was asked for {what} range {asked:g} but reports "
                    f"{'auto' if auto else f'{got:g}'}; the ranges are not as set up.")
            if not math.isclose(got, float(asked), rel_tol=1e-6):
                self._event("ptd_range", voltage=state.voltage, current=state.current, message=(
                    f"{self._who} set the {what} range to {got:g}, the analyzer's next range above {asked:g}"))

    def ranges(self) -> Ranges:
        """The ranges in force, from ``RR`` (``RR,*`` on a multichannel analyzer; channel 1's)."""
        info = self._need_identity()
        command = "RR,*" if info.channels > 1 else "RR"
        reply = self._query(command)
        if command == "RR,*" and reply.startswith("Invalid"):
            command = "RR"
            reply = self._query(command)
        if reply.startswith(("Error", "Meter busy", "Invalid", "Unknown")):
            raise InstrumentError(self.explain(command, reply))
        try:
            groups = parse_ranges(reply, info.channels)
        except ValueError as exc:
            raise self._out_of_step(command, reply, "Ranges,...") from exc
        a_auto, a_range, v_auto, v_range = groups[0]
        self._ranges = Ranges(v_range if v_range > 0 else math.nan, a_range if a_range > 0 else math.nan,
                              v_auto == 1, a_auto == 1)
        return self._ranges

    # -- measuring --------------------------------------------------------------------------------
    def start(self) -> None:
        """``Go,<interval ms>,0,<mark>``: an untimed measurement whose samples are read live.

        After a lost connection, the measurement this driver left running on PTDaemon is
        stopped first (``Error: no measurement to stop`` is fine: PTDaemon restarted).
        """
        self._need_identity()
        if self._running:
            return
        if self._config is None:
            self._config = Config(update_interval_s=float(self.setting("update_interval_s")))
        if self._left_running:
            reply = self._query("Stop")
            if reply not in (STOP_REPLY, NOTHING_TO_STOP):
                raise InstrumentError(self.explain("Stop", reply))
            self._left_running = False
        else:
            self._mark = self.setting("mark") or datetime.fromtimestamp(
                self.clock.time(), UTC).strftime("station_%Y-%m-%d_%H-%M-%S")
        ms = round(self._interval * 1000)
        command = f"Go,{ms},0,{self._mark}"
        reply = self._query(command)
        if not reply.startswith(GO_REPLY):
            hint = (" Another client may be measuring with this PTDaemon; it serves one measurement at a time."
                    if reply.startswith("Error") else "")
            raise InstrumentError(f"{self.explain(command, reply)}: no measurement started.{hint}")
        if self._ranges is None:
            self.ranges()
        self._running = True
        now = self.clock.monotonic()
        self._next_poll = now + self._interval
        every = float(self.setting("summary_every_s"))
        self._next_summary = now + every if every > 0 else math.inf
        self._last_t: float | None = None
        self._clock_checked = False

    def stop(self) -> None:
        """``Stop``, then PTDaemon's figures of the whole run into :attr:`last_summary`."""
        if not self._running:
            return
        self._running = False
        self._left_running = True
        reply = self._query("Stop")
        if reply not in (STOP_REPLY, NOTHING_TO_STOP):
            raise InstrumentError(self.explain("Stop", reply))
        self._left_running = False
        self.last_summary = self._summary(final=True)

    def close(self) -> None:
        """Stop a running measurement (if PTDaemon still answers) and close the connection."""
        try:
            self.stop()
        except InstrumentError:
            pass
        self._running = False
        if self.transport is not None:
            try:
                self.transport.close()
            except TransportError:
                pass

    def read_block(self, timeout: float = 0.5) -> Block | None:
        """The samples PTDaemon took since the last poll; polls once per interval.

        Returns None when no poll came due within ``timeout`` or PTDaemon had nothing new.
        Raises InstrumentDisconnected when PTDaemon is gone or out of step.
        """
        if not self._running:
            raise InstrumentError(f"{self._who} is not measuring; call start() first")
        clock = self.clock
        now = clock.monotonic()
        if self._next_poll > now + max(float(timeout), 0.0):
            clock.sleep(max(float(timeout), 0.0))
            return None
        if self._next_poll > now:
            clock.sleep(self._next_poll - now)
        polled_at = clock.monotonic()
        if polled_at >= self._next_summary:  # before RL: a failure here loses no samples read
            self._next_summary = polled_at + float(self.setting("summary_every_s"))
            self._summary(final=False)
        lines = self._read_lines()
        self._next_poll = polled_at + self._interval
        samples = self._records(lines)
        if len(samples) == 0:
            return None
        events, self._pending = self._pending, []
        return Block(samples, events)

    def _read_lines(self) -> list[str]:
        """Ask for the unread samples with the RL form this PTDaemon understands; their lines."""
        candidates = [self._rl_command] if self._rl_command else list(RL_COMMANDS)
        wait = self._timeout + self._interval  # RL waits up to one interval for a sample
        k = 0
        while k < len(candidates):
            command = candidates[k]
            header = self._query(command, timeout=wait)
            if header.startswith("Invalid number of parameters") and command == "RL,*,*":
                k = candidates.index("RL") if "RL" in candidates else k + 1
                continue
            if "Unknown command" in header:
                k = candidates.index("DC-RL") if command != "DC-RL" and "DC-RL" in candidates else len(candidates)
                continue
            if header.startswith(("No unread", "Insufficient unread")):
                self._settle_rl(command)
                return []
            m = _LAST_RE.match(header)
            if m:
                self._settle_rl(command)
                return [self._line(command, wait) for _ in range(int(m.group(1)))]
            if header.startswith(("Error", "Meter busy", "Invalid")):
                self._event("error", message=f"{self.explain(command, header)}; no samples this time")
                return []
            raise self._out_of_step(command, header, "'Last <N> samples'")
        tried = ", ".join(candidates)
        raise InstrumentError(f"{self._who} does not answer any of {tried} with samples; this PTDaemon "
                              "cannot be read live.")

    def _settle_rl(self, command: str) -> None:
        if self._rl_command == command:
            return
        self._rl_command = command
        if self.channels > 1 and command != "RL,*,*" and not self._rl_partial_warned:
            self._rl_partial_warned = True
            self._event("warning", message=(
                f"{self._who} does not give per-channel samples ({command!r} instead of 'RL,*,*'): only "
                "the totals are recorded."))

    def _records(self, lines: list[str]) -> np.ndarray:
        """Sample lines -> records; a line that is not a sample is reported and skipped."""
        n = self.channels
        block = empty_block(len(lines), self.dtype)
        keep = np.zeros(len(lines), dtype=bool)
        state = self._ranges or Ranges(math.nan, math.nan, True, True)
        v_range = math.nan if state.voltage_auto else state.voltage
        a_range = math.nan if state.current_auto else state.current
        auto = state.voltage_auto or state.current_auto
        local = self.setting("ptd_clock") == "local"
        for i, text in enumerate(lines):
            try:
                line = parse_sample_line(text, local)
            except ValueError as exc:
                self._event("error", message=f"{self._who} sent a sample line the station cannot read: {exc}; "
                                             "it is left out")
                continue
            if self._last_t is not None and line.t <= self._last_t:
                self._event("error", message=(
                    f"{self._who} sent a sample stamped {line.t:.3f}, not after the previous one "
                    f"({self._last_t:.3f}); it is left out"))
                continue
            self._last_t = line.t
            keep[i] = True
            rec = block[i]
            flags = int(Flag.AUTO_RANGE) if auto else 0
            w = _reading(line.total.get("Watts", "nan"))
            bad = math.isnan(w)
            if n > 1:
                chans = line.channels[:n] + [{}] * (n - len(line.channels[:n]))
                cw = np.array([_reading(c.get("Watts", "nan")) for c in chans])
                cv = np.array([_reading(c.get("Volts", "nan")) for c in chans])
                ca = np.array([_reading(c.get("Amps", "nan")) for c in chans])
                cpf = np.array([_reading(c.get("PF", "nan")) for c in chans])
                have_channels = any(line.channels)
                if have_channels:
                    bad = bad or bool(np.isnan(cw).any() or np.isnan(cv).any() or np.isnan(ca).any())
                    if math.isnan(w) and not bad:
                        w = float(cw.sum())
                v = float(cv.mean()) if have_channels else math.nan
                a = float(ca.sum()) if have_channels else math.nan
                s = float(np.sum(cv * ca)) if have_channels else math.nan
                pf = w / s if s > 0 else math.nan
                if not bad:
                    rec["ch_w"], rec["ch_v"], rec["ch_a"], rec["ch_pf"] = cw, cv, ca, cpf
            else:
                v = _reading(line.total.get("Volts", "nan"))
                a = _reading(line.total.get("Amps", "nan"))
                pf = _reading(line.total.get("PF", "nan"))
                bad = bad or math.isnan(v) or math.isnan(a)
            if bad:
                flags |= int(Flag.INVALID)
                w = v = a = pf = math.nan
            uncert = math.nan
            if not bad and "Uncertainty" in line.total:
                u = _reading(line.total["Uncertainty"])
                uncert = u
            rec["t"], rec["w"], rec["v"], rec["a"], rec["pf"] = line.t, w, v, a, pf
            rec["v_range"], rec["a_range"], rec["uncert"], rec["flags"] = v_range, a_range, uncert, flags
            block[i] = rec
        block = block[keep]
        if len(block) and not self._clock_checked:
            self._clock_checked = True
            self._check_clock(float(block["t"][-1]))
        return block

    def _check_clock(self, t_sample: float) -> None:
        """A PTDaemon clock that disagrees with ours makes every time stamp wrong: say so once."""
        skew = self.clock.time() - t_sample
        if -2.0 <= skew <= 3 * self._interval + 5.0:
            return
        which = "ahead of" if skew < 0 else "behind"
        self._event("warning", message=(
            f"{self._who} stamps its samples {abs(skew):.1f} s {which} this station's clock. Is PTDaemon "
            f"running with TZ=UTC (ptd_clock={self.setting('ptd_clock')}) and are both clocks synchronised "
            "(NTP)? The samples keep PTDaemon's time stamps."), skew_s=-skew)

    def _summary(self, final: bool) -> dict | None:
        """``Watts`` and ``Uncertainty``: PTDaemon's own figures of the run (so far: an event)."""
        out: dict[str, Any] = {"final": final, "mark": self._mark}
        for command, parse in (("Watts", parse_watts), ("Uncertainty", parse_uncertainty)):
            reply = self._query(command)
            try:
                out[command.lower()] = parse(reply)
            except ValueError:
                if reply.startswith(("Error", "Meter busy", "Invalid", "Unknown")):
                    self._event("error", message=self.explain(command, reply))
                    return None
                raise self._out_of_step(command, reply, f"'{command},...'") from None
        watts, unc = out["watts"], out["uncertainty"][0]
        avg = f"{watts['avg']:.6g} W" if watts["avg"] is not None else "no valid sample"
        u = (f"uncertainty avg {unc['avg'] * 100:.3g} %, max {unc['max'] * 100:.3g} %, {unc['above_limit']} "
             f"above 1 %, {unc['unknown']} unknown" if unc["avg"] is not None else "uncertainty unknown")
        out["message"] = (f"PTDaemon {'run' if final else 'so far'}: average {avg} over {watts['samples']} "
                          f"samples ({watts['errors']} errors); {u}")
        if not final:  # the final figures come after the last samples: they stay in last_summary
            self._event("ptd_summary", **out)
        return out

    def settings_snapshot(self) -> dict:
        """Driver, options, PTDaemon's identity, the settings applied, the ranges, the mark."""
        snap = super().settings_snapshot()
        snap.update({
            "ptd": self.ptd.to_dict() if self.ptd else None,
            "identity": self.identity.to_dict() if self.identity else None,
            "config": self._config.to_dict() if self._config else None,
            "ranges": self._ranges.to_dict() if self._ranges else None,
            "rl_command": self._rl_command,
            "last_summary": self.last_summary,
        })
        return snap


def _number(value: float) -> str:
    """A range as PTDaemon reads it: plain decimal, no exponent (``300``, ``0.005``)."""
    return np.format_float_positional(value, trim="-")
