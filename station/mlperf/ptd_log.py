"""PTDaemon's log as the MLPerf power server hands it out: ``power/ptd_logs.txt``.

    Analyzer 1
    <PTDaemon banner, untimed>
    07-12-2025 23:21:22.613: Uncertainty checking for YokogawaWT210 is activated
    07-12-2025 23:21:34.375: Go with mark '2025-07-13_00-21-09_ranging'
    07-12-2025 23:21:37.443: ERROR: Bad watts reading 9910... from Yokogawa
    Buffer was 244.94E+00,9.91E+37,...            <- continuation of the line above
    07-12-2025 23:26:46.379: Completed test
    07-12-2025 23:26:46.379: Avg watts 33.226102, min watts 15.140000, max watts 35.450000, samples 312, ...

Timestamps are ``MM-DD-YYYY hh:mm:ss.fff`` in UTC (the server starts PTDaemon with ``TZ=UTC``).
Every line is read: timestamped lines, their untimed continuations, the ``Analyzer <n>`` headers
and the banner (PTDaemon version, device type). A timestamp that is not a date is an error
naming its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from station.mlperf.errors import FormatError, read_text

_STAMP = re.compile(r"^(\d\d-\d\d-\d\d\d\d \d\d:\d\d:\d\d\.\d\d\d)(.*)$")
_GO = re.compile(r"^: Go with mark '([^']*)'$")
_ACTIVATED = re.compile(r"Uncertainty checking for (Yokogawa\S+) is activated")
_CONNECTED = re.compile(r"Connected to (\S+) successfully")
_DEVICE = re.compile(r"measurement device type (\d+)")
_VERSION = re.compile(r"^\s*Version (\d+\.\d+\.\d+)\S*\s*$")
_ANALYZER = re.compile(r"^Analyzer (\d+)\s*$")
_ABOVE = re.compile(r"Uncertainty (\d+\.\d+)%, which is above (\d+\.\d+)% limit for the last sample!")
_UNCERTAINTY_REPLY = re.compile(r"Response to client sent: (Uncertainty,\S*)")
_AVG = re.compile(r"Avg watts ([-\d.eE+]+), min watts ([-\d.eE+]+), max watts ([-\d.eE+]+), samples (\d+), "
                  r"errors (\d+), valid (\d+)")


@dataclass
class LogLine:
    line: int  # 1-based line number in the file
    t: float  # Unix seconds (UTC)
    text: str  # everything after the timestamp, as the checker sees it (": Go with mark ...")
    analyzer: int | None = None  # the "Analyzer <n>" section the line is in
    more: list[str] = field(default_factory=list)  # untimed continuation lines

    @property
    def message(self) -> str:
        return self.text[2:] if self.text.startswith(": ") else self.text.lstrip(": ")


@dataclass
class Run:
    """One measurement: ``Go with mark '<mark>'`` to the next ``Completed test`` (None: never completed)."""

    mark: str
    go: LogLine
    completed: LogLine | None = None
    summary: dict | None = None  # from "Avg watts ..., samples, errors, valid"

    @property
    def end(self) -> float | None:
        return self.completed.t if self.completed else None


@dataclass
class PtdLog:
    path: Path
    lines: list[LogLine]
    analyzers: list[int]
    version: str | None = None
    device_types: list[int] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    uncertainty_activated: list[LogLine] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    uncertainty_replies: list[LogLine] = field(default_factory=list)  # "Response to client sent: Uncertainty,..."
    analyzer_versions: dict[int | None, str] = field(default_factory=dict)  # each section's banner version

    @property
    def errors(self) -> list[LogLine]:
        """Lines with ``ERROR:`` (case-sensitive, as the checker reads them)."""
        return [x for x in self.lines if "ERROR:" in x.text]

    @property
    def warnings(self) -> list[LogLine]:
        return [x for x in self.lines if "WARNING:" in x.text]

    def uncertainty_above_limit(self) -> list[tuple[LogLine, float]]:
        """``WARNING: Uncertainty x.xx%, which is above 1.00% limit`` lines with their percent."""
        out = []
        for x in self.warnings:
            m = _ABOVE.search(x.text)
            if m:
                out.append((x, float(m.group(1))))
        return out

    def run(self, mark: str) -> Run | None:
        for r in self.runs:
            if r.mark == mark:
                return r
        return None

    def between(self, begin: float, end: float, lines: list[LogLine] | None = None) -> list[LogLine]:
        """Lines strictly inside (begin, end)."""
        return [x for x in (self.lines if lines is None else lines) if begin < x.t < end]


@dataclass(frozen=True)
class UncertaintyReply:
    """PTDaemon's reply to ``Uncertainty``: the per-sample uncertainty over the run so far, as
    fractions (``0.0096`` is 0.96 %), and how many samples were above the limit, within it, or of
    unknown uncertainty. ``avg`` is None when PTDaemon knew no sample's uncertainty (``-1.0``:
    auto ranging, or every sample invalid)."""

    avg: float | None
    min: float | None
    max: float | None
    samples: int
    above: int
    within: int
    unknown: int


def parse_uncertainty_reply(text: str) -> UncertaintyReply | None:
    """``Uncertainty,<avg>,<min>,<max>,<samples>,<above limit>,<within limit>,<unknown>`` (the
    first group of a multichannel reply); None when ``text`` is not such a reply."""
    m = re.search(r"Uncertainty,([^,]+),([^,]+),([^,]+),(\d+),(\d+),(\d+),(\d+)", text)
    if m is None:
        return None
    try:
        avg, lo, hi = (float(m.group(i)) for i in (1, 2, 3))
    except ValueError:
        return None
    known = avg >= 0
    return UncertaintyReply(avg if known else None, lo if known else None, hi if known else None,
                            *(int(m.group(i)) for i in (4, 5, 6, 7)))


_MIDNIGHT: dict[str, int] = {}  # "MM-DD-YYYY" -> UTC seconds: a log has few dates and ~10^4 lines


def parse_time(stamp: str, path: Path, line: int) -> float:
    """UTC seconds of a ``MM-DD-YYYY hh:mm:ss.fff`` stamp (as ``_STAMP`` matched it), equal to
    ``strptime(...).timestamp()`` to the bit; strptime on every line was 3/4 of verifying a result."""
    day = stamp[:10]
    midnight = _MIDNIGHT.get(day)
    h, m, s = int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19])
    if midnight is None or h > 23 or m > 59 or s > 59:
        try:
            t = datetime.strptime(stamp, "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC)
        except ValueError:
            raise FormatError(f"{stamp!r} is not a valid MM-DD-YYYY hh:mm:ss.fff time", path, line) from None
        _MIDNIGHT[day] = int(t.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
        return t.timestamp()
    # timestamp() divides whole microseconds by 10**6 once: the same here, so the floats are equal
    return ((midnight + h * 3600 + m * 60 + s) * 1_000_000 + int(stamp[20:23]) * 1000) / 1_000_000


def parse_ptd_log(text: str, path: Path) -> PtdLog:
    log = PtdLog(path, [], [])
    analyzer = None
    open_runs: dict[int | None, Run] = {}
    for n, raw in enumerate(text.split("\n"), start=1):
        m = _STAMP.match(raw)
        if not m:
            a = _ANALYZER.match(raw)
            if a:
                analyzer = int(a.group(1))
                log.analyzers.append(analyzer)
                continue
            v = _VERSION.match(raw)
            if v and log.version is None:
                log.version = v.group(1)
            if v:
                log.analyzer_versions.setdefault(analyzer, v.group(1))
            if raw.strip() and log.lines and log.lines[-1].analyzer == analyzer:
                log.lines[-1].more.append(raw)
            continue
        entry = LogLine(n, parse_time(m.group(1), path, n), m.group(2), analyzer)
        log.lines.append(entry)
        text_ = entry.text
        # most lines are none of these: a substring test first spares five regex searches per line
        if "device type" in text_ and (d := _DEVICE.search(text_)) is not None:
            log.device_types.append(int(d.group(1)))
        if "Uncertainty checking" in text_ and (a := _ACTIVATED.search(text_)) is not None:
            log.uncertainty_activated.append(entry)
            log.models.append(a.group(1))
        elif "Connected to" in text_ and (c := _CONNECTED.search(text_)) is not None and c.group(1) not in log.models:
            log.models.append(c.group(1))
        if "Response to client sent: Uncertainty," in text_ and _UNCERTAINTY_REPLY.search(text_):
            log.uncertainty_replies.append(entry)
        if text_.startswith(": Go with") and (g := _GO.match(text_)) is not None:
            run = Run(g.group(1), entry)
            log.runs.append(run)
            open_runs[analyzer] = run
        elif text_ == ": Completed test" and analyzer in open_runs:
            open_runs[analyzer].completed = entry
        elif "Avg watts" in text_ and (s := _AVG.search(text_)) is not None and analyzer in open_runs:
            run = open_runs.pop(analyzer)
            run.summary = {"avg_w": float(s.group(1)), "min_w": float(s.group(2)), "max_w": float(s.group(3)),
                           "samples": int(s.group(4)), "errors": int(s.group(5)), "valid": int(s.group(6))}
    if not log.lines:
        raise FormatError("no timestamped line (MM-DD-YYYY hh:mm:ss.fff: ...): not a PTDaemon log", path, 1)
    return log


def read_ptd_log(path) -> PtdLog:
    path = Path(path)
    return parse_ptd_log(read_text(path, "the PTD log ptd_logs.txt"), path)
