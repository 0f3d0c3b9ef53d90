"""bench/run_all.py's report: every figure with its same-run baseline, ratio, target and verdict,
and the notes under the mark survive a rewrite."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture()
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    figures = importlib.import_module("_figures")
    run_all = importlib.import_module("run_all")
    yield figures, run_all
    sys.modules.pop("run_all", None)


def test_a_figure_is_judged_on_its_value_or_on_its_ratio(bench_modules):
    fig, _ = bench_modules
    f = fig.figure(6.1, 1500.0, 10.0, "lower", unit="ms")
    assert f["met"] is True and f["ratio"] == pytest.approx(6.1 / 1500, rel=1e-4)
    assert fig.target_text(f) == "≤ 10 ms"
    r = fig.figure(250_000.0, 100_000.0, 3.0, "higher", on="ratio", unit="lines/s")
    assert r["met"] is False and r["ratio"] == 2.5 and fig.target_text(r) == "≥ 3x baseline"
    assert fig.figure(None, 1.0, 1.0, "higher")["met"] is False  # no value measured: not met
    assert fig.figure(5.0, None, None, "lower")["met"] is None  # no target: neither
    assert fig.all_met({"a": f, "b": fig.figure(5.0, None, None, "lower")})
    assert not fig.all_met({"a": f, "b": r})
    with pytest.raises(ValueError):
        fig.figure(1.0, 1.0, 1.0, "bigger")


def test_the_report_lists_every_figure_and_keeps_the_notes(bench_modules, tmp_path):
    fig, run_all = bench_modules
    results = [
        ("verify", {"figures": {
            "spl": fig.figure(450_000.0, 105_000.0, 3.0, "higher", on="ratio", unit="lines/s",
                              what="spl.txt read", baseline_is="csv module"),
            "energy": fig.figure(1.1e8, 1.2e6, 50.0, "higher", on="ratio", unit="samples/s", what="energy")}}, "", 3.0),
        ("soak", {"figures": {"rss": fig.figure(180.0, 157.0, 1.10, "lower", on="ratio", unit="MB", what="RSS")}},
         "", 600.0),
        ("plot", None, "exit 1: no display", 1.0),
    ]
    table = run_all.render(results, quick=False)
    lines = table.splitlines()
    assert any(line.startswith("Machine: ") and "cores" in line for line in lines)
    rows = [line for line in lines if line.startswith("| verify") or line.startswith("| soak")
            or line.startswith("| plot")]
    assert len(rows) == 4
    assert "| spl.txt read | 450,000 lines/s | 105,000 lines/s (csv module) | 4.29x | ≥ 3x baseline | yes |" in rows[0]
    assert "110 M samples/s" in rows[1]
    assert rows[2].endswith("| **no** |")  # 180/157 = 1.146 > 1.10
    assert "did not run: exit 1: no display" in rows[3]

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Old table\n\n| x |\n\n<!-- notes -->\n\n## Soak\nHand-written findings.\n")
    run_all.write_report(doc, table)
    text = doc.read_text()
    assert text.startswith("# Benchmarks") and "# Old table" not in text
    assert text.endswith("<!-- notes -->\n\n## Soak\nHand-written findings.\n")
    run_all.write_report(doc, table)  # again: the notes are kept once, not doubled
    assert doc.read_text().count("Hand-written findings.") == 1

    legacy = tmp_path / "legacy.md"
    legacy.write_text("# Benchmarks\nProse written before the mark existed.\n")
    run_all.write_report(legacy, table)  # nothing is lost: the old text goes below the mark
    assert "Prose written before the mark existed." in legacy.read_text().split("<!-- notes -->")[1]
