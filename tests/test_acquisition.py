"""Acquisition: blocks reach every sink in order; a lost instrument is a gap, not a lost run."""

import threading
import time

import numpy as np
import pytest

from instruments.base import (
    AUTO,
    Config,
    Description,
    Driver,
    Identity,
    InstrumentDisconnected,
    Ranges,
)
from station.core.acquisition import InstrumentSession
from station.core.journal import JournalReader
from station.core.recording import Recording
from station.core.samples import Block, Flag
from tests.helpers.sample_blocks import make_block


class BenchSupply:
    """A device on the bench: produces 10 W samples at 100 Hz while it is plugged in."""

    def __init__(self):
        self.plugged = True
        self.t = 1000.0
        self.lock = threading.Lock()

    def take(self, n):
        with self.lock:
            if not self.plugged:
                raise OSError("device not present")
            b = make_block(self.t, n, 0.01, 10.0)
            self.t += n * 0.01
            return b

    def unplug(self, seconds_lost):
        with self.lock:
            self.plugged = False
            self.t += seconds_lost  # time passes while it is away: those samples are lost


class SupplyDriver(Driver):
    """A minimal driver of the interface, speaking to a BenchSupply like a real one would."""

    description = Description(
        name="bench-supply", vendor="test", models=("BS1",), channels=1, quantities=("w",),
        voltage_ranges=(300.0,), current_ranges=(1.0,), fastest_interval_s=0.01,
        slowest_interval_s=1.0, accuracy=None, transports=("none",),
    )

    def __init__(self, device, **options):
        super().__init__(None, **options)
        self.device = device
        self.opened = 0
        self.running = False

    def open(self):
        if not self.device.plugged:
            raise InstrumentDisconnected("bench supply not found")
        self.opened += 1

    def identify(self):
        return Identity("test", "BS1", "0001")

    def configure(self, config):
        pass

    def set_ranges(self, voltage, current):
        pass

    def ranges(self):
        return Ranges(300.0, 1.0)

    def start(self):
        self.running = True

    def read_block(self, timeout=0.5):
        time.sleep(0.005)  # paces the fake supply like a device answering
        try:
            return Block(self.device.take(5))
        except OSError as exc:
            raise InstrumentDisconnected(str(exc)) from exc

    def stop(self):
        self.running = False


def test_sinks_receive_every_block_in_order():
    dev = BenchSupply()
    s = InstrumentSession("i", SupplyDriver(dev), Config(update_interval_s=0.01), AUTO, AUTO)
    got = []
    s.add_sink(got.append)
    s.connect()
    s.start()
    deadline = time.monotonic() + 10
    while sum(map(len, got)) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    s.stop()
    t = np.concatenate(got)["t"]
    assert len(t) >= 200
    assert np.allclose(np.diff(t), 0.01)


def test_unplugged_instrument_is_reported_recorded_as_gap_and_reconnected(tmp_path):
    dev = BenchSupply()
    drv = SupplyDriver(dev)
    s = InstrumentSession("i", drv, Config(update_interval_s=0.01), AUTO, AUTO, reconnect_interval_s=0.05)
    events = []
    s.add_listener(lambda kind, t=None, **d: events.append(kind))
    s.connect()
    rec = Recording(tmp_path / "run", [s])
    rec.start()
    s.start()
    deadline = time.monotonic() + 10
    while rec.monitors["i"].acc.samples < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    dev.unplug(seconds_lost=2.0)
    while "disconnected" not in events and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the outage lasts a while: the stimulus
    dev.plugged = True
    while "reconnected" not in events and time.monotonic() < deadline:
        time.sleep(0.01)
    n_before = rec.monitors["i"].acc.samples
    while rec.monitors["i"].acc.samples < n_before + 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    s.stop()
    summary = rec.finish()

    assert events.index("disconnected") < events.index("reconnected")
    assert drv.opened >= 2
    data = JournalReader(tmp_path / "run").samples()
    gap_at = np.flatnonzero(data["flags"] & int(Flag.GAP_BEFORE))
    assert len(gap_at) == 1
    assert data["t"][gap_at[0]] - data["t"][gap_at[0] - 1] == pytest.approx(2.01)
    assert summary["gaps"] == 1
    kinds = [e["kind"] for e in JournalReader(tmp_path / "run").events()]
    assert "disconnected" in kinds and "reconnected" in kinds and "gap" in kinds


def test_recording_stops_at_exactly_the_duration(tmp_path):
    dev = BenchSupply()
    s = InstrumentSession("i", SupplyDriver(dev), Config(update_interval_s=0.01), AUTO, AUTO)
    s.connect()
    rec = Recording(tmp_path / "run", [s], duration_s=0.5)
    rec.start()
    s.start()
    assert rec.wait(timeout=30)
    s.stop()
    summary = rec.finish()
    assert summary["samples"] == 50
    assert summary["duration_s"] == pytest.approx(0.5)
    assert summary["energy_j"] == pytest.approx(5.0)


def test_a_driver_that_fails_ends_the_session_with_a_clear_error():
    class Broken(SupplyDriver):
        def read_block(self, timeout=0.5):
            raise RuntimeError("firmware said 0xDEAD")

    s = InstrumentSession("i", Broken(BenchSupply()), Config(update_interval_s=0.01))
    events = []
    s.add_listener(lambda kind, t=None, **d: events.append((kind, d)))
    s.connect()
    s.start()
    deadline = time.monotonic() + 10
    while s.state != "failed" and time.monotonic() < deadline:
        time.sleep(0.01)
    s.stop()
    assert s.state == "failed"
    assert "0xDEAD" in s.error
    assert any(k == "error" and "0xDEAD" in d["message"] for k, d in events)


# -- settings while streaming ------------------------------------------------------------------------

def _collect(session):
    blocks, events, lock = [], [], threading.Lock()

    def sink(b):
        with lock:
            blocks.append(b.copy())

    session.add_sink(sink)
    session.add_listener(lambda kind, t, **d: events.append((kind, d)))
    return blocks, events, lock


def _wait(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_settings_change_while_streaming_leaves_no_gap_and_flags_the_change():
    from instruments.sim import SimulatedAnalyzer

    drv = SimulatedAnalyzer(pace=False, update_interval_s=0.001, seed=3)
    s = InstrumentSession("sim0", drv, Config(update_interval_s=0.001), voltage_range=300.0, current_range=10.0)
    blocks, events, lock = _collect(s)
    s.start()
    try:
        _wait(lambda: len(blocks) >= 3)
        with lock:
            n_asked = sum(len(b) for b in blocks)
        worker = s._worker
        ranges = s.apply(Config(update_interval_s=0.001, crest_factor=6.0), 300.0, 20.0)
        with lock:
            n_before = sum(len(b) for b in blocks)
        _wait(lambda: sum(len(b) for b in blocks) > n_before + 500)
    finally:
        s.stop()
    # Same thread, never stopped: no "stopped"/"started" pair around the change.
    assert s._worker is worker
    kinds = [k for k, _ in events]
    assert kinds.count("started") == 1 and kinds.count("stopped") == 1
    applied = [d for k, d in events if k == "settings_applied"]
    assert len(applied) == 1 and applied[0]["while_streaming"]
    assert applied[0]["config"]["crest_factor"] == 6.0
    assert ranges.voltage == 300.0 and ranges.current == 20.0 and not ranges.current_auto
    assert s.config.crest_factor == 6.0 and drv.config.crest_factor == 6.0
    data = np.concatenate(blocks)
    # No hole: consecutive timestamps one interval apart, all through the change.
    steps = np.diff(data["t"])
    assert np.all(steps > 0) and steps.max() < 1.5e-3
    assert not np.any(data["flags"] & int(Flag.GAP_BEFORE))
    # The first sample after the change (and only it, not the ones before) says so.
    changed = np.flatnonzero(data["flags"] & int(Flag.RANGE_CHANGE))
    first_after = changed[0]
    assert n_asked <= first_after and not np.any(data["flags"][:first_after] & int(Flag.RANGE_CHANGE))
    assert np.all(data["a_range"][first_after + 50:] == 20.0)


def test_refused_settings_while_streaming_raise_and_keep_the_old_ones():
    from instruments.base import ConfigurationError
    from instruments.sim import SimulatedAnalyzer

    drv = SimulatedAnalyzer(pace=False, update_interval_s=0.001)
    s = InstrumentSession("sim0", drv, Config(update_interval_s=0.001), current_range=5.0)
    blocks, events, lock = _collect(s)
    s.start()
    try:
        _wait(lambda: len(blocks) >= 2)
        with pytest.raises(ConfigurationError):
            s.apply(current_range=7.77)  # not a range of the meter
        with lock:
            n_before = sum(len(b) for b in blocks)
        _wait(lambda: sum(len(b) for b in blocks) > n_before + 200)
    finally:
        s.stop()
    assert s.current_range == 5.0 and drv.ranges().current == 5.0
    assert s.state == "stopped" and not any(k == "settings_applied" for k, _ in events)


def test_settings_apply_directly_when_not_streaming():
    from instruments.sim import SimulatedAnalyzer

    drv = SimulatedAnalyzer(pace=False)
    s = InstrumentSession("sim0", drv, Config(update_interval_s=0.01))
    s.connect()
    events = []
    s.add_listener(lambda kind, t, **d: events.append((kind, d)))
    s.apply(Config(update_interval_s=0.02), "auto", 2.0)
    assert drv.config.update_interval_s == 0.02 and s.interval_s == 0.02
    assert [d["while_streaming"] for k, d in events if k == "settings_applied"] == [False]


# -- what the simulated analyzer reports beside power --------------------------------------------------

def _stream_sim(seconds: float, **options):
    """A session on the unpaced simulator with the run monitor attached, as the window runs it."""
    from instruments.sim import SimulatedAnalyzer
    from station.core.monitor import RunMonitor

    drv = SimulatedAnalyzer(pace=False, start_time=1.7e9, **options)
    s = InstrumentSession("inst0", drv, Config(update_interval_s=1e-3))
    from_session, from_monitor, blocks = [], [], []
    s.add_listener(lambda kind, t, **d: from_session.append((kind, t, d)))
    mon = RunMonitor("inst0", 1e-3, on_event=lambda kind, t, **d: from_monitor.append((kind, t, d)))
    done = threading.Event()

    def sink(b):
        if not done.is_set():
            blocks.append(b.copy())
            mon.write(b)
            if b["t"][-1] - 1.7e9 >= seconds:
                done.set()

    s.add_sink(sink)
    s.start()
    try:
        assert done.wait(60), "the simulator did not deliver in time"
    finally:
        s.stop()
    return np.concatenate(blocks), from_session, from_monitor


def test_simulated_mains_frequency_is_recorded_and_dc_has_none():
    data, _, _ = _stream_sim(1.0, profile="edge")  # 120 V / 60 Hz
    good = (data["flags"] & int(Flag.INVALID | Flag.OVERRANGE)) == 0
    assert np.all(np.abs(data["hz"][good] - 60.0) < 0.05)
    assert np.isnan(data["hz"][~good & np.isnan(data["v"])]).all()  # no voltage reading, no frequency
    dc, _, _ = _stream_sim(0.3, profile="tiny")  # 3.3 V DC
    assert np.isnan(dc["hz"]).all()


def test_simulator_range_events_have_the_run_monitors_shape():
    """Auto ranging: the instrument's own range events say exactly what the monitor sees in the data."""
    _, from_session, from_monitor = _stream_sim(15.0)  # datacenter: steps down from 50 A, up in warm-up
    inst = [(t, d) for k, t, d in from_session if k == "range"]
    seen = [(t, d) for k, t, d in from_monitor if k == "range"]
    assert len(inst) >= 4
    # The meter comes up on its highest range and steps at the very first sample: only the
    # instrument knows that one (the monitor starts from the first sample's ranges).
    assert inst[0][0] == 1.7e9 and inst[0][1]["previous_current"] == 50.0
    assert inst[1:] == seen
    assert set(inst[0][1]) == {"voltage", "current", "previous_voltage", "previous_current", "instrument"}


def test_a_new_update_interval_on_a_real_time_stream_leaves_no_hole():
    """The window's case: the paced simulator takes a new interval while it measures, so the
    session never stops it (stopping a real-time stream would drop the samples not yet read)."""
    from instruments.sim import SimulatedAnalyzer

    drv = SimulatedAnalyzer(update_interval_s=0.001, seed=5)  # real time, as in the window
    s = InstrumentSession("sim0", drv, Config(update_interval_s=0.001), voltage_range=300.0, current_range=10.0)
    blocks, events, lock = _collect(s)
    s.start()
    try:
        _wait(lambda: sum(len(b) for b in list(blocks)) >= 150)
        s.apply(Config(update_interval_s=0.002))
        with lock:
            n_before = sum(len(b) for b in blocks)
        _wait(lambda: sum(len(b) for b in list(blocks)) > n_before + 100)
    finally:
        s.stop()
    data = np.concatenate(blocks)
    steps = np.diff(data["t"])
    assert steps.max() < 2.5e-3 and steps.min() > 0.5e-3  # 1 ms, then 2 ms: never a hole
    assert np.isclose(steps[-50:], 2e-3, atol=1e-6).all() and np.isclose(steps[:50], 1e-3, atol=1e-6).all()
    assert [k for k, _ in events].count("started") == 1
    first_after = np.flatnonzero(data["flags"] & int(Flag.RANGE_CHANGE))[0]
    assert np.isclose(data["t"][first_after + 1] - data["t"][first_after], 2e-3, atol=1e-6)


def test_a_recording_journals_each_range_step_once(tmp_path):
    """The simulator reports its range steps and the run monitor finds them in the records:
    the journal holds each once, including the first step only the instrument knows."""
    from instruments import registry
    from instruments.base import Config

    session = InstrumentSession("inst0", registry.create("sim", None, seed=3, pace=False, start_time=1.7e9),
                                Config(update_interval_s=1e-3))
    session.connect()
    rec = Recording(tmp_path / "run", [session], duration_s=30.0)
    rec.start()
    session.start()
    try:
        assert rec.wait(timeout=120)
    finally:
        session.stop()
        rec.finish()
    steps = [(e["t"], e["previous_current"], e["current"], e["previous_voltage"], e["voltage"])
             for e in JournalReader(tmp_path / "run").events() if e["kind"] == "range"]
    assert len(steps) >= 4
    assert len(set(steps)) == len(steps), "a range step is in the journal twice"
    assert steps[0][0] == 1.7e9 and steps[0][1] == 50.0  # the meter comes up on its highest range
    data = JournalReader(tmp_path / "run").samples()
    for t, _, a_new, _, v_new in steps[1:]:  # every later step is where the records change range
        i = int(np.searchsorted(data["t"], t))
        assert data["a_range"][i] == a_new and data["v_range"][i] == v_new
        assert (data["a_range"][i - 1], data["v_range"][i - 1]) != (a_new, v_new)


class CountingSupply(SupplyDriver):
    """A SupplyDriver that counts how often it is started and stopped."""

    def __init__(self, device, **options):
        super().__init__(device, **options)
        self.starts = self.stops = 0

    def start(self):
        self.starts += 1
        super().start()

    def stop(self):
        self.stops += 1
        super().stop()


@pytest.mark.parametrize("reconfigures", [False, True])
def test_a_new_interval_restarts_only_a_driver_that_declares_it_cannot_take_it_while_measuring(reconfigures):
    cls = type("Supply", (CountingSupply,), {"reconfigures_while_measuring": reconfigures})
    drv = cls(BenchSupply())
    s = InstrumentSession("i", drv, Config(update_interval_s=0.01), AUTO, AUTO)
    blocks, _, _ = _collect(s)
    s.connect()
    s.start()
    try:
        _wait(lambda: len(blocks) >= 2)
        s.apply(Config(update_interval_s=0.02))
        assert (drv.starts, drv.stops) == ((1, 0) if reconfigures else (2, 1))
        n = len(blocks)
        _wait(lambda: len(blocks) > n + 2)  # and it goes on measuring either way
    finally:
        s.stop()
