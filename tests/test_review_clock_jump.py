"""A step of the computer's clock during a run is not absorbed: the review and the live checks say so.

The runs are recorded with the real recording and journal code (:class:`Recording` over an
instrument session fed with blocks) on a fake clock whose wall time jumps while its monotonic
time goes on, so the journal holds the ``clock_jump`` events a real jump leaves there.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from instruments import registry
from instruments.fakes.clock import FakeClock
from station import rules
from station.core.acquisition import InstrumentSession
from station.core.clockwatch import describe_clock_jumps
from station.core.journal import JournalReader
from station.core.recording import Recording
from station.procedure.checks import FAIL, PASS, WARN, LiveChecks
from station.procedure.review import Reviewer
from tests.helpers.sample_blocks import make_block

DT = 0.1  # 10 samples per second, one block per second
SECONDS = 8
INST = "sim-1"
SHORT = {"min_testing_s": 1.0, "settle_s": 0.0}


def record(run_dir: Path, jumps: dict[int, float], listeners=()) -> tuple[float, float]:
    """SECONDS blocks of 1 s at 500 W; before block k the wall clock jumps by ``jumps[k]`` seconds.

    The sample times are the analyzer's own (t0 + i * DT, one time base for the whole run), as
    an analyzer that counts its samples reports them. Returns the first and last sample time.
    """
    clock = FakeClock(start_utc=time.time())
    session = InstrumentSession(INST, registry.create("sim", None))
    rec = Recording(run_dir, [session], clock=clock)
    rec.listeners.extend(listeners)
    rec.start()
    t0 = clock.time()
    for k in range(SECONDS):
        if k in jumps:
            clock.jump(jumps[k])
        session.deliver(make_block(t0 + k, 10, DT, np.full(10, 500.0), v_range=300.0, a_range=5.0))
        clock.advance(1.0)
    rec.finish()
    return t0, t0 + SECONDS - DT


def make_session(tmp_path: Path, ranging_jumps: dict[int, float], testing_jumps: dict[int, float]) -> tuple:
    out = tmp_path / "session"
    runs = []
    for name, kind, jumps in (("ranging", "ranging", ranging_jumps), ("testing_1", "testing", testing_jumps)):
        first, last = record(out / name, jumps)
        window = {"begin": first + 1.0, "end": last - 1.0, "source": "loadgen", "label": "power_begin..power_end"}
        runs.append({"name": name, "kind": kind, "dir": name, "state": "complete", "windows": [window],
                     "ranges": {INST: {"voltage": 300.0, "current": 5.0, "voltage_auto": False,
                                       "current_auto": False}}})
    session = {"runs": runs, "scenario": "Offline",
               "range_selection": {INST: {"voltage": 300.0, "current": 5.0, "override": False, "why": "test"}}}
    return out, session


def spans(text: str) -> list[tuple[float, float]]:
    """The "between A s and B s into the run" of each jump described in ``text``."""
    return [(float(a), float(b)) for a, b in re.findall(r"between ([\d.-]+) s and ([\d.-]+) s into the run", text)]


def expected_span(run_dir: Path, k: int) -> tuple[float, float]:
    """Where a jump before block k lies in the run: between the checks of blocks k-1 and k,
    counted from the recording's start (which comes a moment after the fake clock's zero)."""
    reader = JournalReader(run_dir)
    start = next(e["t"] for e in reader.events() if e["kind"] == "recording_started")
    t0 = float(reader.samples(INST)["t"][0])
    return t0 + k - 1 - start, t0 + k - start


def by_name(review: dict) -> dict[str, dict]:
    return {c["name"]: c for c in review["checks"]}


def review_of(tmp_path: Path, ranging_jumps: dict[int, float], testing_jumps: dict[int, float]) -> dict:
    out, session = make_session(tmp_path, ranging_jumps, testing_jumps)
    return Reviewer(out, session, rules.load("mlperf-inference", SHORT)).run()


def test_without_a_jump_both_runs_have_a_stable_clock_and_the_session_is_valid(tmp_path):
    review = review_of(tmp_path, {}, {})
    checks = by_name(review)
    assert review["valid"], review["summary"]
    assert checks["ranging: clock_stable"]["status"] == PASS
    assert checks["testing_1: clock_stable"]["status"] == PASS
    assert "did not jump" in checks["testing_1: clock_stable"]["evidence"]


def test_a_clock_jump_in_the_testing_run_makes_it_not_valid_and_says_when_how_far_and_why(tmp_path):
    review = review_of(tmp_path, {}, {3: 3600.0, 5: -3630.0})
    checks = by_name(review)
    assert not review["valid"]
    failed = [c["name"] for c in review["checks"] if c["status"] == FAIL]
    assert failed == ["testing_1: clock_stable"], failed  # the jump alone makes the run invalid
    c = checks["testing_1: clock_stable"]
    ev = c["evidence"]
    assert "(2 jumps)" in ev
    # how large and which way, in the order they happened
    assert ev.index("forward by 3600.000 s") < ev.index("back by 3630.000 s")
    # when: the position in the run on the run's own time base, whatever the clock read then
    (a, b) = spans(ev)
    run_dir = tmp_path / "session" / "testing_1"
    assert a == pytest.approx(expected_span(run_dir, 3), abs=0.006)  # 2 decimals in the text
    assert b == pytest.approx(expected_span(run_dir, 5), abs=0.006)
    assert a[0] == pytest.approx(2.0, abs=1.0)
    assert ev.count(" UTC") == 4  # the clock's reading before and after each jump
    # why it matters, and what to do
    assert "Power samples and LoadGen timestamps can no longer be aligned" in ev
    assert "not valid" in ev and "repeat testing" in ev
    assert "CRITICAL_DIFFERENCE_TIME_MS" in c["source"]  # the rule it breaks: one clock within 400 ms
    assert "testing_1: clock_stable" in review["summary"]
    assert checks["ranging: clock_stable"]["status"] == PASS


def test_a_clock_jump_while_ranging_is_a_warning_only(tmp_path):
    review = review_of(tmp_path, {4: -2.0}, {})
    checks = by_name(review)
    assert review["valid"], review["summary"]
    c = checks["ranging: clock_stable"]
    assert c["status"] == WARN
    assert "while ranging (one jump): back by 2.000 s between " in c["evidence"]
    assert spans(c["evidence"])[0] == pytest.approx(expected_span(tmp_path / "session" / "ranging", 4), abs=0.006)
    assert "repeat ranging" in c["evidence"]
    assert checks["testing_1: clock_stable"]["status"] == PASS


def test_the_journal_of_a_recording_holds_what_the_review_reads(tmp_path):
    """The review reads the events the recording wrote: kind, size, clock before and after."""
    record(tmp_path / "run", {2: 3600.0, 6: -3630.0})
    events = JournalReader(tmp_path / "run").events()
    jumps = [e for e in events if e["kind"] == "clock_jump"]
    assert [round(e["jump_s"], 6) for e in jumps] == [3600.0, -3630.0]
    start = next(e["t"] for e in events if e["kind"] == "recording_started")
    told = describe_clock_jumps(jumps, start)
    assert told[0].startswith("forward by 3600.000 s between ") and told[1].startswith("back by 3630.000 s between ")
    assert spans(told[0])[0] == pytest.approx(expected_span(tmp_path / "run", 2), abs=0.006)
    # on the run's own time base (5 to 6 s in), not what the clock read then
    assert spans(told[1])[0] == pytest.approx(expected_span(tmp_path / "run", 6), abs=0.006)
    assert "seen by sim-1's data" in told[0]


@pytest.mark.parametrize(("kind", "status"), [("testing", FAIL), ("ranging", WARN)])
def test_live_checks_flag_the_jump_while_the_run_records(tmp_path, kind, status):
    live = LiveChecks(rules.load("mlperf-inference", SHORT), kind)
    assert live.checks["clock_stable"].status == PASS
    record(tmp_path / "run", {3: 3600.0}, listeners=[live.on_event])
    c = live.checks["clock_stable"]
    assert c.status == status
    assert "jumped forward by 3600.000 s" in c.evidence
    if kind == "testing":
        assert "can no longer be aligned" in c.evidence and "invalid" in c.evidence
        assert [x.name for x in live.failed] == ["clock_stable"]
    else:
        assert "while ranging" in c.evidence and not live.failed
