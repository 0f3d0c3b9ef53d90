"""``station verify`` on the one published Tiny energy result measured with a Joulescope JS110
(tests/data/tiny/er_v1.0_hls4ml_pynqz2_js110, see PROVENANCE.md): read, its monitor named, its
printed median reported as printed only, and NOT VALID because its trace is not published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.tiny.published import ENERGYRUNNER, is_tiny_energy_dir, read_result
from station.tiny.verify import verify_tiny

JS110 = Path(__file__).resolve().parent / "data" / "tiny" / "er_v1.0_hls4ml_pynqz2_js110"

pytestmark = pytest.mark.timeout(60)


def test_the_js110_result_is_read_with_its_monitor_and_printed_windows():
    assert is_tiny_energy_dir(JS110)
    res = read_result(JS110)
    assert res.layout == ENERGYRUNNER and res.monitor == "js110"
    assert [w.duration_s for w in res.printed] == [22.94] * 5
    assert [w.uj_per_inference for w in res.printed] == [12227.355, 12252.428, 12266.036, 12275.966, 12290.203]
    assert res.printed_median_text == "12266.036"
    assert [r.inferences for r in res.dut_runs] == [3000] * 5
    assert "trace1-energy.bin" in res.raw_missing


def test_verify_reports_the_printed_median_and_refuses_it_without_the_trace():
    r = verify_tiny(JS110)
    assert r["kind"] == "tiny" and r["monitor"] == "js110" and not r["valid"]
    assert r["metric"] == {"value": 12266.036, "unit": "uJ/inf", "printed_only": True}
    status = {c["name"]: c["status"] for c in r["checks"]}
    assert status["raw data"] == "fail" and status["trial count"] == "pass"
    assert r["windows"] == []  # nothing is recomputed from figures that cannot be checked


def test_station_verify_on_the_js110_directory(capsys):
    from station.cli import main

    assert main(["verify", str(JS110), "--json"]) == 1
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["headline"] == "NOT VALID" and out["integrity"] is True
    assert out["monitor"] == "js110" and out["metric"]["value"] == 12266.036
    assert "raw data" in out["verdict"]
