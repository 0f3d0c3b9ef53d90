"""The MLPerf Tiny energy procedure with a Joulescope as the monitor: the emulated DUT + interface
board (instruments.fakes.tiny_dut) raise their timestamps on the Joulescope's GPI input, read through
the driver's replay seam on the rig's clock (ten times faster than the wall clock). Emulation only."""

from __future__ import annotations

import types

import numpy as np
import pytest

from instruments.fakes.joulescope import live_frames
from instruments.fakes.tiny_dut import ScaledClock, TinyRig
from instruments.joulescope import Joulescope, ReplaySource
from instruments.transports.serial import SerialTransport
from station.tiny.procedure import run_energy

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
SCALE = 10.0
RATE = 10_000  # source samples per second: 10 per 1 ms output sample


def test_a_tiny_energy_run_with_the_joulescope_as_monitor(tmp_path):
    clock = ScaledClock(SCALE)
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    for i in range(5):
        (dataset / f"tst_{i:06d}.bin").write_bytes(bytes((i * 11 + k) % 256 for k in range(60)))
    with TinyRig(clock) as rig:
        board = types.SimpleNamespace(power_on_at=0.0)  # the Joulescope's sample 0 on the rig clock
        load = rig.load_for(board)
        frames = live_frames(load, RATE, clock, volts=3.0, started=lambda t: setattr(board, "power_on_at", t))
        monitor = Joulescope(ReplaySource(frames, RATE, serial="EMU-JS220"), sample_rate_hz=RATE)
        interface = SerialTransport(rig.port, baudrate=115_200, write_termination="%", timeout=2.0)
        result = run_energy(monitor=monitor, interface=interface, dataset=sorted(dataset.iterdir()),
                            out=tmp_path / "out", clock=clock)
    summary = result.summary()
    assert result.valid, [c["evidence"] for c in summary["checks"] if c["status"] != "pass"]
    windows = summary["windows"]
    assert len(windows) == 5 and all(w["duration_s"] >= 10.0 for w in windows)
    # 9 mA at 3.0 V for 12.5 ms per inference (the rig's busy current), to within its 1 % noise and
    # the +/- 1 ms edges of a window of 10+ s
    expected_uj = rig.busy_a * 3.0 * rig.inference_s * 1e6
    assert summary["median_uj_per_inference"] == pytest.approx(expected_uj, rel=0.01)
    assert (tmp_path / "out" / "results.txt").read_text().count("Energy data for trial") == 5
    assert np.isfinite(summary["median_uj_per_inference"])
