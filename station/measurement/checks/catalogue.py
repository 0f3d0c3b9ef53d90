"""The rule modules, in the order the review reports their verdicts.

A rule module has ``PARAMETERS`` (the rule parameters it judges by, name -> ParamSpec; the rule
set files give their values), ``final(review) -> list[Check]`` and, when it can say something
while a run records, a ``Live`` class (:class:`station.measurement.checks.live.LiveRule`).
"""

from __future__ import annotations

from station.measurement.checks import (
    calibration,
    clock_offset,
    clock_stability,
    dropped_samples,
    duration,
    gpio_windows,
    instrument,
    overrange,
    overrides,
    range_selection,
    ranging_vs_testing,
    runs,
    uncertainty,
    workload_window,
)

RULES = [
    overrides,
    runs,
    range_selection,
    workload_window,
    instrument,
    duration,
    overrange,
    dropped_samples,
    uncertainty,
    ranging_vs_testing,
    gpio_windows,
    clock_stability,
    clock_offset,
    calibration,
]
