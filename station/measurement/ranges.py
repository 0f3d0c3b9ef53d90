"""The one range proposal: ranging maxima -> fixed testing ranges.

MLPerf Power (and the official power server) fixes the testing ranges from the ranging run:
the voltage range that holds the highest voltage seen, and the current range that holds
``current_headroom`` (1.1) x the highest current, each rounded up to a range the analyzer has.
The procedure (``station measure``, the window's guide), the director (``station serve``) and
the kiosk all ask this module, so the same load gets the same ranges whichever front end
measured it.

Which readings count: the good ones (no overrange or invalid flag, finite power: what the
meter judged against its range), per element when the analyzer has several (a range applies
to each element, so the highest element reading counts, not the sum). Overranged samples are
left out of the maxima but counted, and the proposal says the true maximum may be higher.

:class:`RangingMaxima` is fed blocks as they arrive (the director's and the kiosk's sinks) or a
whole journal at once (the procedure); :func:`propose_ranges` turns it into a
:class:`RangeProposal`.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass

import numpy as np

from station.core.samples import Flag, good_mask

DEFAULT_HEADROOM = 1.1  # the rule sets' current_headroom when none is given


@dataclass
class RangeProposal:
    """Fixed testing ranges for one instrument, and why (or why none can be proposed)."""

    inst: str
    voltage: float
    current: float
    max_volts: float
    max_amps: float
    why: str
    problem: str | None = None
    headroom: float = DEFAULT_HEADROOM

    def to_dict(self) -> dict:
        return asdict(self)


class RangingMaxima:
    """Largest good voltage and current of a ranging run, fed block by block (thread-safe)."""

    def __init__(self) -> None:
        self.volts = -math.inf
        self.amps = -math.inf
        self.samples = 0
        self.good = 0
        self.overrange = 0
        self._lock = threading.Lock()

    def __call__(self, records: np.ndarray) -> None:
        self.add(records)

    def add(self, records: np.ndarray) -> None:
        if not len(records):
            return
        good = good_mask(records)
        multi = "ch_a" in records.dtype.names
        v = records["ch_v" if multi else "v"][good]
        a = records["ch_a" if multi else "a"][good]
        v = v[np.isfinite(v)]
        a = a[np.isfinite(a)]
        over = int(np.count_nonzero(records["flags"] & int(Flag.OVERRANGE)))
        with self._lock:
            self.samples += len(records)
            self.good += int(np.count_nonzero(good))
            self.overrange += over
            if v.size:
                self.volts = max(self.volts, float(v.max()))
            if a.size:
                self.amps = max(self.amps, float(a.max()))

    @property
    def found(self) -> bool:
        return math.isfinite(self.volts) and math.isfinite(self.amps) and self.volts > 0 and self.amps > 0


def propose_ranges(description, maxima: RangingMaxima, inst: str = "inst0",
                   headroom: float = DEFAULT_HEADROOM) -> RangeProposal:
    """Fixed ranges for testing from the ranging maxima of one instrument.

    ``description`` is the driver's :class:`instruments.base.Description`. The proposal has a
    ``problem`` (and NaN ranges) when the ranging run gave no good reading, and a ``problem``
    with the largest ranges when even they cannot hold the load.
    """
    headroom = float(headroom)
    nan = float("nan")
    if not maxima.found:
        why = ("every ranging sample was overrange" if maxima.samples and maxima.overrange == maxima.samples
               else "no valid voltage or current in the ranging run")
        return RangeProposal(inst, nan, nan, nan, nan, "", f"{why}; repeat ranging", headroom)
    vmax, amax = maxima.volts, maxima.amps
    target = amax * headroom
    vr = description.round_up_range("voltage", vmax)
    ar = description.round_up_range("current", target)
    why = (f"largest voltage {vmax:.6g} V -> next range {vr:g} V; {headroom:g} x largest current "
           f"{amax:.6g} A = {target:.6g} A -> next range {ar:g} A")
    problem = None
    if vmax > vr or target > ar:
        problem = (f"the analyzer's largest ranges ({description.voltage_ranges[-1]:g} V, "
                   f"{description.current_ranges[-1]:g} A) cannot hold this load; use another analyzer or shunt")
    if maxima.overrange:
        why += (f" (the analyzer overranged in {maxima.overrange} ranging samples: the true maximum may be "
                "higher)")
    return RangeProposal(inst, vr, ar, vmax, amax, why, problem, headroom)


def headroom_of(rules) -> float:
    """The rule set's ``current_headroom`` (1.1 when the rule set has none)."""
    if rules is None:
        return DEFAULT_HEADROOM
    value = rules.get("current_headroom", DEFAULT_HEADROOM)
    return DEFAULT_HEADROOM if value is None else float(value)
