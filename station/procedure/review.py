"""The review: every check with its evidence and the metrics, from what is on disk.

The review reads the session (``session.json``: runs, windows, ranges, clock checks), the rule
set and each run's journal, so it can be recomputed at any time from the session directory
(:func:`review_directory`). Averages follow the MLCommons tools: the mean of the valid samples
strictly inside the workload window (:func:`station.mlperf.metric.window_average`) of the
system total (several analyzers summed per time step, :mod:`station.procedure.alignment`);
energy is that average times the window's length. Tiny: energy of each GPIO window (sum of
power x interval of its samples) per inference, median of the windows. Training: each node's
energy times the AC/DC conversion efficiency, summed, plus the interconnect estimate.
A step of this computer's clock while a run recorded (``clock_jump`` in its journal) makes a
testing run not valid and is a warning for the ranging run (check ``<run>: clock_stable``).
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from station.core.clockwatch import describe_clock_jumps
from station.core.journal import JournalReader
from station.core.samples import Flag, good_mask
from station.core.summary import GAP_FACTOR
from station.procedure.alignment import system_total
from station.procedure.checks import FAIL, PASS, WARN
from station.procedure.windows import SUMMARY, Window
from station.rules import RuleSet

KWH = 3.6e6


@dataclass
class RunData:
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


def _public(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if not callable(v)}


class Reviewer:
    def __init__(self, session_dir: Path, session: dict, rules: RuleSet) -> None:
        self.dir = Path(session_dir)
        self.session = session
        self.rules = rules
        self.checks: list[dict] = []
        self.metrics: dict = {}
        self.windows: list[dict] = []

    def check(self, name: str, status: str, evidence: str, param: str | None = None) -> None:
        src = self.rules.source(param) if param else self.rules.name
        self.checks.append({"name": name, "status": status, "evidence": evidence, "source": src,
                            "rule": self.rules.rule(param) if param else ""})

    # -- windows -------------------------------------------------------------------------
    def window_of(self, run: RunData) -> Window | None:
        """The run's workload window from the first source the rule set accepts."""
        found = {w["source"]: w for w in run.info.get("windows", [])}
        for source in self.rules.window_sources:
            if source in found:
                return Window.from_dict(found[source])
        return None

    # -- the review ----------------------------------------------------------------------
    def run(self) -> dict:
        r = self.rules
        runs = [x for x in self.session.get("runs", []) if x.get("state") == "complete"]
        ranging_info = next((x for x in runs if x["kind"] == "ranging"), None)
        testing_infos = [x for x in runs if x["kind"] == "testing"]
        if r.overrides:
            self.check("rule_overrides", WARN, "rules overridden for this session: " + ", ".join(
                f"{k} {v['from']} -> {v['to']}" for k, v in r.overrides.items())
                + "; a result with overridden rules is not a compliant one", None)
        ranging = None
        if ranging_info is not None:
            ranging = load_run(self.dir, ranging_info)
            rwin = self.review_workload(ranging)
            if rwin is not None:
                self.metrics[ranging.name] = self.run_metrics(ranging, rwin)
            self.review_clock_jumps(ranging_info)
        elif r.get("ranging_required"):
            self.check("ranging", FAIL, "no completed ranging run; the rules need one before testing",
                       "ranging_required")
        if ranging_info is not None and r.get("ranging_required"):
            self.check("ranging", PASS, f"ranging run {ranging_info['name']} completed", "ranging_required")
        self.review_range_selection()
        if not testing_infos:
            self.check("testing", FAIL, "no completed testing run", None)
        headline = None
        for info in testing_infos:
            run = load_run(self.dir, info)
            headline = self.review_testing(run, ranging) or headline
            self.review_clock_jumps(info)
        self.review_clock()
        valid = bool(testing_infos) and all(c["status"] != FAIL for c in self.checks)
        return {"valid": valid, "checks": self.checks, "metrics": self.metrics, "metric": headline,
                "windows": self.windows, "rules": r.name,
                "summary": ("valid" if valid else "NOT valid: " + "; ".join(
                    f"{c['name']}: {c['evidence']}" for c in self.checks if c["status"] == FAIL))}

    def review_workload(self, run: RunData) -> Window | None:
        wl = run.info.get("workload")
        if wl:
            status = wl.get("exit_status")
            if status == 0:
                self.check(f"{run.name}: workload", PASS, f"{wl['command']!r} exited with status 0 after "
                           f"{wl['end'] - wl['begin']:.3f} s", None)
            else:
                self.check(f"{run.name}: workload", FAIL, f"{wl['command']!r} ended with status {status}; "
                           f"its output is {run.info['dir']}/{wl.get('output')}", None)
        win = self.window_of(run)
        for w in run.info.get("windows", []):
            self.windows.append({"run": run.name, **w})
        if win is None:
            have = ", ".join(w["source"] for w in run.info.get("windows", [])) or "none"
            lg = (run.info.get("loadgen") or {}).get("error")
            fallback = [Window.from_dict(w) for w in run.info.get("windows", [])]
            self.check(f"{run.name}: workload window", FAIL, f"no workload window from "
                       f"{' or '.join(r for r in self.rules.window_sources)} (found: {have})"
                       + (f"; LoadGen: {lg}" if lg else "")
                       + ("; the metrics below use the " + fallback[0].source + " window, for information only"
                          if fallback else ""), None)
            return fallback[0] if fallback else None
        self.check(f"{run.name}: workload window", PASS, f"{win.source}: {win.label}, "
                   f"{win.duration_s:.3f} s", None)
        meas = run.measured
        if self.rules.get("loadgen_window_inside") and meas is not None:
            inside = meas[0] < win.begin and win.end < meas[1]
            self.check(f"{run.name}: window inside measurement", PASS if inside else FAIL,
                       f"window {win.begin:.3f}..{win.end:.3f}, measured {meas[0]:.3f}..{meas[1]:.3f} "
                       f"(UTC seconds)" + ("" if inside else ": part of the workload was not measured"),
                       "loadgen_window_inside")
        return win

    def review_range_selection(self) -> None:
        sel = self.session.get("range_selection")
        if not sel:
            if self.rules.get("fixed_ranges_required"):
                self.check("range selection", FAIL, "no ranges were selected for testing", "fixed_ranges_required")
            return
        for inst, item in sel.items():
            if item.get("override"):
                self.check(f"range selection {inst}", WARN,
                           f"operator override to {item['voltage']:g} V / {item['current']:g} A instead of the "
                           f"proposed {item['proposed_voltage']} V / {item['proposed_current']} A; reason: "
                           f"{item.get('reason') or 'none given'}", "current_headroom")
            else:
                self.check(f"range selection {inst}", PASS, f"{item['voltage']:g} V / {item['current']:g} A as "
                           f"proposed: {item.get('why', '')}", "current_headroom")

    def review_testing(self, run: RunData, ranging: RunData | None) -> dict | None:
        r = self.rules
        win = self.review_workload(run)
        name = run.name
        if win is None:
            return None
        total = stream_stats(run.total, run.dt, win)
        per = {i: stream_stats(d, dt, win) for i, (d, dt) in run.streams.items()}
        self.metrics[name] = self.run_metrics(run, win, total, per)
        if total["valid_samples"] == 0:
            self.check(f"{name}: samples", FAIL, "no valid power sample falls inside the workload window", None)
        else:
            self.check(f"{name}: samples", PASS, f"{total['valid_samples']} valid samples inside the window "
                       f"(of {total['samples']}); average {total['average_w']:.6g} W", None)
        if r.get("min_samples") is not None:
            ok = total["valid_samples"] >= r.get("min_samples")
            self.check(f"{name}: minimum samples", PASS if ok else FAIL,
                       f"{total['valid_samples']} samples, at least {r.get('min_samples')} needed", "min_samples")
        if r.get("max_sample_interval_s") is not None:
            worst = max(dt for _, dt in run.streams.values())
            ok = worst <= r.get("max_sample_interval_s") * (1 + 1e-9)
            self.check(f"{name}: sample rate", PASS if ok else FAIL,
                       f"slowest update interval {worst:g} s (at most {r.get('max_sample_interval_s'):g} s)",
                       "max_sample_interval_s")
        if r.get("min_testing_s") is not None:
            ok = win.duration_s >= r.get("min_testing_s")
            self.check(f"{name}: duration", PASS if ok else FAIL,
                       f"workload window {win.duration_s:.3f} s, minimum {r.get('min_testing_s'):g} s", "min_testing_s")
        for inst, s in per.items():
            self.review_instrument(name, inst, s, run)
        if ranging is not None and r.get("max_testing_below_ranging") is not None:
            rwin = self.window_of(ranging)
            if rwin is not None:
                ravg, rn = window_average(ranging.total["t"], ranging.total["w"], rwin.begin, rwin.end,
                                          good_mask(ranging.total))
                if rn and total["average_w"]:
                    delta = (total["average_w"] / ravg - 1.0)
                    limit = r.get("max_testing_below_ranging")
                    ok = delta > -limit
                    self.check(f"{name}: testing vs ranging power", PASS if ok else FAIL,
                               f"testing average {total['average_w']:.6g} W vs ranging {ravg:.6g} W: "
                               f"{delta * 100:+.2f} % (not more than {limit * 100:g} % below)",
                               "max_testing_below_ranging")
                    self.metrics[name]["ranging_average_power_w"] = ravg
                    frac = r.get("warn_testing_shorter_than_ranging")
                    if frac is not None and rwin.duration_s > 0 and \
                            (rwin.duration_s - win.duration_s) / rwin.duration_s > frac:
                        self.check(f"{name}: testing vs ranging duration", WARN,
                                   f"testing window {win.duration_s:.1f} s is more than {frac * 100:g} % shorter "
                                   f"than the ranging window {rwin.duration_s:.1f} s",
                                   "warn_testing_shorter_than_ranging")
        return self.headline_metric(run, win, total, per)

    def run_metrics(self, run: RunData, win: Window, total: dict | None = None, per: dict | None = None) -> dict:
        """Average and peak power and energy over the window, for the system and each instrument."""
        total = total or stream_stats(run.total, run.dt, win)
        per = per or {i: stream_stats(d, dt, win) for i, (d, dt) in run.streams.items()}
        return {"window_s": win.duration_s, "window_source": win.source, "average_power_w": total["average_w"],
                "peak_power_w": total["peak_w"], "valid_samples": total["valid_samples"],
                "energy_j": None if total["average_w"] is None else total["average_w"] * win.duration_s,
                "instruments": {i: _public(s) | {"energy_j": None if s["average_w"] is None
                                                 else s["average_w"] * win.duration_s} for i, s in per.items()}}

    def review_instrument(self, name: str, inst: str, s: dict, run: RunData) -> None:
        r = self.rules
        label = f"{name} {inst}"
        if s["overrange_samples"]:
            allowed = r.get("overrange_allowed", True)
            self.check(f"{label}: overrange", WARN if allowed else FAIL,
                       f"{s['overrange_samples']} overrange samples inside the window, the first at "
                       f"{s['first_overrange']:.3f}: the range in force was too small for the load"
                       + ("" if allowed else "; the run is invalid — choose a larger range and repeat testing"),
                       "overrange_allowed")
        else:
            self.check(f"{label}: overrange", PASS, "no overrange sample inside the window", "overrange_allowed")
        dropped = s["invalid_samples"] + s["missing_samples"]
        limit = r.get("max_dropped_fraction")
        expected = s["samples"] + s["missing_samples"]
        if limit is not None and expected:
            frac = dropped / expected
            self.check(f"{label}: dropped samples", PASS if frac <= limit else FAIL,
                       f"{s['invalid_samples']} invalid and {s['missing_samples']} missing of {expected} "
                       f"({frac * 100:.3g} %, at most {limit * 100:g} %)", "max_dropped_fraction")
        elif dropped or s["gaps"]:
            self.check(f"{label}: dropped samples", WARN,
                       f"{s['invalid_samples']} invalid samples and {s['gaps']} gaps "
                       f"({s['missing_samples']} samples missing) inside the window; they are left out of the "
                       "average", None)
        if r.get("fixed_ranges_required"):
            used = run.info.get("ranges", {}).get(inst, {})
            auto = s["auto_range_samples"] or used.get("voltage_auto") or used.get("current_auto")
            ok = not auto and not s["range_change_samples"]
            self.check(f"{label}: fixed ranges", PASS if ok else FAIL,
                       (f"{used.get('voltage')} V / {used.get('current')} A fixed for the whole window" if ok else
                        f"{s['auto_range_samples']} samples under auto range, {s['range_change_samples']} while "
                        "the range switched: testing must use fixed ranges"), "fixed_ranges_required")
        lim = r.get("max_uncertainty")
        if lim is not None:
            over = s["uncertainty_over"](lim)
            unknown = s["uncertainty_unknown"]
            ok = over == 0 and unknown == 0 and s["uncertainty_known"] > 0
            ev = (f"max {s['uncertainty_max'] * 100:.3g} % over {s['uncertainty_known']} samples"
                  if s["uncertainty_max"] is not None else "no sample with a known uncertainty")
            if over:
                ev += f"; {over} samples above {lim * 100:g} %"
            if unknown:
                ev += f"; {unknown} samples with unknown uncertainty (auto range or clipped)"
            self.check(f"{label}: uncertainty per sample", PASS if ok else FAIL, ev, "max_uncertainty")
        lim = r.get("max_avg_uncertainty")
        if lim is not None and s["uncertainty_avg"] is not None:
            ok = s["uncertainty_avg"] <= lim
            self.check(f"{label}: average uncertainty", PASS if ok else FAIL,
                       f"{s['uncertainty_avg'] * 100:.3g} % (at most {lim * 100:g} %)", "max_avg_uncertainty")

    def review_clock_jumps(self, info: dict) -> None:
        """``clock_jump`` events in the run's journal: the wall clock stepped while it recorded.

        Sample times stay on the time base the run started with (station.core.clockwatch); event
        times and the workload window come from a clock (this one's, or the SUT's for LoadGen)
        that a step moves, so after one they no longer line up with the samples. A testing run
        with a jump is not valid; while ranging it is a warning.
        """
        name, param = info["name"], "max_clock_offset_s"
        events = JournalReader(self.dir / info["dir"]).events()
        jumps = [e for e in events if e.get("kind") == "clock_jump" and e.get("jump_s") is not None]
        if not jumps:
            self.check(f"{name}: clock_stable", PASS, "the computer's clock did not jump while the run recorded "
                       "(no clock_jump in its journal): samples, events and the workload window share one time "
                       "base", param)
            return
        start = next((e.get("t") for e in events if e.get("kind") == "recording_started"), None)
        told = "; ".join(describe_clock_jumps(jumps, start))
        count = f"{len(jumps)} jumps" if len(jumps) > 1 else "one jump"
        if info.get("kind") == "ranging":
            self.check(f"{name}: clock_stable", WARN, f"the computer's clock jumped while ranging ({count}): {told}. "
                       "The ranging window and its average, which the testing run is compared with, may be taken "
                       "over the wrong samples; repeat ranging if that average looks off", param)
            return
        self.check(f"{name}: clock_stable", FAIL, f"the computer's clock jumped during the run ({count}): {told}. "
                   "Power samples and LoadGen timestamps can no longer be aligned: the samples stay on the time "
                   "base the run started with, but the workload window and events stamped by the clock after the "
                   "jump are off by it, so the window may select the wrong samples and the average cannot be "
                   "trusted. The run is not valid — keep "
                   "the clock from stepping during runs (let NTP slew it, nobody sets the time, no suspend) and "
                   "repeat testing", param)

    def review_clock(self) -> None:
        limit = self.rules.get("max_clock_offset_s")
        if limit is None:
            return
        offsets = []
        errors = []
        for run in self.session.get("runs", []):
            if run.get("state") != "complete":
                continue
            for c in run.get("clock", []):
                (errors if c.get("error") else offsets).append((run["name"], c))
        if errors:
            name, c = errors[0]
            self.check("clock offset", FAIL, f"{name}: {c['error']}", "max_clock_offset_s")
        elif not offsets:
            self.check("clock offset", WARN, "no NTP server configured: the offset was not measured. Acceptable "
                       "only when LoadGen runs on this computer (one clock for the window and the samples)",
                       "max_clock_offset_s")
        else:
            worst_run, worst = max(offsets, key=lambda x: abs(x[1]["offset_s"]))
            ok = abs(worst["offset_s"]) <= limit
            self.check("clock offset", PASS if ok else FAIL,
                       f"largest offset {worst['offset_s'] * 1000:+.1f} ms ({worst_run}, {len(offsets)} checks "
                       f"against {worst.get('server')}), limit {limit * 1000:.0f} ms", "max_clock_offset_s")

    # -- metrics ---------------------------------------------------------------------------
    def headline_metric(self, run: RunData, win: Window, total: dict, per: dict) -> dict | None:
        kind = self.rules.metric
        avg = total["average_w"]
        if kind == "mlperf-inference":
            if avg is None:
                return None
            from station.mlperf.metric import mlperf_metric

            summary = {}
            if (self.dir / run.info["dir"] / SUMMARY).is_file():
                from station.mlperf.loadgen import read_summary

                summary = read_summary(self.dir / run.info["dir"] / SUMMARY)
            scenario = win.detail.get("scenario") or self.session.get("scenario")
            if win.detail.get("query_count") is not None:
                summary = {**summary, "result_query_count": str(win.detail["query_count"])}
            begin = datetime.fromtimestamp(win.begin, UTC)
            end = datetime.fromtimestamp(win.end, UTC)
            metric = dict(mlperf_metric(scenario, avg, begin, end, summary))
            metric.update(run=run.name, scenario=scenario, average_power_w=avg)
            self.metrics[run.name]["metric"] = metric
            return metric
        if kind == "average-power":
            if avg is None:
                return None
            return {"value": avg, "unit": "W", "run": run.name, "energy_j": avg * win.duration_s,
                    "peak_w": total["peak_w"]}
        if kind == "training-energy":
            eff = self.rules.get("conversion_efficiency", 1.0)
            nodes = {i: s["average_w"] * win.duration_s * eff for i, s in per.items() if s["average_w"] is not None}
            if len(nodes) < len(per):
                self.check(f"{run.name}: every node measured", FAIL, "an instrument has no valid sample inside the "
                           "window; every node of the run must be measured", "sum_nodes")
                return None
            inter = (self.rules.get("interconnect_power_w", 0.0) * self.rules.get("interconnect_provisioning", 1.0)
                     * win.duration_s * eff)
            joules = sum(nodes.values()) + inter
            self.check(f"{run.name}: every node measured", PASS, f"{len(nodes)} nodes summed; interconnect "
                       f"estimate {inter:.6g} J; AC/DC efficiency {eff:g}", "sum_nodes")
            return {"value": joules, "unit": "J", "kwh": joules / KWH, "run": run.name, "nodes_j": nodes,
                    "interconnect_j": inter, "conversion_efficiency": eff, "time_to_train_s": win.duration_s}
        if kind == "tiny-energy":
            return self.tiny_metric(run)
        return None

    def tiny_metric(self, run: RunData) -> dict | None:
        r = self.rules
        wins = [Window.from_dict(w) for w in run.info.get("windows", []) if w["source"] == "gpio"]
        need = r.get("windows")
        if need is not None:
            self.check(f"{run.name}: GPIO windows", PASS if len(wins) == need else FAIL,
                       f"{len(wins)} windows between GPIO timestamps, exactly {need} needed", "windows")
        n_inf = r.get("inferences_per_window")
        if n_inf is None:
            self.check(f"{run.name}: inference count", FAIL, "the number of inferences per window is not known "
                       "(--set inferences_per_window=N)", "inferences_per_window")
        per_window = []
        short = []
        for w in wins:
            s = stream_stats(run.total, run.dt, w)
            uj = s["energy_sum_j"] * 1e6
            per_window.append({"begin": w.begin, "end": w.end, "duration_s": w.duration_s, "energy_uj": uj,
                               "average_w": s["average_w"],
                               "uj_per_inference": None if n_inf is None else uj / n_inf})
            if r.get("min_window_s") is not None and w.duration_s < r.get("min_window_s"):
                short.append(f"{w.label} {w.duration_s:.3f} s")
        if r.get("min_window_s") is not None and wins:
            self.check(f"{run.name}: window length", FAIL if short else PASS,
                       ("below the minimum: " + ", ".join(short)) if short else
                       f"every window lasts at least {r.get('min_window_s'):g} s", "min_window_s")
        self.metrics[run.name]["gpio_windows"] = per_window
        if not per_window or n_inf is None:
            return None
        values = [p["uj_per_inference"] for p in per_window]
        stat = statistics.median if r.get("window_statistic", "median") == "median" else statistics.fmean
        return {"value": stat(values), "unit": "uJ/inference", "statistic": r.get("window_statistic", "median"),
                "windows": values, "run": run.name}


def review_directory(session_dir: str | Path) -> dict:
    """Recompute the review of a session directory from its files."""
    from station.rules import rules_from_session

    session_dir = Path(session_dir)
    session = json.loads((session_dir / "session.json").read_text(encoding="utf-8"))
    rules = rules_from_session(json.loads((session_dir / "rules.json").read_text(encoding="utf-8")),
                               str(session_dir / "rules.json"))
    return Reviewer(session_dir, session, rules).run()
