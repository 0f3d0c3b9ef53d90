"""Reading what the MLCommons director (`station serve`) leaves in a session directory."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

NUM = r"-?\d+\.\d{6}"
SPL_RE = re.compile(rf"^Time,(\d\d-\d\d-\d{{4}} \d\d:\d\d:\d\d\.\d{{3}}),Watts,({NUM}),Volts,({NUM}),"
                    rf"Amps,({NUM}),PF,({NUM}),Mark,([A-Za-z0-9_-]+)$")


def ptd_time(text: str) -> float:
    """A PTDaemon time stamp (``MM-DD-YYYY HH:MM:SS.fff``, UTC) as UTC seconds."""
    return datetime.strptime(text, "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


def spl_rows(path: Path) -> list[tuple]:
    """The rows of an spl.txt as (time, watts, volts, amps, pf, mark); asserts PTDaemon's line format."""
    text = path.read_bytes().decode("ascii")
    assert "\r" not in text
    assert text.endswith("\n\n"), "the official server ends spl.txt with an empty line"
    rows = []
    for line in text.split("\n")[:-2]:
        m = SPL_RE.match(line)
        assert m, f"not a PTDaemon sample line: {line!r}"
        rows.append((ptd_time(m.group(1)), *(float(m.group(i)) for i in range(2, 6)), m.group(6)))
    return rows


def director_state(session_dir: Path) -> dict:
    """The session's director.json, or {} while it is not (completely) written."""
    try:
        return json.loads((session_dir / "director.json").read_text())
    except (OSError, ValueError):
        return {}
