"""MLLOG power files and the energy of an MLPerf Training run, equal to mlcommons/logging's summarizer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from station.training import energy, mllog
from station.training.result_dir import TrainingResult, training_result_dirs
from tests.helpers.training_results import DATA, FIXTURES, extract, official_summarizer

# Energies (J) the official summarizers give on the fixtures (checked against them by
# test_energy_equals_the_official_summarizer when the logging snapshot is present).
KNOWN = {
    "lenovo-1node-retinanet.zip": {"2024-05-30": 12056593.281075466, "2024-09-19": 12056593.281075466},
    "dell-8nodes-measured-switch.zip": {"2024-05-30": 16143281.643615969, "2024-09-19": 16143281.643615969},
    "smc-8nodes-start-equals-stop.zip": {"2024-05-30": 7811672.825719817, "2024-09-19": None},  # divides by zero
    "smc-1node-numbered-from-1.zip": {"2024-05-30": 5555757.859237378, "2024-09-19": 5555757.859237378},
}


def _only_result(tmp_path, zip_name: str) -> TrainingResult:
    root = extract(next(p for p in FIXTURES if p.name == zip_name), tmp_path / "tree")
    (found,) = training_result_dirs(root)
    return TrainingResult(found)


def _run(result: TrainingResult, summarizer: energy.Summarizer) -> energy.RunEnergy:
    window = mllog.read_run_window(result.performance_log)
    return energy.run_energy([mllog.read_power_file(p) for p in result.node_files()],
                             [mllog.read_power_file(p) for p in result.switch_files()], window.time_to_train_ms,
                             summarizer)


def test_the_fixtures_are_all_here():
    assert sorted(p.name for p in FIXTURES) == sorted(KNOWN)
    assert (DATA / "PROVENANCE.md").is_file()


@pytest.mark.parametrize("zip_name", sorted(KNOWN))
@pytest.mark.parametrize("summarizer", energy.SUMMARIZERS, ids=lambda s: s.date)
def test_energy_of_published_results(tmp_path, zip_name, summarizer):
    result = _only_result(tmp_path, zip_name)
    expected = KNOWN[zip_name][summarizer.date]
    if expected is None:
        with pytest.raises(energy.SummarizerFailure, match="division by zero") as info:
            _run(result, summarizer)
        assert info.value.path.name == "node_0.txt"
    else:
        assert _run(result, summarizer).total_j == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("zip_name", sorted(KNOWN))
@pytest.mark.parametrize("summarizer", energy.SUMMARIZERS, ids=lambda s: s.date)
def test_energy_equals_the_official_summarizer(tmp_path, zip_name, summarizer):
    official = official_summarizer(summarizer.commit, tmp_path / "logging")
    result = _only_result(tmp_path, zip_name)
    ttt = mllog.read_run_window(result.performance_log).time_to_train_ms
    try:
        expected = official["_compute_total_power"](str(result.benchmark_dir), str(result.performance_log), ttt, "4.0.0")
    except ZeroDivisionError:
        with pytest.raises(energy.SummarizerFailure, match="division by zero"):
            _run(result, summarizer)
        return
    assert _run(result, summarizer).total_j == pytest.approx(expected, rel=1e-12)
    assert KNOWN[zip_name][summarizer.date] == pytest.approx(expected, rel=1e-12)


def test_a_measured_switch_without_an_estimate_counts_as_zero(tmp_path):
    result = _only_result(tmp_path, "dell-8nodes-measured-switch.zip")
    run = _run(result, energy.CURRENT)
    (switch,) = result.switch_files()
    assert len(mllog.read_power_file(switch)) > 300  # it was measured ...
    assert run.switches_j == {"sw_0.txt": 0.0}  # ... and counts for nothing
    assert len(run.nodes_j) == 8 and run.total_j == pytest.approx(sum(run.nodes_j.values()))


def test_the_fast_reader_and_the_line_by_line_reader_agree(tmp_path):
    """Reformatted lines (other key order, no spaces) go through JSON decoding and give the same log."""
    result = _only_result(tmp_path, "dell-8nodes-measured-switch.zip")
    path = result.node_files()[0]
    fast = mllog.read_power_file(path)
    lines = path.read_text(encoding="latin-1").splitlines()
    again = tmp_path / "node_0.txt"
    again.write_text("".join("0: :::MLLOG " + json.dumps(dict(reversed(json.loads(ln.split(mllog.TOKEN, 1)[1]).items())),
                                                         separators=(",", ":")) + "\n" for ln in lines))
    slow = mllog.read_power_file(again)
    assert mllog._read_fast(path, path.read_bytes()) is not None  # the published layout takes the fast path
    assert mllog._read_fast(again, again.read_bytes()) is None
    assert len(fast) == len(slow) == sum('"power_reading"' in ln for ln in lines)
    np.testing.assert_array_equal(fast.time_ms, slow.time_ms)
    np.testing.assert_array_equal(fast.watts, slow.watts)
    assert [(e.key, e.time_ms, e.line, e.readings_before) for e in fast.events] == \
           [(e.key, e.time_ms, e.line, e.readings_before) for e in slow.events]
    assert fast.conversion_eff == 0.96


def test_a_number_the_fast_path_cannot_read_goes_line_by_line(tmp_path):
    path = tmp_path / "node_0.txt"
    mllog.write_power_file(path, [1000.0, 2000.0], [100.0, 200.0], 0.0, 2000.0)
    path.write_text(path.read_text().replace('"value": 200.0', '"value": 2.0.0'))
    log = mllog.read_power_file(path)
    assert log.watts.tolist() == [100.0] and [line for line, _ in log.bad_lines] == [3]


def test_a_damaged_line_is_skipped_as_the_official_parser_skips_it(tmp_path):
    path = tmp_path / "node_0.txt"
    mllog.write_power_file(path, [1000.0, 2000.0, 3000.0], [100.0, 200.0, 300.0], 0.0, 3000.0)
    text = path.read_text().splitlines(keepends=True)
    text[2] = text[2][: len(text[2]) // 2] + "\n"  # the second reading cut in half
    path.write_text("".join(text))
    log = mllog.read_power_file(path)
    assert log.time_ms.tolist() == [1000.0, 3000.0]
    assert [line for line, _ in log.bad_lines] == [3]
    assert mllog.reading_lines(path, [0, 1]) == {0: 2, 1: 4}


def test_written_files_give_the_exact_energy_of_a_known_profile(tmp_path):
    """A node at 1 Hz drawing a known staircase over the run: the energy is exact, and the
    official summarizer (when its snapshot is here) reads the files the station writes the same way."""
    run_start, run_stop = 1_760_000_000_000.0, 1_760_000_600_000.0  # a 600 s run
    t = run_start + 1000.0 * np.arange(1, 601)
    node_w = np.where(t <= run_start + 300_000, 4000.0, 6000.0)
    power = tmp_path / "bench" / "power" / "result_0"
    power.mkdir(parents=True)
    mllog.write_power_file(power / "node_0.txt", t, node_w, run_start, run_stop, conversion_eff=0.95,
                           measurement_type="AC", host="node_0")
    mllog.write_switch_file(power / "sw_0.txt", run_start, interconnect_power_est=800.0, switch_id="sw_0")
    (power.parent.parent / "result_0.txt").write_text(
        f':::MLLOG {{"namespace": "", "time_ms": {run_start:.0f}, "event_type": "INTERVAL_START", "key": "run_start", '
        f'"value": null, "metadata": {{}}}}\n'
        f':::MLLOG {{"namespace": "", "time_ms": {run_stop:.0f}, "event_type": "INTERVAL_END", "key": "run_stop", '
        f'"value": null, "metadata": {{}}}}\n')
    result = TrainingResult(power)
    exact = 0.95 * (4000.0 * 300 + 6000.0 * 300) + 800.0 * 600
    for summarizer in energy.SUMMARIZERS:
        assert _run(result, summarizer).total_j == pytest.approx(exact, rel=1e-12)
    log = mllog.read_power_file(power / "node_0.txt")
    assert log.conversion_eff == 0.95 and len(log) == 600 and not log.bad_lines
    in_memory = mllog.PowerLog.of_node(t, node_w, run_start, run_stop, conversion_eff=0.95)
    assert [(e.key, e.time_ms, e.line, e.readings_before) for e in in_memory.events] == \
           [(e.key, e.time_ms, e.line, e.readings_before) for e in log.events]
    assert energy.node_energy_j(in_memory, run_stop - run_start) == energy.node_energy_j(log, run_stop - run_start)
    assert mllog.read_power_file(power / "sw_0.txt").interconnect_power_est == 800.0
    official = official_summarizer(energy.CURRENT.commit, tmp_path / "logging")
    assert official["_compute_total_power"](str(power.parent.parent), str(power.parent.parent / "result_0.txt"),
                                            run_stop - run_start, "4.0.0") == pytest.approx(exact, rel=1e-12)


def test_a_switch_file_without_an_estimate_is_refused(tmp_path):
    with pytest.raises(ValueError, match="0 J"):
        mllog.write_switch_file(tmp_path / "sw_0.txt", 0.0, interconnect_power_est=None)


def test_the_summarizer_in_force_when_each_round_was_published():
    assert energy.summarizer_for_round("v4.0") is energy.SUMMARIZER_2024_05
    assert energy.summarizer_for_round("v4.1") is energy.SUMMARIZER_2024_09
    assert energy.summarizer_for_round("v5.0") is energy.CURRENT
    assert energy.round_of_run(1715275138951) == "v4.0"  # SMC, 2024-05-09
    assert energy.round_of_run(1728509275412) == "v4.1"  # Dell, 2024-10-09
    assert energy.round_of_run(1745455971267) == "v5.0"  # Lenovo, 2025-04-24
    assert energy.round_of_run(1690000000000) is None  # 2023-07: no Training power round yet


def test_run_window_is_picked_as_the_summarizer_picks_it(tmp_path):
    log = tmp_path / "result_0.txt"
    log.write_text("garbage\n"
                   '0: :::MLLOG {"time_ms": 5, "key": "run_start", "value": null, "metadata": {}}\n'
                   ':::MLLOG {"time_ms": 9, "key": "run_start", "value": null, "metadata": {}}\n'
                   ':::MLLOG {"time_ms": 20, "key": "run_stop", "value": null, "metadata": {}}\n'
                   ':::MLLOG {"time_ms": 30, "key": "run_stop", "value": null, "metadata": {}}\n')
    w = mllog.read_run_window(log)
    assert (w.start_ms, w.stop_ms, w.start_line, w.stop_line, w.time_to_train_ms) == (9, 20, 3, 4, 11)
    log.write_text(':::MLLOG {"time_ms": 5, "key": "run_start", "value": null, "metadata": {}}\n')
    with pytest.raises(mllog.MllogError, match="run_stop not recorded"):
        mllog.read_run_window(log)
