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

from instruments.base import ConfigurationError, Driver, takes_transport_forms

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
    "prometheus": "instruments.prometheus:PrometheusSeries",
    "redfish": "instruments.redfish:RedfishPower",
    "joulescope": "instruments.joulescope:Joulescope",
    "n6705": "instruments.n6705:N6705",
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
    """A driver instance for ``name`` on ``resource`` (None: none), built by the driver class.

    ConfigurationError when the driver does not take that form of resource (the message says
    which forms it takes and which installed drivers take this one); what the driver's
    :meth:`~instruments.base.Driver.from_resource` raises otherwise.
    """
    cls = driver_class(name)
    if resource and not cls.claims(resource):
        raise ConfigurationError(not_taken_message(name, cls, resource))
    return cls.from_resource(resource, **options)


def resource_help(cls: type[Driver]) -> str:
    """The resource forms a driver takes, for help text: examples, or that it needs none."""
    if cls.resource_forms:
        return ", ".join(cls.resource_forms)
    if "none" in cls.description.transports:
        return "no resource"
    return "resources of its transports: " + ", ".join(cls.description.transports)


def claimants(resource: str) -> list[str]:
    """Names of the loaded drivers that take ``resource``, sorted."""
    found = []
    for name, cls in available().items():
        try:
            if cls.claims(resource):
                found.append(name)
        except Exception as exc:  # a plug-in's claims() must not break the others
            log.warning("driver %s failed to judge the resource %r: %s", name, resource, exc)
    return sorted(found)


def not_taken_message(name: str, cls: type[Driver], resource: str) -> str:
    """Why ``name`` cannot use ``resource``: the forms it takes, and which drivers take this one."""
    from instruments.transports.factory import unrecognised

    others = [n for n in claimants(resource) if n != name]
    if not others and takes_transport_forms(cls):
        return unrecognised(resource)  # no driver takes it: the transports' own reason says most
    text = f"the {name} driver does not take the resource {resource!r}; it takes {resource_help(cls)}"
    if others:
        text += f". Drivers that take it: {', '.join(others)} (--instrument {others[0]})"
    return text
