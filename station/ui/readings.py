"""What the numeric panel shows, computed from the most recent samples (no Qt here).

Readings are averages over the last fraction of a second of good samples, so the digits
stay still enough to read across a bench; the flags are OR-ed over the same samples, so a
single overrange sample in that stretch still raises the alarm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from station.core.samples import Flag, good_mask

AVERAGE_S = 0.5  # the panel shows the mean of this much recent data
MAX_SAMPLES = 20000  # ... but never more samples than this per update


def samples_for(interval_s: float | None) -> int:
    if not interval_s or interval_s <= 0:
        return 1
    return int(max(1, min(MAX_SAMPLES, math.ceil(AVERAGE_S / interval_s))))


def _mean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else None


def _last_finite(x: np.ndarray) -> float | None:
    ok = np.flatnonzero(np.isfinite(x))
    return float(x[ok[-1]]) if len(ok) else None


@dataclass
class Readings:
    samples: int = 0
    good: int = 0
    w: float | None = None
    v: float | None = None
    a: float | None = None
    pf: float | None = None
    freq: float | None = None
    has_freq: bool = False
    v_range: float | None = None
    a_range: float | None = None
    auto_range: bool = False  # some range was under auto control (the records do not say which)
    v_auto: bool | None = None  # the voltage range is auto; None: not known apart from ``auto_range``
    a_auto: bool | None = None  # the current range is auto; None: likewise
    uncert: float | None = None  # relative, mean over good samples
    flags: int = 0
    overrange: int = 0
    invalid: int = 0  # invalid samples, including those taken while the meter switched range
    switching: int = 0  # samples taken while the meter switched range (invalid by nature, no alarm)
    switching_invalid: int = 0  # the invalid ones among them
    t_last: float | None = None
    channels_w: list[float | None] = field(default_factory=list)

    @property
    def uncert_w(self) -> float | None:
        if self.uncert is None or self.w is None:
            return None
        return abs(self.w) * self.uncert

    @property
    def range_changing(self) -> bool:
        return bool(self.flags & int(Flag.RANGE_CHANGE))

    @property
    def invalid_not_switching(self) -> int:
        """Invalid samples that a range switch does not explain: the ones worth an alarm."""
        return self.invalid - self.switching_invalid

    def voltage_auto(self) -> bool:
        return self.auto_range if self.v_auto is None else self.v_auto

    def current_auto(self) -> bool:
        return self.auto_range if self.a_auto is None else self.a_auto


def compute_readings(block: np.ndarray) -> Readings:
    """Readings from a block of records (oldest first)."""
    r = Readings()
    n = len(block)
    if n == 0:
        return r
    names = block.dtype.names
    good = good_mask(block)
    flags = block["flags"]
    r.samples = n
    r.good = int(np.count_nonzero(good))
    r.flags = int(np.bitwise_or.reduce(flags))
    r.overrange = int(np.count_nonzero(flags & int(Flag.OVERRANGE)))
    r.invalid = int(np.count_nonzero(flags & int(Flag.INVALID)))
    switching = (flags & int(Flag.RANGE_CHANGE)) != 0
    r.switching = int(np.count_nonzero(switching))
    r.switching_invalid = int(np.count_nonzero(switching & ((flags & int(Flag.INVALID)) != 0)))
    r.t_last = float(block["t"][-1])
    g = block[good] if r.good < n else block
    if r.good:
        r.w = _mean(g["w"])
        r.v = _mean(g["v"].astype(np.float64))
        r.a = _mean(g["a"].astype(np.float64))
        r.pf = _mean(g["pf"].astype(np.float64))
        r.uncert = _mean(g["uncert"].astype(np.float64))
        if "hz" in names:
            r.freq = _mean(g["hz"].astype(np.float64))
        if "ch_w" in names:
            cw = g["ch_w"].astype(np.float64)
            r.channels_w = [_mean(cw[:, i]) for i in range(cw.shape[1])]
    elif "v" in names:
        r.v = _mean(block["v"].astype(np.float64))  # voltage may still be valid in a current overrange
    if r.freq is None and "hz" in names:  # e.g. overrange: the frequency may still be measured
        r.freq = _mean(block["hz"].astype(np.float64))
    r.has_freq = "hz" in names
    r.v_range = _last_finite(block["v_range"].astype(np.float64))
    r.a_range = _last_finite(block["a_range"].astype(np.float64))
    r.auto_range = bool(flags[-1] & int(Flag.AUTO_RANGE))
    return r
