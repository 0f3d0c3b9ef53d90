"""The sample record type, as the station's code knows it.

The record type is part of the driver contract, so it lives with the drivers in
:mod:`instruments.records`; this module re-exports it so station code keeps one import path.
"""

from instruments.records import (
    BAD_FLAGS,
    SAMPLE_DTYPE,
    Block,
    Flag,
    InstrumentEvent,
    channels_of,
    empty_block,
    good_mask,
    has_frequency,
    sample_dtype,
)

__all__ = [
    "BAD_FLAGS",
    "SAMPLE_DTYPE",
    "Block",
    "Flag",
    "InstrumentEvent",
    "channels_of",
    "empty_block",
    "good_mask",
    "has_frequency",
    "sample_dtype",
]
