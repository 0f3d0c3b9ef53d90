"""Fuzzing of every parser with hypothesis: inputs tried per parser are counted and reported.

``STATION_FUZZ_EXAMPLES`` sets how many inputs each test tries (default 300; the nightly /
soak setting is 20000; see tests/helpers/fuzz_counts.py). Every test here is marked slow. The
counts are printed at the end of the run and, with ``STATION_FUZZ_REPORT=path.json``, written
to that file (docs/reliability.md quotes them).
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.fuzz_counts import EXAMPLES, TRIED

settings.register_profile(
    "station-fuzz", max_examples=EXAMPLES, deadline=None, derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("station-fuzz")


def pytest_collection_modifyitems(items):
    # Each test tries hundreds of inputs (thousands in the soak): none belongs in the fast lane,
    # and the time allowed grows with the inputs (the slowest takes ~22 s for the default 300).
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(max(300, EXAMPLES)))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TRIED:
        return
    terminalreporter.section("fuzzing: inputs tried per parser")
    for name, n in sorted(TRIED.items()):
        terminalreporter.write_line(f"{name:40s} {n:>8,}")
    path = os.environ.get("STATION_FUZZ_REPORT")
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(dict(sorted(TRIED.items())), f, indent=1)
