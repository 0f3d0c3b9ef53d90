"""A node exporter of our own for a real Prometheus to scrape: ``node_power_watts{node=...}`` from profiles.

Each node's power is a function of the UTC time of the scrape, so the exact energy of a run is
known in closed form; :meth:`NodeExporter.stop` is the exporter dying (the scrapes fail from then
on). Needs ``prometheus-client``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import start_http_server
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily


class NodeExporter:
    """An HTTP exporter on 127.0.0.1 (a free port) serving each node's power at scrape time."""

    def __init__(self, nodes: dict[str, Callable[[float], float]], metric: str = "node_power_watts") -> None:
        self.nodes = nodes
        self.metric = metric
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.target = f"127.0.0.1:{self.server.server_port}"
        self.stopped = False

    def collect(self):
        family = GaugeMetricFamily(self.metric, "node input power", labels=["node"])
        now = time.time()
        for name, power in self.nodes.items():
            family.add_metric([name], power(now))
        yield family

    def stop(self) -> None:
        """The exporter dies: its port closes."""
        if not self.stopped:
            self.stopped = True
            self.server.shutdown()
            self.server.server_close()
