"""MLPerf power file readers: spl.txt (bulk and line by line), LoadGen logs, the PTD log, the
client/server summaries and logs; bad input of every kind gives a FormatError naming file and line;
what station's PTDaemon-format writers produce reads back; energy integration."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import numpy as np
import pytest

from station.mlperf import ptd_files
from station.mlperf.client_server import read_power_json, read_power_log
from station.mlperf.errors import FormatError
from station.mlperf.loadgen import read_detail, read_summary
from station.mlperf.metric import integrate_energy
from station.mlperf.ptd_log import read_ptd_log
from station.mlperf.spl import _parse_fast, _parse_regex, read_spl

T0 = 1_752_362_000.0  # 2025-07-12 23:13:20 UTC


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]


def line(t: float, w: float, mark: str = "s_testing", channels=()) -> str:
    out = f"Time,{stamp(t)},Watts,{w:.6f},Volts,230.100000,Amps,{w / 230:.6f},PF,0.950000,Mark,{mark}"
    for i, cw in enumerate(channels, start=1):
        out += f",Ch{i},Watts,{cw:.6f},Volts,230.000000,Amps,{cw / 230:.6f},PF,0.900000"
    return out


def same(a, b) -> None:
    for name in ("t", "watts", "volts", "amps", "pf", "mark_index", "line_numbers"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.marks == b.marks
    assert (a.ch_watts is None) == (b.ch_watts is None)
    if a.ch_watts is not None:
        assert np.array_equal(a.ch_watts, b.ch_watts)


# -- spl.txt ------------------------------------------------------------------------------------------------
def test_spl_reads_times_values_marks_and_invalid_samples(tmp_path):
    lines = [line(T0 + i, 15.28 + i, "s_ranging" if i < 3 else "s_testing") for i in range(6)]
    lines[4] = lines[4].replace("Watts,19.280000", "Watts,-1.000000")
    p = tmp_path / "spl.txt"
    p.write_text("\n".join(lines) + "\n\n")
    d = read_spl(p)
    assert len(d) == 6 and np.allclose(d.t, T0 + np.arange(6))
    assert d.watts[0] == 15.28 and d.watts[4] == -1.0 and list(d.valid) == [True] * 4 + [False, True]
    assert d.marks == ["s_ranging", "s_testing"] and list(d.mark_index) == [0, 0, 0, 1, 1, 1]
    assert list(d.line_numbers) == [1, 2, 3, 4, 5, 6]
    assert d.volts[0] == 230.1 and d.pf[5] == 0.95 and d.ch_watts is None


def test_spl_multichannel_groups(tmp_path):
    p = tmp_path / "spl.txt"
    p.write_text("".join(line(T0 + i, 30.0 + i, channels=(10.0, 10.0, 10.0 + i)) + "\n" for i in range(4)))
    d = read_spl(p)
    assert d.ch_watts.shape == (4, 3) and list(d.ch_watts[:, 2]) == [10.0, 11.0, 12.0, 13.0]
    assert np.allclose(d.ch_watts.sum(axis=1), d.watts)


def test_bulk_path_equals_the_line_by_line_path_bit_for_bit(tmp_path):
    rng = np.random.default_rng(3)
    w = np.concatenate([rng.normal(500, 200, 3000), rng.random(100) * 1e-3, [-1.0, 0.0, 123456789.123456]])
    text = "".join(line(T0 + i * 1.001, x, f"m{i // 1000}", channels=(x / 2, x / 2)) + "\n" for i, x in enumerate(w))
    fast, slow = _parse_fast(text, tmp_path), _parse_regex(text, tmp_path)
    assert fast is not None
    same(fast, slow)
    assert np.array_equal(fast.watts, np.array([float(f"{x:.6f}") for x in w]))  # what float() reads
    assert fast.marks == ["m0", "m1", "m2", "m3"]


@pytest.mark.parametrize("text", [
    "Time,07-12-2025 23:21:34.443,Watts,1.5,Volts,1,Amps,1,PF,1,Mark,m\nsome note\n",  # a non-sample line
    "Time,07-12-2025 23:21:34.443,Watts,1e3,Volts,1,Amps,1,PF,1,Mark,m\n",  # exponent
    "Time,07-12-2025 23:21:34.4,Watts,1.5,Volts,1,Amps,1,PF,1,Mark,m\n",  # short milliseconds
    "Time,07-12-2025 23:21:34.443,Watts,1.5,Volts,1,Amps,1,PF,1,Mark,mé\n",  # non-ASCII mark
    "Time,07-12-2025 23:21:34.443,Watts,1.5,Volts,1,Amps,1,PF,1,Mark,m,Analyzer1,Time,x\n",  # merged analyzers
])
def test_files_the_bulk_path_declines_are_read_line_by_line(tmp_path, text):
    assert _parse_fast(text, tmp_path) is None
    p = tmp_path / "spl.txt"
    p.write_text(text, encoding="utf-8")
    d = read_spl(p)
    assert len(d) == 1 and d.t[0] == pytest.approx(datetime(2025, 7, 12, 23, 21, 34, tzinfo=UTC).timestamp(), abs=0.5)


def test_other_lines_are_listed(tmp_path):
    p = tmp_path / "spl.txt"
    p.write_text(line(T0, 1.0) + "\nnot a sample\n" + line(T0 + 1, 2.0) + "\n")
    d = read_spl(p)
    assert d.other_lines == [2] and list(d.line_numbers) == [1, 3]


@pytest.mark.parametrize("content, message, lineno", [
    (b"", "no sample lines", 1),
    (b"\n\n", "no sample lines", 1),
    (line(T0, 1).encode() + b"\n" + line(T0 + 1, 1).replace("1.000000", "abc", 1).encode() + b"\n",
     "Watts 'abc' is not a number", 2),
    (b"Time,13-12-2025 23:21:34.443,Watts,1,Volts,1,Amps,1,PF,1,Mark,m\n", "not a valid", 1),
    (line(T0, 1).encode() + b"\n" + b"Time,07-12-2025 23:21:35.443,Watts,1", "does not read", 2),  # cut short
    (b"\xff\xfeT\x00i\x00", "UTF-16", None),
    (line(T0, 1).encode() + b"\nTime,07-12-2025 23:21:34.443,Watts,\xe9,Volts,1\n", "not UTF-8", 2),
    (line(T0, 1).encode() + b"\n\x00\x00\x00", "NUL", 2),
])
def test_bad_spl_files_are_clear_errors_naming_file_and_line(tmp_path, content, message, lineno):
    p = tmp_path / "spl.txt"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=message) as exc:
        read_spl(p)
    assert str(exc.value).startswith(str(p)) and exc.value.path == str(p) and exc.value.line == lineno


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(FormatError, match="missing"):
        read_spl(tmp_path / "nope.txt")


def test_crlf_and_bom_spl_files_read_the_same(tmp_path):
    text = "".join(line(T0 + i, 1.0 + i) + "\n" for i in range(3))
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(text)
    b.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    same(read_spl(a), read_spl(b))


def test_spl_round_trip_with_the_station_writer(tmp_path):
    secs = np.zeros(5, ptd_files.second_dtype(3))
    secs["t"] = T0 + np.arange(1, 6)
    secs["ch_w"] = [[100.25, 200.5, 300.125]] * 5
    secs["w"] = secs["ch_w"].sum(axis=1)
    secs["v"], secs["a"], secs["pf"] = 230.0, 2.6, 0.99
    secs["ch_v"], secs["ch_a"], secs["ch_pf"] = 230.0, 0.9, 0.98
    secs["valid"] = True
    secs["valid"][2] = False
    for newline in ("\n", "\r\n"):
        d = read_spl(ptd_files.write_spl(tmp_path / "spl.txt", secs, "sess_testing", newline=newline))
        assert np.allclose(d.t, secs["t"]) and d.marks == ["sess_testing"]
        assert d.watts[2] == -1.0 and np.array_equal(np.delete(d.watts, 2), np.delete(secs["w"], 2))
        assert d.ch_watts.shape == (5, 3) and d.ch_watts[0, 2] == 300.125


# -- LoadGen ------------------------------------------------------------------------------------------------
def mllog(key, value) -> str:
    return ":::MLLOG " + json.dumps({"key": key, "value": value, "time_ms": 1.5, "namespace": "mlperf::logging",
                                     "event_type": "POINT_IN_TIME", "metadata": {"file": "loadgen.cc"}}) + "\n"


def test_detail_log_gives_the_power_window_scenario_mode_and_queries(tmp_path):
    p = tmp_path / "mlperf_log_detail.txt"
    p.write_bytes(b"\xef\xbb\xbf" + (mllog("requested_scenario", "SingleStream") + "loadgen: a stray line\n"
                                     + mllog("effective_test_mode", "PerformanceOnly")
                                     + mllog("power_begin", "07-12-2025 23:27:00.311")
                                     + mllog("power_end", "07-12-2025 23:37:00.322")
                                     + mllog("result_query_count", 91744)).replace("\n", "\r\n").encode())
    d = read_detail(p)
    assert d.power_begin == datetime(2025, 7, 12, 23, 27, 0, 311000, tzinfo=UTC)
    assert (d.power_end - d.power_begin).total_seconds() == pytest.approx(600.011)
    assert (d.scenario, d.mode, d.query_count) == ("SingleStream", "PerformanceOnly", 91744)
    assert len(d.entries) == 5 and d.lines["power_end"] == 5


@pytest.mark.parametrize("content, message, lineno", [
    ("", "empty", 1),
    ("hello\n", "does not start with :::MLLOG", 1),
    (mllog("power_begin", "07-12-2025 23:21:34.443") + ':::MLLOG {"key": "power_end", "val', "cut short", 2),
    (mllog("power_begin", "07-12-2025 23:21:34.443") + ":::MLLOG {oops}\n" + mllog("x", 1), "not JSON", 2),
    (mllog("power_begin", "07-12-2025 23:21:34.443") + ':::MLLOG ["key"]\n', 'no "key"', 2),
    (mllog("power_begin", "07-12-2025 23:21:34.443"), "no power_end", None),
    (mllog("power_begin", "07-12-2025 23:21:34.443") + mllog("power_end", "07-12-2025 23:21:30.000"), "not after", 2),
    (mllog("power_begin", "13-12-2025 23:21:34.443") + mllog("power_end", "07-12-2025 23:21:30.000"),
     "not a valid MM-DD-YYYY", 1),
    (mllog("power_begin", "soon") + mllog("power_end", "07-12-2025 23:21:30.000"), "no date and time", 1),
    (mllog("power_begin", "07-12-2025 23:21:34.443") + mllog("power_end", "07-12-2025 23:31:30.000")
     + mllog("result_query_count", "many"), "result_query_count 'many'", 3),
])
def test_bad_loadgen_logs_are_clear_errors(tmp_path, content, message, lineno):
    p = tmp_path / "mlperf_log_detail.txt"
    p.write_text(content)
    with pytest.raises(FormatError, match=message) as exc:
        read_detail(p)
    assert exc.value.line == lineno and str(exc.value).startswith(str(p))


def test_summary_log_keys(tmp_path):
    p = tmp_path / "mlperf_log_summary.txt"
    p.write_text("================================================\nMLPerf Results Summary\n"
                 "================================================\nSUT name : TFLite\nScenario : SingleStream\n"
                 "Mode     : PerformanceOnly\n90th percentile latency (ns) : 6593741\nResult is : VALID\n")
    s = read_summary(p)
    assert s["Scenario"] == "SingleStream" and s["Result is"] == "VALID" and s["90th percentile latency (ns)"] == "6593741"
    p.write_text("nothing here\n")
    with pytest.raises(FormatError, match="no 'key : value' lines"):
        read_summary(p)


# -- ptd_logs.txt ---------------------------------------------------------------------------------------------
PTD_LOG = f"""Analyzer 1
GPIB interface specified.
Selected power analyzer 'Yokogawa WT210' from yokowt210.cpp
                        Version 1.11.1-462c978e-20240907
{stamp(T0 - 30)}: Attempting to connect to measurement device type 8...
{stamp(T0 - 20)}: Analyzer identity response of 24 bytes: YOKOGAWA,760401,0,F1.12

{stamp(T0 - 10)}: Uncertainty checking for YokogawaWT210 is activated
{stamp(T0 - 10)}: Connected to YokogawaWT210 successfully
{stamp(T0)}: Go with mark 's_ranging'
{stamp(T0 + 1)}: ERROR: Can't evaluate uncertainty of this sample!
{stamp(T0 + 3)}: ERROR: Bad watts reading 9910000000.000000 from Yokogawa
Buffer was 244.94E+00,9.91E+37,...
{stamp(T0 + 60)}: Completed test
{stamp(T0 + 60)}: Avg watts 33.226102, min watts 15.140000, max watts 35.450000, samples 312, errors 76, valid 236
{stamp(T0 + 80)}: Go with mark 's_testing'
{stamp(T0 + 90)}: WARNING: Uncertainty 1.57%, which is above 1.00% limit for the last sample!
{stamp(T0 + 95)}: WARNING: Uncertainty unknown for the last measurement sample!
{stamp(T0 + 140)}: Completed test
"""


def test_ptd_log_runs_errors_warnings_device_and_uncertainty(tmp_path):
    p = tmp_path / "ptd_logs.txt"
    p.write_text(PTD_LOG.replace("\n", "\r\n"))
    log = read_ptd_log(p)
    assert log.analyzers == [1] and log.version == "1.11.1" and log.device_types == [8]
    assert log.models == ["YokogawaWT210"] and log.uncertainty_activated[0].line == 8
    rng, tst = log.run("s_ranging"), log.run("s_testing")
    assert (rng.go.line, rng.completed.line, rng.go.t, rng.end) == (10, 14, T0, T0 + 60)
    assert rng.summary == {"avg_w": 33.226102, "min_w": 15.14, "max_w": 35.45, "samples": 312, "errors": 76,
                           "valid": 236}
    assert tst.completed.line == 19 and tst.summary is None and log.run("other") is None
    assert [e.line for e in log.errors] == [11, 12] and log.errors[1].more == ["Buffer was 244.94E+00,9.91E+37,..."]
    assert [w.line for w in log.warnings] == [17, 18]
    assert [(x.line, pct) for x, pct in log.uncertainty_above_limit()] == [(17, 1.57)]
    assert [x.line for x in log.between(T0 + 80, T0 + 140, log.warnings)] == [17, 18]
    assert log.errors[0].message == "ERROR: Can't evaluate uncertainty of this sample!"


def test_ptd_log_round_trip_with_the_station_writer(tmp_path):
    w = ptd_files.PtdLog(tmp_path / "ptd_logs.txt", banner=["Version 1.11.1-station"])
    w.line("Uncertainty checking for YokogawaWT310E is activated", T0 - 5)
    w.line("Go with mark 'x_testing'", T0)
    secs = np.zeros(3, ptd_files.second_dtype())
    secs["t"] = T0 + np.arange(1, 4)
    secs["w"], secs["valid"], secs["uncert"] = 50.0, [True, False, True], [0.005, np.nan, 0.02]
    w.lines(ptd_files.sample_log_lines(secs, "YokogawaWT310E", (300.0, 0.5)))
    w.line("Completed test", T0 + 4)
    w.line(ptd_files.format_completed(secs), T0 + 4)
    w.close()
    log = read_ptd_log(tmp_path / "ptd_logs.txt")
    run = log.run("x_testing")
    assert run.end == T0 + 4 and run.summary["errors"] == 1 and run.summary["valid"] == 2
    assert [x.t for x in log.errors] == [T0 + 2] and len(log.uncertainty_above_limit()) == 1
    assert log.models == ["YokogawaWT310E"] and log.version == "1.11.1"


@pytest.mark.parametrize("content, message, lineno", [
    ("Analyzer 1\nno times at all\n", "no timestamped line", 1),
    ("Analyzer 1\n13-45-2025 23:21:34.375: Go with mark 'x'\n", "not a valid", 2),
])
def test_bad_ptd_logs(tmp_path, content, message, lineno):
    p = tmp_path / "ptd_logs.txt"
    p.write_text(content)
    with pytest.raises(FormatError, match=message) as exc:
        read_ptd_log(p)
    assert exc.value.line == lineno


# -- client.json / server.json, client.log / server.log ----------------------------------------------------------
SUMMARY = {"version": "1.0", "timezone": -3600, "modules": {}, "sources": {"client.py": "33ca"},
           "messages": [{"cmd": "mlcommons/power client v3", "reply": "mlcommons/power server v3"}],
           "uuid": {"client": "c", "server": "s"}, "session_name": "2025-07-13_00-21-09",
           "results": {"run_1/spl.txt": "ab"},
           "phases": {"ranging": [[1752362469.9, 283230.9], [1752362494.3, 283255.4]], "testing": []},
           "ptd_messages": [{"cmd": "Hello", "reply": "Hello, PTDaemon here!"}],
           "ptd_config": [{"device_type": 8}], "debug": True}


def test_summary_json_reads_with_the_station_writer(tmp_path):
    p = ptd_files.write_server_json(tmp_path / "server.json", SUMMARY)
    s = read_power_json(p)
    assert s.session_name == "2025-07-13_00-21-09" and (s.uuid_client, s.uuid_server) == ("c", "s")
    assert s.phases == {"ranging": [1752362469.9, 1752362494.3], "testing": []}
    assert s.results == {"run_1/spl.txt": "ab"} and s.ptd_config == [{"device_type": 8}] and s.debug


@pytest.mark.parametrize("text, message, lineno", [
    ("", "empty", 1),
    ('{\n  "version": "1.0",\n  "uuid": ', "cut short", 3),
    ('{"version": 1,, }', "not JSON", 1),
    ("[1, 2]", "not a JSON object", None),
    ('{"version": "1.0"}', "lacks timezone, modules", None),
    (json.dumps({**SUMMARY, "phases": {"ranging": [["x", 1]]}}), r"phases.ranging\[0\]", None),
    (json.dumps({**SUMMARY, "uuid": "c"}), "uuid", None),
    (json.dumps({**SUMMARY, "messages": ["hi"]}), "messages", None),
    (json.dumps({**SUMMARY, "results": []}), "results", None),
    (json.dumps({**SUMMARY, "ptd_messages": {}}), "ptd_messages", None),
])
def test_bad_summaries_are_clear_errors(tmp_path, text, message, lineno):
    p = tmp_path / "client.json"
    p.write_text(text)
    with pytest.raises(FormatError, match=message) as exc:
        read_power_json(p)
    assert exc.value.line == lineno and str(exc.value).startswith(str(p))


def test_power_logs_with_the_station_writer_and_tracebacks(tmp_path):
    rec = logging.LogRecord("d", logging.WARNING, __file__, 1, "Analyzer [1] maxAmps: %s", (0.33,), None)
    rec.created = datetime(2025, 7, 13, 0, 21, 9, 858000).timestamp()
    rec.msecs = 858.0
    p = ptd_files.write_server_log(tmp_path / "server.log", [rec])
    with open(p, "a") as f:
        f.write("Traceback (most recent call last):\n  File x\n\n")
    records = read_power_log(p)
    assert len(records) == 1 and records[0].name == "station-director" and records[0].level == "WARNING"
    assert records[0].message == "Analyzer [1] maxAmps: 0.33" and records[0].more == ["Traceback (most recent call last):",
                                                                                      "  File x"]
    assert records[0].time == datetime(2025, 7, 13, 0, 21, 9, 858000)
    p.write_text("hello\n")
    with pytest.raises(FormatError, match="does not read") as exc:
        read_power_log(p)
    assert exc.value.line == 1
    p.write_text("client 2025-13-13 00:21:10,009 [INFO] x\n")
    with pytest.raises(FormatError, match="not a valid date"):
        read_power_log(p)


# -- energy -----------------------------------------------------------------------------------------------------------
def test_energy_integration_uses_valid_samples_only():
    w = np.array([100.0, 200.0, np.nan, 300.0])
    e, n = integrate_energy(np.arange(4) * 1e-5, w, 1e-5, valid=np.array([True, True, True, False]))
    assert n == 2 and e == pytest.approx(300.0 * 1e-5)
    e, n = integrate_energy(np.arange(4), np.array([1.0, 2.0, 3.0, 4.0]), 0.5)
    assert (e, n) == (5.0, 4)
