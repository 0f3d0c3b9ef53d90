"""The MLPerf Training power procedure: every node over the training run, MLLOG node files, the energy.

Steps (``station training`` runs them headless):

1. **The run window** from the training run's performance log (``result_<name>.txt``):
   ``run_start``/``run_stop`` as the official summarizer picks them. After the fact, the log is
   read once; live (``follow``), the file is followed as it grows, and the recording starts when
   ``run_start`` appears and ends ``margin_s`` after ``run_stop``.
2. **Every node recorded** over ``run_start - margin .. run_stop + margin`` into one crash-safe
   journal (:class:`~station.measurement.run.MeasuredRun`): a Prometheus instrument is one
   instrument of many series, grouped into nodes by a label (``node_label``, e.g. ``instance``
   or ``Hostname``); any other instrument (a Redfish BMC, an analyzer) is one node. Prometheus
   reads the window from its history (``from_utc``/``until_utc``), so the procedure can be run
   after the training run as well as during it; instruments that only read the present
   (Redfish) need ``follow``.
3. **Switches**: measured ones (instruments named in ``measured_switches``) and estimated ones
   (maximum power x share provisioned to the run; the summarizer multiplies by time to train).
4. **Files**: ``power/result_<name>/node_<i>.txt`` and ``sw_<j>.txt``, numbered 0..n-1 in the
   order of the node names, written by :mod:`station.training.mllog`. A node reading is the
   node's mean power over one update interval, stamped at the interval's end, and the file's
   ``power_measurement_start`` is the first interval's beginning: the summarizer's
   ``sum(P_i x (t_i - t_prev))`` is then exactly the integral of the records. Intervals where a
   series of the node was not measured (a gap) have no reading: the file shows the hole rather
   than a bridged value, and the audit reports it. A measured switch's file carries its measured
   mean power as ``interconnect_power_est`` too, since the summarizer counts a switch without
   one as 0 J.
5. **The energy and the audit**: the performance log is copied two levels above the power folder
   (the submission layout) and the result is verified as a published one
   (:func:`station.training.verify.verify_training`): the energy as the official summarizer
   computes it from the files, and the checks the official package checker lacks (1 Hz sampling
   per node, duplicate timestamps, windows covering the run, switches counted as 0 J, naming).
   The station's own integral of the records is reported beside it.
"""

from __future__ import annotations

import math
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from station.measurement.instruments import InstrumentSpec
from station.training.energy import CURRENT
from station.training.mllog import RunWindow, read_run_window, write_power_file, write_switch_file
from station.training.verify import verify_training

REPLAYS_HISTORY = ("prometheus",)  # drivers that can read a past window (from_utc / until_utc)
STALL_S = 60.0  # after the run's end, an instrument silent this long ends the recording


class TrainingRunError(Exception):
    """The procedure cannot go on; the message says what happened and what to do."""


@dataclass(frozen=True)
class EstimatedSwitch:
    """A switch not measured: its maximum specified power and the share of it provisioned to the run."""

    name: str
    max_power_w: float
    provisioned_share: float = 1.0

    @property
    def power_w(self) -> float:
        return self.max_power_w * self.provisioned_share


@dataclass
class TrainingPlan:
    """What to measure for one training run and where to write it."""

    perf_log: Path
    instruments: list[InstrumentSpec]
    out: Path  # results folder: power/result_<name>/ goes in it
    node_label: str | None = None  # Prometheus series with the same value of this label are one node
    measured_switches: tuple[str, ...] = ()  # instrument ids whose nodes are switches
    estimated_switches: tuple[EstimatedSwitch, ...] = ()
    conversion_eff: float | None = None
    measurement_type: str | None = None  # AC or DC, with conversion_eff
    follow: bool = False
    margin_s: float = 2.0
    follow_timeout_s: float = 7 * 24 * 3600.0  # how long to wait for run_start / run_stop when following
    run_dir: Path | None = None  # the journal (default: out/station/result_<name>)


@dataclass
class NodeSeries:
    """One node's (or measured switch's) power over the run: record end times (UTC s) and mean watts."""

    name: str
    t: np.ndarray
    w: np.ndarray
    interval_s: float
    instrument: str
    series: list[str] = field(default_factory=list)
    missing: int = 0  # intervals with no reading (a series of the node was not measured)


@dataclass
class TrainingResult:
    """What the procedure did: the window, the files, the energy; :meth:`summary` is the JSON summary."""

    window: RunWindow
    power_dir: Path
    run_dir: Path
    nodes: list[NodeSeries]
    switches: list[NodeSeries]
    estimated: tuple[EstimatedSwitch, ...]
    audit: dict  # station verify of the written result: verdict, checks, metric, each file's energy
    recorded_j: float  # the station's integral of the node records over run_start..run_stop
    run_summary: dict
    files: dict[str, str] = field(default_factory=dict)  # file name -> node/switch name

    @property
    def valid(self) -> bool:
        """Every check of the written result passed (warnings allowed)."""
        return bool(self.audit.get("valid")) and self.audit.get("metric") is not None

    def _instrument_summaries(self) -> dict[str, dict]:
        return self.run_summary.get("instruments") or {}

    def _file_energy(self, kind: str, file: str) -> float | None:
        shares = (self.audit.get("energy") or {}).get(CURRENT.name) or {}
        return (shares.get(kind) or {}).get(file)

    def summary(self) -> dict:
        ttt_s = self.window.time_to_train_ms / 1000.0
        verdict_keys = ("integrity", "valid", "compliant", "headline", "verdict", "reasons", "official", "station")
        return {
            **{k: self.audit[k] for k in verdict_keys if k in self.audit},
            "kind": "training",
            "procedure": "mlperf-training",
            "perf_log": str(self.window.path),
            "run_start_ms": self.window.start_ms,
            "run_stop_ms": self.window.stop_ms,
            "time_to_train_s": ttt_s,
            "power_dir": str(self.power_dir),
            "run_dir": str(self.run_dir),
            "metric": self.audit.get("metric"),
            "checks": self.audit.get("checks", []),
            "energy_recorded_j": self.recorded_j,
            "nodes": [{"file": f, "name": n.name, "instrument": n.instrument, "series": n.series,
                       "readings": int(n.t.size), "missing_intervals": n.missing,
                       "energy_j": self._file_energy("nodes_j", f)}
                      for f, n in zip(self._names("node", len(self.nodes)), self.nodes, strict=True)],
            "switches": [{"file": f, "name": s.name, "measured": True, "readings": int(s.t.size),
                          "energy_j": self._file_energy("switches_j", f)}
                         for f, s in zip(self._names("sw", len(self.switches)), self.switches, strict=True)]
                        + [{"file": f, "name": e.name, "measured": False, "max_power_w": e.max_power_w,
                            "provisioned_share": e.provisioned_share,
                            "energy_j": self._file_energy("switches_j", f)}
                           for f, e in zip(self._names("sw", len(self.switches) + len(self.estimated))
                                           [len(self.switches):], self.estimated, strict=True)],
            "recording": {"state": self.run_summary.get("state"),
                          "gaps": sum(int(i.get("gaps") or 0) for i in self._instrument_summaries().values()),
                          "instruments": {k: {f: v.get(f) for f in ("gaps", "samples", "energy_j", "coverage")}
                                          for k, v in self._instrument_summaries().items()}},
        }

    @staticmethod
    def _names(prefix: str, n: int) -> list[str]:
        return [f"{prefix}_{i}.txt" for i in range(n)]


# -- the run window -------------------------------------------------------------------------------
def follow_run_window(path: Path, on_start: Callable[[float], None] | None = None, *, timeout_s: float,
                      poll_s: float = 0.2, should_stop: Callable[[], bool] | None = None) -> RunWindow:
    """Follow a performance log as it grows until it holds ``run_start`` and ``run_stop``.

    ``on_start(run_start_ms)`` is called once, as soon as ``run_start`` is there. TrainingRunError
    when ``timeout_s`` passes first or ``should_stop()`` is true.
    """
    deadline = time.monotonic() + timeout_s
    started = False
    while True:
        start_ms = _first_key_time(path, "run_start")
        if start_ms is not None and not started:
            started = True
            if on_start is not None:
                on_start(start_ms)
        if started and _first_key_time(path, "run_stop") is not None:
            return read_run_window(path)
        if should_stop is not None and should_stop():
            raise TrainingRunError(f"stopped while waiting for {'run_stop' if started else 'run_start'} in {path}")
        if time.monotonic() > deadline:
            raise TrainingRunError(f"{path} has no {'run_stop' if started else 'run_start'} after {timeout_s:g} s of "
                                   "following it; is this the log of the training run that is going on?")
        time.sleep(poll_s)


def _first_key_time(path: Path, key: str) -> float | None:
    """time_ms of the first complete MLLOG line with ``key`` in ``path`` (None if absent or not yet written)."""
    try:
        text = path.read_bytes().decode("latin-1")
    except FileNotFoundError:
        return None
    pattern = re.compile(r':::MLLOG \{.*?"time_ms": ?(-?[0-9.eE+-]+).*?"key": ?"' + re.escape(key) + r'".*\}\s*$')
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # the line is still being written
        m = pattern.search(line)
        if m:
            return float(m.group(1))
    return None


# -- recording -------------------------------------------------------------------------------------
def _windowed_spec(spec: InstrumentSpec, begin_utc: float, end_utc: float | None) -> InstrumentSpec:
    """``spec`` reading from ``begin_utc`` (and up to ``end_utc``) when its driver can replay history."""
    if spec.driver not in REPLAYS_HISTORY:
        return spec
    options = {**spec.options, "from_utc": begin_utc}
    if end_utc is not None:
        options["until_utc"] = end_utc
    return replace(spec, options=options)


class _LastSample:
    """The time of the last record each instrument delivered (a sink on each session)."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def sink_for(self, inst_id: str):
        def sink(samples: np.ndarray) -> None:
            if len(samples):
                self.t[inst_id] = float(samples["t"][-1])
        return sink


def _record(plan: TrainingPlan, specs: list[InstrumentSpec], run_dir: Path, begin_utc: float,
            window_end: Callable[[], float | None], say: Callable[[str], None],
            cancel: threading.Event) -> dict:
    """Record ``specs`` until each delivered a record at or after ``window_end()`` (None: not known yet);
    the run's summary.

    After the end has passed, an instrument that delivers nothing new for ``STALL_S`` (a BMC that
    went away, an analyzer on hold) ends the recording with what it has: the audit then shows its
    window short of the run."""
    from station.measurement.instruments import instrument_ids, open_instrument
    from station.measurement.run import MeasuredRun, RunCancelled, RunFailed

    sessions = []
    try:
        for spec, inst_id in zip(specs, instrument_ids(specs), strict=True):
            sessions.append(open_instrument(spec, inst_id))
        for s in sessions:
            s.connect()
    except Exception as exc:
        for s in sessions:
            try:
                s.close()
            except Exception:
                pass
        raise TrainingRunError(f"cannot open the instruments: {exc}") from None
    last = _LastSample()
    for s in sessions:
        s.add_sink(last.sink_for(s.inst_id))
    settings = {"command": "training", "procedure": "mlperf-training", "perf_log": str(plan.perf_log),
                "instruments": [spec.to_dict() for spec in specs], "node_label": plan.node_label,
                "measured_switches": list(plan.measured_switches),
                "estimated_switches": [vars(e) for e in plan.estimated_switches],
                "from_utc": begin_utc}
    run = MeasuredRun(run_dir, sessions, settings=settings, cancel=cancel)
    state = "complete"
    try:
        run.start()
        say(f"recording {len(sessions)} instrument(s) from {begin_utc:.3f}")
        run.wait_first_samples()
        progress, moved = None, time.monotonic()
        while True:
            end = window_end()
            reached = {s.inst_id: last.t.get(s.inst_id, -math.inf) for s in sessions}
            if end is not None and all(t >= end for t in reached.values()):
                break
            if tuple(reached.values()) != progress:
                progress, moved = tuple(reached.values()), time.monotonic()
            elif end is not None and time.time() > end and time.monotonic() - moved > STALL_S:
                behind = ", ".join(i for i, t in reached.items() if t < end)
                say(f"{behind} delivered nothing for {STALL_S:g} s after the run's end; the recording ends "
                    "with what it has")
                run.journal.event("training_stalled", instruments=behind, message=(
                    f"{behind} delivered nothing for {STALL_S:g} s after the run's end"))
                break
            run.pause(0.1)
    except RunCancelled:
        state = "stopped"
    except RunFailed as exc:
        state = "failed"
        say(f"the recording failed: {exc}")
    finally:
        summary = run.finish(state)
        for s in sessions:
            try:
                s.close()
            except Exception:
                pass
    if state != "complete":
        raise TrainingRunError(f"the recording ended {state}: {summary.get('error') or 'see the journal'} "
                               f"(what was recorded is in {run_dir})")
    return summary


# -- from records to node series ------------------------------------------------------------------
def _label(series_name: str, label: str) -> str | None:
    m = re.search(r'[{,]' + re.escape(label) + r'="((?:[^"\\]|\\.)*)"', series_name)
    return m.group(1) if m else None


def node_series(run_dir: Path, node_label: str | None, lo_utc: float, hi_utc: float) -> list[NodeSeries]:
    """Every node of the recorded run: per Prometheus series group, or per instrument; records in [lo, hi]."""
    from station.core.journal import JournalReader

    journal = JournalReader(run_dir)
    nodes: list[NodeSeries] = []
    for inst_id, entry in journal.instruments.items():
        records = journal.samples(inst_id)
        info = entry.info
        interval = float(entry.interval_s or 0) or _spacing(records["t"])
        keep = (records["t"] - interval >= lo_utc - 1e-6) & (records["t"] <= hi_utc + 1e-6)
        records = records[keep]
        names = list((info.get("driver_settings") or {}).get("channel_names") or [])
        if len(names) > 1 and "ch_w" in (records.dtype.names or ()):
            groups: dict[str, list[int]] = {}
            for k, name in enumerate(names):
                key = (_label(name, node_label) if node_label else None) or name
                groups.setdefault(key, []).append(k)
            for key, columns in groups.items():
                w = records["ch_w"][:, columns].sum(axis=1)
                nodes.append(_series(key, records["t"], w, interval, inst_id, [names[k] for k in columns]))
        else:
            w = np.where(_invalid(records), np.nan, records["w"])
            key = (_label(names[0], node_label) if names and node_label else None) or (names[0] if names else inst_id)
            nodes.append(_series(key, records["t"], w, interval, inst_id, names))
    return nodes


def _invalid(records: np.ndarray) -> np.ndarray:
    from instruments.records import Flag

    return (records["flags"] & int(Flag.INVALID)) != 0


def _spacing(t: np.ndarray) -> float:
    return float(np.median(np.diff(t))) if t.size > 1 else 1.0


def _series(name: str, t: np.ndarray, w: np.ndarray, interval: float, inst_id: str, series: list[str]) -> NodeSeries:
    ok = np.isfinite(w)
    return NodeSeries(name, np.asarray(t[ok], dtype=np.float64), np.asarray(w[ok], dtype=np.float64), interval,
                      inst_id, series, missing=int((~ok).sum()))


def _recorded_energy(n: NodeSeries, a: float, b: float) -> float:
    """The node's measured energy (J) over [a, b]: each record's mean power over its overlap with it."""
    lo = np.maximum(n.t - n.interval_s, a)
    hi = np.minimum(n.t, b)
    return float(np.sum(n.w * np.clip(hi - lo, 0.0, None)))


# -- files ----------------------------------------------------------------------------------------
def write_result_files(power_dir: Path, nodes: list[NodeSeries], switches: list[NodeSeries],
                       estimated: tuple[EstimatedSwitch, ...], window: RunWindow, *,
                       conversion_eff: float | None = None, measurement_type: str | None = None) -> dict[str, str]:
    """``node_<i>.txt`` and ``sw_<j>.txt`` (0..n-1, nodes by name) in ``power_dir``; file name -> node name."""
    power_dir.mkdir(parents=True, exist_ok=True)
    for old in [*power_dir.glob("node_*.txt"), *power_dir.glob("sw_*.txt")]:
        old.unlink()  # a rerun must not leave a node file of an earlier, larger fleet behind
    files: dict[str, str] = {}
    for i, n in enumerate(nodes):
        start_ms, stop_ms = _measurement_window_ms(n, window)
        write_power_file(power_dir / f"node_{i}.txt", n.t * 1000.0, n.w, start_ms, stop_ms,
                         conversion_eff=conversion_eff, measurement_type=measurement_type, host=n.name)
        files[f"node_{i}.txt"] = n.name
    for j, s in enumerate(switches):
        start_ms, stop_ms = _measurement_window_ms(s, window)
        mean_w = float(np.mean(s.w)) if s.w.size else 0.0
        write_power_file(power_dir / f"sw_{j}.txt", s.t * 1000.0, s.w, start_ms, stop_ms,
                         conversion_eff=conversion_eff, measurement_type=measurement_type, host=s.name,
                         interconnect_power_est=mean_w)
        files[f"sw_{j}.txt"] = s.name
    for k, e in enumerate(estimated, start=len(switches)):
        write_switch_file(power_dir / f"sw_{k}.txt", window.start_ms, interconnect_power_est=e.power_w,
                          switch_id=e.name, conversion_eff=conversion_eff, measurement_type=measurement_type)
        files[f"sw_{k}.txt"] = e.name
    return files


def _measurement_window_ms(n: NodeSeries, window: RunWindow) -> tuple[float, float]:
    """From the first record's beginning to the last record's end (the run's window if nothing was recorded)."""
    if not n.t.size:
        return window.start_ms, window.stop_ms
    return (float(n.t[0]) - n.interval_s) * 1000.0, float(n.t[-1]) * 1000.0


# -- the procedure --------------------------------------------------------------------------------
def run_training(plan: TrainingPlan, say: Callable[[str], None] = lambda text: None,
                 cancel: threading.Event | None = None) -> TrainingResult:
    """Measure every node over the training run of ``plan.perf_log`` and write its power result."""
    cancel = cancel or threading.Event()
    if not plan.instruments and not plan.estimated_switches:
        raise TrainingRunError("give the nodes' instruments (e.g. --instrument prometheus --resource URL "
                               "-o query=SELECTOR)")
    if not plan.instruments:
        raise TrainingRunError("no node instrument: MLPerf Training measures every node of the run")
    if plan.conversion_eff is not None and plan.measurement_type not in ("AC", "DC"):
        raise TrainingRunError("a conversion efficiency needs the measurement type: AC or DC")
    live_only = [s.driver for s in plan.instruments if s.driver not in REPLAYS_HISTORY]
    name = plan.perf_log.stem
    run_dir = plan.run_dir or plan.out / "station" / name
    if (run_dir / "header.json").exists():
        raise TrainingRunError(f"{run_dir} already holds a recorded run; choose another --out")
    margin = plan.margin_s

    if plan.follow:
        begin: list[float] = []
        window_box: list[RunWindow] = []
        say(f"following {plan.perf_log} for run_start")

        def window_end() -> float | None:
            return window_box[0].stop_ms / 1000.0 + margin if window_box else None

        recorder = _BackgroundRecording()

        def record_from(start_ms: float) -> None:
            begin.append(start_ms / 1000.0 - margin)
            specs = [_windowed_spec(s, begin[0], None) for s in plan.instruments]
            say(f"run_start at {start_ms:.0f} ms: recording")
            recorder.start(plan, specs, run_dir, begin[0], window_end, say, cancel)

        try:
            window_box.append(follow_run_window(plan.perf_log, record_from, timeout_s=plan.follow_timeout_s,
                                                should_stop=lambda: cancel.is_set() or recorder.failed))
        except TrainingRunError:
            cancel.set()
            outcome = recorder.join()
            if isinstance(outcome, Exception):
                raise outcome from None  # the recording failed first: that is what to say
            raise
        say(f"run_stop at {window_box[0].stop_ms:.0f} ms: recording to {window_end():.3f}")
        outcome = recorder.join()
        if isinstance(outcome, Exception):
            raise outcome
        window, run_summary = window_box[0], outcome
    else:
        if live_only:
            raise TrainingRunError(f"{', '.join(sorted(set(live_only)))} read(s) only the present; measure during "
                                   "the training run with --follow (the Prometheus driver can also read a past run)")
        try:
            window = read_run_window(plan.perf_log)
        except ValueError as exc:
            raise TrainingRunError(str(exc)) from None
        if window.stop_ms <= window.start_ms:
            raise TrainingRunError(f"{plan.perf_log}: run_stop ({window.stop_ms:.0f} ms) is not after run_start "
                                   f"({window.start_ms:.0f} ms)")
        begin_utc = window.start_ms / 1000.0 - margin
        end_utc = window.stop_ms / 1000.0 + margin
        if end_utc > time.time():
            raise TrainingRunError(f"{plan.perf_log}: the run ends in the future; use --follow for a run "
                                   "that is going on")
        specs = [_windowed_spec(s, begin_utc, end_utc + _interval_of(s)) for s in plan.instruments]
        run_summary = _record(plan, specs, run_dir, begin_utc, lambda: end_utc, say, cancel)

    lo, hi = window.start_ms / 1000.0 - margin, window.stop_ms / 1000.0 + margin
    series = node_series(run_dir, plan.node_label, lo, hi)
    switch_ids = set(plan.measured_switches)
    unknown = switch_ids - {n.instrument for n in series}
    if unknown:
        raise TrainingRunError(f"measured switch instrument(s) {', '.join(sorted(unknown))} not among the "
                               "instruments (give them --id)")
    nodes = sorted((n for n in series if n.instrument not in switch_ids), key=lambda n: _natural(n.name))
    switches = sorted((n for n in series if n.instrument in switch_ids), key=lambda n: _natural(n.name))
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise TrainingRunError(f"two nodes have the same name ({', '.join(sorted(_dupes(names)))}); "
                               "give a node label that tells them apart")
    power_dir = plan.out / "power" / name
    files = write_result_files(power_dir, nodes, switches, plan.estimated_switches, window,
                               conversion_eff=plan.conversion_eff, measurement_type=plan.measurement_type)
    # The performance log two levels above the power folder, as in a submission: the folder is then
    # a Training result that station verify (and mlcommons/logging) read as they read published ones.
    perf_copy = plan.out / plan.perf_log.name
    if not perf_copy.exists() or not perf_copy.samefile(plan.perf_log):
        shutil.copyfile(plan.perf_log, perf_copy)
    a, b = window.start_ms / 1000.0, window.stop_ms / 1000.0
    recorded = sum(_recorded_energy(n, a, b) for n in nodes) * (plan.conversion_eff or 1.0)
    audit = verify_training(power_dir)
    return TrainingResult(window, power_dir, run_dir, nodes, switches, plan.estimated_switches, audit, recorded,
                          run_summary, files)


class _BackgroundRecording:
    """The recording of a followed run, in a thread: it starts at run_start, before run_stop is known."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.outcome: dict | Exception | None = None

    def start(self, *args: Any) -> None:
        self.thread = threading.Thread(target=self._run, args=args, name="training-record", daemon=True)
        self.thread.start()

    def _run(self, *args: Any) -> None:
        try:
            self.outcome = _record(*args)
        except Exception as exc:
            self.outcome = exc

    @property
    def failed(self) -> bool:
        return isinstance(self.outcome, Exception)

    def join(self) -> dict | Exception | None:
        """The run's summary or the error that ended it (None if it never started)."""
        if self.thread is not None:
            self.thread.join()
        if self.thread is not None and self.outcome is None:
            return TrainingRunError("the recording ended without a summary")
        return self.outcome


def _interval_of(spec: InstrumentSpec) -> float:
    if spec.interval_s:
        return float(spec.interval_s)
    return float(spec.options.get("update_interval_s", 1.0) or 1.0)


def _natural(name: str) -> tuple:
    """n2 before n10."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name))


def _dupes(names: list[str]) -> set[str]:
    return {n for n in names if names.count(n) > 1}


__all__ = ["EstimatedSwitch", "NodeSeries", "TrainingPlan", "TrainingResult", "TrainingRunError",
           "follow_run_window", "node_series", "run_training", "write_result_files"]
