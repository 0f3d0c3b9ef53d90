"""A run of the measurement service ends on time, whatever the instrument does, and keeps its data."""

from __future__ import annotations

import threading
import time

import pytest

from instruments.base import Config, InstrumentDisconnected
from instruments.sim import SimulatedAnalyzer
from station.core.acquisition import InstrumentSession
from station.core.journal import JournalReader
from station.measurement.run import MeasuredRun, RunCancelled, RunFailed


class FallsSilent(SimulatedAnalyzer):
    """Delivers samples for ``live_s`` seconds, then answers but sends nothing (a front-panel HOLD)."""

    def __init__(self, *args, live_s: float = 0.5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.live_s = live_s
        self.started: float | None = None

    def start(self) -> None:
        super().start()
        self.started = time.monotonic()

    def read_block(self, timeout: float = 0.5):
        if time.monotonic() - self.started > self.live_s:
            time.sleep(min(timeout, 0.05))  # a silent device: the read waits, then gives nothing
            return None
        return super().read_block(timeout)


class GoneForGood(SimulatedAnalyzer):
    """Unplugged after a moment and never comes back (reconnects fail forever)."""

    def read_block(self, timeout: float = 0.5):
        raise InstrumentDisconnected("the cable is out")

    def open(self) -> None:
        if getattr(self, "_opened", False):
            raise InstrumentDisconnected("the cable is still out")
        self._opened = True
        super().open()


def _session(driver, interval=0.01) -> InstrumentSession:
    s = InstrumentSession("inst0", driver, Config(update_interval_s=interval), stall_timeout_s=0.5,
                          reconnect_interval_s=0.2)
    s.connect()
    return s


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_a_run_whose_instrument_falls_silent_ends_at_the_deadline_and_keeps_what_it_has(tmp_path):
    session = _session(FallsSilent(seed=1, live_s=0.5))
    run = MeasuredRun(tmp_path / "run", [session], duration_s=2.0, grace_s=1.0)
    t0 = time.monotonic()
    with run:
        run.start()
        ended = run.wait_duration()
    elapsed = time.monotonic() - t0
    session.close()
    assert ended == "deadline"
    assert elapsed < 2.0 + 1.0 + 2.0  # duration + grace, with room for a loaded machine
    assert run.summary["ended_by"] == "deadline"
    samples = JournalReader(tmp_path / "run").samples("inst0")
    assert 10 < len(samples) < 200  # about 0.5 s at 100 Hz was delivered, and it is all kept
    kinds = [e["kind"] for e in JournalReader(tmp_path / "run").events()]
    assert "run_deadline" in kinds


@pytest.mark.timeout(60)
def test_a_run_that_reaches_its_duration_ends_by_duration():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        session = _session(SimulatedAnalyzer(seed=2))
        with MeasuredRun(Path(tmp) / "run", [session], duration_s=0.5, grace_s=5.0) as run:
            run.start()
            assert run.wait_duration() == "duration"
        session.close()
        assert run.summary["state"] == "complete"


@pytest.mark.timeout(60)
def test_no_samples_at_all_fails_the_run_within_the_start_timeout(tmp_path):
    session = _session(FallsSilent(seed=3, live_s=-1.0))
    run = MeasuredRun(tmp_path / "run", [session], start_timeout_s=0.5)
    t0 = time.monotonic()
    with pytest.raises(RunFailed, match="no samples from inst0 within 0.5 s"):
        with run:
            run.start()
            run.wait_first_samples()
    assert time.monotonic() - t0 < 5.0
    session.close()
    assert run.summary["state"] == "failed"


@pytest.mark.timeout(60)
def test_cancel_from_another_thread_ends_the_run_as_cancelled(tmp_path):
    session = _session(SimulatedAnalyzer(seed=4))
    run = MeasuredRun(tmp_path / "run", [session], duration_s=600.0)
    threading.Timer(0.3, run.cancel).start()  # the operator presses Cancel
    with pytest.raises(RunCancelled):
        with run:
            run.start()
            run.wait_duration()
    session.close()
    assert run.summary["state"] == "cancelled"


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_an_instrument_reconnecting_forever_does_not_hold_the_run_past_its_deadline(tmp_path):
    session = _session(GoneForGood(seed=5))
    run = MeasuredRun(tmp_path / "run", [session], duration_s=1.0, grace_s=1.0)
    t0 = time.monotonic()
    try:
        with run:
            run.start()
            ended = run.wait_duration()
    except RunFailed as exc:  # a session may also give up for good: that ends the run at once
        ended = f"failed: {exc}"
    session.close()
    assert time.monotonic() - t0 < 1.0 + 1.0 + 2.0
    assert ended == "deadline" or ended.startswith("failed: inst0 failed")
    assert (tmp_path / "run" / "summary.json").exists()
