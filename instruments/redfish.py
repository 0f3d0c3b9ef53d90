"""A node's power read from its BMC over Redfish (DMTF ``redfish`` library), for nodes without an exporter.

``station run --instrument redfish --resource redfish://bmc.example.org`` reads one chassis
(``-o chassis=ID``, default: the first that reports power) from the first source it has, or
the one named by ``-o source=``:

- ``sensor``: a power ``Sensor`` (``Reading``, ``ReadingTime``): the one ``EnvironmentMetrics``
  names in ``PowerWatts.DataSourceUri``, or ``-o sensor=ID``;
- ``environment``: ``EnvironmentMetrics`` ``PowerWatts.Reading`` (no reading time);
- ``power``: the legacy ``Power`` resource, ``PowerControl[0].PowerConsumedWatts`` (deprecated
  since Redfish 2020.4; no reading time).

A BMC updates its readings at its own pace (1 to 30 s), so the polling rate proves nothing:
where the source has a ``ReadingTime``, a reading whose time has not moved for longer than
``stale_after_s`` is stale. Its samples are ``INVALID`` (kept, never averaged; the energy is
bridged and the summary's coverage says so) between ``stale_reading`` events (begin, end).

Credentials never pass through driver options: options are written to the run's journal and
bundle (and the command line is too). The driver takes them from the environment
(``STATION_REDFISH_USERNAME``, ``STATION_REDFISH_PASSWORD``) or from a file named with
``-o credentials_file=PATH`` (``username:password`` on its first line); only the path is recorded.
It logs in with a Redfish session (``-o auth=basic`` for BMCs without sessions) and logs out on close.
"""

from __future__ import annotations

import math
import os
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

from instruments.base import (
    AccuracySpec,
    Config,
    ConfigurationError,
    Description,
    Driver,
    Identity,
    InstrumentDisconnected,
    InstrumentError,
    NoRanges,
    SettingSpec,
)
from instruments.records import Block, Flag, InstrumentEvent, empty_block

USERNAME_ENV = "STATION_REDFISH_USERNAME"
PASSWORD_ENV = "STATION_REDFISH_PASSWORD"
SECRET_OPTIONS = ("username", "password", "user", "pass", "token")
SCHEMES = {"redfish": "https", "redfish+https": "https", "redfish+http": "http"}


def base_url(resource: str) -> str:
    """``redfish://host[:port]`` -> ``https://host[:port]``; ``redfish+http://`` -> ``http://``; http(s) URLs as they are."""
    parts = urllib.parse.urlsplit(resource.strip())
    scheme = SCHEMES.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


def read_credentials(credentials_file: str) -> tuple[str, str]:
    """(username, password) from the file, else from the environment; ConfigurationError when neither has them."""
    if credentials_file:
        try:
            line = Path(credentials_file).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            raise ConfigurationError(f"cannot read the Redfish credentials file {credentials_file}: {exc}") from None
        user, sep, password = line.partition(":")
        if not sep or not user:
            raise ConfigurationError(f"{credentials_file}: the first line must be username:password")
        return user, password
    user, password = os.environ.get(USERNAME_ENV, ""), os.environ.get(PASSWORD_ENV, "")
    if not user:
        raise ConfigurationError(f"no Redfish credentials: set {USERNAME_ENV} and {PASSWORD_ENV}, or give "
                                 "-o credentials_file=PATH (a file with username:password)")
    return user, password


def reading_time(text: Any) -> float | None:
    """An ISO 8601 ``ReadingTime`` as UTC seconds; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class RedfishPower(NoRanges, Driver):
    """One chassis's power from a Redfish service: a Sensor, EnvironmentMetrics or the legacy Power resource."""

    no_ranges_reason = "a Redfish power reading has no ranges to set; use auto"

    description = Description(
        name="redfish",
        vendor="DMTF Redfish",
        models=("Redfish BMC",),
        channels=1,
        quantities=("w",),
        voltage_ranges=(),
        current_ranges=(),
        fastest_interval_s=0.2,
        slowest_interval_s=600.0,
        accuracy=AccuracySpec(bands=((0.0, 5.0, 0.0),),
                              source="MLPerf Training power rules: BMC readings qualify at 5 % by a "
                                     "side-by-side test; the BMC's own accuracy is not known here"),
        transports=("tcp",),
        settings=(
            SettingSpec("update_interval_s", "Update interval", "float", 1.0, unit="s", minimum=0.2, maximum=600.0),
            SettingSpec("chassis", "Chassis", "str", "", help="chassis id (default: the first that reports power)"),
            SettingSpec("source", "Source", "choice", "auto", choices=("auto", "sensor", "environment", "power")),
            SettingSpec("sensor", "Sensor", "str", "", help="power sensor id under the chassis's Sensors"),
            SettingSpec("stale_after_s", "Stale after", "float", 0.0, unit="s", minimum=0.0,
                        help="a ReadingTime unchanged this long is stale (0: 3 update intervals)"),
            SettingSpec("auth", "Login", "choice", "session", choices=("session", "basic")),
            SettingSpec("credentials_file", "Credentials file", "str", "",
                        help=f"username:password on the first line; default: {USERNAME_ENV}/{PASSWORD_ENV}"),
            SettingSpec("timeout_s", "HTTP timeout", "float", 5.0, unit="s", minimum=0.5, maximum=120.0),
        ),
        summary="Redfish BMC: Sensor Reading/ReadingTime, EnvironmentMetrics PowerWatts or legacy PowerControl",
    )
    resource_forms = ("redfish://192.0.2.7", "redfish+http://192.0.2.7:8000", "https://192.0.2.7/redfish/v1")

    @classmethod
    def claims(cls, resource: str) -> bool:
        """``redfish://``, ``redfish+http(s)://``, or an http(s) URL whose path starts with /redfish."""
        parts = urllib.parse.urlsplit(resource.strip())
        if not parts.netloc:
            return False
        return parts.scheme in SCHEMES or (parts.scheme in ("http", "https") and parts.path.startswith("/redfish"))

    @classmethod
    def from_resource(cls, resource: str | None, **options: Any) -> Driver:
        """A driver for the Redfish service at ``resource``; nothing is sent yet."""
        if not resource:
            raise ConfigurationError("the redfish driver needs the BMC's address, e.g. redfish://192.0.2.7")
        return cls(None, url=base_url(resource), **options)

    def __init__(self, transport: Any = None, *, url: str = "", **options: Any) -> None:
        secrets = sorted(k for k in options if k.lower() in SECRET_OPTIONS)
        if secrets:
            raise ConfigurationError(f"-o {secrets[0]}=...: credentials are not driver options (options are "
                                     f"written to the run's files); set {USERNAME_ENV}/{PASSWORD_ENV} or give "
                                     "-o credentials_file=PATH")
        super().__init__(transport, **options)
        self.check_options()
        settings = {s.name: self.setting(s.name) for s in type(self).description.settings}
        self.url = url
        self.chassis_id = settings["chassis"]
        self.source = settings["source"]
        self.sensor_id = settings["sensor"]
        self.stale_after_s = float(settings["stale_after_s"])
        self.auth = settings["auth"]
        self.credentials_file = settings["credentials_file"]
        self.timeout_s = float(settings["timeout_s"])
        self.interval = float(settings["update_interval_s"])
        self.client = None
        self.chassis_path = ""
        self.reading_path = ""  # the resource polled
        self.used_source = ""
        self._next_due = 0.0
        self._last_reading_time: float | None = None
        self._reading_time_since = 0.0  # monotonic time the present ReadingTime was first seen
        self._stale = False

    # -- HTTP through the DMTF client ------------------------------------------------------------------
    def open(self) -> None:
        """Connect and log in (a session unless ``auth=basic``)."""
        import redfish
        from redfish.rest.v1 import RetriesExhaustedError, ServerDownOrUnreachableError

        user, password = read_credentials(self.credentials_file)
        try:
            client = redfish.redfish_client(base_url=self.url, username=user, password=password,
                                            timeout=self.timeout_s, max_retry=1, check_connectivity=False)
            client.login(auth=self.auth)
        except (RetriesExhaustedError, ServerDownOrUnreachableError, OSError) as exc:
            raise InstrumentDisconnected(f"the Redfish service at {self.url} cannot be reached: {exc}") from None
        except Exception as exc:  # the library's login errors (bad credentials, no session service)
            raise InstrumentError(f"login to the Redfish service at {self.url} failed: "
                                  f"{type(exc).__name__}: {exc}") from None
        self.client = client

    def close(self) -> None:
        """Log out (ending the session) and drop the connection."""
        client, self.client = self.client, None
        if client is not None:
            try:
                client.logout()
            except Exception:
                pass  # the BMC may be gone; the session then expires there

    def _get(self, path: str) -> dict:
        if self.client is None:
            raise InstrumentDisconnected(f"not connected to {self.url}")
        try:
            reply = self.client.get(path)
        except Exception as exc:
            raise InstrumentDisconnected(f"the Redfish service at {self.url} did not answer {path}: {exc}") from None
        if reply.status in (401, 403):
            raise InstrumentDisconnected(f"the Redfish service at {self.url} refused {path} (HTTP {reply.status}); "
                                         "the session may have expired")
        if reply.status != 200:
            raise InstrumentError(f"{self.url}{path}: HTTP {reply.status}")
        body = reply.dict
        if not isinstance(body, dict):
            raise InstrumentError(f"{self.url}{path}: the answer is not a Redfish resource")
        return body

    # -- the driver interface ---------------------------------------------------------------------------
    def identify(self) -> Identity:
        """Find the chassis and the power source; the chassis's manufacturer, model and serial."""
        root = self._get("/redfish/v1/")
        chassis = self._find_chassis(root)
        self._choose_source(chassis)
        return Identity(vendor=str(chassis.get("Manufacturer") or root.get("Vendor") or "unknown"),
                        model=str(chassis.get("Model") or "Redfish chassis"),
                        serial=str(chassis.get("SerialNumber") or ""),
                        firmware=f"Redfish {root.get('RedfishVersion', '?')}",
                        raw=f"{self.chassis_path} {self.used_source} {self.reading_path}")

    def _find_chassis(self, root: dict) -> dict:
        collection = self._get(root.get("Chassis", {}).get("@odata.id", "/redfish/v1/Chassis"))
        members = [m.get("@odata.id", "") for m in collection.get("Members", [])]
        if self.chassis_id:
            wanted = [m for m in members if m.rstrip("/").rsplit("/", 1)[-1] == self.chassis_id]
            if not wanted:
                raise ConfigurationError(f"{self.url} has no chassis {self.chassis_id!r}; it has "
                                         + ", ".join(m.rsplit("/", 1)[-1] for m in members))
            members = wanted
        for path in members:
            chassis = self._get(path)
            if any(key in chassis for key in ("EnvironmentMetrics", "Sensors", "Power")):
                self.chassis_path = path
                return chassis
        raise ConfigurationError(f"no chassis at {self.url} reports power (EnvironmentMetrics, Sensors or Power)")

    def _choose_source(self, chassis: dict) -> None:
        link = chassis.get("EnvironmentMetrics", {}).get("@odata.id")
        environment = self._get(link) if link and self.source in ("auto", "sensor", "environment") else {}
        sensor = ""
        if self.sensor_id:
            sensor = chassis.get("Sensors", {}).get("@odata.id", f"{self.chassis_path}/Sensors") + "/" + self.sensor_id
        elif environment.get("PowerWatts", {}).get("DataSourceUri"):
            sensor = environment["PowerWatts"]["DataSourceUri"]
        if self.source in ("auto", "sensor") and sensor:
            self.used_source, self.reading_path = "sensor", sensor
        elif self.source in ("auto", "environment") and "PowerWatts" in environment:
            self.used_source, self.reading_path = "environment", link
        elif self.source in ("auto", "power") and chassis.get("Power", {}).get("@odata.id"):
            self.used_source, self.reading_path = "power", chassis["Power"]["@odata.id"]
        else:
            raise ConfigurationError(f"the chassis {self.chassis_path} has no {self.source} power reading "
                                     "(sensor needs EnvironmentMetrics.PowerWatts.DataSourceUri or -o sensor=ID)")
        self._read()  # the source answers with a number now, not at the first sample

    def _read(self) -> tuple[float, float | None]:
        """(watts, reading time or None) from the chosen source."""
        body = self._get(self.reading_path)
        if self.used_source == "sensor":
            value, stamp = body.get("Reading"), reading_time(body.get("ReadingTime"))
            units = body.get("ReadingUnits", "W")
            if units not in ("W", None):
                raise ConfigurationError(f"{self.reading_path} reads in {units}, not W")
        elif self.used_source == "environment":
            value, stamp = body.get("PowerWatts", {}).get("Reading"), None
        else:
            controls = body.get("PowerControl") or [{}]
            value, stamp = controls[0].get("PowerConsumedWatts"), None
        try:
            return float(value), stamp
        except (TypeError, ValueError):
            return math.nan, stamp

    def configure(self, config: Config) -> None:
        """Take the polling interval."""
        interval = float(config.update_interval_s)
        if not self.description.fastest_interval_s <= interval <= self.description.slowest_interval_s:
            raise ConfigurationError(f"update interval {interval:g} s is outside 0.2 to 600 s")
        self.interval = interval

    def start(self) -> None:
        """Poll from now on, one reading per update interval."""
        self._next_due = time.monotonic()

    def stop(self) -> None:
        """Nothing runs on the BMC."""

    def read_block(self, timeout: float = 0.5) -> Block | None:
        """One reading per update interval; a stale one (ReadingTime not moving) is INVALID."""
        wait = self._next_due - time.monotonic()
        if wait > timeout:
            time.sleep(timeout)
            return None
        time.sleep(max(0.0, wait))
        self._next_due = max(self._next_due + self.interval, time.monotonic() - self.interval)
        watts, stamp = self._read()
        now, mono = time.time(), time.monotonic()
        events = []
        if stamp is not None and stamp != self._last_reading_time:
            self._last_reading_time, self._reading_time_since = stamp, mono
            if self._stale:
                self._stale = False
                events.append(InstrumentEvent(now, "stale_reading", {
                    "state": "end", "reading_time": stamp, "message": f"{self.reading_path} updates again"}))
        limit = self.stale_after_s or 3 * self.interval
        stale = stamp is not None and mono - self._reading_time_since > limit
        if stale and not self._stale:
            self._stale = True
            events.append(InstrumentEvent(now, "stale_reading", {
                "state": "begin", "reading_time": stamp, "path": self.reading_path,
                "message": f"the BMC's reading of {self.reading_path} has not changed its ReadingTime for more "
                           f"than {limit:g} s; its samples are marked invalid until it does"}))
        block = empty_block(1, self.dtype)
        block["t"] = now
        block["w"] = watts
        if stale or not math.isfinite(watts):
            block["flags"] = int(Flag.INVALID)
        return Block(block, events)

    def settings_snapshot(self) -> dict:
        """Driver, options (never credentials), and what is read: chassis, source, resource."""
        snapshot = super().settings_snapshot()
        snapshot.update(url=self.url, chassis=self.chassis_path, source=self.used_source,
                        reading=self.reading_path, auth=self.auth,
                        credentials=("file " + self.credentials_file) if self.credentials_file
                        else f"environment {USERNAME_ENV}/{PASSWORD_ENV}")
        return snapshot
