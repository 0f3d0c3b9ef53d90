"""A fleet behind a fake Prometheus HTTP API on loopback, for the window, screenshots and tests.

:class:`FleetPrometheus` serves ``node_power_watts{instance=...,node=...}`` for each node the
way Prometheus answers the prometheus driver: ``/api/v1/query`` of ``node_power_watts[Nms]`` at
``time=T`` gives the raw samples in (T - N, T], here one every ``scrape_s`` on a grid of wall-clock
time (never in the future), and ``/api/v1/status/buildinfo`` a version. Each node's power is a
constant or a function of UTC time, so what the station should compute is known; a node can be
made to stop (its exporter died: no sample after that time) with :meth:`FleetPrometheus.stop_node`.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

METRIC = "node_power_watts"

Power = float | Callable[[float], float]


class FleetPrometheus:
    """``node_power_watts`` of each node in ``watts`` (W, or a function of UTC seconds), scraped every ``scrape_s``."""

    def __init__(self, watts: dict[str, Power], scrape_s: float = 0.25) -> None:
        self.watts = dict(watts)
        self.scrape_s = float(scrape_s)
        self.stopped: dict[str, float] = {}
        self.queries = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the name http.server calls
                url = urlsplit(self.path)
                args = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/api/v1/status/buildinfo":
                    return self.reply({"status": "success", "data": {"version": "2.53.0-fake"}})
                match = re.fullmatch(rf"{METRIC}\[(\d+)ms\]", args.get("query", ""))
                if url.path != "/api/v1/query" or not match or "time" not in args:
                    return self.reply({"status": "error", "errorType": "bad_data", "error": "not served"}, 400)
                fake.queries += 1
                at, span = float(args["time"]), int(match.group(1)) / 1000
                return self.reply({"status": "success",
                                   "data": {"resultType": "matrix", "result": fake.samples(at - span, at)}})

            def reply(self, body: dict, code: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # quiet: a test or a screenshot prints nothing
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-prometheus", daemon=True)
        self._thread.start()

    def series_name(self, node: str) -> str:
        """The node's series as the driver names it (labels sorted)."""
        return f'{METRIC}{{instance="{node}:9100",node="{node}"}}'

    def stop_node(self, node: str, at: float | None = None) -> None:
        """From ``at`` (default: now) on, ``node`` has no new sample, as when its exporter dies."""
        self.stopped[node] = time.time() if at is None else at

    def samples(self, lo: float, hi: float) -> list[dict]:
        """Every node's samples in (lo, hi], as the API's ``result`` list."""
        hi = min(hi, time.time())
        out = []
        for node, power in self.watts.items():
            end = min(hi, self.stopped.get(node, math.inf))
            k0, k1 = math.floor(lo / self.scrape_s) + 1, math.floor(end / self.scrape_s)
            values = []
            for k in range(k0, k1 + 1):
                t = k * self.scrape_s
                values.append([t, repr(float(power(t) if callable(power) else power))])
            out.append({"metric": {"__name__": METRIC, "instance": f"{node}:9100", "node": node}, "values": values})
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
