"""The figure every bench script reports: ``{"value", "baseline", "ratio", "target", "met"}``."""

from __future__ import annotations


def figure(value, baseline, target, better: str) -> dict:
    """``better`` is "higher" or "lower": which side of ``target`` meets it. No value: not met."""
    ratio = (value / baseline) if (baseline and value is not None) else None
    met = value is not None and (value >= target if better == "higher" else value <= target)
    return {"value": value, "baseline": baseline, "ratio": ratio, "target": target, "met": bool(met)}
