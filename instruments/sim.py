"""The simulated power analyzer: a real driver of the interface, with no hardware behind it.

It measures an ML system whose power follows a workload profile (idle, warm-up, steady
inference with load-dependent noise and bursts, cool-down, over and over) the way a
WT310E-class meter would: volts, amps and power factor that agree with the power, ranges that
auto-step or overrange like the real thing, per-sample uncertainty from the accuracy
specification, optional GPIO edges around each inference window, and faults on request (a
disconnect, a stretch of lost samples). The demo, the kiosk, the tests and the benchmarks run
on it.

Timing. Sample ``i`` covers the interval ``[t_i, t_i + interval)`` with
``t_i = start_time + i * interval``. Its power is the exact mean of the workload over that
interval plus the load's fast fluctuation averaged over it (relative spread
``noise * sqrt(tc / (tc + interval))``, ``tc`` the profile's ``noise_correlation_s``), so the mean
of a long run does not depend on the interval while short intervals are noisier. With
``pace=True`` (default) a sample is handed out once its interval is over, in blocks of about
20 ms (at most 50 ms) of data; with ``pace=False`` blocks of 0.1 s of data (at most 65536
samples, at least one) come as fast as they are asked for.

Reproducibility. Every random number is tied to the seed and to the sample's index (noise)
or the workload cycle's number (burst timing, level of each window), never to how the stream
is cut into blocks. The same seed, settings and start_time give the same samples bit for bit,
paced or not.

Ranges. Under auto ranging the meter steps one range at a time: up when the rms exceeds 130 %
of the range or the peak exceeds crest factor x range, down when the rms is at most 30 % of
the range and the next lower range holds it (125 % of it, peak within crest factor x it).
Each switch makes the samples of the next 20 ms (at least one) RANGE_CHANGE | INVALID with
NaN values. Every sample under auto carries AUTO_RANGE and an unknown (NaN) uncertainty, as
PTDaemon reports it. On a fixed range a reading above 140 % of the range is OVERRANGE (the
meter shows -OL-: watts and the overranged quantity are NaN), and a current whose peak exceeds
crest factor x range is CLIPPED (the reading comes out low; its uncertainty is unknown).
Changing a range while measuring switches it the same way. The crest factor (3 or 6) changes
the clipping limit and doubles the range term of the uncertainty at 6; the range table stays
the same for both (a simplification: a real WT310E halves its ranges at CF 6).

The power factor follows a constant reactive draw (a power supply's input filter):
``pf = load * P / sqrt(P**2 + Q**2)``, with ``Q`` such that the profile's lowest power has the
idle power factor; so ``a = sqrt(P**2 + Q**2) / (v * load)`` and ``w = v * a * pf`` hold for every
sample. A DC supply has ``pf = 1`` and ``w = v * a``.

Workload profiles are data, ``resources/profiles/<name>.json``; a new profile is a new file::

    {"name": "datacenter", "description": "...",
     "supply": {"voltage_v": 230, "frequency_hz": 50,        # 0 Hz = DC
                "wander": 0.004,                             # slow mains wander, relative amplitude
                "sag_at_max": 0.006,                         # voltage drop at the highest power
                "current_crest_factor": 1.45},               # peak / rms of the load current
     "power_factor": {"idle": 0.82, "load": 0.98},           # at the lowest power; approached under load
     "noise_correlation_s": 0.001, "cycle_variation": 0.02,  # window level varies per cycle
     "phases": [{"name": "idle", "duration_s": 8, "power_w": 310, "noise": 0.01},
                {"name": "warm-up", "duration_s": 6, "power_w": [310, 1500], "noise": 0.03},
                {"name": "inference", "duration_s": 40, "power_w": [1550, 1600], "noise": 0.04,
                 "window": true,                             # GPIO rising / falling edges
                 "burst": {"period_s": 3, "duty": 0.2, "extra_w": 280, "jitter": 0.3}}, ...]}

Driver options (constructor keywords): ``profile`` (default "datacenter"), ``seed`` (int >= 0),
``pace`` (bool), ``start_time`` (UTC seconds; default: the clock at the first start()),
``channels`` (1 to 4 elements sharing the load; totals in the base fields), ``events`` (GPIO
markers on line 7), ``rate_hz`` or ``update_interval_s``, ``crest_factor``, ``mode`` (the
configuration in force until configure() is called), and the faults ``disconnect_after_s``
(read_block raises InstrumentDisconnected once that much measuring time has passed; once),
``offline_s`` (how long it then stays away: wall seconds in real time, lost measuring time
unpaced), ``gap_at_s`` + ``gap_s`` (samples in that stretch of measuring time are lost; the next
one is GAP_BEFORE and comes with a "gap" event).

configure() and set_ranges() work while measuring, as on the meter: the next sample is taken with
the new settings (a new update interval starts a new stretch of the timeline exactly where the old
one would have gone on, so no time is lost), and a range change switches like the meter's.
Records carry the mains frequency (``hz``; NaN on a DC supply).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import zlib
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from instruments.base import (
    AUTO,
    AccuracySpec,
    Config,
    ConfigurationError,
    Description,
    Driver,
    Identity,
    InstrumentDisconnected,
    InstrumentError,
    Ranges,
    RangeValue,
    SettingSpec,
    check_range,
)
from instruments.records import Block, Flag, InstrumentEvent, sample_dtype
from resources import resource_path

VOLTAGE_RANGES = (6.0, 15.0, 30.0, 60.0, 150.0, 300.0, 600.0)
CURRENT_RANGES = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
AUTO_UP = 1.30  # step up above 130 % of range (IM WT310E-01EN p.2-7)
AUTO_DOWN = 0.30  # step down at or below 30 % of range ...
AUTO_DOWN_NEXT = 1.25  # ... when the rms is within 125 % of the next lower range
OVERRANGE = 1.40  # -OL- above 140 % of range (IM WT310E-02EN p.1-12)
RANGE_SWITCH_S = 0.02  # readings while a range switches are invalid for this long (at least one)
FASTEST_S, SLOWEST_S = 1e-5, 1.0
GPIO_LINE = 7
MAX_CHANNELS = 4
ELEMENT_WEIGHTS = (1.0, 0.96, 1.04, 0.98)  # how a multi-PSU load splits between elements
UNPACED_BLOCK_S, UNPACED_MAX = 0.1, 65536
PACED_BLOCK_S, PACED_MAX_S = 0.02, 0.05
VOLTAGE_NOISE = 3e-4  # relative spread of the mains rms at short intervals
DC_MODE_OFFSET = 5e-4  # DC mode on an AC supply reads the mean of a sine: about zero, give or take this
_NOISE_CHUNK = 1 << 16  # noise is drawn per chunk of sample indices, so blocks can be cut anywhere
_NOISE_CLIP = 5.0  # a fluctuation never drives the power negative
_WANDER_GRID_S = 0.05
_WANDER_SHAPE = ((37.0, 0.6), (9.7, 0.3), (2.3, 0.1))  # (period s, share of the wander amplitude)
_SCAN_FIRST = 4096  # auto-range scans look this far first, then twice as far, ...
_KEY_CYCLE, _KEY_NOISE, _KEY_MAINS, _KEY_BUSY = 1, 2, 3, 4  # independent random streams per seed
_IDLE_SPAN_S = 60.0  # idle time is cut into spans this long, so its energy sums stay small and exact
_SWITCHES_KEPT = 100  # workload begin/end times a settings snapshot lists (the latest)

# WT310E active power accuracy, 12 months, CF3 (IM WT310E-02EN §7.3.2); CF6 doubles range error.
WT310E_ACCURACY = AccuracySpec(
    bands=((0.0, 0.1, 0.2), (44.999, 0.3, 0.2), (66.0, 0.1, 0.05), (1000.0, 0.2, 0.2),
           (10000.0, 0.703, 0.3), (100000.0, 8.6, 0.5)),
    source="Yokogawa IM WT310E-02EN 7.3.2 (active power, 12 months, CF3; CF6 doubles the range "
           "term; above 1 kHz the frequency term at the band's top)",
)


# -- workload profiles ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Burst:
    """Extra power for ``duty`` of every ``period_s``; ``jitter`` moves and scales each burst."""

    period_s: float
    duty: float
    extra_w: float
    jitter: float = 0.0


@dataclass(frozen=True)
class Phase:
    """One stretch of a workload cycle: power ramps linearly from ``start_w`` to ``end_w``."""

    name: str
    duration_s: float
    start_w: float
    end_w: float
    noise: float
    window: bool = False
    burst: Burst | None = None


@dataclass(frozen=True)
class Profile:
    """A workload: the supply it runs on and its cycle of phases."""

    name: str
    description: str
    voltage_v: float
    frequency_hz: float
    wander: float
    sag_at_max: float
    current_crest_factor: float
    pf_idle: float
    pf_load: float
    noise_correlation_s: float
    cycle_variation: float
    phases: tuple[Phase, ...]
    sha256: str

    @property
    def is_dc(self) -> bool:
        return self.frequency_hz == 0

    @property
    def cycle_s(self) -> float:
        t = 0.0
        for p in self.phases:  # summed in this order everywhere, so cycle edges agree bit for bit
            t += p.duration_s
        return t

    @property
    def reactive(self) -> float:
        """The constant reactive draw that gives the idle power factor at the lowest power."""
        if self.is_dc or self.pf_idle >= self.pf_load:
            return 0.0
        return self.lowest_w * math.sqrt((self.pf_load / self.pf_idle) ** 2 - 1.0)

    @property
    def lowest_w(self) -> float:
        return min(min(p.start_w, p.end_w) for p in self.phases)

    @property
    def highest_w(self) -> float:
        return max(max(p.start_w, p.end_w) + (max(p.burst.extra_w, 0.0) if p.burst else 0.0)
                   for p in self.phases)


def profile_names() -> tuple[str, ...]:
    """Names of the shipped workload profiles."""
    return tuple(sorted(p.stem for p in resource_path("profiles").glob("*.json")))


def _unknown_profile(name: str) -> ConfigurationError:
    return ConfigurationError(
        f"there is no simulated workload profile {name!r}; known profiles: {', '.join(profile_names())}"
    )


@cache
def load_profile(name: str) -> Profile:
    """A workload profile by name, from ``resources/profiles/<name>.json``."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise _unknown_profile(name)
    path = resource_path("profiles", f"{name}.json")
    if not path.is_file():
        raise _unknown_profile(name)
    raw = path.read_bytes()
    try:
        return _parse_profile(name, json.loads(raw.decode("utf-8")), hashlib.sha256(raw).hexdigest())
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"the workload profile {path.name} is malformed ({exc}); fix or remove the file"
        ) from exc


def _number(d: dict, key: str, where: str, default: float | None = None, lo: float | None = None,
            hi: float | None = None) -> float:
    if key not in d:
        if default is None:
            raise KeyError(f"{where}: {key} is missing")
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{where}: {key} must be a number, not {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{where}: {key} = {v} is outside {lo} to {hi}")
    return float(v)


def _parse_profile(name: str, d: dict, sha256: str) -> Profile:
    supply, pf = d["supply"], d.get("power_factor", {})
    phases = []
    for i, p in enumerate(d["phases"]):
        where = f"phase {i + 1} ({p.get('name', '?')})"
        duration = _number(p, "duration_s", where, lo=1e-3)
        power = p["power_w"]
        start, end = (power, power) if not isinstance(power, list) else tuple(power)
        start = _number({"power_w": start}, "power_w", where, lo=0.0)
        end = _number({"power_w": end}, "power_w", where, lo=0.0)
        burst = None
        if p.get("burst"):
            b = p["burst"]
            burst = Burst(_number(b, "period_s", where, lo=1e-3), _number(b, "duty", where, lo=0.0, hi=1.0),
                          _number(b, "extra_w", where, lo=-min(start, end)),
                          _number(b, "jitter", where, 0.0, lo=0.0, hi=1.0))
        phases.append(Phase(str(p.get("name", f"phase {i + 1}")), duration, start, end,
                            _number(p, "noise", where, 0.0, lo=0.0, hi=0.5), bool(p.get("window", False)), burst))
    if not phases:
        raise ValueError("a profile has at least one phase")
    freq = _number(supply, "frequency_hz", "supply", lo=0.0, hi=1e5)
    profile = Profile(
        name=str(d.get("name", name)),
        description=str(d.get("description", "")),
        voltage_v=_number(supply, "voltage_v", "supply", lo=0.1, hi=600.0),
        frequency_hz=freq,
        wander=_number(supply, "wander", "supply", 0.0, lo=0.0, hi=0.1),
        sag_at_max=_number(supply, "sag_at_max", "supply", 0.0, lo=0.0, hi=0.2),
        current_crest_factor=_number(supply, "current_crest_factor", "supply", 1.0 if freq == 0 else math.sqrt(2),
                                     lo=1.0, hi=10.0),
        pf_idle=1.0 if freq == 0 else _number(pf, "idle", "power_factor", lo=0.05, hi=1.0),
        pf_load=1.0 if freq == 0 else _number(pf, "load", "power_factor", lo=0.05, hi=1.0),
        noise_correlation_s=_number(d, "noise_correlation_s", "profile", 1e-3, lo=1e-7, hi=10.0),
        cycle_variation=_number(d, "cycle_variation", "profile", 0.0, lo=0.0, hi=0.2),
        phases=tuple(phases),
        sha256=sha256,
    )
    if profile.pf_idle > profile.pf_load:
        raise ValueError("power_factor: idle is above load (a power supply's power factor rises with load)")
    return profile


# -- one workload cycle as pieces of straight lines -----------------------------------------------
@dataclass(frozen=True)
class _Cycle:
    """Power over one cycle: piece k starts at ``starts[k]`` s with ``value[k]`` W and ``slope[k]`` W/s."""

    starts: np.ndarray
    value: np.ndarray
    slope: np.ndarray
    energy_before: np.ndarray  # J from the cycle's start to each piece's start
    noise: np.ndarray
    energy: float
    edges: tuple[tuple[float, str], ...]  # (s into the cycle, "rising" | "falling")


def _build_cycle(profile: Profile, seed: int, number: int, key: int = _KEY_CYCLE) -> _Cycle:
    """Cycle ``number`` of the workload; its bursts and window level are its own (seeded)."""
    rng = np.random.default_rng([seed, key, number])
    starts: list[float] = []
    value: list[float] = []
    slope: list[float] = []
    noise: list[float] = []
    edges = []
    t = 0.0
    for i, ph in enumerate(profile.phases):
        if ph.window != profile.phases[i - 1].window:
            edges.append((t, "rising" if ph.window else "falling"))
        level = 1.0
        if ph.window and profile.cycle_variation > 0:
            cv = profile.cycle_variation
            level += float(np.clip(rng.standard_normal() * cv, -3 * cv, 3 * cv))
        p0, ramp = ph.start_w * level, (ph.end_w - ph.start_w) * level / ph.duration_s
        cuts = [(0.0, 0.0)]  # (s into the phase, extra power from there on)
        if ph.burst is not None and ph.burst.duty > 0:
            b = ph.burst
            on, free = b.duty * b.period_s, (1.0 - b.duty) * b.period_s
            k = 0
            while k * b.period_s < ph.duration_s:
                shift, scale = rng.random(2)
                begin = k * b.period_s + shift * b.jitter * free
                if begin < ph.duration_s:
                    cuts.append((begin, b.extra_w * (1.0 + b.jitter * (scale - 0.5))))
                    if begin + on < ph.duration_s:
                        cuts.append((begin + on, 0.0))
                k += 1
        for off, extra in cuts:
            at = t + off
            if starts and at <= starts[-1]:  # a piece of no length: the later one wins
                starts.pop(), value.pop(), slope.pop(), noise.pop()
            starts.append(at)
            value.append(max(0.0, p0 + ramp * off + extra))
            slope.append(ramp)
            noise.append(ph.noise)
        t += ph.duration_s
    s = np.array(starts)
    v, m = np.array(value), np.array(slope)
    length = np.diff(np.append(s, t))
    e = np.cumsum(v * length + 0.5 * m * length * length)
    return _Cycle(s, v, m, np.concatenate(([0.0], e[:-1])), np.array(noise), float(e[-1]), tuple(edges))


def _busy_profile(profile: Profile) -> Profile:
    """The profile's load while a measured workload runs: its window phases (all phases if it has none)."""
    busy = tuple(p for p in profile.phases if p.window) or profile.phases
    return replace(profile, phases=busy)


def _idle_cycle(profile: Profile) -> _Cycle:
    """Idle power as a one-piece cycle: the profile's lowest power with that phase's noise."""
    lowest = min(profile.phases, key=lambda p: min(p.start_w, p.end_w))
    z = np.zeros(1)
    return _Cycle(z, np.array([profile.lowest_w]), z.copy(), z.copy(), np.array([lowest.noise]), math.nan, ())


@dataclass(frozen=True)
class _Span:
    """A stretch [begin, end) of measuring time whose power is ``cycle``'s at ``tau - origin``."""

    begin: float
    end: float
    cycle: _Cycle
    origin: float
    free: bool  # part of the free-running cycle (its GPIO edges are the cycle's)


# -- ranges ---------------------------------------------------------------------------------------
class _RangeTracker:
    """One quantity's range: fixed, or stepped by the meter's auto-range rule one step at a time."""

    def __init__(self, table: tuple[float, ...]) -> None:
        self.table = table
        self.k = len(table) - 1  # a meter comes up on its highest range
        self.auto = True
        self.switching = 0  # samples left of a range switch in progress

    @property
    def value(self) -> float:
        return self.table[self.k]

    def request(self, value: RangeValue, switch_samples: int) -> None:
        if value == AUTO:
            self.auto = True
            return
        k = self.table.index(float(value))
        if k != self.k:
            self.switching = max(self.switching, switch_samples)
        self.k, self.auto = k, False

    def _limits(self, peak_factor: float, cf: float) -> tuple[float, float]:
        k, r = self.k, self.table[self.k]
        up = min(AUTO_UP * r, cf * r / peak_factor) if k < len(self.table) - 1 else math.inf
        if k == 0:
            return up, -math.inf
        lower = self.table[k - 1]
        return up, min(AUTO_DOWN * r, AUTO_DOWN_NEXT * lower, cf * lower / peak_factor)

    def track(self, rms: np.ndarray, peak_factor: float, cf: float, switch_samples: int
              ) -> tuple[float | np.ndarray, np.ndarray | None, list[tuple[int, float, float]]]:
        """(range per sample or one range, switching mask or None, steps as (sample, from, to))."""
        n = len(rms)
        switching = None
        steps: list[tuple[int, float, float]] = []
        if not self.auto:
            if self.switching:
                switching = np.zeros(n, dtype=bool)
                m = min(self.switching, n)
                switching[:m] = True
                self.switching -= m
            return self.value, switching, steps
        out = np.empty(n)
        pos = 0
        while pos < n:
            if self.switching:
                m = min(self.switching, n - pos)
                out[pos:pos + m] = self.value
                if switching is None:
                    switching = np.zeros(n, dtype=bool)
                switching[pos:pos + m] = True
                self.switching -= m
                pos += m
                continue
            up, down = self._limits(peak_factor, cf)
            j = _first_outside(rms, pos, down, up)
            out[pos:j] = self.value
            if j == n:
                break
            old = self.value
            self.k += 1 if rms[j] > up else -1
            steps.append((j, old, self.value))
            self.switching = switch_samples
            pos = j
        return out, switching, steps


def _first_outside(x: np.ndarray, pos: int, down: float, up: float) -> int:
    """First index >= pos with x > up or x <= down; len(x) if none. Looks ahead in growing steps."""
    n = len(x)
    step = _SCAN_FIRST
    while pos < n:
        seg = x[pos:pos + step]
        if down == -math.inf:
            hit = seg > up
        elif up == math.inf:
            hit = seg <= down
        else:
            hit = (seg > up) | (seg <= down)
        i = int(hit.argmax())
        if hit[i]:
            return pos + i
        pos += len(seg)
        step *= 2
    return n


# -- noise ----------------------------------------------------------------------------------------
class _Noise:
    """Standard normal noise tied to sample indices: chunk c always holds the same numbers."""

    def __init__(self, seed: int, epoch: int) -> None:
        self.key = (seed, _KEY_NOISE, epoch)
        self.chunks: dict[int, np.ndarray] = {}

    def _chunk(self, c: int) -> np.ndarray:
        z = self.chunks.get(c)
        if z is None:
            z = np.random.default_rng([*self.key, c]).standard_normal(_NOISE_CHUNK, dtype=np.float32)
            np.clip(z, -_NOISE_CLIP, _NOISE_CLIP, out=z)
            if len(self.chunks) >= 3:
                self.chunks.pop(min(self.chunks))
            self.chunks[c] = z
        return z

    def take(self, i0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(z, z2) for samples i0 .. i0+n-1: two independent draws (the chunk read backwards)."""
        parts, back = [], []
        i, end = i0, i0 + n
        while i < end:
            c, off = divmod(i, _NOISE_CHUNK)
            m = min(end - i, _NOISE_CHUNK - off)
            z = self._chunk(c)
            parts.append(z[off:off + m])
            back.append(z[::-1][off:off + m])
            i += m
        if len(parts) == 1:
            return parts[0], back[0]
        return np.concatenate(parts), np.concatenate(back)


# -- options --------------------------------------------------------------------------------------
def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _opt_seconds(options: dict, key: str) -> float | None:
    value = options.get(key)
    if value is None or value == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{key}: {value!r} is not a number of seconds") from exc
    if not math.isfinite(v) or v < 0:
        raise ConfigurationError(f"{key}: {value!r} must be zero or more seconds")
    return v


def _checked_interval(interval: Any, rate: float | None = None) -> float:
    try:
        dt = float(interval)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"update interval {interval!r} is not a number of seconds") from exc
    if not (math.isfinite(dt) and FASTEST_S * (1 - 1e-9) <= dt <= SLOWEST_S * (1 + 1e-9)):
        what = f"update interval {dt:g} s" if rate is None else f"rate {rate:g} Hz (update interval {dt:g} s)"
        raise ConfigurationError(
            f"{what} is outside 10 µs to 1 s, the update intervals the simulated analyzer has; "
            "choose one in that span (a rate of 1 Hz to 100 kHz)"
        )
    return dt


def _interval_from_rate(rate: Any) -> float:
    try:
        r = float(rate)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"rate {rate!r} is not a number of samples per second") from exc
    return _checked_interval(1.0 / r if r > 0 else math.inf, r)


_OPTIONS = frozenset({
    "profile", "seed", "pace", "start_time", "channels", "events", "rate_hz", "update_interval_s",
    "crest_factor", "mode", "disconnect_after_s", "offline_s", "gap_at_s", "gap_s",
})


# -- the driver -----------------------------------------------------------------------------------
class SimulatedAnalyzer(Driver):
    """A simulated single- or multi-element power analyzer measuring an ML workload profile."""

    # configure() takes effect while measuring (station.core.acquisition applies settings
    # between two reads instead of stopping and starting the stream).
    reconfigures_while_measuring = True
    # The load it measures is the workload the station runs: told by workload(active).
    follows_workload = True

    description = Description(
        name="sim",
        vendor="station",
        models=("SIM-PA1",),
        channels=1,
        quantities=("w", "v", "a", "pf", "freq"),
        voltage_ranges=VOLTAGE_RANGES,
        current_ranges=CURRENT_RANGES,
        fastest_interval_s=FASTEST_S,
        slowest_interval_s=SLOWEST_S,
        accuracy=WT310E_ACCURACY,
        transports=("none",),
        settings=(
            SettingSpec("profile", "Workload profile", "choice", "datacenter", choices=profile_names(),
                        help="the ML system being measured, from a microcontroller to a training node"),
            SettingSpec("seed", "Random seed", "int", 0, minimum=0,
                        help="same seed, settings and start time give the same samples"),
            SettingSpec("update_interval_s", "Update interval", "float", 0.001, unit="s",
                        minimum=FASTEST_S, maximum=SLOWEST_S, help="each sample is the mean over one interval"),
            SettingSpec("crest_factor", "Crest factor", "choice", 3.0, choices=(3.0, 6.0)),
            SettingSpec("mode", "Measuring mode", "choice", "rms", choices=("rms", "dc")),
            SettingSpec("events", "GPIO event markers", "bool", False,
                        help="edges on line 7 at the start and end of each inference window"),
            SettingSpec("channels", "Elements", "int", 1, minimum=1, maximum=MAX_CHANNELS,
                        help="measuring elements sharing the load (totals are their sum)"),
            SettingSpec("pace", "Real time", "bool", True,
                        help="off: samples come as fast as they are read (tests, benchmarks)"),
        ),
        summary="Simulated analyzer with ML workload profiles from milliwatts to kilowatts",
    )

    def __init__(self, transport: Any = None, **options: Any) -> None:
        super().__init__(transport, **options)
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise ConfigurationError(
                f"the simulated analyzer has no option {', '.join(unknown)}; its options are "
                f"{', '.join(sorted(_OPTIONS))}"
            )
        spec = self.description.setting
        self.profile_name = str(options.get("profile", "datacenter"))
        if self.profile_name not in profile_names():
            raise _unknown_profile(self.profile_name)
        self.seed = spec("seed").validate(options.get("seed", 0))
        self.pace = _as_bool(options.get("pace", True))
        self.events = _as_bool(options.get("events", False))
        self.channels = spec("channels").validate(options.get("channels", 1))
        start = options.get("start_time")
        self.start_time = None if start is None else float(start)
        if self.start_time is not None and not math.isfinite(self.start_time):
            raise ConfigurationError(f"start_time {start!r} is not a time in UTC seconds")
        self.disconnect_after_s = _opt_seconds(options, "disconnect_after_s")
        self.offline_s = _opt_seconds(options, "offline_s") or 0.0
        self.gap_at_s = _opt_seconds(options, "gap_at_s")
        self.gap_s = _opt_seconds(options, "gap_s") or 0.0
        if self.gap_s > 0 and self.gap_at_s is None:
            raise ConfigurationError("gap_s needs gap_at_s: when, in seconds of measuring, the samples go missing")
        if options.get("rate_hz") is not None:
            interval = _interval_from_rate(options["rate_hz"])
        else:
            interval = options.get("update_interval_s", spec("update_interval_s").default)
        self._config = self._checked(Config(update_interval_s=interval,
                                            crest_factor=options.get("crest_factor", 3.0),
                                            mode=options.get("mode", "rms")))
        self._v = _RangeTracker(VOLTAGE_RANGES)
        self._a = _RangeTracker(CURRENT_RANGES)
        self._profile: Profile | None = None
        self._is_open = False
        self._running = False
        self._started = False
        self._gone_at: float | None = None  # monotonic time of an injected disconnect, until start() again
        self._disconnect_done = False
        self._t0 = 0.0  # UTC of measuring time 0
        self._m0 = 0.0  # time.monotonic() at measuring time 0: pacing never follows a wall-clock step
        self._epoch, self._epoch_tau, self._i = 0, 0.0, 0  # sample i is at tau = epoch_tau + i * dt
        self._noise: _Noise | None = None
        self._cycles: dict[int, _Cycle] = {}
        self._ar = np.arange(1024, dtype=np.float64)
        self._gap_pending: str | None = None  # why the next sample delivered comes after missing ones
        self._gap_lost = 0  # samples missing before it
        self._gap_done = False
        self._wander_phase = np.random.default_rng([self.seed, _KEY_MAINS]).uniform(0.0, 2 * np.pi, 3)
        # Following the workload: (measuring time, active) at each begin / end, ascending; empty
        # while free-running. The lock keeps a switch and the samples around it in order.
        self._switches: list[tuple[float, bool]] = []
        self._switch_count = 0
        self._lock = threading.Lock()
        self._busy_cycles: dict[int, _Cycle] = {}
        self._idle: _Cycle | None = None
        self._busy: Profile | None = None

    # -- the interface -------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return sample_dtype(self.channels)

    @property
    def config(self) -> Config:
        """The configuration in force."""
        return self._config

    def open(self) -> None:
        """Connect: load the profile. After an injected disconnect, fails until offline_s has passed."""
        if self._gone_at is not None and self.pace:
            away = time.monotonic() - self._gone_at
            if away < self.offline_s:
                raise InstrumentDisconnected(
                    f"the simulated analyzer is still away (fault injection: offline_s = {self.offline_s:g} s); "
                    f"it comes back in {self.offline_s - away:.1f} s"
                )
        self._profile = load_profile(self.profile_name)
        self._is_open = True

    def identify(self) -> Identity:
        """Vendor "station", model SIM-PA1, a serial number that follows the seed, firmware sim-1."""
        self._need_open()
        serial = f"SIM{zlib.crc32(str(self.seed).encode()):08X}"
        return Identity("station", "SIM-PA1", serial, "sim-1", f"STATION,SIM-PA1,{serial},sim-1")

    def configure(self, config: Config) -> None:
        """Update interval 10 µs to 1 s (or ``extra["rate_hz"]``), crest factor 3 or 6, mode rms or dc.

        Also while measuring: the next sample is measured with the new configuration, and the
        timeline goes on seamlessly (the new interval starts where the old one ends).
        """
        checked = self._checked(config)
        dt_old = self._config.update_interval_s
        if self._started and checked.update_interval_s != dt_old:
            # A new interval starts a new stretch of the timeline where the old one would go on.
            self._epoch_tau = self._tau(self._i)
            self._epoch += 1
            self._i = 0
            self._noise = _Noise(self.seed, self._epoch) if self._running else None
        self._config = checked

    def set_ranges(self, voltage: RangeValue, current: RangeValue) -> None:
        """Fixed ranges from the range table, or "auto"; while measuring, the meter switches range."""
        v = check_range(VOLTAGE_RANGES, voltage, "voltage")
        a = check_range(CURRENT_RANGES, current, "current")
        n = self._switch_samples() if self._running else 0
        self._v.request(v, n)
        self._a.request(a, n)

    def ranges(self) -> Ranges:
        """The ranges in force now (under auto: where the meter has stepped to)."""
        return Ranges(self._v.value, self._a.value, self._v.auto, self._a.auto)

    def start(self) -> None:
        """Start measuring. The first start sets the start time; later ones go on from the timeline."""
        if self._running:
            return
        self._need_open()
        dt = self._config.update_interval_s
        if not self._started:
            self._t0 = self.start_time if self.start_time is not None else time.time()
            # Real time runs on the monotonic clock from here: a meter keeps its own time base, so
            # the computer's clock being set forward or back neither rushes nor stalls the data.
            self._m0 = time.monotonic() - (time.time() - self._t0)
            self._i = 0
            self._started = True
        elif self._gone_at is not None:
            before = self._i
            if self.pace:
                self._i = max(self._i, self._index_at(self._now()))
            else:
                self._i += int(math.ceil(self.offline_s / dt - 1e-9))
            if self._i > before:
                self._gap_pending = "samples lost while the simulated analyzer was disconnected (fault injection)"
                self._gap_lost += self._i - before
        elif self.pace:
            # Nothing was measured while stopped: go on at the present, with no data in between.
            self._i = max(self._i, self._index_at(self._now()))
        self._gone_at = None
        if self._noise is None:
            self._noise = _Noise(self.seed, self._epoch)
        self._running = True

    def workload(self, active: bool) -> None:
        """The measured workload begins (True) or ends (False): from now on the load is busy or idle.

        Any thread. "Now" is the present of the sample timeline in real time, and the next sample
        not yet handed out when unpaced (its data come as fast as they are read). Before the first
        call the analyzer free-runs through the profile's cycle; after it, the load is the
        profile's window phases (from their start, at each begin) while the workload runs and the
        profile's lowest power otherwise. GPIO edges (option ``events``) mark each begin and end.
        """
        active = bool(active)
        with self._lock:
            if self._switches and self._switches[-1][1] == active:
                return
            if not self._started:
                tau = 0.0
            elif self.pace and self._running:
                tau = max(self._now() - self._t0, self._tau(self._i))
            else:
                tau = self._tau(self._i)
            if self._switches and tau <= self._switches[-1][0]:
                self._switches.pop()  # nothing was measured in between: the later state wins
            if not self._switches or self._switches[-1][1] != active:
                self._switches.append((tau, active))
                self._switch_count += 1

    def read_block(self, timeout: float = 0.5) -> Block | None:
        """The samples whose interval is over (real time) or the next 0.1 s of data (unpaced).

        Real time: waits up to ``timeout`` for at least one sample, gathering about 20 ms of
        data; None if nothing came. Raises InstrumentDisconnected on an injected disconnect.
        """
        if not self._running:
            if self._gone_at is not None:
                raise InstrumentDisconnected("the simulated analyzer is disconnected; open and start it again")
            raise InstrumentError("the simulated analyzer is not measuring: call start() before read_block()")
        if self.pace:
            return self._read_paced(timeout)
        n = max(1, min(UNPACED_MAX, int(round(UNPACED_BLOCK_S / self._config.update_interval_s))))
        while True:
            with self._lock:
                block = self._produce(n)
            if block is not None:
                return block

    def stop(self) -> None:
        """Stop measuring; ranges, configuration and the timeline stay."""
        self._running = False

    def close(self) -> None:
        """Release the simulated instrument (stops measuring); open() connects it again."""
        self._running = False
        self._is_open = False

    def settings_snapshot(self) -> dict:
        """Options, profile (with the SHA-256 of its file), configuration, ranges and start time."""
        prof = self._profile or load_profile(self.profile_name)
        return {
            "driver": "sim",
            "options": dict(self.options),
            "profile": {"name": prof.name, "sha256": prof.sha256, "description": prof.description},
            "seed": self.seed,
            "pace": self.pace,
            "channels": self.channels,
            "events": self.events,
            "start_time": self._t0 if self._started else self.start_time,
            "config": self._config.to_dict(),
            "ranges": self.ranges().to_dict(),
            "workload": {"following": bool(self._switches), "switches": self._switch_count,
                         "latest": [[tau, active] for tau, active in self._switches[-_SWITCHES_KEPT:]]},
        }

    # -- state helpers -------------------------------------------------------------------------
    def _checked(self, config: Config) -> Config:
        extra = dict(config.extra or {})
        if extra.get("rate_hz") is not None:
            dt = _interval_from_rate(extra["rate_hz"])
        else:
            dt = _checked_interval(config.update_interval_s)
        cf = float(config.crest_factor)
        if cf not in (3.0, 6.0):
            raise ConfigurationError(f"crest factor {config.crest_factor} is not one the analyzer has (3 or 6)")
        if config.mode not in ("rms", "dc"):
            raise ConfigurationError(f"measuring mode {config.mode!r} is not one the analyzer has (rms or dc)")
        return Config(dt, cf, config.mode, extra)

    def _need_open(self) -> None:
        if self._gone_at is not None and not self._is_open:
            raise InstrumentDisconnected("the simulated analyzer is disconnected (fault injection); open it again")
        if not self._is_open:
            raise InstrumentError("the simulated analyzer is not connected: call open() first")

    def _switch_samples(self) -> int:
        return max(1, int(math.ceil(RANGE_SWITCH_S / self._config.update_interval_s - 1e-9)))

    def _tau(self, i: int) -> float:
        """Measuring time of sample i of the current stretch (exactly i * dt in the first one)."""
        return self._epoch_tau + float(i) * self._config.update_interval_s

    def _index_at(self, wall: float) -> int:
        """Index of the first sample starting at or after UTC ``wall``."""
        return max(0, int(math.ceil((wall - self._t0 - self._epoch_tau) / self._config.update_interval_s - 1e-9)))

    def _first_index_from(self, tau: float) -> int:
        """Smallest sample index whose measuring time is at or after ``tau``."""
        dt = self._config.update_interval_s
        i = max(0, int(math.ceil((tau - self._epoch_tau) / dt)))
        while i > 0 and self._tau(i - 1) >= tau:
            i -= 1
        while self._tau(i) < tau:
            i += 1
        return i

    def _read_paced(self, timeout: float) -> Block | None:
        dt = self._config.update_interval_s
        want = max(1, int(round(PACED_BLOCK_S / dt)))
        cap = max(1, int(PACED_MAX_S / dt + 1e-9))
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            with self._lock:  # a workload switch lands after the samples already over, never among them
                now = self._now()
                done = int(math.floor((now - self._t0 - self._epoch_tau) / dt))  # samples whose interval is over
                due = done - self._i
                late = time.monotonic() >= deadline
                block = self._produce(min(due, cap)) if due >= want or (due > 0 and late) else False
            if block is not None and block is not False:
                return block
            if block is None:
                continue  # every sample fell in an injected gap: wait for the ones after it
            if late:
                return None
            wait = self._t0 + self._tau(self._i + want) - now
            time.sleep(max(0.0, min(wait, deadline - time.monotonic())) + 1e-4)

    def _now(self) -> float:
        """The present on the sample timeline (UTC seconds), advanced by the monotonic clock."""
        return self._t0 + (time.monotonic() - self._m0)

    def _produce(self, n: int) -> Block | None:
        """The next ``n`` samples (fewer up to an injected disconnect), minus an injected gap."""
        if self.disconnect_after_s is not None and not self._disconnect_done:
            limit = self._first_index_from(self.disconnect_after_s)
            if self._i >= limit:
                self._disconnect_done = True
                self._running = False
                self._is_open = False
                self._gone_at = time.monotonic()
                raise InstrumentDisconnected(
                    f"the simulated analyzer went away after {self.disconnect_after_s:g} s of measuring "
                    "(fault injection: disconnect_after_s); no samples until it is opened and started again"
                )
            n = min(n, limit - self._i)
        i0 = self._i
        self._i += n
        samples, tau, marks = self._generate(i0, n)
        flag_at = 0 if self._gap_pending is not None else None
        keep = None
        if self.gap_at_s is not None and self.gap_s > 0 and not self._gap_done:
            gap_end = self.gap_at_s + self.gap_s
            lost = (tau >= self.gap_at_s) & (tau < gap_end)
            if lost.any():
                keep = ~lost
                self._gap_lost += int(np.count_nonzero(lost))
                self._gap_pending = f"{self.gap_s:g} s of samples lost (fault injection: gap_at_s, gap_s)"
                last = int(np.flatnonzero(lost)[-1])
                flag_at = last + 1 if last + 1 < n else None
            elif tau[0] >= gap_end:
                self._gap_done = True
        if flag_at is not None:
            samples["flags"][flag_at] |= int(Flag.GAP_BEFORE)
            marks.append((flag_at, InstrumentEvent(float(samples["t"][flag_at]), "gap", {
                "missing_s": self._gap_lost * self._config.update_interval_s, "message": self._gap_pending})))
            self._gap_pending, self._gap_lost = None, 0
        events = [ev for j, ev in sorted(marks, key=lambda m: m[1].t) if keep is None or keep[j]]
        if keep is not None:
            samples = samples[keep]
        if len(samples) == 0:
            return None
        return Block(samples, events)

    def _cycle(self, number: int) -> _Cycle:
        cyc = self._cycles.get(number)
        if cyc is None:
            cyc = _build_cycle(self._profile, self.seed, number)
            if len(self._cycles) >= 4:
                self._cycles.pop(min(self._cycles))
            self._cycles[number] = cyc
        return cyc

    # -- the physics ---------------------------------------------------------------------------
    def _workload(self, pts: np.ndarray, n: int, noise_scale: float
                  ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, float, str]]]:
        """Mean power over each interval [pts[j], pts[j+1]), its noise fraction, and window edges.

        The mean comes from the workload's energy at the interval ends, so a sample that spans
        a burst edge (or several, at slow rates) gets exactly its share of each.
        """
        if self._switches:
            return self._following(pts, n, noise_scale)
        T = self._profile.cycle_s
        energy = np.empty(n + 1)
        noise = np.empty(n)
        edges: list[tuple[int, float, str]] = []
        crossings: list[tuple[int, float]] = []
        c = int(pts[0] // T)
        while c > 0 and pts[0] < c * T:
            c -= 1
        while pts[0] >= (c + 1) * T:
            c += 1
        lo = 0
        while lo <= n:
            hi = lo + int(np.searchsorted(pts[lo:], (c + 1) * T, side="left"))
            if hi > lo:
                cyc = self._cycle(c)
                pos = pts[lo:hi] - c * T if c else pts[lo:hi]
                _fill_energy(cyc, pos, energy[lo:hi], noise, lo, n, noise_scale)
                if hi <= n:
                    crossings.append((hi - 1, cyc.energy))
                if self.events:
                    for at, edge in cyc.edges:
                        if c == 0 and at == 0 and edge == "falling":
                            continue  # the line starts low: no edge before anything happened
                        e = c * T + at
                        if pts[0] <= e < pts[n]:
                            edges.append((int(np.searchsorted(pts, e, side="right")) - 1, e, edge))
            lo = hi
            c += 1
        mean = np.subtract(energy[1:], energy[:-1])
        for j, e in crossings:
            mean[j] = energy[j + 1] + (e - energy[j])
        mean *= 1.0 / self._config.update_interval_s
        return mean, noise, edges

    def _following(self, pts: np.ndarray, n: int, noise_scale: float
                   ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, float, str]]]:
        """:meth:`_workload` once the analyzer follows the workload: spans of idle and busy load.

        Each point's energy is taken from the start of its span; the spans' own energies add up
        across span edges, so a sample spanning a switch gets its share of both loads.
        """
        lo, hi = float(pts[0]), float(pts[n])
        sw = self._switches
        k = 0
        while k + 1 < len(sw) and sw[k + 1][0] <= lo:
            k += 1
        if k:
            del sw[:k]  # samples never go back in measuring time: older switches are done with
        spans = self._spans(lo, hi)
        begins = np.array([sp.begin for sp in spans])
        which = np.searchsorted(begins, pts, side="right") - 1
        energy = np.empty(n + 1)
        noise = np.empty(n)
        before = np.zeros(len(spans))  # energy of the spans before each, within this call
        one, no_noise = np.empty(1), np.empty(0)
        for j, sp in enumerate(spans):
            a = int(np.searchsorted(which, j, side="left"))
            b = int(np.searchsorted(which, j, side="right"))
            _fill_energy(sp.cycle, np.array([max(0.0, sp.begin - sp.origin)]), one, no_noise, 0, 0, 0.0)
            at_begin = float(one[0])
            if b > a:
                pos = np.maximum(pts[a:b] - sp.origin, 0.0)
                _fill_energy(sp.cycle, pos, energy[a:b], noise, a, n, noise_scale)
                energy[a:b] -= at_begin
            if j + 1 < len(spans):
                _fill_energy(sp.cycle, np.array([max(0.0, sp.end - sp.origin)]), one, no_noise, 0, 0, 0.0)
                before[j + 1] = before[j] + (float(one[0]) - at_begin)
        energy += before[which]
        mean = np.diff(energy)
        mean *= 1.0 / self._config.update_interval_s
        edges: list[tuple[int, float, str]] = []
        if self.events:
            marks = [(tau, "rising" if active else "falling") for tau, active in sw]
            for sp in spans:
                if sp.free:
                    c = round(sp.origin / self._profile.cycle_s)
                    marks += [(sp.origin + at, edge) for at, edge in sp.cycle.edges
                               if not (c == 0 and at == 0 and edge == "falling")
                               and sp.begin <= sp.origin + at < sp.end]
            for e, edge in sorted(marks):
                if lo <= e < hi:
                    edges.append((int(np.searchsorted(pts, e, side="right")) - 1, e, edge))
        return mean, noise, edges

    def _spans(self, lo: float, hi: float) -> list[_Span]:
        """The spans covering measuring times ``lo`` .. ``hi``: the free-running cycle before the
        first switch, then idle (cut every _IDLE_SPAN_S) or busy cycles (from cycle 0 at each begin)."""
        sw = self._switches
        segments: list[tuple[float, float, bool | None]] = []
        if sw[0][0] > 0:
            segments.append((-math.inf, sw[0][0], None))
        for k, (tau, active) in enumerate(sw):
            segments.append((tau, sw[k + 1][0] if k + 1 < len(sw) else math.inf, active))
        spans: list[_Span] = []
        for begin, end, active in segments:
            if end <= lo or begin > hi or end <= begin:
                continue
            if active is None:
                length = self._profile.cycle_s
                start = 0.0
            elif active:
                length = self._busy_profile().cycle_s
                start = begin
            else:
                length, start = _IDLE_SPAN_S, begin
            c = max(0, int((max(lo, begin) - start) // length))
            while c > 0 and start + c * length > max(lo, begin):
                c -= 1
            while start + (c + 1) * length <= max(lo, begin):
                c += 1
            while start + c * length <= hi and start + c * length < end:
                a, b = start + c * length, min(start + (c + 1) * length, end)
                if active is None:
                    spans.append(_Span(max(a, begin), b, self._cycle(c), a, True))
                elif active:
                    spans.append(_Span(max(a, begin), b, self._busy_cycle(c), a, False))
                else:
                    spans.append(_Span(max(a, begin), b, self._idle_load(), a, False))
                c += 1
        return spans

    def _busy_profile(self) -> Profile:
        if self._busy is None or self._busy.sha256 != self._profile.sha256:
            self._busy = _busy_profile(self._profile)
        return self._busy

    def _busy_cycle(self, number: int) -> _Cycle:
        cyc = self._busy_cycles.get(number)
        if cyc is None:
            cyc = _build_cycle(self._busy_profile(), self.seed, number, _KEY_BUSY)
            if len(self._busy_cycles) >= 4:
                self._busy_cycles.pop(min(self._busy_cycles))
            self._busy_cycles[number] = cyc
        return cyc

    def _idle_load(self) -> _Cycle:
        if self._idle is None:
            self._idle = _idle_cycle(self._profile)
        return self._idle

    def _mains(self, tau: np.ndarray) -> np.ndarray:
        """Supply voltage with its slow wander, interpolated from a fixed grid of measuring time."""
        prof = self._profile
        m0 = math.floor(tau[0] / _WANDER_GRID_S) - 1
        m1 = math.floor(tau[-1] / _WANDER_GRID_S) + 2
        grid = np.arange(m0, m1 + 1, dtype=np.float64) * _WANDER_GRID_S
        wave = np.zeros_like(grid)
        for (period, share), phase in zip(_WANDER_SHAPE, self._wander_phase, strict=True):
            wave += share * np.sin(grid * (2 * np.pi / period) + phase)
        return np.interp(tau, grid, prof.voltage_v * (1.0 + prof.wander * wave))

    def _frequency(self, tau: np.ndarray) -> np.ndarray:
        """Mains frequency: the profile's, wandering slowly by up to 0.02 % (grid regulation)."""
        f = self._profile.frequency_hz
        phase = self._wander_phase[0]
        return f * (1.0 + 2e-4 * np.sin(tau * (2 * np.pi / 61.0) + phase))

    def _generate(self, i0: int, n: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, InstrumentEvent]]]:
        """Samples i0 .. i0+n-1 of the current stretch, their measuring times, and events by sample."""
        prof, cfg = self._profile, self._config
        dt, cf, t0 = cfg.update_interval_s, cfg.crest_factor, self._t0
        if len(self._ar) < n + 1:
            self._ar = np.arange(max(n + 1, 2 * len(self._ar)), dtype=np.float64)
        pts = self._ar[:n + 1] + float(i0)
        pts *= dt
        if self._epoch_tau:
            pts += self._epoch_tau
        tau = pts[:n]
        tc = prof.noise_correlation_s
        w, rel, edges = self._workload(pts, n, math.sqrt(tc / (tc + dt)))
        z, z2 = self._noise.take(i0, n)
        # w = mean * (1 + noise * z): the fluctuation averaged over the interval.
        np.multiply(rel, z, out=rel)
        rel += 1.0
        w *= rel
        # Mains: slow wander, a little noise, and a sag under load.
        v = self._mains(tau)
        drop = w * (-prof.sag_at_max / prof.highest_w)
        drop += 1.0
        drop += (VOLTAGE_NOISE * math.sqrt(1e-3 / (1e-3 + dt))) * z2
        v *= drop
        if prof.is_dc:
            pf: float | np.ndarray = 1.0
            a = w / v
        else:
            # Apparent power over pf_load: sqrt(P^2 + Q^2); then pf and a follow with no 0/0 at 0 W.
            s_load = w * w
            s_load += prof.reactive ** 2
            np.sqrt(s_load, out=s_load)
            pf = w / s_load
            pf *= prof.pf_load
            a = v * prof.pf_load
            np.divide(s_load, a, out=a)
        # The meter's view: ranges, overrange, clipping.
        share = max(ELEMENT_WEIGHTS[:self.channels]) / sum(ELEMENT_WEIGHTS[:self.channels])
        a_elem = a * share if self.channels > 1 else a
        ccf = prof.current_crest_factor
        v_peak = 1.0 if prof.is_dc else math.sqrt(2.0)
        switch = self._switch_samples()
        v_rng, v_sw, v_steps = self._v.track(v, v_peak, cf, switch)
        a_rng, a_sw, a_steps = self._a.track(a_elem, ccf, cf, switch)
        auto = self._v.auto or self._a.auto
        flags = np.full(n, int(Flag.AUTO_RANGE) if auto else 0, dtype=np.uint16)
        over_a = a_elem > np.multiply(a_rng, OVERRANGE)
        over_v = v > np.multiply(v_rng, OVERRANGE)
        limit = np.multiply(a_rng, cf / ccf)  # rms at which the current's peak reaches cf x range
        clipped = a_elem > limit
        any_over_a, any_over_v, any_clip = over_a.any(), over_v.any(), clipped.any()
        if any_clip:
            clipped &= ~over_a
            # The peaks above the limit are cut off, so the reading comes out low.
            low = 0.5 + 0.5 * np.divide(limit, a_elem, where=clipped, out=np.ones(n))
            a *= low
            w *= low
            flags[clipped] |= int(Flag.CLIPPED)
        switching = v_sw if a_sw is None else (a_sw if v_sw is None else v_sw | a_sw)
        if any_over_a or any_over_v or switching is not None:
            if not isinstance(pf, np.ndarray):
                pf = np.full(n, pf)
            bad_a = over_a if switching is None else over_a | switching
            bad_v = over_v if switching is None else over_v | switching
            bad = bad_a | bad_v
            w[bad] = np.nan
            a[bad_a] = np.nan
            v[bad_v] = np.nan
            pf[bad] = np.nan
            flags[over_a | over_v] |= int(Flag.OVERRANGE)
            if switching is not None:
                flags[switching] |= int(Flag.RANGE_CHANGE | Flag.INVALID)
        if cfg.mode == "dc" and not prof.is_dc:
            # DC mode shows the mean of voltage and current: about zero on a sine. Power stays true power.
            v = v * (DC_MODE_OFFSET * z2)
            a = a * (DC_MODE_OFFSET * z)
            pf = np.full(n, np.nan)
        block = np.empty(n, self.dtype)
        np.add(tau, t0, out=block["t"])
        block["w"] = w
        block["v"] = v
        block["a"] = a
        block["pf"] = pf
        block["v_range"] = v_rng
        block["a_range"] = a_rng
        if auto:
            block["uncert"] = np.nan
        else:
            u = self.description.accuracy.relative_uncertainty(
                w, v_rng, a_rng * self.channels, prof.frequency_hz, cf)
            if any_clip:
                u[clipped] = np.nan
            block["uncert"] = u
        if self.channels > 1:
            weights = np.array(ELEMENT_WEIGHTS[:self.channels])
            weights /= weights.sum()
            block["ch_w"] = w[:, None] * weights
            block["ch_v"] = v[:, None]
            block["ch_a"] = a[:, None] * weights
            block["ch_pf"] = pf[:, None] if isinstance(pf, np.ndarray) else pf
        if prof.is_dc:
            block["hz"] = np.nan
        else:
            # The meter measures the frequency of the voltage: the mains, wandering a few mHz.
            block["hz"] = self._frequency(tau)
            if any_over_v or switching is not None:
                block["hz"][bad_v] = np.nan
        marks = [(j, InstrumentEvent(float(t0 + tau[j]), "range", detail))
                 for j, detail in _range_events(v_rng, a_rng, v_steps, a_steps)]
        for j, e, edge in edges:
            flags[j] |= int(Flag.MARK)
            marks.append((j, InstrumentEvent(float(t0 + e), "gpio", {"line": GPIO_LINE, "edge": edge})))
        block["flags"] = flags
        return block, tau, marks


def _range_events(v_rng, a_rng, v_steps, a_steps) -> list[tuple[int, dict]]:
    """One "range" event per sample where a range steps, in the run monitor's shape
    (voltage, current, previous_voltage, previous_current): both ranges after and before,
    as the records hold them (float32), so the event says exactly what the data say."""
    at: dict[int, dict] = {}
    for j, old, new in v_steps:
        at.setdefault(j, {})["voltage"] = (old, new)
    for j, old, new in a_steps:
        at.setdefault(j, {})["current"] = (old, new)
    out = []
    for j in sorted(at):
        v_now = float(v_rng[j] if isinstance(v_rng, np.ndarray) else v_rng)
        a_now = float(a_rng[j] if isinstance(a_rng, np.ndarray) else a_rng)
        v_old = at[j]["voltage"][0] if "voltage" in at[j] else v_now
        a_old = at[j]["current"][0] if "current" in at[j] else a_now
        f32 = np.float32
        out.append((j, {"voltage": float(f32(v_now)), "current": float(f32(a_now)),
                        "previous_voltage": float(f32(v_old)), "previous_current": float(f32(a_old))}))
    return out


def _fill_energy(cyc: _Cycle, pos: np.ndarray, out: np.ndarray, noise: np.ndarray, offset: int, n: int,
                 noise_scale: float) -> None:
    """Workload energy since the cycle's start at times ``pos`` (ascending, s into the cycle)."""
    starts = cyc.starts
    k0 = int(np.searchsorted(starts, pos[0], side="right")) - 1
    k1 = int(np.searchsorted(starts, pos[-1], side="right")) - 1
    bounds = [0]
    if k1 > k0:
        bounds += np.searchsorted(pos, starts[k0 + 1:k1 + 1], side="left").tolist()
    bounds.append(len(pos))
    for k, a, b in zip(range(k0, k1 + 1), bounds[:-1], bounds[1:], strict=True):
        if b <= a:
            continue
        x = out[a:b]
        np.subtract(pos[a:b], starts[k], out=x)
        m = cyc.slope[k]
        if m:
            rate = x * (0.5 * m)
            rate += cyc.value[k]
            x *= rate
        else:
            x *= cyc.value[k]
        x += cyc.energy_before[k]
        sa, sb = offset + a, min(offset + b, n)
        if sb > sa:
            noise[sa:sb] = cyc.noise[k] * noise_scale
