"""``station measure`` headless: a valid guided run, a too-small fixed range, and bad usage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from station import cli
from station.core.journal import JournalReader
from station.core.samples import good_mask
from tests.helpers.fake_ntp import FakeNtpServer
from tests.helpers.guided_runs import loadgen_times, make_workload

SHORT = ["--set", "min_testing_s=0.3", "--set", "settle_s=0.15", "--set", "sample_interval_s=0.05"]


def measure(tmp_path, *extra, out_name="session", workload=None):
    out = tmp_path / out_name
    argv = ["measure", "--instrument", "sim,profile=training,seed=5", "--rules", "mlperf-inference",
            "--workload", workload or make_workload(tmp_path, scenario="SingleStream", queries=321),
            "--out", str(out), "--operator", "Grace", "--sut", "edge box", "--benchmark", "resnet50",
            "--scenario", "SingleStream", *SHORT, *extra]
    return cli.main(argv), out


@pytest.mark.slow
def test_measure_valid_single_stream_prints_every_step_and_the_metric(tmp_path, capsys):
    with FakeNtpServer(-0.02) as ntp:
        code, out = measure(tmp_path, "--yes", "--ntp", ntp.address, "--json")
    text = capsys.readouterr().out
    assert code == 0, text
    for heading in ("== setup", "== ranging", "== range selection", "== testing run 1", "== review", "== done"):
        assert heading in text
    assert "what to do:" in text and "why:" in text
    assert "confirmed (--yes)" in text and "verdict: VALID" in text
    review = json.loads(text.strip().splitlines()[-1])
    # By hand: mJ per query = average power in the window x its length x 1000 / query count.
    begin, end, values = loadgen_times(out / "testing_1" / "mlperf_log_detail.txt")
    data = np.asarray(JournalReader(out / "testing_1").samples())
    sel = (data["t"] > begin) & (data["t"] < end) & good_mask(data)
    expected = float(np.mean(data["w"][sel])) * (end - begin) * 1000 / 321
    assert values["result_query_count"] == 321
    assert review["metric"]["value"] == pytest.approx(expected, rel=1e-6)
    assert "mJ" in review["metric"]["unit"]
    assert f"metric: {review['metric']['value']:.6g}" in text
    assert json.loads((out / "session.json").read_text())["operator"] == "Grace"


@pytest.mark.slow
def test_measure_with_a_too_small_range_exits_1_with_the_reason(tmp_path, capsys):
    code, out = measure(tmp_path, "--range-override", "300,5", "--override-reason", "wrong on purpose")
    text = capsys.readouterr().out
    assert code == 1, text
    assert "override: sim-1 300 V / 5 A (reason: wrong on purpose)" in text
    assert "overrange FAIL" in text  # the live check, at once
    assert "[fail] testing_1 sim-1: overrange:" in text and "range in force was too small" in text
    assert "verdict: NOT VALID" in text
    review = json.loads((out / "review.json").read_text())
    assert review["valid"] is False


@pytest.mark.parametrize("extra, message", [
    (["--set", "min_testing_s=soon"], "'soon' is not a valid float"),
    (["--rules", "mlperf-hpc"], "no rule set 'mlperf-hpc'"),
    (["--range-override", "300"], "must look like V,A"),
    (["--range-override", "psu9=300,5"], "no instrument 'psu9'"),
    (["--instrument", "sim,profile"], "'profile' must look like key=value"),
    (["--ntp", "host:port"], "port 'port' is not a number"),
    (["--testing-runs", "0"], "at least 1"),
])
def test_measure_bad_usage_exits_2(tmp_path, capsys, extra, message):
    code, out = measure(tmp_path, *extra, workload="true")
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_measure_refuses_a_used_directory_and_needs_a_confirmation(tmp_path, capsys):
    used = tmp_path / "session"
    used.mkdir()
    (used / "keep.txt").write_text("x")
    code, _ = measure(tmp_path, workload="true")
    assert code == 2 and "not empty" in capsys.readouterr().err
    assert (used / "keep.txt").read_text() == "x"
    code, out = measure(tmp_path, out_name="s2")  # stdin is not a terminal and no --yes
    captured = capsys.readouterr()
    assert code == 2 and "pass --yes" in captured.err
    assert json.loads((out / "session.json").read_text())["state"] == "abandoned"


def test_measure_a_fleet_from_prometheus_names_the_node_gap_and_integrates_exactly(tmp_path, capsys):
    """A rangeless fleet source goes through ranging and testing; one node stops mid-testing."""
    import math
    import threading
    import time

    from instruments.fakes.prometheus import FleetPrometheus

    # 200 W +- 20 W with a 2 s period: ranging and testing (several seconds each) both average
    # over whole swings, so they agree whatever phase each starts at (a 30 s period made the
    # testing-vs-ranging check fail or pass by timing alone)
    period = 2.0

    def swing(t):
        return 200.0 + 20.0 * math.sin(2 * math.pi * t / period)

    def swing_energy(a, b):
        return 200.0 * (b - a) - 20.0 * period / (2 * math.pi) * (math.cos(2 * math.pi * b / period)
                                                                 - math.cos(2 * math.pi * a / period))

    fleet = FleetPrometheus({"n1": 100.0, "n2": swing, "n3": 300.0}, scrape_s=0.25)
    out = tmp_path / "fleet"
    done = threading.Event()

    def stop_n3_when_testing_starts():
        deadline = time.monotonic() + 60
        while not (out / "testing_1").exists() and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.05)
        fleet.stop_node("n3", at=time.time() + 1.0)  # in the workload window (after the 1 s settle)

    watcher = threading.Thread(target=stop_n3_when_testing_starts, daemon=True)
    watcher.start()
    try:
        code = cli.main(["measure", "--instrument", "prometheus", "--resource", fleet.url,
                         "-o", "query=node_power_watts", "-o", "lookback_s=5",
                         "--workload", make_workload(tmp_path, duration=5.0), "--out", str(out),
                         "--operator", "Grace", "--sut", "three nodes", "--rules", "mlperf-inference",
                         "--set", "min_testing_s=3", "--set", "settle_s=1", "--yes", "--json"])
    finally:
        done.set()
        watcher.join(5)
        fleet.close()
    text = capsys.readouterr().out
    review = json.loads(text.strip().splitlines()[-1])
    series = fleet.series_name("n3")
    checks = {c["name"]: c for c in review["checks"]}
    # No range is proposed or set: the review says so, as a warning.
    assert "ranges: not settable on prometheus-1" in text
    assert checks["range selection prometheus-1"]["status"] == "warn"
    assert checks["testing_1 prometheus-1: fixed ranges"]["status"] == "warn"
    # A source without per-sample uncertainty is "not reported", neither a pass nor a failure.
    assert checks["testing_1 prometheus-1: uncertainty"]["status"] == "warn"
    assert "not reported" in checks["testing_1 prometheus-1: uncertainty"]["evidence"]
    # The node that stopped is named, in the review and in the per-run summary.
    gap_check = checks["testing_1 prometheus-1: channel gaps"]
    assert gap_check["status"] == "warn" and series in gap_check["evidence"]
    gaps = review["metrics"]["testing_1"]["instruments"]["prometheus-1"]["channel_gaps"]
    assert [g["series"] for g in gaps] == [series]
    assert f"prometheus-1 gap: {series} stopped updating" in text
    assert [c["name"] for c in review["checks"] if c["status"] == "fail"] == []
    assert code == 0, text
    # Energy over the LoadGen window is the exact integral of the profiles (n3 bridged at its 300 W).
    begin, end, _ = loadgen_times(out / "testing_1" / "mlperf_log_detail.txt")
    exact = 100.0 * (end - begin) + swing_energy(begin, end) + 300.0 * (end - begin)
    assert review["metrics"]["testing_1"]["energy_j"] == pytest.approx(exact, rel=0.01)
