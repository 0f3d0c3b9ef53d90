"""The one path from worker threads to the GUI thread.

Acquisition threads, instrument and disk workers never touch a widget: they post plain
tuples into an :class:`Inbox`, and the window drains it on its frame timer (about 30 times a
second), so a burst of events costs one repaint. :class:`TaskLane` runs blocking jobs
(connect, reconfigure, open a journal, fsync) one after another on its own thread and posts
each result back through the inbox, where the job's callback runs on the GUI thread.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Inbox:
    """Thread-safe, bounded mailbox. Drops the oldest items (and counts them) when flooded."""

    def __init__(self, capacity: int = 20000) -> None:
        self._items: deque = deque()
        self._capacity = capacity
        self._lock = threading.Lock()
        self.dropped = 0

    def post(self, item: tuple) -> None:
        """Any thread."""
        with self._lock:
            if len(self._items) >= self._capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)

    def event_listener(self, source: str) -> Callable[..., None]:
        """A session listener ``(kind, t=..., **detail)`` that posts ``("event", source, kind, t, detail)``."""

        def listener(kind: str, t: float | None = None, **detail: Any) -> None:
            self.post(("event", source, kind, time.time() if t is None else t, detail))

        return listener

    def drain(self, limit: int = 1000) -> list[tuple]:
        """GUI thread: up to ``limit`` items, oldest first."""
        with self._lock:
            n = min(limit, len(self._items))
            return [self._items.popleft() for _ in range(n)]

    def __len__(self) -> int:
        return len(self._items)


class TaskLane:
    """One worker thread that runs submitted jobs in order; results come back via the inbox.

    ``submit(fn, done)`` returns at once. When ``fn()`` has run, ``("task", done, result,
    error)`` is posted; the window calls ``done(result, error)`` on the GUI thread.
    """

    _ids = itertools.count(1)

    def __init__(self, name: str, inbox: Inbox) -> None:
        self.name = name
        self.inbox = inbox
        self._jobs: queue.Queue = queue.Queue()
        self._busy = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"ui-{name}-{next(self._ids)}", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """True while a job is queued or running."""
        return self._busy > 0

    def submit(self, fn: Callable[[], Any], done: Callable[[Any, BaseException | None], None] | None = None) -> None:
        with self._lock:
            self._busy += 1
        self._jobs.put((fn, done))

    def close(self, timeout: float | None = None) -> None:
        """Let queued jobs finish, then end the thread (waits at most ``timeout``)."""
        self._jobs.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, done = job
            result, error = None, None
            try:
                result = fn()
            except BaseException as exc:  # reported to the operator by the callback, never lost
                error = exc
                if done is None:
                    log.exception("background job %s failed", getattr(fn, "__name__", fn))
            finally:
                with self._lock:
                    self._busy -= 1
            if done is not None:
                self.inbox.post(("task", done, result, error))
