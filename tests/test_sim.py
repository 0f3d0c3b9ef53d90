"""The simulated analyzer behaves like a meter on a real ML system."""

import time

import numpy as np
import pytest

from instruments.base import AUTO, Config, ConfigurationError, InstrumentDisconnected, InstrumentError
from instruments.sim import SimulatedAnalyzer
from station.core.samples import Flag, good_mask


def stream(seconds, interval=1e-3, v=AUTO, a=AUTO, cf=3.0, **opts):
    opts.setdefault("pace", False)
    opts.setdefault("start_time", 1_700_000_000.0)
    drv = SimulatedAnalyzer(None, **opts)
    drv.open()
    drv.configure(Config(update_interval_s=interval, crest_factor=cf))
    drv.set_ranges(v, a)
    drv.start()
    blocks, events = [], []
    n = int(round(seconds / interval))
    got = 0
    while got < n:
        b = drv.read_block()
        blocks.append(b.samples)
        events += b.events
        got += len(b.samples)
    drv.stop()
    return np.concatenate(blocks)[:n], events, drv


def test_same_seed_same_samples_other_seed_other_samples():
    a, _, _ = stream(2.0, seed=4)
    b, _, _ = stream(2.0, seed=4)
    c, _, _ = stream(2.0, seed=5)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_volts_amps_and_power_factor_agree_with_power():
    s, _, _ = stream(3.0, profile="edge")
    g = good_mask(s)
    np.testing.assert_allclose(s["w"][g], (s["v"] * s["a"] * s["pf"])[g], rtol=1e-5)
    assert (s["pf"][g] > 0.5).all() and (s["pf"][g] <= 1.0).all()


@pytest.mark.parametrize("profile, low, high", [
    ("tiny", 0.003, 0.25), ("edge", 4.0, 80.0), ("datacenter", 250.0, 2500.0), ("training", 1000.0, 7000.0),
])
def test_profiles_cover_milliwatts_to_kilowatts(profile, low, high):
    s, _, _ = stream(60.0, interval=0.01, profile=profile)
    w = s["w"][good_mask(s)]
    assert low < w.min() and w.max() < high
    assert w.max() > 3 * w.min()  # idle and load are both in there


def test_tiny_runs_on_dc():
    s, _, _ = stream(1.0, profile="tiny")
    g = good_mask(s)
    assert np.allclose(s["pf"][g], 1.0)
    assert abs(np.median(s["v"][g]) - 3.3) < 0.05


def test_auto_range_steps_down_from_the_top_with_invalid_switching_samples_then_up_under_load():
    s, _, drv = stream(20.0, interval=1e-3)  # datacenter: idle ~310 W, then warm-up to 1.5 kW
    a_rng = s["a_range"]
    changes = np.flatnonzero(np.diff(a_rng) != 0) + 1
    assert a_rng[0] > a_rng[len(a_rng) // 4]  # stepped down from the 50 A start to an idle range
    assert a_rng[-1] > a_rng[len(a_rng) // 4]  # and back up under load
    assert len(changes) >= 2
    for i in changes:
        assert s["flags"][i] & int(Flag.RANGE_CHANGE)
        assert np.isnan(s["w"][i])
    assert (s["flags"] & int(Flag.AUTO_RANGE)).all()
    assert np.isnan(s["uncert"]).all()  # unknown under auto ranges, like PTDaemon
    assert drv.ranges().current_auto


def test_fixed_range_too_small_is_overrange_never_a_number():
    s, _, _ = stream(20.0, interval=1e-2, v=300.0, a=2.0)  # 1.5 kW at 230 V needs ~7 A
    over = (s["flags"] & int(Flag.OVERRANGE)) != 0
    assert over.any()
    assert np.isnan(s["w"][over]).all()
    assert not over[: int(5 / 1e-2)].any()  # idle (~1.6 A) fits the 2 A range


def test_uncertainty_known_with_fixed_ranges_and_depends_on_the_range_choice():
    good_fit, _, _ = stream(5.0, interval=1e-2, v=300.0, a=2.0)  # idle 310 W on a 600 W power range
    far_too_big, _, _ = stream(5.0, interval=1e-2, v=600.0, a=50.0)
    u1 = good_fit["uncert"][good_mask(good_fit)]
    u2 = far_too_big["uncert"][good_mask(far_too_big)]
    assert np.isfinite(u1).all() and np.isfinite(u2).all()
    assert u1.max() < 0.01
    assert u2.min() > 0.01


@pytest.mark.parametrize("interval", [5e-6, 2.0, 0.0])
def test_update_interval_outside_10us_to_1s_is_refused(interval):
    drv = SimulatedAnalyzer(None, pace=False)
    drv.open()
    with pytest.raises(ConfigurationError, match="10 µs to 1 s"):
        drv.configure(Config(update_interval_s=interval))


def test_range_not_in_table_and_unknown_profile_are_refused():
    drv = SimulatedAnalyzer(None)
    with pytest.raises(ConfigurationError, match="not one the instrument has"):
        drv.set_ranges(AUTO, 3.0)
    with pytest.raises(ConfigurationError, match="datacenter"):
        SimulatedAnalyzer(None, profile="warp-drive").open()


def test_read_before_start_is_an_error():
    drv = SimulatedAnalyzer(None)
    drv.open()
    with pytest.raises(InstrumentError, match="start"):
        drv.read_block()


def test_gpio_edges_mark_the_inference_window():
    s, events, _ = stream(70.0, interval=1e-2, events=True)
    edges = [(e.detail["edge"], e.t - s["t"][0]) for e in events if e.kind == "gpio"]
    assert [e for e, _ in edges][:2] == ["rising", "falling"]
    assert edges[0][1] == pytest.approx(14.0, abs=0.02)  # idle 8 s + warm-up 6 s
    assert edges[1][1] == pytest.approx(54.0, abs=0.02)
    assert np.count_nonzero(s["flags"] & int(Flag.MARK)) == len(edges)


def test_gap_fault_loses_samples_and_flags_the_next_one():
    s, events, _ = stream(3.0, interval=1e-2, gap_at_s=1.0, gap_s=0.5)
    i = np.flatnonzero(s["flags"] & int(Flag.GAP_BEFORE))
    assert len(i) == 1
    assert s["t"][i[0]] - s["t"][i[0] - 1] == pytest.approx(0.51)
    assert any(e.kind == "gap" for e in events)


def test_disconnect_fault_then_reconnect():
    drv = SimulatedAnalyzer(None, pace=False, disconnect_after_s=1.0, start_time=0.0)
    drv.open()
    drv.configure(Config(update_interval_s=0.01))
    drv.start()
    with pytest.raises(InstrumentDisconnected):
        for _ in range(10):
            drv.read_block()
    with pytest.raises(InstrumentDisconnected):
        drv.identify()
    drv.open()
    drv.start()
    assert len(drv.read_block()) > 0


def test_multi_element_totals_are_the_sum_of_elements():
    s, _, _ = stream(1.0, channels=3)
    g = good_mask(s)
    assert s["ch_w"].shape[1] == 3
    np.testing.assert_allclose(s["ch_w"][g].sum(axis=1), s["w"][g], rtol=1e-5)
    np.testing.assert_allclose(s["ch_a"][g].sum(axis=1), s["a"][g], rtol=1e-5)


def test_mean_power_does_not_depend_on_the_update_interval_but_noise_does():
    fast, _, _ = stream(5.0, interval=1e-4, v=300.0, a=5.0, profile="datacenter")
    slow, _, _ = stream(5.0, interval=1e-2, v=300.0, a=5.0, profile="datacenter")
    wf, ws = fast["w"][good_mask(fast)], slow["w"][good_mask(slow)]
    assert wf.mean() == pytest.approx(ws.mean(), rel=0.01)
    assert wf.std() > 1.5 * ws.std()


def test_paced_stream_arrives_in_real_time():
    drv = SimulatedAnalyzer(None, pace=True)
    drv.open()
    drv.configure(Config(update_interval_s=1e-3))
    drv.start()
    n = 0
    blocks = 0
    last_t = None
    while n < 200:
        b = drv.read_block(timeout=1.0)
        if b is not None:
            n += len(b)
            blocks += 1
            last_t = b.samples["t"][-1]
    # Samples come in small blocks as time passes, not all at once, and are never from the future.
    assert blocks > 1
    assert last_t <= time.time()
