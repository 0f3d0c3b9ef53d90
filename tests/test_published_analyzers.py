"""What the official power checker never reads, on real published results (tests/data/published,
see its PROVENANCE.md): PTDaemon's end-of-run ``Uncertainty`` reply, and every analyzer after the
first (model, PTDaemon version, ranging run), each judged by the rules of the result's round.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from station.mlperf.ptd_log import parse_uncertainty_reply
from station.mlperf.published import find_performance_dir, verify_published
from station.verify import safe_extract

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
