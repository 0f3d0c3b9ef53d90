"""What every ``station`` subcommand shares: exit codes, the usage error, and the instrument group.

The instrument option group means the same in ``run``, ``measure`` and ``serve``::

    --instrument NAME [--id ID] [--resource R] [-o key=value ...] [acquisition flags]

Repeating ``--instrument`` starts the next instrument: the options after it belong to it
(options before the first ``--instrument`` belong to the first). ``NAME`` may also be the
compact ``DRIVER[,key=value...]`` form with ``resource=`` and ``id=`` keys. ``--profile`` and
``--seed`` are short for ``-o profile=`` and ``-o seed=``. Each command declares which
acquisition flags apply to it (a rule set fixes ``measure``'s interval; ``serve`` chooses its
own ranges). :func:`instrument_specs` turns the parsed group into
:class:`~station.measurement.instruments.InstrumentSpec` s; the kiosk's settings file writes
the same spec as a table (:func:`spec_from_table`).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable
from enum import IntEnum
from typing import Any

from station.measurement.instruments import InstrumentSpec, SpecError, driver_class, parse_compact


class ExitCode(IntEnum):
    """The exit status of every ``station`` command."""

    OK = 0
    FAILED = 1  # the run failed, or the result is not valid
    USAGE = 2  # bad arguments or settings: nothing was measured
    INTERRUPTED = 130  # stopped by the operator (Ctrl-C / SIGTERM); what was recorded is kept
    BROKEN_PIPE = 141  # whoever read the output stopped reading (``| head``): as a shell reports SIGPIPE


class UsageError(Exception):
    """Bad arguments or settings, raised anywhere below a command: ``station <cmd>: error: <message>``, exit 2."""


class CommandParser(argparse.ArgumentParser):
    """argparse with the station's error line: ``station <cmd>: error: <message>`` and exit 2."""

    def error(self, message: str):  # argparse exits 2 already; keep its message, drop the noise
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


# -- value types -------------------------------------------------------------------------------------
def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def range_value(text: str) -> float | str:
    if text.lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor 'auto'") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"range {text!r} must be a positive number or 'auto'")
    return value


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"driver option {text!r} must look like key=value")
    return key.strip(), value.strip()


# -- the instrument group ----------------------------------------------------------------------------
GROUPS = "instrument_groups"  # the namespace attribute holding one dict per --instrument
ACQUISITION = frozenset({"interval", "ranges", "crest_factor", "mode"})
SUGAR = (("profile", "--profile"), ("seed", "--seed"))  # flags that are short for -o NAME=


class _GroupAction(argparse.Action):
    """Stores a flag in the current instrument group; ``--instrument`` starts the next one."""

    def __init__(self, option_strings, dest, key: str, **kwargs) -> None:
        super().__init__(option_strings, GROUPS, **kwargs)
        self.key = key

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        groups = getattr(namespace, GROUPS, None)
        if groups is None:
            groups = []
            setattr(namespace, GROUPS, groups)
        if self.key == "instrument":
            if groups and "instrument" not in groups[-1]:  # options came first: they are this one's
                groups[-1]["instrument"] = values
            else:
                groups.append({"instrument": values})
            return
        if not groups:
            groups.append({})
        group = groups[-1]
        name = group.get("instrument", "the first instrument")
        if self.key == "option":
            group.setdefault("option", []).append(values)
            return
        if self.key in group:
            parser.error(f"{option_string} given twice for {name}; "
                         "start the next instrument with --instrument")
        if self.key in ("rate", "interval") and ({"rate", "interval"} & group.keys()):
            parser.error(f"give --rate or --interval for {name}, not both")
        group[self.key] = values


def add_instrument_group(parser: argparse.ArgumentParser, acquisition: Iterable[str] = ACQUISITION) -> None:
    """Add the instrument option group to ``parser``; ``acquisition`` names the flags that apply.

    ``acquisition`` is a subset of ``interval`` (``--rate`` / ``--interval``), ``ranges``
    (``--voltage-range`` / ``--current-range``), ``crest_factor`` and ``mode``.
    """
    acquisition = set(acquisition)
    if acquisition - ACQUISITION:
        raise ValueError(f"unknown acquisition flags {sorted(acquisition - ACQUISITION)}")
    g = parser.add_argument_group(
        "instrument", "repeat --instrument for several instruments; the options after it belong to it")

    def add(*flags: str, key: str, **kwargs: Any) -> None:
        if "choices" not in kwargs:
            kwargs.setdefault("metavar", key.upper())  # not the shared dest's name
        g.add_argument(*flags, action=_GroupAction, key=key, default=None, **kwargs)

    add("--instrument", key="instrument", metavar="NAME",
        help="driver name (see 'station instruments'), or DRIVER,key=value,...; default sim")
    add("--id", key="id", help="the instrument's id in the files (default: one per position)")
    add("--resource", key="resource", metavar="R", help="where the instrument is: VISA resource, tcp://host:port, serial port")
    add("--option", "-o", key="option", type=key_value, metavar="KEY=VALUE", help="driver option, repeatable")
    add("--profile", key="profile", help="simulated workload profile (sim only; short for -o profile=)")
    add("--seed", key="seed", type=int, help="random seed of the simulated analyzer (sim only; -o seed=)")
    if "interval" in acquisition:
        add("--rate", key="rate", type=positive_float, metavar="HZ", help="samples per second (update interval = 1/rate)")
        add("--interval", key="interval", type=positive_float, metavar="S", help="update interval in seconds")
    if "ranges" in acquisition:
        add("--voltage-range", key="voltage_range", type=range_value, metavar="V", help="volts or 'auto' (default)")
        add("--current-range", key="current_range", type=range_value, metavar="A", help="amps or 'auto' (default)")
    if "crest_factor" in acquisition:
        add("--crest-factor", key="crest_factor", type=float, choices=(3.0, 6.0), help="3 (default) or 6")
    if "mode" in acquisition:
        add("--mode", key="mode", choices=("rms", "dc"), help="measurement mode (default rms)")


def instrument_specs(args: argparse.Namespace, default_driver: str = "sim") -> list[InstrumentSpec]:
    """The instruments of the parsed group, in order; UsageError for anything wrong in them.

    No ``--instrument`` at all means one ``default_driver``. Options are checked against the
    driver when it is opened (:func:`open_spec`), except that ``--profile`` / ``--seed`` must be
    options the driver has.
    """
    groups = getattr(args, GROUPS, None) or [{}]
    return [_spec_from_group(group, default_driver) for group in groups]


def _spec_from_group(group: dict, default_driver: str) -> InstrumentSpec:
    try:
        spec = parse_compact(group.get("instrument") or default_driver)
    except SpecError as exc:
        raise UsageError(f"--{exc}") from None
    for key, flag in (("resource", "--resource"), ("id", "--id")):
        if group.get(key) is None:
            continue
        if getattr(spec, key) is not None:
            raise UsageError(f"{spec.driver}: {key} given both in --instrument and as {flag}")
        setattr(spec, key, group[key])
    for key, value in group.get("option", []):
        _set_option(spec, key, value, f"-o {key}=")
    sugar = [(name, flag, group[name]) for name, flag in SUGAR if group.get(name) is not None]
    if sugar:
        settings = {s.name for s in _driver(spec).description.settings}
        for name, flag, value in sugar:
            if name not in settings:
                raise UsageError(f"{flag} applies to the simulated analyzer, not to {spec.driver}")
            _set_option(spec, name, value, flag)
    if group.get("rate") is not None:
        spec.interval_s = 1.0 / group["rate"]
    elif group.get("interval") is not None:
        spec.interval_s = group["interval"]
    for key in ("voltage_range", "current_range", "crest_factor", "mode"):
        if group.get(key) is not None:
            setattr(spec, key, group[key])
    return spec


def _set_option(spec: InstrumentSpec, key: str, value: Any, flag: str) -> None:
    if key in spec.options:
        raise UsageError(f"{spec.driver}: option {key!r} given twice ({flag} repeats it)")
    spec.options[key] = value


def _driver(spec: InstrumentSpec):
    try:
        return driver_class(spec.driver)
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def check_specs(specs: list[InstrumentSpec], interval_s: float | None = None) -> None:
    """Refuse, as a UsageError, what opening ``specs`` would refuse, without opening anything.

    For front ends that open their instruments later (``measure`` hands them to the procedure):
    the service's :func:`~station.measurement.instruments.check_spec`, then the driver class
    itself is asked to take the options (driver constructors do no I/O: a convention the driver
    meta-test checks), so an option the driver does not have is a usage error up front.
    """
    from instruments.base import ConfigurationError
    from station.measurement.instruments import check_spec

    for spec in specs:
        try:
            options, _ = check_spec(spec, interval_s)
            options.pop("transport_options", None)
            driver_class(spec.driver)(None, **options)
        except SpecError as exc:
            raise UsageError(str(exc)) from None
        except (ConfigurationError, TypeError, ValueError) as exc:
            raise UsageError(f"{spec.driver}: {exc}") from None


def open_spec(spec: InstrumentSpec, inst_id: str | None = None, *, interval_s: float | None = None):
    """:func:`~station.measurement.instruments.open_instrument`, with a bad spec as a UsageError."""
    from station.measurement.instruments import open_instrument

    try:
        return open_instrument(spec, inst_id, interval_s=interval_s)
    except SpecError as exc:
        raise UsageError(str(exc)) from None


def connect_or_exit_code(session, name: str) -> ExitCode | None:
    """Connect ``session``; None when connected, else the exit code after saying what went wrong."""
    from instruments.base import ConfigurationError, InstrumentError

    try:
        session.connect()
    except ConfigurationError as exc:
        print(f"station: error: {exc}", file=sys.stderr)
        session.driver.close()
        return ExitCode.USAGE
    except (InstrumentError, OSError) as exc:
        print(f"station: cannot connect to {name}: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    return None


# -- the same spec in a settings file ----------------------------------------------------------------
TABLE_KEYS = ("driver", "instrument", "id", "resource", "options", "interval_s", "crest_factor", "mode",
              "voltage_range", "current_range")


def spec_from_table(table: Any, where: str = "instrument") -> InstrumentSpec:
    """A spec from a settings-file table with the command line's keys; SpecError naming the key.

    ``driver`` (or ``instrument``, as on the command line), ``id``, ``resource``, ``options``
    (a table of driver options), ``interval_s``, ``crest_factor``, ``mode``, ``voltage_range``,
    ``current_range``. Only ``driver`` is needed.
    """
    if not isinstance(table, dict):
        raise SpecError(f"{where}: must be a table with driver, resource and options, not {table!r}")
    unknown = sorted(set(table) - set(TABLE_KEYS))
    if unknown:
        raise SpecError(f"{where}.{unknown[0]}: unknown key; known keys: {', '.join(TABLE_KEYS)}")
    if "driver" in table and "instrument" in table:
        raise SpecError(f"{where}: give driver or instrument, not both (they mean the same)")
    driver = table.get("driver", table.get("instrument"))
    if not isinstance(driver, str) or not driver.strip():
        raise SpecError(f"{where}.driver: must name a driver (see 'station instruments'), not {driver!r}")
    spec = InstrumentSpec(driver.strip())
    for key in ("id", "resource", "mode"):
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise SpecError(f"{where}.{key}: must be text, not {value!r}")
        if value is not None:
            setattr(spec, key, value)
    options = table.get("options", {})
    if not isinstance(options, dict):
        raise SpecError(f"{where}.options: must be a table of driver options, not {options!r}")
    spec.options = dict(options)
    for key in ("interval_s", "crest_factor"):
        value = table.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise SpecError(f"{where}.{key}: must be a positive number, not {value!r}")
        setattr(spec, key, float(value))
    for key in ("voltage_range", "current_range"):
        value = table.get(key)
        if value is None:
            continue
        try:
            setattr(spec, key, range_value(str(value)))
        except argparse.ArgumentTypeError as exc:
            raise SpecError(f"{where}.{key}: {exc}") from None
    return spec
