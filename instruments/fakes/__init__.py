"""Device-like fakes for driver tests: simulated analyzers, their transport, a replay transport.

``fake_for(name)`` gives a :class:`FakeBench` for a registered driver name: a simulated device
(with its load, its state and its faults), a :class:`FakeTransport` wired to it and the
:class:`FakeClock` both share. Construct the driver as ``cls(bench.transport, **bench.driver_kwargs)``.
Other drivers add their benches with :func:`register_fake`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from instruments.fakes.clock import FakeClock
from instruments.fakes.gwinstek import Gpm8213Device
from instruments.fakes.joulescope import joulescope_bench
from instruments.fakes.lpm01a import lpm01a_bench
from instruments.fakes.n6705 import n6705_bench
from instruments.fakes.ptd import ptd_bench
from instruments.fakes.rohde_schwarz import Hmc8015Device
from instruments.fakes.scpi_device import AnalyzerDevice, Load
from instruments.fakes.transport import GONE, TIMEOUT, FakeTransport, ReplayTransport
from instruments.fakes.yokogawa import Wt210Device, Wt300eDevice, Wt500Device

__all__ = [
    "GONE", "TIMEOUT", "AnalyzerDevice", "FakeBench", "FakeClock", "FakeTransport", "Load",
    "ReplayTransport", "fake_for", "register_fake",
]


@dataclass
class FakeBench:
    """A simulated instrument on the bench: the device, the cable to it, and the shared clock."""

    device: Any
    transport: Any
    clock: FakeClock
    driver_kwargs: dict = field(default_factory=dict)

    def unplug(self) -> None:
        """The instrument vanishes: open connections break."""
        self.device.unplug()

    def plug(self, power_cycle: bool = False) -> None:
        """The instrument is back (with factory settings after a power cycle)."""
        self.device.plug(power_cycle)

    def stall(self) -> None:
        """The instrument stops answering while the connection stays up."""
        self.device.stall()

    def resume(self) -> None:
        self.device.resume()


BenchFactory = Callable[..., FakeBench]
FAKES: dict[str, BenchFactory] = {}


def register_fake(name: str, factory: BenchFactory) -> None:
    """Make ``fake_for(name)`` build benches with ``factory(model=None, **options)``."""
    FAKES[name] = factory


def fake_for(name: str, model: str | None = None, **options: Any) -> FakeBench | None:
    """A bench for the driver registered as ``name`` (None if no fake is known for it)."""
    factory = FAKES.get(name)
    return factory(model=model, **options) if factory else None


def _scpi_bench(device_cls: type[AnalyzerDevice]) -> BenchFactory:
    def make(model: str | None = None, clock: FakeClock | None = None, resource: str = "FAKE0::INSTR",
             **device_options: Any) -> FakeBench:
        clock = clock or FakeClock()
        if model is not None:
            device_options["model"] = model
        device = device_cls(clock=clock, **device_options)
        return FakeBench(device, FakeTransport(device, resource), clock, {"clock": clock})

    return make


register_fake("wt300e", _scpi_bench(Wt300eDevice))
register_fake("wt210", _scpi_bench(Wt210Device))
register_fake("wt500", _scpi_bench(Wt500Device))
register_fake("hmc8015", _scpi_bench(Hmc8015Device))
register_fake("gpm8213", _scpi_bench(Gpm8213Device))
register_fake("lpm01a", lpm01a_bench)
register_fake("ptd", ptd_bench)
register_fake("joulescope", joulescope_bench)
register_fake("n6705", n6705_bench)
