"""Every registered driver follows the house conventions (a meta-test, pymeasure style).

- constructible without I/O: with no transport, and with its fake (which then saw nothing);
- a complete static description: vendor, models, channels, quantities, ascending ranges,
  intervals, accuracy, declared settings whose defaults validate;
- docstrings on the class and its public methods;
- declared capabilities (class attributes of ``Driver``, with their defaults) and a class that
  says how to reach its instrument: ``claims`` takes each of its example ``resource_forms``,
  ``from_resource`` builds the driver on one without I/O, and ``registry.create`` goes through it;
- no module under instruments/ imports ``station`` (the record type is ``instruments.records``);
- works over its fake (or with no transport when it needs none): open, identify, configure,
  set ranges, start, read a block, stop, close; refuses a range it does not have; and, where
  its fake can vanish, comes back after close() + open() once the instrument is back.

Drivers added later get the same checks by being registered; a driver whose transport is not
"none" needs a fake registered with ``instruments.fakes.register_fake`` for the last group.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import math
from pathlib import Path

import numpy as np
import pytest

from instruments import registry
from instruments.base import (
    AUTO,
    AccuracySpec,
    Config,
    ConfigurationError,
    Description,
    Driver,
    InstrumentDisconnected,
)
from instruments.fakes import fake_for
from instruments.records import Block

DRIVERS = registry.available()
NAMES = sorted(DRIVERS)
KNOWN_TRANSPORTS = {"visa", "serial", "tcp", "none"}
INSTRUMENTS_DIR = Path(__file__).resolve().parents[1] / "instruments"
# Capabilities every driver has, declared on the class (Driver holds the defaults).
CAPABILITIES = {"reconfigures_while_measuring": bool, "resource_forms": tuple}
INTERFACE = ("open", "identify", "configure", "set_ranges", "ranges", "start", "read_block", "stop", "close")


def test_every_builtin_driver_loads():
    """A built-in driver whose module exists must load (a module not written yet is skipped)."""
    broken = {}
    for name, target in registry.BUILTIN.items():
        module = target.partition(":")[0]
        if name not in DRIVERS and importlib.util.find_spec(module) is not None:
            broken[name] = registry.load_errors().get(name, "not loaded")
    assert not broken, f"built-in drivers that do not load: {broken}"


def _bench_and_driver(name: str):
    """(bench or None, driver) — with the driver's fake, or without transport if it needs none."""
    cls = DRIVERS[name]
    bench = fake_for(name)
    if bench is not None:
        return bench, cls(bench.transport, **bench.driver_kwargs)
    if "none" in cls.description.transports:
        return None, cls(None)
    pytest.skip(f"no fake registered for {name}: add one with instruments.fakes.register_fake")


def _interval(desc: Description) -> float:
    try:
        return float(desc.setting("update_interval_s").default)
    except KeyError:
        return max(desc.fastest_interval_s, min(1.0, desc.slowest_interval_s))


def _read_some(driver, bench, calls: int = 400):
    """A block, giving a real-time driver up to ``calls`` x 50 ms and a fake-clock one no wall time."""
    for _ in range(calls):
        block = driver.read_block(timeout=0.05)
        if block is not None and len(block):
            return block
    raise AssertionError("no samples arrived")


# -- construction ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_constructible_without_io(name):
    cls = DRIVERS[name]
    assert issubclass(cls, Driver)
    driver = cls(None)
    assert driver.transport is None
    bench = fake_for(name)
    if bench is not None:
        cls(bench.transport, **bench.driver_kwargs)
        assert bench.transport.sent == [] and bench.transport.opens == 0, "the constructor did I/O"
        assert bench.device.received == []


# -- description ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_description_is_complete(name):
    desc = DRIVERS[name].description
    assert isinstance(desc, Description)
    if name in registry.BUILTIN:
        assert desc.name == name
    assert desc.vendor.strip()
    assert desc.models and all(m.strip() for m in desc.models)
    assert isinstance(desc.channels, int) and desc.channels >= 1
    assert "w" in desc.quantities
    for table in (desc.voltage_ranges, desc.current_ranges):
        assert all(r > 0 for r in table)
        assert list(table) == sorted(set(table)), f"ranges not strictly ascending: {table}"
    assert 0 < desc.fastest_interval_s <= desc.slowest_interval_s
    assert desc.transports
    if name in registry.BUILTIN:  # a plug-in may reach its instrument some other way
        assert set(desc.transports) <= KNOWN_TRANSPORTS
    acc = desc.accuracy
    assert isinstance(acc, AccuracySpec) and acc.bands
    bounds = [f for f, _, _ in acc.bands]
    assert bounds == sorted(bounds) and all(rdg >= 0 and rng >= 0 for _, rdg, rng in acc.bands)
    assert acc.source.strip(), "an accuracy model says where its numbers come from"
    assert desc.to_dict()["name"] == desc.name


@pytest.mark.parametrize("name", NAMES)
def test_settings_are_declared_with_valid_defaults(name):
    desc = DRIVERS[name].description
    assert desc.settings, "a driver declares its settings"
    names = [s.name for s in desc.settings]
    assert len(names) == len(set(names))
    for spec in desc.settings:
        assert spec.name.isidentifier() and spec.label.strip()
        assert spec.kind in ("float", "int", "choice", "bool", "str")
        assert spec.validate(spec.default) == spec.default
        if spec.kind == "choice":
            assert spec.default in spec.choices


@pytest.mark.parametrize("name", NAMES)
def test_docstrings_present(name):
    cls = DRIVERS[name]
    assert inspect.getdoc(cls), f"{cls.__name__} has no docstring"
    for method in INTERFACE:
        assert inspect.getdoc(getattr(cls, method)), f"{cls.__name__}.{method} has no docstring"
    module = inspect.getmodule(cls)
    assert module is not None and inspect.getdoc(module), f"module of {cls.__name__} has no docstring"


# -- capabilities and how the instrument is reached ------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_capabilities_are_declared_class_attributes(name):
    cls = DRIVERS[name]
    for attribute, kind in CAPABILITIES.items():
        declared = next(k.__dict__[attribute] for k in cls.__mro__ if attribute in k.__dict__)
        assert isinstance(declared, kind), f"{cls.__name__}.{attribute} is {declared!r}, not a {kind.__name__}"
    assert all(isinstance(form, str) and form.strip() for form in cls.resource_forms)


@pytest.mark.parametrize("name", NAMES)
def test_the_class_says_how_to_reach_its_instrument(name):
    cls = DRIVERS[name]
    for method in ("claims", "from_resource"):
        bound = getattr(cls, method)
        assert inspect.ismethod(bound) and bound.__self__ is cls, f"{cls.__name__}.{method} is not a classmethod"
        assert inspect.getdoc(bound), f"{cls.__name__}.{method} has no docstring"
    if "none" in cls.description.transports:
        driver = registry.create(name, None)
        assert isinstance(driver, cls) and driver.transport is None
        return
    assert cls.resource_forms, f"{cls.__name__} needs a resource but shows no example of one"
    for form in cls.resource_forms:
        assert cls.claims(form), f"{cls.__name__} does not take its own example {form!r}"
        driver = registry.create(name, form)
        assert isinstance(driver, cls)
        assert not getattr(driver.transport, "is_open", False), f"building on {form!r} opened it"
    assert not cls.claims("no such resource form")


def _station_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [f"{path.relative_to(INSTRUMENTS_DIR.parent)}:{node.lineno} {n}"
                  for n in names if n == "station" or n.startswith("station.")]
    return found


def test_no_driver_module_imports_the_station():
    """Drivers (and their fakes and transports) see only the driver contract, never station.*"""
    modules = sorted(INSTRUMENTS_DIR.rglob("*.py"))
    assert len(modules) > 20
    offenders = [hit for path in modules for hit in _station_imports(path)]
    assert not offenders, "modules under instruments/ import station: " + ", ".join(offenders)


def test_the_record_type_is_part_of_the_driver_contract():
    import instruments
    from station.core import samples

    for name in ("Block", "Flag", "InstrumentEvent", "sample_dtype", "SAMPLE_DTYPE", "BAD_FLAGS",
                 "empty_block", "good_mask"):
        assert getattr(samples, name) is getattr(instruments, name), f"station.core.samples.{name} is another {name}"


# -- behaviour over the fake -----------------------------------------------------------------------
def _connect(driver, desc: Description, voltage=AUTO, current=AUTO):
    driver.open()
    identity = driver.identify()
    driver.configure(Config(update_interval_s=_interval(desc)))
    driver.set_ranges(voltage, current)
    return identity


@pytest.mark.parametrize("name", NAMES)
def test_works_over_its_fake(name):
    bench, driver = _bench_and_driver(name)
    desc = driver.description
    identity = _connect(driver, desc)
    assert identity.model in desc.models
    fixed_v = desc.voltage_ranges[-1] if desc.voltage_ranges else AUTO
    fixed_a = desc.current_ranges[-1] if desc.current_ranges else AUTO
    driver.set_ranges(fixed_v, fixed_a)
    ranges = driver.ranges()
    if desc.voltage_ranges:
        assert math.isclose(ranges.voltage, fixed_v) and not ranges.voltage_auto
    driver.start()
    block = _read_some(driver, bench)
    assert isinstance(block, Block)
    samples = block.samples
    assert samples.dtype == driver.dtype
    assert np.all(np.diff(samples["t"]) >= 0)
    assert np.all(samples["t"] > 1e9), "timestamps are UTC seconds"
    driver.stop()
    driver.close()
    if bench is not None:
        assert not bench.transport.is_open


@pytest.mark.parametrize("name", NAMES)
def test_refuses_a_range_it_does_not_have(name):
    bench, driver = _bench_and_driver(name)
    desc = driver.description
    if len(desc.voltage_ranges) < 2:
        pytest.skip(f"{name} has no settable voltage ranges")
    _connect(driver, desc)
    between = (desc.voltage_ranges[0] + desc.voltage_ranges[1]) / 2
    with pytest.raises(ConfigurationError):
        driver.set_ranges(between, AUTO)
    driver.close()


@pytest.mark.parametrize("name", NAMES)
def test_comes_back_after_a_disconnect(name):
    bench, driver = _bench_and_driver(name)
    if bench is None or not hasattr(bench, "unplug"):
        pytest.skip(f"the fake of {name} cannot vanish")
    desc = driver.description
    _connect(driver, desc)
    driver.start()
    _read_some(driver, bench)
    bench.unplug()
    with pytest.raises(InstrumentDisconnected):
        _read_some(driver, bench)
    driver.close()
    bench.plug()
    _connect(driver, desc)
    driver.start()
    assert len(_read_some(driver, bench)) >= 1
    driver.stop()
    driver.close()


@pytest.mark.parametrize("name", NAMES)
def test_an_option_the_driver_does_not_have_is_refused_naming_it(name):
    """A misspelt ``-o`` must not be dropped silently: the run would measure with the default."""
    with pytest.raises(ConfigurationError, match="qeury"):
        DRIVERS[name](None, qeury="up")
