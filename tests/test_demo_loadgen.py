"""The LoadGen stand-in (station.demo.loadgen) and the README's `station measure` example that uses it."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.cli import build_parser
from station.mlperf.loadgen import read_detail, read_summary
from station.mlperf.metric import mlperf_metric
from station.procedure.windows import find_loadgen_detail, loadgen_window

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(120)


def stand_in(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "station.demo.loadgen", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=cwd or ROOT)


def test_it_runs_its_seconds_and_the_station_reads_its_power_window_and_metric(tmp_path):
    started = time.time()
    done = stand_in("1.2", "--scenario", "Offline", "--qps", "50", "--lead-in", "0", "--lead-out", "0",
                    "--dir", str(tmp_path))
    took = time.time() - started
    assert done.returncode == 0, done.stderr
    assert took >= 1.2
    detail = read_detail(tmp_path / "mlperf_log_detail.txt")
    window = (detail.power_end - detail.power_begin).total_seconds()
    assert window == pytest.approx(1.2, abs=0.05)
    assert started <= detail.power_begin.timestamp() and detail.power_end.timestamp() <= started + took
    assert (detail.scenario, detail.mode, detail.query_count) == ("Offline", "PerformanceOnly", 60)
    assert detail.value("result_validity") == "VALID"
    assert "no inference" in detail.value("sut_name")  # never mistaken for a benchmark's logs
    # the procedure's own finder and window reader take it
    found = find_loadgen_detail(tmp_path, started)
    assert found == tmp_path / "mlperf_log_detail.txt"
    assert loadgen_window(found).source == "loadgen"
    summary = read_summary(tmp_path / "mlperf_log_summary.txt")
    assert summary["Scenario"] == "Offline" and summary["Result is"] == "VALID"
    metric = mlperf_metric("Offline", 40.0, detail.power_begin, detail.power_end, summary)
    assert metric["efficiency"]["value"] == pytest.approx(60 / window / 40.0, rel=0.01)


@pytest.mark.slow
def test_per_query_scenarios_give_the_query_count_the_energy_metric_needs(tmp_path):
    done = stand_in("0.3", "--scenario", "SingleStream", "--queries", "321", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    detail = read_detail(tmp_path / "mlperf_log_detail.txt")
    assert detail.query_count == 321 and detail.scenario == "SingleStream"
    metric = mlperf_metric("SingleStream", 2.0, detail.power_begin, detail.power_end,
                           {"result_query_count": detail.query_count})
    window = (detail.power_end - detail.power_begin).total_seconds()
    assert metric["unit"] == "mJ/query" and metric["value"] == pytest.approx(2.0 * window * 1000 / 321)
    assert "90.0th percentile latency (ns)" in (tmp_path / "mlperf_log_summary.txt").read_text()


@pytest.mark.slow
def test_without_dir_it_writes_where_station_loadgen_dir_says(tmp_path):
    target = tmp_path / "given" / "by the station"
    done = stand_in("0.1", env={"STATION_LOADGEN_DIR": str(target)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (target / "mlperf_log_detail.txt").is_file() and (target / "mlperf_log_summary.txt").is_file()
    assert str(target) in done.stdout


@pytest.mark.parametrize("args, says", [
    (["0"], "SECONDS must be a positive number"),
    (["-1"], "SECONDS must be a positive number"),
    (["2", "--scenario", "Batch"], "invalid choice"),
    (["2", "--qps", "0"], "--qps must be positive"),
    (["2", "--lead-in", "-1"], "--lead-in must be 0 to 3600 seconds"),
])
def test_bad_arguments_exit_2_with_the_reason_and_write_nothing(tmp_path, args, says):
    done = stand_in(*args, "--dir", str(tmp_path / "out"))
    assert done.returncode == 2 and says in done.stderr
    assert not (tmp_path / "out").exists()


# -- the README's example, as written ------------------------------------------------------------------
def readme_measure_commands() -> list[str]:
    """The `station measure` commands of the README's bash blocks, continuation lines joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            if command.startswith("station measure") and "..." not in command:
                out.append(" ".join(command.split()))
    return out


def test_the_readme_measure_examples_use_the_stand_in_and_parse():
    commands = readme_measure_commands()
    assert len(commands) >= 2
    for command in commands:
        assert "python -m station.demo.loadgen" in command
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert args.command == "measure" and args.yes
        assert shlex.split(args.workload)[:3] == ["python", "-m", "station.demo.loadgen"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_readme_rehearsal_runs_verbatim_and_is_valid(tmp_path):
    (rehearsal,) = [c for c in readme_measure_commands() if "--set" in c]
    # a fresh clone with the station installed in the active environment: its `station` and `python`
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT),
           "STATION_HOME": str(tmp_path / "home")}
    done = subprocess.run(["bash", "-c", rehearsal], capture_output=True, text=True, timeout=240, cwd=tmp_path,
                          env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "verdict: VALID" in done.stdout
    session = tmp_path / "sessions" / "demo"
    review = json.loads((session / "review.json").read_text())
    ranging = review["metrics"]["ranging"]["average_power_w"]
    testing = review["metrics"]["testing_1"]["average_power_w"]
    assert abs(testing / ranging - 1) < 0.05
    assert "loadgen stand-in: done" in (session / "testing_1" / "workload-output.txt").read_text()


def test_it_works_before_power_begin_and_after_power_end_like_loadgen(tmp_path):
    started = time.time()
    done = stand_in("0.5", "--lead-in", "0.4", "--lead-out", "0.6", "--dir", str(tmp_path))
    ended = time.time()
    assert done.returncode == 0, done.stderr
    detail = read_detail(tmp_path / "mlperf_log_detail.txt")
    assert detail.power_begin.timestamp() - started >= 0.4
    assert ended - detail.power_end.timestamp() >= 0.6
