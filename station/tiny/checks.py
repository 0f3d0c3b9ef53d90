"""The rules a Tiny energy result must meet, judged from its raw data.

The reference runners only print warnings ("ERROR: Not valid for submission" and still write the
result) and the official submission checker reads the printed median without recomputing it.
Here each rule is a :class:`Check` that fails the result: a trial count other than the rule
set's ``windows`` (5; 1 for streaming wakeword), a window under ``min_window_s``, missing or extra
timestamp events, non-consecutive event counters, dropped monitor samples beyond
``max_dropped_fraction``, windows that do not match the DUT's own timing of its inferences (a
mis-paired trace), and printed figures that the raw data does not reproduce.

Every window says its +/- 1 sample edge uncertainty (:mod:`station.tiny.scoring`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from station import rules as rulesets
from station.measurement.checks import FAIL, PASS, WARN, Check
from station.tiny.published import ENERGYRUNNER, STREAMING, TinyResult
from station.tiny.scoring import TinyWindow, measure_window, median_uj_per_inference

RULE_SET = "mlperf-tiny"
RUNNER = "mlcommons/tiny benchmark/runner main.py (prints a warning only)"
OURS = "station (stricter than the reference runners)"
SUBMISSION_CHECKER = "mlcommons/tiny tools/submission/submission_checker.py"
# Re-integrating a published EnergyRunner trace between its rounded edges reproduces the printed
# energy to at most 0.014 % on every valid result of v0.5 to v1.3 (106 results); the EnergyRunner
# adds "a small buffer" at the edges, which only matters for windows far below 10 s.
ER_REL_TOLERANCE = 2e-4
# The interface board's m-lap-us timing of the two edges and the trace's window agree to 16 ms on
# the published results that log it; 50 ms leaves room and still catches a window off by one trial.
LAP_TOLERANCE_S = 0.05
# The host log's m-infer-start -> m-infer-done span includes serial latency and the DUT's
# post-processing (14 ms to 0.7 s longer than the window on published results). Either line may
# reach the host late (a 9600 baud line takes ~20 ms, the host may be busy), so the window may
# exceed the span by a little; a mis-paired window is off by seconds (a gap between loops, or
# another loop's length), far beyond this slack.
HOST_SLACK_S, HOST_SHORT_FRACTION = 0.25, 0.1
# Consecutive windows start as far apart as the DUT's consecutive m-infer-start lines.
SPACING_TOLERANCE_S = 0.25


@dataclass
class TinyReview:
    checks: list[Check]
    windows: list[TinyWindow]
    metric: dict | None


def review(result: TinyResult, rules: rulesets.RuleSet | None = None) -> TinyReview:
    """Every check of a Tiny energy result and its metric (recomputed when raw data exists)."""
    rules = rules or rulesets.load(RULE_SET)
    streaming = result.mode == STREAMING
    windows = [measure_window(t.samples_j, t.events[-2][1], t.events[-1][1], t.inferences or 0,
                              result.sample_interval_s, k)
               for k, t in enumerate(result.trials) if len(t.events) >= 2]
    checks = [_files(result)]
    need = 1 if streaming else int(rules.get("windows") or 5)
    checks.append(_trial_count(result, windows, need, rules))
    checks.append(_events(result))
    if result.layout != ENERGYRUNNER and result.trials:
        checks.append(_counters(result))
    if windows:
        checks.append(_lengths(windows, float(rules.get("min_window_s") or 0.0), rules))
        checks.append(_dropped(result, windows, float(rules.get("max_dropped_fraction") or 0.0), rules))
        checks.append(_dut_timing(result, windows))
        checks.append(_inference_counts(result, windows))
    checks.extend(_printed(result, windows, streaming))
    return TinyReview(checks, windows, _metric(result, windows, streaming))


def _files(result: TinyResult) -> Check:
    need = ["log.txt", "results.txt"] + (["script.async"] if result.layout == ENERGYRUNNER else ["results.json"])
    missing = [f for f in need if f not in result.files]
    if result.raw_missing:
        return Check("raw data", FAIL, f"{result.raw_missing}: nothing can be recomputed; the printed figures are "
                     "all there is" + (f" (missing: {', '.join(missing)})" if missing else ""), OURS)
    if missing:
        return Check("submission files", FAIL, f"missing {', '.join(missing)}", SUBMISSION_CHECKER)
    return Check("submission files", PASS, f"{', '.join(need)} present, with the raw samples "
                 f"({result.layout} layout{', monitor ' + result.monitor if result.monitor else ''})",
                 SUBMISSION_CHECKER)


def _trial_count(result: TinyResult, windows: list[TinyWindow], need: int, rules) -> Check:
    if result.raw_missing:
        n = len(result.printed)
        what = f"{n} trials printed in results.txt"
    else:
        n = len(windows)
        what = f"{n} windows measured"
    runs = len(result.dut_runs)
    extra = f"; the DUT ran {runs} timed inference loops" if runs and runs != n else ""
    return Check("trial count", PASS if n == need and not extra else FAIL,
                 f"{what}, exactly {need} needed{extra}", f"{RULE_SET}: windows ({rules.source('windows')})")


def _events(result: TinyResult) -> Check:
    if result.raw_missing:
        return Check("timestamp events", FAIL, "no raw events to count", OURS)
    if result.edge_times_s is not None:  # EnergyRunner: one list, a marker then a pair per window
        runs = len(result.dut_runs) or len(result.trials)
        want = 1 + 2 * runs
        got = len(result.edge_times_s)
        if got == want:
            return Check("timestamp events", PASS, f"{got} edges: the start-up marker and a start/stop pair for "
                         f"each of the {runs} inference loops", OURS)
        return Check("timestamp events", FAIL, f"{got} edges in trace1-timestamps.json, {want} expected (the "
                     f"start-up marker and a start/stop pair for each of the {runs} inference loops): "
                     f"{'missing' if got < want else 'extra'} edges, so windows and loops may be mis-paired", OURS)
    bad = []
    for k, t in enumerate(result.trials):
        allowed = (2, 3) if k == 0 else (2,)  # the first trial may see the DUT's start-up edge first
        if len(t.events) not in allowed:
            bad.append(f"trial {k}: {len(t.events)} events")
    if bad:
        return Check("timestamp events", FAIL, "each trial has exactly its start and stop edge (the first may be "
                     "preceded by the start-up edge): " + "; ".join(bad), OURS)
    return Check("timestamp events", PASS, f"{len(result.trials)} trials, each with its start and stop edge", OURS)


def _counters(result: TinyResult) -> Check:
    counters = [c for t in result.trials for c, _ in t.events]
    gaps = [f"{a} -> {b}" for a, b in zip(counters, counters[1:], strict=False)
            if a is not None and b is not None and b != a + 1]
    if gaps:
        return Check("event counters", FAIL, f"the monitor's event counters skip: {', '.join(gaps[:5])} (an edge "
                     "was lost or a trace belongs to another run)", RUNNER + " ('Timestamps are not consecutive')")
    return Check("event counters", PASS, f"{len(counters)} events numbered consecutively", RUNNER)


def _window_text(w: TinyWindow) -> str:
    return (f"trial {w.trial}: {w.duration_s:.3f} s ±{w.duration_uncertainty_s * 1e3:.0f} ms, "
            f"{w.uj_per_inference:.4g} ±{w.uj_per_inference_uncertainty:.2g} µJ/inf")


def _lengths(windows: list[TinyWindow], least: float, rules) -> Check:
    short = [w for w in windows if w.duration_s < least]
    text = "; ".join(_window_text(w) for w in windows)
    src = f"{RULE_SET}: min_window_s ({rules.source('min_window_s')})"
    if short:
        return Check("window length", FAIL, f"{len(short)} window(s) under {least:g} s: "
                     + "; ".join(_window_text(w) for w in short) + f" (all: {text})", src)
    return Check("window length", PASS, f"every window lasts at least {least:g} s: {text}", src)


def _dropped(result: TinyResult, windows: list[TinyWindow], limit: float, rules) -> Check:
    dropped = sum(w.dropped for w in windows)
    total = sum(w.samples for w in windows)
    frac = dropped / total if total else 0.0
    src = f"{RULE_SET}: max_dropped_fraction ({rules.source('max_dropped_fraction')})"
    where = ", ".join(f"trial {w.trial}: {w.dropped}" for w in windows if w.dropped)
    text = (f"{dropped} of {total} samples inside the windows are missing or not numbers ({frac * 100:.3g} %, at most "
            f"{limit * 100:g} %)" + (f": {where}" if where else ""))
    return Check("dropped samples", FAIL if frac > limit else (WARN if dropped else PASS), text, src)


def _dut_timing(result: TinyResult, windows: list[TinyWindow]) -> Check:
    runs = result.dut_runs
    if not any(r.lap_s is not None or r.host_span_s is not None for r in runs):
        return Check("windows vs DUT timing", WARN, "the result does not record the DUT's own timing of its "
                     "inferences, so the pairing of windows and trials cannot be cross-checked", OURS)
    bad, notes = [], []
    for w, r in zip(windows, runs, strict=False):
        if r.lap_s is not None:
            if abs(r.lap_s - w.duration_s) > LAP_TOLERANCE_S:
                bad.append(f"trial {w.trial}: window {w.duration_s:.3f} s, interface board {r.lap_s:.3f} s")
        elif r.host_span_s is not None:
            if not (r.host_span_s * (1 - HOST_SHORT_FRACTION) - HOST_SLACK_S <= w.duration_s
                    <= r.host_span_s + HOST_SLACK_S):
                bad.append(f"trial {w.trial}: window {w.duration_s:.3f} s, DUT log {r.host_span_s:.3f} s")
    # Start-to-start spacing needs one trace for all windows (EnergyRunner); the MLCommons runner
    # keeps each trial's samples apart, so its windows have no common time axis.
    shared = result.layout == ENERGYRUNNER
    starts = [(w.start * result.sample_interval_s, r.host_start_s) for w, r in zip(windows, runs, strict=False)
              if shared]
    for (a0, h0), (a1, h1) in zip(starts, starts[1:], strict=False):
        if h0 is not None and h1 is not None and abs((a1 - a0) - (h1 - h0)) > SPACING_TOLERANCE_S:
            bad.append(f"windows start {a1 - a0:.3f} s apart where the DUT's loops start {h1 - h0:.3f} s apart")
    source = "interface board m-lap-us" if any(r.lap_s is not None for r in runs) else "m-infer-start/done in log.txt"
    if bad:
        return Check("windows vs DUT timing", FAIL, f"windows do not match the DUT's timing ({source}), the trace may "
                     "be mis-paired: " + "; ".join(bad[:5]), OURS)
    notes.append(f"{min(len(windows), len(runs))} windows match the DUT's timing ({source})")
    return Check("windows vs DUT timing", PASS, "; ".join(notes), OURS)


def _inference_counts(result: TinyResult, windows: list[TinyWindow]) -> Check:
    unknown = [w.trial for w in windows if w.inferences <= 0]
    if unknown:
        return Check("inference count", FAIL, f"the number of timed inferences is not known for trials {unknown}",
                     OURS)
    counts = sorted({w.inferences for w in windows})
    return Check("inference count", PASS, f"{'/'.join(map(str, counts))} timed inferences per window", OURS)


def _close(recomputed: float, printed: float | None, text: str | None, rel: float) -> bool:
    if printed is None or not math.isfinite(recomputed):
        return False
    digits = len(text.split(".")[1]) if text and "." in text else 3
    return abs(recomputed - printed) <= max(rel * abs(printed), 0.5 * 10.0 ** -digits + 1e-9 * abs(printed))


def _printed(result: TinyResult, windows: list[TinyWindow], streaming: bool) -> list[Check]:
    if not result.printed and result.printed_median_uj is None:
        return [Check("printed figures", FAIL, "results.txt prints no energy figures", SUBMISSION_CHECKER)]
    if not windows:
        return []
    rel = ER_REL_TOLERANCE if result.layout == ENERGYRUNNER else 0.0
    off = []
    for w, p in zip(windows, result.printed, strict=False):
        if not _close(w.energy_uj, p.energy_uj, f"{p.energy_uj:.3f}" if p.energy_uj is not None else None, rel):
            off.append(f"{p.label}: {p.energy_uj} µJ printed, {w.energy_uj:.3f} recomputed")
        if not _close(w.uj_per_inference, p.uj_per_inference, f"{p.uj_per_inference:.3f}"
                      if p.uj_per_inference is not None else None, rel):
            off.append(f"{p.label}: {p.uj_per_inference} µJ/inf printed, {w.uj_per_inference:.4f} recomputed")
    if len(result.printed) != len(windows):
        off.append(f"{len(result.printed)} windows printed, {len(windows)} in the raw data")
    median = median_uj_per_inference(windows)
    if not _close(median, result.printed_median_uj, result.printed_median_text, rel):
        off.append(f"median {result.printed_median_uj} µJ/inf printed, {median:.4f} recomputed")
    tol = f"to {rel * 100:g} % or the printed digits" if rel else "to the printed digits"
    if off:
        return [Check("printed figures", FAIL, "the raw data does not reproduce results.txt: " + "; ".join(off[:6]),
                      OURS)]
    return [Check("printed figures", PASS, f"every window's energy and µJ/inf and the median "
                  f"({median:.4f} µJ/inf) recomputed from the raw samples agree with results.txt {tol}", OURS)]


def _metric(result: TinyResult, windows: list[TinyWindow], streaming: bool) -> dict | None:
    if streaming:
        if windows:
            return {"value": windows[0].power_mw, "unit": "mW"}
        p = result.printed[0].power_mw if result.printed else None
        return None if p is None else {"value": p, "unit": "mW", "printed_only": True}
    if windows:
        return {"value": median_uj_per_inference(windows), "unit": "uJ/inf"}
    if result.printed_median_uj is None:
        return None
    return {"value": result.printed_median_uj, "unit": "uJ/inf", "printed_only": True}
