"""Published MLPerf power directories: every check passing and failing, zips, the command, and the
two real published results (when ../shared/reference is present)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from station.cli import main
from station.mlperf.metric import mlperf_metric, window_average
from station.mlperf.spl import read_spl
from station.verify import Unusable, verify_path
from tests.helpers.published_results import SESSION, T0, make_published, mllog, ptd_time

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mlperf-samples"


def statuses(result) -> dict[str, str]:
    return {c["name"]: c["status"] for c in result["checks"]}


def evidence(result, name: str) -> str:
    return next(c["evidence"] for c in result["checks"] if c["name"] == name)


def test_a_clean_result_passes_every_check_with_the_metric(tmp_path):
    perf = make_published(tmp_path)
    r = verify_path(tmp_path)
    assert r["valid"] and r["kind"] == "mlperf", [c for c in r["checks"] if c["status"] != "pass"]
    assert set(statuses(r).values()) == {"pass"}
    # 50 samples strictly inside (t0+5.5, t0+55.5): t0+6 .. t0+55
    assert r["metric"]["value"] == pytest.approx(100.0) and r["metric"]["unit"] == "W"
    assert r["metric"]["samples"] == 50
    assert r["metric"]["efficiency"]["value"] == pytest.approx(1.0)  # 100 samples/s at 100 W
    assert verify_path(perf)["valid"] and verify_path(perf.parent)["valid"]


def _replace_in(rel: str, old: str, new: str, count: int = 1):
    def edit(perf: Path) -> None:
        text = (perf / rel).read_text()
        assert old in text, (rel, old)
        (perf / rel).write_text(text.replace(old, new, count))
    return edit


def _set(path: str, value):
    def change(d: dict) -> None:
        keys = path.split(":")
        for k in keys[:-1]:
            d = d[int(k)] if isinstance(d, list) else d[k]
        d[int(keys[-1]) if isinstance(d, list) else keys[-1]] = value
    return change


@pytest.mark.parametrize("kwargs, check, words", [
    ({"server": _set("uuid:server", "bfa3300f-f002-45ae-9651-fd8e09a40285")}, "uuid server", "bfa3300f"),
    ({"client": _set("uuid:client", "not-a-uuid")}, "uuid client", "not a UUID"),
    ({"client": _set("session_name", "2025-07-13_00-21-10")}, "session name", "2025-07-13_00-21-10"),
    ({"server": _set("phases:testing:2:0", T0 + 161.0)}, "phase times", "testing phase 3: client and server clocks "
                                                                          "differ by 1000 ms"),
    ({"edit": _replace_in("run_1/mlperf_log_detail.txt", ptd_time(T0 + 155.5), ptd_time(T0 + 160.5))},
     "testing: LoadGen window inside the client phases",
     "run_1/mlperf_log_detail.txt:2,3: power_begin..power_end 2025-07-12 23:15:05.500..2025-07-12 23:16:00.500"),
    ({"client": _set("messages:0:reply", "mlcommons/power server v2")}, "client/server messages", "replies differ"),
    ({"server": _set("messages:0:cmd", "hello")}, "client/server messages", "message 0"),
    ({"server": _set("debug", True)}, "server debug mode", "MLPP_DEBUG"),
    ({"server": _set("ptd_config:0:device_type", 0)}, "PTD device type", "device type 0 is not supported"),
    ({"server": _set("ptd_config:0", {"device_type": 77, "command": ["ptd", "-c", "1", "77", "X"],
                                      "channel": [1]})}, "PTD device type", "two channels"),
    ({"server": _set("ptd_messages:1:reply", "YokogawaWT310E,1000,version=1.10.0-abc,OS=Linux")},
     "PTD analyzer and version", "PTDaemon 1.10.0"),
    ({"server": _set("ptd_messages:1:reply", "YokogawaWT3000,1000,version=1.11.1-abc,OS=Linux")},
     "PTD analyzer and version", "'YokogawaWT3000' (not supported)"),
    ({"server": _set("ptd_messages:7:reply", "Error: no measurement to stop")}, "PTD commands and replies",
     "ptd_messages[7] 'Stop'"),
    ({"server": _set("ptd_messages:13:cmd", "SR,A,Auto")}, "PTD commands and replies",
     "not restored to the initial 0.500000"),
    ({"server": _set("sources:server.py", "ffff")}, "tool sources", "server.py"),
    ({"server": _set("results:run_1/spl.txt", "0" * 40)}, "result checksums", "run_1/spl.txt changed"),
    ({"client": _set("results:power/ptd_logs.txt", "0" * 40)}, "result checksums", "record different SHA-1"),
    ({"edit": _replace_in("power/ptd_logs.txt", "is activated", "is not activated")}, "PTD log: uncertainty checking",
     "no 'Uncertainty checking"),
    ({"edit": _replace_in("power/ptd_logs.txt", f"Go with mark '{SESSION}_ranging'", "Go with mark 'other'")},
     "PTD log: ranging run", f"{SESSION}_ranging"),
    ({"edit": lambda p: (p / "power/client.log").write_text("garbage\n")}, "client and server logs",
     "power/client.log:1"),
])
def test_each_check_fails_on_its_defect(tmp_path, kwargs, check, words):
    make_published(tmp_path, **kwargs)
    r = verify_path(tmp_path)
    assert not r["valid"] and statuses(r)[check] == "fail", r["checks"]
    assert words in evidence(r, check)
    failed = {c["name"] for c in r["checks"] if c["status"] == "fail"}
    assert failed == {check}, failed  # the defect is named by its own check only


def test_a_result_file_changed_after_the_run_fails_the_checksums(tmp_path):
    perf = make_published(tmp_path)
    _replace_in("run_1/spl.txt", "100.000000", "100.500000")(perf)
    r = verify_path(tmp_path)
    assert statuses(r)["result checksums"] == "fail" and "run_1/spl.txt changed" in evidence(r, "result checksums")


def test_missing_and_extra_files(tmp_path):
    perf = make_published(tmp_path)
    (perf / "run_1/ptd_out.txt").write_text("Analyzer 1:\n")
    r = verify_path(tmp_path)
    assert r["valid"] and statuses(r)["file list"] == "warn" and "run_1/ptd_out.txt" in evidence(r, "file list")
    (perf / "power/server.log").unlink()
    r = verify_path(tmp_path)
    assert statuses(r)["files"] == "fail" and "power/server.log" in evidence(r, "files")
    assert statuses(r)["result checksums"] == "fail"
    (perf / "power/server.json").unlink()
    r = verify_path(tmp_path)
    assert not r["valid"] and statuses(r)["power summaries"] == "fail" and "server.json" in evidence(r, "power summaries")


def test_testing_more_than_five_percent_below_ranging_fails(tmp_path):
    make_published(tmp_path, testing_w=95.0)  # ranging 101 W: -5.94 %
    r = verify_path(tmp_path)
    assert statuses(r)["testing vs ranging power"] == "fail"
    assert "-5.94 %" in evidence(r, "testing vs ranging power")
    make_published(tmp_path / "b", testing_w=96.0)  # -4.95 %: allowed
    assert statuses(verify_path(tmp_path / "b"))["testing vs ranging power"] == "pass"


def test_short_testing_run_is_a_warning_and_a_dst_shifted_window_too(tmp_path):
    make_published(tmp_path, window=(40.0, 55.0))  # testing 15 s, ranging 15 s: fine
    assert statuses(verify_path(tmp_path))["testing duration vs ranging"] == "pass"

    def shorten(perf):
        (perf / "run_1/mlperf_log_detail.txt").write_text(
            mllog("effective_scenario", "Offline") + mllog("power_begin", ptd_time(T0 + 110))
            + mllog("power_end", ptd_time(T0 + 120)) + mllog("result_query_count", 5000))
    make_published(tmp_path / "b", edit=shorten)  # testing 10 s against 50 s of ranging
    r = verify_path(tmp_path / "b")
    assert r["valid"] and statuses(r)["testing duration vs ranging"] == "warn"

    def dst(perf):  # LoadGen on a clock one hour ahead: the official checker lets it through
        (perf / "run_1/mlperf_log_detail.txt").write_text(
            mllog("effective_scenario", "Offline") + mllog("power_begin", ptd_time(T0 + 3600 + 105.5))
            + mllog("power_end", ptd_time(T0 + 3600 + 155.5)) + mllog("result_query_count", 5000))
    make_published(tmp_path / "c", edit=dst)
    r = verify_path(tmp_path / "c")
    assert statuses(r)["testing: LoadGen window inside the client phases"] == "warn"
    assert "DST" in evidence(r, "testing: LoadGen window inside the client phases")


def test_errors_in_testing_after_a_warning_the_official_checker_stops_at(tmp_path):
    extra = (f"{ptd_time(T0 + 3)}: ERROR: Bad watts reading 99100000000000005192630646116011999232.000000 from X\n"
             "Buffer was 244.94E+00,9.91E+37\n"
             f"{ptd_time(T0 + 130)}: ERROR: Current exceeds peak value allowed for range 0.50A and CF 3.\n")
    make_published(tmp_path, ptd_extra=extra)
    r = verify_path(tmp_path)
    s = statuses(r)
    assert not r["valid"]
    assert s["PTD log: official scan"] == "warn"  # what the official checker reports: a warning, and it stops
    assert "1 failing lines after it go unseen" in evidence(r, "PTD log: official scan")
    assert s["PTD log: every line (not checked officially)"] == "fail"
    ev = evidence(r, "PTD log: every line (not checked officially)")
    assert "1 ERROR lines outside ranging (1 inside the testing window)" in ev and "Current exceeds peak" in ev


def test_an_error_outside_ranging_alone_fails_the_official_scan_too(tmp_path):
    make_published(tmp_path, ptd_extra=f"{ptd_time(T0 + 130)}: ERROR: Current exceeds peak value allowed\n")
    r = verify_path(tmp_path)
    assert statuses(r)["PTD log: official scan"] == "fail"
    make_published(tmp_path / "b", ptd_extra=f"{ptd_time(T0 + 30)}: ERROR: Bad watts reading nan from Yokogawa\n"
                                            f"{ptd_time(T0 + 130)}: ERROR: USB.\n")
    r = verify_path(tmp_path / "b")  # the ranging "nan" error is ignored; "USB." is accepted as a warning
    assert r["valid"] and statuses(r)["PTD log: official scan"] == "warn"


def test_uncertainty_above_one_percent_in_a_short_testing_run_fails(tmp_path):
    # the official rule adds 800 s instead of 0.8 s and never fires on a run this short
    extra = f"{ptd_time(T0 + 130)}: WARNING: Uncertainty 1.57%, which is above 1.00% limit for the last sample!\n"
    make_published(tmp_path, ptd_extra=extra)
    r = verify_path(tmp_path)
    assert statuses(r)["PTD log: official scan"] == "pass"
    assert statuses(r)["PTD log: every line (not checked officially)"] == "fail"
    assert "1 uncertainty warnings above 1 %" in evidence(r, "PTD log: every line (not checked officially)")
    # within 0.8 s of the window's ends it is let through, as the rule intends
    edge = f"{ptd_time(T0 + 105.9)}: WARNING: Uncertainty 1.57%, which is above 1.00% limit for the last sample!\n"
    make_published(tmp_path / "b", ptd_extra=edge)
    assert verify_path(tmp_path / "b")["valid"]


def test_invalid_samples_and_gaps_in_the_testing_window_are_counted(tmp_path):
    make_published(tmp_path, invalid_at=20)
    r = verify_path(tmp_path)
    ev = evidence(r, "testing samples (not checked officially)")
    assert statuses(r)["testing samples (not checked officially)"] == "fail"
    assert "1 invalid readings (Watts -1), first run_1/spl.txt:21" in ev
    assert r["metric"]["samples"] == 49  # the -1 sample stays out of the average, as MLCommons does
    make_published(tmp_path / "b", skip=range(30, 34))
    r = verify_path(tmp_path / "b")
    assert "1 gaps over 1.5 s, largest 5.0 s" in evidence(r, "testing samples (not checked officially)")
    assert statuses(r)["testing vs ranging power"] == "pass"  # the official checks see nothing wrong


def test_no_sample_in_the_window_means_no_metric(tmp_path):
    make_published(tmp_path, testing_w=-1.0)
    r = verify_path(tmp_path)
    assert r["metric"] is None and statuses(r)["power metric"] == "fail"
    assert statuses(r)["testing vs ranging power"] == "fail"


def test_error_records_in_the_logs_are_warnings(tmp_path):
    def edit(perf):
        with open(perf / "power/server.log", "a") as f:
            f.write("ptd-server 2025-07-13 00:21:10,000 [ERROR] Analyzer [1] reply 'Error'\nTraceback (most recent)\n")
    make_published(tmp_path, edit=edit)
    r = verify_path(tmp_path)
    assert r["valid"] and statuses(r)["client and server logs"] == "warn"
    assert "power/server.log:2: [ERROR]" in evidence(r, "client and server logs")


def test_single_and_multi_stream_metrics_are_millijoules_per_query(tmp_path):
    make_published(tmp_path, scenario="SingleStream")
    r = verify_path(tmp_path)
    # 100 W over the 50 s window, 5000 queries: 100 * 50 * 1000 / 5000 = 1000 mJ per query
    assert r["metric"]["unit"] == "mJ/query" and r["metric"]["value"] == pytest.approx(1000.0)
    begin, end = datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 600, UTC)
    m = mlperf_metric("SingleStream", 34.0, begin, end, {"result_query_count": "91744"})
    assert m["unit"] == "mJ/query" and m["value"] == pytest.approx(34.0 * 600 * 1000 / 91744)
    m8 = mlperf_metric("SingleStream", 34.0, begin, end, {"result_query_count": 91744}, directory_scenario="MultiStream")
    assert m8["value"] == pytest.approx(8 * m["value"])
    assert mlperf_metric("SingleStream", 34.0, begin, end, {})["value"] is None
    avg, n = window_average([1, 2, 3, 4], [10, -1, 30, 40], 1, 4)
    assert (avg, n) == (30.0, 1)  # strictly inside, Watts > 0


def _zip_dir(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in src.rglob("*"):
            if p.is_file():
                zf.write(p, p.relative_to(src.parent).as_posix())
    return dest


def _link_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info


def test_zip_input_and_hostile_zips(tmp_path, capsys):
    make_published(tmp_path / "res")
    good = _zip_dir(tmp_path / "res", tmp_path / "res.zip")
    assert main(["verify", str(good), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] and out["kind"] == "mlperf" and out["metric"]["unit"] == "W"
    assert all(set(c) >= {"name", "status", "evidence"} for c in out["checks"])
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
    (tmp_path / "empty").mkdir()
    assert main(["verify", str(tmp_path / "empty"), "--json"]) == 2
    assert "MLPerf power directory" in json.loads(capsys.readouterr().out)["error"]
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    assert main(["verify", str(truncated)]) == 2


def test_the_command_prints_each_check_and_exits_1_when_invalid(tmp_path, capsys):
    make_published(tmp_path, testing_w=90.0)
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "NOT VALID" in out and "[FAIL] testing vs ranging power" in out and "metric: 90 W" in out


def test_unreadable_summaries_and_logs_are_named(tmp_path):
    perf = make_published(tmp_path)
    (perf / "power/client.json").write_text('{"version": "1.0", "uuid": ')
    r = verify_path(tmp_path)
    assert not r["valid"] and "client.json" in evidence(r, "power summaries")
    perf = make_published(tmp_path / "b")
    (perf / "run_1/mlperf_log_detail.txt").write_text(mllog("power_begin", ptd_time(T0)))
    r = verify_path(tmp_path / "b")
    assert statuses(r)["testing files"] == "fail" and "no power_end" in evidence(r, "testing files")
    assert r["metric"] is None


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the reference samples are not in this checkout")
def test_real_wt210_result_is_flagged_for_its_testing_window_errors():
    r = verify_path(SAMPLES / "wt210-singlestream")
    assert not r["valid"]
    s = statuses(r)
    # the official checker stops at a ranging-phase "Bad watts reading" warning (ptd_logs.txt:55) ...
    assert s["PTD log: official scan"] == "warn" and "ptd_logs.txt:55" in evidence(r, "PTD log: official scan")
    # ... and never reads the 59 "Current exceeds peak value" errors (and 59 "Can't evaluate
    # uncertainty" errors) inside the testing window, nor the >1 % uncertainty at 23:30:58
    ev = evidence(r, "PTD log: every line (not checked officially)")
    assert s["PTD log: every line (not checked officially)"] == "fail"
    assert "118 ERROR lines outside ranging (118 inside the testing window)" in ev
    assert "1 uncertainty warnings above 1 %" in ev and "ptd_logs.txt:2314" in ev
    assert "59 invalid readings" in evidence(r, "testing samples (not checked officially)")
    # what the official checker does pass here still passes
    for name in ("uuid client", "uuid server", "session name", "phase times", "result checksums", "tool sources",
                 "PTD analyzer and version", "PTD commands and replies", "testing vs ranging power",
                 "client/server messages", "PTD device type", "server debug mode", "PTD log: uncertainty checking"):
        assert s[name] == "pass", name
    # the official metric: 541 samples, 34.1045 W over 600.011 s, 91744 queries -> 223.045 mJ/query
    assert r["metric"]["unit"] == "mJ/query" and r["metric"]["value"] == pytest.approx(223.045, abs=5e-4)
    assert r["metric"]["samples"] == 541 and r["metric"]["average_power_w"] == pytest.approx(34.1045, abs=5e-5)
    assert "+0.51 %" in evidence(r, "testing vs ranging power")  # ranging 33.93 W


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="the reference samples are not in this checkout")
def test_real_wt500_result_passes_with_the_official_metric():
    r = verify_path(SAMPLES / "wt500-multichannel-server")
    assert r["valid"], [c for c in r["checks"] if c["status"] != "pass"]
    assert set(statuses(r).values()) == {"pass"}
    # the official metric: mean of 607 samples = 9437.6 W (ranging 9457.9 W)
    assert r["metric"]["unit"] == "W" and r["metric"]["value"] == pytest.approx(9437.6, abs=0.05)
    assert r["metric"]["samples"] == 607
    spl = read_spl(SAMPLES / "wt500-multichannel-server/performance/run_1/spl.txt")
    assert spl.ch_watts.shape == (728, 3)
    assert np.allclose(spl.ch_watts.sum(axis=1), spl.watts, rtol=1e-4)


def test_station_bundles_verify_through_the_same_command(tmp_path, capsys):
    from station.bundle.export import export_session
    from station.bundle.signing import load_or_create_key, public_pem
    from tests.helpers.sessions import make_session

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


def test_a_tree_with_several_results_asks_for_one(tmp_path, capsys):
    make_published(tmp_path, scenario="Offline")
    make_published(tmp_path, scenario="Server")
    assert main(["verify", str(tmp_path)]) == 2
    assert "holds 2 MLPerf power results" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "closed/Org/results/sys/resnet50/Server")]) == 0


def test_zips_with_duplicate_or_clashing_members_are_refused(tmp_path):
    dup = tmp_path / "dup.zip"
    with zipfile.ZipFile(dup, "w") as zf:
        zf.writestr("res/power/client.json", "{}")
        with pytest.warns(UserWarning):
            zf.writestr("res/power/client.json", "{}")
    with pytest.raises(Unusable, match="appears twice"):
        verify_path(dup)
    clash = tmp_path / "clash.zip"
    with zipfile.ZipFile(clash, "w") as zf:
        zf.writestr("res/power", "a file")
        zf.writestr("res/power/client.json", "{}")
    with pytest.raises(Unusable, match="clashes"):
        verify_path(clash)
