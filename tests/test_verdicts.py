"""Verdict words that cannot be misread: integrity, valid and compliant, the same everywhere.

End to end, a session measured with ``station measure``, exported with ``station export`` and
checked with ``station verify``: a failed review never verifies as valid, shortened rules and an
operator left out are valid but not compliant, in the CLI, ``--json``, the report and the window.
"""

from __future__ import annotations

import itertools
import json
import sys
import textwrap
from pathlib import Path

import pytest

from station import cli, rules
from station.measurement.verdict import (
    INTEGRITY_FAILED,
    NOT_VALID,
    VALID,
    VALID_NOT_COMPLIANT,
    Verdict,
    bundle_verdict,
    review_verdict,
)

pytestmark = pytest.mark.timeout(180)

SHORT = ["--set", "min_testing_s=0.3", "--set", "settle_s=0.15", "--set", "sample_interval_s=0.05"]

# A stand-in for LoadGen: works for a moment and writes the detail log with the power window
# (UTC) where the station asks for it, so the mlperf-inference rule set finds its window.
LOADGEN = textwrap.dedent('''\
    import json, os, time
    from datetime import datetime, timezone
    from pathlib import Path

    def stamp():
        return datetime.now(timezone.utc).strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]

    def entry(key, value):
        return ":::MLLOG " + json.dumps({"key": key, "value": value, "time_ms": 0.0,
                                         "namespace": "mlperf::logging", "event_type": "POINT_IN_TIME",
                                         "metadata": {"is_error": False}}) + "\\n"

    time.sleep(0.05)
    begin = stamp()
    time.sleep(0.5)
    end = stamp()
    out = Path(os.environ["STATION_LOADGEN_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "mlperf_log_detail.txt").write_text(
        entry("requested_scenario", "Offline") + entry("effective_scenario", "Offline")
        + entry("effective_test_mode", "PerformanceOnly") + entry("power_begin", begin)
        + entry("power_end", end) + entry("result_query_count", 1000) + entry("result_validity", "VALID"))
    (out / "mlperf_log_summary.txt").write_text("Scenario : Offline\\nSamples per second : 2000.0\\n"
                                                "Result is : VALID\\n")
''')


def _measure(tmp_path: Path, *extra: str) -> tuple[int, Path]:
    script = tmp_path / "loadgen_stand_in.py"
    script.write_text(LOADGEN)
    out = tmp_path / "session"
    code = cli.main(["measure", "--instrument", "sim,profile=training,seed=5", "--rules", "mlperf-inference",
                     "--workload", f"{sys.executable} {script}", "--out", str(out), "--benchmark", "resnet50",
                     *SHORT, *extra])
    return code, out


def _export(session: Path, bundle: Path) -> None:
    assert cli.main(["export", str(session), "--out", str(bundle), "--no-pdf"]) == 0


def _verify_json(path: Path, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli.main(["verify", str(path), "--json"])
    return code, json.loads(capsys.readouterr().out)


def _verdict_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith("verdict:")).strip()


@pytest.mark.slow  # measures with the simulated analyzer, exports and verifies: ~4 s
def test_a_failed_review_never_verifies_as_valid(tmp_path, capsys):
    # a current range far too small for the load: every testing sample is overrange
    code, session = _measure(tmp_path, "--operator", "Ada", "--sut", "edge box", "--range-override", "300,5",
                             "--override-reason", "too small on purpose")
    text = capsys.readouterr().out
    assert code == 1, text
    line = _verdict_line(text)
    assert line.startswith("verdict: NOT VALID: failed ") and "overrange" in line
    assert "testing ranges overridden (--range-override): sim-1 300.0 V / 5.0 A" in line
    bundle = tmp_path / "bundle"
    _export(session, bundle)

    code, result = _verify_json(bundle, capsys)
    assert code == 1
    assert result["integrity"] is True and result["valid"] is False and result["compliant"] is False
    assert result["headline"] == NOT_VALID and "overrange" in result["verdict"]
    assert all(c["status"] != "fail" for c in result["checks"])  # the files are intact: the review failed
    assert any(c["status"] == "fail" and "overrange" in c["name"] for c in result["review_checks"])

    assert cli.main(["verify", str(bundle)]) == 1
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert "station result, NOT VALID: failed " in first and ", VALID" not in first
    assert "integrity intact, valid no, compliant no" in out and "[FAIL] review: " in out
    assert '<p class="verdict">NOT VALID</p>' in (bundle / "report.html").read_text()

    # one cannot make it valid by editing the manifest: integrity fails instead
    manifest = bundle / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"valid": false', '"valid": true'))
    code, result = _verify_json(bundle, capsys)
    assert code == 1 and result["headline"] == INTEGRITY_FAILED
    assert result["integrity"] is False and result["valid"] is False and "manifest.json" in result["verdict"]


@pytest.mark.slow  # measures with the simulated analyzer, exports and verifies: ~4 s
def test_shortened_rules_and_a_missing_operator_are_valid_but_not_compliant_everywhere(tmp_path, capsys, qtbot):
    code, session = _measure(tmp_path, "--yes")  # no --operator, no --sut
    text = capsys.readouterr().out
    assert code == 0, text
    line = _verdict_line(text)
    assert line.startswith("verdict: VALID, NOT COMPLIANT: rules overridden (--set): min_testing_s 600.0 -> 0.3")
    assert "operator and system under test not given" in line
    bundle = tmp_path / "bundle"
    _export(session, bundle)
    assert "verdict     " + line[len("verdict: "):] in capsys.readouterr().out  # station export's words too

    code, result = _verify_json(bundle, capsys)
    assert code == 0
    assert (result["integrity"], result["valid"], result["compliant"]) == (True, True, False)
    assert result["headline"] == VALID_NOT_COMPLIANT and result["missing"] == ["operator", "system under test"]
    assert result["verdict"] == line[len("verdict: "):]  # the same words as station measure's last line
    html = (bundle / "report.html").read_text()
    assert f'<p class="verdict">{VALID_NOT_COMPLIANT}</p>' in html and "min_testing_s 600.0 -&gt; 0.3" in html

    from station.bundle.result_model import load_result
    from station.ui.result_view import ResultView

    view = ResultView(load_result(bundle))
    qtbot.addWidget(view)
    assert view.verdict.text().startswith(VALID_NOT_COMPLIANT + " — ")
    assert "operator and system under test not given" in view.verdict_detail.text()
    assert "integrity intact, valid yes, compliant no" in view.verdict_detail.text()


# -- the verdict from a review, without measuring -------------------------------------------------
def _official(name: str = "mlperf-inference", **overrides) -> dict:
    return rules.load(name, overrides or None).to_dict()


WHO = {"operator": "Ada", "sut": "edge box"}
PASSED = {"valid": True, "checks": [{"name": "duration", "status": "pass", "evidence": "600 s"}]}
FAILED = {"valid": False, "checks": [{"name": "testing_1 sim-1: overrange", "status": "fail", "evidence": "3 s"},
                                     {"name": "duration", "status": "pass", "evidence": "600 s"}]}


def test_only_the_unmodified_official_rule_set_with_who_and_what_is_compliant():
    v = review_verdict(PASSED, _official(), WHO)
    assert (v.integrity, v.valid, v.compliant, v.text, v.exit_code) == (True, True, True, VALID, 0)
    for name in rules.OFFICIAL_RULE_SETS:
        assert rules.load(name).official, name
    assert not rules.load("lab").official and not rules.load("mlperf-tiny", ["windows=3"]).official

    v = review_verdict(PASSED, _official("lab"), WHO)
    assert v.headline == VALID_NOT_COMPLIANT and v.reasons == ("lab rule set (not an official benchmark's)",)
    assert v.exit_code == 0
    edited = _official()
    edited["parameters"]["min_testing_s"]["value"] = 60  # a rule file changed by hand, not with --set
    v = review_verdict(PASSED, edited, WHO)
    assert v.headline == VALID_NOT_COMPLIANT
    assert "parameters differ from the official mlperf-inference rule set: min_testing_s 60 (official 600.0)" \
        in v.text
    v = review_verdict(PASSED, _official(), {**WHO, "range_selection": {
        "sim-1": {"voltage": 300, "current": 5, "override": True, "reason": "r"},
        "sim-2": {"voltage": 300, "current": 20, "override": False}}})
    assert v.text == f"{VALID_NOT_COMPLIANT}: testing ranges overridden (--range-override): sim-1 300 V / 5 A"
    v = review_verdict(PASSED, _official(), {"operator": "unknown operator", "sut": "edge box"})
    assert v.text == f"{VALID_NOT_COMPLIANT}: operator not given" and v.missing == ("operator",)


def test_a_failed_review_or_broken_files_are_never_valid():
    v = review_verdict(FAILED, _official(), WHO)
    assert (v.valid, v.compliant, v.exit_code) == (False, True, 1)
    assert v.text == f"{NOT_VALID}: failed testing_1 sim-1: overrange"
    # a review that says valid while one of its checks failed is not believed
    v = review_verdict({**FAILED, "valid": True}, _official(), WHO)
    assert v.headline == NOT_VALID and not v.valid
    v = review_verdict(PASSED, _official(), WHO, ["file report.html: report.html changed after export"])
    assert (v.integrity, v.valid, v.compliant, v.headline) == (False, False, False, INTEGRITY_FAILED)
    assert "report.html changed" in v.text
    v = review_verdict(None, _official(), WHO)
    assert v.headline == NOT_VALID and v.reasons[0] == "not reviewed" and v.integrity
    assert bundle_verdict([{"name": "manifest", "status": "fail", "evidence": "not JSON"}], None).headline \
        == INTEGRITY_FAILED


@pytest.mark.parametrize("integrity, review_ok, official, who", list(itertools.product((True, False), repeat=4)))
def test_the_headline_says_valid_only_when_all_three_answers_agree(integrity, review_ok, official, who):
    v = review_verdict(PASSED if review_ok else FAILED, _official() if official else _official("lab"),
                       WHO if who else {}, [] if integrity else ["audit chain: audit.jsonl:2 changed"])
    assert v.valid == (integrity and review_ok)
    assert v.compliant == (integrity and official and who)
    assert (v.headline == VALID) == (v.integrity and v.valid and v.compliant)
    assert v.headline.startswith("VALID") == v.valid
    assert v.exit_code == (0 if v.valid else 1)
    assert Verdict.from_dict(json.loads(json.dumps(v.to_dict()))) == v


def test_unusable_input_exits_2_with_three_false_answers(tmp_path, capsys):
    (tmp_path / "nothing").mkdir()
    code, result = _verify_json(tmp_path / "nothing", capsys)
    assert code == 2 and result["headline"] == "UNUSABLE INPUT"
    assert (result["integrity"], result["valid"], result["compliant"]) == (False, False, False)
    assert "neither a station bundle" in result["error"]
