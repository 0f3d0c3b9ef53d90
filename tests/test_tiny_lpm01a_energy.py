"""The LPM01A in MLPerf Tiny energy mode, against its pty fake, and the ascii_dec fast path.

Energy mode is what the MLCommons runner sets (output energy, ascii_dec, 1 kHz, falling D7 edges
as events, no time limit, software start); each sample is the energy of 1 ms.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from instruments.base import AUTO, Config
from instruments.fakes.lpm01a import Lpm01aDevice, RecordingSerialTransport, TinyWorkload, encode_ascii
from instruments.lpm01a import ENERGY_MODE_INTERVAL_S, ENERGY_MODE_OPTIONS, LPM01A, AsciiStream
from station.core.samples import Flag

pytestmark = pytest.mark.timeout(90)
DEADLINE_S = 30.0


def energy_driver(device: Lpm01aDevice, volt: float = 3.0) -> tuple[LPM01A, RecordingSerialTransport]:
    transport = RecordingSerialTransport(device.port, baudrate=3_686_400, timeout=2.0)
    driver = LPM01A(transport, target_voltage_v=volt, **ENERGY_MODE_OPTIONS)
    driver.open()
    driver.configure(Config(update_interval_s=ENERGY_MODE_INTERVAL_S))
    driver.set_ranges(AUTO, AUTO)
    return driver, transport


def test_energy_mode_sets_the_board_up_as_the_mlcommons_runner_does():
    with Lpm01aDevice(seed=2) as device:
        driver, transport = energy_driver(device)
        try:
            for cmd in ("output energy", "format ascii_dec", "freq 1k", "eventsrc d7 fal", "acqtime inf",
                        "trigsrc sw", "volt 3"):
                assert cmd in transport.sent, f"{cmd!r} not sent: {transport.sent}"
            assert (device.output, device.format, device.freq, device.eventsrc, device.acqtime) == (
                "energy", "ascii_dec", 1000, "fal", 0.0)
        finally:
            driver.close()


@pytest.mark.slow
def test_energy_samples_and_gpio_events_carry_the_board_sample_index():
    workload = TinyWorkload(period_s=0.2)
    with Lpm01aDevice(seed=4, workload=workload) as device:
        driver, _ = energy_driver(device, volt=3.0)
        try:
            driver.start()
            samples, events = [], []
            deadline = time.monotonic() + DEADLINE_S
            while sum(len(b) for b in samples) < 2500:
                assert time.monotonic() < deadline, "the fake did not stream 2.5 s of samples"
                b = driver.read_block(timeout=0.5)
                if b is not None:
                    samples.append(b.samples)
                    events.extend(e for e in b.events if e.kind == "gpio")
            s = np.concatenate(samples)
            energy_j = s["w"] / 1000.0
            # Idle about 1.1 mA and bursts about 6.3 mA at 3 V: 3.3 uJ to 19 uJ per 1 ms sample.
            assert 2.5e-6 < np.median(energy_j) < 2.2e-5
            assert energy_j[20:].max() < 3e-5 and not (s["flags"] & int(Flag.INVALID)).any()  # after the inrush
            assert len(events) >= 10 and all(e.detail["edge"] == "falling" for e in events)
            numbers = [e.detail["number"] for e in events]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
            marked = np.flatnonzero(s["flags"] & int(Flag.MARK))
            in_range = [e.detail["sample"] for e in events if e.detail["sample"] < len(s)]
            assert set(in_range) <= set(marked.tolist())
            # A burst starts at each falling edge that opens an inference: energy rises there.
            first = in_range[0]
            assert energy_j[first + 5:first + 60].mean() > 2 * energy_j[max(0, first - 40):first - 2].mean()
        finally:
            driver.close()


def _both_paths(data: bytes) -> tuple[list, list]:
    fast = AsciiStream().feed(data)
    general = AsciiStream()
    cut = data.rfind(b"\n")
    return fast, general._lines(data, cut)


def _flat(items: list) -> tuple[np.ndarray, list]:
    values = [i.values for i in items if hasattr(i, "values")]
    metas, n = [], 0
    for i in items:
        if hasattr(i, "values"):
            n += len(i.values)
        else:
            metas.append((n, i.kind, i.detail))
    return (np.concatenate(values) if values else np.empty(0)), metas


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_fast_ascii_path_decodes_exactly_as_the_general_one(newline):
    rng = np.random.default_rng(7)
    out = bytearray()
    for second in range(20):
        rows = encode_ascii(rng.uniform(1e-9, 9e3, 997)).tobytes()
        if newline == b"\n":
            rows = rows.replace(b"\r\n", b"\n")
        out += rows[:(300 * (9 if newline == b"\r\n" else 8))] + b"event 07 fal" + newline
        out += rows[(300 * (9 if newline == b"\r\n" else 8)):]
        out += f"TimeStamp: {second:03d}s 000ms, buff 03%".encode() + newline
    fast, general = _both_paths(bytes(out) + b"1234-05" + newline)
    (fv, fm), (gv, gm) = _flat(fast), _flat(general)
    np.testing.assert_array_equal(fv, gv)
    assert fm == gm and len(fv) == 20 * 997 + 1 and len(fm) == 40


@pytest.mark.parametrize("bad", [b"64:9-07", b"64/9-07", b"6409*07", b"6409-0A", b"640-07\r"])
def test_a_damaged_sample_line_is_never_a_number(bad):
    good = encode_ascii(np.array([6.409e-4] * 50)).tobytes()
    items = AsciiStream().feed(good + bad + b"\r\n" + good)
    values, _ = _flat(items)
    bads = np.concatenate([i.bad for i in items if hasattr(i, "bad")])
    assert len(values) == 101 and bads.sum() == 1 and np.isnan(values[50])
    assert np.allclose(np.delete(values, 50), 6.409e-4)
