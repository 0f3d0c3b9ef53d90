"""``verify_tiny`` on published MLPerf Tiny energy results (tests/data/tiny, see PROVENANCE.md) and on
copies of them broken one way at a time: each rule of a Tiny energy result fails on its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from station.tiny.published import is_tiny_energy_dir
from station.tiny.verify import verify_tiny

DATA = Path(__file__).resolve().parent / "data" / "tiny"
ER_VALID = DATA / "er_v1.3_syntiant_kws"
MLC_VALID = DATA / "mlc_v1.3_st_l4r5zip_kws"

pytestmark = pytest.mark.timeout(60)


def checks(result: dict) -> dict[str, dict]:
    return {c["name"]: c for c in result["checks"]}


def failed(result: dict) -> set[str]:
    return {c["name"] for c in result["checks"] if c["status"] == "fail"}


def copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def test_published_energyrunner_result_is_reproduced_from_its_trace():
    r = verify_tiny(ER_VALID)
    assert r["valid"] and r["kind"] == "tiny" and r["layout"] == "energyrunner" and r["monitor"] == "lpm01a"
    # Printed median 43.802 uJ/inf; the trace between the rounded edges gives it to about 0.01 %.
    assert r["metric"]["unit"] == "uJ/inf"
    assert r["metric"]["value"] == pytest.approx(43.802, rel=2e-4)
    assert [w["inferences"] for w in r["windows"]] == [8000] * 5
    assert r["windows"][0]["duration_s"] == pytest.approx(12.040)
    assert r["windows"][0]["duration_uncertainty_s"] == pytest.approx(0.002)
    assert "interface board m-lap-us" in checks(r)["windows vs DUT timing"]["evidence"]


def test_published_mlcommons_runner_result_matches_its_printed_digits():
    r = verify_tiny(MLC_VALID)
    assert r["valid"] and r["layout"] == "mlcommons-runner"
    assert f"{r['metric']['value']:.4f}" == "1430.6681"  # results.txt: Median energy cost is 1430.6681 uJ/inf.
    assert checks(r)["event counters"]["status"] == "pass"
    # No DUT timing in this layout: said, not silently passed.
    assert checks(r)["windows vs DUT timing"]["status"] == "warn"


def test_published_result_with_a_lost_stop_edge_is_not_valid():
    r = verify_tiny(DATA / "er_v1.1_st_l4r5zi_ic")
    assert not r["valid"]
    assert {"trial count", "timestamp events", "window length"} <= failed(r)
    assert "10 edges" in checks(r)["timestamp events"]["evidence"]
    assert "9.987 s" in checks(r)["window length"]["evidence"]
    assert len(r["windows"]) == 4


def test_published_result_with_short_windows_is_not_valid():
    r = verify_tiny(DATA / "er_v0.5_reference_ad")
    assert not r["valid"] and "window length" in failed(r)
    assert "5 window(s) under 10 s" in checks(r)["window length"]["evidence"]


def test_streaming_wakeword_without_raw_data_reports_power_in_mw_and_is_not_valid():
    r = verify_tiny(DATA / "mlc_v1.3_syntiant_sww")
    assert r["metric"] == {"value": 0.5067, "unit": "mW", "printed_only": True}
    assert not r["valid"] and "raw data" in failed(r)


def test_detection_marks_tiny_energy_directories_only():
    assert all(is_tiny_energy_dir(d) for d in DATA.iterdir() if d.is_dir())
    assert not is_tiny_energy_dir(DATA)


def _rewrite_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_non_consecutive_event_counters_fail(tmp_path):
    d = copy(MLC_VALID, tmp_path)

    def skip(trials):
        trials[3]["power"]["timestamps"] = [["08", c[1]] if i == 0 else ["09", c[1]]
                                            for i, c in enumerate(trials[3]["power"]["timestamps"])]
    _rewrite_json(d / "results.json", skip)
    r = verify_tiny(d)
    assert "event counters" in failed(r)
    assert "6 -> 8" in checks(r)["event counters"]["evidence"]


def test_extra_event_in_a_later_trial_fails(tmp_path):
    d = copy(MLC_VALID, tmp_path)
    _rewrite_json(d / "results.json", lambda t: t[2]["power"]["timestamps"].insert(0, ["04", 100]))
    r = verify_tiny(d)
    assert "timestamp events" in failed(r) and "trial 2: 3 events" in checks(r)["timestamp events"]["evidence"]


def test_dropped_samples_inside_a_window_fail(tmp_path):
    d = copy(MLC_VALID, tmp_path)

    def drop(trials):
        s = trials[1]["power"]["samples"]
        for i in range(5000, 5100):  # 100 of ~54 000 window samples: 0.18 %, over the 0.1 % allowed
            s[i] = None
    _rewrite_json(d / "results.json", drop)
    r = verify_tiny(d)
    assert "dropped samples" in failed(r)
    assert "trial 1: 100" in checks(r)["dropped samples"]["evidence"]


def test_trace_paired_with_the_wrong_edges_fails_against_the_dut_timing(tmp_path):
    d = copy(ER_VALID, tmp_path)
    # Drop the start-up marker: the EnergyRunner's pairing now takes the gaps between loops as windows.
    _rewrite_json(d / "trace1-timestamps.json", lambda edges: edges.pop(0))
    r = verify_tiny(d)
    assert {"windows vs DUT timing", "timestamp events", "printed figures"} <= failed(r)
    assert "interface board" in checks(r)["windows vs DUT timing"]["evidence"]


def test_a_printed_median_the_raw_data_does_not_give_fails(tmp_path):
    d = copy(MLC_VALID, tmp_path)
    txt = (d / "results.txt").read_text().replace("1430.6681 uJ/inf", "1400.0000 uJ/inf")
    (d / "results.txt").write_text(txt)
    r = verify_tiny(d)
    assert "printed figures" in failed(r) and "median 1400.0 µJ/inf printed" in checks(r)["printed figures"]["evidence"]


def test_streaming_wakeword_with_raw_data_is_scored_as_average_power(tmp_path):
    d = tmp_path / "sww"
    d.mkdir()
    samples = np.full(1_210_000, 5e-7)  # 0.5 mW for 1210 s at 1 kHz
    trial = {"file": "long_wav.wav", "infer": {"iterations": 1, "warmups": 0},
             "power": {"samples": samples.tolist(), "timestamps": [["00", 5000], ["01", 1_205_000]]}, "mode": "e"}
    (d / "results.json").write_text(json.dumps([trial]))
    (d / "log.txt").write_text("Device model retrieved: sww01\n")
    (d / "results.txt").write_text("Power Edition Output\nEnergy data for trial 0\n  Elapsed time  : 1200.0\n"
                                   "  Inferences    : 1\n  Power         : 0.5000 mW.\n"
                                   "  Total Energy  : 600000.000 uJ\n  Energy/Inf    : 600000.000 uJ/inf\n"
                                   "Median energy cost is 600000.0000 uJ/inf.\n"
                                   "Accuracy: 46 True positives, 4 False negatives, 4 False positives\n")
    r = verify_tiny(d)
    assert r["mode"] == "streaming-wakeword"
    assert r["metric"]["unit"] == "mW" and r["metric"]["value"] == pytest.approx(0.5)
    assert checks(r)["trial count"]["status"] == "pass"


@pytest.mark.parametrize("name, code", [("er_v1.3_syntiant_kws", 0), ("mlc_v1.3_st_l4r5zip_kws", 0),
                                        ("er_v1.1_st_l4r5zi_ic", 1)])
def test_station_verify_judges_a_published_tiny_result_with_the_three_answers(name, code, capsys):
    import json

    from station.cli import main

    assert main(["verify", str(DATA / name), "--json"]) == code
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["kind"] == "tiny" and out["metric"]["unit"] == "uJ/inf"
    assert out["integrity"] is True and out["valid"] is (code == 0)
    assert out["headline"] == ("VALID" if code == 0 else "NOT VALID")
