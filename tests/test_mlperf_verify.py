"""Published MLPerf power directories: parsing, every check passing and failing, bad input,
zips, and the two real published results (when ../shared/reference is present)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from station.cli import main
from station.mlperf.errors import FormatError
from station.mlperf.loadgen import read_detail
from station.mlperf.metric import mlperf_metric, window_average
from station.mlperf.spl import read_spl
from station.verify import Unusable, verify_path

T0 = 1_752_362_000.0  # 2025-07-12 UTC
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mlperf-samples"
SESSION = "2025-07-13_00-21-09"


def ptd_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]


def spl_text(t0: float, watts, mark: str) -> str:
    return "".join(f"Time,{ptd_time(t0 + i)},Watts,{w:.6f},Volts,230.000000,Amps,{w / 230:.6f},PF,0.900000,"
                   f"Mark,{mark}\n" for i, w in enumerate(watts)) + "\n"


def mllog(key, value) -> str:
    return ":::MLLOG " + json.dumps({"key": key, "value": value, "time_ms": 0.0, "namespace": "mlperf::logging",
                                     "event_type": "POINT_IN_TIME", "metadata": {}}) + "\n"


def make_published(root: Path, testing_w: float = 100.0, ptd_extra: str = "", scenario: str = "Offline",
                   invalid_at: int | None = None) -> Path:
    perf = root / "closed" / "Org" / "results" / "sys" / "resnet50" / scenario / "performance"
    for d in ("power", "ranging", "run_1"):
        (perf / d).mkdir(parents=True, exist_ok=True)
    phases = {}
    log = ["Analyzer 1\n", f"{ptd_time(T0 - 10)}: Uncertainty checking for YokogawaWT310E is activated\n"]
    for mode, d, t0, w in (("ranging", "ranging", T0, 101.0), ("testing", "run_1", T0 + 100, testing_w)):
        watts = np.full(60, w)
        if invalid_at is not None and mode == "testing":
            watts[invalid_at] = -1.0
        (perf / d / "spl.txt").write_text(spl_text(t0, watts, f"{SESSION}_{mode}"))
        (perf / d / "mlperf_log_detail.txt").write_text(
            mllog("effective_scenario", scenario) + mllog("power_begin", ptd_time(t0 + 5.5))
            + mllog("power_end", ptd_time(t0 + 55.5)) + mllog("result_query_count", 5000))
        (perf / d / "mlperf_log_summary.txt").write_text(f"Scenario : {scenario}\nSamples per second : 100.0\n"
                                                         "Result is : VALID\n")
        phases[mode] = [[t0 - 1, 0], [t0, 0], [t0 + 60, 0], [t0 + 61, 0]]
        log.append(f"{ptd_time(t0)}: Go with mark '{SESSION}_{mode}'\n")
        log.append(f"{ptd_time(t0 + 60)}: Completed test\n")
    (perf / "power" / "ptd_logs.txt").write_text("".join(log) + ptd_extra)
    (perf / "power" / "client.log").write_text("client log\n")
    (perf / "power" / "server.log").write_text("server log\n")
    results = {p: hashlib.sha1((perf / p).read_bytes()).hexdigest() for p in (
        "power/client.log", "power/ptd_logs.txt", "power/server.log", "ranging/mlperf_log_detail.txt",
        "ranging/mlperf_log_summary.txt", "ranging/spl.txt", "run_1/mlperf_log_detail.txt",
        "run_1/mlperf_log_summary.txt", "run_1/spl.txt")}
    messages = [{"cmd": "mlcommons/power client v3", "reply": "mlcommons/power server v3"}]
    common = {"version": "1.0", "timezone": 0, "modules": {}, "sources": {}, "messages": messages,
              "uuid": {"client": "c-1", "server": "s-1"}, "session_name": SESSION, "phases": phases}
    (perf / "power" / "client.json").write_text(json.dumps({**common, "results": {
        k: v for k, v in results.items() if k.startswith(("power/client", "ranging/mlperf", "run_1/mlperf"))}}))
    (perf / "power" / "server.json").write_text(json.dumps({**common, "results": {
        k: v for k, v in results.items() if not k.startswith(("power/client", "ranging/mlperf", "run_1/mlperf"))},
        "ptd_config": [{"device_type": 49}]}))
    return perf


def statuses(result) -> dict[str, str]:
    return {c["name"]: c["status"] for c in result["checks"]}


def test_a_clean_result_passes_every_check_with_the_metric(tmp_path):
    perf = make_published(tmp_path)
    r = verify_path(tmp_path)
    assert r["valid"] and r["kind"] == "mlperf", [c for c in r["checks"] if c["status"] != "pass"]
    # 50 samples strictly inside (t0+5.5, t0+55.5): t0+6 .. t0+55
    assert r["metric"]["value"] == pytest.approx(100.0) and r["metric"]["unit"] == "W"
    assert r["metric"]["samples"] == 50
    assert verify_path(perf)["valid"]


@pytest.mark.parametrize("damage, check", [
    (lambda p: (p / "power/server.json").write_text((p / "power/server.json").read_text().replace('"s-1"', '"s-2"', 1)),
     "uuid server"),
    (lambda p: (p / "run_1/spl.txt").write_text((p / "run_1/spl.txt").read_text().replace("100.000000", "100.5", 1)),
     "result checksums"),
    (lambda p: (p / "power/server.json").write_text((p / "power/server.json").read_text().replace('"device_type": 49',
                                                                                                  '"device_type": 99')),
     "PTD device type"),
])
def test_each_official_check_fails_on_its_defect(tmp_path, damage, check):
    perf = make_published(tmp_path)
    damage(perf)
    r = verify_path(tmp_path)
    assert not r["valid"] and statuses(r)[check] == "fail"


def test_testing_more_than_five_percent_below_ranging_fails(tmp_path):
    make_published(tmp_path, testing_w=95.0)  # ranging 101 W: -5.94 %
    r = verify_path(tmp_path)
    assert statuses(r)["testing vs ranging power"] == "fail"
    assert "-5.94 %" in next(c["evidence"] for c in r["checks"] if c["name"] == "testing vs ranging power")


def test_errors_in_testing_fail_even_after_a_warning_the_official_checker_stops_at(tmp_path):
    extra = (f"{ptd_time(T0 + 3)}: ERROR: Bad watts reading 99100000000000005192630646116011999232.000000 from X\n"
             f"{ptd_time(T0 + 130)}: ERROR: Current exceeds peak value allowed for range 0.50A and CF 3.\n")
    make_published(tmp_path, ptd_extra=extra)
    r = verify_path(tmp_path)
    s = statuses(r)
    assert s["PTD log: errors outside ranging, uncertainty in testing"] == "fail"
    assert s["PTD log: lines the official checker never reads"] == "fail"
    assert s["PTD log: warnings"] == "warn"


def test_uncertainty_above_one_percent_in_a_short_testing_run_fails(tmp_path):
    # the official rule adds 800 s instead of 0.8 s and never fires on a run this short
    extra = f"{ptd_time(T0 + 130)}: WARNING: Uncertainty 1.57%, which is above 1.00% limit for the last sample!\n"
    make_published(tmp_path, ptd_extra=extra)
    assert statuses(verify_path(tmp_path))["PTD log: errors outside ranging, uncertainty in testing"] == "fail"


def test_invalid_samples_in_the_testing_window_are_counted(tmp_path):
    make_published(tmp_path, invalid_at=20)
    r = verify_path(tmp_path)
    ev = next(c for c in r["checks"] if c["name"].startswith("testing samples"))
    assert ev["status"] == "fail" and "1 invalid" in ev["evidence"]
    assert r["metric"]["samples"] == 49  # the -1 sample stays out of the average, as MLCommons does


def test_single_stream_metric_is_millijoules_per_query():
    begin, end = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 600, UTC)
    m = mlperf_metric("SingleStream", 34.0, begin, end, {"result_query_count": "91744"})
    assert m["unit"] == "mJ/query" and m["value"] == pytest.approx(34.0 * 600 * 1000 / 91744)
    m8 = mlperf_metric("SingleStream", 34.0, begin, end, {"result_query_count": 91744}, directory_scenario="MultiStream")
    assert m8["value"] == pytest.approx(8 * m["value"])
    avg, n = window_average([1, 2, 3, 4], [10, -1, 30, 40], 1, 4)
    assert (avg, n) == (30.0, 1)  # strictly inside, Watts > 0


@pytest.mark.parametrize("content, message", [
    (b"", "no sample lines"),
    (b"Time,07-12-2025 23:21:34.443,Watts,abc,Volts,1,Amps,1,PF,1,Mark,m\n", "Watts 'abc' is not a number"),
    (b"Time,13-12-2025 23:21:34.443,Watts,1,Volts,1,Amps,1,PF,1,Mark,m\n", "not a valid"),
    (b"Time,07-12-2025 23:21:34.443,Watts,1\n", "does not read"),
    (b"\xff\xfeT\x00", "UTF-16"),
    (b"Time,07-12-2025 23:21:34.443,Watts,\xe9,Volts,1,Amps,1,PF,1,Mark,m\n", "not UTF-8"),
])
def test_bad_spl_files_are_clear_errors_naming_file_and_line(tmp_path, content, message):
    p = tmp_path / "spl.txt"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=message) as exc:
        read_spl(p)
    assert str(exc.value).startswith(str(p))


def test_crlf_and_bom_spl_files_read_the_same(tmp_path):
    text = spl_text(T0, [1.0, 2.0, 3.0], "m")
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(text)
    b.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert np.array_equal(read_spl(a).watts, read_spl(b).watts) and np.allclose(read_spl(b).t, T0 + np.arange(3))


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("hello\n", "does not start with :::MLLOG"),
    (mllog("power_begin", "07-12-2025 23:21:34.443") + ':::MLLOG {"key": "power_end", "val', "cut short"),
    (mllog("power_begin", "07-12-2025 23:21:34.443"), "no power_end"),
    (mllog("power_begin", "07-12-2025 23:21:34.443") + mllog("power_end", "07-12-2025 23:21:30.000"), "not after"),
])
def test_bad_loadgen_logs_are_clear_errors(tmp_path, content, message):
    p = tmp_path / "mlperf_log_detail.txt"
    p.write_text(content)
    with pytest.raises(FormatError, match=message):
        read_detail(p)


def test_zip_input_and_hostile_zips(tmp_path, capsys):
    make_published(tmp_path / "res")
    good = tmp_path / "res.zip"
    with zipfile.ZipFile(good, "w") as zf:
        for p in (tmp_path / "res").rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(tmp_path).as_posix())
    assert main(["verify", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"]
    for name, build, message in [
        ("escape.zip", lambda z: z.writestr("../../evil.txt", "x"), "outside the target"),
        ("abs.zip", lambda z: z.writestr("/tmp/evil.txt", "x"), "outside the target"),
        ("link.zip", lambda z: z.writestr(_link_info("res/link"), "/etc/passwd"), "symbolic link"),
        ("bomb.zip", lambda z: z.writestr(zipfile.ZipInfo("res/zeros"), b"\0" * (50 << 20),
                                          compress_type=zipfile.ZIP_DEFLATED), "zip bomb"),
    ]:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            build(zf)
        with pytest.raises(Unusable, match=message):
            verify_path(path)
        assert main(["verify", str(path)]) == 2
        assert not (tmp_path.parent / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()
    (tmp_path / "plain.txt").write_text("x")
    assert main(["verify", str(tmp_path / "plain.txt")]) == 2
    assert main(["verify", str(tmp_path / "nothing-here")]) == 2


def _link_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the reference samples are not in this checkout")
def test_real_wt210_result_is_flagged_for_its_testing_window_errors():
    r = verify_path(SAMPLES / "wt210-singlestream")
    assert not r["valid"]
    s = statuses(r)
    assert s["PTD log: errors outside ranging, uncertainty in testing"] == "fail"
    assert s["PTD log: lines the official checker never reads"] == "fail"
    # what the official checker does pass here still passes
    for name in ("uuid client", "uuid server", "session name", "phase times", "result checksums",
                 "testing vs ranging power", "client/server messages", "PTD device type", "server debug mode"):
        assert s[name] == "pass", name
    # the official metric: 541 samples, 34.1045 W over 600.011 s, 91744 queries -> 223.045 mJ/query
    assert r["metric"]["unit"] == "mJ/query" and r["metric"]["value"] == pytest.approx(223.045, abs=5e-4)
    assert r["metric"]["samples"] == 541


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the reference samples are not in this checkout")
def test_real_wt500_result_passes_with_the_official_metric():
    r = verify_path(SAMPLES / "wt500-multichannel-server")
    assert r["valid"], [c for c in r["checks"] if c["status"] != "pass"]
    assert r["metric"]["unit"] == "W" and r["metric"]["value"] == pytest.approx(9437.6, abs=0.05)
    assert r["metric"]["samples"] == 607
    spl = read_spl(SAMPLES / "wt500-multichannel-server/performance/run_1/spl.txt")
    assert spl.ch_watts.shape == (728, 3)
    assert np.allclose(spl.ch_watts.sum(axis=1), spl.watts, rtol=1e-4)


def test_station_bundles_verify_through_the_same_command(tmp_path, capsys):
    from station.bundle.export import export_session
    from station.bundle.signing import load_or_create_key, public_pem
    from tests.test_bundle import make_session

    res = export_session(make_session(tmp_path), tmp_path / "bundle", sign=True)
    key = tmp_path / "station.pub"
    key.write_bytes(public_pem(load_or_create_key()))
    assert main(["verify", str(res.zip_path), "--json", "--trusted-key", str(key)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "station" and out["valid"] and out["metric"] == {"value": 98.0, "unit": "W"}
    data = bytearray((res.directory / "report.html").read_bytes())
    data[100] ^= 1
    (res.directory / "report.html").write_bytes(bytes(data))
    assert main(["verify", str(res.directory)]) == 1
    assert "report.html" in capsys.readouterr().out
