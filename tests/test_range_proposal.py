"""The one range proposal of the measurement service (procedure, director and kiosk use it)."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.sim import CURRENT_RANGES, VOLTAGE_RANGES, SimulatedAnalyzer
from station import rules
from station.core.samples import Flag, sample_dtype
from station.measurement.ranges import RangingMaxima, headroom_of, propose_ranges
from tests.helpers.sample_blocks import make_block

DESC = SimulatedAnalyzer.description


def test_overranged_and_invalid_readings_do_not_set_the_maxima_but_are_mentioned():
    good = make_block(0.0, 100, 0.01, 460.0)  # 230 V, 2 A
    over = make_block(1.0, 5, 0.01, 4600.0, flags=int(Flag.OVERRANGE))  # 20 A, flagged
    bad = make_block(2.0, 5, 0.01, 9000.0, flags=int(Flag.INVALID))
    maxima = RangingMaxima()
    for block in (good, over, bad):
        maxima(block)
    p = propose_ranges(DESC, maxima, "psu", 1.1)
    assert (p.max_volts, p.max_amps) == (230.0, 2.0)
    assert p.voltage == min(r for r in VOLTAGE_RANGES if r >= 230.0)
    assert p.current == min(r for r in CURRENT_RANGES if r >= 2.2)
    assert "overranged in 5 ranging samples" in p.why
    assert p.problem is None


def test_with_several_elements_the_highest_element_reading_counts_not_the_sum():
    block = np.zeros(10, sample_dtype(3))
    block["t"] = np.arange(10) * 0.1
    block["w"] = 900.0
    block["v"] = 230.0
    block["a"] = 3.9  # the sum of the elements
    block["ch_v"] = [[229.0, 231.0, 230.0]] * 10
    block["ch_a"] = [[1.0, 1.6, 1.3]] * 10
    maxima = RangingMaxima()
    maxima.add(block)
    p = propose_ranges(DESC, maxima)
    assert (p.max_volts, p.max_amps) == pytest.approx((231.0, 1.6))  # float32 per-element fields
    assert p.current == min(r for r in CURRENT_RANGES if r >= 1.6 * 1.1)


def test_a_ranging_run_that_was_overrange_throughout_gives_no_ranges_and_says_why():
    maxima = RangingMaxima()
    maxima.add(make_block(0.0, 50, 0.01, 460.0, flags=int(Flag.OVERRANGE)))
    p = propose_ranges(DESC, maxima)
    assert np.isnan(p.voltage) and np.isnan(p.current)
    assert "every ranging sample was overrange" in p.problem


def test_a_load_beyond_the_largest_ranges_is_a_problem_naming_them():
    maxima = RangingMaxima()
    maxima.add(make_block(0.0, 10, 0.01, 230.0 * CURRENT_RANGES[-1] * 2))
    p = propose_ranges(DESC, maxima)
    assert p.current == CURRENT_RANGES[-1]
    assert "cannot hold this load" in p.problem and f"{CURRENT_RANGES[-1]:g} A" in p.problem


@pytest.mark.parametrize("headroom", [1.0, 1.5])
def test_the_headroom_is_the_rule_sets_current_headroom(headroom):
    rs = rules.load("mlperf-inference", [f"current_headroom={headroom}"])
    assert headroom_of(rs) == headroom
    maxima = RangingMaxima()
    maxima.add(make_block(0.0, 10, 0.01, 230.0 * 0.95))  # 0.95 A
    p = propose_ranges(DESC, maxima, headroom=headroom_of(rs))
    assert p.current == min(r for r in CURRENT_RANGES if r >= 0.95 * headroom)
    assert f"{headroom:g} x largest current" in p.why
