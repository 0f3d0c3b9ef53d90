"""Recovery of runs that a crash, a kill or a power cut interrupted.

What reached the disk is kept: whole sample records and complete event lines. A torn last
record or line is cut off (its bytes are saved beside the file, nothing is thrown away
silently), the summary is computed from the journal, and the run is marked ``recovered``.
"""

from __future__ import annotations

import os
from pathlib import Path

from station.core.journal import (
    EVENTS,
    LOCK,
    SUMMARY,
    JournalError,
    JournalReader,
    JournalWriter,
    samples_file,
    write_json_atomic,
)
from station.core.recording import OPERATOR_MARK_EVENTS, build_summary
from station.core.run_index import RunIndex, pid_alive
from station.core.summary import summarize_records


def summarize_journal(reader: JournalReader, state: str) -> dict:
    per = {
        inst_id: summarize_records(reader.samples(inst_id), entry.interval_s)
        for inst_id, entry in reader.instruments.items()
    }
    out = build_summary(reader.directory, reader.run_id, per, state)
    out["operator_marks"] = sum(1 for e in reader.events() if e.get("kind") in OPERATOR_MARK_EVENTS)
    return out


def _cut_torn_tail(path: Path, keep: int) -> int:
    """Truncate ``path`` to ``keep`` bytes, saving what is cut to ``<path>.torn``."""
    size = path.stat().st_size
    if size <= keep:
        return 0
    with open(path, "rb") as f:
        f.seek(keep)
        tail = f.read()
    with open(path.with_name(path.name + ".torn"), "ab") as f:
        f.write(tail)
    with open(path, "r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    return len(tail)


def recover(directory: str | os.PathLike, index: RunIndex | None = None) -> dict:
    """Restore an interrupted run in place and return its summary.

    A run that finished cleanly is left as it is and its summary returned. A run whose
    recording process is still alive is refused.
    """
    reader = JournalReader(directory)
    if reader.complete:
        summary = reader.summary_file() or summarize_journal(reader, "complete")
        return summary
    pid = reader.lock_pid()
    if pid is not None and pid != os.getpid() and pid_alive(pid):
        raise JournalError(
            f"{reader.directory} is still being recorded by process {pid}; stop that run first"
        )
    cut = {}
    for inst_id in reader.instruments:
        path = reader.directory / samples_file(inst_id)
        if path.exists():
            torn = reader.torn_bytes(inst_id)
            if torn:
                cut[inst_id] = _cut_torn_tail(path, path.stat().st_size - torn)
    events_path = reader.directory / EVENTS
    if events_path.exists():
        data = events_path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            cut["events"] = _cut_torn_tail(events_path, end)
    summary = summarize_journal(reader, "recovered")
    summary["recovery"] = {"torn_bytes_cut": cut}
    line = JournalWriter.event_line(
        "recovered", samples=summary["samples"], torn_bytes_cut=cut, t_last=summary["t_last"]
    )
    with open(events_path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    write_json_atomic(reader.directory / SUMMARY, summary)
    (reader.directory / LOCK).unlink(missing_ok=True)
    (index or RunIndex()).unregister(reader.directory)
    return summary


def recover_interrupted(index: RunIndex | None = None) -> list[dict]:
    """Recover every run the index lists as interrupted; returns their summaries."""
    index = index or RunIndex()
    out = []
    for directory in index.interrupted():
        try:
            if not (Path(directory) / "header.json").exists():
                index.unregister(Path(directory))
                continue
            out.append(recover(directory, index))
        except (JournalError, OSError) as exc:
            out.append({"run_dir": str(directory), "state": "unrecoverable", "error": str(exc)})
            index.unregister(Path(directory))
    return out
