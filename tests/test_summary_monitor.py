"""Run summaries and live checks: what an operator reads at the end of a run and during it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.core.monitor import RunMonitor
from station.core.samples import Flag
from station.core.summary import PowerAccumulator, format_summary, summarize_records
from tests.helpers.sample_blocks import make_block


@settings(max_examples=60, deadline=None)
@given(
    watts=st.lists(st.floats(0.001, 5000.0), min_size=1, max_size=300),
    bad=st.lists(st.sampled_from([0, 0, 0, int(Flag.OVERRANGE), int(Flag.INVALID)]), min_size=300, max_size=300),
    split=st.integers(1, 299),
)
def test_accumulator_matches_brute_force_whatever_the_block_split(watts, bad, split):
    n = len(watts)
    b = make_block(100.0, n, 0.5, np.array(watts), flags=np.array(bad[:n], dtype=np.uint16))
    acc = PowerAccumulator(0.5)
    acc.add(b[:split])
    acc.add(b[split:])
    s = acc.summary()
    good = np.array(bad[:n]) == 0
    w = np.array(watts)[good]
    assert s["samples"] == n
    assert s["good_samples"] == good.sum()
    assert s["duration_s"] == pytest.approx(n * 0.5)
    if good.any():
        assert s["avg_w"] == pytest.approx(w.mean())
        assert s["min_w"] == pytest.approx(w.min())
        assert s["max_w"] == pytest.approx(w.max())
        # the whole duration: good samples measured, the rest bridged at the mean good power
        assert s["energy_measured_j"] == pytest.approx(w.sum() * 0.5)
        assert s["energy_j"] == pytest.approx(w.mean() * n * 0.5)
        assert s["energy_bridged_j"] == pytest.approx(w.mean() * (n - good.sum()) * 0.5, abs=1e-9)
        assert s["coverage"] == pytest.approx(good.sum() / n, abs=1e-6)  # six decimals
    else:
        assert s["avg_w"] is None and s["energy_j"] is None and s["coverage"] == 0


def test_overrange_samples_never_enter_the_average():
    b = make_block(0.0, 10, 1.0, 100.0)
    b["w"][3] = 1e9  # a garbage number the meter marked as overrange
    b["flags"][3] = int(Flag.OVERRANGE)
    s = summarize_records(b, 1.0)
    assert s["avg_w"] == pytest.approx(100.0)
    assert s["max_w"] == pytest.approx(100.0)
    assert s["overrange_samples"] == 1


def test_gap_in_timestamps_is_counted():
    b1 = make_block(0.0, 10, 0.1, 1.0)
    b2 = make_block(5.0, 10, 0.1, 1.0)
    s = summarize_records(np.concatenate([b1, b2]), 0.1)
    assert s["gaps"] == 1


def test_format_summary_scales_units():
    s = summarize_records(make_block(0.0, 10, 1.0, 0.0042), 1.0)
    text = format_summary(s)
    assert "4.2000 mW" in text
    assert "energy" in text


def collect():
    events = []
    return events, (lambda kind, t=None, **d: events.append((kind, t, d)))


def test_monitor_reports_overrange_begin_and_end_across_blocks():
    events, sink = collect()
    m = RunMonitor("i", 1.0, on_event=sink)
    flags = np.zeros(10, dtype=np.uint16)
    flags[7:] = int(Flag.OVERRANGE)
    m.write(make_block(0.0, 10, 1.0, 5.0, flags=flags))
    flags2 = np.zeros(10, dtype=np.uint16)
    flags2[:2] = int(Flag.OVERRANGE)
    m.write(make_block(10.0, 10, 1.0, 5.0, flags=flags2))
    over = [(t, d["state"]) for k, t, d in events if k == "overrange"]
    assert over == [(7.0, "begin"), (12.0, "end")]
    assert m.snapshot()["overrange_samples"] == 5


def test_monitor_reports_a_gap_between_blocks():
    events, sink = collect()
    m = RunMonitor("i", 0.1, on_event=sink)
    m.write(make_block(0.0, 10, 0.1, 5.0))
    m.write(make_block(3.0, 10, 0.1, 5.0))
    gaps = [d for k, t, d in events if k == "gap"]
    assert len(gaps) == 1
    assert gaps[0]["length_s"] == pytest.approx(2.1)
    assert gaps[0]["missing_samples"] == 20


def test_monitor_reports_range_changes_and_uncertainty_over_limit():
    events, sink = collect()
    m = RunMonitor("i", 1.0, on_event=sink)
    b = make_block(0.0, 6, 1.0, 5.0)
    b["a_range"][3:] = 2.0
    b["uncert"][4:] = 0.02
    m.write(b)
    ranges = [d for k, t, d in events if k == "range"]
    assert ranges == [{"instrument": "i", "voltage": 300.0, "current": 2.0,
                       "previous_voltage": 300.0, "previous_current": 1.0}]
    unc = [(t, d["state"]) for k, t, d in events if k == "uncertainty"]
    assert unc == [(4.0, "begin")]
    assert m.snapshot()["uncertainty_over_1pct_samples"] == 2
