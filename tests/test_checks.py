"""Checks in one shape, each rule in one module with its live and its final form.

The runs are recorded with the real recording and journal code (an instrument session fed with
blocks), so the live forms see the run monitor's events and the final forms read the journal.
"""

from __future__ import annotations

import json
import re
import time
import types
from pathlib import Path

import numpy as np
import pytest

from instruments import registry
from resources import resource_path
from station import rules
from station.bundle.report import build_html
from station.core.acquisition import InstrumentSession
from station.core.recording import Recording
from station.core.samples import Flag
from station.measurement.checks import FAIL, PASS, PENDING, WARN, Check, catalogue
from station.measurement.checks.final import Review, final_checks
from station.measurement.checks.live import LiveChecks, LiveRule
from station.procedure.review import Reviewer
from tests.helpers.sample_blocks import make_block

pytestmark = pytest.mark.timeout(60)

INST = "sim-1"
SECONDS = 6
DT = 0.1


def record(run_dir: Path, watts: float = 500.0, overrange_block: int | None = None, listeners=()) -> tuple:
    """SECONDS blocks of 1 s at ``watts``; the samples of ``overrange_block`` are flagged overrange."""
    session = InstrumentSession(INST, registry.create("sim", None))
    rec = Recording(run_dir, [session])
    rec.listeners.extend(listeners)
    rec.start()
    t0 = time.time()
    for k in range(SECONDS):
        flags = int(Flag.OVERRANGE) if k == overrange_block else 0
        session.deliver(make_block(t0 + k, 10, DT, np.full(10, watts), flags=flags, v_range=300.0, a_range=5.0))
    rec.finish()
    return t0, t0 + SECONDS - DT


def session_of(tmp_path: Path, testing_watts: float = 500.0, overrange_block: int | None = None,
               instruments: list[dict] | None = None, listeners=()) -> tuple[Path, dict]:
    """A session directory with a ranging and a testing run, each with a LoadGen window 1 s inside
    the recording."""
    out = tmp_path / "session"
    runs = []
    for name, kind in (("ranging", "ranging"), ("testing_1", "testing")):
        first, last = record(out / name, 500.0 if kind == "ranging" else testing_watts,
                             overrange_block if kind == "testing" else None,
                             listeners if kind == "testing" else ())
        window = {"begin": first + 1.0, "end": last - 1.0, "source": "loadgen", "label": "power_begin..power_end"}
        runs.append({"name": name, "kind": kind, "dir": name, "state": "complete", "windows": [window],
                     "ranges": {INST: {"voltage": 300.0, "current": 5.0, "voltage_auto": False,
                                       "current_auto": False}}})
    session = {"runs": runs, "scenario": "Offline", "instruments": instruments or [],
               "range_selection": {INST: {"voltage": 300.0, "current": 5.0, "override": False, "why": "test"}}}
    return out, session


def rule_copy(tmp_path: Path, name: str, **params: dict) -> rules.RuleSet:
    """A copy of a shipped rule set with ``params`` added to (or replacing) its parameters."""
    data = json.loads(resource_path("rules", f"{name}.json").read_text(encoding="utf-8"))
    data["parameters"].update(params)
    path = tmp_path / f"{name}-copy.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return rules.load(str(path))


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


# -- the one shape ------------------------------------------------------------------------------------
def test_the_json_form_has_exactly_name_status_evidence_source_and_t_when_set():
    c = Check("clock offset", PASS, "largest offset +3.0 ms", "mlperf-inference: time_sync.py")
    assert c.to_dict() == {"name": "clock offset", "status": "pass", "evidence": "largest offset +3.0 ms",
                           "source": "mlperf-inference: time_sync.py"}
    timed = Check("overrange", FAIL, "sim-1 overranged", "x", t=1700000000.25)
    assert list(timed.to_dict()) == ["name", "status", "evidence", "source", "t"]
    assert Check.from_dict(timed.to_dict()) == timed and Check.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="not one of pass, warn, fail"):
        Check("x", "ok", "")


def test_review_files_of_older_stations_still_load_and_render(tmp_path):
    old = {"name": "overrange", "status": "warn", "message": "sim-1 overranged at 12:00:01.000 UTC",
           "param": "overrange_allowed", "rule": "No overrange", "t": 1.5}
    c = Check.from_dict(old)
    assert (c.evidence, c.source, c.t) == ("sim-1 overranged at 12:00:01.000 UTC", "overrange_allowed", 1.5)
    page = build_html({"bundle_id": "b", "valid": True, "checks": [old]}, [])
    assert "sim-1 overranged at 12:00:01.000 UTC" in page and "WARN" in page


def test_a_damaged_status_is_shown_as_a_failure_that_says_what_was_recorded():
    c = Check.from_dict({"name": "files", "status": "fine", "evidence": "all good", "source": "s"})
    assert c.status == FAIL and "'fine'" in c.evidence and "all good" in c.evidence


def test_no_check_is_written_as_a_dict_anywhere_else():
    root = Path(__file__).resolve().parents[1] / "station"
    home = root / "measurement" / "checks" / "__init__.py"
    found = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p != home
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"[\"']evidence[\"']\s*:|evidence=", line)]
    assert found == []


# -- one rule, two forms ------------------------------------------------------------------------------
def test_the_same_overrange_rule_fails_the_run_live_and_in_the_review(tmp_path):
    rs = rules.load("mlperf-inference", {"min_testing_s": 1.0})
    live = LiveChecks(rs, "testing")
    assert live.checks["overrange"].status == PASS
    out, session = session_of(tmp_path, overrange_block=3, listeners=[live.on_event])
    seen = live.checks["overrange"]
    assert seen.status == FAIL and "larger range" in seen.evidence and seen.t is not None
    final = by_name(final_checks(Review(out, session, rs)))["testing_1 sim-1: overrange"]
    assert final.status == FAIL and "10 overrange samples inside the window" in final.evidence
    assert seen.source == final.source and "check_ptd_logs" in final.source  # one rule, one source


def test_a_parameter_added_to_a_copy_of_a_rule_set_reaches_the_live_and_the_final_form(tmp_path):
    plain = rules.load("lab")
    assert "duration" not in LiveChecks(plain, "testing").checks  # the lab rule set has no minimum
    out, session = session_of(tmp_path)
    assert not any(c.name.endswith(": duration") for c in final_checks(Review(out, session, plain)))

    rs = rule_copy(tmp_path, "lab", min_testing_s={"value": 30.0, "unit": "s", "rule": "at least 30 s",
                                                  "source": "our lab manual §3"})
    live = LiveChecks(rs, "testing")
    assert live.checks["duration"].status == PENDING and "our lab manual §3" in live.checks["duration"].source
    live.workload(started=100.0, ended=110.0)
    live.tick([], now=111.0)
    assert live.checks["duration"].status == FAIL and "shorter than the minimum 30 s" in live.checks["duration"].evidence
    final = by_name(final_checks(Review(out, session, rs)))["testing_1: duration"]
    assert final.status == FAIL and "minimum 30 s" in final.evidence and "our lab manual §3" in final.source


def _peak_rule() -> types.ModuleType:
    """A rule module as a new rule would be written: its parameter, its live and its final form."""
    mod = types.ModuleType("peak_rule")
    mod.PARAMETERS = {"max_peak_w": rules.ParamSpec("float", 0.0)}

    class Live(LiveRule):
        def tick(self, snapshots, now):
            limit = self.live.rules.get("max_peak_w")
            peak = max((s.get("max_w") or 0.0 for s in snapshots), default=0.0)
            if limit is not None and peak > limit:
                self.live.set("peak", FAIL, f"peak {peak:g} W above {limit:g} W", "max_peak_w")

    def final(review):
        limit = review.rules.get("max_peak_w")
        return [review.check(f"{run.name}: peak", FAIL if run.total["peak_w"] > limit else PASS,
                             f"peak {run.total['peak_w']:g} W, at most {limit:g} W", "max_peak_w")
                for run in review.testing if limit is not None]

    mod.Live, mod.final = Live, final
    return mod


def test_a_new_rule_is_one_module_and_one_json_field(tmp_path, monkeypatch):
    field = {"value": 400.0, "unit": "W", "rule": "peak at most 400 W", "source": "our lab manual §4"}
    with pytest.raises(rules.RuleError, match="max_peak_w: unknown rule parameter"):
        rule_copy(tmp_path, "lab", max_peak_w=field)
    monkeypatch.setattr(catalogue, "RULES", [*catalogue.RULES, _peak_rule()])
    rs = rule_copy(tmp_path, "lab", max_peak_w=field)
    live = LiveChecks(rs, "testing")
    live.tick([{"max_w": 500.0}], now=0.0)
    assert live.checks["peak"].status == FAIL and "our lab manual §4" in live.checks["peak"].source
    out, session = session_of(tmp_path)
    review = Reviewer(out, session, rs).run()
    peak = {c["name"]: c for c in review["checks"]}["testing_1: peak"]
    assert peak["status"] == FAIL and "peak 500 W" in peak["evidence"] and not review["valid"]


def test_ranging_vs_testing_warns_live_and_fails_in_the_review_when_testing_draws_less(tmp_path):
    rs = rules.load("mlperf-inference", {"min_testing_s": 1.0})
    live = LiveChecks(rs, "testing", ranging_average_w=500.0)
    assert live.checks["testing_vs_ranging"].status == PENDING
    live.workload(started=time.time())
    live.tick([{"avg_w": 400.0}])
    assert live.checks["testing_vs_ranging"].status == WARN and "-20.00 %" in live.checks["testing_vs_ranging"].evidence
    out, session = session_of(tmp_path, testing_watts=400.0)
    final = by_name(final_checks(Review(out, session, rs)))["testing_1: testing vs ranging power"]
    assert final.status == FAIL and "-20.00 %" in final.evidence and "phases_check" in final.source


def test_a_range_change_while_testing_with_fixed_ranges_is_flagged_live():
    live = LiveChecks(rules.load("mlperf-inference"), "testing")
    live.on_event("range", t=1.0, instrument=INST, voltage=150.0, current=5.0, previous_voltage=300.0,
                  previous_current=5.0)
    c = live.checks["fixed_ranges"]
    assert c.status == WARN and "300.0 V / 5.0 A -> 150.0 V / 5.0 A" in c.evidence
    ranging = LiveChecks(rules.load("mlperf-inference"), "ranging")
    ranging.on_event("range", t=1.0, instrument=INST, voltage=150.0, current=5.0)
    assert "fixed_ranges" not in ranging.checks  # auto ranges are the point of ranging


def test_every_rule_module_declares_its_parameters_and_has_a_final_form():
    named = {"duration", "uncertainty", "overrange", "dropped_samples", "clock_offset", "clock_stability",
             "ranging_vs_testing", "instrument", "workload_window", "range_selection", "calibration"}
    modules = {m.__name__.rsplit(".", 1)[-1]: m for m in catalogue.RULES}
    assert named <= set(modules)
    for name in named:
        assert callable(modules[name].final) and issubclass(modules[name].Live, LiveRule), name
    declared = [p for m in catalogue.RULES for p in m.PARAMETERS]
    assert len(declared) == len(set(declared))  # each parameter belongs to one rule


# -- calibration ----------------------------------------------------------------------------------------
def _inst(due: str | None) -> dict:
    return {"id": INST, "identity": {"serial": "C1234"}, "calibration_due": due}


@pytest.mark.parametrize(("rule_set", "due", "status"), [
    ("mlperf-inference", "2020-01-31", FAIL),
    ("lab", "2020-01-31", WARN),
    ("mlperf-inference", None, WARN),
    ("mlperf-inference", "2999-12-31", PASS),
])
def test_calibration_due_dates_are_judged_by_the_rule_set(tmp_path, rule_set, due, status):
    rs = rules.load(rule_set, {"min_testing_s": 1.0} if rule_set != "lab" else None)
    out, session = session_of(tmp_path, instruments=[_inst(due)])
    review = Reviewer(out, session, rs).run()
    c = {x["name"]: x for x in review["checks"]}[f"calibration {INST}"]
    assert c["status"] == status
    assert INST in c["evidence"] and "C1234" in c["evidence"]
    if due is not None:
        assert due in c["evidence"]
    else:
        assert "no calibration due date" in c["evidence"]
    assert review["valid"] == (status != FAIL)


def test_calibration_required_in_a_copy_of_the_lab_rules_makes_an_expired_one_fail_live_and_final(tmp_path):
    rs = rule_copy(tmp_path, "lab", calibration_required={"value": True, "rule": "calibrated analyzers only",
                                                          "source": "our quality manual §1"})
    live = LiveChecks(rs, "testing", instruments=[_inst("2020-01-31")])
    assert live.checks[f"calibration {INST}"].status == FAIL
    out, session = session_of(tmp_path, instruments=[_inst("2020-01-31")])
    c = by_name(final_checks(Review(out, session, rs)))[f"calibration {INST}"]
    assert c.status == FAIL and "our quality manual §1" in c.source and "due 2020-01-31, before the run" in c.evidence
