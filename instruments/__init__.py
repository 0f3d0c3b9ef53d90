"""Instrument drivers and the transports they talk through.

Every driver implements :class:`instruments.base.Driver`; drivers register by name in
:mod:`instruments.registry`, and third-party packages add theirs through the
``station.instruments`` entry-point group.
"""
