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
from tests.conftest import make_block


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
        time.sleep(0.005)
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
    time.sleep(0.2)
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
