"""Instruments from a spec: one grammar, one validation, one function that opens them.

An :class:`InstrumentSpec` says which driver, where the instrument is (``resource``), the
driver's options (``-o key=value``), and how to acquire (update interval, crest factor, mode,
ranges). :func:`open_instrument` validates it against the driver's declared description and
settings and returns an :class:`~station.core.acquisition.InstrumentSession` (not yet
connected). ``station run``, ``station measure``, ``station serve``, the window, the guide
and the kiosk all build their instruments here, so a bad option reads the same everywhere.

The command line writes one spec as ``--instrument NAME [--resource R] [-o key=value ...]``
(the option group repeats for several instruments); ``measure`` also takes the compact
``DRIVER[,key=value...]`` form with ``resource=`` and ``id=`` keys (:func:`parse_compact`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from instruments.base import AUTO, Config, ConfigurationError, RangeValue


class SpecError(ValueError):
    """A spec the station cannot use (unknown driver, bad option, missing resource, bad interval)."""


@dataclass
class InstrumentSpec:
    """Which instrument, where, with which driver options and acquisition settings."""

    driver: str
    resource: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    interval_s: float | None = None  # None: the driver's default update interval
    crest_factor: float = 3.0
    mode: str = "rms"
    voltage_range: RangeValue = AUTO
    current_range: RangeValue = AUTO

    def to_dict(self) -> dict:
        return asdict(self)


def driver_class(name: str):
    """The registered driver class called ``name``; SpecError naming the known ones otherwise."""
    from instruments import registry

    try:
        return registry.driver_class(name)
    except ConfigurationError as exc:
        raise SpecError(str(exc)) from None


def validated_options(spec: InstrumentSpec) -> dict[str, Any]:
    """The spec's driver options converted and checked by the driver's declared settings."""
    desc = driver_class(spec.driver).description
    options = dict(spec.options)
    names = {s.name for s in desc.settings}
    for key in list(options):
        if key in names:
            try:
                options[key] = desc.setting(key).validate(options[key])
            except ConfigurationError as exc:
                raise SpecError(f"{spec.driver}: {exc}") from None
    return options


def interval_for(spec: InstrumentSpec, interval_s: float | None = None) -> float:
    """The update interval to use: ``interval_s`` (a rule set's), the spec's, or the driver's default."""
    desc = driver_class(spec.driver).description
    interval = interval_s if interval_s is not None else spec.interval_s
    if interval is None:
        try:
            interval = float(desc.setting("update_interval_s").default)
        except KeyError:
            interval = max(desc.fastest_interval_s, min(1.0, desc.slowest_interval_s))
    if not desc.fastest_interval_s * (1 - 1e-9) <= interval <= desc.slowest_interval_s * (1 + 1e-9):
        raise SpecError(f"{spec.driver} updates every {desc.fastest_interval_s:g} s to "
                        f"{desc.slowest_interval_s:g} s; {interval:g} s is outside that")
    return float(interval)


def check_spec(spec: InstrumentSpec, interval_s: float | None = None) -> tuple[dict[str, Any], float]:
    """Validate without opening anything: (driver options, update interval); SpecError otherwise."""
    from instruments import registry

    cls = driver_class(spec.driver)
    if "none" not in cls.description.transports and not spec.resource:
        raise SpecError(f"{spec.driver} needs a resource ({registry.resource_help(cls)})")
    return validated_options(spec), interval_for(spec, interval_s)


def open_instrument(spec: InstrumentSpec, inst_id: str | None = None, *, interval_s: float | None = None,
                    **session_options: Any):
    """A session for ``spec`` (driver created, nothing sent yet); SpecError for a bad spec.

    ``interval_s`` overrides the spec's update interval (a rule set's sample interval).
    ``session_options`` go to :class:`InstrumentSession` (stall timeout, reconnect interval).
    """
    from instruments import registry
    from station.core.acquisition import InstrumentSession

    options, interval = check_spec(spec, interval_s)
    try:
        driver = registry.create(spec.driver, spec.resource, **options)
    except (ConfigurationError, ValueError) as exc:
        raise SpecError(f"{spec.driver}: {exc}") from None
    config = Config(update_interval_s=interval, crest_factor=spec.crest_factor, mode=spec.mode)
    return InstrumentSession(inst_id or spec.id or "inst0", driver, config, spec.voltage_range,
                             spec.current_range, **session_options)


def parse_compact(text: str) -> InstrumentSpec:
    """``DRIVER[,key=value...]`` with ``resource=`` and ``id=`` keys; SpecError when malformed."""
    parts = [x.strip() for x in text.split(",")]
    if not parts[0]:
        raise SpecError(f"instrument {text!r}: the driver name comes first")
    spec = InstrumentSpec(parts[0])
    for item in parts[1:]:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SpecError(f"instrument {text!r}: {item!r} must look like key=value")
        if key == "resource":
            spec.resource = value
        elif key == "id":
            spec.id = value
        else:
            spec.options[key] = value
    return spec


def instrument_ids(specs: list[InstrumentSpec]) -> list[str]:
    """Ids for several instruments: the spec's own, else inst0, inst1, ...; SpecError on a duplicate."""
    ids: list[str] = []
    for k, spec in enumerate(specs):
        ident = spec.id or f"inst{k}"
        if ident in ids:
            raise SpecError(f"two instruments have the id {ident!r}; give each its own id")
        ids.append(ident)
    return ids
