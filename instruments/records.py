"""The sample record type: the one shape data has on its way from a driver to disk and screen.

Samples travel as numpy structured arrays ("blocks"), never as one Python object per
sample. Single-channel instruments use :data:`SAMPLE_DTYPE`; multi-element analyzers add
per-channel sub-arrays through :func:`sample_dtype`.

This module is part of the driver contract: a driver (built in or installed through the
``station.instruments`` entry points) builds its blocks from what is here, importable as
``from instruments import Block, Flag, sample_dtype``, and needs nothing from ``station``.
The station reads the same names through :mod:`station.core.samples`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag

import numpy as np


class Flag(IntFlag):
    """Per-sample status bits. A sample with INVALID or OVERRANGE never enters an average."""

    OVERRANGE = 1  # reading above the range's limit (meter shows -OL-)
    INVALID = 2  # no data / NaN / error code: the numbers are not a measurement
    RANGE_CHANGE = 4  # the meter was switching range while this sample was taken
    GAP_BEFORE = 8  # samples are missing between the previous sample and this one
    CLIPPED = 16  # the value was limited by the meter's input (true value is larger)
    MARK = 32  # a GPIO / event edge coincides with this sample
    AUTO_RANGE = 64  # ranges were under auto control (uncertainty not assured)


BAD_FLAGS = Flag.OVERRANGE | Flag.INVALID

_BASE_FIELDS: list[tuple] = [
    ("t", "<f8"),  # UTC seconds since the epoch
    ("w", "<f8"),  # active power, watts (float64: microwatts to kilowatts without loss)
    ("v", "<f4"),  # rms volts
    ("a", "<f4"),  # rms amps
    ("pf", "<f4"),  # power factor (lambda)
    ("v_range", "<f4"),  # voltage range in force, volts (NaN = unknown)
    ("a_range", "<f4"),  # current range in force, amps (NaN = unknown)
    ("uncert", "<f4"),  # relative uncertainty of w (0.01 == 1 %), NaN = unknown
    ("flags", "<u2"),
    # Added after the first journals were written (a record type is stored with every journal,
    # so older runs keep theirs and simply have no frequency): fundamental frequency of the
    # voltage, Hz; NaN when unknown or DC.
    ("hz", "<f4"),
]


def sample_dtype(channels: int = 1) -> np.dtype:
    """Record type for an instrument with ``channels`` measuring elements.

    The base fields always hold the total (sum of elements for power and current, mean of
    voltage); instruments with more than one element carry the per-element values as well.
    """
    if channels < 1:
        raise ValueError("an instrument has at least one channel")
    fields = list(_BASE_FIELDS)
    if channels > 1:
        fields += [
            ("ch_w", "<f4", (channels,)),
            ("ch_v", "<f4", (channels,)),
            ("ch_a", "<f4", (channels,)),
            ("ch_pf", "<f4", (channels,)),
        ]
    return np.dtype(fields)


SAMPLE_DTYPE = sample_dtype(1)


def has_frequency(dtype: np.dtype) -> bool:
    """Whether a record type carries the frequency (records of older journals do not)."""
    return "hz" in (dtype.names or ())


def channels_of(dtype: np.dtype) -> int:
    """Number of measuring elements a record type carries."""
    if "ch_w" in dtype.names:
        return int(dtype["ch_w"].shape[0])
    return 1


def empty_block(n: int, dtype: np.dtype = SAMPLE_DTYPE) -> np.ndarray:
    """A block of ``n`` samples with every quantity unknown and no flags."""
    block = np.zeros(n, dtype=dtype)
    for name in dtype.names:
        if name not in ("t", "flags"):
            block[name] = np.nan
    return block


def good_mask(block: np.ndarray) -> np.ndarray:
    """Samples that may enter an average: no bad flag and a finite power."""
    return ((block["flags"] & int(BAD_FLAGS)) == 0) & np.isfinite(block["w"])


@dataclass(frozen=True)
class InstrumentEvent:
    """Something an instrument reported beside its samples (GPIO edge, buffer level, error)."""

    t: float  # UTC seconds
    kind: str  # e.g. "gpio", "range", "buffer", "error", "gap"
    detail: dict = field(default_factory=dict)


@dataclass
class Block:
    """What a driver hands over per read: samples and the events that came with them."""

    samples: np.ndarray
    events: list[InstrumentEvent] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)
