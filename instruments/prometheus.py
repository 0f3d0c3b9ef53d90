"""Power of a fleet read from Prometheus: every series a query selects is one channel.

``station run --instrument prometheus --resource http://HOST:9090 -o query='PROMQL'`` (or
``-o preset=dcgm``) makes one instrument of all the series the selector matches: channel ``i``
is one series (its label set is the channel's name, kept in the settings snapshot), the
record's ``w`` is the sum of the channels.

Why the driver pulls raw samples and integrates itself:

- ``/api/v1/query_range`` re-evaluates the query at each step with a look-back, repeats or
  drops samples and stamps them with the step's time; an instant query of a range selector
  (``selector[Ns]``) returns the samples as scraped, with their own timestamps. The driver
  asks for the stretch since its last poll (plus an overlap) and keeps only newer samples.
- PromQL has no integral (``sum_over_time`` assumes even scrapes, ``increase`` extrapolates).
  Each record is the mean power of the channels over one update interval on a fixed grid,
  computed from the raw samples (a gauge: linear between samples; a counter of joules: the
  increment over the time between samples), so the station's energy (sum of records x
  interval) is the integral of the samples.

A series that stops updating (its exporter is down, or it repeats a stale timestamp, which
Prometheus stores once) is a gap of that channel: once its last sample is older than
``stale_after_s`` (auto: 2.5 x its usual sample spacing, at least 2 update intervals), a
record no longer waits for it; its ``ch_w`` is NaN and its share of ``w`` is bridged at the
channel's mean measured power, so the total stays an estimate of the whole fleet while the
other channels go on. The first record of each channel gap carries ``GAP_BEFORE`` (counted in
the summary's ``gaps``) and the driver reports ``channel_gap`` events (begin, end with the
bridged energy). A record in which no channel was measured at all is ``INVALID``.
Steps between two samples longer than ``stale_after_s`` are gaps too, never interpolated.

A past window is read the same way: ``-o from_utc=T`` (UTC seconds) starts the record grid at
``T`` on a replay clock that runs as fast as Prometheus answers (polling a minute of history per
query) and never passes the present, where it goes on live; ``-o until_utc=U`` ends the records
(and the gap reports) at ``U``, so a replay does not run on past the window it was asked for. The queries are the same range-vector
instant queries at the replayed time, so a backfilled history (``promtool tsdb
create-blocks-from openmetrics``) or the telemetry of a run that has already ended is integrated
exactly as a live one would have been.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace
from typing import Any

from instruments.base import (
    AccuracySpec,
    Clock,
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


@dataclass(frozen=True)
class Preset:
    """The power metric of a standard exporter: the selector, what its values are, the scale to W or J."""

    query: str
    kind: str  # "gauge" (watts) or "counter" (joules since some start)
    scale: float = 1.0
    source: str = ""


PRESETS: dict[str, Preset] = {
    "dcgm": Preset("DCGM_FI_DEV_POWER_USAGE", "gauge", 1.0, "NVIDIA dcgm-exporter, W per GPU"),
    "dcgm-energy": Preset("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", 1e-3,
                          "NVIDIA dcgm-exporter, mJ since boot per GPU"),
    "ipmi": Preset("ipmi_dcmi_power_consumption_watts", "gauge", 1.0,
                   "prometheus-community ipmi_exporter, DCMI reading (a BMC-chosen window average)"),
    "hwmon": Preset("node_hwmon_power_average_watt", "gauge", 1.0, "node_exporter hwmon collector"),
    "rapl": Preset("node_rapl_package_joules_total", "counter", 1.0, "node_exporter RAPL collector, J"),
    "redfish": Preset("redfish_chassis_power_average_consumed_watts", "gauge", 1.0,
                      "redfish_exporter, PowerMetrics window average"),
    "apc-pdu": Preset("rPDU2DeviceStatusPower", "gauge", 10.0,
                      "snmp_exporter with the APC PowerNet-MIB, hundredths of kW"),
}

DEFAULT_LOOKBACK_S = 60.0
POLL_MIN_S = 0.25  # never ask Prometheus more often than this
# Replaying history, one query reads this much (fewer, larger answers); it is also the margin kept
# from the present, where the replay turns into live polling.
HISTORY_STEP_S = 60.0


@dataclass
class SeriesTrack:
    """One series: its raw samples not yet integrated, and what has been measured of it."""

    name: str
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    stale_after_s: float = 0.0
    measured_j: float = 0.0  # over the run, from samples
    measured_s: float = 0.0
    bridged_j: float = 0.0
    in_gap: bool = False
    gap_started: float = math.nan

    @property
    def last_t(self) -> float:
        return self.times[-1] if self.times else -math.inf

    def add(self, t: float, v: float) -> bool:
        """Take a sample if it is newer than the last one (a repeated timestamp is no update)."""
        if t <= self.last_t or not math.isfinite(v):
            return False
        self.times.append(t)
        self.values.append(v)
        return True

    def mean_w(self) -> float:
        return self.measured_j / self.measured_s if self.measured_s > 0 else math.nan

    def trim(self, before: float) -> None:
        """Forget samples older than the last one at or before ``before`` (still needed to interpolate)."""
        k = 0
        while k + 1 < len(self.times) and self.times[k + 1] <= before:
            k += 1
        if k:
            del self.times[:k]
            del self.values[:k]


def integrate(track: SeriesTrack, a: float, b: float, kind: str) -> tuple[float, float]:
    """(energy in J, seconds covered) of ``track`` over [a, b] from its samples.

    Covered is the time between two consecutive samples no further apart than the track's
    ``stale_after_s``; a gauge is linear between them, a counter's increment is spread evenly.
    """
    energy = covered = 0.0
    t, v = track.times, track.values
    for k in range(1, len(t)):
        t0, t1 = t[k - 1], t[k]
        if t1 <= a:
            continue
        if t0 >= b:
            break
        step = t1 - t0
        if step > track.stale_after_s:
            continue
        lo, hi = max(a, t0), min(b, t1)
        if hi <= lo:
            continue
        if kind == "counter":
            increment = v[k] - v[k - 1]
            if increment < 0:  # the counter restarted (exporter or device reset)
                increment = v[k]
            energy += increment * (hi - lo) / step
        else:
            slope = (v[k] - v[k - 1]) / step
            p_lo = v[k - 1] + slope * (lo - t0)
            p_hi = v[k - 1] + slope * (hi - t0)
            energy += 0.5 * (p_lo + p_hi) * (hi - lo)
        covered += hi - lo
    return energy, covered


def series_name(metric: dict[str, str]) -> str:
    """A series' label set in PromQL's notation: ``name{label="value",...}``, labels sorted."""
    labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{metric.get('__name__', '')}{{{labels}}}"


class PrometheusSeries(NoRanges, Driver):
    """Every series of a PromQL selector as one channel, read as raw samples from the Prometheus HTTP API."""

    no_ranges_reason = "series read from Prometheus have no ranges to set; use auto"

    description = Description(
        name="prometheus",
        vendor="Prometheus",
        models=("Prometheus",),
        channels=1,  # the instance's description holds the number of series found by identify()
        quantities=("w",),
        voltage_ranges=(),
        current_ranges=(),
        fastest_interval_s=0.1,
        slowest_interval_s=60.0,
        accuracy=AccuracySpec(bands=((0.0, 5.0, 0.0),),
                              source="MLPerf Training power rules: a node meter qualifies at 5 % (the "
                                     "exporters' own accuracy is the hardware's, not known here)"),
        transports=("tcp",),
        settings=(
            SettingSpec("update_interval_s", "Update interval", "float", 1.0, unit="s", minimum=0.1,
                        maximum=60.0, help="length of one record; the scrape interval or longer"),
            SettingSpec("query", "PromQL selector", "str", "",
                        help="a series selector, e.g. DCGM_FI_DEV_POWER_USAGE{Hostname=~\"node.*\"}; "
                             "default: the preset's metric"),
            SettingSpec("preset", "Exporter preset", "choice", "", choices=("", *PRESETS),
                        help="the power metric of a standard exporter"),
            SettingSpec("kind", "Series kind", "choice", "", choices=("", "gauge", "counter"),
                        help="gauge: watts; counter: joules since a start (default: the preset's, else gauge)"),
            SettingSpec("scale", "Scale", "float", 0.0, minimum=0.0,
                        help="multiplies the values into W or J (0: the preset's, else 1)"),
            SettingSpec("stale_after_s", "Stale after", "float", 0.0, unit="s", minimum=0.0,
                        help="a series without a newer sample for this long is in a gap (0: auto)"),
            SettingSpec("lookback_s", "Look-back", "float", DEFAULT_LOOKBACK_S, unit="s", minimum=5.0,
                        maximum=86400.0, help="history read to find the series and their spacing"),
            SettingSpec("timeout_s", "HTTP timeout", "float", 5.0, unit="s", minimum=0.1, maximum=120.0),
            SettingSpec("from_utc", "Replay from", "float", 0.0, unit="s", minimum=0.0,
                        help="UTC seconds of a past instant: the records start there and replay the history "
                             "as fast as Prometheus answers, then go on live (0: start now)"),
            SettingSpec("until_utc", "Replay until", "float", 0.0, unit="s", minimum=0.0,
                        help="UTC seconds: no record ends after this instant (0: no end)"),
        ),
        summary="Prometheus HTTP API: one channel per series, raw samples, energy integrated by the station",
    )
    resource_forms = ("http://192.0.2.7:9090", "https://prometheus.example.org/prefix")
    reconfigures_while_measuring = True
    fleet_telemetry = True  # a fleet's own sensors, one channel per node: the kiosk's fleet mode takes it

    @classmethod
    def claims(cls, resource: str) -> bool:
        """An http:// or https:// URL of a Prometheus server (its API is under ``/api/v1``); not a /redfish one."""
        parts = urllib.parse.urlsplit(resource.strip())
        return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.path.startswith("/redfish")

    @classmethod
    def from_resource(cls, resource: str | None, **options: Any) -> Driver:
        """A driver for the Prometheus server at the URL ``resource``; nothing is asked yet."""
        if not resource:
            raise ConfigurationError("the prometheus driver needs the server's URL, e.g. http://192.0.2.7:9090")
        return cls(None, url=resource.strip(), **options)

    def __init__(self, transport: Any = None, *, url: str = "", clock: Clock | None = None,
                 **options: Any) -> None:
        super().__init__(transport, **options)
        self.url = url.rstrip("/")
        self.check_options()
        settings = {s.name: self.setting(s.name) for s in type(self).description.settings}
        self.from_utc = float(settings["from_utc"])
        self.until_utc = float(settings["until_utc"]) or math.inf
        if self.until_utc <= self.from_utc:
            raise ConfigurationError(f"until_utc {self.until_utc:.3f} is not after from_utc {self.from_utc:.3f}")
        clock = clock or _WallClock()
        self.clock = ReplayClock(self.from_utc, clock) if self.from_utc > 0 else clock
        preset = PRESETS.get(settings["preset"])
        self.query = settings["query"].strip() or (preset.query if preset else "")
        if self.query.endswith("]"):
            raise ConfigurationError(f"query {self.query!r}: give the selector without a range; the driver "
                                     "adds the range itself to read raw samples")
        self.kind = settings["kind"] or (preset.kind if preset else "gauge")
        self.scale = settings["scale"] or (preset.scale if preset else 1.0)
        self.stale_after_s = float(settings["stale_after_s"])
        self.lookback_s = float(settings["lookback_s"])
        self.timeout_s = float(settings["timeout_s"])
        self.interval = float(settings["update_interval_s"])
        self.tracks: list[SeriesTrack] | None = None  # fixed by the first identify(): the record type
        self._ignored: set[str] = set()
        self._next_end: float | None = None
        self._fetched_until = -math.inf
        self._next_poll = 0.0
        self._pending_events: list[InstrumentEvent] = []

    # -- HTTP --------------------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        address = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        try:
            with urllib.request.urlopen(address, timeout=self.timeout_s) as reply:
                body = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            try:
                reason = json.loads(exc.read()).get("error", str(exc))
            except (ValueError, OSError):
                reason = str(exc)
            if exc.code in (400, 422):
                raise ConfigurationError(f"Prometheus at {self.url} refused the query {self.query!r}: {reason}") \
                    from None
            raise InstrumentDisconnected(f"Prometheus at {self.url} answered HTTP {exc.code}: {reason}") from None
        except (OSError, ValueError) as exc:
            raise InstrumentDisconnected(f"Prometheus at {self.url} cannot be reached: {exc}") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            raise InstrumentError(f"Prometheus at {self.url} answered {str(body)[:200]}")
        return body.get("data")

    def _raw_samples(self, span_s: float, at: float) -> dict[str, list[tuple[float, float]]]:
        """Raw samples of every selected series in (at - span_s, at], by series name."""
        ms = max(1000, int(math.ceil(span_s * 1000)))
        data = self._get("/api/v1/query", {"query": f"{self.query}[{ms}ms]", "time": f"{at:.3f}"})
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise ConfigurationError(f"query {self.query!r} is not a series selector (Prometheus gave "
                                     f"{data.get('resultType') if isinstance(data, dict) else data!r}, "
                                     "not raw samples)")
        found: dict[str, list[tuple[float, float]]] = {}
        for series in data.get("result", []):
            samples = []
            for t, value in series.get("values", []):
                try:
                    samples.append((float(t), float(value) * self.scale))
                except (TypeError, ValueError):
                    continue
            found[series_name(series.get("metric", {}))] = samples
        return found

    # -- the driver interface --------------------------------------------------------------------
    def identify(self) -> Identity:
        """Find the series the query selects (the channels, fixed from now on) and the server's version."""
        if not self.query:
            raise ConfigurationError("the prometheus driver needs -o query=SELECTOR or -o preset=NAME "
                                     f"({', '.join(PRESETS)})")
        now = self.clock.time()
        found = self._raw_samples(self.lookback_s, now)
        if self.tracks is None:
            if not found:
                raise ConfigurationError(f"the query {self.query!r} selects no series with samples in the last "
                                         f"{self.lookback_s:g} s at {self.url}; check the metric name and labels")
            self.tracks = [SeriesTrack(name) for name in sorted(found)]
            for track in self.tracks:
                track.stale_after_s = self._stale_after(found[track.name])
            self.description = replace(type(self).description, channels=len(self.tracks))
        try:
            version = str((self._get("/api/v1/status/buildinfo") or {}).get("version", ""))
        except InstrumentError:
            version = ""  # older servers and some proxies do not have it
        return Identity("Prometheus", "Prometheus", serial=self.url, firmware=version,
                        raw=f"{len(self.tracks)} series of {self.query}")

    def _stale_after(self, samples: list[tuple[float, float]]) -> float:
        if self.stale_after_s > 0:
            return self.stale_after_s
        steps = sorted(b[0] - a[0] for a, b in zip(samples, samples[1:], strict=False))
        spacing = steps[len(steps) // 2] if steps else self.interval
        return max(2.5 * spacing, 2.0 * self.interval)

    def configure(self, config: Config) -> None:
        """Take the update interval (the length of one record)."""
        interval = float(config.update_interval_s)
        desc = self.description
        if not desc.fastest_interval_s <= interval <= desc.slowest_interval_s:
            raise ConfigurationError(f"update interval {interval:g} s is outside {desc.fastest_interval_s:g} to "
                                     f"{desc.slowest_interval_s:g} s")
        self.interval = interval

    def start(self) -> None:
        """Start the record grid now; after a reconnect, go on from the last record (Prometheus kept the data)."""
        if self.tracks is None:
            raise InstrumentError("identify() finds the series before start()")
        now = self.clock.time()
        if self._next_end is None:
            self._next_end = now + self.interval
            self._fetched_until = now - self.lookback_s
        self._next_poll = self.clock.monotonic()

    def stop(self) -> None:
        """Forget the grid: the next start() begins at its own present."""
        self._next_end = None

    def open(self) -> None:
        """Nothing to open: each poll is one HTTP request."""

    def close(self) -> None:
        """Nothing to close; the channels and the record grid are kept for a reconnect."""

    def settings_snapshot(self) -> dict:
        """Driver, options, the query as sent, and each channel's series and staleness limit."""
        snapshot = super().settings_snapshot()
        snapshot.update(url=self.url, query=self.query, kind=self.kind, scale=self.scale,
                        channel_names=[t.name for t in self.tracks or []],
                        stale_after_s=[t.stale_after_s for t in self.tracks or []])
        return snapshot

    def read_block(self, timeout: float = 0.5) -> Block | None:
        """Poll Prometheus for new samples and return the records whose interval is complete."""
        if self._next_end is None:
            raise InstrumentError("read_block() before start()")
        if self._next_end > self.until_utc + 1e-9:
            _WallClock().sleep(timeout)  # the window is done: nothing more will come
            return None
        wait = self._next_poll - self.clock.monotonic()
        if wait > timeout:
            self.clock.sleep(timeout)
            return None
        self.clock.sleep(wait)
        step = max(POLL_MIN_S, min(self.interval / 2, 1.0))
        if isinstance(self.clock, ReplayClock) and self.clock.behind_s() > 2 * HISTORY_STEP_S:
            step = HISTORY_STEP_S
        self._next_poll = self.clock.monotonic() + step
        now = self.clock.time()
        span = min(self.lookback_s * 60, now - self._fetched_until + 2.0)
        found = self._raw_samples(span, now)
        self._fetched_until = now
        self._take(found, now)
        records = self._complete_records(now)
        events, self._pending_events = self._pending_events, []
        if records is None and not events:
            return None
        if records is None:
            records = empty_block(0, self.dtype)
        return Block(records, events)

    def _take(self, found: dict[str, list[tuple[float, float]]], now: float) -> None:
        names = {t.name: t for t in self.tracks}
        for name, samples in found.items():
            track = names.get(name)
            if track is None:
                if name not in self._ignored:
                    self._ignored.add(name)
                    self._pending_events.append(InstrumentEvent(now, "series_ignored", {
                        "series": name, "message": f"{name} appeared after the start; it is not recorded "
                                                   "(the channels are fixed when the run starts)"}))
                continue
            for t, v in samples:
                track.add(t, v)

    def _complete_records(self, now: float) -> Any:
        """Records for every grid interval that each channel has either covered or is stale for."""
        rows = []
        while self._next_end <= min(now, self.until_utc + 1e-9):
            end = self._next_end
            if not all(t.last_t >= end or now - t.last_t > t.stale_after_s for t in self.tracks):
                break
            rows.append(self._record(end - self.interval, end))
            self._next_end = end + self.interval
        if not rows:
            return None
        block = empty_block(len(rows), self.dtype)
        for k, (end, total, channel_w, flags) in enumerate(rows):
            block["t"][k] = end
            block["w"][k] = total
            block["flags"][k] = flags
            if len(self.tracks) > 1:
                block["ch_w"][k] = channel_w
        return block

    def _record(self, a: float, b: float) -> tuple[float, float, list[float], int]:
        """(t, total W, W per channel, flags) of the interval [a, b]."""
        span = b - a
        flags = 0
        energy_total = 0.0
        measured_any = False
        channel_w = []
        for index, track in enumerate(self.tracks):
            energy, covered = integrate(track, a, b, self.kind)
            track.measured_j += energy
            track.measured_s += covered
            energy_total += energy
            measured_any = measured_any or covered > 0
            missing = span - covered
            if missing > 1e-6 * span:
                bridge = track.mean_w()
                bridged = missing * bridge if math.isfinite(bridge) else 0.0
                track.bridged_j += bridged
                energy_total += bridged
                channel_w.append(math.nan)
                if not track.in_gap:
                    track.in_gap = True
                    track.gap_started = max(a, min(b, track.last_t))
                    flags |= int(Flag.GAP_BEFORE)
                    self._pending_events.append(InstrumentEvent(track.gap_started, "channel_gap", {
                        "state": "begin", "channel": index, "series": track.name,
                        "last_sample_t": track.last_t if track.times else None,
                        "bridged_at_w": bridge if math.isfinite(bridge) else None,
                        "message": f"{track.name} stopped updating (no newer sample for more than "
                                   f"{track.stale_after_s:g} s); its power is bridged at its mean "
                                   f"{bridge:.6g} W until it is back"}))
            else:
                channel_w.append(energy / span)
                if track.in_gap:
                    track.in_gap = False
                    self._pending_events.append(InstrumentEvent(a, "channel_gap", {
                        "state": "end", "channel": index, "series": track.name,
                        "length_s": a - track.gap_started, "bridged_j": track.bridged_j,
                        "message": f"{track.name} is updating again after {a - track.gap_started:.3g} s"}))
            track.trim(b)
        if not measured_any:
            flags |= int(Flag.INVALID)
        return b, energy_total / span, channel_w, flags


class ReplayClock:
    """Time that starts at a past instant and passes as fast as it is waited for, never past the present.

    ``sleep`` moves the replayed time on at once while it is behind ``real``'s present; once it
    has caught up, it waits for real. Monotonic time is the replayed time (it never steps back).
    """

    def __init__(self, start_utc: float, real: Clock) -> None:
        self.real = real
        self._t = float(start_utc)

    def time(self) -> float:
        return self._t

    def monotonic(self) -> float:
        return self._t

    def behind_s(self) -> float:
        """How far the replayed time is behind the present."""
        return self.real.time() - self._t

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            ahead = self._t + seconds - self.real.time()
            if ahead > 0:
                self.real.sleep(min(seconds, ahead))
            self._t += seconds


class _WallClock:
    """The real UTC clock (Prometheus stamps samples with it), monotonic time for polling."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
