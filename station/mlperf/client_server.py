"""The MLPerf power client's and server's own files: ``power/client.json``, ``power/server.json``
(session summaries) and ``power/client.log``, ``power/server.log``.

Summaries (``lib/summary.py`` of mlcommons/power-dev): ``version``, ``timezone``, ``modules``,
``sources`` (relative path -> SHA-1 of the tool's own sources), ``messages`` (client/server
``{cmd, reply, ...}``), ``uuid`` ``{client, server}``, ``session_name``, ``results`` (relative
path -> SHA-1 of each result file), ``phases`` ``{ranging: [[time, monotonic] x 4], testing: ...}``;
the server's adds ``ptd_messages``, ``ptd_config`` and ``debug`` (debug runs only). ``ptd_config`` is
one object before power-dev's multi-analyzer server (2024-11) and a list with one entry per
analyzer since; both are read, as a list, and ``ptd_config_form`` says which was found.

Logs: ``<name> YYYY-MM-DD hh:mm:ss,mmm [LEVEL] message`` in the machine's local time; lines that
do not start like that continue the previous record (tracebacks).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from station.mlperf.errors import FormatError, read_text

SUMMARY_KEYS = ("version", "timezone", "modules", "sources", "messages", "uuid", "session_name", "results", "phases")
PHASES = ("ranging", "testing")
_LOG = re.compile(r"^(\S+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \[([A-Z]+)\] ?(.*)$")


@dataclass
class PowerSummary:
    path: Path
    data: dict
    session_name: str
    uuid_client: str | None
    uuid_server: str | None
    phases: dict[str, list[float]]  # mode -> wall-clock time (Unix s) of each phase
    messages: list[dict]
    results: dict[str, str]
    sources: dict[str, str]
    ptd_messages: list[dict] | None = None
    ptd_config: list | None = None
    debug: bool = False
    ptd_config_form: str | None = None  # "object" (before 2024-11), "list", or None (absent)


def _expect(cond: bool, what: str, path: Path) -> None:
    if not cond:
        raise FormatError(what, path)


def read_power_json(path) -> PowerSummary:
    """``client.json`` or ``server.json``; a FormatError naming the file (and line for bad JSON)."""
    path = Path(path)
    text = read_text(path, path.name)
    if not text.strip():
        raise FormatError("the file is empty", path, 1)
    try:
        data = json.loads(text)
    except ValueError as exc:
        lineno = getattr(exc, "lineno", None)
        cut = getattr(exc, "pos", 0) >= len(text.rstrip())  # the text ended where more was expected
        what = "is cut short" if cut else "is not JSON"
        raise FormatError(f"{path.name} {what} ({getattr(exc, 'msg', exc)})", path, lineno) from None
    _expect(isinstance(data, dict), f"{path.name} is not a JSON object", path)
    missing = [k for k in SUMMARY_KEYS if k not in data]
    _expect(not missing, f"{path.name} lacks {', '.join(missing)}", path)
    uuid = data["uuid"]
    _expect(isinstance(uuid, dict), "\"uuid\" is not an object {client, server}", path)
    phases: dict[str, list[float]] = {}
    _expect(isinstance(data["phases"], dict), "\"phases\" is not an object", path)
    for mode, items in data["phases"].items():
        _expect(isinstance(items, list), f"phases.{mode} is not a list", path)
        times = []
        for i, item in enumerate(items):
            try:
                times.append(float(item[0] if isinstance(item, list) else item))
            except (TypeError, ValueError, IndexError):
                raise FormatError(f"phases.{mode}[{i}] is not [time, monotonic]: {item!r}", path) from None
        phases[str(mode)] = times
    for key in ("messages",):
        _expect(isinstance(data[key], list) and all(isinstance(m, dict) for m in data[key]),
                f"\"{key}\" is not a list of {{cmd, reply}} objects", path)
    for key in ("results", "sources"):
        _expect(isinstance(data[key], dict), f"\"{key}\" is not an object of path -> SHA-1", path)
    ptd_messages = data.get("ptd_messages")
    if ptd_messages is not None:
        _expect(isinstance(ptd_messages, list) and all(isinstance(m, dict) for m in ptd_messages),
                "\"ptd_messages\" is not a list of {cmd, reply} objects", path)
    ptd_config = data.get("ptd_config")
    form = None
    if isinstance(ptd_config, dict):
        ptd_config, form = [ptd_config], "object"
    elif ptd_config is not None:
        _expect(isinstance(ptd_config, list), "\"ptd_config\" is neither an object (one analyzer, before "
                                              "2024-11) nor a list (one entry per analyzer)", path)
        form = "list"
    return PowerSummary(path, data, str(data["session_name"]), uuid.get("client"), uuid.get("server"), phases,
                        data["messages"], {str(k): str(v) for k, v in data["results"].items()},
                        {str(k): str(v) for k, v in data["sources"].items()}, ptd_messages, ptd_config,
                        bool(data.get("debug", False)), form)


@dataclass
class LogRecord:
    line: int
    name: str  # "client", "ptd-server", ...
    time: datetime  # local time of the machine that wrote it (naive)
    level: str
    message: str
    more: list[str] = field(default_factory=list)


def read_power_log(path) -> list[LogRecord]:
    """``client.log`` / ``server.log`` records; the first non-empty line must be a record."""
    path = Path(path)
    text = read_text(path, path.name)
    records: list[LogRecord] = []
    for n, line in enumerate(text.split("\n"), start=1):
        m = _LOG.match(line)
        if m is None:
            if not line.strip():
                continue
            if not records:
                raise FormatError(f"does not read '<name> YYYY-MM-DD hh:mm:ss,mmm [LEVEL] message': {line[:80]!r}",
                                  path, n)
            records[-1].more.append(line)
            continue
        try:
            when = datetime.strptime(m.group(2), "%Y-%m-%d %H:%M:%S,%f")
        except ValueError:
            raise FormatError(f"{m.group(2)!r} is not a valid date and time", path, n) from None
        records.append(LogRecord(n, m.group(1), when, m.group(3), m.group(4)))
    if not records:
        raise FormatError("holds no log record", path, 1)
    return records
