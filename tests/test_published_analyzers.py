"""What the official power checker never reads, on real published results (tests/data/published,
see its PROVENANCE.md): PTDaemon's end-of-run ``Uncertainty`` reply, and every analyzer after the
first (model, PTDaemon version, ranging run), each judged by the rules of the result's round.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from station.mlperf.ptd_log import parse_uncertainty_reply
from station.mlperf.published import find_performance_dir, verify_published
from station.verify import safe_extract
from tests.helpers.power_dev import power_dev_checkout

DATA = Path(__file__).parent / "data" / "published"
UNC = "PTD uncertainty reply (not checked officially)"


def _unpack(zip_path: Path, where: Path) -> Path:
    safe_extract(zip_path, where)
    perf = find_performance_dir(where)
    assert perf is not None, zip_path
    return perf


def _check(result: dict, name: str) -> dict:
    return next(c for c in result["checks"] if c["name"] == name)


def _replace_line(path: Path, old: bytes, new: bytes | None) -> None:
    """Replace (or drop, ``new`` None) every line holding ``old``, keeping the file's line endings."""
    raw = path.read_bytes()
    nl = b"\r\n" if b"\r\n" in raw else b"\n"
    lines = raw.split(nl)
    out = [ln if old not in ln else new for ln in lines]
    path.write_bytes(nl.join(x for x in out if x is not None))


def test_the_reply_is_read_as_ptdaemon_writes_it():
    r = parse_uncertainty_reply("Response to client sent: Uncertainty,0.009589,0.009294,0.015984,611,11,563,37")
    assert (r.avg, r.max, r.samples, r.above, r.within, r.unknown) == (0.009589, 0.015984, 611, 11, 563, 37)
    unknown = parse_uncertainty_reply("Uncertainty,-1.0,10000000.000000,0.000000,311,0,0,311")
    assert unknown.avg is None and unknown.max is None and unknown.unknown == 311
    assert parse_uncertainty_reply("Watts,33.2,14.4,35.7,311,40,271") is None


def test_the_testing_runs_reply_is_named_by_line_with_its_samples_above_the_limit(tmp_path):
    perf = _unpack(DATA / "v5.1/gateoverflow-singlestream-log-in-multistream.zip", tmp_path)
    c = _check(verify_published(perf), UNC)
    # 11 samples above 1 %, 37 unknown (the invalid ones), average 0.96 %: named, not failed
    assert c["status"] == "warn", c
    assert c["evidence"].startswith("power/ptd_logs.txt:1922: analyzer 1 average 0.96 %, max 1.60 % over 611")
    assert "11 above the 1.00 % limit, 37 unknown" in c["evidence"]


def test_a_clean_reply_passes_and_rounds_before_v3_1_never_had_one(tmp_path):
    ok = _check(verify_published(_unpack(DATA / "v4.1/untether-wt210-multistream.zip", tmp_path / "a")), UNC)
    assert ok["status"] == "pass" and ok["evidence"].startswith("power/ptd_logs.txt:2544: ")
    for z in ("v2.0/inspur-multistream.zip", "v3.0/lenovo-singlestream.zip"):
        old = _check(verify_published(_unpack(DATA / z, tmp_path / z.split("/")[0])), UNC)
        assert old["status"] == "pass" and "did not ask PTDaemon" in old["evidence"], old
        assert "from v3.1 on" in old["evidence"]


def test_a_missing_reply_falls_back_to_server_json_then_fails_where_the_round_requires_it(tmp_path):
    perf = _unpack(DATA / "v4.1/untether-wt210-multistream.zip", tmp_path)
    log = perf / "power/ptd_logs.txt"
    _replace_line(log, b"Response to client sent: Uncertainty,", None)
    c = _check(verify_published(perf), UNC)
    assert c["status"] == "pass" and c["evidence"].startswith("power/server.json ptd_messages["), c
    server = perf / "power/server.json"
    data = json.loads(server.read_text())
    data["ptd_messages"] = [m for m in data["ptd_messages"] if m["cmd"] != "Uncertainty"]
    server.write_text(json.dumps(data))
    gone = _check(verify_published(perf), UNC)
    assert gone["status"] == "fail" and "no end-of-run Uncertainty reply" in gone["evidence"]
    assert "accepted in v4.1" in gone["evidence"]
    # by v3.0's rules (given), a result without it is what its servers wrote
    assert _check(verify_published(perf, round_name="v3.0"), UNC)["status"] == "pass"


@pytest.mark.parametrize(("reply", "words"), [
    (b"Uncertainty,0.012000,0.011000,0.019000,831,700,131,0", "the average is above the limit"),
    (b"Uncertainty,-1.0,10000000.000000,0.000000,831,0,0,831", "knew the uncertainty of none of its 831"),
])
def test_an_average_above_the_limit_or_no_known_uncertainty_fails(tmp_path, reply, words):
    perf = _unpack(DATA / "v4.1/untether-wt210-multistream.zip", tmp_path)
    log = perf / "power/ptd_logs.txt"
    _replace_line(log, b"Uncertainty,0.004968,", b"07-23-2024 17:22:40.465: Response to client sent: " + reply)
    c = _check(verify_published(perf), UNC)
    assert c["status"] == "fail" and words in c["evidence"], c
    assert c["evidence"].startswith("power/ptd_logs.txt:2544: ")


# -- analyzers after the first ------------------------------------------------------------------------------------
LATER = "analyzers after the first (not checked officially)"


def _second_analyzer(perf: Path, log_edit=None, ident_edit=None, device_type: int = 8, watts_factor: float = 1.0,
                     first_errors: bool = False):
    """Turn a real one-analyzer v5.1 result into two analyzers as power-dev writes them since
    2024-11: ``Analyzer 2`` and its log after analyzer 1's, a second ``ptd_config`` entry, its PTD
    messages after analyzer 1's, and ``run_1/spl.txt`` merged (sum of |W| then each analyzer's
    own line). The second analyzer is a copy of the first (``log_edit`` / ``ident_edit`` change
    its log section / its Identify reply, ``watts_factor`` its readings, taken as positive). The
    first analyzer's 37 negative readings (PTDaemon's readings in error) are kept with
    ``first_errors``, else made positive."""
    log = perf / "power/ptd_logs.txt"
    raw = log.read_bytes()
    nl = b"\r\n" if b"\r\n" in raw else b"\n"
    body = raw.split(nl, 1)[1]
    if log_edit is not None:
        body = log_edit(body)
    log.write_bytes(raw.rstrip(nl) + nl + b"Analyzer 2" + nl + body)
    server = perf / "power/server.json"
    data = json.loads(server.read_text())
    second = [dict(m) for m in data["ptd_messages"]]
    if ident_edit is not None:
        for m in second:
            if m["cmd"] == "Identify":
                m["reply"] = ident_edit(m["reply"])
    # power-dev joins the analyzers' messages before it restores the ranges: analyzer 1's restore
    # (its last SR,V and SR,A) comes after analyzer 2's messages, analyzer 2's is lost
    first = data["ptd_messages"]
    data["ptd_messages"] = first[:-2] + second[:-2] + first[-2:]
    data["ptd_config"].append({**data["ptd_config"][0], "device_type": device_type})
    server.write_text(json.dumps(data, indent=4))
    spl = perf / "run_1/spl.txt"
    out = []
    for line in spl.read_text().split("\n"):
        if not line.startswith("Time,"):
            out.append(line)
            continue
        f = line.split(",")
        w1 = float(f[3])
        if not first_errors and w1 != -1:
            f[3] = f"{abs(w1):.6f}"
            line = ",".join(f)
        w2 = abs(w1) * watts_factor if w1 != -1 else -1.0
        f2 = list(f)
        f2[3] = f"{w2:.6f}"
        total = sum(abs(w) for w in (w1, w2) if w != -1)
        out.append(f"Time,{f[1]},Watts,{total:.6f},Volts,-1.000000,Amps,-1.000000,PF,-1.000000,Mark,{f[11]},"
                   f"Analyzer1,{line},Analyzer2,{','.join(f2)}")
    spl.write_text("\n".join(out))


def test_a_second_analyzer_like_the_first_is_named_with_its_model_version_and_windows(tmp_path):
    perf = _unpack(DATA / "v5.1/gateoverflow-singlestream-log-in-multistream.zip", tmp_path)
    _second_analyzer(perf)
    c = _check(verify_published(perf), LATER)
    assert c["status"] == "pass", c
    ev = c["evidence"]
    assert ev.startswith("analyzer 2 YokogawaWT210 PTDaemon 1.11.1 device type 8, ranging power/ptd_logs.txt:")
    assert "covers the LoadGen window, testing power/ptd_logs.txt:" in ev
    assert "valid readings of its own in the window" in ev


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"ident_edit": lambda r: r.replace("version=1.11.1", "version=1.10.0")},
     "analyzer 2: PTDaemon 1.10.0 is not accepted in v5.1 (1.11.1)"),
    ({"log_edit": lambda b: b.replace(b"YokogawaWT210", b"HiokiPW3335")}, "model HiokiPW3335 is not one"),
    ({"device_type": 49}, "ptd_config[1] device type 49 is not YokogawaWT210's (8)"),
    ({"watts_factor": -1.0}, "negative readings of its own in the testing window, first run_1/spl.txt:"),
    ({"log_edit": lambda b: b.replace(b"Uncertainty checking for YokogawaWT210 is activated", b"Uncertainty off")},
     "no 'Uncertainty checking for Yokogawa"),
])
def test_each_later_analyzer_is_held_to_its_rounds_models_versions_and_wiring(tmp_path, kwargs, words):
    perf = _unpack(DATA / "v5.1/gateoverflow-singlestream-log-in-multistream.zip", tmp_path)
    _second_analyzer(perf, **kwargs)
    r = verify_published(perf)
    c = _check(r, LATER)
    assert c["status"] == "fail" and words in c["evidence"], c
    # the official checker reads the first analyzer only: none of this reaches it
    assert _check(r, "PTD analyzer and version")["status"] == "pass"


def test_a_later_analyzer_that_started_ranging_after_loadgen_does_not_cover_its_window(tmp_path):
    perf = _unpack(DATA / "v5.1/gateoverflow-singlestream-log-in-multistream.zip", tmp_path)
    go = b"07-12-2025 23:37:49.402: Go with mark '2025-07-13_00-37-24_ranging'"

    def late(body: bytes) -> bytes:
        assert go in body
        return body.replace(go, go.replace(b"23:37:49.402", b"23:39:49.402"))

    _second_analyzer(perf, log_edit=late)
    c = _check(verify_published(perf), LATER)
    assert c["status"] == "fail", c
    assert "analyzer 2: its ranging run 2025-07-12 23:39:49.402..2025-07-12 23:43:00.406 UTC" in c["evidence"]
    assert "does not cover the LoadGen window" in c["evidence"]


def test_readings_in_error_that_the_merged_sum_counts_as_power_are_named(tmp_path):
    perf = _unpack(DATA / "v5.1/gateoverflow-singlestream-log-in-multistream.zip", tmp_path)
    _second_analyzer(perf, first_errors=True)
    c = _check(verify_published(perf), LATER)
    # this real analyzer wrote 37 readings in error as negative watts (run_1/spl.txt line 28 is the
    # first inside the window); merged, power-dev adds their absolute value to the sum
    assert c["status"] == "fail", c
    assert c["evidence"].startswith("analyzer 1: 37 negative readings of its own in the testing window, first "
                                    "run_1/spl.txt:")
    assert "(-37.41 W); the merged sum the metric averages counts them as valid power" in c["evidence"]


def test_the_official_checker_rejects_every_session_of_several_analyzers_at_the_third_stop(tmp_path):
    perf = _unpack(DATA / "v5.1/gateoverflow-singlestream-log-in-multistream.zip", tmp_path / "r")
    _second_analyzer(perf)
    c = _check(verify_published(perf), "PTD commands and replies")
    assert c["status"] == "fail"
    assert "with 2 analyzers ptd_messages hold each one's Stop commands" in c["evidence"]
    assert "'Stop' got 'Stopping untimed measurement', expected 'Error: no measurement to stop'" in c["evidence"]
    checkout = power_dev_checkout(tmp_path / "power-dev")
    if checkout is None:
        pytest.skip("no mlcommons/power-dev snapshot to run the official checker from")
    out = subprocess.run([sys.executable, str(checkout / "compliance" / "check.py"), str(perf)],
                         capture_output=True, text=True, timeout=120).stderr
    assert "[ ] Check PTD commands and replies" in out, out
    assert "Wrong reply for 'Stop' command. Expected 'Error: no measurement to stop'" in out, out
