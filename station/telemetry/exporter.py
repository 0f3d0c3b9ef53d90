"""The station as a Prometheus target: its analyzers' live readings on ``/metrics`` (opt-in).

``station run --metrics 127.0.0.1:9101`` serves, while the run lasts, the last sample of every
instrument, so lab-grade analyzer data sits in the same time-series database as the BMC and
GPU series of the fleet. Nothing listens unless asked, and only on the address given.

Each reading carries the analyzer's own sample time as its Prometheus timestamp: an analyzer
that stops delivering then repeats a timestamp, which Prometheus stores once, so a reader
(the station's own ``prometheus`` driver among them) sees the series stop updating instead of
a stale value stamped with fresh scrape times. Energy is a counter of good samples x update
interval since the exporter started, so ``increase()`` over it is the analyzer's energy.

Metrics (label ``instrument`` is the run's instrument id):

- ``station_power_watts``, ``station_voltage_volts``, ``station_current_amps``,
  ``station_power_factor``: the last sample's totals (gauges);
- ``station_channel_power_watts{channel="1".."n"}``: per element of multi-element analyzers;
- ``station_energy_joules_total``, ``station_samples_total``: counters;
- ``station_instrument_info{driver,vendor,model,serial}``: 1 for each instrument.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric

from station.core.samples import good_mask

_ADDRESS_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})$")


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too; port 0 picks a free one) -> (host, port); ValueError otherwise.

    The host is required: which interface the station listens on is the operator's choice.
    """
    match = _ADDRESS_RE.match(text.strip())
    if not match or int(match.group(2)) > 65535:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9101, or 0.0.0.0:9101 to listen on "
                         "every interface)")
    return match.group(1).strip("[]"), int(match.group(2))


@dataclass
class InstrumentReadings:
    """What is known of one instrument: its identity, last sample and running totals."""

    inst_id: str
    interval_s: float
    info: dict[str, str]
    last: np.void | None = None
    energy_j: float = 0.0
    samples: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, block: np.ndarray) -> None:
        """Take a block of samples (a session sink; runs on the acquisition thread)."""
        if len(block) == 0:
            return
        good = good_mask(block)
        energy = float(np.sum(block["w"][good], dtype=np.float64)) * self.interval_s
        with self.lock:
            self.last = block[-1].copy()
            self.energy_j += energy
            self.samples += len(block)


class LiveMetrics:
    """A prometheus-client collector over the instruments' live readings."""

    def __init__(self) -> None:
        self.instruments: dict[str, InstrumentReadings] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def attach(self, session) -> InstrumentReadings:
        """Follow a connected :class:`~station.core.acquisition.InstrumentSession`'s samples."""
        identity = session.identity
        info = {"driver": session.driver.description.name,
                "vendor": identity.vendor if identity else "", "model": identity.model if identity else "",
                "serial": identity.serial if identity else ""}
        readings = InstrumentReadings(session.inst_id, session.interval_s, info)
        self.instruments[session.inst_id] = readings
        session.add_sink(readings.add)
        return readings

    def collect(self) -> Iterator[Metric]:
        """The metrics of the last samples (called by prometheus-client on each scrape)."""
        totals = {
            "w": GaugeMetricFamily("station_power_watts", "active power, last sample", labels=["instrument"]),
            "v": GaugeMetricFamily("station_voltage_volts", "rms voltage, last sample", labels=["instrument"]),
            "a": GaugeMetricFamily("station_current_amps", "rms current, last sample", labels=["instrument"]),
            "pf": GaugeMetricFamily("station_power_factor", "power factor, last sample", labels=["instrument"]),
        }
        channels = GaugeMetricFamily("station_channel_power_watts", "active power of one element, last sample",
                                     labels=["instrument", "channel"])
        energy = CounterMetricFamily("station_energy_joules", "energy of the good samples since the exporter "
                                     "started", labels=["instrument"])
        count = CounterMetricFamily("station_samples", "samples delivered since the exporter started",
                                    labels=["instrument"])
        info = GaugeMetricFamily("station_instrument_info", "the instruments being read",
                                 labels=["instrument", "driver", "vendor", "model", "serial"])
        for inst_id, readings in self.instruments.items():
            with readings.lock:
                last, joules, n = readings.last, readings.energy_j, readings.samples
            info.add_metric([inst_id, *(readings.info[k] for k in ("driver", "vendor", "model", "serial"))], 1.0)
            energy.add_metric([inst_id], joules)
            count.add_metric([inst_id], n)
            if last is None:
                continue
            t = float(last["t"])
            for key, family in totals.items():
                value = float(last[key])
                if math.isfinite(value):
                    family.add_metric([inst_id], value, timestamp=t)
            if "ch_w" in (last.dtype.names or ()):
                for k, value in enumerate(np.asarray(last["ch_w"], dtype=np.float64), start=1):
                    if math.isfinite(value):
                        channels.add_metric([inst_id, str(k)], float(value), timestamp=t)
        yield from (*totals.values(), channels, energy, count, info)


class MetricsServer:
    """:class:`LiveMetrics` served over HTTP on one address until :meth:`close`."""

    def __init__(self, address: str, metrics: LiveMetrics | None = None) -> None:
        host, port = parse_address(address)
        self.metrics = metrics or LiveMetrics()
        self._server, self._thread = start_http_server(port, addr=host, registry=self.metrics.registry)
        self.host = host
        self.port = int(self._server.server_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
