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

    Energy is the integral of power over the run's whole duration (the first sample's interval
    to the end of the last one's); see :func:`bridged_energy`. Averages, minima and maxima use
    good samples only; bad ones (overrange, invalid) are counted, so the reader can see how
    much of the run is covered.
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
        ``energy_j``) plus counts that tell how trustworthy they are (``coverage``,
        ``energy_bridged_j``). Unknown values are None: a run without one good sample has no
        energy (``energy_j`` None, ``coverage`` 0)."""
        has = self.good > 0
        energy = bridged_energy(self.w_sum, self.good, self.interval_s, self.duration_s)
        return {
            "samples": self.samples,
            "duration_s": round(self.duration_s, 6),
            "avg_w": self.w_sum / self.good if has else None,
            "min_w": self.w_min if has else None,
            "max_w": self.w_max if has else None,
            "energy_j": energy.total_j,
            "energy_measured_j": energy.measured_j,
            "energy_bridged_j": energy.bridged_j,
            "coverage": energy.coverage,
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


@dataclass(frozen=True)
class Energy:
    total_j: float | None  # over the whole duration
    measured_j: float | None  # good samples x interval
    bridged_j: float | None  # the time without a good sample, at the mean good power
    coverage: float  # fraction of the duration covered by good samples (0..1)


def bridged_energy(w_sum: float, good: int, interval_s: float, duration_s: float) -> Energy:
    """Energy over the whole ``duration_s`` from the good samples' power sum.

    Every good sample of a power analyzer is the average over its interval, so it contributes
    power x interval. Time without a good sample (overrange or invalid samples, gaps where
    nothing arrived) is bridged at the mean good power, so the energy is that of the whole
    duration and the bridged share is said (``bridged_j``, ``coverage``). The live store's
    region statistics use the same definition, so what the window shows and what the summary
    says agree. No good sample: no energy (None).
    """
    if good <= 0 or duration_s <= 0:
        return Energy(None, None, None, 0.0)
    measured = w_sum * interval_s
    covered = min(duration_s, good * interval_s)
    mean = w_sum / good
    bridged = mean * (duration_s - covered)
    return Energy(measured + bridged, measured, bridged, round(covered / duration_s, 6))


def overrange_throughout(summary: dict) -> str | None:
    """A sentence when no sample of the run can be used (every one overrange or invalid), else None."""
    if not summary.get("samples") or summary.get("good_samples"):
        return None
    n = summary["samples"]
    if summary.get("overrange_samples") == n:
        return (f"the run was overrange throughout: all {n} samples were above the range in force, so it has no "
                "power or energy figure; use a larger (or auto) range")
    return (f"no usable sample in the run: {summary.get('overrange_samples', 0)} overrange and "
            f"{summary.get('invalid_samples', 0)} invalid of {n}; it has no power or energy figure")


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
        f"duration    {summary['duration_s']:.3f} s"
        + (f"  ({summary['marks']} GPIO marks)" if summary.get("marks") else "")
        + (f"  ({summary['operator_marks']} operator marks)" if summary.get("operator_marks") else ""),
        f"average     {watts(summary['avg_w'])}",
        f"minimum     {watts(summary['min_w'])}",
        f"maximum     {watts(summary['max_w'])}",
    ]
    energy = summary.get("energy_j")
    if energy is None:
        lines.append("energy      none: no good sample in the run")
    else:
        coverage = summary.get("coverage")
        extra = ""
        if coverage is not None and coverage < 0.9995:
            extra = (f"  ({coverage * 100:.1f} % of the time measured; {summary.get('energy_bridged_j') or 0.0:.6g} J "
                     "bridged over bad samples and gaps at the mean power)")
        lines.append(f"energy      {energy:.6g} J{extra}")
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
