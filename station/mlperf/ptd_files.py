"""Writers of the PTDaemon-format files the MLCommons power tooling reads.

The MLCommons power workflow (mlcommons/power-dev ``ptd_client_server``) leaves these files in a
result directory, and its checkers and the submission checker read them:

``ranging/spl.txt``, ``run_1/spl.txt``
    One line per 1 s sample, ``Time,<MM-DD-YYYY hh:mm:ss.fff>,Watts,<w>,Volts,<v>,Amps,<a>,PF,<pf>,
    Mark,<mark>``, UTC, numbers as ``%.6f``, an invalid sample written as ``-1.000000``; analyzers with
    several elements append ``,Ch<n>,Watts,..,Volts,..,Amps,..,PF,..`` groups. The official server
    ends every file with an empty line (its last sample line plus ``"\\n"``); so do we. The date
    is month first (``07-28-2025`` is 28 July): PTDaemon writes ``%m-%d-%Y`` and every MLCommons
    checker parses it that way (the power-dev README's ``28-12-2020`` example is wrong).
``power/ptd_logs.txt``
    ``Analyzer 1`` and then the analyzer log, timestamped ``MM-DD-YYYY hh:mm:ss.fff: <text>`` in
    UTC: ``Go with mark '<mark>'``, ``Completed test``, ``Avg watts ...``, range changes, one
    ``WARNING:`` / ``ERROR:`` line per doubtful 1 s sample (the compliance checker reads these).
``run_1/ptd_out.txt``
    ``Analyzer 1:`` / ``Power: <Watts reply> `` / ``Uncertainty: <Uncertainty reply>``.
``power/server.json``, ``power/server.log``
    The director's summary (``json.dump`` with indent 4, no final newline) and its log lines
    ``<name> YYYY-MM-DD hh:mm:ss,mmm [LEVEL] message`` (local time, as Python logging writes them).

Line endings are ``"\\n"`` (what the official server writes on Linux; on Windows it writes
``"\\r\\n"``, pass ``newline="\\r\\n"`` to get that shape).

**1 s samples from full-resolution records.** The station records at the analyzer's own rate
(records of :mod:`station.core.samples`); PTDaemon hands out one reading per second
(``Go,1000,...``). :func:`one_second_samples` and :class:`SecondAggregator` cut the records into
seconds ``[t0 + k, t0 + k + 1)`` by their start time and give each second what a meter updating
once a second would report, stamped at the second's end (when such a reading becomes available):

* watts: the mean of the records' power (records are equally long, so this is the energy over
  the second divided by its length);
* volts and amps: the rms of the records' rms values (the rms over the whole second);
* power factor: watts / (volts x amps) over the second, limited to [-1, 1] (the records' mean
  power factor when volts x amps is 0);
* uncertainty: sum(uncert_i x |w_i|) / |sum(w_i)| (the accuracy error is systematic, so the
  absolute uncertainties add up); unknown (NaN) if any record's uncertainty is unknown;
* **validity**: a second is valid only if it holds at least one record and *none* of its records
  is OVERRANGE or INVALID or has a non-finite power: a meter averaging over that second would
  itself have reported an overrange or an error for it. An invalid second is written with
  ``-1.000000`` for watts, amps and power factor (as PTDaemon does), volts still from the records
  whose voltage was measured (``-1.000000`` if none), and never enters an average. Seconds with
  no record at all (a gap) get no line: the jump in ``Time`` shows them.

Multi-element records: the totals come from the base fields (power and current summed over the
elements, voltage their mean, see :func:`station.core.samples.sample_dtype`); each element's
group is computed the same way from ``ch_w`` / ``ch_v`` / ``ch_a``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from station.core.samples import Flag, channels_of

UNCERTAINTY_LIMIT = 0.01  # MLPerf Inference: 1 % per sample, as PTDaemon checks it
INVALID_VALUE = -1.0
_BAD = int(Flag.OVERRANGE | Flag.INVALID)
_EPS = 1e-9

SERVER_LOG_FORMAT = "{name} %(asctime)s [%(levelname)s] %(message)s"


# -- time stamps -------------------------------------------------------------------------------------
def format_ptd_time(t: float) -> str:
    """UTC seconds as PTDaemon writes them: ``MM-DD-YYYY hh:mm:ss.fff`` (rounded to the ms)."""
    ms = int(round(t * 1000.0))
    d = datetime.fromtimestamp(ms // 1000, UTC)
    return f"{d:%m-%d-%Y %H:%M:%S}.{ms % 1000:03d}"


# -- 1 s samples ---------------------------------------------------------------------------------------
def second_dtype(channels: int = 1) -> np.dtype:
    """Record type of the 1 s samples (one per second, ``t`` = the second's end, UTC)."""
    fields: list[tuple] = [
        ("t", "<f8"), ("w", "<f8"), ("v", "<f8"), ("a", "<f8"), ("pf", "<f8"),
        ("uncert", "<f8"),  # relative, NaN = unknown
        ("valid", "?"),
        ("records", "<i4"),  # full-resolution records in this second
        ("flags", "<u2"),  # OR of the records' flags
    ]
    if channels > 1:
        fields += [("ch_w", "<f8", (channels,)), ("ch_v", "<f8", (channels,)),
                   ("ch_a", "<f8", (channels,)), ("ch_pf", "<f8", (channels,))]
    return np.dtype(fields)


def _rms(sq_sum: np.ndarray, count: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, np.sqrt(sq_sum / np.maximum(count, 1)), np.nan)


def _pf(w: np.ndarray, v: np.ndarray, a: np.ndarray, pf_mean: np.ndarray) -> np.ndarray:
    s = v * a
    with np.errstate(divide="ignore", invalid="ignore"):
        pf = np.where(np.isfinite(s) & (s > 0), w / s, pf_mean)
    return np.clip(pf, -1.0, 1.0)


def one_second_samples(records: np.ndarray, t0: float, period: float = 1.0) -> np.ndarray:
    """The 1 s samples of ``records`` (sorted by time), seconds counted from ``t0``.

    Every second that holds at least one record gives one sample, including the last one even if
    the records stop inside it (:class:`SecondAggregator` decides when a second is complete).
    Records before ``t0`` are ignored. See the module docstring for how values and validity
    are computed.
    """
    channels = channels_of(records.dtype)
    out_dtype = second_dtype(channels)
    t = records["t"]
    keep = t >= t0 - _EPS
    if not keep.all():
        records = records[keep]
        t = records["t"]
    if len(records) == 0:
        return np.zeros(0, out_dtype)
    k = np.floor((t - t0) / period + _EPS).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    n = np.diff(np.r_[starts, len(k)])
    flags = records["flags"].astype(np.int64)
    w = records["w"].astype(np.float64)
    bad = ((flags & _BAD) != 0) | ~np.isfinite(w)
    good = ~bad

    def total(x: np.ndarray) -> np.ndarray:
        return np.add.reduceat(x, starts, axis=0)

    nbad = total(bad.astype(np.int64))
    w_sum = total(np.where(good, w, 0.0))
    v = records["v"].astype(np.float64)
    v_ok = np.isfinite(v) & ((flags & int(Flag.INVALID)) == 0)
    a = records["a"].astype(np.float64)
    a_ok = good & np.isfinite(a)
    pf_rec = records["pf"].astype(np.float64)
    pf_ok = good & np.isfinite(pf_rec)
    u = records["uncert"].astype(np.float64)
    u_unknown = total((good & ~np.isfinite(u)).astype(np.int64))
    u_abs = total(np.where(good & np.isfinite(u), u * np.abs(w), 0.0))

    out = np.zeros(len(starts), out_dtype)
    out["t"] = t0 + (k[starts] + 1) * period
    out["records"] = n
    out["flags"] = np.bitwise_or.reduceat(flags, starts)
    valid = (nbad == 0) & (n > 0)
    out["valid"] = valid
    with np.errstate(divide="ignore", invalid="ignore"):
        out["w"] = np.where(valid, w_sum / n, np.nan)
        out["v"] = _rms(total(np.where(v_ok, v * v, 0.0)), total(v_ok.astype(np.int64)))
        out["a"] = np.where(valid, _rms(total(np.where(a_ok, a * a, 0.0)), total(a_ok.astype(np.int64))), np.nan)
        pf_mean = total(np.where(pf_ok, pf_rec, 0.0)) / total(pf_ok.astype(np.int64))
        out["pf"] = np.where(valid, _pf(out["w"], out["v"], out["a"], pf_mean), np.nan)
        unc = np.where((u_unknown == 0) & (w_sum != 0), u_abs / np.abs(w_sum), np.nan)
        out["uncert"] = np.where(valid, unc, np.nan)
    if channels > 1:
        valid2 = valid[:, None]
        cw = records["ch_w"].astype(np.float64)
        cv = records["ch_v"].astype(np.float64)
        ca = records["ch_a"].astype(np.float64)
        cpf = records["ch_pf"].astype(np.float64)
        g2 = good[:, None]
        cv_ok = np.isfinite(cv) & v_ok[:, None]
        ca_ok = g2 & np.isfinite(ca)
        cpf_ok = g2 & np.isfinite(cpf)
        with np.errstate(divide="ignore", invalid="ignore"):
            ch_w = total(np.where(g2 & np.isfinite(cw), cw, 0.0)) / n[:, None]
            out["ch_w"] = np.where(valid2, ch_w, np.nan)
            out["ch_v"] = _rms(total(np.where(cv_ok, cv * cv, 0.0)), total(cv_ok.astype(np.int64)))
            out["ch_a"] = np.where(valid2, _rms(total(np.where(ca_ok, ca * ca, 0.0)),
                                                total(ca_ok.astype(np.int64))), np.nan)
            ch_pf_mean = total(np.where(cpf_ok, cpf, 0.0)) / total(cpf_ok.astype(np.int64))
            out["ch_pf"] = np.where(valid2, _pf(out["ch_w"], out["ch_v"], out["ch_a"], ch_pf_mean), np.nan)
    return out


class SecondAggregator:
    """Turns a stream of record blocks into 1 s samples as each second completes.

    Memory stays bounded: only the records of the second in progress are kept. ``t0`` is the
    start of the first second (default: the first record's time).
    """

    def __init__(self, t0: float | None = None, period: float = 1.0) -> None:
        self.t0 = t0
        self.period = float(period)
        self._pending: np.ndarray | None = None

    def add(self, records: np.ndarray) -> np.ndarray:
        """Feed a block; returns the seconds it completed (maybe none)."""
        if len(records) == 0:
            return np.zeros(0, second_dtype(channels_of(records.dtype)))
        if self.t0 is None:
            self.t0 = float(records["t"][0])
        data = records if self._pending is None else np.concatenate((self._pending, records))
        k_last = math.floor((float(data["t"][-1]) - self.t0) / self.period + _EPS)
        boundary = self.t0 + k_last * self.period
        cut = int(np.searchsorted(data["t"], boundary - _EPS, side="left"))
        self._pending = data[cut:].copy()
        return one_second_samples(data[:cut], self.t0, self.period)

    def finish(self, end_time: float | None = None) -> np.ndarray:
        """The second still in progress, if the measurement reached its end (``end_time``)."""
        pending, self._pending = self._pending, None
        if pending is None or len(pending) == 0 or self.t0 is None:
            return np.zeros(0, second_dtype(1 if pending is None else channels_of(pending.dtype)))
        out = one_second_samples(pending, self.t0, self.period)
        if end_time is None or end_time < float(out["t"][-1]) - 1e-6:
            out = out[:-1]
        return out


# -- spl.txt ---------------------------------------------------------------------------------------------
def _num(x: float) -> str:
    return f"{x:.6f}" if math.isfinite(x) else f"{INVALID_VALUE:.6f}"


def format_spl_line(
    t: float, watts: float, volts: float, amps: float, pf: float, mark: str,
    channels: Sequence[tuple[float, float, float, float]] | None = None,
) -> str:
    """One PTDaemon sample line (no line ending). Non-finite numbers are written ``-1.000000``.

    ``channels``: per element (watts, volts, amps, pf), appended as ``Ch1,Watts,...`` groups.
    """
    if "," in mark or "\n" in mark:
        raise ValueError(f"a mark cannot contain commas or line breaks: {mark!r}")
    parts = [f"Time,{format_ptd_time(t)},Watts,{_num(watts)},Volts,{_num(volts)},Amps,{_num(amps)},"
             f"PF,{_num(pf)},Mark,{mark}"]
    for i, (cw, cv, ca, cpf) in enumerate(channels or (), start=1):
        parts.append(f"Ch{i},Watts,{_num(cw)},Volts,{_num(cv)},Amps,{_num(ca)},PF,{_num(cpf)}")
    return ",".join(parts)


def spl_lines(seconds: np.ndarray, mark: str) -> list[str]:
    """The spl.txt lines of 1 s samples: invalid seconds get -1 for watts, amps and PF."""
    multi = "ch_w" in (seconds.dtype.names or ())
    lines = []
    for s in seconds:
        ok = bool(s["valid"])
        w, a, pf = (float(s["w"]), float(s["a"]), float(s["pf"])) if ok else (INVALID_VALUE,) * 3
        chans = None
        if multi:
            chans = [(float(cw) if ok else INVALID_VALUE, float(cv), float(ca) if ok else INVALID_VALUE,
                      float(cpf) if ok else INVALID_VALUE)
                     for cw, cv, ca, cpf in zip(s["ch_w"], s["ch_v"], s["ch_a"], s["ch_pf"], strict=True)]
        lines.append(format_spl_line(float(s["t"]), w, float(s["v"]), a, pf, mark, chans))
    return lines


def write_spl(path: str | os.PathLike, seconds: np.ndarray, mark: str, newline: str = "\n") -> Path:
    """Write ``spl.txt`` from 1 s samples, shaped like the official server's (final empty line)."""
    path = Path(path)
    text = "".join(line + newline for line in spl_lines(seconds, mark)) + newline
    _write_text(path, text)
    return path


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="ascii", errors="replace", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -- PTDaemon replies and summaries ----------------------------------------------------------------------
def watts_stats(seconds: np.ndarray) -> dict:
    """Average / min / max of the valid seconds' watts, and the counts PTDaemon reports."""
    valid = seconds["valid"] if len(seconds) else np.zeros(0, bool)
    w = seconds["w"][valid] if len(seconds) else np.zeros(0)
    return {
        "avg": float(np.mean(w)) if len(w) else INVALID_VALUE,
        "min": float(np.min(w)) if len(w) else INVALID_VALUE,
        "max": float(np.max(w)) if len(w) else INVALID_VALUE,
        "samples": int(len(seconds)),
        "errors": int(len(seconds) - int(np.count_nonzero(valid))),
        "valid": int(np.count_nonzero(valid)),
    }


def format_watts_reply(seconds: np.ndarray) -> str:
    """PTDaemon's reply to ``Watts``: ``Watts,<avg>,<min>,<max>,<samples>,<errors>,<valid>``."""
    s = watts_stats(seconds)
    return f"Watts,{s['avg']:.6f},{s['min']:.6f},{s['max']:.6f},{s['samples']},{s['errors']},{s['valid']}"


def format_completed(seconds: np.ndarray) -> str:
    """The log line after ``Completed test``: ``Avg watts ..., min watts ..., ... valid N``."""
    s = watts_stats(seconds)
    return (f"Avg watts {s['avg']:.6f}, min watts {s['min']:.6f}, max watts {s['max']:.6f}, "
            f"samples {s['samples']}, errors {s['errors']}, valid {s['valid']}")


def format_uncertainty_reply(seconds: np.ndarray, limit: float = UNCERTAINTY_LIMIT) -> str:
    """PTDaemon's reply to ``Uncertainty``.

    ``Uncertainty,<avg>,<min>,<max>,<samples>,<above limit>,<within limit>,<unknown>`` over the
    seconds; with no known uncertainty PTDaemon writes ``-1.0,10000000.000000,0.000000``.
    """
    u = seconds["uncert"] if len(seconds) else np.zeros(0)
    known = np.isfinite(u)
    if not known.any():
        head = "-1.0,10000000.000000,0.000000"
    else:
        k = u[known]
        head = f"{float(np.mean(k)):.6f},{float(np.min(k)):.6f},{float(np.max(k)):.6f}"
    above = int(np.count_nonzero(known & (np.where(known, u, 0) > limit)))
    ok = int(np.count_nonzero(known)) - above
    return f"Uncertainty,{head},{len(u)},{above},{ok},{int(np.count_nonzero(~known))}"


def write_ptd_out(path: str | os.PathLike, watts_reply: str, uncertainty_reply: str, analyzer: int = 1,
                  append: bool = False) -> Path:
    """``run_1/ptd_out.txt``: the ``Watts`` and ``Uncertainty`` replies of one analyzer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a" if append else "w", encoding="ascii", newline="") as f:
        f.write(f"Analyzer {analyzer}:\nPower: {watts_reply} \nUncertainty: {uncertainty_reply}\n")
    return path


# -- ptd_logs.txt -----------------------------------------------------------------------------------------
def format_log_line(t: float, text: str) -> str:
    """A PTDaemon log line (no line ending): ``MM-DD-YYYY hh:mm:ss.fff: text``."""
    return f"{format_ptd_time(t)}: {text}"


def sample_log_lines(seconds: np.ndarray, model: str, ranges: tuple[float, float] | None,
                     crest_factor: float = 3.0, limit: float = UNCERTAINTY_LIMIT) -> list[tuple[float, str]]:
    """What PTDaemon logs about doubtful 1 s samples, as (time, text) pairs.

    An invalid second gives an ``ERROR:`` (overrange, or ``Bad watts reading nan from <model>``
    for a reading that is no measurement, e.g. while the range switches); a valid second gives
    ``ERROR: Current exceeds peak value allowed ...`` when records were clipped by the crest
    factor, ``WARNING: Uncertainty unknown ...`` when its uncertainty is unknown and
    ``WARNING: Uncertainty x.xx%, which is above 1.00% limit ...`` above the limit. ``ranges``:
    (volts, amps) in force, for the wording (None while auto ranging).
    """
    out: list[tuple[float, str]] = []
    cf = f"{crest_factor:g}"
    a_text = f"{ranges[1]:.2f}A" if ranges else "auto"
    v_text = f"{ranges[0]:.2f}V" if ranges else "auto"
    for s in seconds:
        t = float(s["t"])
        flags = int(s["flags"])
        if not s["valid"]:
            if flags & int(Flag.OVERRANGE):
                out.append((t, f"ERROR: Reading over range (voltage range {v_text}, current range {a_text})!"))
            else:
                out.append((t, f"ERROR: Bad watts reading nan from {model}"))
            continue
        if flags & int(Flag.CLIPPED):
            out.append((t, f"ERROR: Current exceeds peak value allowed for range {a_text} and CF {cf}."))
        u = float(s["uncert"])
        if not math.isfinite(u):
            out.append((t, "WARNING: Uncertainty unknown for the last measurement sample!"))
        elif u > limit:
            out.append((t, f"WARNING: Uncertainty {u * 100:.2f}%, which is above {limit * 100:.2f}% limit "
                           "for the last sample!"))
    return out


class PtdLog:
    """``power/ptd_logs.txt`` written as things happen (each line flushed; survives a crash)."""

    def __init__(self, path: str | os.PathLike, analyzer: int = 1, banner: Iterable[str] = (),
                 header: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._f: TextIO | None = open(self.path, "w", encoding="ascii", errors="replace", newline="")
        if header:  # ptd_logs_analyzer_<i>.txt is PTDaemon's output alone, without it
            self._f.write(f"Analyzer {analyzer}\n")
        for line in banner:
            self._f.write(line + "\n")
        self._f.flush()

    def line(self, text: str, t: float | None = None) -> None:
        import time

        with self._lock:
            if self._f is None:
                return
            self._f.write(format_log_line(time.time() if t is None else t, text) + "\n")
            self._f.flush()

    def lines(self, items: Iterable[tuple[float, str]]) -> None:
        for t, text in items:
            self.line(text, t)

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                self._f.flush()
                os.fsync(self._f.fileno())
                self._f.close()
                self._f = None


# -- several analyzers (power-dev since 2024-11) ---------------------------------------------------------------
def analyzer_log_path(power_dir: str | os.PathLike, analyzer: int) -> Path:
    """``power/ptd_logs_analyzer_<i>.txt``: one analyzer's own log, as it happens."""
    return Path(power_dir) / f"ptd_logs_analyzer_{analyzer}.txt"


def join_analyzer_logs(power_dir: str | os.PathLike, count: int) -> Path:
    """``power/ptd_logs.txt`` from the analyzers' own logs: for each, ``Analyzer <i>`` then its log."""
    power_dir = Path(power_dir)
    parts = []
    for i in range(1, count + 1):
        try:
            text = analyzer_log_path(power_dir, i).read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            text = ""
        parts.append(f"Analyzer {i}\n{text}")
    path = power_dir / "ptd_logs.txt"
    _write_text(path, "".join(parts))
    return path


def spl_analyzer_path(phase_dir: str | os.PathLike, mode: str, analyzer: int) -> Path:
    """One analyzer's samples: ``ranging/spl_analyzer_<i>.csv`` / ``run_1/spl_analyzer_<i>.txt``
    (power-dev's names, extension included)."""
    return Path(phase_dir) / f"spl_analyzer_{analyzer}.{'csv' if mode == 'ranging' else 'txt'}"


def merge_spl(paths: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """``spl.txt`` of several analyzers from their own files, as power-dev merges them.

    With one analyzer the file is a copy. With several, sample lines are paired by their
    position in each file (not by time) up to the shortest file; each merged line is
    ``Time,<analyzer 1's time>,Watts,<sum of |watts| over the analyzers whose reading is not
    -1>,Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,<analyzer 1's mark>`` followed by
    ``,Analyzer<i>,<analyzer i's line>`` for each analyzer. The official metric averages that sum.
    """
    texts = [Path(p).read_text(encoding="ascii", errors="replace") for p in paths]
    out = Path(out)
    if len(texts) == 1:
        _write_text(out, texts[0])
        return out
    rows = [[ln for ln in t.split("\n") if ln.startswith("Time,")] for t in texts]
    merged = []
    for group in zip(*rows, strict=False):
        first = group[0].split(",")
        readings = [float(g.split(",")[3]) for g in group]
        total = sum(abs(w) for w in readings if w != INVALID_VALUE)
        head = (f"Time,{first[1]},Watts,{total:.6f},Volts,{INVALID_VALUE:.6f},Amps,{INVALID_VALUE:.6f},"
                f"PF,{INVALID_VALUE:.6f},Mark,{first[11]}")
        merged.append(head + "".join(f",Analyzer{i},{g}" for i, g in enumerate(group, start=1)) + "\n")
    _write_text(out, "".join(merged))
    return out


# -- server.log and server.json ---------------------------------------------------------------------------
def server_log_formatter(name: str = "station-director") -> logging.Formatter:
    """The official server's log format with our program name: ``<name> <asctime> [LEVEL] msg``."""
    return logging.Formatter(SERVER_LOG_FORMAT.format(name=name))


def write_server_log(path: str | os.PathLike, records: Iterable[logging.LogRecord],
                     formatter: logging.Formatter | None = None) -> Path:
    """``power/server.log``: one formatted line per log record, ``"\\n"`` endings."""
    fmt = formatter or server_log_formatter()
    path = Path(path)
    _write_text(path, "".join(fmt.format(r) + "\n" for r in records))
    return path


# PTDaemon's device numbers of the analyzers the official checker supports (``-g``/``-y`` <number>)
PTD_DEVICE_TYPES = {"YokogawaWT210": 8, "YokogawaWT500": 35, "YokogawaWT500_multichannel": 48, "YokogawaWT310": 49,
                    "YokogawaWT310E": 49, "YokogawaWT330": 52, "YokogawaWT330E": 52,
                    "YokogawaWT330_multichannel": 77, "YokogawaWT210_DC": 508, "YokogawaWT310_DC": 549,
                    "YokogawaWT330_DC": 586}


def ptd_device_type(model: str) -> int | None:
    """PTDaemon's device number for ``model`` as PTDaemon names it (``YokogawaWT310E`` -> 49);
    None for an analyzer PTDaemon does not drive (the official checker rejects it)."""
    return PTD_DEVICE_TYPES.get(model)


SERVER_JSON_KEYS = ("version", "timezone", "modules", "sources", "messages", "uuid", "session_name",
                    "results", "phases")


def write_server_json(path: str | os.PathLike, summary: dict[str, Any]) -> Path:
    """``power/server.json`` as the official summary writes it (indent 4, no final newline).

    ``summary`` must hold every key the compliance checker requires (:data:`SERVER_JSON_KEYS`).
    ``ptd_config`` is written as power-dev writes it since 2024-11 (v5.0 on): a list with one
    entry per analyzer, even for one; a single object (the older form) is refused.
    """
    missing = [k for k in SERVER_JSON_KEYS if k not in summary]
    if missing:
        raise ValueError(f"server.json needs {', '.join(missing)}")
    if "ptd_config" in summary and not isinstance(summary["ptd_config"], list):
        raise ValueError("server.json ptd_config must be a list with one entry per analyzer")
    path = Path(path)
    _write_text(path, json.dumps(summary, indent=4))
    return path
