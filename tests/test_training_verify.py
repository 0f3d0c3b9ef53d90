"""``station verify`` on published MLPerf Training power results: the official energy and what the
official tools do not check, each problem a check with file:line evidence."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from station.cli import main
from station.training import energy, mllog
from station.training.verify import verify_training
from station.verify import ManyResults, verify_path
from tests.helpers.training_results import FIXTURES, extract, official_summarizer

SMC = next(p for p in FIXTURES if p.name == "smc-8nodes-start-equals-stop.zip")
DELL = next(p for p in FIXTURES if p.name == "dell-8nodes-measured-switch.zip")
SMC_ONE = next(p for p in FIXTURES if p.name == "smc-1node-numbered-from-1.zip")
LENOVO = next(p for p in FIXTURES if p.name == "lenovo-1node-retinanet.zip")

RUN_START, RUN_STOP = 1_760_000_000_000.0, 1_760_000_300_000.0  # a 300 s run, 2025-10-09


def _checks(result: dict) -> dict[str, dict]:
    return {c["name"]: c for c in result["checks"]}


def _made_result(tmp_path, nodes: int = 2, names=None, switch_est: float | None = 500.0,
                 declared_nodes: int | None = None):
    """A result as a submitter's tree holds it: 1 Hz readings over the whole run, one estimated switch."""
    bench = tmp_path / "Org" / "results" / "sys" / "bert"
    power = bench / "power" / "result_0"
    power.mkdir(parents=True)
    t = RUN_START - 1000.0 + 1000.0 * np.arange(1, 303)  # the last reading at the window's stop
    for i, name in enumerate(names or [f"node_{k}.txt" for k in range(nodes)]):
        mllog.write_power_file(power / name, t, np.full(t.size, 1000.0 + 100 * i), RUN_START - 1000, RUN_STOP + 1000,
                               conversion_eff=0.9, measurement_type="AC", host=f"node_{i}")
    if switch_est is not None:
        mllog.write_switch_file(power / "sw_0.txt", RUN_START, interconnect_power_est=switch_est)
    (bench / "result_0.txt").write_text(
        f':::MLLOG {{"namespace": "", "time_ms": {RUN_START:.0f}, "event_type": "INTERVAL_START", "key": "run_start", '
        '"value": null, "metadata": {}}\n'
        f':::MLLOG {{"namespace": "", "time_ms": {RUN_STOP:.0f}, "event_type": "INTERVAL_END", "key": "run_stop", '
        '"value": null, "metadata": {}}\n')
    systems = tmp_path / "Org" / "systems"
    systems.mkdir()
    (systems / "sys.json").write_text(json.dumps({"number_of_nodes": str(declared_nodes or nodes)}))
    return power


def test_smc_v40_today_s_summarizer_divides_by_zero_and_the_round_s_value_is_reported(tmp_path):
    result = verify_path(SMC)
    checks = _checks(result)
    assert result["kind"] == "training" and result["round"]["name"] == "v4.0"
    assert result["metric"]["unit"] == "J"
    assert result["metric"]["value"] == pytest.approx(7811672.825719817, rel=1e-12)
    assert "a9f4839" in result["metric"]["summarizer"]
    summ = checks["energy (result summarizer)"]
    assert summ["status"] == "warn"
    assert "fails on node_0.txt: division by zero" in summ["evidence"] and "v4.0 was published" in summ["evidence"]
    assert checks["measurement window covers the run"]["status"] == "fail"
    assert "node_0.txt:112" in checks["measurement window covers the run"]["evidence"]
    assert "start and stop share one timestamp" in checks["measurement window covers the run"]["evidence"]
    assert checks["sampling at least 1 Hz per node"]["status"] == "fail"
    assert "(0.45 Hz)" in checks["sampling at least 1 Hz per node"]["evidence"]
    assert checks["identical node files"]["evidence"].endswith("node_3.txt = node_4.txt")
    assert checks["switches"]["status"] == "pass" and "16100 W" in checks["switches"]["evidence"]
    # The official tools accept it (it was published); the station's checks do not: never a bare VALID.
    assert result["headline"].startswith("ACCEPTED OFFICIALLY") and result["valid"] is False


def test_smc_v40_node_numbered_from_one_next_to_a_plot(tmp_path):
    result = verify_path(SMC_ONE)
    checks = _checks(result)
    assert checks["power file names (package checker)"]["status"] == "pass"  # the plot counts as node 1 of 2
    assert checks["power file names"]["status"] == "fail" and "nodes_1_to_1.png" in checks["power file names"]["evidence"]
    assert result["metric"]["value"] == pytest.approx(5555757.859237378, rel=1e-12)
    assert checks["energy (result summarizer)"]["status"] == "pass"
    assert "longest gap 11.0 s before the sample at node_1.txt:345" in checks["sampling at least 1 Hz per node"]["evidence"]


def test_dell_v41_measured_switch_without_an_estimate_is_zero_joules(tmp_path):
    result = verify_path(DELL)
    checks = _checks(result)
    assert result["round"]["name"] == "v4.1"
    assert result["metric"]["value"] == pytest.approx(16143281.643615969, rel=1e-12)
    assert result["energy"][energy.CURRENT.name]["switches_j"] == {"sw_0.txt": 0.0}
    sw = checks["switches"]
    assert sw["status"] == "fail" and "counts it as 0 J" in sw["evidence"]
    assert "none of which falls inside the run" in sw["evidence"]  # measured five hours before the run
    dup = checks["duplicate timestamps"]
    assert dup["status"] == "warn" and "node_0.txt:4 (time_ms 1728509261000)" in dup["evidence"]
    assert checks["sampling at least 1 Hz per node"]["status"] == "fail"
    assert "stops 1.339 s before run_stop (node_1.txt:290)" in checks["measurement window covers the run"]["evidence"]
    assert checks["node count"]["status"] == "pass"
    assert result["valid"] is False and result["official"]["accepted"] is True


def test_lenovo_v50_single_node_is_valid_with_a_sampling_warning(tmp_path):
    result = verify_path(LENOVO)
    checks = _checks(result)
    assert result["headline"] == "VALID" and result["valid"] is True
    assert result["metric"] == {"value": pytest.approx(12056593.281075466, rel=1e-12), "unit": "J",
                                "summarizer": energy.CURRENT.name}
    sampling = checks["sampling at least 1 Hz per node"]
    assert sampling["status"] == "warn" and "71 gaps" in sampling["evidence"] and "node_0.txt:19" in sampling["evidence"]


@pytest.mark.parametrize("zip_path", FIXTURES, ids=lambda p: p.name)
def test_metric_equals_the_official_summarizer_of_the_round(tmp_path, zip_path):
    root = extract(zip_path, tmp_path / "tree")
    result = verify_path(root)
    (power,) = list(root.glob("*/results/*/*/power/result_*"))
    perf = power.parent.parent / f"{power.name}.txt"
    ttt = mllog.read_run_window(perf).time_to_train_ms
    used = energy.CURRENT if result["metric"]["summarizer"] == energy.CURRENT.name else energy.SUMMARIZER_2024_05
    official = official_summarizer(used.commit, tmp_path / "logging")
    assert result["metric"]["value"] == pytest.approx(
        official["_compute_total_power"](str(power.parent.parent), str(perf), ttt, "4.0.0"), rel=1e-12)


def test_a_clean_result_passes_every_check(tmp_path):
    result = verify_training(_made_result(tmp_path, nodes=2))
    assert {c["name"]: c["status"] for c in result["checks"]} == dict.fromkeys(_checks(result), "pass")
    assert result["headline"] == "VALID"
    assert result["metric"]["value"] == pytest.approx(0.9 * (1000 + 1100) * 300 + 500 * 300, rel=1e-12)


def test_node_files_numbered_from_one_are_rejected_as_the_package_checker_rejects_them(tmp_path):
    result = verify_training(_made_result(tmp_path, names=["node_1.txt", "node_2.txt"]))
    names = _checks(result)["power file names (package checker)"]
    assert names["status"] == "fail" and "node_2.txt: 2 is outside 0..1" in names["evidence"]
    assert "node files numbered 1, 2, expected 0..1" in _checks(result)["power file names"]["evidence"]
    assert result["official"]["accepted"] is False and result["headline"].startswith("NOT VALID")


def test_fewer_node_files_than_the_system_description_fails(tmp_path):
    result = verify_training(_made_result(tmp_path, nodes=2, declared_nodes=4))
    count = _checks(result)["node count"]
    assert count["status"] == "fail" and count["evidence"] == "2 node files but systems/sys.json number_of_nodes 4"


def test_a_multi_node_run_without_a_switch_file_warns(tmp_path):
    result = verify_training(_made_result(tmp_path, nodes=2, switch_est=None))
    assert _checks(result)["switches"]["status"] == "warn"


def test_two_values_at_one_timestamp_fail_and_a_late_start_is_found(tmp_path):
    power = _made_result(tmp_path, nodes=1, switch_est=None)
    t = RUN_START + 1000.0 * np.arange(0, 301)
    t[150] = t[149]  # two readings, two values, one time
    mllog.write_power_file(power / "node_0.txt", t, 1000.0 + np.arange(301.0), RUN_START + 5000, RUN_STOP,
                           conversion_eff=0.9, measurement_type="AC")
    checks = _checks(verify_training(power))
    dup = checks["duplicate timestamps"]
    assert dup["status"] == "fail" and "1 with a different value" in dup["evidence"] and "node_0.txt:153" in dup["evidence"]
    win = checks["measurement window covers the run"]
    assert win["status"] == "fail" and "starts 5.000 s after run_start (node_0.txt:1)" in win["evidence"]


def test_a_long_gap_fails_with_the_line_after_it(tmp_path):
    power = _made_result(tmp_path, nodes=1, switch_est=None)
    t = RUN_START + 1000.0 * np.arange(0, 301)
    keep = (t < RUN_START + 100_000) | (t >= RUN_START + 110_000)  # ten seconds without a reading
    mllog.write_power_file(power / "node_0.txt", t[keep], np.full(int(keep.sum()), 900.0), RUN_START, RUN_STOP)
    sampling = _checks(verify_training(power))["sampling at least 1 Hz per node"]
    assert sampling["status"] == "fail"
    assert "longest gap 11.0 s before the sample at node_0.txt:102" in sampling["evidence"]


def test_a_power_folder_without_its_performance_log_is_never_scored(tmp_path):
    power = _made_result(tmp_path)
    (power.parent.parent / "result_0.txt").unlink()
    result = verify_training(power)
    assert result["headline"].startswith("NOT VALID") and result["metric"] is None
    assert "no result_0.txt two levels above result_0/" in _checks(result)["performance log"]["evidence"]


def test_a_performance_log_without_run_stop_is_an_integrity_failure(tmp_path):
    power = _made_result(tmp_path)
    perf = power.parent.parent / "result_0.txt"
    perf.write_text(perf.read_text().splitlines(keepends=True)[0])
    result = verify_training(power)
    assert result["headline"].startswith("INTEGRITY FAILED") and result["metric"] is None
    assert "result_0.txt: run_stop not recorded" in _checks(result)["files"]["evidence"]


def test_plots_named_like_node_files_pass_the_package_checker_but_not_the_station(tmp_path):
    """As in the v4.0 SMC results: node_1..node_8 and nodes_1_to_8.png (the package checker reads 8)."""
    power = _made_result(tmp_path, names=[f"node_{k}.txt" for k in range(1, 9)])
    (power / "nodes_1_to_8.png").write_bytes(b"\x89PNG")
    checks = _checks(verify_training(power))
    assert checks["power file names (package checker)"]["status"] == "pass"
    station = checks["power file names"]
    assert station["status"] == "fail" and "node files numbered 1, 2, 3, 4, 5, 6 ..., expected 0..7" in station["evidence"]
    assert "nodes_1_to_8.png" in station["evidence"]


def test_station_verify_walks_a_tree_of_training_results(tmp_path, capsys):
    tree = tmp_path / "tree"
    for z in FIXTURES:
        extract(z, tree)
    with pytest.raises(ManyResults):
        verify_path(tree)
    assert main(["verify", str(tree), "--json"]) == 1  # three of the four have station problems
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["summary"] == {"results": 4, "by_round": {"v4.0": 2, "v4.1": 1, "v5.0": 1},
                                    "by_verdict": {"ACCEPTED OFFICIALLY; station finds 3 problems": 3, "VALID": 1}}
    by_path = {item["path"]: item for item in lines[:-1]}
    assert {item["kind"] for item in by_path.values()} == {"training"}
    assert by_path["Lenovo/results/SR780aV3-8xB200_SXM_180GB/retinanet/power/result_0"]["metric"]["unit"] == "J"


def test_station_verify_of_one_power_folder_prints_the_energy(tmp_path, capsys):
    tree = extract(LENOVO, tmp_path / "tree")
    power = tree / "Lenovo/results/SR780aV3-8xB200_SXM_180GB/retinanet/power/result_0"
    assert main(["verify", str(power)]) == 0
    out = capsys.readouterr().out
    assert "training result, VALID" in out and "metric: 1.20566e+07 J" in out
    shutil.rmtree(power.parent.parent.parent.parent.parent / "systems")
    assert main(["verify", str(power), "--json"]) == 0  # no system description: a warning, still valid
    result = json.loads(capsys.readouterr().out)
    assert _checks(result)["node count"]["status"] == "warn"


def test_an_estimate_that_is_no_number_fails_the_energy_check_without_a_crash(tmp_path):
    power = _made_result(tmp_path)
    sw = power / "sw_0.txt"
    sw.write_text(sw.read_text().replace('"value": 500.0', '"value": "n/a"'))
    result = verify_training(power)
    energy_check = _checks(result)["energy (result summarizer)"]
    assert energy_check["status"] == "fail" and "sw_0.txt: line 1: interconnect_power_est 'n/a' is not a number" \
        in energy_check["evidence"]
    assert result["metric"] is None and result["official"]["accepted"] is False
