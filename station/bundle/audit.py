"""The audit log: every event of a session, each entry chained to the one before by a hash.

File format (``audit.jsonl``, UTF-8, one JSON object per line)::

    {"seq": 0, "t": 1764367200.25, "kind": "session-start", ..., "prev": "000…0", "hash": "<hex>"}

``hash`` is the SHA-256 of ``prev`` (the previous entry's hash as 64 hex characters, or 64 zeros
for the first entry) followed by the canonical JSON of the entry without its ``hash`` field
(sorted keys, no spaces, UTF-8). Changing, removing, inserting or reordering any entry breaks
every hash after it, so :func:`verify_chain` names the first line that no longer fits.

:class:`AuditLog` appends while a session runs (each line flushed and fsynced, so a crash loses
at most the entry being written); :func:`write_chain` builds a whole log at once (export).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from station.core.journal import json_default

GENESIS = "0" * 64


class AuditError(Exception):
    """The audit log cannot be read or written."""


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=json_default).encode("utf-8")


def _clean(obj: Any) -> Any:
    """JSON has no NaN: non-finite floats become None (what they mean: no value)."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item"):
        return _clean(obj.item())
    return obj


def entry_hash(prev: str, entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(prev.encode("ascii") + canonical(body)).hexdigest()


def chain(entries: Iterable[dict]) -> list[dict]:
    """Number and chain ``entries`` (in the order given)."""
    out: list[dict] = []
    prev = GENESIS
    for seq, e in enumerate(entries):
        item = _clean({k: v for k, v in e.items() if k not in ("seq", "prev", "hash")})
        item["seq"] = seq
        item["prev"] = prev
        item["hash"] = prev = entry_hash(prev, item)
        out.append(item)
    return out


def write_chain(path: str | os.PathLike, entries: Iterable[dict]) -> str:
    """Write a whole chained log; returns the last hash (the head of the chain)."""
    chained = chain(entries)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for item in chained:
            f.write(canonical(item).decode("utf-8") + "\n")
    return chained[-1]["hash"] if chained else GENESIS


def verify_chain(path: str | os.PathLike) -> tuple[int, list[str]]:
    """Check every link. Returns (entries read, problems); problems name file and line."""
    path = Path(path)
    problems: list[str] = []
    prev = GENESIS
    n = 0
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return 0, [f"{path.name}: cannot be read ({exc.strerror or exc})"]
    if raw and not raw.endswith(b"\n"):
        last_line = raw.count(b"\n") + 1
        problems.append(f"{path.name}:{last_line}: last line is cut short")
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line:
            continue
        try:
            item = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            problems.append(f"{path.name}:{lineno}: not UTF-8 text")
            break
        except ValueError as exc:
            problems.append(f"{path.name}:{lineno}: not a JSON object ({exc.msg})")
            break
        if not isinstance(item, dict) or "hash" not in item or "prev" not in item:
            problems.append(f"{path.name}:{lineno}: not an audit entry (no hash/prev)")
            break
        if item.get("seq") != n:
            problems.append(f"{path.name}:{lineno}: entry number {item.get('seq')!r}, expected {n} "
                            "(an entry was removed, inserted or moved)")
            break
        if item["prev"] != prev:
            problems.append(f"{path.name}:{lineno}: does not follow the entry before it "
                            "(an entry was removed, inserted or changed)")
            break
        if entry_hash(prev, item) != item["hash"]:
            problems.append(f"{path.name}:{lineno}: entry {n} was changed after it was written "
                            "(its hash does not match its content)")
            break
        if canonical(item) != line:
            problems.append(f"{path.name}:{lineno}: entry {n} was re-encoded after it was written")
            break
        prev = item["hash"]
        n += 1
    return n, problems


class AuditLog:
    """Appends chained entries to a file as a session runs; safe to share between threads."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seq = 0
        self._prev = GENESIS
        if self.path.exists() and self.path.stat().st_size:
            n, problems = verify_chain(self.path)
            if problems:
                raise AuditError(f"cannot continue the audit log {self.path}: {problems[0]}")
            last = self.path.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)[-1]
            self._prev = json.loads(last)["hash"]
            self._seq = n
        self._file = open(self.path, "a", encoding="utf-8", newline="\n")

    @property
    def head(self) -> str:
        return self._prev

    def append(self, kind: str, t: float | None = None, **data: Any) -> dict:
        with self._lock:
            item = _clean({"t": time.time() if t is None else t, "kind": kind, **data})
            item["seq"] = self._seq
            item["prev"] = self._prev
            item["hash"] = entry_hash(self._prev, item)
            self._file.write(canonical(item).decode("utf-8") + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._prev = item["hash"]
            self._seq += 1
            return item

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
