"""The MLPerf power metric exactly as the MLCommons tooling computes it, and energy integration.

From ``power_check.py`` / ``get_power_metric`` (see the reference notes, section 8):

- average power = mean of the ``Watts`` of the samples with ``power_begin < Time < power_end``
  (strict) and ``Watts > 0``;
- Offline / Server / Interactive: the metric is that average, in watts (efficiency: throughput
  per watt = samples per joule);
- SingleStream / MultiStream: ``avg * duration * 1000 / result_query_count`` millijoules per
  query (MultiStream inferred from a SingleStream run: times 8 samples per query).

The efficiency of Offline / Server is the round's performance result over that average; from
v5.0 the submission checker reads it from the detail log, in tokens per second for the LLMs
(:func:`official_throughput`).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

WATTS_SCENARIOS = ("Offline", "Server", "Interactive")
ENERGY_SCENARIOS = ("SingleStream", "MultiStream")
SCENARIOS = WATTS_SCENARIOS + ENERGY_SCENARIOS


def canonical_scenario(text: str) -> str | None:
    """The MLPerf spelling of a scenario however it was typed (``offline``, ``single-stream``,
    ``Single Stream`` -> ``Offline``, ``SingleStream``); None when it is none of them."""
    key = "".join(c for c in str(text).lower() if c.isalnum())
    return next((s for s in SCENARIOS if s.lower() == key), None)


def window_average(t, w, begin: float, end: float, valid=None) -> tuple[float, int]:
    """Mean of the samples strictly inside (begin, end) with ``w > 0`` (and ``valid``); NaN if none."""
    t = np.asarray(t, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    sel = (t > begin) & (t < end) & (w > 0) & np.isfinite(w)
    if valid is not None:
        sel &= np.asarray(valid, dtype=bool)
    n = int(np.count_nonzero(sel))
    return (float(np.mean(w[sel])) if n else float("nan")), n


# The submission checker's performance result per scenario from v5.0 on (detail-log keys), and the
# benchmarks whose result is tokens instead (its RESULT_FIELD_NEW / RESULT_FIELD_BENCHMARK_OVERWRITE).
_RESULT_KEY = {"Offline": "result_samples_per_second", "Server": "result_completed_samples_per_sec"}
_TOKENS = {"Offline": "result_tokens_per_second", "Server": "result_completed_tokens_per_second"}
_INFERRED_TOKENS = {"Offline": "result_inferred_tokens_per_second",
                    "Server": "result_inferred_completed_tokens_per_second"}
_LLM_RESULT_KEYS: dict[str, dict[str, dict[str, str]]] = {
    "v5.0": {**{m: _TOKENS for m in ("llama2-70b-99", "llama2-70b-99.9", "llama2-70b-interactive-99",
                                      "llama2-70b-interactive-99.9", "mixtral-8x7b", "llama3.1-405b")},
             "gptj-99": _INFERRED_TOKENS, "gptj-99.9": _INFERRED_TOKENS},
    "v5.1": {**{m: _TOKENS for m in ("llama2-70b-99", "llama2-70b-99.9", "llama3.1-8b", "mixtral-8x7b",
                                      "llama3.1-405b", "deepseek-r1")},
             "llama3.1-8b-edge": {"Offline": "result_tokens_per_second"},
             "whisper": {"Offline": "result_tokens_per_second"}},
}
_FIRST_DETAIL_ROUND = (5, 0)


def official_throughput(value_of, scenario: str, log_scenario: str, benchmark: str,
                        round_name: str | None) -> tuple[float, str] | None:
    """(performance result, its detail-log key) as the submission checker of ``round_name`` reads
    it for the efficiency of an Offline / Server result (``value_of(key)``: the detail log's value);
    None where it does not apply (per-query scenarios, a result inferred from another scenario's
    log, rounds before v5.0, whose checker read the summary) or the key is missing."""
    try:
        era = tuple(int(x) for x in str(round_name).lstrip("v").split("."))
    except ValueError:
        return None
    if scenario != log_scenario or scenario not in _RESULT_KEY or era < _FIRST_DETAIL_ROUND:
        return None
    key = _LLM_RESULT_KEYS.get(str(round_name), {}).get(benchmark, {}).get(scenario, _RESULT_KEY[scenario])
    try:
        return float(value_of(key)), key
    except (TypeError, ValueError):
        return None


def _seconds(x) -> float:
    return x.timestamp() if isinstance(x, datetime) else float(x)


def mlperf_metric(scenario: str, avg_power_w: float, begin, end, summary: dict | None = None,
                  directory_scenario: str | None = None, throughput: tuple[float, str] | None = None) -> dict:
    """The reported power metric for ``scenario`` (``summary``: LoadGen summary keys, plus
    ``result_query_count`` from the detail log for the per-query scenarios; ``throughput``: the
    round's performance result and its key (:func:`official_throughput`), else read from ``summary``)."""
    summary = summary or {}
    duration = _seconds(end) - _seconds(begin)
    scen = directory_scenario or scenario
    out: dict = {"average_power_w": avg_power_w, "duration_s": duration, "scenario": scen}
    if scen in ENERGY_SCENARIOS:
        try:
            queries = int(float(summary.get("result_query_count")))
        except (TypeError, ValueError):
            queries = None
        if not queries:
            return {**out, "value": None, "unit": "mJ/query",
                    "problem": "result_query_count is unknown: the energy per query cannot be computed"}
        spq = 8 if scen == "MultiStream" else 1
        factor = spq if (scen == "MultiStream" and scenario == "SingleStream") else 1
        mj = avg_power_w * duration * factor * 1000.0 / queries
        return {**out, "value": mj, "unit": "mJ/query", "queries": queries,
                "efficiency": {"value": spq * 1000.0 / mj, "unit": "samples/J"}}
    result = {**out, "value": avg_power_w, "unit": "W"}
    if throughput is not None:
        value, key = throughput
        per = "tokens/J" if "tokens" in key else "samples/J"
        result["efficiency"] = {"value": value / avg_power_w, "unit": per, "from": key}
        return result
    for key in ("Samples per second", "Scheduled samples per second", "Completed samples per second"):
        if key in summary:
            try:
                throughput = float(summary[key])
            except ValueError:
                continue
            result["efficiency"] = {"value": throughput / avg_power_w, "unit": "samples/J", "from": key}
            break
    return result


def integrate_energy(t: np.ndarray, w: np.ndarray, interval_s: float, valid=None) -> tuple[float, int]:
    """Energy (J) of full-resolution samples: each valid sample is the mean power over its
    interval, so energy = sum(w) * interval. Returns (joules, samples used). Chunked by the caller
    for memory; vectorised here."""
    w = np.asarray(w, dtype=np.float64)
    sel = np.isfinite(w)
    if valid is not None:
        sel &= np.asarray(valid, dtype=bool)
    return float(np.sum(w[sel], dtype=np.float64) * interval_s), int(np.count_nonzero(sel))
