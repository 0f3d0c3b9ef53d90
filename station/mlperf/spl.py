"""PTDaemon sample files (``spl.txt``): one line per second, parsed in bulk.

    Time,07-12-2025 23:21:34.443,Watts,15.280000,Volts,244.930000,Amps,0.143200,PF,0.435800,Mark,<mark>
    ... ,Mark,<mark>,Ch1,Watts,787.5,Volts,238.09,Amps,3.482,PF,0.95,Ch2,...     (multichannel)

Times are UTC, month first. ``Watts`` of -1 marks an invalid sample; the MLCommons tools use
only samples with ``Watts > 0``. Only lines starting with ``Time`` are samples (as in the
checkers); any other non-empty line is reported, and a line that starts like a sample but does
not parse is an error naming its line. Regular expressions and numpy do the work: no Python
loop per field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from station.mlperf.errors import FormatError, read_text

_LINE = re.compile(
    r"^Time,(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{1,6}),Watts,([^,\n]*),Volts,([^,\n]*),"
    r"Amps,([^,\n]*),PF,([^,\n]*),Mark,([^,\n]*)((?:,[^\n]*)?)$", re.MULTILINE)
_CHANNEL = re.compile(r",Ch(\d+),Watts,([^,\n]*),Volts,([^,\n]*),Amps,([^,\n]*),PF,([^,\n]*)")


@dataclass
class SplData:
    path: Path
    t: np.ndarray  # Unix seconds (UTC)
    watts: np.ndarray  # -1 where PTDaemon had no valid reading
    volts: np.ndarray
    amps: np.ndarray
    pf: np.ndarray
    marks: list[str]  # distinct marks in order of appearance
    mark_index: np.ndarray  # per line: index into marks
    line_numbers: np.ndarray
    ch_watts: np.ndarray | None = None  # (lines, channels) for multichannel files
    other_lines: list[int] = field(default_factory=list)  # non-sample, non-empty lines (line numbers)

    @property
    def valid(self) -> np.ndarray:
        return self.watts > 0

    def __len__(self) -> int:
        return len(self.t)


def days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (vectorised)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _floats(col: np.ndarray, name: str, path: Path, lines: np.ndarray) -> np.ndarray:
    try:
        return col.astype(np.float64)
    except ValueError:
        for i, text in enumerate(col):
            try:
                float(text)
            except ValueError:
                raise FormatError(f"{name} {str(text)!r} is not a number", path, int(lines[i])) from None
        raise


def _line_numbers(text: str, starts: list[int]) -> np.ndarray:
    if text.isascii():
        nl = np.flatnonzero(np.frombuffer(text.encode("ascii"), dtype=np.uint8) == 10)
    else:
        nl = np.array([i for i, c in enumerate(text) if c == "\n"], dtype=np.int64)
    return np.searchsorted(nl, np.asarray(starts, dtype=np.int64)) + 1


def parse_spl_text(text: str, path: Path) -> SplData:
    groups, starts = [], []
    for m in _LINE.finditer(text):
        groups.append(m.groups())
        starts.append(m.start())
    n_lines = text.count("\n") + 1
    if len(re.findall(r"^Time,", text, re.MULTILINE)) != len(groups):
        parsed = set(starts)
        for m in re.finditer(r"^Time,[^\n]*", text, re.MULTILINE):
            if m.start() not in parsed:
                line = text.count("\n", 0, m.start()) + 1
                raise FormatError(f"sample line does not read Time,<MM-DD-YYYY hh:mm:ss.fff>,Watts,..,Volts,..,"
                                  f"Amps,..,PF,..,Mark,..: {m.group(0)[:80]!r}", path, line)
    if not groups:
        raise FormatError("no sample lines (Time,...) in the file", path, 1)
    cols = list(zip(*groups, strict=True))  # one tuple of strings per field: narrow arrays, no padding
    n = len(groups)
    lines = _line_numbers(text, starts)
    try:
        mon, day, year, hh, mm, ss = (np.array(cols[k]).astype(np.int64) for k in range(6))
    except ValueError:
        raise FormatError("a sample time is not numeric", path) from None
    frac_text = np.array(cols[6])
    frac = frac_text.astype(np.float64) / np.power(10.0, np.char.str_len(frac_text))
    bad = (mon < 1) | (mon > 12) | (day < 1) | (day > 31) | (hh > 23) | (mm > 59) | (ss > 60)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FormatError(f"sample time {cols[0][i]}-{cols[1][i]}-{cols[2][i]} {cols[3][i]}:{cols[4][i]}:{cols[5][i]} "
                          "is not a valid MM-DD-YYYY hh:mm:ss date", path, int(lines[i]))
    t = (days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss).astype(np.float64) + frac
    watts = _floats(np.array(cols[7]), "Watts", path, lines)
    volts = _floats(np.array(cols[8]), "Volts", path, lines)
    amps = _floats(np.array(cols[9]), "Amps", path, lines)
    pf = _floats(np.array(cols[10]), "PF", path, lines)
    marks, mark_index = np.unique(np.array(cols[11]), return_inverse=True)
    first = np.full(len(marks), n, dtype=np.int64)
    np.minimum.at(first, mark_index, np.arange(n))
    order = np.argsort(first)
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    ch = None
    if any(cols[12]):
        chans = _CHANNEL.findall(text)
        if chans and len(chans) % n == 0:
            k = len(chans) // n
            ch = np.array([c[1] for c in chans]).astype(np.float64).reshape(n, k)
    other = []
    if n + text.count("\n\n") < n_lines - 1:
        for i, line in enumerate(text.split("\n"), start=1):
            if line.strip() and not line.startswith("Time,"):
                other.append(i)
    return SplData(path, t, watts, volts, amps, pf, [str(m) for m in marks[order]], remap[mark_index],
                   lines, ch, other)


def read_spl(path) -> SplData:
    path = Path(path)
    return parse_spl_text(read_text(path, "the sample file spl.txt"), path)
