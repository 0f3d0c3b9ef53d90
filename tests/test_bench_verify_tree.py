"""The tree part of bench/verify.py on a few real published results: it measures a ratio, and the
station and the official power checker of each round agree on which directories pass.

Needs the fetched results repositories and power-dev / inference snapshots (STATION_MIRRORS,
default /work/.mirror); skips without them, as the bench itself does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIRRORS = Path(os.environ.get("STATION_MIRRORS", "/work/.mirror"))
NEEDED = ("mlcommons+power-dev", "mlcommons+inference")


def _have_mirrors() -> bool:
    return (all((MIRRORS / n / "repo" / "HEAD").is_file() for n in NEEDED)
            and any(MIRRORS.glob("*+inference_results_v*/repo/HEAD")))


def _bench(*args: str, mirrors: Path = MIRRORS) -> tuple[subprocess.CompletedProcess, dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "verify.py"), "--tree-only", "--json",
                           "--mirrors", str(mirrors), *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=400)
    last = [x for x in done.stdout.splitlines() if x.startswith("{")]
    assert last, done.stdout + done.stderr
    return done, json.loads(last[-1])


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.skipif(not _have_mirrors(), reason=f"no fetched results repositories under {MIRRORS}")
def test_the_tree_bench_measures_a_ratio_and_agrees_with_the_official_checker():
    done, out = _bench("--tree-results", "8", "--runs", "1")
    fig = out["figures"]["tree_results_per_s"]
    assert fig["ratio"] is not None and fig["ratio"] > 0 and fig["value"] > 0 and fig["baseline"] > 0
    rows = out["tree"]
    assert len(rows) == 8
    assert len({r["round"] for r in rows}) >= 6  # spread over the rounds, not 8 of one
    assert out["disagree"] == [], done.stdout
    assert all(r["official_passes"] == r["station_official_passes"] for r in rows)
    # the checker of each round is not a rubber stamp: a v1.0 result passes its round's checker
    assert any(r["round"] == "v1.0" and r["official_passes"] for r in rows)


@pytest.mark.timeout(60)
def test_without_the_mirrors_the_tree_bench_says_so_and_exits_0(tmp_path):
    done, out = _bench(mirrors=tmp_path)
    assert done.returncode == 0
    assert out["figures"] == {} and "no fetched results repositories" in out["skipped"]
    assert "tree: skipped" in done.stdout
