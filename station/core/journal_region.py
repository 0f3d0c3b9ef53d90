"""The samples of a time span of a journal, read in bounded chunks, and their statistics.

A journal's sample file is memory-mapped; a span is found by bisection on the time column
(a few dozen reads, no copy of the column) and then read ``chunk`` records at a time, so a
span of a 24 h run at 100 kHz costs a few MiB of memory, not GiB. Nothing here imports Qt.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

import numpy as np

from station.core.journal import JournalReader
from station.core.live_store import RegionStats
from station.core.samples import good_mask
from station.core.summary import bridged_energy

CHUNK = 1 << 16  # records per read: 2-3 MiB of records, whatever the span


def span_indices(records: np.ndarray, t0: float | None, t1: float | None) -> tuple[int, int]:
    """[i, j): the records with t0 <= t <= t1 (None: open end) of time-ordered ``records``."""
    t = records["t"]  # a strided view of a memmap: bisect reads only the elements it visits
    i = 0 if t0 is None else bisect_left(t, float(t0))
    j = len(records) if t1 is None else bisect_right(t, float(t1))
    return i, max(i, j)


def iter_span(reader: JournalReader, inst_id: str | None = None, t0: float | None = None,
              t1: float | None = None, chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """The records of ``inst_id`` (the first instrument if None) with t0 <= t <= t1, as
    in-memory blocks of at most ``chunk`` records, oldest first."""
    records = reader.samples(inst_id)
    i, j = span_indices(records, t0, t1)
    for start in range(i, j, chunk):
        yield np.array(records[start:min(j, start + chunk)])


def span_stats(reader: JournalReader, inst_id: str | None = None, t0: float | None = None,
               t1: float | None = None, chunk: int = CHUNK) -> RegionStats:
    """Duration, mean / min / max power and energy of every sample in [t0, t1], at full
    resolution (the same definitions as :meth:`LiveStore.stats`, always exact)."""
    if inst_id is None:
        inst_id = next(iter(reader.instruments))
    interval = reader.instruments[inst_id].interval_s
    samples = good = 0
    w_sum = 0.0
    w_min, w_max = math.inf, -math.inf
    flags = 0
    t_start = t_end = None
    for block in iter_span(reader, inst_id, t0, t1, chunk):
        if t_start is None:
            t_start = float(block["t"][0])
        t_end = float(block["t"][-1])
        samples += len(block)
        flags |= int(np.bitwise_or.reduce(block["flags"]))
        w = block["w"][good_mask(block)]
        if len(w):
            good += len(w)
            w_sum += float(w.sum(dtype=np.float64))
            w_min = min(w_min, float(w.min()))
            w_max = max(w_max, float(w.max()))
    duration = (t_end - t_start + interval) if samples else 0.0
    energy = bridged_energy(w_sum, good, interval, duration).total_j  # as the run's summary and the live store
    return RegionStats(
        t_start=t_start, t_end=t_end,
        duration_s=duration,
        samples=samples, good_samples=good, bad_samples=samples - good,
        mean_w=w_sum / good if good else None,
        min_w=w_min if good else None, max_w=w_max if good else None,
        energy_j=0.0 if energy is None else energy, flags=flags, interval_s=interval, exact=True,
    )
