"""The live store: what the plots read while a run goes on (or while a recorded run is browsed).

One acquisition thread appends sample blocks (100 kHz sustained, blocks of a hundred to
65536 samples); the GUI thread asks, about 30 times a second, for "the window [t0, t1] in
n pixels". Memory is bounded whatever the run length, and the cost of a frame does not grow
with the recording: the plot gets at most as many entries as it has pixels, each with the
min, max and mean of the samples it covers (the band Joulescope draws).

Layout
------
* **Raw ring**: the most recent ``window_samples`` records, untouched (``latest``, ``last``,
  and zoomed-in plots that show single samples).
* **Pyramid**: ``levels`` rings of bins over the *whole* recording. A bin of level 1 holds
  ``factor`` samples, a bin of level k holds ``factor`` bins of level k-1. A bin keeps the
  index of its first sample, the times of its first and last sample, the OR of all flags, and
  per summarized quantity the min, the max, the sum and the count of the samples that may
  enter an average. Bad samples (``good_mask`` false: overrange, invalid, non-finite power)
  and unknown (NaN) values enter no min / max / mean, but their flags stay in the bin, so a
  pixel made of bad samples shows up as "no value, flagged".
* Levels 1..levels-1 are rings of ``max_bins_per_level`` bins and forget their oldest bins;
  the coarsest level never forgets: when it is full it **compacts** (merges pairs of bins,
  halving its resolution) and from then on takes twice as many bins of the level below per
  bin. It covers the whole run in at most ``max_bins_per_level`` bins, for days at 100 kHz.
* Pyramid updates run in batches (8192 samples, 1024 bins per level, or 32 blocks) so that
  their fixed Python cost is shared by many samples. What waits sits in a per-level pending
  list (the coarsest level keeps one open, partial bin instead, since its bins keep growing)
  and queries read it at its own resolution: the right edge of a live plot is never behind.

Queries
-------
``summary`` picks the finest source that still holds the window and has at most
``factor * n_bins`` bins in it (raw ring first, then levels 1, 2, ...) and aggregates those
bins to pixels: the cost is O(n_bins), whatever the run length. Old data that only coarse
levels still hold comes back at their resolution (fewer entries than pixels); the journal
on disk holds the full resolution. ``stats`` works in sample-index space (every bin knows
the index of its first sample): whole coarse bins inside the region, then finer levels and
finally the raw ring for the ragged edges, like a segment tree. It is exact wherever a
finer level or the raw ring still holds the edges (always for a recent region and for the
whole run); otherwise an edge bin counts in proportion to its overlap and ``exact`` is False.

Why this shape (figures measured on a 2-vCPU dev machine, 10 M samples)
--------------------------------------------------------------------------
* Bins are stored column-wise, (quantities, bins) arrays of min and of max, and one array
  of [sums, counts, samples], so merging bins is a few whole-array ``fmin`` / ``fmax`` /
  ``add`` calls, never per quantity or per sample. NaN marks "no good sample" in min / max
  (``fmin`` / ``fmax`` skip it), so one array serves both.
* Level 1 gathers each quantity "de-interleaved" as (quantity, position in bin, bin): the
  reductions then run over the middle axis with long contiguous inner loops (4x faster
  than strided pairs). The higher levels, 4x smaller each, use a pairwise tree.
* Records are copied as opaque bytes: numpy copies a packed structured array field by
  field, 25x slower than a byte copy.
* The writer's large work arrays are reused (:class:`_Scratch`): fresh ones cost a page
  fault per 4 KiB, which tripled the cost of an append.
* Appends compute outside the reader lock and take it only to copy results into the
  rings; readers copy at most a few thousand bins under the lock and compute outside.

Conventions
-----------
Timestamps are non-decreasing across appends (they are UTC seconds from one instrument).
Energy is the sum of the good power readings times the update interval (each reading of a
power analyzer is the average over its interval), exactly as :mod:`station.core.summary`
computes it; bad samples add no energy and are counted, so the reader can see the coverage.
The interval is given to the constructor or, if not, estimated from the first timestamps.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from station.core.samples import BAD_FLAGS, SAMPLE_DTYPE, Flag, good_mask
from station.core.summary import bridged_energy

DEFAULT_FIELDS = ("w", "v", "a", "pf", "ch_w")
_BIN_KEYS = ("s0", "t0", "t1", "flags", "lo", "hi", "acc")
_INTERVAL_STEPS = 1024  # timestamp steps used to estimate the update interval
_CHUNK = 1 << 16  # samples per pass through the pyramid: bounds the scratch buffers
_SMALL = 4096  # elements below which a work array is simply allocated
_BATCH_SAMPLES = 8192  # see LiveStore.__init__
_BATCH_BINS = 1024
_MAX_PARTS = 32  # ... or this many blocks (a slow meter sends one sample at a time)
_RAW_STRETCH = 4  # see LiveStore._pick_source


@dataclass(frozen=True)
class Summary:
    """A plot-sized view of one quantity: at most ``n_bins`` entries, oldest first.

    For a per-channel quantity (``ch_w``) the value arrays have one column per channel.
    Entries without a good sample have NaN min / max / mean; ``flags`` still tells why.
    """

    t: np.ndarray  # centre of the samples the entry covers, UTC seconds
    t_start: np.ndarray  # time of the entry's first sample
    t_end: np.ndarray  # time of the entry's last sample
    min: np.ndarray
    max: np.ndarray
    mean: np.ndarray
    flags: np.ndarray  # OR of the flags of all samples in the entry, bad ones included
    samples: np.ndarray  # samples in the entry
    good: np.ndarray  # samples that entered min / max / mean
    level: int  # 0: read from the raw ring; k: read from pyramid level k
    is_raw: bool  # True when every entry is exactly one sample

    def __len__(self) -> int:
        return len(self.t)


@dataclass(frozen=True)
class RegionStats:
    """Power statistics of the samples with t0 <= t <= t1.

    ``exact`` is False when an edge of the region lies in data that only a coarse level still
    holds: the edge bin then contributes in proportion to its overlap (sums and counts) and
    with its whole min / max, so the error is at most one coarse bin at each edge.
    """

    t_start: float | None  # first sample in the region
    t_end: float | None  # last sample in the region
    duration_s: float  # t_end - t_start + one interval (each sample stands for its interval)
    samples: int
    good_samples: int
    bad_samples: int  # overrange, invalid or non-finite: no average; their time is bridged at the mean
    mean_w: float | None
    min_w: float | None
    max_w: float | None
    energy_j: float  # over the whole duration (station.core.summary.bridged_energy); 0 without a good sample
    flags: int  # OR of all flags in the region
    interval_s: float
    exact: bool


# -- bins: dicts of column arrays, the bin axis last ----------------------------------------


def _bins_len(b: dict) -> int:
    return b["t0"].shape[-1]


def _bins_slice(b: dict, start: int, stop: int | None = None) -> dict:
    return {k: v[..., start:stop] for k, v in b.items()}


def _bins_copy(b: dict) -> dict:
    return {k: v.copy() for k, v in b.items()}


def _bins_concat(parts: list[dict]) -> dict:
    """The bins of ``parts`` one after the other (at least one part)."""
    full = [p for p in parts if _bins_len(p)]
    if len(full) <= 1:
        return full[0] if full else parts[0]
    return {k: np.concatenate([p[k] for p in full], axis=-1) for k in _BIN_KEYS}


class _Scratch:
    """Work arrays reused from one append to the next.

    Large temporaries are not just slow to fill: glibc maps every allocation above its mmap
    threshold (128 KiB until the process frees a larger block) afresh, and the kernel then
    faults in and zeroes every page on first touch. Measured: 1000 page faults and 3x the
    time per 65536-sample block. Reusing these buffers keeps the append free of that cost.
    """

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype=np.float64) -> np.ndarray:
        size = math.prod(shape)
        if size < _SMALL:  # small arrays come from malloc's heap: cheaper than the lookup
            return np.empty(shape, dtype)
        buf = self._bufs.get(key)
        if buf is None or buf.size < size or buf.dtype != np.dtype(dtype):
            buf = np.empty(size, dtype)
            self._bufs[key] = buf
        return buf[:size].reshape(shape)

    def nbytes(self) -> int:
        return sum(b.nbytes for b in tuple(self._bufs.values()))  # the writer may add one meanwhile

    def clear(self) -> None:
        self._bufs.clear()


def _tree(x: np.ndarray, g: int, op, scratch: _Scratch | None = None, key: str = "") -> np.ndarray:
    """Reduce consecutive groups of ``g`` (a power of two) along the last axis, pairwise."""
    stage = 0
    while g > 1:
        a, b = x[..., 0::2], x[..., 1::2]
        out = None if scratch is None else scratch.get(f"{key}{stage}", a.shape, x.dtype)
        x = op(a, b, out=out)
        g >>= 1
        stage += 1
    return x


def _bins_group(b: dict, g: int, scratch: _Scratch | None = None, key: str = "") -> dict:
    """Merge each run of ``g`` consecutive bins into one; the length must be a multiple of g.

    With ``scratch`` the result lives in reused buffers (and views of ``b``): valid until
    the next use of the same key, so callers copy what they keep.
    """
    if g == 1:
        return _bins_copy(b)
    if scratch is None:
        s0, t0, t1 = b["s0"][0::g].copy(), b["t0"][0::g].copy(), b["t1"][g - 1 :: g].copy()
    else:
        s0, t0, t1 = b["s0"][0::g], b["t0"][0::g], b["t1"][g - 1 :: g]
    return {
        "s0": s0,
        "t0": t0,
        "t1": t1,
        "flags": _tree(b["flags"], g, np.bitwise_or, scratch, key + "f"),
        "lo": _tree(b["lo"], g, np.fmin, scratch, key + "l"),
        "hi": _tree(b["hi"], g, np.fmax, scratch, key + "h"),
        "acc": _tree(b["acc"], g, np.add, scratch, key + "a"),
    }


def _bins_total(b: dict) -> dict:
    """All bins merged into one."""
    return {
        "s0": b["s0"][:1].copy(),
        "t0": b["t0"][:1].copy(),
        "t1": b["t1"][-1:].copy(),
        "flags": np.bitwise_or.reduce(b["flags"], keepdims=True),
        "lo": np.fmin.reduce(b["lo"], axis=-1, keepdims=True),
        "hi": np.fmax.reduce(b["hi"], axis=-1, keepdims=True),
        "acc": b["acc"].sum(axis=-1, keepdims=True),
    }


class _Ring:
    """Fixed-capacity ring of column arrays sharing their last axis; oldest entries drop out."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        # Commit the pages now: np.zeros hands out zero pages the OS allocates on first write,
        # so an uncommitted ring would grow the process by its whole size over hours (the
        # coarse pyramid levels fill over a day). The store's footprint is fixed from the start.
        for v in arrays.values():
            v.view(np.uint8).fill(0)
        self.a = arrays
        self.cap = next(iter(arrays.values())).shape[-1]
        self.start = 0
        self.size = 0
        self.dropped = 0  # entries that fell out of the ring

    def clear(self) -> None:
        self.start = self.size = self.dropped = 0

    def segments(self, i: int = 0, j: int | None = None) -> list[tuple[int, int]]:
        """Physical [a, b) ranges holding logical entries [i, j), oldest first."""
        j = self.size if j is None else j
        if j <= i:
            return []
        a = (self.start + i) % self.cap
        n = j - i
        if a + n <= self.cap:
            return [(a, a + n)]
        return [(a, self.cap), (0, a + n - self.cap)]

    def push(self, src: dict[str, np.ndarray]) -> None:
        n = next(iter(src.values())).shape[-1]
        if n == 0:
            return
        if n > self.cap:
            src = {k: v[..., n - self.cap :] for k, v in src.items()}
            self.dropped += n - self.cap
            n = self.cap
        write = (self.start + self.size) % self.cap
        first = min(n, self.cap - write)
        for k, v in src.items():
            dst = self.a[k]
            dst[..., write : write + first] = v[..., :first]
            if first < n:
                dst[..., : n - first] = v[..., first:]
        over = self.size + n - self.cap
        if over > 0:
            self.start = (self.start + over) % self.cap
            self.dropped += over
            self.size = self.cap
        else:
            self.size += n

    def take(self, i: int, j: int) -> dict[str, np.ndarray]:
        """Copies of logical entries [i, j)."""
        segs = self.segments(i, j)
        out = {}
        for k, v in self.a.items():
            if not segs:
                out[k] = v[..., :0].copy()
            elif len(segs) == 1:
                out[k] = v[..., segs[0][0] : segs[0][1]].copy()
            else:
                out[k] = np.concatenate([v[..., a:b] for a, b in segs], axis=-1)
        return out

    def get(self, key: str, i: int):
        return self.a[key][..., (self.start + i) % self.cap]

    def search(self, key: str, value: float, side: str = "left") -> int:
        """Logical insertion index of ``value`` in the (sorted) column ``key``."""
        v = self.a[key]
        segs = self.segments()
        if not segs:
            return 0
        pos = 0
        for a, b in segs:
            k = int(np.searchsorted(v[a:b], value, side))
            pos += k
            if k < b - a:
                break
        return pos


class _Level:
    """One pyramid level: a ring of bins plus the input bins still waiting to fill a bin."""

    def __init__(self, n_rows: int, cap: int, group: int) -> None:
        self.ring = _Ring({
            "s0": np.zeros(cap, np.int64),
            "t0": np.zeros(cap),
            "t1": np.zeros(cap),
            "flags": np.zeros(cap, np.uint16),
            "lo": np.zeros((n_rows, cap)),
            "hi": np.zeros((n_rows, cap)),
            "acc": np.zeros((2 * n_rows + 1, cap)),
        })
        self.group = group  # input bins per bin of this level
        # Input not yet in a bin of this level, oldest first: record blocks for level 1, bin
        # dicts of the level below for the others, and for the coarsest level the one open
        # (partial) bin, whose input count grows with each compaction and so is merged on
        # arrival. Queries read it (LiveStore._pending_parts).
        self.pending: list = []
        self.pending_n = 0

    def end_index(self) -> int:
        """Index one past the last sample held by complete bins."""
        r = self.ring
        if r.size == 0:
            return 0
        return int(r.get("s0", r.size - 1)) + int(r.get("acc", r.size - 1)[-1])

    def bin_end(self, i: int) -> int:
        r = self.ring
        return int(r.get("s0", i + 1)) if i + 1 < r.size else self.end_index()

    def covers_index(self, idx: int) -> bool:
        r = self.ring
        if r.size == 0:
            return r.dropped == 0
        return int(r.get("s0", 0)) <= idx

    def covers_time(self, t: float) -> bool:
        r = self.ring
        if r.size == 0:
            return r.dropped == 0
        return r.dropped == 0 or float(r.get("t0", 0)) <= t

    def pending_n_samples(self) -> int:
        """Samples in the pending bins (for the coarsest level: in its open bin)."""
        return int(sum(p["acc"][-1].sum() for p in self.pending))

    def nbytes(self) -> int:
        n = sum(v.nbytes for v in self.ring.a.values())
        for p in self.pending:
            n += sum(v.nbytes for v in p.values()) if isinstance(p, dict) else p.nbytes
        return n


@dataclass
class _Totals:
    """Power totals of a set of samples; ``merge`` combines two disjoint sets."""

    good: int = 0
    w_sum: float = 0.0
    w_min: float = field(default=np.inf)
    w_max: float = field(default=-np.inf)
    overrange: int = 0
    invalid: int = 0
    flags: int = 0

    def merge(self, o: _Totals) -> None:
        self.good += o.good
        self.w_sum += o.w_sum
        self.w_min = min(self.w_min, o.w_min)
        self.w_max = max(self.w_max, o.w_max)
        self.overrange += o.overrange
        self.invalid += o.invalid
        self.flags |= o.flags


class _Acc:
    """Running power totals of a region, built from bins and raw samples."""

    def __init__(self) -> None:
        self.samples = 0.0
        self.good = 0.0
        self.w_sum = 0.0
        self.w_min = np.inf
        self.w_max = -np.inf
        self.t_start = np.inf
        self.t_end = -np.inf
        self.flags = 0
        self.exact = True

    def add(self, samples, good, w_sum, w_min, w_max, t_start, t_end, flags) -> None:
        self.samples += samples
        self.good += good
        self.w_sum += w_sum
        if good > 0:
            self.w_min = min(self.w_min, w_min)
            self.w_max = max(self.w_max, w_max)
        if samples > 0:
            self.t_start = min(self.t_start, t_start)
            self.t_end = max(self.t_end, t_end)
        self.flags |= int(flags)


class LiveStore:
    """Bounded ring of recent records plus a min/max pyramid over the whole run.

    Thread-safe for one writer (``append``) and any number of readers. Nothing here imports
    Qt; the GUI polls ``summary`` on its timer.
    """

    def __init__(
        self,
        dtype: np.dtype = SAMPLE_DTYPE,
        window_samples: int = 1 << 20,
        max_bins_per_level: int = 1 << 14,
        factor: int = 4,
        levels: int = 8,
        interval_s: float | None = None,
        fields: Sequence[str] | None = None,
    ) -> None:
        """``window_samples`` raw records are kept; each pyramid level holds at most
        ``max_bins_per_level`` bins (even); a bin of level k holds ``factor ** k`` samples
        (``factor`` a power of two) until the coarsest level compacts. ``interval_s`` is the
        update interval used for energy; None estimates it from the timestamps. ``fields``
        are the quantities summarized (default: w, v, a, pf and ch_w when present)."""
        self.dtype = np.dtype(dtype)
        if factor < 2 or factor & (factor - 1):
            raise ValueError("factor must be a power of two, at least 2")
        if max_bins_per_level < 4 or max_bins_per_level % 2:
            raise ValueError("max_bins_per_level must be even and at least 4")
        if window_samples < 1 or levels < 2:
            raise ValueError("window_samples must be at least 1 and levels at least 2")
        names = self.dtype.names or ()
        for needed in ("t", "w", "flags"):
            if needed not in names:
                raise ValueError(f"record type has no field {needed!r}")
        if fields is None:
            fields = [f for f in DEFAULT_FIELDS if f in names]
        elif "w" not in fields:
            fields = ["w", *fields]
        self.fields = tuple(fields)
        self._rows: dict[str, slice] = {}
        row = 0
        for f in self.fields:
            if f not in names:
                raise ValueError(f"record type has no field {f!r}")
            if len(self.dtype[f].shape) > 1:
                raise ValueError(f"field {f!r}: only scalar or per-channel (1-D) fields can be summarized")
            width = self.dtype[f].shape[0] if self.dtype[f].shape else 1
            self._rows[f] = slice(row, row + width)
            row += width
        self._n_rows = row
        self._w_row = self._rows["w"].start
        self.factor = factor
        self.window_samples = int(window_samples)
        self.max_bins_per_level = int(max_bins_per_level)
        self._given_interval = interval_s
        # Records are copied as opaque bytes: numpy copies a packed structured array field by
        # field, about 25 times slower than a plain byte copy.
        self._void = np.dtype((np.void, self.dtype.itemsize))
        self._raw_rec = np.zeros(self.window_samples, self.dtype)
        self._raw = _Ring({"rec": self._raw_rec.view(self._void)})
        self._levels = [_Level(self._n_rows, self.max_bins_per_level, factor) for _ in range(levels)]
        # Pyramid passes run once this many samples (level 1) or bins (above) are waiting:
        # their fixed cost is then shared by many samples. What waits stays within the raw
        # ring (resp. the ring of the level below), so region statistics remain exact.
        self._batch_raw = max(factor, min(_BATCH_SAMPLES, self.window_samples // 2))
        self._batch_bins = max(factor, min(_BATCH_BINS, self.max_bins_per_level // 2))
        self._scratch = _Scratch()  # the writer's work arrays
        self._iota_buf = np.zeros(0, np.int64)
        self._lock = threading.Lock()  # guards everything a reader looks at
        self._write_lock = threading.Lock()  # serializes writers (pending lists are theirs)
        self._reset_totals()

    def _reset_totals(self) -> None:
        self._total = 0
        # Totals over the samples already in level-1 bins; the samples waiting for a pyramid
        # pass are added when asked (see _totals).
        self._done = _Totals()
        self._t_first = np.nan
        self._t_last = np.nan
        self._steps: list[np.ndarray] = []
        self._n_steps = 0
        self._interval_est: float | None = None
        self.revision = 0  # changes on every append and clear (cheap "anything new?" check)

    @classmethod
    def from_records(cls, records, chunk: int = 1 << 16, **kwargs) -> LiveStore:
        """A store holding a recorded run (e.g. a journal memmap), read in bounded chunks,
        so a recorded run is browsed exactly like a live one."""
        kwargs.setdefault("dtype", records.dtype)
        store = cls(**kwargs)
        for start in range(0, len(records), chunk):
            store.append(np.asarray(records[start : start + chunk]))
        return store

    # -- writing -------------------------------------------------------------------------------
    def append(self, block: np.ndarray) -> None:
        """Add a block of records (the acquisition sink). Vectorized; no per-sample Python.

        Timestamps must not go backwards. The block is copied; the caller may reuse it.
        """
        block = np.asarray(block)
        n = len(block)
        if n == 0:
            return
        if block.dtype != self.dtype:
            raise ValueError(f"block has record type {block.dtype}, the store holds {self.dtype}")
        with self._write_lock:
            if self._given_interval is None:
                interval = self._estimate_interval(block["t"])
                if interval is not None:
                    self._interval_est = interval
            for start in range(0, n, _CHUNK):
                self._append_chunk(block[start : start + _CHUNK])

    def _append_chunk(self, block: np.ndarray) -> None:
        levels = self._levels
        lvl1 = levels[0]
        n = len(block)
        if lvl1.pending_n + n < self._batch_raw and len(lvl1.pending) < _MAX_PARTS:
            # Too few samples for a pyramid pass to be worth its fixed cost: they wait (queries
            # still see them, from the raw ring and the pending list).
            part = block.copy()
            with self._lock:
                self._raw.push({"rec": block.view(self._void)})
                lvl1.pending.append(part)
                lvl1.pending_n += n
                self._count(block)
            return

        # The pass is computed outside the reader lock: only this thread changes rings and
        # pending lists, and readers see the results after the swap below.
        g = self.factor
        recs = self._join_records([*lvl1.pending, block])
        m = len(recs) // g * g
        x, done = self._level1(recs[:m], self._total - lvl1.pending_n) if m else (None, None)
        left = len(recs) - m
        updates = [(lvl1, x, [recs[m:].copy()] if left else [], left)]
        top_input = None
        for k, lvl in enumerate(levels[1:], start=2):
            if x is None:
                break
            if lvl is levels[-1]:
                top_input = x  # grouped under the lock: compaction rewrites the ring
                break
            n_in = lvl.pending_n + _bins_len(x)
            if n_in < self._batch_bins and len(lvl.pending) < _MAX_PARTS:
                updates.append((lvl, None, [*lvl.pending, _bins_copy(x)], n_in))
                break
            xin = self._join_bins([*lvl.pending, x], f"L{k}in")
            mm = n_in // lvl.group * lvl.group
            if mm == 0:  # many small parts, not one whole bin yet (only with a large factor)
                updates.append((lvl, None, [_bins_copy(xin)], n_in))
                break
            out = _bins_group(_bins_slice(xin, 0, mm), lvl.group, self._scratch, f"L{k}")
            updates.append((lvl, out, [_bins_copy(_bins_slice(xin, mm))] if mm < n_in else [], n_in - mm))
            x = out

        with self._lock:
            self._raw.push({"rec": block.view(self._void)})
            for lvl, out, pending, pending_n in updates:
                if out is not None:
                    lvl.ring.push(out)
                lvl.pending, lvl.pending_n = pending, pending_n
            if top_input is not None:
                self._feed_top(top_input)
            if done is not None:
                self._done.merge(done)
            self._count(block)

    def _count(self, block: np.ndarray) -> None:
        if self._total == 0:
            self._t_first = float(block["t"][0])
        self._t_last = float(block["t"][-1])
        self._total += len(block)
        self.revision += 1

    def _join_records(self, parts: list[np.ndarray]) -> np.ndarray:
        if len(parts) == 1:
            return parts[0]
        total = sum(len(p) for p in parts)
        buf = self._scratch.get("recs", (total,), self._void)
        pos = 0
        for p in parts:
            buf[pos : pos + len(p)] = p.view(self._void)
            pos += len(p)
        return buf.view(self.dtype)

    def _cat_records(self, parts: list[np.ndarray]) -> np.ndarray:
        """Record blocks one after the other, copied as bytes (any thread)."""
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p.view(self._void) for p in parts]).view(self.dtype)

    def _join_bins(self, parts: list[dict], key: str) -> dict:
        """The bins of ``parts`` one after the other (in scratch buffers when large)."""
        if len(parts) == 1:
            return parts[0]
        total = sum(_bins_len(p) for p in parts)
        if total < _SMALL // 8:
            return _bins_concat(parts)
        out = {}
        for name in _BIN_KEYS:
            first = parts[0][name]
            dst = self._scratch.get(key + name, first.shape[:-1] + (total,), first.dtype)
            pos = 0
            for p in parts:
                v = p[name]
                dst[..., pos : pos + v.shape[-1]] = v
                pos += v.shape[-1]
            out[name] = dst
        return out

    def _estimate_interval(self, t: np.ndarray) -> float | None:
        if self._n_steps >= _INTERVAL_STEPS:
            return None
        prev = [] if self._total == 0 else [self._t_last]
        steps = np.diff(np.concatenate([prev, t[: _INTERVAL_STEPS + 1]]))
        steps = steps[np.isfinite(steps) & (steps > 0)]
        if len(steps) == 0:
            return None
        self._steps.append(steps)
        self._n_steps += len(steps)
        return float(np.median(np.concatenate(self._steps)))

    def _level1(self, recs: np.ndarray, first: int) -> tuple[dict, _Totals]:
        """Level-1 bins of ``recs`` (a whole number of bins), and their power totals.

        The values are gathered "de-interleaved" as (quantity, position in bin, bin), so each
        reduction runs over the middle axis with long contiguous inner loops (SIMD), instead
        of the short strided loops of a (bin, position) layout. The bins live in scratch
        buffers until the next append.
        """
        sc = self._scratch
        g = self.factor
        q = len(recs) // g
        f = self._n_rows
        w = self._w_row
        vals = sc.get("vals", (f, g, q))
        for name, rows in self._rows.items():
            col = recs[name]
            if col.ndim == 1:
                vals[rows.start] = col.reshape(q, g).T
            else:
                vals[rows] = col.reshape(q, g, -1).transpose(2, 1, 0)
        flags = sc.get("flags", (g, q), np.uint16)
        np.copyto(flags, recs["flags"].reshape(q, g).T)
        tmp = sc.get("tmp", (g, q), np.uint16)
        bad = sc.get("bad", (g, q), np.bool_)
        np.not_equal(np.bitwise_and(flags, int(BAD_FLAGS), out=tmp), 0, out=bad)
        unusable = np.logical_not(np.isfinite(vals[w], out=sc.get("fin", (g, q), np.bool_)))
        np.logical_or(bad, unusable, out=bad)
        if bad.any():
            np.copyto(vals, np.nan, where=bad)
        lo = np.fmin.reduce(vals, axis=1, out=sc.get("L1l", (f, q)))
        hi = np.fmax.reduce(vals, axis=1, out=sc.get("L1h", (f, q)))
        acc = sc.get("L1a", (2 * f + 1, q))
        np.sum(vals, axis=1, out=acc[:f])
        acc[f:] = g
        holes = np.logical_or.reduce(np.isnan(acc[:f], out=sc.get("nan", (f, q), np.bool_)), axis=0)
        if holes.any():  # only the bins with a missing or bad value need the slow path
            idx = np.flatnonzero(holes)
            sub = vals[:, :, idx]
            nan = np.isnan(sub)
            acc[:f, idx] = np.where(nan, 0.0, sub).sum(axis=1)
            acc[f : 2 * f, idx] = g - nan.sum(axis=1)
        s0 = sc.get("L1s", (q,), np.int64)
        np.multiply(self._iota(q), g, out=s0)
        s0 += first
        t = recs["t"]
        bins = {
            "s0": s0,
            "t0": t[0::g],
            "t1": t[g - 1 :: g],
            "flags": np.bitwise_or.reduce(flags, axis=0, out=sc.get("L1f", (q,), np.uint16)),
            "lo": lo,
            "hi": hi,
            "acc": acc,
        }
        done = _Totals(
            good=int(acc[f + w].sum()),
            w_sum=float(acc[w].sum()),
            w_min=float(np.fmin.reduce(lo[w])),
            w_max=float(np.fmax.reduce(hi[w])),
            overrange=int(np.count_nonzero(np.bitwise_and(flags, int(Flag.OVERRANGE), out=tmp))),
            invalid=int(np.count_nonzero(np.bitwise_and(flags, int(Flag.INVALID), out=tmp))),
            flags=int(np.bitwise_or.reduce(bins["flags"])),
        )
        return bins, done

    def _iota(self, n: int) -> np.ndarray:
        if len(self._iota_buf) < n:
            self._iota_buf = np.arange(max(n, _CHUNK // self.factor + 1), dtype=np.int64)
        return self._iota_buf[:n]

    def _raw_bins(self, recs: np.ndarray, first: int) -> dict:
        """One bin per record (min = max = value, NaN when not good); for queries, not the
        hot path. ``first`` is the run index of ``recs[0]``."""
        n = len(recs)
        f = self._n_rows
        vals = np.empty((f, n))
        for name, rows in self._rows.items():
            col = recs[name]
            if col.ndim == 1:
                vals[rows.start] = col
            else:
                vals[rows] = col.T
        np.copyto(vals, np.nan, where=~good_mask(recs))
        nan = np.isnan(vals)
        acc = np.empty((2 * f + 1, n))
        acc[:f] = np.where(nan, 0.0, vals)
        acc[f : 2 * f] = ~nan
        acc[2 * f] = 1.0
        t = recs["t"].copy()
        # t1 and hi share the arrays of t0 and lo: nothing writes into a bin once built
        return {"s0": np.arange(first, first + n, dtype=np.int64), "t0": t, "t1": t,
                "flags": recs["flags"].copy(), "lo": vals, "hi": vals, "acc": acc}

    def _feed_top(self, x: dict) -> None:
        """Group input bins into the coarsest level, compacting it whenever it is full
        (call locked). Input that does not complete a bin is merged into the open bin."""
        top = self._levels[-1]
        ring = top.ring
        open_bin = top.pending[0] if top.pending else None
        open_n = top.pending_n
        pos, m = 0, _bins_len(x)
        while pos < m:
            need = top.group - open_n
            if m - pos < need:
                rest = _bins_total(_bins_slice(x, pos, m))
                open_bin = rest if open_bin is None else _bins_total(_bins_concat([open_bin, rest]))
                open_n += m - pos
                break
            if ring.size == ring.cap:
                self._compact(top)
                continue
            if open_bin is not None:
                ring.push(_bins_total(_bins_concat([open_bin, _bins_slice(x, pos, pos + need)])))
                open_bin, open_n = None, 0
                pos += need
            else:
                groups = min((m - pos) // top.group, ring.cap - ring.size)
                ring.push(_bins_group(_bins_slice(x, pos, pos + groups * top.group), top.group))
                pos += groups * top.group
        top.pending = [] if open_bin is None else [open_bin]
        top.pending_n = open_n

    @staticmethod
    def _compact(top: _Level) -> None:
        ring = top.ring
        merged = _bins_group(ring.take(0, ring.size), 2)
        ring.clear()
        ring.push(merged)
        top.group *= 2

    def clear(self) -> None:
        """Forget everything (a new run starts)."""
        with self._write_lock, self._lock:
            self._raw.clear()
            for lvl in self._levels:
                lvl.ring.clear()
                lvl.pending, lvl.pending_n = [], 0
                lvl.group = self.factor
            self._scratch.clear()
            rev = self.revision
            self._reset_totals()
            self.revision = rev + 1

    def _totals(self) -> _Totals:
        """Run totals: level-1 bins plus the records waiting for a pyramid pass (call locked)."""
        out = _Totals()
        out.merge(self._done)
        if self._levels[0].pending:
            waiting = self._cat_records(self._levels[0].pending)
            good = good_mask(waiting)
            w = waiting["w"][good]
            fl = waiting["flags"]
            out.merge(_Totals(
                good=len(w), w_sum=float(w.sum()), w_min=float(w.min()) if len(w) else np.inf,
                w_max=float(w.max()) if len(w) else -np.inf,
                overrange=int(np.count_nonzero(fl & int(Flag.OVERRANGE))),
                invalid=int(np.count_nonzero(fl & int(Flag.INVALID))),
                flags=int(np.bitwise_or.reduce(fl)),
            ))
        return out

    # -- simple reads --------------------------------------------------------------------------
    @property
    def total_samples(self) -> int:
        """Samples appended since the start (or the last ``clear``)."""
        return self._total

    @property
    def good_samples(self) -> int:
        """Samples that may enter an average."""
        with self._lock:
            return self._totals().good

    @property
    def bad_samples(self) -> int:
        """Samples that enter no average (overrange, invalid or non-finite power)."""
        with self._lock:
            return self._total - self._totals().good

    @property
    def overrange_samples(self) -> int:
        with self._lock:
            return self._totals().overrange

    @property
    def invalid_samples(self) -> int:
        with self._lock:
            return self._totals().invalid

    @property
    def interval_s(self) -> float | None:
        """Update interval used for energy: the one given, else the median timestamp step."""
        return self._given_interval if self._given_interval is not None else self._interval_est

    def span(self) -> tuple[float, float] | None:
        """(time of the first sample, time of the last sample) of everything appended."""
        with self._lock:
            return None if self._total == 0 else (self._t_first, self._t_last)

    def last(self):
        """The most recent record, or None."""
        with self._lock:
            if self._raw.size == 0:
                return None
            return self._raw_rec[self._raw.segments(self._raw.size - 1)[0][0]].copy()

    def latest(self, n: int) -> np.ndarray:
        """The last ``n`` records (fewer if the ring holds fewer), oldest first."""
        with self._lock:
            size = self._raw.size
            n = max(0, min(int(n), size))
            return self._raw.take(size - n, size)["rec"].view(self.dtype)

    def memory_bytes(self) -> int:
        """Bytes held by the store's arrays (its footprint apart from Python object overhead)."""
        with self._lock:
            return (self._raw.a["rec"].nbytes + sum(lvl.nbytes() for lvl in self._levels)
                    + self._scratch.nbytes() + self._iota_buf.nbytes)

    # -- plot queries --------------------------------------------------------------------------
    def summary(
        self,
        t0: float | None = None,
        t1: float | None = None,
        n_bins: int = 1000,
        field: str = "w",
        channel: int | None = None,
    ) -> Summary:
        """At most ``n_bins`` entries (pixels) covering [t0, t1] (None: the run's ends).

        Reads the finest source (raw ring or pyramid level) that still holds t0 and has at
        most ``factor * n_bins`` bins in the window, so the cost is O(n_bins), whatever the
        run length. Pixels are equal slices of [t0, t1]; a bin goes to the pixel holding its
        centre; empty pixels are left out. When the raw ring holds the window and it has at
        most ``n_bins`` samples, the samples themselves come back (``is_raw``).
        """
        if field not in self._rows:
            raise ValueError(f"{field!r} is not summarized; fields: {', '.join(self.fields)}")
        n_bins = max(1, int(n_bins))
        limit = self.factor * n_bins
        rows = self._rows[field]
        with self._lock:
            if self._total == 0:
                return self._empty_summary(field, channel)
            t0 = self._t_first if t0 is None else float(t0)
            t1 = self._t_last if t1 is None else float(t1)
            a, b = max(t0, self._t_first), min(t1, self._t_last)
            if a > b:
                return self._empty_summary(field, channel)
            level, part, pending = self._pick_source(a, b, n_bins, limit)
        # Conversion and aggregation run outside the lock, on copies and on pending parts
        # (which nothing changes once they are made).
        if level == 0:
            recs, first = part
            return self._to_pixels(self._raw_bins(recs, first), t0, t1, n_bins, rows, channel, 0,
                                   len(recs) <= n_bins)
        bins = part
        if pending is not None:
            bins = _bins_concat([bins, self._pending_in(pending, a, b)])
        return self._to_pixels(bins, t0, t1, n_bins, rows, channel, level, False)

    def _pick_source(self, a: float, b: float, n_bins: int, limit: int) -> tuple[int, object, tuple | None]:
        """(0, (records, index of the first), None) when the raw ring serves the window, else
        (level, copy of its bins in the window, pending parts to add or None). Call locked."""
        raw = self._raw
        raw_n = None
        if raw.dropped == 0 or self._raw_t(0) <= a:
            i = self._raw_search(a, "left")
            j = self._raw_search(b, "right")
            raw_n = j - i
            if raw_n <= limit:
                return 0, (raw.take(i, j)["rec"].view(self.dtype), self._raw_first_index() + i), None
        chosen = None
        for k, lvl in enumerate(self._levels, start=1):
            if not lvl.covers_time(a):
                continue
            r = lvl.ring
            i = r.search("t1", a, "left")
            j = r.search("t0", b, "right")
            pending = self._pending_parts(k)
            # The pending samples run from their oldest to the newest sample of the run. They
            # are few (bounded by the batch sizes) and count as one bin here.
            with_tail = pending is not None and pending[2] <= b
            chosen = (k, i, j, pending if with_tail else None)
            if j - i + with_tail <= limit:
                break
        k, i, j, pending = chosen
        if j - i < n_bins and raw_n is not None and raw_n <= _RAW_STRETCH * limit:
            # The fine levels have forgotten this window but the raw ring still holds it: a
            # few times more work buys the full resolution instead of a sparse plot.
            i = self._raw_search(a, "left")
            return 0, (raw.take(i, i + raw_n)["rec"].view(self.dtype), self._raw_first_index() + i), None
        return k, self._levels[k - 1].ring.take(i, j), pending

    def _raw_search(self, t: float, side: str) -> int:
        raw = self._raw
        col = self._raw_rec["t"]
        pos = 0
        for a, b in raw.segments():
            # a field of a structured array: np.searchsorted would copy it whole first
            k = (bisect_left if side == "left" else bisect_right)(col, t, a, b) - a
            pos += k
            if k < b - a:
                break
        return pos

    def _pending_parts(self, k: int) -> tuple[list[dict], list[np.ndarray], float] | None:
        """What has not reached a complete bin of level k yet: bin parts (oldest first), record
        parts, and the time of the oldest pending sample; None if nothing. Call locked."""
        bins = [p for i in range(k - 1, 0, -1) for p in self._levels[i].pending]
        recs = list(self._levels[0].pending)
        if not bins and not recs:
            return None
        return bins, recs, float(bins[0]["t0"][0] if bins else recs[0]["t"][0])

    def _pending_in(self, pending: tuple, a: float, b: float) -> dict:
        """The pending parts that overlap [a, b], at their own (finer) resolution, so the
        live right edge of a plot is as detailed as the rest."""
        bins, recs, _ = pending
        parts = list(bins)
        if recs:
            parts.append(self._raw_bins(self._cat_records(recs), 0))
        merged = _bins_concat(parts)
        keep = (merged["t1"] >= a) & (merged["t0"] <= b)
        if keep.all():
            return merged
        return {k: v[..., keep] for k, v in merged.items()}

    def _empty_summary(self, field: str, channel: int | None) -> Summary:
        width = self._rows[field].stop - self._rows[field].start
        shape = (0,) if width == 1 or channel is not None else (0, width)
        e = np.zeros(0)
        return Summary(e, e, e, np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(0, np.uint16),
                       np.zeros(0, np.int64), np.zeros(shape, np.int64), 0, True)

    def _to_pixels(self, bins: dict, t0: float, t1: float, n_bins: int, rows: slice,
                   channel: int | None, level: int, single: bool) -> Summary:
        f = self._n_rows
        if channel is not None:
            width = rows.stop - rows.start
            if not 0 <= channel < width:
                raise ValueError(f"channel {channel} out of range (0..{width - 1})")
            rows = slice(rows.start + channel, rows.start + channel + 1)
            scalar = True
        else:
            scalar = rows.stop - rows.start == 1
        lo = bins["lo"][rows]
        hi = bins["hi"][rows]
        sums = bins["acc"][rows]
        cnt = bins["acc"][f + rows.start : f + rows.stop]
        samples = bins["acc"][2 * f]
        ts, te, flags = bins["t0"], bins["t1"], bins["flags"]
        if not single and len(ts):
            centre = 0.5 * (ts + te)
            span = t1 - t0
            if span > 0:
                pix = np.floor((centre - t0) * (n_bins / span)).astype(np.int64)
                np.clip(pix, 0, n_bins - 1, out=pix)
            else:
                pix = np.zeros(len(ts), np.int64)
            starts = np.flatnonzero(np.diff(pix, prepend=-1))
            ends = np.append(starts[1:], len(ts)) - 1
            lo = np.fmin.reduceat(lo, starts, axis=-1)
            hi = np.fmax.reduceat(hi, starts, axis=-1)
            sums = np.add.reduceat(sums, starts, axis=-1)
            cnt = np.add.reduceat(cnt, starts, axis=-1)
            samples = np.add.reduceat(samples, starts)
            flags = np.bitwise_or.reduceat(flags, starts)
            ts, te = ts[starts], te[ends]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(cnt > 0, sums / np.where(cnt > 0, cnt, 1), np.nan)
        if scalar:
            lo, hi, mean, cnt = lo[0], hi[0], mean[0], cnt[0]
        else:
            lo, hi, mean, cnt = lo.T, hi.T, mean.T, cnt.T
        return Summary(
            t=0.5 * (ts + te), t_start=ts.copy(), t_end=te.copy(), min=np.ascontiguousarray(lo),
            max=np.ascontiguousarray(hi), mean=np.ascontiguousarray(mean), flags=np.asarray(flags, np.uint16),
            samples=np.asarray(samples).astype(np.int64), good=np.asarray(cnt).astype(np.int64),
            level=level, is_raw=single or (level == 0 and bool(np.all(samples == 1))),
        )

    # -- region statistics ---------------------------------------------------------------------
    def stats(self, t0: float | None = None, t1: float | None = None) -> RegionStats:
        """Duration, samples, mean / min / max power and energy of the samples in [t0, t1].

        Whole bins inside the region come from the coarsest level; only the edges are read
        from finer levels or the raw ring, so the cost is bounded by one level's size. With
        no bounds (or bounds around the whole run) the run's exact running totals are used.
        """
        with self._lock:
            interval = self.interval_s or 0.0
            if self._total == 0:
                return RegionStats(None, None, 0.0, 0, 0, 0, None, None, None, 0.0, 0, interval, True)
            if (t0 is None or t0 <= self._t_first) and (t1 is None or t1 >= self._t_last):
                acc = _Acc()
                tot = self._totals()
                acc.add(self._total, tot.good, tot.w_sum, tot.w_min, tot.w_max,
                        self._t_first, self._t_last, tot.flags)
            else:
                t0 = self._t_first if t0 is None else float(t0)
                t1 = self._t_last if t1 is None else float(t1)
                acc = _Acc()
                if t0 <= t1:
                    ia, ea = self._index_of_time(t0, "left")
                    ib, eb = self._index_of_time(t1, "right")
                    acc.exact = ea and eb
                    self._agg(ia, ib, len(self._levels), acc)
        samples = int(round(acc.samples))
        good = int(round(acc.good))
        has = acc.good > 0
        has_samples = acc.samples > 0
        duration = float(acc.t_end - acc.t_start + interval) if has_samples else 0.0
        energy = bridged_energy(acc.w_sum, good, interval, duration)
        return RegionStats(
            t_start=float(acc.t_start) if has_samples else None,
            t_end=float(acc.t_end) if has_samples else None,
            duration_s=float(acc.t_end - acc.t_start + interval) if has_samples else 0.0,
            samples=samples,
            good_samples=good,
            bad_samples=samples - good,
            mean_w=acc.w_sum / acc.good if has else None,
            min_w=float(acc.w_min) if has else None,
            max_w=float(acc.w_max) if has else None,
            energy_j=energy.total_j if energy.total_j is not None else 0.0,
            flags=acc.flags,
            interval_s=interval,
            exact=acc.exact,
        )

    def _raw_t(self, i: int) -> float:
        return float(self._raw_rec["t"][(self._raw.start + i) % self._raw.cap])

    def _raw_first_index(self) -> int:
        return self._total - self._raw.size

    def _index_of_time(self, t: float, side: str) -> tuple[int, bool]:
        """Samples with time < t (side "left") or <= t (side "right"), and whether exact."""
        raw = self._raw
        if raw.size and (raw.dropped == 0 or self._raw_t(0) <= t):
            return self._raw_first_index() + self._raw_search(t, side), True
        for lvl in self._levels:
            if not lvl.covers_time(t) or lvl.ring.size == 0:
                continue
            r = lvl.ring
            i = r.search("t0", t, "right") - 1  # last bin starting at or before t
            if i < 0:
                return int(r.get("s0", 0)), True
            b_t0, b_t1 = float(r.get("t0", i)), float(r.get("t1", i))
            start, end = int(r.get("s0", i)), lvl.bin_end(i)
            if t > b_t1 or (side == "right" and t == b_t1):
                if i < r.size - 1:
                    return end, True
                if lvl is not self._levels[-1] or not lvl.pending:
                    continue  # t is in data still pending at this level: a finer one has it
                ob = lvl.pending[0]  # the open bin of the coarsest level
                o_t0, o_t1 = float(ob["t0"][0]), float(ob["t1"][0])
                if t < o_t0 or (side == "left" and t == o_t0):
                    return end, True
                if t > o_t1 or (side == "right" and t == o_t1):
                    return end + lvl.pending_n_samples(), True
                frac = (t - o_t0) / (o_t1 - o_t0) if o_t1 > o_t0 else 1.0
                return end + int(round(frac * lvl.pending_n_samples())), False
            if side == "left" and t == b_t0:
                return start, True
            frac = (t - b_t0) / (b_t1 - b_t0) if b_t1 > b_t0 else 1.0
            return start + int(round(frac * (end - start))), False
        # Pending data of every level and no raw sample: interpolate over the whole run.
        frac = (t - self._t_first) / (self._t_last - self._t_first) if self._t_last > self._t_first else 1.0
        return int(round(min(max(frac, 0.0), 1.0) * self._total)), False

    def _agg(self, ia: int, ib: int, k: int, acc: _Acc) -> None:
        """Add samples [ia, ib) using level k for whole bins and finer sources for the edges."""
        if ia >= ib:
            return
        if k == 0:
            self._agg_raw(ia, ib, acc)
            return
        lvl = self._levels[k - 1]
        r = lvl.ring
        f = self._n_rows
        w = self._w_row
        remainders = [(ia, ib)]
        if r.size:
            i = r.search("s0", ia, "left")
            jj = r.search("s0", ib, "right")
            j = jj if jj > 0 and lvl.bin_end(jj - 1) <= ib else jj - 1
            if i < j:
                a = r.a
                for p, q in r.segments(i, j):  # whole bins, read in place (no copy)
                    acc.add(a["acc"][2 * f, p:q].sum(), a["acc"][f + w, p:q].sum(), a["acc"][w, p:q].sum(),
                            np.fmin.reduce(a["lo"][w, p:q]), np.fmax.reduce(a["hi"][w, p:q]),
                            a["t0"][p], a["t1"][q - 1], np.bitwise_or.reduce(a["flags"][p:q]))
                remainders = [(ia, int(r.get("s0", i))), (lvl.bin_end(j - 1), ib)]
        for x, y in remainders:
            if x >= y:
                continue
            if k > 1 and self._levels[k - 2].covers_index(x):
                self._agg(x, y, k - 1, acc)
            elif self._raw.size and self._raw_first_index() <= x:
                self._agg_raw(x, y, acc)
            else:
                self._agg_partial(x, y, lvl, acc)

    def _agg_raw(self, ia: int, ib: int, acc: _Acc) -> None:
        first = self._raw_first_index()
        recs = self._raw.take(max(ia, first) - first, min(ib, self._total) - first)["rec"].view(self.dtype)
        if len(recs) == 0:
            return
        good = good_mask(recs)
        w = recs["w"][good]
        ng = len(w)
        acc.add(len(recs), ng, float(w.sum()) if ng else 0.0, float(w.min()) if ng else np.inf,
                float(w.max()) if ng else -np.inf, float(recs["t"][0]), float(recs["t"][-1]),
                np.bitwise_or.reduce(recs["flags"]))

    def _agg_partial(self, ia: int, ib: int, lvl: _Level, acc: _Acc) -> None:
        """Edge in data only this level still holds: bins count in proportion to the overlap."""
        acc.exact = False
        r = lvl.ring
        f = self._n_rows
        w = self._w_row
        i = max(r.search("s0", ia, "right") - 1, 0)
        j = r.search("s0", ib, "left")
        cands = [(int(r.get("s0", b)), lvl.bin_end(b), r.get("acc", b), float(r.get("lo", b)[w]),
                  float(r.get("hi", b)[w]), float(r.get("t0", b)), float(r.get("t1", b)), r.get("flags", b))
                 for b in range(i, j)]
        if lvl is self._levels[-1] and lvl.pending:
            ob = lvl.pending[0]
            start = int(ob["s0"][0])
            cands.append((start, start + int(ob["acc"][-1, 0]), ob["acc"][:, 0], float(ob["lo"][w, 0]),
                          float(ob["hi"][w, 0]), float(ob["t0"][0]), float(ob["t1"][0]), ob["flags"][0]))
        for start, end, a, lo_w, hi_w, t_a, t_b, flags in cands:
            lo_i, hi_i = max(start, ia), min(end, ib)
            if hi_i <= lo_i:
                continue
            frac = (hi_i - lo_i) / (end - start)
            step = (t_b - t_a) / max(end - start - 1, 1)  # samples taken as evenly spread
            acc.add(a[2 * f] * frac, a[f + w] * frac, a[w] * frac, lo_w, hi_w,
                    t_a + step * (lo_i - start), t_a + step * (hi_i - 1 - start), flags)
