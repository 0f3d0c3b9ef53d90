"""Several analyzers at once: their samples aligned in time and summed into the system total.

Each instrument keeps its own samples (one file per instrument in the journal). The system
total is built on the time steps of the instrument with the longest update interval: every
sample of every instrument goes to the step its middle falls in (so two meters on the same
interval, started a fraction of a step apart, pair up sample by sample), a step's power per
instrument is the mean of its samples there, and the total is the sum over instruments. A step
where any instrument has no sample, or a bad one (overrange, invalid), has no valid total
(INVALID), because the system's power is not known then; like the MLCommons merge of several
analyzers, volts, amps and power factor of the total are unknown (NaN). The relative
uncertainty of the total is the sum of the instruments' absolute uncertainties over the total
(worst case), unknown when any is unknown.
"""

from __future__ import annotations

import numpy as np

from station.core.samples import BAD_FLAGS, SAMPLE_DTYPE, Flag, empty_block, good_mask

_CARRY = 0xFFFF  # every flag of an instrument shows on the total


def system_total(streams: list[tuple[np.ndarray, float]]) -> tuple[np.ndarray, float]:
    """(records, interval_s) per instrument -> (total records, interval of the total).

    With one instrument its records are returned as they are (base fields).
    """
    if not streams:
        raise ValueError("no instrument to sum")
    if len(streams) == 1:
        data, dt = streams[0]
        return np.asarray(data), float(dt)
    dt = max(float(i) for _, i in streams)
    firsts = [float(d["t"][0]) + i / 2 for d, i in streams if len(d)]
    lasts = [float(d["t"][-1]) + i / 2 for d, i in streams if len(d)]
    if len(firsts) < len(streams):
        return empty_block(0), dt
    t0 = min(float(d["t"][0]) for d, _ in streams)
    first_step = int(np.floor((max(firsts) - t0) / dt))
    last_step = int(np.floor((min(lasts) - t0) / dt))
    n = last_step - first_step + 1
    if n <= 0:
        return empty_block(0), dt
    total = empty_block(n, SAMPLE_DTYPE)
    total["t"] = t0 + (first_step + np.arange(n)) * dt
    w_sum = np.zeros(n)
    abs_u = np.zeros(n)
    ok = np.ones(n, dtype=bool)
    flags = np.zeros(n, dtype=np.uint16)
    for data, interval in streams:
        data = np.asarray(data)
        step = np.floor((data["t"] + interval / 2 - t0) / dt).astype(np.int64) - first_step
        inside = (step >= 0) & (step < n)
        step, data = step[inside], data[inside]
        good = good_mask(data)
        count = np.bincount(step, minlength=n)
        n_good = np.bincount(step[good], minlength=n)
        bad = np.bincount(step[(data["flags"] & int(BAD_FLAGS)) != 0], minlength=n)
        w = np.bincount(step[good], weights=data["w"][good], minlength=n)
        u_w = np.where(np.isfinite(data["uncert"]), data["uncert"] * np.abs(data["w"]), np.nan)
        uw = np.bincount(step[good], weights=u_w[good], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_w = w / n_good
            mean_uw = uw / n_good
        ok &= (count > 0) & (bad == 0) & (n_good == count)
        w_sum += np.where(n_good > 0, mean_w, 0.0)
        abs_u += mean_uw
        np.bitwise_or.at(flags, step, (data["flags"] & _CARRY).astype(np.uint16))
        flags[count == 0] |= int(Flag.GAP_BEFORE)
    flags[~ok] |= int(Flag.INVALID)
    total["w"] = np.where(ok, w_sum, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        total["uncert"] = np.where(ok & np.isfinite(abs_u), abs_u / np.abs(w_sum), np.nan)
    total["flags"] = flags
    return total, dt
