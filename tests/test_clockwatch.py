"""Clock jumps are noticed with their direction and size; slow corrections are not jumps."""

import pytest

from instruments.fakes.clock import FakeClock
from station.core.clockwatch import ClockWatch


def test_jumps_forward_and_back_are_reported_with_their_size():
    clock = FakeClock()
    watch = ClockWatch(clock, threshold_s=0.5)
    clock.advance(1.0)
    assert watch.check() is None
    clock.jump(3600.0)
    clock.advance(0.1)
    j = watch.check()
    assert j is not None and j.jump_s == pytest.approx(3600.0) and "forward by 3600.000 s" in j.describe()
    clock.jump(-2.0)
    j = watch.check()
    assert j.jump_s == pytest.approx(-2.0) and "back by 2.000 s" in j.describe()
    assert len(watch.jumps) == 2
    assert watch.check() is None


def test_slewing_below_the_threshold_is_not_a_jump():
    clock = FakeClock()
    watch = ClockWatch(clock, threshold_s=0.5)
    for _ in range(1000):  # NTP slewing: 5 ms per check, 5 s in total
        clock.advance(1.0)
        clock.jump(0.005)
        assert watch.check() is None


def test_threshold_must_be_positive():
    with pytest.raises(ValueError):
        ClockWatch(FakeClock(), threshold_s=0)


def test_a_recording_writes_clock_jumps_to_the_journal(tmp_path):
    import numpy as np

    from instruments import registry
    from station.core.acquisition import InstrumentSession
    from station.core.journal import JournalReader
    from station.core.recording import Recording
    from tests.helpers.sample_blocks import make_block

    clock = FakeClock()
    session = InstrumentSession("inst0", registry.create("sim", None))
    rec = Recording(tmp_path / "run", [session], clock=clock)
    rec.start()
    t0 = clock.time()
    session.deliver(make_block(t0, 10, 0.1, np.full(10, 5.0)))
    clock.advance(1.0)
    clock.jump(-30.0)  # someone sets the computer's clock back half a minute
    session.deliver(make_block(t0 + 1, 10, 0.1, np.full(10, 5.0)))
    summary = rec.finish()
    jumps = [e for e in JournalReader(tmp_path / "run").events() if e["kind"] == "clock_jump"]
    assert len(jumps) == 1 and jumps[0]["jump_s"] == pytest.approx(-30.0)
    assert "back by 30.000 s" in jumps[0]["message"]
    # The run summary lists it too, and `station run` prints it where the operator reads the result.
    from station.core.summary import format_summary

    assert [j["jump_s"] for j in summary["clock_jumps"]] == [pytest.approx(-30.0)]
    assert "CLOCK JUMP  the computer's clock jumped back by 30.000 s" in format_summary(summary)
