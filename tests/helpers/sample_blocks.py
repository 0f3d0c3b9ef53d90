"""Sample blocks built by hand, for tests of the data path."""

from __future__ import annotations

import numpy as np

from station.core.samples import SAMPLE_DTYPE, empty_block


def make_block(t0: float, n: int, interval: float, watts, *, flags=0, v=230.0, v_range=300.0,
               a_range=1.0, uncert=0.005, dtype=SAMPLE_DTYPE) -> np.ndarray:
    """A block of samples with given power (scalar or array), for tests of the data path."""
    b = empty_block(n, dtype)
    b["t"] = t0 + np.arange(n) * interval
    b["w"] = watts
    b["v"] = v
    b["a"] = np.asarray(watts) / v
    b["pf"] = 1.0
    b["v_range"] = v_range
    b["a_range"] = a_range
    b["uncert"] = uncert
    b["flags"] = flags
    b["hz"] = 50.0  # mains frequency (a NaN would make whole records compare unequal)
    return b


def missed_updates(data: np.ndarray, interval: float) -> int:
    """Updates of a meter between recorded samples that the poll loop did not read (a loaded
    machine): each shows as a step of several intervals on the steady time base."""
    steps = np.diff(data["t"])
    return int(np.sum(np.maximum(np.round(steps / interval) - 1, 0)))
