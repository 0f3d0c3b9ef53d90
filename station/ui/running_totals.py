"""The running energy and charge accumulator since record start (no Qt here).

Like a bench meter's integrator: energy (∫P dt) and charge (∫I dt, from the rms current for
AC) with the mean, min and max power and the duration since the recording began. It is fed
on the GUI thread from the live store's newest samples, bounded by the first and last sample
the recording's journal holds, so its figures are those of the recorded samples. Energy uses
the same definition as the run summary and :meth:`LiveStore.stats`: the good power readings
times the update interval; bad samples (overrange, invalid) add nothing and are counted.
"""

from __future__ import annotations

import math

import numpy as np

from station.core.live_store import LiveStore
from station.core.samples import good_mask
from station.core.summary import bridged_energy

_MARGIN = 4096  # records asked beyond the count of new ones: appends may land in between


class RunningTotals:
    """Totals of the samples with ``t_start <= t`` (and ``t <= t_until`` of each feed)."""

    def __init__(self, interval_s: float, t_start: float) -> None:
        self.interval_s = float(interval_s)
        self.t_start = float(t_start)
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.samples = 0
        self.good = 0
        self.w_sum = 0.0
        self.a_sum = 0.0
        self.w_min = math.inf
        self.w_max = -math.inf
        self.missed = 0  # samples that left the live store's raw window before they were read
        self.running = True  # False once the recording ended: the figures stay as they were
        self._store: LiveStore | None = None
        self._seen = 0

    # -- figures ---------------------------------------------------------------------------------
    @property
    def energy_j(self) -> float:
        """Over the whole time since record start, as the run's summary computes it (bad samples and
        gaps bridged at the mean good power: station.core.summary.bridged_energy)."""
        total = bridged_energy(self.w_sum, self.good, self.interval_s, self.duration_s).total_j
        return 0.0 if total is None else total

    @property
    def charge_c(self) -> float:
        return self.a_sum * self.interval_s

    @property
    def mean_w(self) -> float | None:
        return self.w_sum / self.good if self.good else None

    @property
    def min_w(self) -> float | None:
        return self.w_min if self.good else None

    @property
    def max_w(self) -> float | None:
        return self.w_max if self.good else None

    @property
    def duration_s(self) -> float:
        if self.t_first is None or self.t_last is None:
            return 0.0
        return self.t_last - self.t_first + self.interval_s

    # -- feeding ---------------------------------------------------------------------------------
    def add(self, records: np.ndarray, t_until: float | None = None) -> int:
        """Add the records not seen yet (later than the last one added, from ``t_start`` on, up to
        ``t_until``); returns how many were added."""
        if not self.running or len(records) == 0:
            return 0
        t = records["t"]
        lo = self.t_start if self.t_last is None else self.t_last
        keep = (t >= lo) if self.t_last is None else (t > lo)
        if t_until is not None:
            keep &= t <= t_until
        sel = records[keep]
        n = len(sel)
        if n == 0:
            return 0
        if self.t_first is None:
            self.t_first = float(sel["t"][0])
        self.t_last = float(sel["t"][-1])
        self.samples += n
        good = good_mask(sel)
        ng = int(np.count_nonzero(good))
        if ng:
            w = sel["w"][good]
            self.good += ng
            self.w_sum += float(w.sum(dtype=np.float64))
            self.w_min = min(self.w_min, float(w.min()))
            self.w_max = max(self.w_max, float(w.max()))
            a = sel["a"][good].astype(np.float64)
            self.a_sum += float(np.nansum(a))
        return n

    def follow(self, store: LiveStore, t_until: float | None = None) -> int:
        """Add what ``store`` received since the last call (a new store is read from its start)."""
        if store is not self._store:
            self._store, self._seen = store, 0
        total = store.total_samples
        new = total - self._seen
        if new <= 0:
            return 0
        records = store.latest(new + _MARGIN)
        held_new = min(new, len(records))
        if self._seen and held_new < new:
            self.missed += new - held_new
        self._seen = total
        return self.add(records, t_until)

    def stop(self) -> None:
        """The recording ended: keep the figures as they are."""
        self.running = False
