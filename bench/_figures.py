"""The figure every bench script reports, and the one JSON line ``--json`` prints.

A figure is ``{"value", "baseline", "ratio", "target", "met", "unit", "on", "what", "baseline_is"}``:
``ratio`` is value / baseline (both measured in the same run); the target applies to the value
(``on="value"``) or to the ratio (``on="ratio"``); ``met`` is None when no target is set.
bench/run_all.py renders these into docs/benchmarks.md.
"""

from __future__ import annotations

import json


def _round(x):
    return None if x is None else float(f"{x:.5g}") if isinstance(x, float) else x


def figure(value, baseline, target, better: str, *, unit: str = "", on: str = "value", what: str = "",
           baseline_is: str = "") -> dict:
    """``better`` is "higher" or "lower": which side of ``target`` meets it. No value: not met."""
    if better not in ("higher", "lower") or on not in ("value", "ratio"):
        raise ValueError("better is 'higher' or 'lower'; on is 'value' or 'ratio'")
    ratio = (value / baseline) if (baseline and value is not None) else None
    judged = ratio if on == "ratio" else value
    met = None if target is None else (judged is not None and (judged >= target if better == "higher"
                                                               else judged <= target))
    return {"value": _round(value), "baseline": _round(baseline), "ratio": _round(ratio), "target": target,
            "met": met, "better": better, "unit": unit, "on": on, "what": what, "baseline_is": baseline_is}


def target_text(f: dict) -> str:
    """"≥ 20x baseline", "≤ 10 ms", or "—" for a figure without a target."""
    t = f.get("target")
    if t is None:
        return "—"
    sign = "≥" if f.get("better") == "higher" else "≤"
    if f.get("on") == "ratio":
        return f"{sign} {t:g}x baseline"
    unit = f.get("unit") or ""
    return f"{sign} {t:,.6g}{' ' + unit if unit else ''}"


def all_met(figures: dict) -> bool:
    """Every figure with a target met it (the script's exit status)."""
    return all(f["met"] is not False for f in figures.values())


def emit(bench: str, figures: dict, **extra) -> None:
    """Print the one JSON line bench/run_all.py reads."""
    print(json.dumps({"bench": bench, "figures": figures, **extra}, default=str))
