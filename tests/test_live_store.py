"""The live store: what the plots and the region readout show, checked against brute force."""

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.core.live_store import LiveStore
from station.core.samples import Flag, good_mask, sample_dtype
from tests.helpers.sample_blocks import make_block

HARMLESS = [0] * 8 + [int(Flag.MARK), int(Flag.GAP_BEFORE)]  # flags that keep a sample good
BAD = [int(Flag.OVERRANGE), int(Flag.INVALID)]


def recording(seed: int, n_blocks: int, max_block: int, dtype=None, bad_rate: float = 0.1):
    """Blocks of random power with gaps, bad samples and unknown voltages; strictly rising time."""
    rng = np.random.default_rng(seed)
    blocks, t = [], 1.7e9
    for _ in range(n_blocks):
        n = int(rng.integers(1, max_block + 1))
        steps = np.where(rng.random(n) < 0.05, rng.uniform(0.05, 1.0, n), 0.01)
        times = t + np.cumsum(steps)
        t = float(times[-1])
        kw = {} if dtype is None else {"dtype": dtype}
        b = make_block(0.0, n, 0.01, rng.normal(200.0, 50.0, n), **kw)
        b["t"] = times
        bad = rng.random(n) < bad_rate
        b["flags"] = np.where(bad, rng.choice(BAD, n), rng.choice(HARMLESS, n)).astype(np.uint16)
        b["w"][bad & (rng.random(n) < 0.5)] = 1e9  # garbage an overranged meter may report
        b["v"][rng.random(n) < 0.05] = np.nan  # voltage unknown for some good samples
        if dtype is not None and "ch_w" in dtype.names:
            b["ch_w"] = b["w"][:, None] * (np.arange(1, dtype["ch_w"].shape[0] + 1) / 10.0)
        blocks.append(b)
    return blocks


def brute(records, lo_t, hi_t, field="w"):
    sel = (records["t"] >= lo_t) & (records["t"] <= hi_t)
    vals = records[field].astype(np.float64)
    ok = sel & good_mask(records)
    if vals.ndim == 1:
        ok = ok & np.isfinite(vals)
    return sel, ok, vals


def check_summary_against(records, s, t0, t1, n_bins, field="w"):
    """Every entry equals brute force over the samples it says it covers; the entries are
    ordered, disjoint, at most n_bins, and together cover every sample in [t0, t1]."""
    assert len(s) <= n_bins
    assert np.all(s.t_start[1:] > s.t_end[:-1])
    covered = np.zeros(len(records), bool)
    for k in range(len(s)):
        sel, ok, vals = brute(records, s.t_start[k], s.t_end[k], field)
        covered |= sel
        assert s.samples[k] == sel.sum()
        assert s.good[k] == ok.sum()
        assert s.flags[k] == np.bitwise_or.reduce(records["flags"][sel])
        if ok.any():
            assert s.min[k] == vals[ok].min()
            assert s.max[k] == vals[ok].max()
            assert s.mean[k] == pytest.approx(vals[ok].mean(), rel=1e-9)
        else:
            assert np.isnan(s.min[k]) and np.isnan(s.max[k]) and np.isnan(s.mean[k])
    in_window = (records["t"] >= t0) & (records["t"] <= t1)
    assert covered[in_window].all()
    if in_window.any() and t1 >= records["t"][-1]:
        assert s.t_end[-1] == records["t"][-1]  # the live edge is never behind the data


def whole_run_energy(good_w: np.ndarray, duration_s: float, interval: float = 0.01) -> float:
    """By hand: good samples x interval, and the time they do not cover at their mean power."""
    if not len(good_w):
        return 0.0
    measured = float(good_w.sum()) * interval
    uncovered = max(0.0, duration_s - len(good_w) * interval)
    return measured + float(good_w.mean()) * uncovered


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_blocks=st.integers(1, 40),
    max_block=st.sampled_from([1, 7, 30, 90]),
    window=st.integers(8, 200),
    max_bins=st.sampled_from([4, 6, 8, 16]),
    factor=st.sampled_from([2, 4]),
    levels=st.integers(2, 4),
    queries=st.lists(st.tuples(st.floats(-0.05, 1.05), st.floats(-0.05, 1.05), st.integers(1, 40)),
                     min_size=1, max_size=8),
)
def test_summary_and_stats_match_brute_force(seed, n_blocks, max_block, window, max_bins, factor, levels,
                                             queries):
    store = LiveStore(window_samples=window, max_bins_per_level=max_bins, factor=factor, levels=levels,
                      interval_s=0.01)
    blocks = recording(seed, n_blocks, max_block)
    for b in blocks:
        store.append(b)
    records = np.concatenate(blocks)
    t_first, t_last = records["t"][0], records["t"][-1]
    assert store.span() == (t_first, t_last)
    assert store.total_samples == len(records)

    whole = store.stats()
    good = good_mask(records)
    assert whole.exact and whole.samples == len(records) and whole.good_samples == good.sum()
    assert whole.energy_j == pytest.approx(whole_run_energy(records["w"][good], whole.duration_s), rel=1e-9)

    for u, v, n_bins in queries:
        t0, t1 = sorted((t_first + u * (t_last - t_first), t_first + v * (t_last - t_first)))
        for field in ("w", "v"):
            check_summary_against(records, store.summary(t0, t1, n_bins, field), t0, t1, n_bins, field)

        r = store.stats(t0, t1)
        sel, ok, w = brute(records, t0, t1)
        raw_holds_edges = len(records) <= window or t0 >= records["t"][-window]
        if raw_holds_edges:
            assert r.exact
        if r.exact:
            assert r.samples == sel.sum() and r.good_samples == ok.sum()
            assert r.energy_j == pytest.approx(whole_run_energy(w[ok], r.duration_s), rel=1e-9, abs=1e-9)
            if ok.any():
                assert (r.min_w, r.max_w) == (w[ok].min(), w[ok].max())
                assert r.mean_w == pytest.approx(w[ok].mean(), rel=1e-9)
                assert r.t_start == records["t"][sel][0] and r.t_end == records["t"][sel][-1]
        else:  # edges read from a coarse level: off by at most one coarse bin per edge
            top = store._levels[-1]
            coarse_bin = top.group * factor ** (levels - 1)
            assert abs(r.samples - sel.sum()) <= 2 * coarse_bin


def test_zoomed_in_window_gives_the_raw_samples_themselves():
    store = LiveStore(window_samples=10_000, max_bins_per_level=64)
    blocks = recording(3, 50, 100, bad_rate=0.0)
    for b in blocks:
        store.append(b)
    records = np.concatenate(blocks)
    part = records[-300:-100]
    s = store.summary(part["t"][0], part["t"][-1], 500)
    assert s.is_raw and len(s) == 200
    np.testing.assert_array_equal(s.t, part["t"])
    np.testing.assert_array_equal(s.min, part["w"])
    np.testing.assert_array_equal(s.mean, part["w"])


def test_bad_samples_stay_out_of_the_band_but_are_flagged():
    store = LiveStore(window_samples=64, max_bins_per_level=16, interval_s=1.0)
    b = make_block(0.0, 1000, 1.0, 100.0)
    b["w"][250] = 1e9  # what an overranged meter may report
    b["flags"][250] = int(Flag.OVERRANGE)
    b["w"][600:900] = np.nan
    b["flags"][600:900] = int(Flag.INVALID)
    store.append(b)
    s = store.summary(0.0, 999.0, 10)
    assert len(s) == 10
    assert np.all((s.max == 100.0) | np.isnan(s.max))  # the garbage reading never shows
    assert np.all((s.mean == 100.0) | np.isnan(s.mean))
    holds_overrange = (s.t_start <= 250) & (s.t_end >= 250)
    assert holds_overrange.sum() == 1
    assert np.all((s.flags & Flag.OVERRANGE != 0) == holds_overrange)
    assert s.good[holds_overrange][0] == s.samples[holds_overrange][0] - 1
    # pixels of nothing but invalid samples: no value, but marked
    only_invalid = (s.t_start >= 600) & (s.t_end < 900)
    assert only_invalid.any()
    assert np.all(s.good[only_invalid] == 0) and np.all(np.isnan(s.mean[only_invalid]))
    assert np.all(s.flags[only_invalid] & Flag.INVALID)
    assert (store.overrange_samples, store.invalid_samples, store.bad_samples) == (1, 300, 301)
    whole = store.stats()
    assert whole.max_w == 100.0 and whole.mean_w == 100.0 and whole.bad_samples == 301
    # the garbage reading adds nothing: its second (and the invalid ones) are bridged at 100 W
    assert whole.energy_j == pytest.approx(100.0 * 1000)


@pytest.mark.parametrize("interval", [0.01, None])
def test_energy_of_a_constant_power_run_is_power_times_duration(interval):
    store = LiveStore(window_samples=4096, max_bins_per_level=32, interval_s=interval)
    t, n_total = 0.0, 0
    for n in [1, 999, 4097, 3, 20000, 77] * 5:
        store.append(make_block(t, n, 0.01, 250.0))
        t += n * 0.01
        n_total += n
    s = store.stats()
    assert s.duration_s == pytest.approx(n_total * 0.01)
    assert s.energy_j == pytest.approx(250.0 * s.duration_s, rel=1e-12)
    # a region in the middle, long forgotten by the raw ring and the fine levels
    r = store.stats(100.0, 1000.0 - 1e-9)
    assert r.mean_w == 250.0
    assert r.energy_j == pytest.approx(250.0 * 900.0, rel=0.01)


def test_memory_is_bounded_and_the_overview_still_covers_the_whole_run():
    store = LiveStore(window_samples=2048, max_bins_per_level=64, levels=4, interval_s=1e-3)
    t = 0.0
    block = make_block(0.0, 1000, 1e-3, 10.0)

    def feed(blocks):
        nonlocal t
        for _ in range(blocks):
            block["t"] = t + np.arange(1000) * 1e-3
            store.append(block)
            t += 1.0

    feed(100)  # already 50x the raw window: every level and work buffer is in use
    early = store.memory_bytes()
    feed(2000)  # 2 M samples: the coarsest level has compacted many times
    assert store._levels[-1].group > 64 * store.factor
    assert store.memory_bytes() <= early * 1.05
    s = store.summary(n_bins=100)
    assert 0 < len(s) <= 100
    assert s.t_start[0] == 0.0 and s.t_end[-1] == pytest.approx(t - 1e-3)
    assert s.samples.sum() == store.total_samples == 2_100_000
    assert store.stats().energy_j == pytest.approx(10.0 * 2100.0)


def test_plot_gets_full_resolution_at_any_zoom_on_recent_data():
    store = LiveStore(window_samples=1 << 14, max_bins_per_level=1 << 12)
    block = make_block(0.0, 4096, 1e-3, 1.0)
    for k in range(256):  # 1 M samples
        block["t"] = (k * 4096 + np.arange(4096)) * 1e-3
        block["w"] = np.sin(block["t"])
        store.append(block)
    t_last = store.span()[1]
    for width in (1.0, 30.0, 300.0, 1000.0):  # 1 000 to 1 000 000 samples per window
        s = store.summary(t_last - width, t_last, 800)
        assert len(s) == 800, width


def test_summary_never_returns_more_entries_than_pixels():
    store = LiveStore(window_samples=5000, max_bins_per_level=256)
    for b in recording(11, 200, 500):
        store.append(b)
    lo, hi = store.span()
    for n_bins in (1, 2, 3, 17, 640, 5000, 100_000):
        assert len(store.summary(lo, hi, n_bins)) <= n_bins
        assert len(store.summary(hi - 3.0, hi + 1.0, n_bins)) <= n_bins


def test_writer_and_reader_threads_see_consistent_snapshots():
    store = LiveStore(window_samples=20_000, max_bins_per_level=128, levels=4, interval_s=1e-3)
    errors, done = [], threading.Event()

    def writer():
        try:
            for k in range(400):
                store.append(make_block(k * 1.0, 1000, 1e-3, 7.0))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    seen = []

    def reader():
        try:
            while not done.is_set() or len(seen) < 5:
                s = store.summary(n_bins=300)
                r = store.stats()
                if len(s):
                    assert np.all(s.max[s.good > 0] == 7.0) and np.all(s.mean[s.good > 0] == 7.0)
                    assert len(s) <= 300
                # totals of one snapshot agree with each other
                assert r.energy_j == pytest.approx(7.0 * r.samples * 1e-3)
                last = store.last()
                latest = store.latest(50)
                assert last is None or len(latest) > 0
                seen.append(r.samples)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    assert seen == sorted(seen)  # the reader never sees the run shrink
    assert store.total_samples == 400_000
    assert store.stats().energy_j == pytest.approx(7.0 * 400.0)


def test_multi_channel_records_are_summarized_per_channel():
    dtype = sample_dtype(3)
    store = LiveStore(dtype=dtype, window_samples=300, max_bins_per_level=16, levels=3)
    blocks = recording(5, 30, 60, dtype=dtype)
    for b in blocks:
        store.append(b)
    records = np.concatenate(blocks)
    lo, hi = store.span()
    s = store.summary(lo, hi, 12, field="ch_w")
    assert s.min.shape == (len(s), 3)
    for c in range(3):
        one = store.summary(lo, hi, 12, field="ch_w", channel=c)
        np.testing.assert_array_equal(one.max, s.max[:, c])
        for k in range(len(one)):
            sel = (records["t"] >= one.t_start[k]) & (records["t"] <= one.t_end[k]) & good_mask(records)
            if sel.any():
                assert one.max[k] == records["ch_w"][sel, c].astype(float).max()
                assert one.mean[k] == pytest.approx(records["ch_w"][sel, c].astype(float).mean(), rel=1e-6)
    with pytest.raises(ValueError):
        store.summary(lo, hi, 12, field="ch_w", channel=3)


def test_latest_last_span_and_clear():
    store = LiveStore(window_samples=100, max_bins_per_level=8)
    assert store.last() is None and store.span() is None and len(store.summary(0, 1, 10)) == 0
    blocks = recording(2, 10, 40)
    for b in blocks:
        store.append(b)
    records = np.concatenate(blocks)
    assert store.latest(7).tobytes() == records[-7:].tobytes()
    assert len(store.latest(10_000)) == 100  # the ring holds the last 100
    assert store.last().tobytes() == records[-1].tobytes()
    revision = store.revision
    store.clear()
    assert store.total_samples == 0 and store.span() is None and store.last() is None
    assert store.revision != revision
    assert len(store.summary(0, 2e9, 10)) == 0 and store.stats().samples == 0
    store.append(blocks[0])  # a new run starts afresh
    assert store.total_samples == len(blocks[0])
    assert store.summary(n_bins=1000).samples.sum() == len(blocks[0])


def test_a_recorded_run_browses_exactly_like_the_live_one():
    blocks = recording(9, 60, 200)
    live = LiveStore(window_samples=500, max_bins_per_level=32, levels=3, interval_s=0.01)
    for b in blocks:
        live.append(b)
    records = np.concatenate(blocks)
    recorded = LiveStore.from_records(records, chunk=333, window_samples=500, max_bins_per_level=32,
                                      levels=3, interval_s=0.01)
    lo, hi = live.span()
    assert recorded.span() == (lo, hi)
    for t0, t1 in [(lo, hi), (lo + 3, lo + 9), (hi - 2, hi)]:
        a, b = live.summary(t0, t1, 50), recorded.summary(t0, t1, 50)
        check_summary_against(records, b, t0, t1, 50)
        assert a.samples.sum() == b.samples.sum()
    assert recorded.stats().energy_j == pytest.approx(live.stats().energy_j)


def test_blocks_of_another_record_type_are_refused():
    store = LiveStore()
    with pytest.raises(ValueError, match="record type"):
        store.append(np.zeros(3, sample_dtype(2)))


def test_a_journal_written_before_the_frequency_field_still_opens_and_browses(tmp_path):
    """Journals keep their own record type: one without ``hz`` reads, browses and shows no frequency."""
    from station.core.journal import InstrumentEntry, JournalReader, JournalWriter
    from station.core.samples import SAMPLE_DTYPE, has_frequency
    from station.ui.readings import compute_readings

    assert has_frequency(SAMPLE_DTYPE)
    old = np.dtype([f for f in SAMPLE_DTYPE.descr if f[0] != "hz"])  # the record type of format 1
    b = np.zeros(500, old)
    b["t"] = 1.7e9 + np.arange(500) * 0.01
    b["w"], b["v"], b["a"], b["pf"], b["uncert"] = 42.0, 230.0, 0.19, 0.96, 0.002
    w = JournalWriter(tmp_path / "old", [InstrumentEntry("inst0", "sim", old, 0.01, {})])
    w.write("inst0", b)
    w.close({"samples": 500})
    r = JournalReader(tmp_path / "old")
    data = r.samples()
    assert data.dtype == old and not has_frequency(data.dtype) and len(data) == 500
    store = LiveStore.from_records(data, interval_s=0.01)
    assert store.stats().mean_w == pytest.approx(42.0) and store.stats().energy_j == pytest.approx(42.0 * 5.0)
    readings = compute_readings(store.latest(50))
    assert readings.w == pytest.approx(42.0) and not readings.has_freq and readings.freq is None
    # A new record carries the frequency; the readings average it.
    new = make_block(1.7e9, 50, 0.01, 42.0)
    new["hz"] = 49.98
    r2 = compute_readings(new)
    assert r2.has_freq and r2.freq == pytest.approx(49.98, abs=1e-4)


def test_volts_amps_and_power_factor_have_pyramids_like_power():
    """The plot's V / A / PF traces read the same pyramid as power: pixel-sized at any length."""
    n = 400_000
    t = 1.7e9 + np.arange(n) * 1e-3
    b = make_block(1.7e9, n, 1e-3, 300 + 50 * np.sin(np.arange(n) / 3000.0))
    b["v"] = 230 + np.sin(np.arange(n) / 700.0)
    b["a"] = b["w"] / b["v"]
    b["pf"] = 0.9 + 0.05 * np.cos(np.arange(n) / 900.0)
    store = LiveStore(interval_s=1e-3, window_samples=4096, max_bins_per_level=256)
    for i in range(0, n, 9000):
        store.append(b[i:i + 9000])
    for field in ("v", "a", "pf"):
        s = store.summary(t[0], t[-1], 800, field=field)
        assert 0 < len(s) <= 800 and s.level > 0
        x = b[field].astype(np.float64)
        # Each entry's min / max / mean are those of the samples it covers.
        for k in (0, len(s) // 2, len(s) - 1):
            sel = (t >= s.t_start[k]) & (t <= s.t_end[k])
            assert s.min[k] == pytest.approx(x[sel].min(), rel=1e-6)
            assert s.max[k] == pytest.approx(x[sel].max(), rel=1e-6)
            assert s.mean[k] == pytest.approx(x[sel].mean(), rel=1e-6)
