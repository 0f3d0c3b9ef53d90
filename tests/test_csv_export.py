"""CSV export of a run or a span, streamed from the journal (Qt-free)."""

from __future__ import annotations

import csv
import io
import tracemalloc
from datetime import datetime

import numpy as np
import pytest

from station.core.csv_export import export_csv, flag_words, records_csv
from station.core.journal import InstrumentEntry, JournalReader, JournalWriter
from station.core.journal_region import span_stats
from station.core.samples import SAMPLE_DTYPE, Flag, good_mask
from tests.helpers.sample_blocks import make_block

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z
INTERVAL = 0.01


def _journal(path, n: int, block: int = 5000, flagged: slice | None = None) -> np.ndarray:
    info = {"identity": {"vendor": "Yokogawa", "model": "WT310E", "serial": "C2XA12345"}}
    writer = JournalWriter(path, [InstrumentEntry("inst0", "wt300e", SAMPLE_DTYPE, INTERVAL, info)])
    rng = np.random.default_rng(7)
    recs = make_block(T0, n, INTERVAL, 100.0 + rng.normal(0, 5, n))
    if flagged is not None:
        recs["flags"][flagged] |= int(Flag.OVERRANGE | Flag.AUTO_RANGE)
        recs["w"][flagged] = np.nan
    for i in range(0, n, block):
        writer.write("inst0", recs[i:i + block])
    writer.close({"samples": n})
    return recs


def _read(path) -> tuple[list[str], list[dict]]:
    text = path.read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    body = io.StringIO("\n".join(line for line in text.splitlines() if not line.startswith("#")))
    return comments, list(csv.DictReader(body))


@pytest.mark.timeout(60)
def test_whole_run_has_one_row_per_sample_with_units_instrument_and_flag_words(tmp_path):
    recs = _journal(tmp_path / "run", 3000, flagged=slice(100, 110))
    out = tmp_path / "run.csv"
    result = export_csv(tmp_path / "run", out)
    assert result.rows == 3000 and result.path == out
    comments, rows = _read(out)
    head = "\n".join(comments)
    assert "Yokogawa WT310E, serial C2XA12345" in head
    assert "w_W: active power, watts" in head and "UTC" in head and "0.01 s" in head
    assert len(rows) == 3000
    assert list(rows[0]) == ["t_utc", "t_epoch_s", "w_W", "v_V", "a_A", "pf", "flags"]
    assert rows[0]["t_utc"] == "2024-05-01T12:00:00.000000Z"
    epoch = np.array([float(r["t_epoch_s"]) for r in rows])
    assert np.allclose(epoch, recs["t"], atol=1e-6)
    iso = datetime.fromisoformat(rows[1234]["t_utc"].replace("Z", "+00:00")).timestamp()
    assert iso == pytest.approx(recs["t"][1234], abs=1e-6)
    w = np.array([float(r["w_W"]) if r["w_W"] else np.nan for r in rows])
    good = good_mask(recs)
    assert np.allclose(w[good], recs["w"][good], rtol=1e-9)
    assert all(r["w_W"] == "" for r in rows[100:110])  # no value: an empty field, not "nan"
    assert rows[105]["flags"] == "overrange|auto_range" and rows[99]["flags"] == ""
    assert float(rows[5]["v_V"]) == pytest.approx(230.0)
    assert not list(tmp_path.glob("*.partial-*"))


@pytest.mark.timeout(60)
def test_a_span_is_exactly_the_samples_inside_it_across_chunk_borders(tmp_path):
    recs = _journal(tmp_path / "run", 20_000)
    t0, t1 = T0 + 12.345, T0 + 151.0
    result = export_csv(tmp_path / "run", tmp_path / "span.csv", t0, t1, chunk=997)
    inside = recs[(recs["t"] >= t0) & (recs["t"] <= t1)]
    _, rows = _read(result.path)
    assert result.rows == len(rows) == len(inside)
    assert result.t_first == pytest.approx(inside["t"][0]) and result.t_last == pytest.approx(inside["t"][-1])
    assert np.allclose([float(r["w_W"]) for r in rows], inside["w"], rtol=1e-9)
    # Full-resolution statistics of the same span agree with a brute force over the samples.
    stats = span_stats(JournalReader(tmp_path / "run"), None, t0, t1, chunk=997)
    assert stats.samples == len(inside)
    # every sample good: the energy is their sum x interval (to the float rounding of the span's timestamps)
    assert stats.energy_j == pytest.approx(float(inside["w"].sum()) * INTERVAL, rel=1e-8)
    assert stats.max_w == pytest.approx(float(inside["w"].max()))


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_export_streams_in_bounded_memory(tmp_path):
    n = 200_000  # 9 MiB of records, about 14 MiB of CSV text
    _journal(tmp_path / "run", n, block=50_000)
    tracemalloc.start()
    try:
        result = export_csv(tmp_path / "run", tmp_path / "all.csv", chunk=8192)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.rows == n
    assert peak < 6 * 1024 * 1024, f"export held {peak / 2**20:.1f} MiB at once"


@pytest.mark.timeout(30)
def test_a_failed_export_leaves_no_file_and_names_the_problem(tmp_path):
    _journal(tmp_path / "run", 100)
    with pytest.raises(OSError):
        export_csv(tmp_path / "run", tmp_path / "missing-dir" / "x.csv")
    with pytest.raises(ValueError, match="no instrument 'inst9'"):
        export_csv(tmp_path / "run", tmp_path / "x.csv", inst_id="inst9")
    assert not list(tmp_path.rglob("*.csv*"))


def test_flag_words_and_small_selections_as_text():
    flags = np.array([0, int(Flag.INVALID), int(Flag.OVERRANGE | Flag.RANGE_CHANGE), 0], np.uint16)
    assert list(flag_words(flags)) == ["", "invalid", "overrange|range_change", ""]
    recs = make_block(T0, 3, INTERVAL, 5.0)
    text = records_csv(recs, "inst0 (sim)", INTERVAL, T0, T0 + 0.02)
    lines = text.splitlines()
    assert lines[1] == "# instrument: inst0 (sim)"
    assert lines[-4].startswith("t_utc,") and len(lines) - lines.index(lines[-4]) == 4
    assert lines[-1].startswith("2024-05-01T12:00:00.020000Z,1714564800.020000,5,")
