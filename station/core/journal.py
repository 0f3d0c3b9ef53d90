"""The run journal: an append-only record of a run on disk, written as it happens.

Layout of a run directory::

    header.json          written once at the start (atomically): run id, station version,
                         instruments (identity, description, record dtype, settings), run settings
    samples-<id>.bin     raw sample records of instrument <id>, appended in arrival order;
                         the record type is in the header, so numpy maps it in one call
    events.jsonl         one JSON object per line: what happened, when (UTC seconds)
    summary.json         written when the run ends cleanly, or when it is recovered

Durability: a flusher thread flushes and fsyncs every open file at ``sync_interval``
(0.25 s by default, never more than 1 s), so after a kill -9 every sample older than about
that interval is on disk. A torn last record or line is cut off on recovery.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import station

HEADER = "header.json"
EVENTS = "events.jsonl"
SUMMARY = "summary.json"
LOCK = "journal.lock"
FORMAT = "station-journal"
FORMAT_VERSION = 1
MAX_SYNC_INTERVAL_S = 1.0


class JournalError(Exception):
    """The journal cannot be written or read. The message says what to do."""


def samples_file(inst_id: str) -> str:
    return f"samples-{inst_id}.bin"


def dtype_to_json(dtype: np.dtype) -> list:
    return [list(item) if len(item) == 2 else [item[0], item[1], list(item[2])] for item in dtype.descr]


def dtype_from_json(descr: list) -> np.dtype:
    return np.dtype([tuple(x) if len(x) == 2 else (x[0], x[1], tuple(x[2])) for x in descr])


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, default=json_default)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def json_default(obj: Any) -> Any:
    """``default=`` for json.dump: numpy values and arrays, paths, objects with ``to_dict``."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@dataclass
class InstrumentEntry:
    """What the header says about one instrument of the run."""

    inst_id: str
    driver: str
    dtype: np.dtype
    interval_s: float
    info: dict  # identity, description, settings snapshot, ranges, ...


class JournalWriter:
    """Appends samples and events of one run to its directory, durably."""

    def __init__(
        self,
        directory: str | os.PathLike,
        instruments: list[InstrumentEntry],
        settings: dict | None = None,
        sync_interval: float = 0.25,
    ) -> None:
        if not 0 < sync_interval <= MAX_SYNC_INTERVAL_S:
            raise ValueError(f"sync interval must be in (0, {MAX_SYNC_INTERVAL_S}] s")
        self.directory = Path(directory)
        self.sync_interval = sync_interval
        self.run_id = str(uuid.uuid4())
        if (self.directory / HEADER).exists():
            raise JournalError(
                f"{self.directory} already holds a recorded run; choose another output directory "
                "(nothing was overwritten)"
            )
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(f"cannot create run directory {self.directory}: {exc.strerror or exc}") from exc
        self.instruments = {e.inst_id: e for e in instruments}
        self.created = time.time()
        self.header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "run_id": self.run_id,
            "created_utc": self.created,
            "station_version": station.__version__,
            "pid": os.getpid(),
            "sync_interval_s": sync_interval,
            "settings": settings or {},
            "instruments": [
                {
                    "id": e.inst_id,
                    "driver": e.driver,
                    "file": samples_file(e.inst_id),
                    "dtype": dtype_to_json(e.dtype),
                    "interval_s": e.interval_s,
                    **e.info,
                }
                for e in instruments
            ],
        }
        self._lock = threading.Lock()
        self._closed = False
        self._error: OSError | None = None
        self.counts = {e.inst_id: 0 for e in instruments}
        try:
            write_json_atomic(self.directory / LOCK, {"pid": os.getpid(), "run_id": self.run_id})
            write_json_atomic(self.directory / HEADER, self.header)
            self._files = {
                e.inst_id: open(self.directory / samples_file(e.inst_id), "ab", buffering=1 << 20)
                for e in instruments
            }
            self._events = open(self.directory / EVENTS, "a", encoding="utf-8", buffering=1 << 16)
        except OSError as exc:
            raise JournalError(f"cannot start the journal in {self.directory}: {exc.strerror or exc}") from exc
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="journal-flusher", daemon=True)
        self._flusher.start()

    # -- writing ---------------------------------------------------------------------------
    def write(self, inst_id: str, samples: np.ndarray) -> None:
        """Append a block of samples of one instrument."""
        if len(samples) == 0:
            return
        expected = self.instruments[inst_id].dtype
        if samples.dtype != expected:
            raise JournalError(f"instrument {inst_id} delivered records of an unexpected type")
        data = np.ascontiguousarray(samples).tobytes()
        with self._lock:
            self._check()
            try:
                self._files[inst_id].write(data)
            except OSError as exc:
                self._fail(exc)
            self.counts[inst_id] += len(samples)

    def event(self, kind: str, t: float | None = None, **detail: Any) -> None:
        """Append an event (UTC time ``t``, now if omitted)."""
        line = self.event_line(kind, t, **detail)
        with self._lock:
            self._check()
            try:
                self._events.write(line)
            except OSError as exc:
                self._fail(exc)

    @staticmethod
    def event_line(kind: str, t: float | None = None, **detail: Any) -> str:
        """One line of events.jsonl."""
        record = {"t": time.time() if t is None else float(t), "kind": kind, **detail}
        return json.dumps(record, default=json_default, sort_keys=True) + "\n"

    def sync(self) -> None:
        """Flush buffered data to the OS and force it to disk."""
        with self._lock:
            if self._closed:
                return
            try:
                for f in self._files.values():
                    f.flush()
                self._events.flush()
            except OSError as exc:
                self._fail(exc)
            fds = [f.fileno() for f in self._files.values()] + [self._events.fileno()]
        # fsync outside the lock: the acquisition thread keeps appending while the disk works.
        try:
            for fd in fds:
                os.fsync(fd)
        except OSError as exc:
            with self._lock:
                if not self._closed:
                    self._error = exc

    def close(self, summary: dict | None = None) -> None:
        """Stop the flusher, sync everything, write the summary and release the run."""
        self._stop.set()
        if self._flusher.is_alive() and threading.current_thread() is not self._flusher:
            self._flusher.join()
        try:
            self.sync()
        except JournalError:
            pass  # the failure is kept in self.error; what reached the disk before it stays there
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for f in [*self._files.values(), self._events]:
                try:
                    f.close()
                except OSError:
                    pass  # bytes the disk refused are lost either way; the file is closed
        if summary is not None and self._error is None:
            # After a write failure the counts in ``summary`` are not what is on disk: the
            # caller summarises the disk instead (station.core.recording.Recording.finish).
            write_json_atomic(self.directory / SUMMARY, summary)
        try:
            (self.directory / LOCK).unlink()
        except OSError:
            pass

    @property
    def error(self) -> OSError | None:
        return self._error

    def size_bytes(self) -> int:
        return sum(
            (self.directory / samples_file(i)).stat().st_size for i in self.instruments
            if (self.directory / samples_file(i)).exists()
        )

    # -- internals ---------------------------------------------------------------------------
    def _flush_loop(self) -> None:
        while not self._stop.wait(self.sync_interval):
            try:
                self.sync()
            except JournalError:
                return  # kept in self.error; writers see it on their next write

    def _check(self) -> None:
        if self._closed:
            raise JournalError("the journal is closed")
        if self._error is not None:
            self._raise(self._error)

    def _fail(self, exc: OSError) -> None:
        self._error = exc
        self._raise(exc)

    def _raise(self, exc: OSError) -> None:
        raise JournalError(
            f"writing the journal in {self.directory} failed ({exc.strerror or exc}); the run stops "
            "here and everything recorded before this point is kept. Free disk space or choose "
            "another output directory for the next run."
        ) from exc


class JournalReader:
    """Reads a run directory, complete or interrupted, without changing it."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        path = self.directory / HEADER
        if not path.exists():
            raise JournalError(f"{self.directory} holds no recorded run (no {HEADER})")
        try:
            self.header = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise JournalError(f"the run header {path} is unreadable: {exc}") from exc
        if not isinstance(self.header, dict) or self.header.get("format") != FORMAT:
            raise JournalError(f"{path} is not a station journal")
        if self.header.get("format_version", 0) > FORMAT_VERSION:
            raise JournalError(
                f"{path} was written by a newer station (journal format "
                f"{self.header.get('format_version')}); update the station to read it"
            )
        self.instruments: dict[str, InstrumentEntry] = {}
        try:
            for item in self.header.get("instruments", []):
                info = {k: v for k, v in item.items() if k not in ("id", "driver", "dtype", "interval_s", "file")}
                self.instruments[item["id"]] = InstrumentEntry(
                    item["id"], item["driver"], dtype_from_json(item["dtype"]), float(item["interval_s"]), info
                )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise JournalError(f"the run header {path} describes its instruments wrongly: "
                               f"{type(exc).__name__}: {exc}") from exc

    @property
    def run_id(self) -> str:
        return self.header["run_id"]

    @property
    def complete(self) -> bool:
        return (self.directory / SUMMARY).exists()

    def summary_file(self) -> dict | None:
        path = self.directory / SUMMARY
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def torn_bytes(self, inst_id: str) -> int:
        """Bytes at the end of a samples file that do not make a whole record."""
        path = self.directory / samples_file(inst_id)
        size = path.stat().st_size if path.exists() else 0
        return size % self.instruments[inst_id].dtype.itemsize

    def samples(self, inst_id: str | None = None) -> np.ndarray:
        """Every whole record of an instrument, memory-mapped (read-only, not loaded)."""
        if inst_id is None:
            inst_id = next(iter(self.instruments))
        entry = self.instruments[inst_id]
        path = self.directory / samples_file(inst_id)
        size = path.stat().st_size if path.exists() else 0
        n = size // entry.dtype.itemsize
        if n == 0:
            return np.zeros(0, dtype=entry.dtype)
        return np.memmap(path, dtype=entry.dtype, mode="r", shape=(n,))

    def events(self) -> list[dict]:
        """Every complete event line; a torn or garbled line is skipped, not fatal (garbage that
        happens to parse as JSON but is no object, such as ``0``, is garbled too)."""
        path = self.directory / EVENTS
        out: list[dict] = []
        if not path.exists():
            return out
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # torn tail of an interrupted write
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    out.append(event)
        return out

    def lock_pid(self) -> int | None:
        path = self.directory / LOCK
        try:
            return int(json.loads(path.read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
