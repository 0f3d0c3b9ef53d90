"""The redfish driver against ``sushy-static`` serving the mockup tree of tests/data/redfish
(tests/helpers/redfish_bmc.py), whose readings the tests change between requests.

sushy-static accepts any credentials and answers a session login with neither token nor
``Location`` (the DMTF client then fails), so the tests on it log in with basic authentication; the session login (token, refusal of a bad password,
logout) is tested against a small session-keeping fake serving the same tree.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from instruments import registry
from instruments.base import Config, ConfigurationError, InstrumentError
from instruments.records import Flag
from instruments.redfish import PASSWORD_ENV, USERNAME_ENV
from tests.helpers.redfish_bmc import MOCKUP, SKIP_REASON, SUSHY, running_bmc

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(SUSHY is None, reason=SKIP_REASON)
USER, PASSWORD = "operator7", "pw-Zq81-never-on-disk"


@pytest.fixture
def bmc(tmp_path, monkeypatch):
    monkeypatch.setenv(USERNAME_ENV, USER)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    with running_bmc(tmp_path) as served:
        yield served


def connected(url: str, **options):
    options.setdefault("auth", "basic")  # sushy-static answers a session login without a token or Location
    driver = registry.create("redfish", url.replace("http://", "redfish+http://"), **options)
    driver.open()
    identity = driver.identify()
    driver.configure(Config(update_interval_s=options.get("update_interval_s", 0.2)))
    driver.start()
    return driver, identity


def read_one(driver, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        block = driver.read_block(timeout=0.2)
        if block is not None and len(block):
            return block
    raise AssertionError("no reading")


@pytest.mark.timeout(60)
def test_the_power_sensor_is_found_through_environment_metrics_and_read_as_it_changes(bmc):
    driver, identity = connected(bmc.url, update_interval_s=0.2)
    try:
        assert (identity.vendor, identity.model, identity.serial) == ("StationLab", "TN-8G", "SL-TN-0001")
        assert driver.settings_snapshot()["source"] == "sensor"
        assert driver.settings_snapshot()["chassis"] == "/redfish/v1/Chassis/Node1"  # the midplane has no power
        t = time.time()
        for k, watts in enumerate((1200.0, 1350.5, 980.25)):
            bmc.set_reading(watts, t + k)
            block = read_one(driver)
            assert block.samples["w"][0] == watts
            assert block.samples["flags"][0] == 0
    finally:
        driver.close()


@pytest.mark.timeout(60)
def test_a_reading_whose_time_stops_moving_is_stale_until_it_moves_again(bmc):
    driver, _ = connected(bmc.url, update_interval_s=0.2, stale_after_s=0.6)
    try:
        bmc.set_reading(1100.0, time.time())
        events = []
        deadline = time.monotonic() + 20
        while True:  # the same ReadingTime at every request: the BMC stopped updating
            block = read_one(driver)
            events += block.events
            if block.samples["flags"][0] & int(Flag.INVALID):
                break
            assert time.monotonic() < deadline, "the stale reading was never noticed"
        assert [(e.kind, e.detail["state"]) for e in events] == [("stale_reading", "begin")]
        bmc.set_reading(1105.0, time.time() + 5)
        block = read_one(driver)
        assert block.samples["flags"][0] == 0 and block.samples["w"][0] == 1105.0
        assert [(e.kind, e.detail["state"]) for e in block.events] == [("stale_reading", "end")]
    finally:
        driver.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("source", ["environment", "power"])
def test_environment_metrics_and_the_legacy_power_resource(bmc, source):
    driver, _ = connected(bmc.url, source=source)
    try:
        bmc.set_reading(777.5, time.time())
        assert read_one(driver).samples["w"][0] == 777.5
        assert driver.settings_snapshot()["reading"].endswith("EnvironmentMetrics" if source == "environment"
                                                                else "Power")
    finally:
        driver.close()


def test_credentials_are_no_driver_options_and_come_from_a_file_or_the_environment(tmp_path, monkeypatch):
    with pytest.raises(ConfigurationError, match="credentials are not driver options"):
        registry.create("redfish", "redfish://192.0.2.7", password="x")
    monkeypatch.delenv(USERNAME_ENV, raising=False)
    driver = registry.create("redfish", "redfish://192.0.2.7")
    with pytest.raises(ConfigurationError, match=USERNAME_ENV):
        driver.open()
    assert registry.claimants("redfish://192.0.2.7") == ["redfish"]
    assert registry.claimants("https://192.0.2.7/redfish/v1") == ["redfish"]
    assert "redfish" not in registry.claimants("http://192.0.2.7:9090")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_station_run_reads_the_bmc_and_writes_no_credential(tmp_path, station_home, bmc):
    secrets = tmp_path / "bmc-credentials"
    secrets.write_text(f"{USER}:{PASSWORD}\n")
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in (USERNAME_ENV, PASSWORD_ENV)}
    env.update(STATION_HOME=str(station_home),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    bmc.set_reading(1500.0, time.time())
    res = subprocess.run([sys.executable, "-m", "station", "run", "--instrument", "redfish",
                          "--resource", bmc.resource, "--rate", "2",
                          "-o", f"credentials_file={secrets}", "-o", "stale_after_s=600", "-o", "auth=basic",
                          "--duration", "3", "--json", "--out", str(out)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["samples"] >= 5 and summary["avg_w"] == pytest.approx(1500.0)
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode())
    assert basic.decode() in (tmp_path / "sushy.log").read_text()  # they reached the BMC (sushy logs headers)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data and USER.encode() not in data and basic not in data, \
            f"a credential is in {path}"


class SessionBmc(BaseHTTPRequestHandler):
    """A Redfish service that keeps sessions: login by POST, X-Auth-Token on every GET, logout by DELETE."""

    tree: Path = MOCKUP
    tokens: set = set()
    log: list = []

    def do_POST(self):  # noqa: N802 - the name http.server calls
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.log.append(("POST", self.path))
        if self.path.rstrip("/") != "/redfish/v1/SessionService/Sessions":
            return self.reply(405, {})
        if (body.get("UserName"), body.get("Password")) != (USER, PASSWORD):
            return self.reply(401, {"error": {"message": "bad credentials"}})
        token = f"token-{len(self.tokens) + 1}"
        self.tokens.add(token)
        location = f"/redfish/v1/SessionService/Sessions/{token}"
        self.reply(201, {"@odata.id": location, "Id": token, "UserName": USER},
                   {"X-Auth-Token": token, "Location": location})

    def do_GET(self):  # noqa: N802
        self.log.append(("GET", self.path, self.headers.get("X-Auth-Token")))
        if self.path.rstrip("/") != "/redfish/v1" and self.headers.get("X-Auth-Token") not in self.tokens:
            return self.reply(401, {})
        file = self.tree / self.path.rstrip("/").removeprefix("/redfish/v1").lstrip("/") / "index.json"
        if not file.is_file():
            return self.reply(404, {})
        self.reply(200, json.loads(file.read_text()))

    def do_DELETE(self):  # noqa: N802
        self.log.append(("DELETE", self.path))
        token = self.path.rstrip("/").rsplit("/", 1)[-1]
        self.tokens.discard(token)
        self.reply(204 if token == self.headers.get("X-Auth-Token") else 401, None)

    def reply(self, code, body, headers=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.timeout(60)
def test_a_session_login_uses_its_token_and_logs_out_and_a_bad_password_is_refused(monkeypatch):
    SessionBmc.tokens, SessionBmc.log = set(), []
    server = ThreadingHTTPServer(("127.0.0.1", 0), SessionBmc)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"redfish+http://127.0.0.1:{server.server_address[1]}"
    try:
        monkeypatch.setenv(USERNAME_ENV, USER)
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        driver = registry.create("redfish", url)
        driver.open()
        assert driver.identify().serial == "SL-TN-0001"
        driver.start()
        assert read_one(driver).samples["w"][0] == 1000.0
        driver.close()
        gets = [entry for entry in SessionBmc.log if entry[0] == "GET" and entry[1] != "/redfish/v1/"]
        assert len(gets) >= 5 and all(token == "token-1" for _, _, token in gets)  # the service root is public
        assert ("DELETE", "/redfish/v1/SessionService/Sessions/token-1") in SessionBmc.log
        assert SessionBmc.tokens == set()
        monkeypatch.setenv(PASSWORD_ENV, "wrong")
        with pytest.raises(InstrumentError, match="login .* failed"):
            registry.create("redfish", url).open()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
