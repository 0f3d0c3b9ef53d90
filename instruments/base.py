"""The driver interface every instrument implements, and the static description of a driver.

A driver's constructor does no I/O: it stores its transport and options. ``open`` connects,
``identify`` asks the instrument who it is, ``configure`` / ``set_ranges`` change its state,
``start`` / ``read_block`` / ``stop`` stream samples, ``close`` releases it.

Also here, because several drivers share them: :class:`ModelSpec` (one analyzer model's
ranges and accuracy) and the clocks a driver takes time from (:class:`Clock`,
:class:`SystemClock`). The records drivers produce are in :mod:`instruments.records`.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from instruments.records import Block, sample_dtype
from instruments.transports.factory import examples_for, resource_kind

AUTO: Literal["auto"] = "auto"
RangeValue = float | Literal["auto"]


class InstrumentError(Exception):
    """An instrument refused, failed or went away. The message is meant for the operator."""


class InstrumentDisconnected(InstrumentError):
    """The connection to the instrument is lost (unplugged, powered off, network down)."""


class ConfigurationError(InstrumentError, ValueError):
    """A setting the instrument does not support (a range it does not have, a bad interval)."""


@dataclass(frozen=True)
class AccuracySpec:
    """Accuracy of active power as +-(rdg % of reading + rng % of range), per band.

    ``bands`` maps an upper frequency bound in Hz (0 = DC) to (rdg_pct, rng_pct). The range
    error is multiplied by ``cf_range_factor[crest_factor]`` (Yokogawa doubles it at CF 6).
    """

    bands: tuple[tuple[float, float, float], ...]  # (f_max_hz, rdg_pct, rng_pct)
    cf_range_factor: tuple[tuple[float, float], ...] = ((3.0, 1.0), (6.0, 2.0))
    source: str = ""

    def band_for(self, freq_hz: float) -> tuple[float, float]:
        """(rdg %, rng %) for a signal at ``freq_hz`` (0 or NaN means DC)."""
        f = 0.0 if not math.isfinite(freq_hz) else abs(freq_hz)
        for f_max, rdg, rng in self.bands:
            if f <= f_max:
                return rdg, rng
        _, rdg, rng = self.bands[-1]
        return rdg, rng

    def relative_uncertainty(
        self,
        watts: np.ndarray,
        v_range: np.ndarray | float,
        a_range: np.ndarray | float,
        freq_hz: float = 50.0,
        crest_factor: float = 3.0,
    ) -> np.ndarray:
        """Relative uncertainty of each power reading; NaN where a range is unknown."""
        rdg, rng = self.band_for(freq_hz)
        factor = dict(self.cf_range_factor).get(float(crest_factor), 1.0)
        w = np.abs(np.asarray(watts, dtype=np.float64))
        p_range = np.asarray(v_range, dtype=np.float64) * np.asarray(a_range, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (rdg / 100.0) + (rng / 100.0) * factor * p_range / w
        return np.where(w > 0, u, np.nan)


@dataclass(frozen=True)
class SettingSpec:
    """A setting declared with its metadata, so that UIs and validation derive from it."""

    name: str
    label: str
    kind: Literal["float", "int", "choice", "bool", "str"]
    default: Any
    unit: str = ""
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""

    def validate(self, value: Any) -> Any:
        """Return ``value`` converted to this setting's type, or raise ConfigurationError."""
        try:
            if self.kind == "float":
                value = float(value)
            elif self.kind == "int":
                value = int(value)
            elif self.kind == "bool":
                value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "on", "yes")
            elif self.kind == "str":
                value = str(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{self.label}: {value!r} is not a valid {self.kind}") from exc
        if self.kind == "choice" and value not in self.choices:
            raise ConfigurationError(
                f"{self.label}: {value!r} is not one of {', '.join(map(str, self.choices))}"
            )
        if self.minimum is not None and value < self.minimum:
            raise ConfigurationError(f"{self.label}: {value} {self.unit} is below {self.minimum} {self.unit}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigurationError(f"{self.label}: {value} {self.unit} is above {self.maximum} {self.unit}")
        return value


@dataclass(frozen=True)
class Description:
    """What a driver is and can do, known without talking to an instrument."""

    name: str  # registry name, e.g. "sim", "wt300e"
    vendor: str
    models: tuple[str, ...]
    channels: int
    quantities: tuple[str, ...]  # e.g. ("w", "v", "a", "pf", "freq")
    voltage_ranges: tuple[float, ...]  # volts, ascending; () when not settable
    current_ranges: tuple[float, ...]  # amps, ascending
    fastest_interval_s: float
    slowest_interval_s: float
    accuracy: AccuracySpec | None
    transports: tuple[str, ...]  # "visa", "serial", "tcp", "none"
    settings: tuple[SettingSpec, ...] = ()
    summary: str = ""

    def setting(self, name: str) -> SettingSpec:
        for spec in self.settings:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def round_up_range(self, kind: Literal["voltage", "current"], value: float) -> float:
        """Smallest range of ``kind`` that holds ``value``; the largest if none does."""
        table = self.voltage_ranges if kind == "voltage" else self.current_ranges
        if not table:
            raise ConfigurationError(f"{self.name} has no settable {kind} ranges")
        for r in table:
            if r >= value:
                return r
        return table[-1]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["settings"] = [asdict(s) for s in self.settings]
        return d


@dataclass(frozen=True)
class Identity:
    """Who the connected instrument says it is."""

    vendor: str
    model: str
    serial: str = ""
    firmware: str = ""
    raw: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Ranges:
    """The ranges in force. ``auto`` flags tell whether the meter chooses them itself."""

    voltage: float
    current: float
    voltage_auto: bool = False
    current_auto: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Config:
    """Measurement settings common to power analyzers."""

    update_interval_s: float = 1.0
    crest_factor: float = 3.0
    mode: Literal["rms", "dc"] = "rms"
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# -- model data and clocks that several drivers share (SCPI families, PTDaemon) -----------------
RangeTable = tuple[tuple[float, tuple[float, ...]], ...]  # ((crest factor, ranges ascending), ...)


@dataclass(frozen=True)
class ModelSpec:
    """One model of a family: what it reports in ``*IDN?`` and what it can measure."""

    name: str
    idn_models: tuple[str, ...]  # the second *IDN? field(s) this model answers with
    elements: int
    voltage_ranges: RangeTable
    current_ranges: RangeTable
    accuracy: AccuracySpec
    pf_error_pct: float = 0.1  # extra +-(% of reactive power) when PF < 1 (Yokogawa: 0.1 % of S at PF 0)
    max_items: int = 255  # numeric items the model can return in one reply

    def ranges_for(self, kind: Literal["voltage", "current"], crest_factor: float) -> tuple[float, ...]:
        """The ranges of ``kind`` this model has at ``crest_factor``."""
        table = self.voltage_ranges if kind == "voltage" else self.current_ranges
        for cf, ranges in table:
            if math.isclose(cf, crest_factor):
                return ranges
        raise ConfigurationError(
            f"the {self.name} has no crest factor {crest_factor:g} "
            f"(it has {', '.join(f'{cf:g}' for cf, _ in table)})"
        )

    @property
    def crest_factors(self) -> tuple[float, ...]:
        return tuple(cf for cf, _ in self.voltage_ranges)


class Clock(Protocol):
    """Where a driver gets time and waits. Tests pass a fake clock that only pretends to wait."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: UTC time for timestamps on a steady time base, monotonic time for scheduling.

    Timestamps are the wall clock read at the last :meth:`anchor` (each start of measuring) plus
    the monotonic time since: a meter's readings come at its own pace, so the computer's clock
    being stepped forward or back during a run (NTP, an operator) must not tear the run's
    timeline. The step itself is noticed and recorded by the recording's clock watch.
    """

    def __init__(self) -> None:
        self.anchor()

    def anchor(self) -> None:
        self._t0 = time.time()
        self._m0 = time.monotonic()

    def time(self) -> float:
        return self._t0 + (time.monotonic() - self._m0)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class Driver(ABC):
    """One instrument. Subclasses set :attr:`description` and implement the abstract methods.

    The constructor must not do I/O; ``open`` does. Drivers are used from one acquisition
    thread at a time, so they need no locking of their own.

    How the instrument is reached is the class's to say: the registry asks :meth:`claims`
    whether a resource string is one this driver takes and :meth:`from_resource` for a driver
    on it. The defaults take the forms the station's transports know (VISA, serial, TCP); a
    driver that reaches its instrument another way (``http://...``, a USB serial number, a
    file) overrides both and lists examples in :attr:`resource_forms`.

    Capabilities, declared as class attributes (the defaults are here):

    - ``reconfigures_while_measuring`` (False): ``configure`` with a new update interval may
      be called while streaming. The acquisition then does not stop and restart the driver
      around it (which would lose the samples of a paced stream not yet read).
    - ``resource_forms``: example resource strings the driver takes, for help text and error
      messages; () for a driver that needs none. A class that keeps the default ``claims`` and
      sets no forms of its own gets examples of the transports its description names.
    - ``follows_workload`` (False): the load the driver measures is the workload the station
      runs (a simulated analyzer). Whatever measures a workload (the measurement service's runs,
      the director between a client's start and stop) calls :meth:`workload` when it begins and
      ends, from any thread.
    """

    description: ClassVar[Description]
    reconfigures_while_measuring: ClassVar[bool] = False
    follows_workload: ClassVar[bool] = False
    resource_forms: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A class that claims its own forms lists them itself; the others show their transports'.
        description = cls.__dict__.get("description")
        if "resource_forms" not in cls.__dict__ and isinstance(description, Description) \
                and takes_transport_forms(cls):
            cls.resource_forms = examples_for(description.transports)

    def __init__(self, transport: Any = None, **options: Any) -> None:
        self.transport = transport
        self.options = options

    def check_options(self) -> None:
        """Convert every option by the declared setting of that name; ConfigurationError for an
        option the driver does not declare (naming the ones it has) or a value it refuses."""
        known = {s.name: s for s in self.description.settings}
        for key, value in self.options.items():
            if key not in known:
                raise ConfigurationError(f"the {self.description.name} driver has no setting {key!r} "
                                         f"(it has {', '.join(sorted(known))})")
            self.options[key] = known[key].validate(value)

    def setting(self, name: str) -> Any:
        """The option ``name`` as given, else the declared setting's default."""
        if name in self.options:
            return self.options[name]
        return self.description.setting(name).default

    @classmethod
    def claims(cls, resource: str) -> bool:
        """Whether ``resource`` is a form this driver takes. Default: a VISA, serial or TCP form."""
        return resource_kind(resource) is not None

    @classmethod
    def from_resource(cls, resource: str | None, **options: Any) -> Driver:
        """A driver for the instrument at ``resource`` (None: no transport); nothing is opened.

        Default: the station's transport factory builds the transport for ``resource``
        (``transport_options``, a dict, go to the transport); the other options to the driver.
        ValueError when ``resource`` cannot be reached that way, ConfigurationError for a bad option.
        """
        transport = None
        if resource:
            from instruments.transports import open_transport

            transport = open_transport(resource, **options.pop("transport_options", {}))
        return cls(transport, **options)

    @property
    def dtype(self) -> np.dtype:
        return sample_dtype(self.description.channels)

    def open(self) -> None:
        """Connect the transport. Default: open it if it has an ``open`` method."""
        if self.transport is not None and hasattr(self.transport, "open"):
            self.transport.open()

    @abstractmethod
    def identify(self) -> Identity: ...

    @abstractmethod
    def configure(self, config: Config) -> None: ...

    @abstractmethod
    def set_ranges(self, voltage: RangeValue, current: RangeValue) -> None: ...

    @abstractmethod
    def ranges(self) -> Ranges: ...

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def read_block(self, timeout: float = 0.5) -> Block | None:
        """The samples measured since the last call, or None if none arrived in ``timeout``.

        Raises InstrumentDisconnected when the instrument is gone.
        """

    @abstractmethod
    def stop(self) -> None: ...

    def workload(self, active: bool) -> None:
        """The measured workload begins (True) or ends (False); only called when ``follows_workload``."""
        return None  # a driver that declares the capability says what following means for it

    def close(self) -> None:
        if self.transport is not None and hasattr(self.transport, "close"):
            self.transport.close()

    def settings_snapshot(self) -> dict:
        """Everything needed to tell later how this instrument was set up."""
        return {"driver": self.description.name, "options": dict(self.options)}


def takes_transport_forms(cls: type[Driver]) -> bool:
    """Whether ``cls`` keeps the default :meth:`Driver.claims`: the forms of the station's transports."""
    return cls.claims.__func__ is Driver.claims.__func__


class NoRanges:
    """For drivers whose readings have no measuring ranges (telemetry: Prometheus series, a BMC):
    ranges are always automatic, and asking for a fixed one is refused with ``no_ranges_reason``."""

    no_ranges_reason = "this instrument has no ranges to set; use auto"

    def set_ranges(self, voltage: RangeValue, current: RangeValue) -> None:
        """Only automatic is accepted: there is no range to choose."""
        if voltage != AUTO or current != AUTO:
            raise ConfigurationError(self.no_ranges_reason)

    def ranges(self) -> Ranges:
        """No ranges (NaN), automatic."""
        return Ranges(math.nan, math.nan, True, True)


def check_range(table: Sequence[float], value: RangeValue, what: str) -> RangeValue:
    """Validate a range request against a table; return the matching table value or AUTO."""
    if value == AUTO or (isinstance(value, str) and value.lower() == AUTO):
        return AUTO
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{what} range {value!r} is neither a number nor 'auto'") from exc
    for r in table:
        if math.isclose(r, v, rel_tol=1e-6):
            return r
    listed = ", ".join(f"{r:g}" for r in table)
    raise ConfigurationError(f"{what} range {v:g} is not one the instrument has ({listed})")
