"""Deep zoom: every sample of an old stretch of a long run, read from its journal on disk.

The live store keeps a bounded raw window and a pyramid whose old parts only hold coarse bins
(bounded memory for days of data). Zoomed into such a stretch, the plot would show a few wide
bins instead of the samples. The journal on disk has every sample: :class:`JournalDetail`
reads the visible span from it (memory-mapped) on its own thread and hands back a small
:class:`LiveStore` holding exactly those samples, which the plot then reads like any store, at
full resolution. The GUI thread only asks (a dictionary look-up) and picks the answer up on a
later frame; it never waits for the disk. Nothing here imports Qt.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from station.core.journal import JournalError, JournalReader
from station.core.journal_region import span_stats
from station.core.live_store import LiveStore, RegionStats

log = logging.getLogger(__name__)

MAX_DETAIL_SAMPLES = 1 << 17  # a view with more samples than this is served well enough by the pyramid


@dataclass(frozen=True)
class Detail:
    """The samples of [t0, t1] read from the journal, in a store of their own."""

    t0: float
    t1: float
    store: LiveStore | None  # None: the journal does not hold the whole span (or could not be read)
    samples: int
    error: str | None = None


def wants_detail(level: int, entries: int, samples: int, pixels: int) -> bool:
    """Whether a view drawn from pyramid level ``level`` with ``entries`` entries covering
    ``samples`` samples on ``pixels`` pixels would look better from the journal: the pyramid
    gave fewer entries than there are pixels and samples to fill them, and the samples are few
    enough to read quickly."""
    if level == 0 or samples <= entries or samples > MAX_DETAIL_SAMPLES:
        return False
    return entries < 0.5 * min(pixels, samples)


class _SpanWorker:
    """One background thread that computes a span of a run's journal at a time; the newest request
    replaces an older one still waiting, and :meth:`get` never waits for the disk."""

    thread_name = "journal-span"

    def __init__(self, directory: str | Path, inst_id: str | None = None) -> None:
        self.directory = Path(directory)
        self.inst_id = inst_id
        self._cond = threading.Condition()
        self._wanted: tuple[float, float] | None = None
        self._ready: tuple[tuple[float, float], object] | None = None
        self._closed = False
        self.reads = 0  # spans computed (diagnostics, tests)
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def get(self, t0: float, t1: float):
        """What was computed for exactly [t0, t1]; otherwise ask for it and return None."""
        key = (float(t0), float(t1))
        with self._cond:
            if self._ready is not None and self._ready[0] == key:
                return self._ready[1]
            if self._wanted != key:
                self._wanted = key
                self._cond.notify()
        return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _compute(self, t0: float, t1: float):
        raise NotImplementedError

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._wanted is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                key = self._wanted
                self._wanted = None
            value = self._compute(*key)
            with self._cond:
                self._ready = (key, value)
            self.reads += 1


class JournalDetail(_SpanWorker):
    """Reads spans of one instrument's samples from a run directory, on a background thread."""

    thread_name = "deep-zoom"

    def __init__(self, directory: str | Path, inst_id: str | None = None, interval_s: float | None = None) -> None:
        self.interval_s = interval_s
        super().__init__(directory, inst_id)

    def get(self, t0: float, t1: float) -> Detail | None:
        """The detail of exactly [t0, t1] if it has been read; otherwise ask for it (any newer
        request replaces an older one still waiting) and return None. Never blocks on disk."""
        return super().get(t0, t1)

    @property
    def ready(self) -> Detail | None:
        """The last span read (whatever it was asked for)."""
        return self._ready[1] if self._ready is not None else None

    def _compute(self, t0: float, t1: float) -> Detail:
        try:
            return self._read(t0, t1)
        except (OSError, JournalError, ValueError) as exc:
            log.warning("deep zoom: reading %s failed: %s", self.directory, exc)
            return Detail(t0, t1, None, 0, f"{type(exc).__name__}: {exc}")

    def _read(self, t0: float, t1: float) -> Detail:
        """Every sample with t0 <= t <= t1 (journal files grow while a run records: mapped anew)."""
        reader = JournalReader(self.directory)
        inst_id = self.inst_id or next(iter(reader.instruments))
        entry = reader.instruments[inst_id]
        records = reader.samples(inst_id)
        n = len(records)
        if n == 0:
            return Detail(t0, t1, None, 0)
        t = records["t"]  # a strided view: bisect touches a few dozen elements, no copy
        i = bisect_left(t, t0)
        j = bisect_right(t, t1)
        # The journal must hold the whole span: a recording that started later than the view
        # begins (or has not flushed its newest samples yet) gives no detail.
        if (i == 0 and float(t[0]) > t0 + entry.interval_s) or (j == n and float(t[-1]) < t1 - entry.interval_s):
            return Detail(t0, t1, None, j - i)
        if j - i > MAX_DETAIL_SAMPLES:
            return Detail(t0, t1, None, j - i)
        chunk = np.array(records[i:j])  # copy off the map: the file may be replaced or grow
        interval = self.interval_s if self.interval_s is not None else entry.interval_s
        # Level 1 holds every sample in bins of 4 without forgetting any: wider views of the
        # detail read it (exact min / max per bin) instead of a compacted top level.
        bins = max(64, (len(chunk) // 4 + 4) // 2 * 2)
        store = LiveStore(chunk.dtype, window_samples=max(len(chunk), 1), max_bins_per_level=bins, levels=3,
                          interval_s=interval)
        store.append(chunk)
        return Detail(t0, t1, store, len(chunk))


class JournalSpanStats(_SpanWorker):
    """Exact statistics of a span of one instrument's journal, computed on a background thread.

    The live store's statistics are approximate where only coarse bins remain (old parts of a
    long run); the journal has every sample. ``get`` never waits for the disk: it answers what
    was computed for exactly that span, or asks for it and returns None.
    """

    thread_name = "journal-span-stats"

    def get(self, t0: float, t1: float) -> RegionStats | None:
        return super().get(t0, t1)

    def _compute(self, t0: float, t1: float) -> RegionStats | None:
        try:
            stats = span_stats(JournalReader(self.directory), self.inst_id, t0, t1)
        except (OSError, JournalError, ValueError, KeyError) as exc:
            log.warning("span statistics: reading %s failed: %s", self.directory, exc)
            return None
        slack = stats.interval_s * 1.5
        if stats.samples == 0 or stats.t_start > t0 + slack or stats.t_end < t1 - slack:
            return None  # the journal does not hold the whole span (recording started later)
        return stats
