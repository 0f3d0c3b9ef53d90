"""PTDaemon sample files (``spl.txt``): one line per second, parsed in bulk.

    Time,07-12-2025 23:21:34.443,Watts,15.280000,Volts,244.930000,Amps,0.143200,PF,0.435800,Mark,<mark>
    ... ,Mark,<mark>,Ch1,Watts,787.5,Volts,238.09,Amps,3.482,PF,0.95,Ch2,...     (multichannel)

Times are UTC, month first. ``Watts`` of -1 marks an invalid sample; the MLCommons tools use
only samples with ``Watts > 0``. Only lines starting with ``Time`` are samples (as in the
checkers); any other non-empty line is reported, and a line that starts like a sample but does
not parse is an error naming its line.

Two readers give identical arrays. The bulk reader takes files whose every non-empty line is a
sample line with the same fields (what PTDaemon writes): numpy finds the line breaks and commas
once, then reads each field of a block of lines as a column of bytes (times by digit position,
numbers as exact integers over a power of ten, so bit for bit what ``float()`` gives). Anything
else (other lines, exponents, odd widths, damage) goes to a regular expression over the whole
text, which also names the first bad line. Neither has a Python loop per field.
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


_TIME_TEMPLATE = np.frombuffer(b"00-00-0000 00:00:00.000", dtype=np.uint8)
_TIME_IS_DIGIT = _TIME_TEMPLATE == ord("0")
_LABELS = ((0, b"Time"), (2, b"Watts"), (4, b"Volts"), (6, b"Amps"), (8, b"PF"), (10, b"Mark"))
_CH_LABELS = ((1, b"Watts"), (3, b"Volts"), (5, b"Amps"), (7, b"PF"))
_BLOCK = 8192  # lines per step: bounds the temporary arrays of a step


class _NotUniform(Exception):
    """The bulk path does not apply; the line-by-line path reads the file (and names bad lines)."""


def _label_layout(k: int) -> list[tuple[int, bytes]]:
    """(field index, text) of the label fields of lines with ``k`` fields."""
    labels = list(_LABELS)
    for ch in range((k - 12) // 9):
        j = 12 + 9 * ch
        labels += [(j, f"Ch{ch + 1}".encode())] + [(j + off, name) for off, name in _CH_LABELS]
    return labels


def _decimals(buf: np.ndarray, start: np.ndarray, width: np.ndarray) -> np.ndarray:
    """Plain decimals (``-12.345600``) of the fields at ``start``, read a byte column at a time,
    bit for bit what ``float()`` gives: the digits as an exact integer divided by a power of ten
    (one correctly rounded division)."""
    w = int(width.max())
    if w > 17 or width.min() < 1:
        raise _NotUniform
    neg = buf[start] == 45
    mant = np.zeros(len(start), dtype=np.int64)
    frac = np.zeros(len(start), dtype=np.int64)
    digits = np.zeros(len(start), dtype=np.int64)
    seen_dot = np.zeros(len(start), dtype=bool)
    for c in range(w):
        ch = buf[start + c]  # the buffer is padded: reading past a field's end is harmless
        inside = width > c
        is_digit = inside & (ch >= 48) & (ch <= 57)
        is_dot = inside & (ch == 46)
        other = inside & ~is_digit & ~is_dot
        if c == 0:
            other &= ~neg
        if other.any() or (is_dot & seen_dot).any():
            raise _NotUniform
        mant = np.where(is_digit, mant * 10 + (ch.astype(np.int64) - 48), mant)
        frac += is_digit & seen_dot
        digits += is_digit
        seen_dot |= is_dot
    if digits.min() == 0 or digits.max() > 15:  # no digit, or beyond an exact int64 -> float64
        raise _NotUniform
    value = mant.astype(np.float64) / np.power(10.0, frac)
    return np.where(neg, -value, value)


def _block(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, c: np.ndarray, k: int, labels) -> tuple:
    """Times, watts, volts, amps, PF, mark bytes and channel watts of a block of uniform lines."""

    def col(j: int) -> tuple[np.ndarray, np.ndarray]:
        start = starts if j == 0 else c[:, j - 1] + 1
        return start, (ends if j == k - 1 else c[:, j]) - start

    for j, name in labels:
        fs, fw = col(j)
        if np.any(fw != len(name)):
            raise _NotUniform
        for i, byte in enumerate(name):
            if np.any(buf[fs + i] != byte):
                raise _NotUniform
    fs, fw = col(1)
    if np.any(fw != 23):
        raise _NotUniform
    for i in np.flatnonzero(~_TIME_IS_DIGIT):
        if np.any(buf[fs + i] != _TIME_TEMPLATE[i]):
            raise _NotUniform
    d = np.stack([buf[fs + i] for i in np.flatnonzero(_TIME_IS_DIGIT)], axis=1).astype(np.int64) - 48
    if d.min() < 0 or d.max() > 9:
        raise _NotUniform
    mon, day = d[:, 0] * 10 + d[:, 1], d[:, 2] * 10 + d[:, 3]
    year = d[:, 4] * 1000 + d[:, 5] * 100 + d[:, 6] * 10 + d[:, 7]
    hh, mm, ss = d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13]
    ms = d[:, 14] * 100 + d[:, 15] * 10 + d[:, 16]
    if ((mon < 1) | (mon > 12) | (day < 1) | (day > 31) | (hh > 23) | (mm > 59) | (ss > 60)).any():
        raise _NotUniform
    t = (days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss).astype(np.float64) + ms / 1000.0
    values = [_decimals(buf, *col(j)) for j in (3, 5, 7, 9)]
    ch_watts = [_decimals(buf, *col(12 + 9 * ch + 2)) for ch in range((k - 12) // 9)]
    ms_, mw = col(11)
    w = max(int(mw.max()), 1)
    marks = np.where(np.arange(w) < mw[:, None], buf[ms_[:, None] + np.arange(w)], 0).astype(np.uint8)
    return (t, *values, marks, np.stack(ch_watts, axis=1) if ch_watts else None)


def _parse_fast(text: str, path: Path) -> SplData | None:
    """Uniform files (every non-empty line a sample line with the same fields) in bulk over the
    bytes, a block of lines at a time; None when that does not apply."""
    if not text.startswith("Time,") or not text.isascii():
        return None
    raw = text.encode("ascii")
    buf = np.frombuffer(raw + bytes(32), dtype=np.uint8)  # padded: fixed-width reads stay inside
    body = buf[:len(raw)]
    nl = np.flatnonzero(body == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(raw)]))
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    line_numbers = np.flatnonzero(keep) + 1
    n = len(starts)
    commas = np.flatnonzero(body == 44)
    per_line = np.diff(np.searchsorted(commas, np.concatenate((starts, [len(raw)]))))
    k = int(per_line[0]) + 1
    if np.any(per_line != k - 1) or k < 12 or (k - 12) % 9:
        return None
    c = commas.reshape(n, k - 1)
    layout = _label_layout(k)
    try:
        parts = [_block(buf, starts[i:i + _BLOCK], ends[i:i + _BLOCK], c[i:i + _BLOCK], k, layout)
                 for i in range(0, n, _BLOCK)]
    except _NotUniform:
        return None
    t, watts, volts, amps, pf = (np.concatenate([p[i] for p in parts]) for i in range(5))
    w = max(p[5].shape[1] for p in parts)
    mark_rows = np.concatenate([np.pad(p[5], ((0, 0), (0, w - p[5].shape[1]))) for p in parts])
    ch = np.concatenate([p[6] for p in parts]) if parts[0][6] is not None else None
    marks, first, inverse = np.unique(np.ascontiguousarray(mark_rows).view(f"S{w}").ravel(),
                                      return_index=True, return_inverse=True)
    order = np.argsort(first)
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    return SplData(path, t, watts, volts, amps, pf, [m.decode("ascii") for m in marks[order]],
                   remap[inverse.ravel()], line_numbers, ch, [])


def parse_spl_text(text: str, path: Path) -> SplData:
    """Uniform files in bulk over their bytes; anything else line by line with a regular
    expression, which also names the first bad line."""
    return _parse_fast(text, path) or _parse_regex(text, path)


def _parse_regex(text: str, path: Path) -> SplData:
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


_ANALYZER_GROUP = re.compile(r",Analyzer(\d+),Time,(\d\d)-(\d\d)-(\d{4}) (\d\d):(\d\d):(\d\d\.\d{1,6}),Watts,([^,\n]*)")


def analyzer_readings(text: str, analyzer: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(UTC seconds, watts, line numbers) of one analyzer's own readings in a merged ``spl.txt``.

    With several analyzers power-dev (since 2024-11) writes each line as the sum of the analyzers'
    ``|watts|`` (``-1`` readings left out) followed by ``,Analyzer<i>,<analyzer i's own line>``:
    the sum hides an analyzer that read nothing or read negative power (reversed wiring).
    """
    t, w, lines = [], [], []
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.startswith("Time,"):
            continue
        for m in _ANALYZER_GROUP.finditer(raw):
            if int(m.group(1)) != analyzer:
                continue
            mo, d, y, hh, mi = (int(m.group(i)) for i in (2, 3, 4, 5, 6))
            day = int(days_from_civil(np.array([y]), np.array([mo]), np.array([d]))[0])
            try:
                t.append(day * 86400.0 + hh * 3600 + mi * 60 + float(m.group(7)))
                w.append(float(m.group(8)))
            except ValueError:
                continue
            lines.append(n)
    return np.array(t, float), np.array(w, float), np.array(lines, int)
