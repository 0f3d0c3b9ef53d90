"""The final form of the rules: a session, loaded once, and every rule module's verdicts on it.

:class:`Review` reads what is on disk (``session.json``'s runs, windows, ranges and clock checks,
the rule set, each run's journal) and computes what several rules look at: each completed run's
workload window (from the first source the rule set accepts) and what every instrument, and the
system total, did strictly inside it (:func:`stream_stats`). :func:`final_checks` asks each rule
module of :data:`station.measurement.checks.catalogue.RULES` for its verdicts, in that order.
Averages follow the MLCommons tools: the mean of the valid samples strictly inside the window
(:func:`station.mlperf.metric.window_average`) of the system total (several analyzers summed per
time step, :mod:`station.procedure.alignment`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from station.core.journal import JournalReader
from station.core.samples import Flag, good_mask
from station.core.summary import GAP_FACTOR
from station.measurement.checks import Check
from station.procedure.alignment import system_total
from station.procedure.windows import Window
from station.rules import RuleSet


@dataclass
class RunData:
    """One run's samples: every instrument's stream and the system total."""

    name: str
    info: dict  # the run's entry in session.json
    streams: dict[str, tuple[np.ndarray, float]]
    total: np.ndarray
    dt: float

    @property
    def measured(self) -> tuple[float, float] | None:
        """First sample's start to last sample's end, over every instrument."""
        firsts = [float(d["t"][0]) for d, _ in self.streams.values() if len(d)]
        lasts = [float(d["t"][-1]) + i for d, i in self.streams.values() if len(d)]
        if len(firsts) < len(self.streams) or not firsts:
            return None
        return max(firsts), min(lasts)


def load_run(session_dir: Path, info: dict) -> RunData:
    reader = JournalReader(session_dir / info["dir"])
    streams = {i: (np.asarray(reader.samples(i)), e.interval_s) for i, e in reader.instruments.items()}
    total, dt = system_total(list(streams.values()))
    return RunData(info["name"], info, streams, total, dt)


def window_average(t, w, begin, end, valid=None) -> tuple[float, int]:
    from station.mlperf.metric import window_average as mlc_window_average

    return mlc_window_average(t, w, begin, end, valid)


def stream_stats(data: np.ndarray, dt: float, win: Window) -> dict:
    """What one instrument (or the total) did strictly inside the window."""
    t = data["t"]
    inside = (t > win.begin) & (t < win.end)
    d = data[inside]
    flags = d["flags"]
    good = good_mask(d)
    avg, used = (window_average(t, data["w"], win.begin, win.end, good_mask(data))
                 if len(data) else (math.nan, 0))
    u = d["uncert"][good]
    known = np.isfinite(u)
    idx = np.flatnonzero(inside)
    gaps = 0
    missing = 0
    if len(idx):
        lo = max(0, idx[0] - 1)
        steps = np.diff(t[lo:idx[-1] + 1])
        big = steps > GAP_FACTOR * dt
        gaps = int(np.count_nonzero(big)) + int(np.count_nonzero(flags & int(Flag.GAP_BEFORE)))
        missing = int(np.sum(np.maximum(0, np.round(steps[big] / dt) - 1)))
    over = (flags & int(Flag.OVERRANGE)) != 0
    return {
        "samples": int(len(d)),
        "valid_samples": int(used),
        "average_w": None if used == 0 else float(avg),
        "peak_w": float(d["w"][good].max()) if good.any() else None,
        "overrange_samples": int(np.count_nonzero(over)),
        "first_overrange": float(d["t"][over][0]) if over.any() else None,
        "invalid_samples": int(np.count_nonzero(flags & int(Flag.INVALID))),
        "auto_range_samples": int(np.count_nonzero(flags & int(Flag.AUTO_RANGE))),
        "range_change_samples": int(np.count_nonzero(flags & int(Flag.RANGE_CHANGE))),
        "uncertainty_known": int(np.count_nonzero(known)),
        "uncertainty_unknown": int(np.count_nonzero(~known)),
        "uncertainty_max": float(u[known].max()) if known.any() else None,
        "uncertainty_avg": float(u[known].mean()) if known.any() else None,
        "uncertainty_over": lambda limit: int(np.count_nonzero(u[known] > limit)),
        "gaps": gaps,
        "missing_samples": missing,
        "energy_sum_j": float(np.sum(d["w"][good]) * dt),
    }


def public_stats(stats: dict) -> dict:
    """The stats without their functions (what a JSON file can hold)."""
    return {k: v for k, v in stats.items() if not callable(v)}


@dataclass
class ReviewedRun:
    """A completed run, its workload window and what happened inside it."""

    data: RunData
    window: Window | None  # None: no window from any source
    accepted: bool  # the window comes from a source the rule set accepts (else: for information)
    total: dict | None = None  # stream_stats of the system total inside the window
    per: dict[str, dict] = field(default_factory=dict)  # instrument -> stream_stats

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def info(self) -> dict:
        return self.data.info

    @property
    def kind(self) -> str:
        return self.info.get("kind", "")


class Review:
    """What the final forms read: the session, its rule set and every completed run, loaded once."""

    def __init__(self, session_dir: Path, session: dict, rules: RuleSet) -> None:
        self.dir = Path(session_dir)
        self.session = session
        self.rules = rules
        self._events: dict[str, list[dict]] = {}
        complete = [x for x in session.get("runs", []) if x.get("state") == "complete"]
        self.ranging_info = next((x for x in complete if x["kind"] == "ranging"), None)
        self.testing_infos = [x for x in complete if x["kind"] == "testing"]
        self.ranging = None if self.ranging_info is None else self._load(self.ranging_info)
        self.testing = [self._load(x) for x in self.testing_infos]

    @property
    def runs(self) -> list[ReviewedRun]:
        """The ranging run (when there is one) and the testing runs, in that order."""
        return ([self.ranging] if self.ranging is not None else []) + self.testing

    def _load(self, info: dict) -> ReviewedRun:
        data = load_run(self.dir, info)
        window, accepted = self.window_of(info)
        run = ReviewedRun(data, window, accepted)
        if window is not None:
            run.total = stream_stats(data.total, data.dt, window)
            run.per = {i: stream_stats(d, dt, window) for i, (d, dt) in data.streams.items()}
        return run

    def window_of(self, info: dict) -> tuple[Window | None, bool]:
        """The run's workload window from the first source the rule set accepts, else the first
        window of any source (for information only)."""
        windows = info.get("windows", [])
        found = {w["source"]: w for w in windows}
        for source in self.rules.window_sources:
            if source in found:
                return Window.from_dict(found[source]), True
        return (Window.from_dict(windows[0]), False) if windows else (None, False)

    def events(self, run: ReviewedRun) -> list[dict]:
        """The events of a run's journal."""
        if run.name not in self._events:
            self._events[run.name] = JournalReader(self.dir / run.info["dir"]).events()
        return self._events[run.name]

    def check(self, name: str, status: str, evidence: str, param: str | None = None) -> Check:
        """A verdict whose source is the rule parameter ``param`` (None: the rule set itself)."""
        return Check(name, status, evidence, self.rules.source(param) if param else self.rules.name)


def final_checks(review: Review) -> list[Check]:
    """Every rule module's verdicts on the session, in the catalogue's order."""
    from station.measurement.checks.catalogue import RULES

    out: list[Check] = []
    for module in RULES:
        out.extend(module.final(review))
    return out
