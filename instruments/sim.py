"""The simulated power analyzer: a real driver of the interface, with no hardware behind it.

It produces the power of an ML system as a workload profile describes it (idle, warm-up,
steady inference with load-dependent noise and bursts, cool-down, repeated), measured the
way a WT310E-class meter would: volts, amps and power factor consistent with the power,
ranges that auto-step or overrange like the real thing, per-sample uncertainty from the
accuracy specification, optional GPIO edges around each inference window, and faults on
request (a disconnect, a stretch of lost samples). Everything is seedable: the same seed,
settings and start time give the same samples bit for bit.

With ``pace=True`` (default) samples become available in real time, as from a meter; with
``pace=False`` blocks come as fast as they are asked for (tests, throughput benchmarks).
"""

from __future__ import annotations

import json
import math
import time
import zlib
from functools import cache

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
from resources import resource_path
from station.core.samples import Block, Flag, InstrumentEvent, sample_dtype

VOLTAGE_RANGES = (6.0, 15.0, 30.0, 60.0, 150.0, 300.0, 600.0)
CURRENT_RANGES = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
AUTO_UP = 1.30  # step up above 130 % of range (WT300E manual)
AUTO_DOWN = 0.30  # step down at or below 30 % of range when the next lower range holds it
OVERRANGE = 1.40  # -OL- above 140 % of range
RANGE_SETTLE_S = 0.02  # readings during a range switch are invalid for this long
GPIO_LINE = 7

# WT310E active power accuracy, 12 months, CF3 (IM WT310E-02EN §7.3.2); CF6 doubles range error.
WT310E_ACCURACY = AccuracySpec(
    bands=((0.0, 0.1, 0.2), (44.999, 0.3, 0.2), (66.0, 0.1, 0.05), (1000.0, 0.2, 0.2),
           (10000.0, 0.77, 0.3), (100000.0, 8.6, 0.5)),
    source="Yokogawa IM WT310E-02EN 7.3.2 (active power, 12 months, CF3; CF6 doubles the range term)",
)


def profile_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in resource_path("profiles").glob("*.json")))


@cache
def load_profile(name: str) -> dict:
    """A workload profile by name, from ``resources/profiles/<name>.json``."""
    path = resource_path("profiles", f"{name}.json")
    if not path.is_file():
        raise ConfigurationError(f"no simulated workload profile {name!r}; known: {', '.join(profile_names())}")
    try:
        prof = json.loads(path.read_text(encoding="utf-8"))
        phases = prof["phases"]
        if not phases or any(p["duration_s"] <= 0 for p in phases):
            raise ValueError("phases must have positive durations")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"workload profile {path} is malformed: {exc}") from exc
    return prof


class SimulatedAnalyzer(Driver):
    """A simulated single- or multi-element power analyzer running an ML workload profile."""

    description = Description(
        name="sim",
        vendor="station",
        models=("SIM-PA1",),
        channels=1,
        quantities=("w", "v", "a", "pf", "freq"),
        voltage_ranges=VOLTAGE_RANGES,
        current_ranges=CURRENT_RANGES,
        fastest_interval_s=1e-5,
        slowest_interval_s=1.0,
        accuracy=WT310E_ACCURACY,
        transports=("none",),
        settings=(
            SettingSpec("profile", "Workload profile", "choice", "datacenter", choices=tuple(profile_names())),
            SettingSpec("seed", "Random seed", "int", 0, minimum=0),
            SettingSpec("update_interval_s", "Update interval", "float", 0.001, unit="s",
                        minimum=1e-5, maximum=1.0),
            SettingSpec("crest_factor", "Crest factor", "choice", 3.0, choices=(3.0, 6.0)),
            SettingSpec("mode", "Measuring mode", "choice", "rms", choices=("rms", "dc")),
            SettingSpec("events", "GPIO event markers", "bool", False),
            SettingSpec("channels", "Elements", "int", 1, minimum=1, maximum=4),
            SettingSpec("pace", "Real time", "bool", True),
        ),
        summary="Simulated analyzer with ML workload profiles from milliwatts to kilowatts",
    )

    def __init__(self, transport=None, **options) -> None:
        super().__init__(transport, **options)
        self.profile_name = str(options.get("profile", "datacenter"))
        self.seed = int(options.get("seed", 0))
        self.pace = _as_bool(options.get("pace", True))
        self.events = _as_bool(options.get("events", False))
        self.channels = int(options.get("channels", 1))
        self.start_time = float(options["start_time"]) if options.get("start_time") is not None else None
        self.disconnect_after_s = _opt_float(options.get("disconnect_after_s"))
        self.gap_at_s = _opt_float(options.get("gap_at_s"))
        self.gap_s = _opt_float(options.get("gap_s")) or 0.0
        if not 1 <= self.channels <= 4:
            raise ConfigurationError("the simulated analyzer has 1 to 4 elements")
        self.config = Config(update_interval_s=1e-3)
        self._v_req: RangeValue = AUTO
        self._a_req: RangeValue = AUTO
        self._v_range = VOLTAGE_RANGES[-1]
        self._a_range = CURRENT_RANGES[-1]
        self._open = False
        self._running = False
        self._disconnected_once = False
        self._profile: dict | None = None

    # -- the interface ---------------------------------------------------------------------------
    @property
    def dtype(self) -> np.dtype:
        return sample_dtype(self.channels)

    def open(self) -> None:
        """Connect (load the profile); fails like a device that is away while it is 'unplugged'."""
        self._profile = load_profile(self.profile_name)
        self._open = True

    def identify(self) -> Identity:
        """The simulated analyzer's identity; the serial number follows the seed."""
        self._need_open()
        serial = f"SIM{zlib.crc32(str(self.seed).encode()):08X}"
        return Identity("station", "SIM-PA1", serial, "sim-1", f"STATION,SIM-PA1,{serial},sim-1")

    def configure(self, config: Config) -> None:
        """Update interval 10 µs to 1 s, crest factor 3 or 6, mode rms or dc."""
        interval = float(config.update_interval_s)
        if not 1e-5 * (1 - 1e-9) <= interval <= 1.0 * (1 + 1e-9):
            raise ConfigurationError(f"update interval {interval:g} s is outside 10 µs to 1 s")
        if float(config.crest_factor) not in (3.0, 6.0):
            raise ConfigurationError(f"crest factor {config.crest_factor} is not 3 or 6")
        if config.mode not in ("rms", "dc"):
            raise ConfigurationError(f"mode {config.mode!r} is not rms or dc")
        if self._running:
            raise InstrumentError("stop the measurement before changing its configuration")
        self.config = Config(interval, float(config.crest_factor), config.mode, dict(config.extra))

    def set_ranges(self, voltage: RangeValue, current: RangeValue) -> None:
        """Fixed ranges from the range table, or 'auto'."""
        v = check_range(VOLTAGE_RANGES, voltage, "voltage")
        a = check_range(CURRENT_RANGES, current, "current")
        self._v_req, self._a_req = v, a
        if v != AUTO:
            self._v_range = float(v)
        if a != AUTO:
            self._a_range = float(a)

    def ranges(self) -> Ranges:
        """The ranges in force and whether the meter picks them itself."""
        return Ranges(self._v_range, self._a_range, self._v_req == AUTO, self._a_req == AUTO)

    def start(self) -> None:
        """Start streaming; after a reconnect the clock goes on where real time is."""
        self._need_open()
        if self._running:
            return
        self._profile = self._profile or load_profile(self.profile_name)
        if not hasattr(self, "_t0"):
            self._t0 = self.start_time if self.start_time is not None else time.time()
            self._index = 0
            self._rng_state = self.seed
        elif self.pace:
            self._index = max(self._index, int((time.time() - self._t0) / self.config.update_interval_s))
        self._running = True
        self._gap_pending = False

    def read_block(self, timeout: float = 0.5) -> Block | None:
        """The samples whose time has come (paced) or the next block (unpaced)."""
        if not self._running:
            raise InstrumentError("the simulated analyzer is not measuring; call start() first")
        dt = self.config.update_interval_s
        if self.pace:
            deadline = time.time() + timeout
            # Hand out blocks of about 20 ms (or one sample at slow rates): small enough for a
            # live display and a sub-second journal, large enough that per-block work stays cheap.
            want = max(1, int(0.02 / dt))
            while True:
                due = int((time.time() - self._t0) / dt) + 1 - self._index
                if due >= want:
                    break
                wait = self._t0 + (self._index + want - 1) * dt - time.time()
                if time.time() + max(wait, 0) > deadline:
                    time.sleep(max(0.0, deadline - time.time()))
                    due = int((time.time() - self._t0) / dt) + 1 - self._index
                    if due > 0:
                        break
                    return None
                time.sleep(max(wait, 0.0005))
            n = min(due, max(1, int(0.05 / dt)))
        else:
            n = max(1, min(65536, int(round(1.0 / dt))))
        first = self._index
        elapsed = first * dt
        if self.disconnect_after_s is not None and not self._disconnected_once and elapsed >= self.disconnect_after_s:
            self._disconnected_once = True
            self._running = False
            self._open = False
            raise InstrumentDisconnected("simulated analyzer disconnected (fault injection)")
        self._index += n
        return self._make_block(first, n)

    def stop(self) -> None:
        """Stop streaming; ranges and settings stay."""
        self._running = False

    def close(self) -> None:
        """Release the simulated instrument."""
        self._running = False
        self._open = False

    def settings_snapshot(self) -> dict:
        return {
            "driver": "sim", "profile": self.profile_name, "seed": self.seed, "pace": self.pace,
            "events": self.events, "channels": self.channels, "config": self.config.to_dict(),
            "requested_ranges": {"voltage": self._v_req, "current": self._a_req},
        }

    # -- the physics -------------------------------------------------------------------------------
    def _need_open(self) -> None:
        if not self._open:
            raise InstrumentDisconnected("the simulated analyzer is not connected")

    def _rng(self, first: int) -> np.random.Generator:
        # One generator per block start: a block's noise does not depend on earlier block sizes
        # beyond its start index, so the same settings give the same samples.
        return np.random.default_rng([self.seed, first])

    def _phase_table(self) -> dict:
        """The profile's phases as arrays, built once per profile."""
        if getattr(self, "_table_for", None) is not self._profile:
            phases = self._profile["phases"]
            dur = np.array([p["duration_s"] for p in phases], dtype=np.float64)
            self._table = {
                "dur": dur,
                "edges": np.concatenate(([0.0], np.cumsum(dur))),
                "start_w": np.array([p["start_w"] for p in phases], dtype=np.float64),
                "slope_w": np.array([p["end_w"] - p["start_w"] for p in phases], dtype=np.float64) / dur,
                "steady": np.array([bool(p.get("steady")) for p in phases]),
                "noise": np.array([p.get("noise", 0.02) for p in phases], dtype=np.float64),
                "bursts": [(i, p["burst"]) for i, p in enumerate(phases) if p.get("burst")],
                "lo": min(min(p["start_w"], p["end_w"]) for p in phases),
                "hi": max(max(p["start_w"], p["end_w"]) for p in phases),
            }
            self._table_for = self._profile
        return self._table

    def _true_power(self, tau: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Workload power at elapsed times ``tau`` and the steady-window mask."""
        tb = self._phase_table()
        edges = tb["edges"]
        pos = np.mod(tau, edges[-1])
        k = np.searchsorted(edges, pos, side="right") - 1
        np.clip(k, 0, len(tb["dur"]) - 1, out=k)
        into = pos - edges[k]
        power = tb["start_w"][k] + tb["slope_w"][k] * into
        for i, burst in tb["bursts"]:
            on = (k == i) & (np.mod(into, burst["period_s"]) < burst["duty"] * burst["period_s"])
            power += on * burst["extra_w"]
        # A sample is the mean over its interval: shorter intervals see more of the load's jitter.
        ref = float(self._profile.get("noise_ref_interval_s", 1e-3))
        scale = min(3.0, math.sqrt(ref / self.config.update_interval_s))
        power *= 1.0 + tb["noise"][k] * scale * rng.standard_normal(len(tau))
        return np.maximum(power, 0.0, out=power), tb["steady"][k]

    def _make_block(self, first: int, n: int) -> Block:
        dt = self.config.update_interval_s
        idx = np.arange(first, first + n, dtype=np.float64)
        tau = idx * dt
        events: list[InstrumentEvent] = []
        keep = np.ones(n, dtype=bool)
        gap_flag_at = None
        if self.gap_at_s is not None and self.gap_s > 0:
            lost = (tau >= self.gap_at_s) & (tau < self.gap_at_s + self.gap_s)
            if lost.any():
                keep &= ~lost
                self._gap_pending = True
            if self._gap_pending and keep.any() and tau[keep][0] >= self.gap_at_s + self.gap_s:
                gap_flag_at = int(np.flatnonzero(keep)[0])
                self._gap_pending = False
        rng = self._rng(first)
        prof = self._profile["mains"]
        w, steady = self._true_power(tau, rng)
        dc = prof["frequency"] == 0 or self.config.mode == "dc"
        v = prof["voltage"] * (1.0 + 0.004 * np.sin(2 * np.pi * tau / 37.0) + 0.0005 * rng.standard_normal(n))
        if dc:
            pf = np.ones(n)
        else:
            lo, hi = self._phase_table()["lo"], self._phase_table()["hi"]
            load = np.clip((w - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
            pf = prof["pf_idle"] + (prof["pf_load"] - prof["pf_idle"]) * load
        a = w / (v * pf)
        peak = a * prof.get("peak_ratio", 1.0) * (1.0 if dc else math.sqrt(2.0))
        flags = np.zeros(n, dtype=np.uint16)
        v_rng = self._ranges_over(v, v, VOLTAGE_RANGES, "_v_range", self._v_req, flags, dt)
        a_rng = self._ranges_over(a, peak, CURRENT_RANGES, "_a_range", self._a_req, flags, dt)
        cf = self.config.crest_factor
        over = (a > OVERRANGE * a_rng) | (v > OVERRANGE * v_rng)
        clipped = (peak > cf * a_rng) & ~over
        flags[over] |= int(Flag.OVERRANGE)
        flags[clipped] |= int(Flag.CLIPPED)
        auto = self._a_req == AUTO or self._v_req == AUTO
        if auto:
            flags |= int(Flag.AUTO_RANGE)
        bad = (flags & int(Flag.OVERRANGE | Flag.INVALID)) != 0
        block = np.empty(n, self.dtype)  # every field is written below
        block["flags"] = 0
        block["t"] = self._t0 + tau
        block["w"] = np.where(bad, np.nan, w)
        block["v"] = np.where((flags & int(Flag.INVALID)) != 0, np.nan, v)
        block["a"] = np.where(bad, np.nan, a)
        block["pf"] = np.where(bad, np.nan, pf)
        block["v_range"] = v_rng
        block["a_range"] = a_rng
        if not auto:
            freq = 0.0 if dc else prof["frequency"]
            u = self.description.accuracy.relative_uncertainty(w, v_rng, a_rng, freq, cf)
            block["uncert"] = np.where(bad, np.nan, u)
        else:
            block["uncert"] = np.nan
        if self.channels > 1:
            shares = 1.0 + 0.1 * np.arange(self.channels)
            shares = shares / shares.sum()
            block["ch_w"] = block["w"][:, None] * shares
            block["ch_v"] = block["v"][:, None]
            block["ch_a"] = block["a"][:, None] * shares
            block["ch_pf"] = block["pf"][:, None]
        if self.events:
            self._gpio_edges(tau, steady, block, events)
        block["flags"] = flags | block["flags"]
        if gap_flag_at is not None:
            block["flags"][gap_flag_at] |= int(Flag.GAP_BEFORE)
            events.append(InstrumentEvent(float(block["t"][gap_flag_at]), "gap",
                                          {"length_s": self.gap_s, "message": "samples lost (fault injection)"}))
        if not keep.all():
            block = block[keep]
        return Block(block, events)

    def _ranges_over(self, rms: np.ndarray, peak: np.ndarray, table: tuple, attr: str, request,
                     flags: np.ndarray, dt: float) -> np.ndarray:
        """Range in force per sample; under auto, step like a meter and flag the switch."""
        out = np.empty(len(rms))
        cur = getattr(self, attr)
        if request != AUTO:
            out[:] = cur
            return out
        settle = max(1, int(math.ceil(RANGE_SETTLE_S / dt)))
        i, n = 0, len(rms)
        k = table.index(cur)
        # Step down once per block when the whole block fits the next lower range comfortably.
        while k > 0 and rms.max() <= AUTO_DOWN * table[k] and rms.max() <= table[k - 1] * 1.25:
            k -= 1
            cur = table[k]
            end = min(n, settle)
            flags[:end] |= int(Flag.RANGE_CHANGE | Flag.INVALID)
            i = 0
            break
        while i < n:
            above = np.flatnonzero((rms[i:] > AUTO_UP * cur) | (peak[i:] > self.config.crest_factor * cur * 1.0))
            if len(above) == 0 or k == len(table) - 1:
                out[i:] = cur
                break
            j = i + int(above[0])
            out[i:j] = cur
            k += 1
            cur = table[k]
            end = min(n, j + settle)
            out[j:end] = cur
            flags[j:end] |= int(Flag.RANGE_CHANGE | Flag.INVALID)
            i = end
        setattr(self, attr, cur)
        return out

    def _gpio_edges(self, tau: np.ndarray, steady: np.ndarray, block: np.ndarray, events: list) -> None:
        prev = self._last_steady if hasattr(self, "_last_steady") else bool(steady[0])
        seq = np.concatenate(([prev], steady))
        change = np.flatnonzero(seq[1:] != seq[:-1])
        for i in change:
            edge = "rising" if steady[i] else "falling"
            block["flags"][i] |= int(Flag.MARK)
            events.append(InstrumentEvent(float(block["t"][i]), "gpio", {"line": GPIO_LINE, "edge": edge}))
        self._last_steady = bool(steady[-1])


def _as_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _opt_float(value) -> float | None:
    return None if value is None else float(value)
