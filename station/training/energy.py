"""The energy of an MLPerf Training run as mlcommons/logging's result summarizer computes it.

``result_summarizer.py`` (``_compute_total_power``, ``_compute_power_node``, ``_compute_power_sw``),
in words, times in ms:

- node: ``conversion_eff x sum(P_i x (t_i - t_prev)) x TTT / (stop - start) / 1000`` J, i.e. the
  mean power over the node's measurement window times the time to train (``run_stop - run_start``
  of the performance log), ``conversion_eff`` 1 when the file has none;
- switch: ``conversion_eff x interconnect_power_est x TTT / 1000`` J from the *first*
  ``interconnect_power_est`` line; its ``power_reading`` lines are ignored, so a measured switch
  without an estimate counts as 0 J;
- the run: the sum over every ``node_*.txt`` and ``sw_*.txt`` of its ``power/result_<name>/``.

The node formula changed on 2024-09-19 (logging #378, commit c401ff0): before it, lines were taken
in file order up to the first ``power_measurement_stop`` and the window ended at the later of that
stop and the last reading; since, lines are sorted by time (stably) and only readings between the
start and the first stop count. A file whose start and stop share one timestamp (the stop written
at the end of the file with the start's time, as in the v4.0 SMC results) then has a zero-length
window and the summarizer divides by zero. :data:`SUMMARIZERS` holds both, and
:func:`summarizer_for_round` says which one was in force when a round was published.

The arithmetic is done on numpy arrays, in the order the official loop would see the lines, so the
result equals the official one to float rounding (its sum is sequential, numpy's pairwise).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from station.training.mllog import CONVERSION_EFF, INTERCONNECT_EST, POWER_START, POWER_STOP, PowerLog

_READING, _START, _STOP, _EFF, _OTHER = 0, 1, 2, 3, 4
_KINDS = {POWER_START: _START, POWER_STOP: _STOP, CONVERSION_EFF: _EFF}


@dataclass(frozen=True)
class Summarizer:
    """One version of the official node computation: mlcommons/logging ``result_summarizer.py`` at ``commit``."""

    commit: str
    date: str
    title: str
    sorts_by_time: bool  # True since logging #378

    @property
    def name(self) -> str:
        return f"mlcommons/logging result_summarizer @ {self.commit[:7]} ({self.date})"


# The two versions of _compute_power_node that published Training power results were scored with.
SUMMARIZER_2024_05 = Summarizer("a9f4839db6fb18e8ad9e1f3584a7c2891a845f77", "2024-05-30",
                                "Add missing declaration of converion_eff", sorts_by_time=False)
SUMMARIZER_2024_09 = Summarizer("c401ff01bc14e1c36d496445c279f81e4c2ff685", "2024-09-19",
                                "Compute power only in start - stop window (#378)", sorts_by_time=True)
CURRENT = SUMMARIZER_2024_09  # unchanged in _compute_power_node/_sw up to logging 4.1.59 (2026)
SUMMARIZERS = (SUMMARIZER_2024_05, SUMMARIZER_2024_09)

# Publication dates of the Training rounds with power results (MLCommons press releases); a run
# belongs to the first round published after it.
ROUND_PUBLISHED = {"v4.0": date(2024, 6, 12), "v4.1": date(2024, 11, 13), "v5.0": date(2025, 6, 4),
                   "v5.1": date(2025, 11, 12)}
_FIRST_POWER_ROUND_OPENED = date(2023, 11, 9)  # the day after v3.1 was published


class SummarizerFailure(ArithmeticError):
    """The official computation fails on this file (it would raise); ``reason`` says why."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def summarizer_for_round(round_name: str | None) -> Summarizer:
    """The summarizer in force when ``round_name`` (``v4.0``) was published: the newest commit of
    ``result_summarizer.py`` before that day. Unknown or later rounds get the current one."""
    published = ROUND_PUBLISHED.get(round_name or "")
    if published is None:
        return CURRENT
    return max((s for s in SUMMARIZERS if date.fromisoformat(s.date) < published),
               key=lambda s: s.date, default=CURRENT)


def round_of_run(run_start_ms: float) -> str | None:
    """The Training round a run was submitted to, from its date (None before Training had power results)."""
    day = datetime.fromtimestamp(run_start_ms / 1000.0, tz=UTC).date()
    if day < _FIRST_POWER_ROUND_OPENED:
        return None
    for name, published in ROUND_PUBLISHED.items():
        if day < published:
            return name
    return None


def _file_order(log: PowerLog) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, values and kinds of every line of ``log`` in file order."""
    n_r, n_e = len(log), len(log.events)
    times = np.empty(n_r + n_e)
    values = np.empty(n_r + n_e)
    kinds = np.full(n_r + n_e, _READING, dtype=np.int8)
    at = np.array([e.readings_before + k for k, e in enumerate(log.events)], dtype=np.int64)
    is_event = np.zeros(n_r + n_e, dtype=bool)
    is_event[at] = True
    times[~is_event] = log.time_ms
    values[~is_event] = log.watts
    for pos, e in zip(at.tolist(), log.events, strict=True):
        times[pos] = e.time_ms
        kinds[pos] = _KINDS.get(e.key, _OTHER)
        try:
            values[pos] = float(e.value) if kinds[pos] == _EFF else np.nan  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SummarizerFailure(log.path, f"line {e.line}: conversion_eff {e.value!r} is not a number") from None
    return times, values, kinds


def node_energy_j(log: PowerLog, time_to_train_ms: float, summarizer: Summarizer = CURRENT) -> float:
    """One node file's energy in J as ``summarizer`` computes it. SummarizerFailure where it would raise."""
    times, values, kinds = _file_order(log)
    if summarizer.sorts_by_time:
        order = np.argsort(times, kind="stable")
        times, values, kinds = times[order], values[order], kinds[order]
        starts = np.flatnonzero(kinds == _START)
        stops = np.flatnonzero(kinds == _STOP)
        if starts.size == 0:
            raise SummarizerFailure(log.path, "Power start timestamp not found")
        end = int(stops[0]) if stops.size else times.size
        window = np.arange(int(starts[0]), end)
        window = window[(kinds[window] == _READING) | (kinds[window] == _START)]
        counted = kinds[window[1:]] == _READING
        t = times[window]
        agg = float(np.sum(values[window[1:]][counted] * np.diff(t)[counted]))
        readings_t = t[1:][counted]
        last = float(readings_t.max()) if readings_t.size and readings_t.max() > 0 else 0.0
        power_start = float(times[starts[-1]])
        power_stop = float(times[stops[-1]]) if stops.size else last
        effs = np.flatnonzero(kinds == _EFF)
    else:
        stops = np.flatnonzero(kinds == _STOP)
        end = int(stops[0]) if stops.size else times.size
        head = np.arange(end)
        window = head[(kinds[head] == _READING) | (kinds[head] == _START)]
        t = times[window]
        prev = np.concatenate(([0.0], t[:-1]))
        counted = kinds[window] == _READING
        agg = float(np.sum(values[window][counted] * (t - prev)[counted]))
        starts = head[kinds[head] == _START]
        power_start = float(times[starts[-1]]) if starts.size else 0.0
        readings_t = t[counted]
        power_stop = max(float(times[end]) if stops.size else 0.0,
                         float(readings_t.max()) if readings_t.size else 0.0, 0.0)
        effs = head[kinds[head] == _EFF]
    eff = float(values[effs[-1]]) if effs.size else 1.0
    if power_stop == power_start:
        raise SummarizerFailure(log.path, f"division by zero: the measurement window is empty "
                                          f"(start and stop both at time_ms {power_start:.0f})")
    return eff * agg * time_to_train_ms / (power_stop - power_start) / 1000.0


def switch_energy_j(log: PowerLog, time_to_train_ms: float) -> float:
    """One switch file's energy in J: ``conversion_eff x interconnect_power_est x TTT``, 0 without an estimate."""
    eff, power = 1.0, 0.0
    for e in log.events:  # file order; the official loop stops at the first estimate
        try:
            if e.key == CONVERSION_EFF:
                eff = float(e.value)  # type: ignore[arg-type]
            elif e.key == INTERCONNECT_EST:
                power = float(e.value)  # type: ignore[arg-type]
                break
        except (TypeError, ValueError):
            raise SummarizerFailure(log.path, f"line {e.line}: {e.key} {e.value!r} is not a number") from None
    return eff * power * time_to_train_ms / 1000.0


@dataclass(frozen=True)
class RunEnergy:
    """A run's energy as one summarizer computes it: the total and each file's share (J)."""

    summarizer: Summarizer
    total_j: float
    nodes_j: dict[str, float]
    switches_j: dict[str, float]


def run_energy(nodes: Iterable[PowerLog], switches: Iterable[PowerLog], time_to_train_ms: float,
               summarizer: Summarizer = CURRENT) -> RunEnergy:
    """The run's energy (J): every node plus every switch. SummarizerFailure as the official tool would raise."""
    nodes_j = {log.path.name: node_energy_j(log, time_to_train_ms, summarizer) for log in nodes}
    if not nodes_j:
        raise SummarizerFailure("power folder", "no node_*.txt file (the summarizer asserts at least one)")
    switches_j = {log.path.name: switch_energy_j(log, time_to_train_ms) for log in switches}
    return RunEnergy(summarizer, sum(nodes_j.values()) + sum(switches_j.values()), nodes_j, switches_j)


__all__ = ["CURRENT", "ROUND_PUBLISHED", "SUMMARIZERS", "SUMMARIZER_2024_05", "SUMMARIZER_2024_09", "RunEnergy",
           "Summarizer", "SummarizerFailure", "node_energy_j", "round_of_run", "run_energy", "summarizer_for_round",
           "switch_energy_j"]
