"""A Redfish BMC for the tests: ``sushy-static`` serving a copy of the mockup tree of tests/data/redfish.

sushy-static re-reads ``index.json`` on every request, so a test changes the BMC's readings
between requests by rewriting the files (atomically): once with :meth:`Bmc.set_reading`, or
continuously from a power profile with :meth:`Bmc.drive`, whose ``ReadingTime`` can be held
still for a while (a BMC that stopped updating its sensor). sushy-static accepts any
credentials and logs every request's headers to ``Bmc.log_path``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from instruments.fakes.prometheus_history import free_port

MOCKUP = Path(__file__).resolve().parents[1] / "data" / "redfish" / "node"
SUSHY = shutil.which("sushy-static") or shutil.which("sushy-static", path=str(Path(sys.executable).parent))
SKIP_REASON = "sushy-static (sushy-tools) is not installed"


class Bmc:
    """The mockup tree served by sushy-static at ``url``, with readings the test sets."""

    def __init__(self, tree: Path, url: str, log_path: Path) -> None:
        self.tree = tree
        self.url = url
        self.log_path = log_path
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._driver: threading.Thread | None = None
        self._hold: tuple[float, float] | None = None
        self.updates = 0  # readings written by drive()

    @property
    def resource(self) -> str:
        """The address the redfish driver takes (plain HTTP on loopback)."""
        return self.url.replace("http://", "redfish+http://")

    def _rewrite(self, path: str, change: Callable[[dict], None]) -> None:
        file = self.tree / path / "index.json"
        body = json.loads(file.read_text())
        change(body)
        tmp = file.with_suffix(".tmp")
        tmp.write_text(json.dumps(body))
        os.replace(tmp, file)  # a request never sees half a file

    def set_reading(self, watts: float, reading_time: float) -> None:
        """The power sensor, EnvironmentMetrics and the legacy Power resource all read ``watts`` now."""
        stamp = datetime.fromtimestamp(reading_time, UTC).isoformat()

        def sensor(body: dict) -> None:
            body["Reading"], body["ReadingTime"] = watts, stamp

        def environment(body: dict) -> None:
            body["PowerWatts"]["Reading"] = watts

        def legacy(body: dict) -> None:
            body["PowerControl"][0]["PowerConsumedWatts"] = watts

        with self._lock:
            self._rewrite("Chassis/Node1/Sensors/TotalPower", sensor)
            self._rewrite("Chassis/Node1/EnvironmentMetrics", environment)
            self._rewrite("Chassis/Node1/Power", legacy)

    def drive(self, power: Callable[[float], float], every_s: float = 0.05) -> None:
        """From now on, every ``every_s`` the reading is ``power(now)`` (UTC seconds) with ReadingTime now,
        except while held (:meth:`hold`): then nothing changes, as on a BMC that stopped updating."""
        def update() -> None:
            while not self._stop.wait(every_s):
                now = time.time()
                hold = self._hold
                if hold is not None and hold[0] <= now < hold[1]:
                    continue
                self.set_reading(power(now), now)
                self.updates += 1

        self.set_reading(power(time.time()), time.time())
        self._driver = threading.Thread(target=update, name="bmc-profile", daemon=True)
        self._driver.start()

    def hold(self, begin_utc: float, end_utc: float) -> None:
        """Between these UTC times :meth:`drive` leaves the reading (and its ReadingTime) as it is."""
        self._hold = (begin_utc, end_utc)

    def stop_driving(self) -> None:
        self._stop.set()
        if self._driver is not None:
            self._driver.join(timeout=10)


@contextmanager
def running_bmc(workdir: Path, mockup: Path = MOCKUP, start_timeout_s: float = 20.0) -> Iterator[Bmc]:
    """sushy-static on a free loopback port serving a copy of ``mockup`` made in ``workdir``; stopped after."""
    if SUSHY is None:
        raise RuntimeError(SKIP_REASON)
    workdir.mkdir(parents=True, exist_ok=True)
    tree = workdir / "mockup"
    shutil.copytree(mockup, tree)
    port = free_port()
    log_path = workdir / "sushy.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below; sushy prints every request's headers
    server = subprocess.Popen([SUSHY, "-i", "127.0.0.1", "-p", str(port), "-m", str(tree)],
                              stdout=log, stderr=subprocess.STDOUT)
    bmc = Bmc(tree, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{bmc.url}/redfish/v1/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError("sushy-static did not start:\n" + log_path.read_text(errors="replace")) from None
                time.sleep(0.1)  # polling for the server to listen, not a wait before an assertion
        yield bmc
    finally:
        bmc.stop_driving()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()
