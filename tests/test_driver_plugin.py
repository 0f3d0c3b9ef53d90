"""A driver that is not VISA, serial or TCP plugs in without an edit of the station.

The plug-in is a real distribution laid out on disk (a package, ``*.dist-info/METADATA`` and
``entry_points.txt`` in the ``station.instruments`` group). It claims ``http://...`` resources
and reads watts from a small HTTP server the test runs on 127.0.0.1; ``station run`` finds it
through the entry point in a subprocess whose only link to it is PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from instruments import registry
from instruments.base import ConfigurationError, Driver
from instruments.sim import SimulatedAnalyzer
from station.core.journal import JournalReader

ROOT = Path(__file__).resolve().parents[1]
LOAD_W = 42.5
METER_SERIAL = "HTTP-0042"

PLUGIN = '''
"""A watt meter read over HTTP: a station driver packaged outside the station."""

import json
import math
import time
import urllib.error
import urllib.request

from instruments import Block, empty_block
from instruments.base import (AUTO, AccuracySpec, Config, ConfigurationError, Description, Driver,
                              Identity, InstrumentDisconnected, Ranges, SettingSpec)


class HttpWattMeter(Driver):
    """Polls an HTTP endpoint answering {"watts": ..., "serial": ...} at the update interval."""

    description = Description(
        name="httpmeter", vendor="Acme", models=("HTTP-1",), channels=1, quantities=("w",),
        voltage_ranges=(), current_ranges=(), fastest_interval_s=0.05, slowest_interval_s=10.0,
        accuracy=AccuracySpec(bands=((0.0, 1.0, 0.0),), source="Acme HTTP-1 data sheet"),
        transports=("http",),
        settings=(SettingSpec("update_interval_s", "Update interval", "float", 0.1, unit="s",
                              minimum=0.05, maximum=10.0),),
    )
    resource_forms = ("http://192.0.2.7:8080/power",)

    @classmethod
    def claims(cls, resource):
        """Any http:// URL."""
        return resource.startswith("http://")

    @classmethod
    def from_resource(cls, resource, **options):
        """A meter on the URL ``resource``; nothing is fetched yet."""
        if not resource:
            raise ConfigurationError("the httpmeter needs a URL, e.g. http://192.0.2.7:8080/power")
        driver = cls(None, **options)
        driver.url = resource
        return driver

    def __init__(self, transport=None, **options):
        super().__init__(transport, **options)
        self.url = ""
        self.interval = 0.1
        self.next_due = 0.0

    def _get(self):
        try:
            with urllib.request.urlopen(self.url, timeout=2) as reply:
                return json.loads(reply.read())
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise InstrumentDisconnected(f"{self.url}: {exc}") from exc

    def identify(self):
        """Who answers at the URL."""
        return Identity("Acme", "HTTP-1", serial=str(self._get()["serial"]))

    def configure(self, config: Config):
        """Take the update interval."""
        self.interval = float(config.update_interval_s)

    def set_ranges(self, voltage, current):
        """The meter ranges itself."""
        if voltage != AUTO or current != AUTO:
            raise ConfigurationError("the HTTP-1 has no settable ranges")

    def ranges(self):
        """Always automatic."""
        return Ranges(math.nan, math.nan, True, True)

    def start(self):
        """Read the first value now."""
        self.next_due = time.monotonic()

    def read_block(self, timeout=0.5):
        """One sample per update interval."""
        wait = self.next_due - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            return None
        time.sleep(max(0.0, wait))
        self.next_due += self.interval
        block = empty_block(1, self.dtype)
        block["t"] = time.time()
        block["w"] = float(self._get()["watts"])
        return Block(block)

    def stop(self):
        """Nothing runs on the meter."""
'''


def install_distribution(site: Path) -> None:
    """Lay out the installed distribution ``acme-http`` (package + dist-info) in ``site``."""
    package = site / "acme_http"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "acme_http-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-http\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[station.instruments]\nhttpmeter = acme_http:HttpWattMeter\n")
    (info / "RECORD").write_text("")


class Meter(BaseHTTPRequestHandler):
    """The instrument's web interface: the present power as JSON."""

    served = 0

    def do_GET(self):  # noqa: N802 - the name http.server calls
        body = json.dumps({"watts": LOAD_W, "serial": METER_SERIAL}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        type(self).served += 1

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def meter_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Meter)
    Meter.served = 0
    thread = threading.Thread(target=server.serve_forever, name="http-meter", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/power"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_station_run_reads_a_plugin_meter_over_its_own_resource_form(tmp_path, station_home, meter_url):
    site = tmp_path / "site"
    install_distribution(site)
    out = tmp_path / "run"
    env = {**os.environ, "STATION_HOME": str(station_home),
           "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "station", "run", "--instrument", "httpmeter",
                          "--resource", meter_url, "--duration", "2", "--json", "--out", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["state"] == "complete"
    assert 12 <= summary["samples"] <= 21  # 0.1 s updates for 2 s, on a busy machine too
    assert summary["good_samples"] == summary["samples"]
    assert summary["avg_w"] == pytest.approx(LOAD_W)
    assert Meter.served >= summary["samples"] + 1  # every sample and the identification came from it
    identity = JournalReader(out).instruments["inst0"].info["identity"]
    assert (identity["vendor"], identity["serial"]) == ("Acme", METER_SERIAL)


@pytest.mark.timeout(60)
def test_the_plugin_is_listed_with_its_resource_form(tmp_path, station_home):
    site = tmp_path / "site"
    install_distribution(site)
    env = {**os.environ, "STATION_HOME": str(station_home),
           "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "station", "instruments", "--no-discover", "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=50)
    assert res.returncode == 0, res.stderr
    listing = {d["name"]: d for d in json.loads(res.stdout)["drivers"]}
    assert listing["httpmeter"]["resource_forms"] == ["http://192.0.2.7:8080/power"]
    assert listing["ptd"]["resource_forms"] == ["tcp://192.0.2.7:8888", "192.0.2.7:8888"]
    assert listing["sim"]["resource_forms"] == []


# -- in process: the registry asks the class ----------------------------------------------------------
class JoulescopeFile(SimulatedAnalyzer):
    """Replays a recorded ``jls:`` file (here: simulates one), reached without any transport."""

    resource_forms = ("jls:/data/capture.jls",)

    @classmethod
    def claims(cls, resource: str) -> bool:
        """``jls:`` followed by a path."""
        return resource.startswith("jls:") and len(resource) > 4

    @classmethod
    def from_resource(cls, resource: str | None, **options) -> Driver:
        """A replay of the file the resource names."""
        driver = cls(None, **options)
        driver.path = resource[len("jls:"):]
        return driver


@pytest.fixture
def jls_driver():
    registry.register("jlsfile", JoulescopeFile)
    try:
        yield "jlsfile"
    finally:
        registry._registered.pop("jlsfile", None)


@pytest.mark.timeout(30)
def test_create_hands_the_resource_and_options_to_the_class(jls_driver):
    driver = registry.create(jls_driver, "jls:/data/run 7.jls", seed=5)
    assert isinstance(driver, JoulescopeFile)
    assert driver.path == "/data/run 7.jls"
    assert driver.options["seed"] == 5
    assert driver.transport is None


@pytest.mark.timeout(30)
def test_a_resource_the_driver_does_not_take_names_the_driver_that_does(jls_driver):
    with pytest.raises(ConfigurationError) as info:
        registry.create("wt300e", "jls:/data/capture.jls")
    message = str(info.value)
    assert "does not take the resource 'jls:/data/capture.jls'" in message
    assert "TCPIP::192.0.2.7::INSTR" in message  # the forms wt300e takes
    assert "--instrument jlsfile" in message
    with pytest.raises(ConfigurationError, match=r"jlsfile driver does not take .*it takes jls:/data/capture\.jls"):
        registry.create(jls_driver, "tcp://192.0.2.7:8888")
    assert "jlsfile" in registry.claimants("jls:/x.jls") and "wt300e" not in registry.claimants("jls:/x.jls")
