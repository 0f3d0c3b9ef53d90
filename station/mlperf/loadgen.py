"""LoadGen's logs: ``mlperf_log_detail.txt`` (``:::MLLOG`` JSON lines) and ``mlperf_log_summary.txt``.

The power window is ``power_begin`` .. ``power_end``: UTC, written ``%m-%d-%Y %H:%M:%S.%f``.
Like the MLCommons checkers, the first date-time on the line is taken (the ``value`` field).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from station.mlperf.errors import FormatError, read_text

PREFIX = ":::MLLOG"
_TIME = re.compile(r"(\d+-\d+-\d+ \d+:\d+:\d+\.\d+)")


def parse_time(text: str, path=None, line: int | None = None) -> datetime:
    m = _TIME.search(text)
    if not m:
        raise FormatError(f"no date and time (MM-DD-YYYY hh:mm:ss.fff) in {text[:60]!r}", path, line)
    try:
        return datetime.strptime(m.group(1), "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC)
    except ValueError as exc:
        raise FormatError(f"{m.group(1)!r} is not a valid MM-DD-YYYY date and time ({exc})", path, line) from None


@dataclass
class LoadgenDetail:
    path: Path
    power_begin: datetime
    power_end: datetime
    scenario: str
    mode: str | None
    query_count: int | None
    entries: list[dict] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # key -> line number of its first entry

    def value(self, key: str, default=None):
        for e in self.entries:
            if e.get("key") == key:
                return e.get("value")
        return default


def read_detail(path) -> LoadgenDetail:
    path = Path(path)
    text = read_text(path, "the LoadGen detail log")
    entries: list[dict] = []
    lines: dict[str, int] = {}
    raw_lines = text.split("\n")
    if not any(x.strip() for x in raw_lines):
        raise FormatError("the LoadGen detail log is empty", path, 1)
    for n, line in enumerate(raw_lines, start=1):
        s = line.strip()
        if not s:
            continue
        if not s.startswith(PREFIX):
            if n == 1:
                raise FormatError(f"the first line does not start with {PREFIX}: not a LoadGen detail log", path, 1)
            continue  # LoadGen interleaves other output occasionally; the checkers skip it too
        body = s[len(PREFIX):].strip()
        try:
            entry = json.loads(body)
        except ValueError as exc:
            if n == len(raw_lines) or all(not x.strip() for x in raw_lines[n:]):
                raise FormatError(f"the last line is cut short ({exc.msg})", path, n) from None
            raise FormatError(f"{PREFIX} line is not JSON ({exc.msg})", path, n) from None
        if not isinstance(entry, dict) or "key" not in entry:
            raise FormatError(f"{PREFIX} line has no \"key\"", path, n)
        entries.append(entry)
        lines.setdefault(str(entry["key"]), n)
    def need(key: str) -> dict:
        for e in entries:
            if e.get("key") == key:
                return e
        raise FormatError(f"no {key} entry: the run was not made with power measurement on", path)

    begin_e, end_e = need("power_begin"), need("power_end")
    begin = parse_time(str(begin_e.get("value")), path, lines["power_begin"])
    end = parse_time(str(end_e.get("value")), path, lines["power_end"])
    if end <= begin:
        raise FormatError(f"power_end {end.isoformat()} is not after power_begin {begin.isoformat()}",
                          path, lines["power_end"])
    scenario = None
    for key in ("effective_scenario", "requested_scenario", "scenario"):
        for e in entries:
            if e.get("key") == key:
                scenario = str(e.get("value"))
                break
        if scenario:
            break
    mode = None
    for e in entries:
        if e.get("key") in ("effective_test_mode", "test_mode"):
            mode = str(e.get("value"))
            break
    qc = None
    for e in entries:
        if e.get("key") == "result_query_count":
            try:
                qc = int(e.get("value"))
            except (TypeError, ValueError):
                raise FormatError(f"result_query_count {e.get('value')!r} is not a number", path,
                                  lines.get("result_query_count")) from None
            break
    return LoadgenDetail(path, begin, end, scenario or "unknown", mode, qc, entries, lines)


def read_summary(path) -> dict[str, str]:
    """``key : value`` lines of ``mlperf_log_summary.txt`` (e.g. "Scenario", "Result is")."""
    path = Path(path)
    text = read_text(path, "the LoadGen summary log")
    out: dict[str, str] = {}
    for line in text.split("\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.strip().startswith("="):
            out.setdefault(key.strip(), value.strip())
    if not out:
        raise FormatError("the LoadGen summary holds no 'key : value' lines", path)
    return out
