"""`station measure` and `station export` on a machine with no display: a bundle with its PDF, no abort."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _headless_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["STATION_HOME"] = str(home)
    return env


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_export_without_a_display_writes_the_pdf_report_and_leaves_no_partial_folder(tmp_path):
    env = _headless_env(tmp_path / "home")
    session = tmp_path / "session"
    workload = f'{sys.executable} -c "import time; time.sleep(0.6)"'
    measured = subprocess.run(
        [sys.executable, "-m", "station", "measure", "--instrument", "sim,seed=3", "--rules", "lab",
         "--workload", workload, "--out", str(session), "--operator", "Ada", "--sut", "bench box",
         "--benchmark", "resnet50", "--scenario", "Offline", "--yes",
         "--set", "min_testing_s=0.3", "--set", "settle_s=0.1", "--set", "sample_interval_s=0.05"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert measured.returncode in (0, 1), measured.stdout + measured.stderr
    assert (session / "review.json").exists(), measured.stdout + measured.stderr
    out = tmp_path / "bundle"
    exported = subprocess.run([sys.executable, "-m", "station", "export", str(session), "--out", str(out), "--json"],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    result = json.loads(exported.stdout.strip().splitlines()[-1])
    assert Path(result["bundle"]) == out
    pdf = out / "report.pdf"
    assert pdf.exists() and pdf.read_bytes().startswith(b"%PDF")
    assert not [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]
