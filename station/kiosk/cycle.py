"""The kiosk's demo cycle: ranging, then testing, then the result, profile after profile.

After each result, once two or more profiles have one, the loop shows the comparison board
(phase ``compare``: the latest result of every profile side by side) for ``compare_s``.

Each cycle measures one workload profile on the simulated analyzer the way MLPerf Power does:

1. **Ranging**: auto ranges while the workload runs; the highest good voltage and current are
   kept.
2. **Range selection**: the measurement service's one proposal
   (:func:`station.measurement.ranges.propose_ranges`, as ``station measure`` and ``station serve``):
   voltage range = the smallest range holding the ranging maximum, current range = the smallest
   holding ``current_headroom`` (1.1, MLPerf Inference rules) x the ranging maximum.
3. **Testing**: the same workload again on those fixed ranges, recorded; the workload window
   comes from the analyzer's GPIO edges (rising: the workload starts, falling: it ends), and
   the average power inside it gives the efficiency figures.

Both runs are journals in ``<data_dir>/runs/<cycle>/{ranging,testing}``; after every cycle the
oldest cycles beyond ``max_runs`` are deleted, so the disk stays bounded however long the
kiosk runs. Memory too: each phase gets a fresh session and a live store of bounded size, and
the loop keeps only the latest result per profile.

A **fleet kiosk** (``config.fleet``: a telemetry source such as the prometheus driver) has one
phase per cycle, ``measuring``: the fleet as it is for ``testing_s``, no ranging and no profile;
its result is the average power and the energy of the records (the total of every node, a node
that stopped reporting bridged by the driver), the nodes and the series that stopped.

The instruments come from the service's builder (:func:`station.measurement.instruments.open_instrument`).
Qt-free: the window polls :meth:`DemoLoop.status` on its timer.
"""

from __future__ import annotations

import ctypes
import gc
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from station.kiosk.config import KioskConfig, KioskProfile
from station.measurement.ranges import RangingMaxima, headroom_of, propose_ranges
from station.measurement.run import MeasuredRun, RunCancelled, RunFailed

RUNS = "runs"
LIVE_WINDOW_S = 60.0  # seconds of raw samples the live store keeps


@dataclass
class CycleResult:
    profile: str
    cycle: int
    v_range: float
    a_range: float
    max_v: float
    max_a: float
    max_w: float
    avg_w: float | None  # inside the workload window
    window_s: float  # length of the workload window
    energy_j: float | None  # inside the workload window
    joules_per_item: float | None
    items_per_joule: float | None
    overrange_samples: int
    run_dir: str
    fleet: bool = False  # fleet telemetry (no ranges, no workload), not an analyzer measurement
    nodes: int = 0  # channels of a fleet source
    nodes_reporting: int = 0  # of them, measured in the last record
    stopped: tuple[str, ...] = ()  # series that stopped updating during the cycle


@dataclass
class LoopStatus:
    cycle: int = 0
    profile: KioskProfile | None = None
    phase: str = "waiting"  # waiting, ranging, testing, result, compare (every profile's latest result)
    phase_started: float = 0.0  # monotonic
    phase_s: float = 0.0
    store: object = None  # LiveStore of the phase running now
    ranges: tuple[float, float] | None = None  # fixed (voltage, current) during testing
    result: CycleResult | None = None  # of the cycle just finished (shown in "result")
    error: str | None = None
    cycles_done: int = 0
    results: dict[str, CycleResult] = field(default_factory=dict)  # latest per profile
    channels: list[str] | None = None  # a fleet source's channel names (series), for the node table
    stale_after_s: list[float] | None = None  # and how long the driver waits for each


class _Maxima(RangingMaxima):
    """Sink: the service's ranging maxima, plus the highest good power for the result card."""

    def __init__(self) -> None:
        super().__init__()
        self.w = 0.0

    def add(self, records: np.ndarray) -> None:
        from station.core.samples import good_mask

        super().add(records)
        good = good_mask(records)
        if good.any():
            self.w = max(self.w, float(np.nanmax(records["w"][good])))

    @property
    def v(self) -> float:
        return self.volts if self.found else 0.0

    @property
    def a(self) -> float:
        return self.amps if self.found else 0.0


class _Window:
    """Listener: the workload window from the analyzer's GPIO edges."""

    def __init__(self) -> None:
        self.begin: float | None = None
        self.end: float | None = None

    def __call__(self, kind: str, t: float | None = None, **detail) -> None:
        if kind != "gpio" or t is None:
            return
        if detail.get("edge") == "rising" and self.begin is None:
            self.begin = t
        elif detail.get("edge") == "falling" and self.begin is not None and self.end is None:
            self.end = t


class DemoLoop:
    """Runs demo cycles on a thread until :meth:`stop`."""

    def __init__(self, config: KioskConfig) -> None:
        self.config = config
        self.runs_dir = Path(config.data_dir) / RUNS
        self._status = LoopStatus()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.max_cycles: int | None = None  # stop after this many (tests, soak benchmark)

    # -- control --------------------------------------------------------------------------------
    def start(self) -> None:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="kiosk-demo", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def status(self) -> LoopStatus:
        """A copy of the loop's state (any thread)."""
        with self._lock:
            s = self._status
            return LoopStatus(s.cycle, s.profile, s.phase, s.phase_started, s.phase_s, s.store, s.ranges,
                              s.result, s.error, s.cycles_done, dict(s.results), s.channels, s.stale_after_s)

    def _set(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._status, k, v)

    # -- the loop ---------------------------------------------------------------------------------
    def _run(self) -> None:
        cycle = 0
        while not self._stop.is_set():
            if self.max_cycles is not None and cycle >= self.max_cycles:
                break
            profile = self.config.profiles[cycle % len(self.config.profiles)]
            try:
                result = self._run_cycle(cycle, profile)
            except Exception as exc:  # a demo stand carries on: show it, pause, next cycle
                self._set(phase="waiting", store=None, error=f"{type(exc).__name__}: {exc}",
                          phase_started=time.monotonic(), phase_s=5.0)
                self._stop.wait(5.0 if self.config.realtime else 0.0)
                result = None
            finally:
                cycle += 1
                rotate_runs(self.runs_dir, self.config.max_runs)
                release_memory()
            if result is None:
                continue
            with self._lock:
                self._status.results[profile.name] = result
                self._status.cycles_done += 1
            # The testing run's store stays on screen with its result; the next phase replaces it.
            self._set(phase="result", result=result, error=None,
                      phase_started=time.monotonic(), phase_s=self.config.result_s)
            self._stop.wait(self.config.result_s if self.config.realtime else 0.0)
            # Then the latest result of every profile side by side: visitors remember comparisons.
            if self.config.compare_s > 0 and len(self.status().results) >= 2 and not self._stop.is_set():
                self._set(phase="compare", phase_started=time.monotonic(), phase_s=self.config.compare_s)
                self._stop.wait(self.config.compare_s if self.config.realtime else 0.0)
        self._set(phase="waiting", store=None)

    def _durations(self, profile: KioskProfile) -> tuple[float, float]:
        from instruments.sim import load_profile

        if self.config.ranging_s is None:
            cycle_s = load_profile(profile.name).cycle_s
            return cycle_s, cycle_s
        return self.config.ranging_s, self.config.testing_s

    def _run_cycle(self, cycle: int, profile: KioskProfile) -> CycleResult | None:
        if self.config.fleet:
            return self._run_fleet_cycle(cycle, profile)
        from instruments.sim import SimulatedAnalyzer

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        cycle_dir = self.runs_dir / f"{stamp}-{cycle:06d}-{profile.name}"
        ranging_s, testing_s = self._durations(profile)
        seed = self.config.seed + 2 * cycle
        self._set(cycle=cycle, profile=profile, ranges=None, result=None, error=None)

        maxima = _Maxima()
        state = self._record("ranging", cycle_dir / "ranging", profile, seed, "auto", "auto", ranging_s,
                             sink=maxima)
        if state != "complete":
            return None
        if not maxima.found:
            raise RuntimeError("the ranging run saw no valid reading")
        from station import rules

        proposal = propose_ranges(SimulatedAnalyzer.description, maxima, "inst0",
                                  headroom_of(rules.load("mlperf-inference")))
        v_range, a_range = proposal.voltage, proposal.current
        self._set(ranges=(v_range, a_range))

        window = _Window()
        records: list[np.ndarray] = []  # the testing samples, for the window average (bounded: one run)
        state = self._record("testing", cycle_dir / "testing", profile, seed + 1, v_range, a_range, testing_s,
                             sink=records.append, listener=window)
        if state != "complete":
            return None
        return self._result(cycle, profile, cycle_dir, maxima, v_range, a_range, records, window)

    def _run_fleet_cycle(self, cycle: int, profile: KioskProfile) -> CycleResult | None:
        """The fleet as it is for ``testing_s``: one recorded run, no ranging."""
        from station.core.samples import good_mask

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        cycle_dir = self.runs_dir / f"{stamp}-{cycle:06d}-fleet"
        self._set(cycle=cycle, profile=profile, ranges=None, result=None, error=None)
        stopped: list[str] = []

        def on_event(kind: str, t: float | None = None, **detail) -> None:
            if kind == "channel_gap" and detail.get("state") == "begin" and detail.get("series") not in stopped:
                stopped.append(str(detail.get("series")))

        state = self._record("measuring", cycle_dir / "fleet", profile, 0, "auto", "auto", self.config.testing_s,
                             listener=on_event)
        if state != "complete":
            return None
        from station.core.journal import JournalReader

        # The journal's records, as a later review reads them (a sink may see one more after the end).
        data = np.asarray(JournalReader(cycle_dir / "fleet").samples("inst0"))
        interval = 1.0 / self.config.rate_hz
        nodes = len(self.status().channels or []) or 1
        avg = energy = None
        window_s, reporting = 0.0, 0
        if len(data):
            good = data[good_mask(data)]
            if len(good):
                window_s = len(data) * interval
                energy = float(np.sum(good["w"])) * interval
                avg = float(np.mean(good["w"]))
            last = data["ch_w"][-1] if "ch_w" in data.dtype.names and nodes > 1 else data["w"][-1:]
            reporting = int(np.count_nonzero(np.isfinite(np.atleast_1d(last)[:nodes])))
        nan = float("nan")
        return CycleResult(profile.name, cycle, nan, nan, nan, nan, float(np.nanmax(data["w"])) if avg else nan,
                           avg, window_s, energy, None, None, 0, str(cycle_dir), fleet=True, nodes=nodes,
                           nodes_reporting=reporting, stopped=tuple(stopped))

    def _record(self, phase: str, run_dir: Path, profile: KioskProfile, seed: int, v_range, a_range,
                duration_s: float, sink=None, listener=None) -> str:
        from dataclasses import replace

        from station.core.live_store import LiveStore
        from station.measurement.instruments import open_instrument

        interval = 1.0 / self.config.rate_hz
        spec = self.config.instrument
        if self.config.fleet:  # the source is read as configured: there is no profile to play
            options = dict(spec.options)
        else:
            options = {**spec.options, "profile": profile.name, "seed": seed, "pace": self.config.realtime,
                       "events": True, "rate_hz": self.config.rate_hz}
        session = open_instrument(replace(spec, options=options, voltage_range=v_range, current_range=a_range),
                                  "inst0", interval_s=interval)
        session.connect()
        if self.config.fleet:
            snapshot = session.driver.settings_snapshot()
            self._set(channels=list(snapshot.get("channel_names") or []) or None,
                      stale_after_s=list(snapshot.get("stale_after_s") or []) or None)
        store = LiveStore(session.dtype, window_samples=max(64, int(LIVE_WINDOW_S / interval)), interval_s=interval)
        session.add_sink(store.append)
        if sink is not None:
            session.add_sink(sink)
        if listener is not None:
            session.add_listener(listener)
        settings = {"command": "kiosk", "phase": phase, "profile": profile.name, "seed": seed,
                    "voltage_range": v_range, "current_range": a_range, "fleet": self.config.fleet}
        run = MeasuredRun(run_dir, [session], settings=settings, duration_s=duration_s, cancel=self._stop)
        self._set(phase=phase, store=store, phase_started=time.monotonic(), phase_s=duration_s)
        state = "complete"
        try:
            run.start()
            run.wait_duration()
        except RunCancelled:
            state = "stopped"
        except RunFailed:
            state = "failed"
        finally:
            run.finish(state)
            try:
                session.close()
            except Exception:
                pass
        if state == "failed":
            raise RuntimeError(run.recording.error or session.error or f"the {phase} run failed")
        return state

    def _result(self, cycle, profile, cycle_dir, maxima, v_range, a_range, records, window) -> CycleResult:
        from station.core.samples import Flag, good_mask

        data = np.concatenate(records) if records else np.zeros(0)
        over = int(np.count_nonzero(data["flags"] & int(Flag.OVERRANGE))) if len(data) else 0
        interval = 1.0 / self.config.rate_hz
        avg = energy = None
        window_s = 0.0
        if len(data) and window.begin is not None:
            end = window.end if window.end is not None else float(data["t"][-1]) + interval
            inside = data[(data["t"] >= window.begin) & (data["t"] < end)]
            good = inside[good_mask(inside)]
            if len(good):
                avg = float(np.mean(good["w"]))
                window_s = end - window.begin
                energy = avg * window_s
        per_item = avg / profile.throughput_per_s if avg is not None else None
        per_joule = profile.throughput_per_s / avg if avg else None
        return CycleResult(profile.name, cycle, v_range, a_range, maxima.v, maxima.a, maxima.w, avg, window_s,
                           energy, per_item, per_joule, over, str(cycle_dir))


def release_memory() -> None:
    """Hand freed memory back to the system after a cycle.

    Every phase allocates and frees a few MB of numpy buffers on threads that come and go.
    glibc keeps such memory in its arenas (and raises its mmap threshold after the first big
    free), so the resident size of a kiosk crept up by about 1 MB per cycle although nothing
    was held (tracemalloc: flat). ``malloc_trim`` returns it; elsewhere this does nothing.
    """
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None  # musl and others: no malloc_trim


_LIBC = _glibc()


def rotate_runs(runs_dir: Path, keep: int) -> list[Path]:
    """Delete the oldest cycle directories beyond ``keep`` (names sort by time); returns the deleted."""
    if not runs_dir.is_dir():
        return []
    cycles = sorted(p for p in runs_dir.iterdir() if p.is_dir())
    doomed = cycles[:-keep] if keep > 0 else cycles
    for p in doomed:
        shutil.rmtree(p, ignore_errors=True)
    return doomed
