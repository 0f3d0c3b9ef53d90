"""Uncertainty: every sample within ``max_uncertainty`` and the window's average within
``max_avg_uncertainty`` (MLPerf Inference: 1 %, as PTDaemon and the compliance checker judge it).

Live (testing): the first sample above the limit fails the run; the average so far from the run
monitors' snapshots. Final, per testing run and instrument: samples above the limit or of unknown
uncertainty (auto range, clipped) inside the window, and the average. A source with no ranges
and no per-sample uncertainty (fleet telemetry) is "not reported", a warning: neither a pass nor a
failure of the analyzer.
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, PENDING, WARN, Check
from station.measurement.checks.final import Review
from station.measurement.checks.live import LiveRule, clock_text
from station.measurement.checks.range_selection import not_settable
from station.rules import ParamSpec

PARAMETERS = {
    "max_uncertainty": ParamSpec("float", 0.0, 1.0),
    "max_avg_uncertainty": ParamSpec("float", 0.0, 1.0),
}


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        self.limit = live.rules.get("max_uncertainty") if live.testing else None
        self.avg_limit = live.rules.get("max_avg_uncertainty") if live.testing else None
        if self.limit is not None:
            live.set("uncertainty", PASS, "every sample so far is within the uncertainty limit", "max_uncertainty")
        if self.avg_limit is not None:
            live.set("average_uncertainty", PENDING, "no sample with a known uncertainty yet", "max_avg_uncertainty")

    def on_event(self, kind: str, t: float | None, detail: dict) -> None:
        if kind != "uncertainty" or detail.get("state") != "begin" or self.limit is None:
            return
        value = float(detail.get("value", float("nan")))
        self.live.set("uncertainty", FAIL, f"{detail.get('instrument', '')}: a sample at {clock_text(t)} has "
                      f"uncertainty {value * 100:.3g} %, above the {self.limit * 100:g} % limit: inside the workload "
                      "window this makes the run invalid; a smaller range gives a lower uncertainty",
                      "max_uncertainty", t)

    def tick(self, snapshots: list[dict], now: float) -> None:
        if self.avg_limit is None or not sum(s.get("uncertainty_known_samples") or 0 for s in snapshots):
            return
        worst, limit = max((s.get("uncertainty_avg") or 0.0) for s in snapshots), self.avg_limit
        if worst > limit:
            self.live.set("average_uncertainty", WARN, f"average uncertainty {worst * 100:.3g} % is above the "
                          f"{limit * 100:g} % limit so far", "max_avg_uncertainty")
        else:
            self.live.set("average_uncertainty", PASS, f"average uncertainty {worst * 100:.3g} % "
                          f"(limit {limit * 100:g} %)", "max_avg_uncertainty")


def final(review: Review) -> list[Check]:
    lim, avg_lim = review.rules.get("max_uncertainty"), review.rules.get("max_avg_uncertainty")
    out = []
    for run in review.testing:
        for inst, s in run.per.items():
            label = f"{run.name} {inst}"
            if s["uncertainty_known"] == 0 and not_settable(run, inst) is not None:
                if lim is not None or avg_lim is not None:  # telemetry: no analyzer range to compute it from
                    out.append(review.check(f"{label}: uncertainty", WARN, f"not reported: {inst} gives no "
                                            "per-sample uncertainty (telemetry without analyzer ranges), so the "
                                            "limit cannot be checked", "max_uncertainty"))
                continue
            if lim is not None:
                over, unknown = s["uncertainty_over"](lim), s["uncertainty_unknown"]
                ok = over == 0 and unknown == 0 and s["uncertainty_known"] > 0
                ev = (f"max {s['uncertainty_max'] * 100:.3g} % over {s['uncertainty_known']} samples"
                      if s["uncertainty_max"] is not None else "no sample with a known uncertainty")
                if over:
                    ev += f"; {over} samples above {lim * 100:g} %"
                if unknown:
                    ev += f"; {unknown} samples with unknown uncertainty (auto range or clipped)"
                out.append(review.check(f"{label}: uncertainty per sample", PASS if ok else FAIL, ev,
                                        "max_uncertainty"))
            if avg_lim is not None and s["uncertainty_avg"] is not None:
                out.append(review.check(f"{label}: average uncertainty",
                                        PASS if s["uncertainty_avg"] <= avg_lim else FAIL,
                                        f"{s['uncertainty_avg'] * 100:.3g} % (at most {avg_lim * 100:g} %)",
                                        "max_avg_uncertainty"))
    return out
