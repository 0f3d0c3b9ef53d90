"""Overridden rules: a session run with ``--set`` is a rehearsal, not a compliant result (final form)."""

from __future__ import annotations

from station.measurement.checks import WARN, Check
from station.measurement.checks.final import Review

PARAMETERS: dict = {}


def final(review: Review) -> list[Check]:
    overrides = review.rules.overrides
    if not overrides:
        return []
    return [review.check("rule_overrides", WARN, "rules overridden for this session: " + ", ".join(
        f"{k} {v['from']} -> {v['to']}" for k, v in overrides.items())
        + "; a result with overridden rules is not a compliant one")]
