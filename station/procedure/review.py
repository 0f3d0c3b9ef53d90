"""The review: every rule's verdict with its evidence, and the metrics, from what is on disk.

The review reads the session (``session.json``: runs, windows, ranges, clock checks), the rule
set and each run's journal, so it can be recomputed at any time from the session directory
(:func:`review_directory`). The checks are the final forms of the rule modules
(:mod:`station.measurement.checks`); this module adds the metrics. Averages follow the MLCommons
tools: the mean of the valid samples strictly inside the workload window of the system total;
energy is that average times the window's length. Tiny: energy of each GPIO window (sum of
power x interval of its samples) per inference, median of the windows. Training: each node's
energy times the AC/DC conversion efficiency, summed, plus the interconnect estimate.
"""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from pathlib import Path

from station.measurement.checks import FAIL
from station.measurement.checks.dropped_samples import channel_gaps
from station.measurement.checks.final import Review, ReviewedRun, final_checks, public_stats, stream_stats
from station.measurement.checks.gpio_windows import gpio_windows
from station.measurement.checks.ranging_vs_testing import ranging_average
from station.procedure.windows import SUMMARY
from station.rules import RuleSet

KWH = 3.6e6


class Reviewer:
    """The review of one session: ``run()`` gives what ``review.json`` holds."""

    def __init__(self, session_dir: Path, session: dict, rules: RuleSet) -> None:
        self.dir = Path(session_dir)
        self.session = session
        self.rules = rules
        self.metrics: dict = {}

    def run(self) -> dict:
        review = Review(self.dir, self.session, self.rules)
        checks = [c.to_dict() for c in final_checks(review)]
        windows = [{"run": run.name, **w} for run in review.runs for w in run.info.get("windows", [])]
        if review.ranging is not None and review.ranging.window is not None:
            self.metrics[review.ranging.name] = self.run_metrics(review.ranging)
        headline = None
        ravg = ranging_average(review) if self.rules.get("max_testing_below_ranging") is not None else None
        for run in review.testing:
            if run.window is None:
                continue
            self.metrics[run.name] = self.run_metrics(run)
            if ravg is not None and run.total["average_w"]:
                self.metrics[run.name]["ranging_average_power_w"] = ravg
            headline = self.headline_metric(run) or headline
        for run in review.runs:  # a fleet source's nodes that stopped updating, per instrument
            for inst, stats in self.metrics.get(run.name, {}).get("instruments", {}).items():
                stats["channel_gaps"] = channel_gaps(review, run, inst)
        valid = bool(review.testing) and all(c["status"] != FAIL for c in checks)
        return {"valid": valid, "checks": checks, "metrics": self.metrics, "metric": headline,
                "windows": windows, "rules": self.rules.name,
                "summary": ("valid" if valid else "NOT valid: " + "; ".join(
                    f"{c['name']}: {c['evidence']}" for c in checks if c["status"] == FAIL))}

    # -- metrics ---------------------------------------------------------------------------
    def run_metrics(self, run: ReviewedRun) -> dict:
        """Average and peak power and energy over the window, for the system and each instrument."""
        win, total = run.window, run.total
        return {"window_s": win.duration_s, "window_source": win.source, "average_power_w": total["average_w"],
                "peak_power_w": total["peak_w"], "valid_samples": total["valid_samples"],
                "energy_j": None if total["average_w"] is None else total["average_w"] * win.duration_s,
                "instruments": {i: public_stats(s) | {"energy_j": None if s["average_w"] is None
                                                      else s["average_w"] * win.duration_s}
                                for i, s in run.per.items()}}

    def headline_metric(self, run: ReviewedRun) -> dict | None:
        kind, win, avg = self.rules.metric, run.window, run.total["average_w"]
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
                    "peak_w": run.total["peak_w"]}
        if kind == "training-energy":
            eff = self.rules.get("conversion_efficiency", 1.0)
            if any(s["average_w"] is None for s in run.per.values()):
                return None  # a node without samples: the check "every node measured" fails
            nodes = {i: s["average_w"] * win.duration_s * eff for i, s in run.per.items()}
            inter = (self.rules.get("interconnect_power_w", 0.0) * self.rules.get("interconnect_provisioning", 1.0)
                     * win.duration_s * eff)
            joules = sum(nodes.values()) + inter
            return {"value": joules, "unit": "J", "kwh": joules / KWH, "run": run.name, "nodes_j": nodes,
                    "interconnect_j": inter, "conversion_efficiency": eff, "time_to_train_s": win.duration_s}
        if kind == "tiny-energy":
            return self.tiny_metric(run)
        return None

    def tiny_metric(self, run: ReviewedRun) -> dict | None:
        r = self.rules
        n_inf = r.get("inferences_per_window")
        per_window = []
        for w in gpio_windows(run):
            s = stream_stats(run.data.total, run.data.dt, w)
            uj = s["energy_sum_j"] * 1e6
            per_window.append({"begin": w.begin, "end": w.end, "duration_s": w.duration_s, "energy_uj": uj,
                               "average_w": s["average_w"],
                               "uj_per_inference": None if n_inf is None else uj / n_inf})
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
