"""Instrument drivers and the transports they talk through.

Every driver implements :class:`instruments.base.Driver`; drivers register by name in
:mod:`instruments.registry`, and third-party packages add theirs through the
``station.instruments`` entry-point group. The record type drivers produce is part of that
contract and importable from here (``from instruments import Block, Flag, sample_dtype``), so
a driver needs nothing from ``station``.
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
