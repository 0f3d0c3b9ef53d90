"""Drivers by name: the built-in ones plus those installed through entry points.

A third-party package adds a driver by declaring, in its own pyproject::

    [project.entry-points."station.instruments"]
    mymeter = "mypackage.mymeter:MyMeterDriver"

The name on the left is the name operators use (``station run --instrument mymeter``).
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points
from typing import Any

from instruments.base import ConfigurationError, Driver

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "station.instruments"

# Built-in drivers, imported lazily so that a broken optional dependency of one driver
# does not stop the others from loading.
BUILTIN: dict[str, str] = {
    "sim": "instruments.sim:SimulatedAnalyzer",
    "wt300e": "instruments.yokogawa:WT300E",
    "wt210": "instruments.yokogawa:WT210",
    "wt500": "instruments.yokogawa:WT500",
    "hmc8015": "instruments.rohde_schwarz:HMC8015",
    "gpm8213": "instruments.gwinstek:GPM8213",
    "lpm01a": "instruments.lpm01a:LPM01A",
    "ptd": "instruments.ptd:PTDaemon",
}

_registered: dict[str, type[Driver]] = {}
_load_errors: dict[str, str] = {}


def register(name: str, cls: type[Driver] | None = None):
    """Register ``cls`` under ``name``; usable as a decorator."""

    def _do(c: type[Driver]) -> type[Driver]:
        if not (isinstance(c, type) and issubclass(c, Driver)):
            raise TypeError(f"{c!r} is not a Driver subclass")
        _registered[name] = c
        return c

    return _do(cls) if cls is not None else _do


def _load_target(target: str) -> type[Driver]:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def available() -> dict[str, type[Driver]]:
    """Every driver that loads, by name. Drivers that fail to load are in :func:`load_errors`."""
    drivers: dict[str, type[Driver]] = {}
    for name, target in BUILTIN.items():
        try:
            drivers[name] = _load_target(target)
        except Exception as exc:  # a broken driver must not hide the others
            _load_errors[name] = f"{type(exc).__name__}: {exc}"
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in drivers:
            continue
        try:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Driver)):
                raise TypeError(f"{ep.value} is not a station Driver subclass")
            drivers[ep.name] = cls
        except Exception as exc:
            _load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
            log.warning("driver %s from %s failed to load: %s", ep.name, ep.value, exc)
    drivers.update(_registered)
    return drivers


def load_errors() -> dict[str, str]:
    return dict(_load_errors)


def driver_class(name: str) -> type[Driver]:
    drivers = available()
    if name not in drivers:
        known = ", ".join(sorted(drivers)) or "none"
        why = f" ({_load_errors[name]})" if name in _load_errors else ""
        raise ConfigurationError(f"no instrument driver named {name!r}{why}; known drivers: {known}")
    return drivers[name]


def create(name: str, resource: str | None = None, **options: Any) -> Driver:
    """A driver instance for ``name``, with a transport for ``resource`` if one is given."""
    cls = driver_class(name)
    transport = None
    if resource:
        from instruments.transports import open_transport

        transport = open_transport(resource, **options.pop("transport_options", {}))
    return cls(transport, **options)
