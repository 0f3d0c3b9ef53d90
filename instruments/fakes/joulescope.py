"""A Joulescope on the bench, emulated: a synthetic MCU load streamed through the driver's replay seam.

No Joulescope simulator exists (neither from Jetperch nor here): this is a :class:`ReplaySource`
whose frames are computed on the fly from a load model (by default the LPM01A fake's
:class:`~instruments.fakes.lpm01a.TinyWorkload`: about 1 mA idle, 6 mA bursts, a GPIO pulse at the
start and end of each inference) at a fixed supply voltage, paced by the wall clock. The GPI bits
follow the workload's edges (low during each pulse). ``unplug`` makes the stream end with the
device gone; ``plug`` brings it back.

:func:`synthetic_frames` and :func:`write_jls` are also what the driver's tests use to build
streams and JLS files whose exact energy and edge samples they know.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from instruments.fakes.lpm01a import TinyWorkload
from instruments.joulescope import ReplaySource


def gpi_bits(edges: list[tuple[float, str]], t: np.ndarray, level_before: int = 1) -> np.ndarray:
    """The GPI line at times ``t`` given its edges ``(time, 'fal'|'ris')`` (sorted) and its level before them."""
    bits = np.full(t.shape, level_before, dtype=np.uint8)
    for at, edge in edges:
        bits[t >= at] = 0 if edge == "fal" else 1
    return bits


def synthetic_frames(workload: Any, rate_hz: float, volts: float = 3.3, frame_samples: int = 10_000,
                     seed: int = 1, total_samples: int | None = None) -> Callable[[], Iterator]:
    """A frames factory for :class:`ReplaySource`: ``workload.current`` and its GPIO edges, sampled at
    ``rate_hz``; endless unless ``total_samples`` is given. Each start replays from time 0."""

    def frames() -> Iterator:
        rng = np.random.default_rng(seed)
        level = 1
        start = 0
        while total_samples is None or start < total_samples:
            n = frame_samples if total_samples is None else min(frame_samples, total_samples - start)
            t = (start + np.arange(n)) / rate_hz
            ta, tb = start / rate_hz, (start + n) / rate_hz
            edges = workload.edges(ta, tb)
            bits = gpi_bits(edges, t, level)
            level = int(bits[-1])
            yield (workload.current(t, rng).astype(np.float32), np.full(n, volts, np.float32), bits)
            start += n

    return frames


def live_frames(workload: Any, rate_hz: float, clock: Callable[[], float], volts: float = 3.3,
                frame_s: float = 0.05, seed: int = 1, started: Callable[[float], None] | None = None
                ) -> Callable[[], Iterator]:
    """Frames computed as ``clock`` (seconds, e.g. an emulated rig's scaled clock) passes each frame's
    end, from a workload whose schedule is decided as it goes (a DUT answering commands).
    ``started(t)`` is told the clock time of sample 0 at each start."""
    n = max(1, round(frame_s * rate_hz))

    def frames() -> Iterator:
        # Sample 0 is now, when the source starts (not when its thread gets going): a procedure that
        # counts samples from its start() call then agrees with the stream.
        origin = clock()
        if started is not None:
            started(origin)
        return _stream(origin)

    def _stream(origin: float) -> Iterator:
        rng = np.random.default_rng(seed)
        level, start = 1, 0
        while True:
            due = origin + (start + n) / rate_hz
            while clock() < due:
                time.sleep(0.001)
            t = (start + np.arange(n)) / rate_hz
            bits = gpi_bits(workload.edges(start / rate_hz, (start + n) / rate_hz), t, level)
            level = int(bits[-1])
            yield workload.current(t, rng).astype(np.float32), np.full(n, volts, np.float32), bits
            start += n

    return frames


def write_jls(path: str | Path, current: np.ndarray, voltage: np.ndarray, rate_hz: int,
              gpi: np.ndarray | None = None, utc_start: float | None = None, model: str = "JS220",
              serial: str = "000415") -> Path:
    """A JLS v2 file as a Joulescope recording has it: ``current``, ``voltage`` (f32) and ``gpi[0]`` (u1)."""
    import pyjls

    path = Path(path)
    with pyjls.Writer(str(path)) as w:
        w.source_def(source_id=1, name=model.lower(), vendor="Jetperch", model=model, version="emulated",
                     serial_number=serial)
        w.signal_def(signal_id=1, source_id=1, signal_type=pyjls.SignalType.FSR, data_type=pyjls.DataType.F32,
                     sample_rate=rate_hz, name="current", units="A")
        w.signal_def(signal_id=2, source_id=1, signal_type=pyjls.SignalType.FSR, data_type=pyjls.DataType.F32,
                     sample_rate=rate_hz, name="voltage", units="V")
        w.fsr_f32(1, 0, np.ascontiguousarray(current, dtype=np.float32))
        w.fsr_f32(2, 0, np.ascontiguousarray(voltage, dtype=np.float32))
        if gpi is not None:
            w.signal_def(signal_id=3, source_id=1, signal_type=pyjls.SignalType.FSR, data_type=pyjls.DataType.U1,
                         sample_rate=rate_hz, name="gpi[0]", units="")
            w.fsr(3, 0, np.packbits(np.asarray(gpi, dtype=np.uint8), bitorder="little"))
        if utc_start is not None:
            w.utc(1, 0, pyjls.utc_to_jls(utc_start))
    return path


class FakeJoulescope:
    """The emulated instrument: its stream (``source``), what it was asked (``received``), plug state."""

    def __init__(self, workload: Any = None, rate_hz: int = 100_000, volts: float = 3.3, seed: int = 1,
                 realtime: bool = True) -> None:
        self.workload = workload or TinyWorkload()
        self.rate_hz = rate_hz
        self.source = ReplaySource(synthetic_frames(self.workload, rate_hz, volts, frame_samples=rate_hz // 100,
                                                    seed=seed),
                                   rate_hz, model="JS220", serial="EMU0001", realtime=realtime,
                                   resource="joulescope:EMU0001")

    @property
    def received(self) -> list[str]:
        return self.source.sent

    @property
    def present(self) -> bool:
        return self.source.present

    def unplug(self) -> None:
        self.source.present = False

    def plug(self, power_cycle: bool = False) -> None:
        self.source.present = True

    def stall(self) -> None:
        raise NotImplementedError("the emulated Joulescope cannot stall; unplug it instead")

    def resume(self) -> None:
        return None


def joulescope_bench(model: str | None = None, **options: Any):
    """A bench for ``fake_for("joulescope")``: the emulated Joulescope and its stream as the transport."""
    from instruments.base import SystemClock
    from instruments.fakes import FakeBench

    device = FakeJoulescope(**options)
    return FakeBench(device, device.source, SystemClock(), {"sample_rate_hz": device.rate_hz})
