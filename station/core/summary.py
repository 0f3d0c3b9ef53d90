"""Run summaries: samples, duration, average / min / max power and energy.

One definition serves live runs (accumulated block by block in :class:`PowerAccumulator`)
and recorded runs (the same accumulator fed from the journal in chunks), so the summary
printed at the end of a run and the one printed after recovery agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from station.core.samples import Flag, good_mask

CHUNK = 1 << 20
GAP_FACTOR = 3.0  # a timestamp step above 3 update intervals is a gap


@dataclass
class PowerAccumulator:
    """Running totals over sample blocks. Memory does not depend on run length.

    Energy is the sum of good power readings times the nominal update interval: every sample
    of a power analyzer is the average over its interval. Bad samples (overrange, invalid)
    add no energy and are counted, so the reader can see how much of the run is covered.
    """

    interval_s: float
    samples: int = 0
    good: int = 0
    overrange: int = 0
    invalid: int = 0
    gaps: int = 0
    marks: int = 0
    t_first: float = math.nan
    t_last: float = math.nan
    w_sum: float = 0.0
    w_min: float = math.inf
    w_max: float = -math.inf
    uncert_known: int = 0
    uncert_sum: float = 0.0
    uncert_max: float = 0.0
    uncert_over_1pct: int = 0

    def add(self, block: np.ndarray) -> None:
        n = len(block)
        if n == 0:
            return
        t = block["t"]
        flags = block["flags"]
        prev = float(t[0]) if self.samples == 0 else self.t_last
        if self.samples == 0:
            self.t_first = float(t[0])
        steps = np.diff(t, prepend=prev)
        self.gaps += int(np.count_nonzero((steps > GAP_FACTOR * self.interval_s)
                                          | ((flags & int(Flag.GAP_BEFORE)) != 0)))
        self.t_last = float(t[-1])
        self.samples += n
        self.overrange += int(np.count_nonzero(flags & int(Flag.OVERRANGE)))
        self.invalid += int(np.count_nonzero(flags & int(Flag.INVALID)))
        self.marks += int(np.count_nonzero(flags & int(Flag.MARK)))
        good = good_mask(block)
        ng = int(np.count_nonzero(good))
        if ng:
            w = block["w"][good]
            self.good += ng
            self.w_sum += float(np.sum(w, dtype=np.float64))
            self.w_min = min(self.w_min, float(w.min()))
            self.w_max = max(self.w_max, float(w.max()))
            u = block["uncert"][good]
            known = np.isfinite(u)
            nk = int(np.count_nonzero(known))
            if nk:
                uk = u[known]
                self.uncert_known += nk
                self.uncert_sum += float(np.sum(uk, dtype=np.float64))
                self.uncert_max = max(self.uncert_max, float(uk.max()))
                self.uncert_over_1pct += int(np.count_nonzero(uk > 0.01))

    @property
    def duration_s(self) -> float:
        if self.samples == 0:
            return 0.0
        return self.t_last - self.t_first + self.interval_s

    def summary(self) -> dict:
        """The summary keys (``samples``, ``duration_s``, ``avg_w``, ``min_w``, ``max_w``,
        ``energy_j``) plus counts that tell how trustworthy they are. Unknown values are None."""
        has = self.good > 0
        return {
            "samples": self.samples,
            "duration_s": round(self.duration_s, 6),
            "avg_w": self.w_sum / self.good if has else None,
            "min_w": self.w_min if has else None,
            "max_w": self.w_max if has else None,
            "energy_j": self.w_sum * self.interval_s,
            "interval_s": self.interval_s,
            "good_samples": self.good,
            "overrange_samples": self.overrange,
            "invalid_samples": self.invalid,
            "gaps": self.gaps,
            "marks": self.marks,
            "t_first": None if self.samples == 0 else self.t_first,
            "t_last": None if self.samples == 0 else self.t_last,
            "uncertainty_known_samples": self.uncert_known,
            "uncertainty_avg": self.uncert_sum / self.uncert_known if self.uncert_known else None,
            "uncertainty_max": self.uncert_max if self.uncert_known else None,
            "uncertainty_over_1pct_samples": self.uncert_over_1pct,
        }


def summarize_records(records: np.ndarray, interval_s: float) -> dict:
    """Summary of an array of records (e.g. a journal memmap), read in bounded chunks."""
    acc = PowerAccumulator(interval_s)
    for start in range(0, len(records), CHUNK):
        acc.add(np.asarray(records[start : start + CHUNK]))
    return acc.summary()


def format_summary(summary: dict) -> str:
    """The human-readable summary printed by ``station run`` and ``station recover``."""

    def watts(x: float | None) -> str:
        if x is None:
            return "n/a"
        ax = abs(x)
        for scale, unit in ((1e3, "kW"), (1.0, "W"), (1e-3, "mW"), (1e-6, "µW")):
            if ax >= scale:
                return f"{x / scale:.4f} {unit}"
        return f"{x * 1e9:.4f} nW"

    lines = []
    if "run_dir" in summary:
        lines.append(f"run         {summary['run_dir']}  ({summary.get('state', '')})")
    lines += [
        f"samples     {summary['samples']}  ({summary['good_samples']} good, "
        f"{summary['overrange_samples']} overrange, {summary['invalid_samples']} invalid, "
        f"{summary['gaps']} gaps)",
        f"duration    {summary['duration_s']:.3f} s",
        f"average     {watts(summary['avg_w'])}",
        f"minimum     {watts(summary['min_w'])}",
        f"maximum     {watts(summary['max_w'])}",
        f"energy      {summary['energy_j']:.6g} J",
    ]
    if summary.get("uncertainty_avg") is not None:
        lines.append(
            f"uncertainty avg {summary['uncertainty_avg'] * 100:.3f} %, max "
            f"{summary['uncertainty_max'] * 100:.3f} %, "
            f"{summary['uncertainty_over_1pct_samples']} samples above 1 %"
        )
    else:
        lines.append("uncertainty unknown (auto ranges or no accuracy model)")
    for jump in summary.get("clock_jumps") or []:
        lines.append(f"CLOCK JUMP  {jump['message']}")
    return "\n".join(lines)
