"""The run monitor: live checks on every block, so problems are seen while they happen.

It keeps the run's running totals (the same :class:`PowerAccumulator` the final summary
uses) and turns conditions into events: the first overrange and invalid sample of a stretch,
gaps in the timestamps, uncertainty above the limit, range changes. Events go to a callback
(the recorder writes them to the journal; the GUI shows them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from station.core.samples import Flag
from station.core.summary import GAP_FACTOR, PowerAccumulator

EventSink = Callable[..., None]  # sink(kind, t=..., **detail)


@dataclass(frozen=True)
class MonitorLimits:
    """Thresholds of the live checks. Rule sets (MLPerf Inference, Tiny, ...) fill these."""

    gap_factor: float = GAP_FACTOR  # a timestamp step above gap_factor x interval is a gap
    max_uncertainty: float = 0.01  # relative; MLPerf Inference: 1 %
    min_duration_s: float = 0.0


class RunMonitor:
    """Live checks for one instrument's sample stream. Fed from the acquisition thread."""

    def __init__(
        self,
        inst_id: str,
        interval_s: float,
        on_event: EventSink | None = None,
        limits: MonitorLimits | None = None,
    ) -> None:
        self.inst_id = inst_id
        self.interval_s = interval_s
        self.limits = limits or MonitorLimits()
        self.on_event = on_event or (lambda *a, **k: None)
        self.acc = PowerAccumulator(interval_s)
        self._lock = threading.Lock()
        self._last_t: float | None = None
        self._in_overrange = False
        self._in_invalid = False
        self._in_uncert = False
        self._last_ranges: tuple[float, float] | None = None
        self.missing_samples = 0  # estimated from timestamp gaps

    def write(self, samples: np.ndarray) -> None:
        if len(samples) == 0:
            return
        with self._lock:
            self.acc.add(samples)
            self._check_gaps(samples)
            self._check_flag_runs(samples)
            self._check_ranges(samples)
            self._check_uncertainty(samples)
            self._last_t = float(samples["t"][-1])

    def snapshot(self) -> dict:
        """Everything the status displays need, computed without touching the samples again."""
        with self._lock:
            s = self.acc.summary()
            s["missing_samples"] = self.missing_samples
            s["in_overrange"] = self._in_overrange
            s["in_invalid"] = self._in_invalid
            return s

    # -- checks ------------------------------------------------------------------------------
    def _emit(self, kind: str, t: float, **detail) -> None:
        self.on_event(kind, t=t, instrument=self.inst_id, **detail)

    def _check_gaps(self, samples: np.ndarray) -> None:
        t = samples["t"]
        first = self._last_t if self._last_t is not None else float(t[0])
        prev = np.concatenate(([first], t[:-1]))
        steps = t - prev
        is_gap = (steps > self.limits.gap_factor * self.interval_s) | (
            (samples["flags"] & int(Flag.GAP_BEFORE)) != 0
        )
        for i in np.flatnonzero(is_gap):
            length = float(steps[i])
            missing = max(0, int(round(length / self.interval_s)) - 1)
            self.missing_samples += missing
            self._emit("gap", float(t[i]), start=float(prev[i]), length_s=length, missing_samples=missing)

    def _check_flag_runs(self, samples: np.ndarray) -> None:
        flags = samples["flags"]
        t = samples["t"]
        for bit, attr, kind in (
            (Flag.OVERRANGE, "_in_overrange", "overrange"),
            (Flag.INVALID, "_in_invalid", "invalid"),
        ):
            on = (flags & int(bit)) != 0
            if not on.any() and not getattr(self, attr):
                continue
            state = getattr(self, attr)
            # Transitions inside the block, with the carried state in front.
            seq = np.concatenate(([state], on))
            changes = np.flatnonzero(seq[1:] != seq[:-1])
            for i in changes:
                if on[i]:
                    self._emit(kind, float(t[i]), state="begin")
                else:
                    self._emit(kind, float(t[i]), state="end")
            setattr(self, attr, bool(on[-1]))

    def _check_ranges(self, samples: np.ndarray) -> None:
        vr = samples["v_range"]
        ar = samples["a_range"]
        if self._last_ranges is None:
            self._last_ranges = (float(vr[0]), float(ar[0]))
        pairs = np.concatenate(([self._last_ranges], np.stack([vr, ar], axis=1)))
        a, b = pairs[:-1], pairs[1:]
        diff = np.any((a != b) & ~(np.isnan(a) & np.isnan(b)), axis=1)
        for i in np.flatnonzero(diff):
            self._emit(
                "range", float(samples["t"][i]),
                voltage=_num(b[i, 0]), current=_num(b[i, 1]),
                previous_voltage=_num(a[i, 0]), previous_current=_num(a[i, 1]),
            )
        self._last_ranges = (float(vr[-1]), float(ar[-1]))

    def _check_uncertainty(self, samples: np.ndarray) -> None:
        u = samples["uncert"]
        over = np.isfinite(u) & (u > self.limits.max_uncertainty)
        if over.any() and not self._in_uncert:
            i = int(np.flatnonzero(over)[0])
            self._emit("uncertainty", float(samples["t"][i]), state="begin", value=float(u[i]),
                       limit=self.limits.max_uncertainty)
            self._in_uncert = True
        elif self._in_uncert and not over[-1] and np.isfinite(u[-1]):
            self._emit("uncertainty", float(samples["t"][-1]), state="end", value=float(u[-1]),
                       limit=self.limits.max_uncertainty)
            self._in_uncert = False


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def power_sums(snapshots: list[dict]) -> list[tuple[float, int]]:
    """Per instrument: (sum of good power readings, good samples) so far, from monitor snapshots."""
    return [((s.get("avg_w") or 0.0) * s.get("good_samples", 0), s.get("good_samples", 0)) for s in snapshots]


def average_since(base: list[tuple[float, int]], snapshots: list[dict]) -> float | None:
    """Total power (instruments summed) averaged over the samples since ``base`` (:func:`power_sums`)."""
    total = 0.0
    for (w0, n0), (w1, n1) in zip(base, power_sums(snapshots), strict=True):
        if n1 <= n0:
            return None
        total += (w1 - w0) / (n1 - n0)
    return total
