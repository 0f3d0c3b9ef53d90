"""Range selection and fixed ranges: testing uses the ranges chosen from the ranging run, unchanged.

Live (testing, ``fixed_ranges_required``): a range change reported by the run monitor while
testing records. Final: how each instrument's testing ranges were chosen (as proposed from the
ranging maxima with ``current_headroom``, or an operator override with its reason) and, per
testing run and instrument, that no sample inside the window was under auto range or switching.
An instrument with no ranges to set (telemetry: Prometheus, a BMC) is said so: a warning where the
rule set requires fixed ranges, else a pass.
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, WARN, Check
from station.measurement.checks.final import Review
from station.measurement.checks.live import LiveRule, clock_text
from station.rules import ParamSpec

PARAMETERS = {"fixed_ranges_required": ParamSpec("bool")}


class Live(LiveRule):
    def on_event(self, kind: str, t: float | None, detail: dict) -> None:
        live = self.live
        if kind != "range" or not live.testing or not live.rules.get("fixed_ranges_required"):
            return
        live.set("fixed_ranges", WARN, f"{detail.get('instrument', '')} changed range at {clock_text(t)} "
                 f"({detail.get('previous_voltage')} V / {detail.get('previous_current')} A -> "
                 f"{detail.get('voltage')} V / {detail.get('current')} A): testing must use fixed ranges; inside "
                 "the workload window this makes the run invalid", "fixed_ranges_required", t)


def not_settable(run, inst: str) -> str | None:
    """Why ``inst`` had no ranges to set in ``run`` (telemetry such as Prometheus), or None when it had."""
    used = run.info.get("ranges", {}).get(inst, {})
    return used.get("reason", "no ranges to set") if used.get("settable") is False else None


def final(review: Review) -> list[Check]:
    out = _selection(review)
    if review.rules.get("fixed_ranges_required"):
        for run in review.testing:
            for inst, s in run.per.items():
                used = run.info.get("ranges", {}).get(inst, {})
                why = not_settable(run, inst)
                if why is not None:
                    out.append(review.check(f"{run.name} {inst}: fixed ranges", WARN,
                                            f"ranges: not settable on {inst} ({why}); the accuracy is the "
                                            "source's own, not a fixed analyzer range's", "fixed_ranges_required"))
                    continue
                auto = s["auto_range_samples"] or used.get("voltage_auto") or used.get("current_auto")
                ok = not auto and not s["range_change_samples"]
                out.append(review.check(
                    f"{run.name} {inst}: fixed ranges", PASS if ok else FAIL,
                    (f"{used.get('voltage')} V / {used.get('current')} A fixed for the whole window" if ok else
                     f"{s['auto_range_samples']} samples under auto range, {s['range_change_samples']} while the "
                     "range switched: testing must use fixed ranges"), "fixed_ranges_required"))
    return out


def _selection(review: Review) -> list[Check]:
    sel = review.session.get("range_selection")
    rangeless = {inst: not_settable(run, inst) for run in review.runs for inst in run.per
                 if not_settable(run, inst) is not None}
    required = bool(review.rules.get("fixed_ranges_required"))
    out = [review.check(f"range selection {inst}", WARN if required else PASS,
                        f"ranges: not settable on {inst} ({why}); none proposed"
                        + ("" if required else "; the rule set needs no fixed ranges"), "fixed_ranges_required")
           for inst, why in rangeless.items()]
    if not sel:
        if review.rules.get("fixed_ranges_required") and not rangeless:
            return [review.check("range selection", FAIL, "no ranges were selected for testing",
                                 "fixed_ranges_required")]
        return out
    for inst, item in sel.items():
        if item.get("override"):
            out.append(review.check(
                f"range selection {inst}", WARN,
                f"operator override to {item['voltage']:g} V / {item['current']:g} A instead of the proposed "
                f"{item['proposed_voltage']} V / {item['proposed_current']} A; reason: "
                f"{item.get('reason') or 'none given'}", "current_headroom"))
        else:
            out.append(review.check(f"range selection {inst}", PASS, f"{item['voltage']:g} V / {item['current']:g} A "
                                    f"as proposed: {item.get('why', '')}", "current_headroom"))
    return out
