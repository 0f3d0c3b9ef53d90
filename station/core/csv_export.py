"""CSV export of a run or a span of it: one row per sample, streamed from the journal.

The file opens with ``#`` comment lines (what was measured, by which instrument, the span and
the units of every column), then one header row and one row per sample::

    t_utc,t_epoch_s,w_W,v_V,a_A,pf,flags
    2024-05-01T12:00:00.123456Z,1714564800.123456,123.456789,230.1,0.5365,0.9987,auto_range

Flags are words (``overrange|range_change``), empty when the sample is clean; an unknown value
is an empty field, so spreadsheets and ``pandas.read_csv(path, comment="#")`` read it as
missing. The journal is read in bounded chunks (:mod:`station.core.journal_region`) and the
file is written under a temporary name and renamed when complete, so a 24 h run needs a few
MiB of memory and a reader never sees half a file. Nothing here imports Qt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import station
from station.core.journal import JournalReader
from station.core.journal_region import CHUNK, iter_span
from station.core.samples import Flag

COLUMNS = ("t_utc", "t_epoch_s", "w_W", "v_V", "a_A", "pf", "flags")
UNITS = ("t_utc: time of the sample, ISO 8601, UTC",
         "t_epoch_s: the same time in seconds since 1970-01-01 UTC",
         "w_W: active power, watts",
         "v_V: voltage (rms), volts",
         "a_A: current (rms), amperes",
         "pf: power factor (lambda), no unit",
         "flags: sample status words (overrange, invalid, range_change, gap_before, clipped, mark, "
         "auto_range); overrange or invalid samples are not measurements")


@dataclass(frozen=True)
class CsvExport:
    """What an export wrote."""

    path: Path
    rows: int
    t_first: float | None
    t_last: float | None


def flag_words(flags: np.ndarray) -> np.ndarray:
    """Each flags value as its words joined by ``|`` ("" for none), e.g. ``overrange|auto_range``."""
    values, inverse = np.unique(np.asarray(flags, dtype=np.uint16), return_inverse=True)
    words = [
        "|".join(f.name.lower() for f in Flag if int(v) & int(f)) for v in values
    ]
    return np.asarray(words, dtype=object)[inverse.reshape(-1)] if len(values) else np.zeros(0, object)


def _split_seconds(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """("YYYY-MM-DDTHH:MM:SS" per sample, microseconds per sample). Formatting the few distinct
    seconds of a chunk, not every sample, is what keeps an export fast."""
    us = np.round(np.asarray(t, dtype=np.float64) * 1e6).astype(np.int64)
    secs, micros = np.divmod(us, 1_000_000)
    distinct, inverse = np.unique(secs, return_inverse=True)
    text = np.datetime_as_string(distinct.astype("datetime64[s]"), unit="s")
    return text[inverse.reshape(-1)], micros


_ROW = "%s.%06dZ,%.6f,%.10g,%.7g,%.7g,%.5g,%s\n"


def csv_rows(records: np.ndarray) -> str:
    """The rows of ``records`` (no header), each ending with a newline."""
    if len(records) == 0:
        return ""
    t = records["t"]
    seconds, micros = _split_seconds(t)
    cols = (seconds.tolist(), micros.tolist(), t.tolist(), records["w"].tolist(),
            records["v"].tolist(), records["a"].tolist(), records["pf"].tolist(),
            flag_words(records["flags"]).tolist())
    text = "".join([_ROW % row for row in zip(*cols, strict=True)])
    # An unknown value is an empty field ("nan" occurs nowhere else in a row).
    return text.replace("nan", "")


def _stamp(t: float | None) -> str:
    if t is None:
        return "—"
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def header_text(instrument: str, interval_s: float | None, t0: float | None, t1: float | None,
                source: str = "", note: str = "") -> str:
    """The comment lines and the column row that open every export."""
    lines = [f"# station {station.__version__} CSV export",
             f"# instrument: {instrument or 'unknown'}"]
    if interval_s:
        lines.append(f"# update interval: {interval_s:g} s (each row is the mean over one interval)")
    if source:
        lines.append(f"# source: {source}")
    lines.append(f"# span: {_stamp(t0)} .. {_stamp(t1)}" if (t0 is not None or t1 is not None)
                 else "# span: the whole run")
    if note:
        lines.append(f"# {note}")
    lines += [f"# {u}" for u in UNITS]
    lines.append(",".join(COLUMNS))
    return "\n".join(lines) + "\n"


def records_csv(records: np.ndarray, instrument: str = "", interval_s: float | None = None,
                t0: float | None = None, t1: float | None = None, source: str = "") -> str:
    """A small selection of records (e.g. for the clipboard) as CSV text with the full header."""
    return header_text(instrument, interval_s, t0, t1, source) + csv_rows(records)


def instrument_label(reader: JournalReader, inst_id: str) -> str:
    """``inst0 (sim): Station SIM-PA1, serial 0001`` from the journal header."""
    entry = reader.instruments[inst_id]
    ident = entry.info.get("identity") or {}
    if isinstance(ident, dict) and ident:
        maker = " ".join(str(ident.get(k) or "") for k in ("vendor", "model")).strip()
        serial = ident.get("serial")
        return f"{inst_id} ({entry.driver}): {maker}" + (f", serial {serial}" if serial else "")
    return f"{inst_id} ({entry.driver})"


def export_csv(run_dir: str | os.PathLike, out: str | os.PathLike, t0: float | None = None,
               t1: float | None = None, inst_id: str | None = None, chunk: int = CHUNK,
               progress: Callable[[int], None] | None = None) -> CsvExport:
    """Write the samples of ``inst_id`` (the first instrument if None) of the run in ``run_dir``
    with t0 <= t <= t1 (None: open end) to ``out``; ``progress`` gets the rows written so far."""
    reader = JournalReader(run_dir)
    if inst_id is None:
        inst_id = next(iter(reader.instruments))
    if inst_id not in reader.instruments:
        raise ValueError(f"the run in {run_dir} has no instrument {inst_id!r} "
                         f"(it has {', '.join(reader.instruments) or 'none'})")
    entry = reader.instruments[inst_id]
    out = Path(out)
    tmp = out.with_name(out.name + f".partial-{os.getpid()}")
    rows = 0
    t_first = t_last = None
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(header_text(instrument_label(reader, inst_id), entry.interval_s, t0, t1,
                                source=f"journal {Path(run_dir).resolve()} (run {reader.run_id})"))
            for block in iter_span(reader, inst_id, t0, t1, chunk):
                if t_first is None:
                    t_first = float(block["t"][0])
                t_last = float(block["t"][-1])
                f.write(csv_rows(block))
                rows += len(block)
                if progress is not None:
                    progress(rows)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return CsvExport(out, rows, t_first, t_last)
