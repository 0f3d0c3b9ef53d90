"""The one path from worker threads to the GUI thread.

Acquisition threads, instrument and disk workers and the guided procedure never touch a
widget: they post plain tuples into an :class:`Inbox`, and the window drains it on its frame
timer (about 30 times a second), so a burst of events costs one repaint. :class:`TaskLane` runs
blocking jobs (connect, reconfigure, open a journal, fsync, load a result, export) one after
another on its own thread and posts each result back through the inbox, where the job's
callback runs on the GUI thread.

Two kinds of items travel this path, and a flood treats them differently:

- **data** (:meth:`Inbox.post`): range changes, gaps, overrange, disk probes. A meter can
  produce them faster than a screen can show them, so they are bounded: when ``capacity`` of
  them wait, the oldest is dropped and counted, and :meth:`Inbox.take_drop_notice` tells the
  window once per flood how many the operator did not see (a recording's journal has them all).
- **control** (:meth:`Inbox.post_control`): task completions and errors, connection state,
  the guided procedure's steps. Each one changes what the window may do next (a lane's
  ``pending`` flag is cleared only by its completion), so none is ever dropped. They come one
  per job or per state change, never per sample, so keeping them all stays small.

Both kinds leave the inbox in the order they were posted.
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

# Instrument events that change what the operator can do (connect, record, trust the data):
# control items. Every other instrument event (range, overrange, gap, ...) is data.
CONNECTION_KINDS = frozenset({"connected", "started", "stopped", "closed", "disconnected", "reconnecting",
                              "reconnected", "stall", "resumed", "error", "settings_applied"})
DROP_NOTICE_S = 30.0  # during a flood that does not end, the drop count is told at most this often


class Inbox:
    """Thread-safe mailbox to the GUI thread: bounded data items, control items never dropped."""

    def __init__(self, capacity: int = 20000) -> None:
        self._data: deque[tuple[int, tuple]] = deque()
        self._control: deque[tuple[int, tuple]] = deque()
        self._order = itertools.count()
        self._capacity = capacity
        self._lock = threading.Lock()
        self.dropped = 0  # data items dropped since the start (control items are never dropped)
        self._untold = 0  # dropped since the last notice
        self._first_untold = 0.0

    def post(self, item: tuple) -> None:
        """A data item (any thread): dropped, oldest first, when ``capacity`` data items wait."""
        with self._lock:
            if len(self._data) >= self._capacity:
                self._data.popleft()
                self.dropped += 1
                if not self._untold:
                    self._first_untold = time.monotonic()
                self._untold += 1
            self._data.append((next(self._order), item))

    def post_control(self, item: tuple) -> None:
        """A control item (any thread): always delivered."""
        with self._lock:
            self._control.append((next(self._order), item))

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the GUI thread at the next drain (a control item; any thread)."""
        self.post_control(("call", fn, args))

    def event_listener(self, source: str, control_kinds: frozenset[str] = CONNECTION_KINDS) -> Callable[..., None]:
        """A session listener ``(kind, t=..., **detail)`` that posts ``("event", source, kind, t, detail)``,
        as a control item when ``kind`` is in ``control_kinds``, else as data."""

        def listener(kind: str, t: float | None = None, **detail: Any) -> None:
            item = ("event", source, kind, time.time() if t is None else t, detail)
            if kind in control_kinds:
                self.post_control(item)
            else:
                self.post(item)

        return listener

    def drain(self, limit: int = 1000) -> list[tuple]:
        """GUI thread: up to ``limit`` items of both kinds, in the order they were posted."""
        out: list[tuple] = []
        with self._lock:
            data, control = self._data, self._control
            while len(out) < limit and (data or control):
                if control and (not data or control[0][0] < data[0][0]):
                    out.append(control.popleft()[1])
                else:
                    out.append(data.popleft()[1])
        return out

    def take_drop_notice(self) -> int:
        """GUI thread, after a drain: how many data items were dropped, told once per flood.

        Non-zero when items were dropped and the flood is over (no data item waits any more),
        or every :data:`DROP_NOTICE_S` while it goes on; then counting starts again from zero.
        """
        with self._lock:
            if not self._untold:
                return 0
            if self._data and time.monotonic() - self._first_untold < DROP_NOTICE_S:
                return 0
            told, self._untold = self._untold, 0
            return told

    def __len__(self) -> int:
        with self._lock:
            return len(self._data) + len(self._control)


def run_callback(item: tuple) -> bool:
    """GUI thread: run the callback of a ``"task"`` or ``"call"`` item; False for any other item.

    A callback that raises is logged and does not stop the items after it.
    """
    tag = item[0]
    if tag == "task":
        _, done, result, error = item
        fn, args = done, (result, error)
    elif tag == "call":
        _, fn, args = item
    else:
        return False
    try:
        fn(*args)
    except Exception:  # a bug in one callback must not lose the control items behind it
        log.exception("GUI callback %s failed", getattr(fn, "__qualname__", fn))
    return True


class TaskLane:
    """One worker thread that runs submitted jobs in order; results come back via the inbox.

    ``submit(fn, done)`` returns at once. When ``fn()`` has run, ``("task", done, result,
    error)`` is posted as a control item; the GUI thread calls ``done(result, error)``.
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
                self.inbox.post_control(("task", done, result, error))
