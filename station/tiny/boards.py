"""The boards of a Tiny energy run, opened the same way by ``station tiny`` and the window: the energy
monitor (which also sees the DUT's timestamp edges) and the interface board's serial link.

The N6705 logs energy but has no timestamp input, so it cannot pair windows with inferences and is
not a Tiny monitor here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MONITORS = ("lpm01a", "joulescope")
INTERFACE_BAUD = 115_200  # the host <-> interface board link (the DUT's own speed is --dut-baud)


class BoardError(ValueError):
    """A monitor setting the driver refuses; nothing was opened."""


def open_monitor(driver: str, port: str, options: dict[str, Any], voltage: float):
    """The energy monitor, not yet opened. ``lpm01a``: the serial port, energy mode, the DUT supply at
    ``voltage``. ``joulescope``: ``port`` is a serial number, ``jls:FILE`` or "" (the one connected);
    it measures the supply it is wired into (it does not set the voltage). ``options`` are driver
    settings as ``station run -o`` takes them, converted and checked here."""
    from instruments.base import ConfigurationError

    if driver not in MONITORS:
        raise BoardError(f"the Tiny procedure drives {', '.join(MONITORS)}, not {driver!r}")
    try:
        if driver == "joulescope":
            from instruments.joulescope import Joulescope
            from station.measurement.instruments import InstrumentSpec, SpecError, validated_options

            resource = port if port.startswith("jls:") else (f"joulescope:{port}" if port else "joulescope")
            try:
                converted = validated_options(InstrumentSpec("joulescope", resource, dict(options)))
            except SpecError as exc:
                raise BoardError(str(exc)) from None
            return Joulescope.from_resource(resource, **converted)
        from instruments.lpm01a import BAUDRATE, ENERGY_MODE_OPTIONS, LPM01A
        from instruments.transports.serial import SerialTransport

        return LPM01A(SerialTransport(port, baudrate=BAUDRATE, timeout=2.0),
                      **{**ENERGY_MODE_OPTIONS, "target_voltage_v": voltage, **options})
    except ConfigurationError as exc:
        raise BoardError(str(exc)) from None


def open_interface(port: str):
    """The interface board's link (commands end with ``%``), not yet opened."""
    from instruments.transports.serial import SerialTransport

    return SerialTransport(port, baudrate=INTERFACE_BAUD, write_termination="%", timeout=2.0)


def dataset_files(directory: Path) -> list[Path]:
    """The input files of a dataset directory, by name (hidden files left out)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
