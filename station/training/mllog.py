"""MLLOG power files of MLPerf Training (``power/result_<name>/node_<i>.txt``, ``sw_<j>.txt``) and the
run window of the performance log (``result_<name>.txt``): read and write.

An MLLOG line is ``:::MLLOG {json}`` with ``time_ms``, ``key``, ``value`` and ``metadata``; anything
before the token (``0: `` from the launcher) is ignored, as mlcommons/logging's parser does. A
power file holds ``power_measurement_start``/``_stop``, ``conversion_eff`` (metadata
``measurement_type`` AC|DC), ``interconnect_power_est`` (switches) and one ``power_reading`` per
sample (metadata ``host``).

Why the reader is shaped so: a 1,024-node, 1-hour, 1 Hz run is 3.7 M reading lines. The official
parser (JSON and a dataclass per line, then a sort) takes ~95 ms for a 3,600-line file; one
regular expression over the whole file (C speed) takes the readings of the usual one-line-per-
reading layout straight into numpy in ~6 ms, checked against counts of ``"power_reading"`` and of
the ``:::MLLOG`` token so that any line of another shape sends the whole file through the
line-by-line JSON path instead. The other lines (a handful per file) are always decoded as JSON.
Readings keep their file order; each other line remembers how many readings precede it, which is
all the official summarizer's order-sensitive arithmetic needs. File line numbers of readings
(for evidence) are found on demand by :func:`reading_lines`.
"""

from __future__ import annotations

import itertools
import json
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TOKEN = ":::MLLOG "
POWER_READING = "power_reading"
POWER_START = "power_measurement_start"
POWER_STOP = "power_measurement_stop"
CONVERSION_EFF = "conversion_eff"  # mlcommons/logging spells the constant CONVERTION_EFF
INTERCONNECT_EST = "interconnect_power_est"
RUN_START, RUN_STOP = "run_start", "run_stop"

_NUMBER = rb"(-?[0-9][0-9.eE+-]*)"
# The tail of one reading line as mlcommons/logging's mllog writes it (and as write_power_file does).
_READING = re.compile(
    rb'"time_ms": ?' + _NUMBER + rb', ?"event_type": ?"[A-Z_]+", ?"key": ?"power_reading", ?"value": ?' + _NUMBER
    + rb', ?"metadata": ?[^\n]*\}[ \t\r]*$', re.MULTILINE)
# A key that is not a reading: the few other lines of a power file.
_OTHER_KEY = re.compile(rb'"key": ?"(?!power_reading")')


class MllogError(ValueError):
    """A file cannot be read as MLLOG at all (the message names the file)."""


@dataclass(frozen=True)
class MllogEvent:
    """One MLLOG line that is not a reading. ``line`` is the 1-based line in its file;
    ``readings_before`` is how many readings precede it in the file."""

    key: str
    time_ms: float
    value: object
    metadata: dict
    line: int
    readings_before: int


@dataclass
class PowerLog:
    """One node or switch file: its readings in file order and its other lines."""

    path: Path
    time_ms: np.ndarray  # float64, file order
    watts: np.ndarray  # float64, file order
    events: list[MllogEvent] = field(default_factory=list)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line, why) the official parser skips too

    def __len__(self) -> int:
        return int(self.time_ms.size)

    @classmethod
    def of_node(cls, time_ms: Sequence[float] | np.ndarray, watts: Sequence[float] | np.ndarray, start_ms: float,
                stop_ms: float, *, conversion_eff: float | None = None, path: Path | str = "node_0.txt") -> PowerLog:
        """The log :func:`write_power_file` writes for these readings, without the file (for computing
        a run's energy in memory); ``line`` numbers are the ones the file would have."""
        t = np.asarray(time_ms, dtype=np.float64)
        events = [MllogEvent(POWER_START, float(start_ms), None, {}, 1, 0)]
        if conversion_eff is not None:
            events.append(MllogEvent(CONVERSION_EFF, float(start_ms), float(conversion_eff), {}, 2, 0))
        events.append(MllogEvent(POWER_STOP, float(stop_ms), None, {}, len(events) + t.size + 1, int(t.size)))
        return cls(Path(path), t, np.asarray(watts, dtype=np.float64), events)

    def find(self, key: str) -> list[MllogEvent]:
        """The lines with ``key``, in file order."""
        return [e for e in self.events if e.key == key]

    @property
    def conversion_eff(self) -> float | None:
        """The last ``conversion_eff`` value in the file (None without one, or when it is no number)."""
        return _number(self.find(CONVERSION_EFF)[-1:])

    @property
    def interconnect_power_est(self) -> float | None:
        """The first ``interconnect_power_est`` value (the one the summarizer reads), None without one
        or when it is no number."""
        return _number(self.find(INTERCONNECT_EST)[:1])


def _number(events: list[MllogEvent]) -> float | None:
    try:
        return float(events[0].value) if events else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class RunWindow:
    """``run_start``/``run_stop`` of a performance log as the summarizer picks them, with their lines."""

    path: Path
    start_ms: float
    stop_ms: float
    start_line: int
    stop_line: int

    @property
    def time_to_train_ms(self) -> float:
        return self.stop_ms - self.start_ms


def _decode(text: str) -> dict:
    d = json.loads(text[text.index(TOKEN) + len(TOKEN):].strip())
    if not isinstance(d, dict):
        raise ValueError("not a JSON object")
    return d


def _event(d: dict, line: int, before: int) -> MllogEvent:
    meta = d["metadata"]
    return MllogEvent(str(d["key"]), float(d["time_ms"]), d["value"], meta if isinstance(meta, dict) else {},
                      line, before)


def read_power_file(path: Path | str) -> PowerLog:
    """Read one ``node_<i>.txt`` or ``sw_<j>.txt``. Lines the official parser would skip (no valid
    JSON, no ``time_ms``) are skipped and listed in ``bad_lines``."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise MllogError(f"{path}: cannot read ({exc.strerror or exc})") from None
    fast = _read_fast(path, buf)
    return fast if fast is not None else _read_slow(path, buf)


def _read_fast(path: Path, buf: bytes) -> PowerLog | None:
    pairs = _READING.findall(buf)
    starts = sorted({buf.rfind(b"\n", 0, m.start()) + 1 for m in _OTHER_KEY.finditer(buf)})
    # Every reading counted once, and every MLLOG line either a reading or one of the others:
    # anything else (other key order, text before the token on a reading line) goes line by line.
    if len(pairs) != buf.count(b'"power_reading"') or len(pairs) + len(starts) != buf.count(TOKEN.encode()):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns (and stops) at a number it cannot read
            flat = np.fromstring(b" ".join(itertools.chain.from_iterable(pairs)).decode("ascii"), sep=" ")
    except (ValueError, UnicodeDecodeError, DeprecationWarning):
        return None
    if flat.size != 2 * len(pairs):
        return None
    events: list[MllogEvent] = []
    bad: list[tuple[int, str]] = []
    for at in starts:
        end = buf.find(b"\n", at)
        raw = buf[at:end if end >= 0 else len(buf)].decode("latin-1")
        line = buf.count(b"\n", 0, at) + 1
        if TOKEN not in raw:
            return None
        try:
            events.append(_event(_decode(raw), line, buf.count(b'"power_reading"', 0, at)))
        except (ValueError, KeyError, TypeError) as exc:
            bad.append((line, str(exc)))
    readings = flat.reshape(-1, 2)
    return PowerLog(path, np.ascontiguousarray(readings[:, 0]), np.ascontiguousarray(readings[:, 1]), events, bad)


def _read_slow(path: Path, buf: bytes) -> PowerLog:
    times: list[float] = []
    watts: list[float] = []
    events: list[MllogEvent] = []
    bad: list[tuple[int, str]] = []
    for n, raw in enumerate(buf.decode("latin-1").splitlines(), start=1):
        if TOKEN not in raw:
            continue
        try:
            d = _decode(raw)
            if d["key"] == POWER_READING:
                t, w = float(d["time_ms"]), float(d["value"])
                times.append(t)
                watts.append(w)
            else:
                events.append(_event(d, n, len(times)))
        except (ValueError, KeyError, TypeError) as exc:
            bad.append((n, str(exc)))
    return PowerLog(path, np.array(times, dtype=np.float64), np.array(watts, dtype=np.float64), events, bad)


def reading_lines(path: Path | str, indices: Iterable[int]) -> dict[int, int]:
    """The 1-based file line of each reading index in ``indices`` (for evidence)."""
    wanted = set(int(i) for i in indices)
    out: dict[int, int] = {}
    if not wanted:
        return out
    last = max(wanted)
    i = 0
    with open(path, encoding="latin-1") as f:
        for n, raw in enumerate(f, start=1):
            if TOKEN in raw and '"power_reading"' in raw and _is_reading(raw):
                if i in wanted:
                    out[i] = n
                i += 1
                if i > last:
                    break
    return out


def _is_reading(raw: str) -> bool:
    try:
        d = _decode(raw)
        if d["key"] != POWER_READING:
            return False
        float(d["time_ms"]), float(d["value"])
    except (ValueError, KeyError, TypeError):
        return False
    return True


def read_run_window(path: Path | str) -> RunWindow:
    """``run_start``/``run_stop`` of a performance log, picked as mlcommons/logging's summarizer does
    (each assignment wins until both have been seen). MllogError when either is missing."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as exc:
        raise MllogError(f"{path}: cannot read ({exc.strerror or exc})") from None
    start = stop = None
    for n, raw in enumerate(text.splitlines(), start=1):
        if TOKEN not in raw or (f'"{RUN_START}"' not in raw and f'"{RUN_STOP}"' not in raw):
            continue
        try:
            d = _decode(raw)
            t = float(d["time_ms"])
        except (ValueError, KeyError, TypeError):
            continue
        if d.get("key") == RUN_START:
            start = (t, n)
        elif d.get("key") == RUN_STOP:
            stop = (t, n)
        if start is not None and stop is not None:
            return RunWindow(path, start[0], stop[0], start[1], stop[1])
    missing = " and ".join(k for k, v in ((RUN_START, start), (RUN_STOP, stop)) if v is None)
    raise MllogError(f"{path}: {missing} not recorded")


def _line(time_ms: float | int, event_type: str, key: str, value: str, metadata: dict | None) -> str:
    t = int(time_ms) if float(time_ms).is_integer() else float(time_ms)
    return (f':::MLLOG {{"namespace": "", "time_ms": {t}, "event_type": "{event_type}", "key": "{key}", '
            f'"value": {value}, "metadata": {json.dumps(metadata or {})}}}\n')


def write_power_file(path: Path | str, time_ms: Sequence[float] | np.ndarray, watts: Sequence[float] | np.ndarray,
                     start_ms: float, stop_ms: float, *, conversion_eff: float | None = None,
                     measurement_type: str | None = None, host: str | None = None,
                     interconnect_power_est: float | None = None) -> Path:
    """Write a ``node_<i>.txt`` (or a measured ``sw_<j>.txt``): start, ``conversion_eff`` and
    ``interconnect_power_est`` when given, one reading per sample, stop.

    ``measurement_type`` is ``AC`` or ``DC`` (required with ``conversion_eff``); ``host`` goes into
    each reading's metadata. Times are UTC milliseconds. A measured switch needs
    ``interconnect_power_est``: the summarizer ignores a switch's readings and counts it as 0 J
    without one."""
    t = np.asarray(time_ms, dtype=np.float64)
    w = np.asarray(watts, dtype=np.float64)
    if t.shape != w.shape or t.ndim != 1:
        raise ValueError(f"time_ms and watts must be 1-D of one length, got {t.shape} and {w.shape}")
    if conversion_eff is not None and measurement_type not in ("AC", "DC"):
        raise ValueError("conversion_eff needs measurement_type 'AC' or 'DC'")
    path = Path(path)
    meta = json.dumps({"host": host} if host is not None else {})
    head = [_line(start_ms, "INTERVAL_START", POWER_START, "null", None)]
    if conversion_eff is not None:
        head.append(_line(start_ms, "POINT_IN_TIME", CONVERSION_EFF, repr(float(conversion_eff)),
                          {"measurement_type": measurement_type}))
    if interconnect_power_est is not None:
        head.append(_line(start_ms, "POINT_IN_TIME", INTERCONNECT_EST, repr(float(interconnect_power_est)), None))
    whole = bool(t.size) and bool(np.all(np.mod(t, 1.0) == 0.0))
    times = t.astype(np.int64).tolist() if whole else t.tolist()
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(head)
        # One format call per line keeps a 3,600-sample file well under a millisecond per 100 lines.
        f.writelines(f':::MLLOG {{"namespace": "", "time_ms": {ti}, "event_type": "POINT_IN_TIME", '
                     f'"key": "power_reading", "value": {wi!r}, "metadata": {meta}}}\n'
                     for ti, wi in zip(times, w.tolist(), strict=True))
        f.write(_line(stop_ms, "INTERVAL_END", POWER_STOP, "null", None))
    return path


def write_switch_file(path: Path | str, time_ms: float, *, interconnect_power_est: float | None,
                      switch_id: str | None = None, conversion_eff: float | None = None,
                      measurement_type: str | None = None) -> Path:
    """Write a ``sw_<j>.txt`` holding an estimated switch power (W) (maximum power x share provisioned
    to the run). A measured switch is written with :func:`write_power_file` and an estimate."""
    if interconnect_power_est is None:
        raise ValueError("a switch file needs interconnect_power_est: the summarizer counts a switch without it as 0 J")
    path = Path(path)
    lines = []
    if conversion_eff is not None:
        if measurement_type not in ("AC", "DC"):
            raise ValueError("conversion_eff needs measurement_type 'AC' or 'DC'")
        lines.append(_line(time_ms, "POINT_IN_TIME", CONVERSION_EFF, repr(float(conversion_eff)),
                           {"measurement_type": measurement_type}))
    lines.append(_line(time_ms, "POINT_IN_TIME", INTERCONNECT_EST, repr(float(interconnect_power_est)),
                       {"switch_id": switch_id} if switch_id is not None else None))
    path.write_text("".join(lines), encoding="utf-8")
    return path


__all__ = ["CONVERSION_EFF", "INTERCONNECT_EST", "POWER_READING", "POWER_START", "POWER_STOP", "RUN_START",
           "RUN_STOP", "TOKEN", "MllogError", "MllogEvent", "PowerLog", "RunWindow", "read_power_file",
           "read_run_window", "reading_lines", "write_power_file", "write_switch_file"]
