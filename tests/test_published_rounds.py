"""Real published power results of every round (tests/data/published, see its PROVENANCE.md):
each read in its own format, judged by its round's rules, and its metric equal to the official
submission checker's.

The comparison with the official function needs a checkout of mlcommons/inference: set
STATION_MLCOMMONS_INFERENCE to it (the directory holding tools/submission/, or a bare snapshot
as the fetch tool leaves it, ``.../mlcommons+inference`` with ``repo/``); the test skips
without it. Its code runs in a subprocess and is never copied here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from station.mlperf.metric import canonical_scenario
from station.mlperf.published import find_performance_dir, verify_published
from station.mlperf.rounds import ROUNDS, identify_round, round_named, sources_fingerprint
from station.verify import safe_extract

DATA = Path(__file__).parent / "data" / "published"
FIXTURES = sorted(DATA.rglob("*.zip"))
INFERENCE = os.environ.get("STATION_MLCOMMONS_INFERENCE")


def _unpack(zip_path: Path, where: Path) -> Path:
    safe_extract(zip_path, where)
    perf = find_performance_dir(where)
    assert perf is not None, zip_path
    return perf


def _status(result: dict, name: str) -> str:
    return next(c["status"] for c in result["checks"] if c["name"] == name)


def _evidence(result: dict, name: str) -> str:
    return next(c["evidence"] for c in result["checks"] if c["name"] == name)


@pytest.fixture(scope="module")
def verified(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    out = {}
    for z in FIXTURES:
        perf = _unpack(z, tmp_path_factory.mktemp(z.stem))
        out[f"{z.parent.name}/{z.stem}"] = (perf, verify_published(perf))
    return out


def test_fixtures_cover_rounds_from_v1_0_to_v5_1():
    assert {z.parent.name for z in FIXTURES} >= {"v1.0", "v1.1", "v2.0", "v2.1", "v3.0", "v3.1", "v4.0", "v4.1", "v5.1"}


@pytest.mark.parametrize("key", [f"{z.parent.name}/{z.stem}" for z in FIXTURES])
def test_each_result_is_read_and_judged_by_the_rules_of_its_own_round(verified, key):
    perf, r = verified[key]
    want = key.split("/")[0]
    assert r["round"]["name"] == want and r["round"]["how"] == "files", r["round"]
    # before v5.0 ptd_config is one object, since then a list: both are read, no summary failure
    names = {c["name"] for c in r["checks"]}
    assert "power summaries" not in names
    assert _status(r, "round") == "pass", _evidence(r, "round")
    assert want in _evidence(r, "round")
    # the round's own PTDaemon version and power-dev sources are accepted
    assert _status(r, "PTD analyzer and version") == "pass", _evidence(r, "PTD analyzer and version")
    assert _status(r, "tool sources") == "pass", _evidence(r, "tool sources")
    server = json.loads((perf / "power/server.json").read_text())
    assert isinstance(server["ptd_config"], list if want >= "v5.0" else dict)


def test_llm_and_server_results_are_watts_of_the_directorys_scenario(verified):
    # LLM results (gptj, llama3.1) of the object- and list-form eras, one of them Server: the metric
    # is the average power in watts whatever the LoadGen log says about tokens
    for key, scenario in (("v4.1/nvidia-gptj-99-offline", "Offline"), ("v5.1/lenovo-llama3.1-8b-server", "Server")):
        perf, r = verified[key]
        assert perf.parent.parent.name in ("gptj-99", "llama3.1-8b") and perf.parent.name == scenario
        m = r["metric"]
        assert m["scenario"] == scenario and m["unit"] == "W" and m["value"] == m["average_power_w"] > 1000, m
        assert m["samples"] >= 600 and m["duration_s"] >= 600  # an 8-GPU system over a full testing run


def test_a_v3_1_result_is_judged_by_v3_1s_checker_with_its_4_sample_ranging_run(verified):
    # CTuning's Jetson Orin (WT310E, PTDaemon 1.10.0): v3.0 accepted the same PTDaemon, the
    # power-dev sources and the July 2023 session are v3.1's; a ranging run of 3.8 s is allowed
    perf, r = verified["v3.1/ctuning-orin-wt310e-singlestream"]
    assert r["round"]["checker"].endswith("@8545bddb"), r["round"]
    assert "394d58c076da" in r["round"]["why"] and "2023-07-09" in r["round"]["why"]
    assert r["verdict"] == "VALID" and r["official"]["accepted"] and r["station"]["problems"] == 0
    assert _status(r, "result checksums") == "pass"  # CRLF ptd_logs.txt, published as recorded
    assert "ranging 3.8 s" in _evidence(r, "testing duration vs ranging")
    assert "YokogawaWT310E" in _evidence(r, "PTD analyzer and version")
    m = r["metric"]
    assert m["scenario"] == "SingleStream" and m["unit"] == "mJ/query" and m["samples"] == 600
    assert m["value"] == pytest.approx(m["average_power_w"] * m["duration_s"] * 1000 / 15950, rel=1e-12)
    assert m["value"] == pytest.approx(510.4495, rel=1e-6)


def test_a_v4_0_result_is_told_from_v4_1_by_its_session_date(verified):
    # CTuning's Jetson Orin AGX: v4.0 and v4.1 accepted the same power-dev sources and PTDaemon 1.10.0;
    # the session of 2024-02-01, before v4.0 was published, makes it v4.0's with its 0.8 s phase skew
    perf, r = verified["v4.0/ctuning-orin-agx-wt310e-singlestream"]
    assert r["round"]["checker"].endswith("@27ef43ae"), r["round"]
    assert "accepted in v4.0, v4.1" in r["round"]["why"] and "2024-02-01 is from v4.0" in r["round"]["why"]
    assert "limit 800 ms in v4.0" in _evidence(r, "phase times")
    assert r["verdict"] == "VALID" and r["official"]["accepted"] and r["station"]["problems"] == 0
    # CRLF lines in ptd_logs.txt as PTDaemon wrote them: the nine recorded SHA-1s hold
    assert _status(r, "result checksums") == "pass" and "9 result files" in _evidence(r, "result checksums")
    m = r["metric"]
    assert m["scenario"] == "SingleStream" and m["unit"] == "mJ/query" and m["samples"] == 600
    assert m["value"] == pytest.approx(m["average_power_w"] * m["duration_s"] * 1000 / 55196, rel=1e-12)
    assert m["value"] == pytest.approx(138.474, rel=1e-5)


def test_todays_rules_fail_an_old_result_on_versions_alone(tmp_path):
    perf = _unpack(DATA / "v2.0/inspur-multistream.zip", tmp_path)
    r = verify_published(perf, round_name="v5.1")
    assert r["round"]["how"] == "given" and "given" in _evidence(r, "round")
    assert _status(r, "PTD analyzer and version") == "fail"
    assert "PTDaemon 1.9.2 (supported in v5.1: 1.11.1)" in _evidence(r, "PTD analyzer and version")
    assert _status(r, "tool sources") == "fail" and "v1.1, v2.0, v2.1, v3.0's" in _evidence(r, "tool sources")
    # its round finds neither problem
    mine = verify_published(perf)
    assert _status(mine, "PTD analyzer and version") == "pass" and _status(mine, "tool sources") == "pass"


def test_an_unknown_round_is_refused_with_the_known_ones(tmp_path):
    perf = _unpack(DATA / "v4.1/untether-wt210-multistream.zip", tmp_path)
    with pytest.raises(ValueError, match="known rounds: v1.0, v1.1"):
        verify_published(perf, round_name="v0.7")


def test_the_results_folder_names_the_round(tmp_path):
    perf = _unpack(DATA / "v3.0/lenovo-singlestream.zip", tmp_path / "inference_results_v3.0")
    r = verify_published(perf)
    assert r["round"]["how"] == "path" and "inference_results_v3.0" in r["round"]["why"]


def test_the_session_date_picks_among_rounds_that_accepted_the_same_sources(verified):
    perf, _ = verified["v2.1/fujitsu-server"]
    server = json.loads((perf / "power/server.json").read_text())
    fp = sources_fingerprint(server["sources"])
    accepting = [r.name for r in ROUNDS if fp in r.source_sets]
    assert accepting == ["v2.1", "v3.0"]
    # the same sources and PTDaemon in a session of early 2023 are v3.0's only if PTD 1.10.0 ran
    assert identify_round(server["sources"], "1.9.2", round_named("v2.1").published_t - 86400).round.name == "v2.1"
    assert identify_round(server["sources"], "1.10.0", None).round.name == "v3.0"
    assert identify_round({"x.py": "0"}, "1.9.2", round_named("v2.0").published_t - 86400).how == "date"


def test_the_metric_uses_the_scenario_of_the_directory(verified):
    _, ms = verified["v5.1/gateoverflow-singlestream-log-in-multistream"]
    m = ms["metric"]
    assert m["scenario"] == "MultiStream" and m["unit"] == "mJ/query"
    # a SingleStream log in a MultiStream directory: 8 samples per query
    assert m["value"] == pytest.approx(m["average_power_w"] * m["duration_s"] * 8 * 1000 / 132176, rel=1e-12)
    _, off = verified["v1.0/krai-singlestream-log-in-offline"]
    assert off["metric"]["scenario"] == "Offline" and off["metric"]["unit"] == "W"
    assert off["metric"]["value"] == pytest.approx(off["metric"]["average_power_w"], rel=1e-15)


def test_line_endings_lost_in_publishing_are_named_and_restoring_crlf_restores_the_checksum(verified):
    _, r = verified["v2.0/inspur-multistream"]
    ev = _evidence(r, "result checksums")
    assert _status(r, "result checksums") == "warn"  # the files are the ones hashed: intact, and said
    assert "run_1/spl.txt changed since the run" in ev
    assert ev.count("only its line endings changed (publishing); restoring CRLF restores the recorded SHA-1") == 2


def test_errors_in_the_testing_window_the_official_scan_never_reaches(verified):
    _, r = verified["v5.1/gateoverflow-singlestream-log-in-multistream"]
    assert _status(r, "PTD log: official scan") == "warn"
    assert "power/ptd_logs.txt:97" in _evidence(r, "PTD log: official scan")
    assert "74 failing lines after it go unseen" in _evidence(r, "PTD log: official scan")
    every = _evidence(r, "PTD log: every line (not checked officially)")
    assert "74 inside the testing window" in every and "power/ptd_logs.txt:1800" in every


def test_v1_0_loadgen_times_are_local_and_the_dst_hour_is_the_checkers_allowance(verified):
    _, r = verified["v1.0/dellemc-wt210-singlestream"]
    ev = _evidence(r, "testing: LoadGen window inside the client phases")
    assert _status(r, "testing: LoadGen window inside the client phases") == "warn"
    assert "LoadGen times read as local time, + +21600 s, as in v1.0" in ev and "DST" in ev
    assert _status(r, "client/server messages") == "pass"  # v1.0: the server holds one more


@pytest.fixture(scope="module")
def submission_tools(tmp_path_factory) -> Path:
    """The folder holding the submission checker: the checkout's, or extracted from a bare snapshot."""
    root = Path(INFERENCE)
    if (root / "tools" / "submission").is_dir():
        return root / "tools" / "submission"
    gitdir = root / "repo" if (root / "repo" / "HEAD").is_file() else root
    out = tmp_path_factory.mktemp("inference")
    names = [f"tools/submission/{n}" for n in ("submission_checker_old.py", "log_parser.py")]
    archive = subprocess.run(["git", "-C", str(gitdir), "archive", "--format=tar", "HEAD", *names],
                             capture_output=True, check=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True, timeout=120)
    return out / "tools" / "submission"


def _official_metric(tools: Path, run_1: Path, scenario: str, round_name: str, benchmark: str) -> dict:
    """The submission checker's get_power_metric on ``run_1``; for Offline / Server results of
    v5.0 on also its efficiency, from the round's performance result (get_performance_metric:
    tokens per second for the LLMs)."""
    code = (
        "import json, sys, types\n"
        f"sys.path.insert(0, {str(tools)!r})\n"
        "sys.argv = ['submission_checker_old']\n"
        "import submission_checker_old as s\n"
        "res, out = 1.0, {}\n"
        f"if {round_name >= 'v5.0' and scenario in ('Offline', 'Server')!r}:\n"
        f"    res = s.get_performance_metric(types.SimpleNamespace(version={round_name!r}), {benchmark!r}, "
        f"{str(run_1)!r}, {scenario!r})\n"
        "    out['performance'] = res\n"
        "try:\n"
        f"    valid, metric, scen, eff = s.get_power_metric(None, {scenario!r}, {str(run_1)!r}, True, res)\n"
        "    out.update({'valid': valid, 'metric': metric, 'log_scenario': scen})\n"
        f"    if 'performance' in out or {scenario in ('SingleStream', 'MultiStream')!r}:\n"
        "        out['efficiency'] = eff\n"
        "    print(json.dumps(out))\n"
        "except Exception as exc:\n"
        "    print(json.dumps({'error': type(exc).__name__}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not INFERENCE, reason="set STATION_MLCOMMONS_INFERENCE to a checkout of mlcommons/inference")
@pytest.mark.parametrize("key", [f"{z.parent.name}/{z.stem}" for z in FIXTURES])
def test_the_metric_equals_the_official_submission_checkers(verified, submission_tools, key):
    perf, r = verified[key]
    scenario = canonical_scenario(perf.parent.name)
    official = _official_metric(submission_tools, perf / "run_1", scenario, key.split("/")[0], perf.parent.parent.name)
    if "error" in official:  # LoadGen of v1.x logs no result_query_count: no metric either way
        assert r["metric"] is None or r["metric"].get("value") is None, (official, r["metric"])
        return
    assert r["metric"]["value"] == pytest.approx(official["metric"], rel=1e-9, abs=0)
    if "efficiency" in official:  # per query, and Offline / Server from v5.0 (LLMs: tokens/J)
        assert r["metric"]["efficiency"]["value"] == pytest.approx(official["efficiency"], rel=1e-9, abs=0)


def _rewrite(path: Path, edit) -> None:
    raw = path.read_bytes()
    nl = b"\r\n" if b"\r\n" in raw else b"\n"
    lines = raw.split(nl)
    edit(lines)
    path.write_bytes(nl.join(lines))


def test_repeated_and_out_of_order_samples_are_named_by_line(tmp_path):
    perf = _unpack(DATA / "v4.1/untether-wt210-multistream.zip", tmp_path)
    spl = perf / "run_1/spl.txt"
    clean = verify_published(perf)
    assert _status(clean, "testing samples (not checked officially)") == "pass"
    text = spl.read_bytes().split(b"\n")
    first = next(i for i, line in enumerate(text) if line.startswith(b"Time") and
                 i > len(text) // 2)

    def swap_and_repeat(lines):
        lines[first], lines[first + 1] = lines[first + 1], lines[first]  # out of order
        lines.insert(first + 10, lines[first + 9])  # repeated

    _rewrite(spl, swap_and_repeat)
    r = verify_published(perf)
    ev = _evidence(r, "testing samples (not checked officially)")
    assert _status(r, "testing samples (not checked officially)") == "fail"
    assert f"1 samples out of order (earlier than the line before), first run_1/spl.txt:{first + 2}" in ev
    assert f"1 samples repeated (same time as the line before), first run_1/spl.txt:{first + 11}" in ev


def test_multichannel_uncertainty_warnings_the_official_pattern_misses(tmp_path):
    perf = _unpack(DATA / "v4.1/untether-wt210-multistream.zip", tmp_path)
    log = perf / "power/ptd_logs.txt"
    detail = (perf / "run_1/mlperf_log_detail.txt").read_text()
    begin = json.loads(next(x for x in detail.splitlines() if '"power_begin"' in x).split(":::MLLOG", 1)[1])
    fmt = "%m-%d-%Y %H:%M:%S.%f"  # LoadGen's and PTD's own format
    inside = (datetime.strptime(begin["value"], fmt) + timedelta(seconds=30)).strftime(fmt)[:-3]
    line = (f"{inside}: WARNING: Uncertainty 1.52%, which is above 1.00% limit for the last sample, "
            "logical channel 2!").encode()

    def add(lines):
        lines.append(line)

    _rewrite(log, add)
    r = verify_published(perf)
    n = len(log.read_bytes().splitlines())
    every = _evidence(r, "PTD log: every line (not checked officially)")
    assert _status(r, "PTD log: every line (not checked officially)") == "fail"
    assert f"1 uncertainty warnings above 1 % inside the testing window, first power/ptd_logs.txt:{n}" in every
    # the official pattern does not see it (and its window shrink would skip it anyway)
    assert "logical channel" not in _evidence(r, "PTD log: official scan")


def test_a_second_analyzer_is_read_though_the_official_checker_never_looks_at_it(tmp_path):
    perf = _unpack(DATA / "v5.1/gateoverflow-singlestream-log-in-multistream.zip", tmp_path)
    log = perf / "power/ptd_logs.txt"
    raw = log.read_bytes()
    nl = b"\r\n" if b"\r\n" in raw else b"\n"
    body = raw.split(nl, 1)[1]  # after "Analyzer 1"
    # the second analyzer as power-dev writes it since 2024-11: "Analyzer 2" then its own log;
    # this one never completed its ranging run
    second = body.replace(b"Completed test", b"Stopped early")
    log.write_bytes(raw.rstrip(nl) + nl + b"Analyzer 2" + nl + second)
    r = verify_published(perf)
    ev = _evidence(r, "analyzers after the first (not checked officially)")
    assert _status(r, "analyzers after the first (not checked officially)") == "fail"
    assert "analyzer 2: no \"Go with mark '" in ev and "followed by \"Completed test\"" in ev
    # analyzer 1 alone is what the official scan reads: its ranging run is still found
    assert _status(r, "PTD log: ranging run") == "pass"
    log.write_bytes(raw.rstrip(nl) + nl + b"Analyzer 2" + nl + body)
    half = verify_published(perf)
    ev = _evidence(half, "analyzers after the first (not checked officially)")
    # a log section alone is not an analyzer: its ptd_config entry and its own readings are missing
    assert "analyzer 2: no ptd_config[1] entry in power/server.json" in ev
    assert "no valid reading of its own in run_1/spl.txt" in ev
    assert "analyzer 2 YokogawaWT210 PTDaemon 1.11.1, ranging power/ptd_logs.txt:" in ev


def test_a_whole_tree_gives_one_result_per_directory_then_a_summary(tmp_path):
    import zipfile

    from station.mlperf.tree import verify_tree

    tree = tmp_path / "tree"
    for z in FIXTURES:
        safe_extract(z, tree)
    (tree / "closed/Broken/results/s/b/Offline/performance/power").mkdir(parents=True)
    (tree / "closed/Broken/results/s/b/Offline/performance/run_1").mkdir(parents=True)
    out = list(verify_tree(tree))
    results, summary = out[:-1], out[-1]["summary"]
    assert len(results) == len(FIXTURES) + 1 and summary["results"] == len(results)
    paths = {r["path"] for r in results}
    assert "open/GATEOverflow/results/TRIGKEY_Mini_PC_Ryzen_5_5560-ctuning_cpp_tflite-cpu-tflite_vmaster-" \
           "default_config/mobilenet-v1-precision_float-1.0-128/multistream/performance" in paths
    broken = next(r for r in results if r["path"].startswith("closed/Broken"))
    assert broken["valid"] is False and "power" in (broken.get("error") or str(broken["checks"]))
    assert sum(summary["by_verdict"].values()) == len(results)
    per_round = {r: sum(1 for z in FIXTURES if z.parent.name == r) for r in ("v1.0", "v5.1")}
    assert summary["by_round"]["v1.0"] == per_round["v1.0"] and summary["by_round"]["v5.1"] == per_round["v5.1"]
    # the same tree as a zip
    zpath = tmp_path / "tree.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in tree.rglob("*"):
            if f.is_file():
                zf.write(f, f.relative_to(tree).as_posix())
    zipped = list(verify_tree(zpath))
    assert [r.get("path") for r in zipped[:-1]] == [r["path"] for r in results if not r["path"].startswith("closed/Broken")]


def test_the_director_writes_ptd_config_as_a_list_with_ptdaemons_device_number(tmp_path):
    from station.mlperf import ptd_files
    from station.mlperf.client_server import read_power_json

    base = {"version": "1.0", "timezone": 0, "modules": {}, "sources": {}, "messages": [],
            "uuid": {"client": "a", "server": "b"}, "session_name": "s", "results": {}, "phases": {}}
    entry = {"command": ["station"], "device_type": ptd_files.ptd_device_type("YokogawaWT310E"),
             "interface_flag": "", "dc_flag": None, "device_port": "USB0::1", "channel": None}
    path = ptd_files.write_server_json(tmp_path / "server.json", {**base, "ptd_config": [entry, entry]})
    summary = read_power_json(path)
    assert summary.ptd_config_form == "list" and [a["device_type"] for a in summary.ptd_config] == [49, 49]
    assert ptd_files.ptd_device_type("YokogawaWT330_multichannel") == 77
    assert ptd_files.ptd_device_type("SimulatedAnalyzer") is None
    with pytest.raises(ValueError, match="one entry per analyzer"):
        ptd_files.write_server_json(tmp_path / "old.json", {**base, "ptd_config": entry})
