"""Energy per inference between two GPIO edges, as the MLCommons runner scores it.

The monitor delivers energy per sample (1 ms at 1 kHz). An edge is known to the sample it fell
in, so a window ``[start, stop)`` of sample indices is exact to one sample at each end: its
duration to +/- 1 sample interval per edge and its energy to +/- the energy of the sample at
each edge. The score is the median of the windows' energy per inference (µJ/inference);
streaming wakeword is scored by its one window's average power (mW).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TinyWindow:
    """One measured window: the N timed inferences of a trial between two GPIO edges."""

    trial: int
    start: int  # sample index of the first edge (first sample inside the window)
    stop: int  # sample index of the second edge (first sample after the window)
    inferences: int
    sample_interval_s: float
    energy_j: float  # sum of the samples in [start, stop), dropped samples left out
    edge_j: float  # energy of the samples at the two edges: the +/- 1 sample uncertainty
    dropped: int  # samples inside the window that are not numbers (partial tokens, lost data)

    @property
    def samples(self) -> int:
        return self.stop - self.start

    @property
    def duration_s(self) -> float:
        return self.samples * self.sample_interval_s

    @property
    def duration_uncertainty_s(self) -> float:
        return 2 * self.sample_interval_s

    @property
    def energy_uj(self) -> float:
        return self.energy_j * 1e6

    @property
    def uj_per_inference(self) -> float:
        return self.energy_uj / self.inferences if self.inferences > 0 else math.nan

    @property
    def uj_per_inference_uncertainty(self) -> float:
        return self.edge_j * 1e6 / self.inferences if self.inferences > 0 else math.nan

    @property
    def power_mw(self) -> float:
        return self.energy_j / self.duration_s * 1e3 if self.samples > 0 else math.nan

    def to_dict(self) -> dict:
        return {"trial": self.trial, "start_sample": self.start, "stop_sample": self.stop,
                "inferences": self.inferences, "duration_s": self.duration_s,
                "duration_uncertainty_s": self.duration_uncertainty_s, "energy_uj": self.energy_uj,
                "energy_uncertainty_uj": self.edge_j * 1e6, "uj_per_inference": self.uj_per_inference,
                "uj_per_inference_uncertainty": self.uj_per_inference_uncertainty, "power_mw": self.power_mw,
                "dropped_samples": self.dropped}


def measure_window(samples_j: np.ndarray, start: int, stop: int, inferences: int, sample_interval_s: float,
                   trial: int = 0) -> TinyWindow:
    """The window ``[start, stop)`` of ``samples_j`` (joules per sample). Indices outside the
    trace are clipped; the samples that are missing for that reason count as dropped."""
    n = len(samples_j)
    lo, hi = max(0, min(start, n)), max(0, min(stop, n))
    inside = np.asarray(samples_j[lo:hi], dtype=np.float64)
    bad = ~np.isfinite(inside)
    missing = max(0, stop - start) - len(inside)
    energy = float(inside[~bad].sum())
    edges = [samples_j[i] for i in (start - 1, start, stop - 1, stop) if 0 <= i < n and np.isfinite(samples_j[i])]
    # One sample of doubt at each edge: the larger neighbour on each side bounds it.
    edge_j = (max(edges[:2], default=0.0) + max(edges[2:], default=0.0)) if edges else 0.0
    return TinyWindow(trial, start, stop, inferences, sample_interval_s, energy, float(edge_j),
                      int(bad.sum()) + missing)


def median_uj_per_inference(windows: list[TinyWindow]) -> float:
    """The score: the median of the windows' µJ per inference (NaN without windows)."""
    values = [w.uj_per_inference for w in windows]
    return float(np.median(values)) if values else math.nan
