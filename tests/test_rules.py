"""Rule sets as data: the shipped ones load, say where each rule comes from, and bad files are named."""

from __future__ import annotations

import json

import pytest

from station import rules


def test_shipped_rule_sets_load_with_their_figures_and_sources():
    assert rules.available() == ["lab", "mlperf-inference", "mlperf-tiny", "mlperf-training"]
    inf = rules.load("mlperf-inference")
    assert inf.metric == "mlperf-inference" and inf.window_sources == ("loadgen",)
    assert inf.get("sample_interval_s") == 1.0
    assert inf.get("min_testing_s") == 600.0
    assert inf.get("max_uncertainty") == 0.01
    assert inf.get("max_testing_below_ranging") == 0.05
    assert inf.get("max_clock_offset_s") == 0.4
    assert inf.get("loadgen_window_inside") is True
    assert inf.get("current_headroom") == 1.1
    tiny = rules.load("mlperf-tiny")
    assert (tiny.get("windows"), tiny.get("window_statistic"), tiny.get("max_dropped_fraction")) == (5, "median", 0.001)
    assert tiny.get("inferences_per_window") is None  # set per session
    trn = rules.load("mlperf-training")
    assert trn.get("max_sample_interval_s") == 1.0 and trn.get("min_samples") == 60
    assert trn.get("sum_nodes") is True and trn.get("conversion_efficiency") == 1.0
    assert rules.load("lab").get("ranging_required") is False
    for name in rules.available():
        rs = rules.load(name)
        for p in rs.parameters.values():
            assert p.rule and p.source, f"{name}.{p.name} states no rule or source"
        d = rs.to_dict()
        assert d["file_sha256"] and len(d["rules"]) == len(rs.parameters)
    assert "CRITICAL_DIFFERENCE_TIME_MS = 400" in inf.source("max_clock_offset_s")


def test_overrides_make_a_short_variant_and_are_recorded():
    rs = rules.load("mlperf-inference", ["min_testing_s=5", "settle_s=0.5"])
    assert rs.get("min_testing_s") == 5.0 and rs.get("settle_s") == 0.5
    assert rs.overrides == {"min_testing_s": {"from": 600.0, "to": 5.0}, "settle_s": {"from": 10.0, "to": 0.5}}
    again = rs.with_overrides({"min_testing_s": 7})
    assert again.overrides["min_testing_s"] == {"from": 600.0, "to": 7.0}  # the original value is kept
    assert "overridden" in again.source("min_testing_s")
    back = rules.rules_from_session(json.loads(json.dumps(again.to_dict())))
    assert back.get("min_testing_s") == 7.0 and back.overrides == again.overrides
    tiny = rules.load("mlperf-tiny", {"inferences_per_window": "800"})
    assert tiny.get("inferences_per_window") == 800


@pytest.mark.parametrize("item, message", [
    ("min_testing_s=abc", r"override min_testing_s: 'abc' is not a valid float"),
    ("min_testing_s=-1", "below the smallest allowed value"),
    ("max_uncertain=0.02", "no rule parameter 'max_uncertain'"),
    ("novalue", "must look like name=value"),
    ("windows=2.5", "is not a valid int"),
    ("window_statistic=mode", "not one of median, mean"),
    ("fixed_ranges_required=maybe", "not a valid bool"),
])
def test_bad_overrides_say_what_is_wrong(item, message):
    with pytest.raises(rules.RuleError, match=message):
        rules.load("mlperf-inference", [item])


def _write(tmp_path, data) -> str:
    p = tmp_path / "custom.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data, indent=1))
    return str(p)


GOOD = {"name": "custom", "metric": "average-power", "parameters": {
    "sample_interval_s": {"value": 0.5, "unit": "s", "rule": "twice a second", "source": "our lab manual §2"}}}


def test_a_rule_file_by_path(tmp_path):
    rs = rules.load(_write(tmp_path, GOOD))
    assert rs.name == "custom" and rs.get("sample_interval_s") == 0.5
    assert rs.window_sources == ("loadgen", "gpio", "marks", "command")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["parameters"].update(min_testing=dict(value=1, rule="r", source="s")),
     r"custom.json: parameters.min_testing: unknown rule parameter"),
    (lambda d: d["parameters"]["sample_interval_s"].pop("source"),
     r"custom.json: parameters.sample_interval_s.source: every rule states it in words and names its source"),
    (lambda d: d["parameters"]["sample_interval_s"].update(value="fast"),
     r"custom.json: parameters.sample_interval_s.value: 'fast' is not a valid float"),
    (lambda d: d.update(metric="joules"), r"custom.json: key 'metric' is 'joules'"),
    (lambda d: d.pop("name"), r"custom.json: key 'name' is missing"),
    (lambda d: d.update(window_sources=["gpio", "psychic"]), r"custom.json: key 'window_sources'"),
    (lambda d: d["parameters"].pop("sample_interval_s"), r"parameters.sample_interval_s is required"),
])
def test_bad_rule_files_name_file_and_key(tmp_path, mutate, message):
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    with pytest.raises(rules.RuleError, match=message):
        rules.load(_write(tmp_path, data))


def test_unreadable_rule_files(tmp_path):
    with pytest.raises(rules.RuleError, match=r"custom.json:3: not valid JSON"):
        rules.load(_write(tmp_path, '{"name": "x",\n "metric": "average-power",\n oops}'))
    with pytest.raises(rules.RuleError, match="no rule set 'mlperf-hpc'; the station has lab, mlperf-inference"):
        rules.load("mlperf-hpc")
    with pytest.raises(rules.RuleError, match="cannot be read"):
        rules.load(str(tmp_path / "missing.json"))
