"""The session's audit log: every event, each entry chained to the one before by a hash.

File format (``audit.jsonl``, UTF-8, one JSON object per line)::

    {"seq": 0, "t": 1764367200.25, "kind": "setup", ..., "prev": "000…0", "hash": "<hex>"}

``hash`` is the SHA-256 of ``prev`` (the previous entry's hash as 64 hex characters, or 64 zeros
for the first entry) followed by the canonical JSON of the entry without its ``hash`` field
(sorted keys, no spaces, UTF-8). Changing, removing, inserting or reordering any entry breaks
every hash after it, so :func:`read_chain` names the first line that no longer fits.

The log is written while the session runs (:class:`AuditLog`), not built at export: export
copies and verifies it, and ``station verify`` checks it in a session directory that was never
exported, even one whose process was killed.

Durability, the journal's policy: every entry is written and flushed to the operating system
before :meth:`AuditLog.append` returns, so a killed process loses nothing it appended; the file
is fsynced at most ``sync_interval`` (0.25 s, never more than 1 s) later by a short-lived timer,
so a power cut loses at most the last fraction of a second, as it does for the samples. An
fsync per entry would be simpler, but run events (overrange, gaps, range steps) arrive on the
acquisition threads, which must never wait for the disk.

A torn last line: the only damage a killed process can do is an entry cut short, because each
entry is one ``write`` at the end of the file. :func:`read_chain` reports such a tail apart from
tampering (``torn_tail``), and :class:`AuditLog` reopening the file (a process restarted on the
same session) cuts the fragment off and records it, bytes included, as an ``audit_torn_tail``
entry, so the chain goes on and the evidence stays in it. A tail cut by hand looks the same
as a kill: that is why a torn tail is a warning in a session directory (never a pass) and a
failure in an exported bundle (export never writes one).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.core.journal import MAX_SYNC_INTERVAL_S, json_default

GENESIS = "0" * 64
AUDIT_FILE = "audit.jsonl"
TORN_TAIL = "audit_torn_tail"
FRAGMENT_KEEP = 4096  # characters of a torn fragment kept in the entry that records it


class AuditError(Exception):
    """The audit log cannot be read, continued or written; the message names file and line."""


def canonical(obj: Any) -> bytes:
    """The bytes an entry is hashed and stored as: sorted keys, no spaces, UTF-8."""
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
    """Write a whole chained log at once; returns the last hash (the head of the chain).

    Only for session directories that have no ``audit.jsonl`` of their own (written by hand or
    before the log was kept live); a session's own log is copied, never rebuilt.
    """
    chained = chain(entries)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for item in chained:
            f.write(canonical(item).decode("utf-8") + "\n")
    return chained[-1]["hash"] if chained else GENESIS


@dataclass
class ChainReport:
    """What :func:`read_chain` found in one audit file."""

    path: Path
    entries: int = 0  # entries that verify, from the first on
    head: str = GENESIS  # hash of the last entry that verifies
    complete_bytes: int = 0  # bytes up to the end of the last whole line read
    problems: list[str] = field(default_factory=list)  # the chain is broken: tampering or not a log
    torn_tail: str | None = None  # the last line is cut short (a killed process), if it is
    tail_whole: bool = False  # ... but only its line end is missing: the entry itself verifies

    @property
    def intact(self) -> bool:
        """Every whole line verifies (a torn tail may still follow)."""
        return not self.problems


def _where(path: Path, lineno: int) -> str:
    return f"{path.name}:{lineno}"


def read_chain(path: str | os.PathLike) -> ChainReport:
    """Check every link of ``path``; problems and the torn tail name the file and line."""
    path = Path(path)
    rep = ChainReport(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        rep.problems.append(f"{path.name}: cannot be read ({exc.strerror or exc})")
        return rep
    cut = len(raw) if raw.endswith(b"\n") else raw.rfind(b"\n") + 1
    body, tail = raw[:cut], raw[cut:]
    lines = body.split(b"\n")[:-1]
    prev, n, pos = GENESIS, 0, 0
    for lineno, line in enumerate(lines, start=1):
        problem = _check_line(path, lineno, line, n, prev)
        if isinstance(problem, str):
            rep.problems.append(problem)
            return rep
        if problem is not None:
            prev = problem["hash"]
            n += 1
        pos += len(line) + 1
        rep.entries, rep.head, rep.complete_bytes = n, prev, pos
    if tail:
        lineno = len(lines) + 1
        item = _check_line(path, lineno, tail, n, prev)
        if isinstance(item, dict):
            rep.torn_tail = (f"{_where(path, lineno)}: the last entry lacks its line end (the process "
                             "stopped while writing it); its content verifies")
            rep.entries, rep.head, rep.tail_whole = n + 1, item["hash"], True
        else:
            rep.torn_tail = (f"{_where(path, lineno)}: the last line is cut short after {len(tail)} bytes "
                             "(the process stopped while writing it, or the file was cut)")
    return rep


def _check_line(path: Path, lineno: int, line: bytes, n: int, prev: str) -> dict | str | None:
    """The entry on this line if it continues the chain, a problem if not, None for a blank line."""
    where = _where(path, lineno)
    if not line:
        return None
    try:
        item = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return f"{where}: not UTF-8 text"
    except ValueError as exc:
        return f"{where}: not a JSON object ({exc.msg})"
    if not isinstance(item, dict) or "hash" not in item or "prev" not in item:
        return f"{where}: not an audit entry (no hash/prev)"
    if item.get("seq") != n:
        return (f"{where}: entry number {item.get('seq')!r}, expected {n} "
                "(an entry was removed, inserted or moved)")
    if item["prev"] != prev:
        return f"{where}: does not follow the entry before it (an entry was removed, inserted or changed)"
    try:
        ok = entry_hash(prev, item) == item["hash"]
    except (TypeError, ValueError, UnicodeEncodeError):
        ok = False
    if not ok:
        return f"{where}: entry {n} was changed after it was written (its hash does not match its content)"
    if canonical(item) != line:
        return f"{where}: entry {n} was re-encoded after it was written"
    return item


def verify_chain(path: str | os.PathLike) -> tuple[int, list[str]]:
    """(entries that verify, problems); a torn tail counts as a problem here."""
    rep = read_chain(path)
    return rep.entries, rep.problems + ([rep.torn_tail] if rep.torn_tail and not rep.problems else [])


def audit_check(path: str | os.PathLike, *, torn_tail_fails: bool, name: str = "audit chain"):
    """The :class:`~station.measurement.checks.Check` on one audit file (its ``source`` is the file name).

    ``torn_tail_fails``: True for an exported bundle (export never leaves a torn tail), False for
    a session directory, where a torn tail is what a killed process leaves (a warning).
    """
    from station.measurement.checks import Check

    path = Path(path)
    source = path.name
    if not path.is_file():
        return Check(name, "fail", f"{path.name} is missing: the session's events cannot be checked", source)
    rep = read_chain(path)
    if rep.problems:
        return Check(name, "fail", "; ".join(rep.problems), source)
    if rep.torn_tail:
        return Check(name, "fail" if torn_tail_fails else "warn", f"{rep.entries} entries chained; {rep.torn_tail}",
                     source)
    return Check(name, "pass", f"{path.name}: {rep.entries} entries, each chained to the one before", source)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # Windows opens no directories; NTFS journals the entry itself
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AuditLog:
    """Appends chained entries to ``path`` while a session runs; safe to share between threads.

    Opening an existing log continues its chain (a restarted process); a torn last line is cut
    off and recorded as an ``audit_torn_tail`` entry. A log whose chain is broken is refused
    (:class:`AuditError` names the line): appending to it would hide the break.
    """

    def __init__(self, path: str | os.PathLike, sync_interval: float = 0.25) -> None:
        if not 0 <= sync_interval <= MAX_SYNC_INTERVAL_S:
            raise ValueError(f"sync_interval must be between 0 and {MAX_SYNC_INTERVAL_S} s")
        self.path = Path(path)
        self.sync_interval = sync_interval
        self._lock = threading.Lock()
        self._seq = 0
        self._prev = GENESIS
        self._timer: threading.Timer | None = None
        torn: bytes = b""
        existed = self.path.exists()
        if existed and self.path.stat().st_size:
            rep = read_chain(self.path)
            if rep.problems:
                raise AuditError(f"cannot continue the audit log {self.path}: {rep.problems[0]}")
            if rep.tail_whole:
                with open(self.path, "ab") as f:
                    f.write(b"\n")  # the entry was written whole but for its line end
            elif rep.torn_tail:
                torn = self.path.read_bytes()[rep.complete_bytes:]
                with open(self.path, "r+b") as f:
                    f.truncate(rep.complete_bytes)
            self._prev, self._seq = rep.head, rep.entries
        self._file = open(self.path, "a", encoding="utf-8", newline="\n")
        if not existed:
            _fsync_dir(self.path.parent)
        if torn:
            text = torn.decode("utf-8", errors="backslashreplace")
            self.append(TORN_TAIL, cut_bytes=len(torn), sha256=hashlib.sha256(torn).hexdigest(),
                        fragment=text[:FRAGMENT_KEEP], message=(
                            f"the last line of {self.path.name} was cut short ({len(torn)} bytes; the process "
                            "was stopped while writing it): cut off here and kept in this entry"))
            self.sync()

    @property
    def head(self) -> str:
        """Hash of the last entry (64 zeros for an empty log)."""
        return self._prev

    @property
    def entries(self) -> int:
        return self._seq

    def append(self, kind: str, t: float | None = None, **data: Any) -> dict:
        """Write one entry (time ``t``, now if omitted); it is on disk before the next sync tick."""
        with self._lock:
            if self._file.closed:
                raise AuditError(f"the audit log {self.path} is closed")
            item = _clean({"t": time.time() if t is None else t, "kind": kind, **data})
            item["seq"] = self._seq
            item["prev"] = self._prev
            item["hash"] = entry_hash(self._prev, item)
            try:
                self._file.write(canonical(item).decode("utf-8") + "\n")
                self._file.flush()
            except OSError as exc:
                raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from exc
            self._prev = item["hash"]
            self._seq += 1
            if self.sync_interval == 0:
                self._fsync_locked()
            elif self._timer is None:
                self._timer = threading.Timer(self.sync_interval, self.sync)
                self._timer.daemon = True
                self._timer.start()
            return item

    def sync(self) -> None:
        """Force what was appended onto the disk now."""
        with self._lock:
            self._timer = None
            if not self._file.closed:
                self._fsync_locked()

    def _fsync_locked(self) -> None:
        try:
            os.fsync(self._file.fileno())
        except OSError:
            pass  # the next append reports a disk that refuses writes

    def close(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
            if not self._file.closed:
                self._file.flush()
                self._fsync_locked()
                self._file.close()
        if timer is not None:
            timer.cancel()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_entries(path: str | os.PathLike) -> list[dict]:
    """The entries of a log, whole lines only (for reading, not for checking)."""
    out = []
    with open(path, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                try:
                    item = json.loads(line)
                except ValueError:
                    continue
                if isinstance(item, dict):
                    out.append(item)
    return out


__all__ = ["AUDIT_FILE", "GENESIS", "AuditError", "AuditLog", "ChainReport", "audit_check", "canonical",
           "chain", "entry_hash", "read_entries", "read_chain", "verify_chain", "write_chain"]
