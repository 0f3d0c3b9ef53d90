"""The LPM01A driver against its pty fake: both data formats, every fault, refusals, clean release.

The fake is a board behind a real pseudo-terminal, streaming in real time; the driver opens its
port name through the ordinary serial transport, as it would open /dev/ttyACM0. Waits are on
data with generous deadlines (the machine may be loaded), never on short sleeps.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from instruments.base import AUTO, Config, ConfigurationError, InstrumentDisconnected
from instruments.fakes import fake_for
from instruments.fakes.lpm01a import Lpm01aDevice, RecordingSerialTransport, encode_ascii, encode_binary
from instruments.lpm01a import LPM01A, AsciiStream, BinaryStream, decode_ascii_value
from station.core.acquisition import InstrumentSession
from station.core.samples import Flag

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_S = 30.0  # a loaded machine may be slow; a working stream needs far less


@pytest.fixture
def board():
    with Lpm01aDevice(seed=3) as device:
        yield device


def connect(device: Lpm01aDevice, rate: float, current=AUTO, **options) -> tuple[LPM01A, RecordingSerialTransport]:
    transport = RecordingSerialTransport(device.port, baudrate=3_686_400, timeout=2.0)
    driver = LPM01A(transport, **options)
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=1.0 / rate))
    driver.set_ranges(AUTO, current)
    return driver, transport


def blocks(driver: LPM01A, count: int, on_block=None) -> list:
    """The next ``count`` blocks holding samples (events-only blocks are kept in the list too)."""
    out, got = [], 0
    deadline = time.monotonic() + DEADLINE_S
    while got < count:
        assert time.monotonic() < deadline, f"only {got} of {count} seconds of samples arrived"
        b = driver.read_block(timeout=0.5)
        if b is None:
            continue
        out.append(b)
        if len(b):
            got += 1
            if on_block:
                on_block(got)
    return out


def samples_of(bs: list) -> np.ndarray:
    return np.concatenate([b.samples for b in bs if len(b)])


def events_of(bs: list, kind: str) -> list:
    return [e for b in bs for e in b.events if e.kind == kind]


# -- formats, without a board ------------------------------------------------------------------------
def test_documented_number_formats_decode_to_the_same_current():
    # ST's table: 6409-07 <=> 640.9 uA in ascii_dec; 52A0 <=> 0x2A0 x 16^-5 in bin_hexa.
    assert decode_ascii_value("6409-07") == pytest.approx(640.9e-6)
    stream = BinaryStream()
    out = stream.feed(bytes.fromhex("52A0") + b"\xf0\xf3" + (1000).to_bytes(4, "big") + bytes([7]) + b"\xff\xff")
    assert out[0].values[0] == pytest.approx(0x2A0 / 16**5) and out[0].values[0] == pytest.approx(640.9e-6, rel=1e-3)
    assert (out[1].kind, out[1].detail) == ("timestamp", {"ms": 1000, "buffer": 7})
    with pytest.raises(ValueError):
        decode_ascii_value("640.9u")
    # The fake's encoders round-trip through the driver's parsers within their resolution.
    currents = np.array([2e-9, 3.3e-7, 640.9e-6, 6.3e-3, 0.049])
    ascii_values = AsciiStream().feed(encode_ascii(currents).tobytes())[0].values
    np.testing.assert_allclose(ascii_values, currents, rtol=1e-3)
    binary_values = BinaryStream().feed(encode_binary(currents) + b"\xf0\xf4\xff\xff")[0].values
    np.testing.assert_allclose(binary_values, currents, rtol=2.5e-3)


def test_ascii_parser_keeps_order_across_split_chunks_and_flags_garbage():
    text = (b"6409-07\r\n1100-06\r\nevent 01 fal\r\n63\x0000-07\r\n6300-06\r\n"
            b"TimeStamp: 001s 000ms, buff 100%\r\nPowerShield > ack stop\r\nAcquisition completed\r\n")
    stream = AsciiStream()
    items = []
    for i in range(0, len(text), 5):  # the port delivers arbitrary pieces
        items += stream.feed(text[i:i + 5])
    values = np.concatenate([x.values for x in items if hasattr(x, "values")])
    bad = np.concatenate([x.bad for x in items if hasattr(x, "bad")])
    np.testing.assert_allclose(values[[0, 1, 3]], [640.9e-6, 1.1e-3, 6.3e-3])
    assert bad.tolist() == [False, False, True, False] and math.isnan(values[2])  # never a number
    kinds = [x.kind for x in items if hasattr(x, "kind")]
    assert kinds == ["event", "timestamp", "text", "end"]
    assert stream.garbled == 1


def test_parsers_survive_random_bytes_without_inventing_numbers():
    rng = np.random.default_rng(7)
    for stream in (AsciiStream(), BinaryStream()):
        for _ in range(200):
            chunk = bytes(rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8))
            if rng.random() < 0.3:
                chunk += b"12zz-0y\r\n~~~~~~~\r\n"  # sample-shaped garbage
            for item in stream.feed(chunk):
                if hasattr(item, "values"):
                    assert np.isnan(item.values[item.bad]).all()
                    ok = item.values[~item.bad]
                    assert np.isfinite(ok).all() and (ok >= 0).all()
    # The sample-shaped garbage never passed for a sample in ascii_dec.
    stream = AsciiStream()
    items = stream.feed(b"12zz-0y\r\n~~~~~~~\r\n6409-07\r\n")
    assert items[0].bad.tolist() == [True, True, False] and stream.garbled == 2


# -- happy paths ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ascii_dec_stream_power_gpio_marks_and_clean_release(board):
    driver, transport = connect(board, 1000)
    ident = driver.identify()
    assert (ident.vendor, ident.model, ident.serial, ident.firmware) == (
        "STMicroelectronics", "X-NUCLEO-LPM01A", "540554545-1430736921-1900587", "1.0.7")
    assert transport.sent[:4] == ["htc", "stop", "powershield", "version"]  # stop: in case it still streams
    assert {"volt 3300m", "freq 1k", "acqtime 0", "format ascii_dec", "output current", "trigsrc sw",
            "eventsrc d7 fal", "pwr auto", "acqmode dyn"} <= set(transport.sent)
    driver.start()
    bs = blocks(driver, 2)
    s = samples_of(bs)
    assert len(s) == 2000 and [len(b) for b in bs if len(b)] == [1000, 1000]  # one block per TimeStamp
    np.testing.assert_allclose(s["t"] - s["t"][0], np.arange(2000) * 1e-3, atol=1e-6)  # the board's clock
    assert abs(s["t"][0] - time.time()) < 10
    # Power is the supply voltage times the measured current; an MCU idling at ~1 mA, bursts ~6 mA.
    np.testing.assert_allclose(s["w"], 3.3 * s["a"].astype(np.float64), rtol=1e-6)
    assert np.all(s["v"] == np.float32(3.3)) and np.all(s["a_range"] == np.float32(0.05))
    assert 1e-3 < np.median(s["a"]) < 2e-3 and 5e-3 < np.percentile(s["a"], 95) < 8e-3
    assert np.all(s["uncert"] == np.float32(0.02))
    gpio = events_of(bs, "gpio")
    marked = np.flatnonzero(s["flags"] & int(Flag.MARK))
    assert len(gpio) >= 10 and len(marked) == len(gpio)  # two edges per inference, 4 inferences/s
    assert {e.detail["edge"] for e in gpio} == {"falling"} and all(e.detail["line"] == 7 for e in gpio)
    np.testing.assert_array_equal(s["t"][marked], [e.t for e in gpio])
    assert not (s["flags"] & int(Flag.INVALID | Flag.GAP_BEFORE | Flag.OVERRANGE)).any()
    driver.close()
    assert board.received[-2:] == ["stop", "hrc"] and not board.host and not board.acquiring
    assert not transport.is_open
    # The port is free again: another program can take the board.
    other, _ = connect(board, 1000)
    other.close()


@pytest.mark.slow
def test_bin_hexa_stream_at_100_khz(board):
    driver, transport = connect(board, 100_000)
    assert "format bin_hexa" in transport.sent and "freq 100k" in transport.sent
    driver.start()
    bs = blocks(driver, 2)
    s = samples_of(bs)
    assert len(s) == 200_000
    np.testing.assert_allclose(s["t"] - s["t"][0], np.arange(200_000) * 1e-5, atol=1e-6)
    assert not (s["flags"] & int(Flag.INVALID | Flag.GAP_BEFORE)).any()
    assert 1e-3 < np.median(s["a"]) < 2e-3 and 5e-3 < np.percentile(s["a"], 95) < 8e-3
    assert len(events_of(bs, "gpio")) >= 10
    assert driver.stats["lost"] == 0 and driver.stats["garbled"] == 0
    driver.close()
    assert board.received[-2:] == ["stop", "hrc"]


def test_energy_output_static_mode_and_target_power_off_on_close(board):
    driver, transport = connect(board, 1000, current=0.2, output="energy", target_voltage_v=1.8,
                                power_off_on_close=True)
    assert {"output energy", "acqmode stat", "volt 1800m"} <= set(transport.sent)
    r = driver.ranges()
    assert (r.current, r.current_auto, r.voltage) == (0.2, False, 1.8)
    driver.start()
    s = samples_of(blocks(driver, 1))
    # Energy per 1 ms period becomes power: w = E x freq, a = w / V.
    assert 1e-3 < np.median(s["a"]) < 2e-3
    np.testing.assert_allclose(s["w"], 1.8 * s["a"].astype(np.float64), rtol=1e-6)
    assert np.all(s["a_range"] == np.float32(0.2))
    assert board.target_on
    driver.close()
    assert board.received[-3:] == ["stop", "pwr off", "hrc"] and not board.target_on


# -- faults --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_garbage_and_truncated_lines_are_flagged_never_numbers(board):
    driver, _ = connect(board, 1000)
    driver.start()
    board.inject_garbage(b"\x00#~%\x7f")  # glued to the front of a sample line: that sample is garbled

    def inject(second):
        if second == 1:
            board.truncate_next()  # "640" + the next line: two samples become one garbled line
        elif second == 2:
            board.inject_garbage(b"*noise*\r\n")  # a line of its own, with no sample in it

    bs = blocks(driver, 3, inject)
    s = samples_of(bs)
    invalid = (s["flags"] & int(Flag.INVALID)) != 0
    assert invalid.sum() == 2  # the glued line and the merged line; the stray line was dropped
    assert np.isnan(s["w"][invalid]).all() and np.isnan(s["uncert"][invalid]).all()
    assert np.isfinite(s["w"][~invalid]).all()
    assert driver.stats["garbled"] == 3
    gaps = events_of(bs, "gap")
    assert [g.detail["missing_samples"] for g in gaps] == [1]  # the truncation lost one sample
    assert ((s["flags"] & int(Flag.GAP_BEFORE)) != 0).sum() == 1
    assert len(s) == 3000 - 1
    assert s["t"][-1] == pytest.approx(s["t"][0] + 2.999, abs=1e-6)  # times stay on the board's clock
    driver.close()


@pytest.mark.slow
def test_buffer_overflow_is_a_gap_with_buffer_event_and_true_times(board):
    driver, _ = connect(board, 1000)
    driver.start()
    board.overflow(250)
    bs = blocks(driver, 2)
    s = samples_of(bs)
    assert len(s) == 2000 - 250
    gaps = events_of(bs, "gap")
    assert len(gaps) == 1 and gaps[0].detail["missing_samples"] == 250
    assert "buffer was full" in gaps[0].detail["message"]
    full = [e for e in events_of(bs, "buffer") if e.detail["percent"] == 100]
    assert full and "samples are being lost" in full[0].detail["message"]
    after = np.flatnonzero(s["flags"] & int(Flag.GAP_BEFORE))
    assert len(after) == 1
    i = int(after[0])
    assert s["t"][i] - s["t"][i - 1] == pytest.approx(0.251, abs=1e-6)  # the hole is where time says
    assert not (s["flags"] & int(Flag.INVALID)).any()
    assert driver.stats["lost"] == 250 == board.dropped
    driver.close()


@pytest.mark.slow
def test_binary_garbage_makes_its_second_invalid_not_wrong(board):
    driver, _ = connect(board, 20_000)
    driver.start()
    board.inject_garbage(b"\x13\x37\x42")  # three stray bytes: every word after them is misaligned
    bs = blocks(driver, 2)
    s = samples_of(bs)
    assert len(s) == 40_000  # the count per second still holds: no gap
    bad = ((s["flags"] & int(Flag.INVALID)) != 0).reshape(2, 20_000)
    assert bad.all(axis=1).tolist() == [True, False] and not bad[1].any()
    assert np.isnan(s["w"][:20_000]).all() and np.isfinite(s["w"][20_000:]).all()
    assert driver.stats["invalid_seconds"] == 1 and not events_of(bs, "gap")
    driver.close()


@pytest.mark.slow
def test_unplugged_board_is_reported_and_the_session_reconnects(board):
    transport = RecordingSerialTransport(board.port, baudrate=3_686_400, timeout=2.0)
    session = InstrumentSession("lpm", LPM01A(transport), Config(update_interval_s=1e-3),
                                reconnect_interval_s=0.2)
    got, events, lock = [], [], threading.Lock()
    session.add_sink(lambda b: got.append(b.copy()))
    session.add_listener(lambda kind, t=None, **d: (lock.acquire(), events.append((kind, d)), lock.release()))
    session.connect()
    session.start()
    deadline = time.monotonic() + DEADLINE_S
    while not got:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    board.unplug()
    while not any(k == "disconnected" for k, _ in events):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    message = next(d["message"] for k, d in events if k == "disconnected")
    assert "LPM01A" in message and board.port in message
    board.plug()
    while not any(k == "reconnected" for k, _ in events) or len(got) < 2:
        assert time.monotonic() < deadline, [k for k, _ in events]
        time.sleep(0.05)
    session.close()
    after = np.concatenate(got[1:])
    assert after["flags"][0] & int(Flag.GAP_BEFORE)
    assert board.received[-2:] == ["stop", "hrc"]


def test_open_stops_a_stream_left_running_by_a_dead_program(board):
    crashed, transport = connect(board, 1000)
    crashed.start()
    transport.close()  # the program died: no stop, no hrc; the board keeps streaming
    deadline = time.monotonic() + DEADLINE_S
    while board.produced < 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert board.acquiring
    driver, _ = connect(board, 1000)
    assert not board.acquiring and board.received.count("stop") >= 1
    driver.start()  # the board would refuse it while still acquiring
    assert board.acquiring
    driver.close()


# -- refusals ------------------------------------------------------------------------------------------
def test_board_refusals_become_clear_messages():
    with Lpm01aDevice(supports_eventsrc=False) as old_firmware:
        transport = RecordingSerialTransport(old_firmware.port, baudrate=3_686_400, timeout=2.0)
        driver = LPM01A(transport)
        driver.open()
        with pytest.raises(ConfigurationError, match=r"refused 'eventsrc d7 fal': command 'eventsrc' not recognized"):
            driver.configure(Config(update_interval_s=1e-3))
        with pytest.raises(ConfigurationError, match=r"refused 'volt 5000m': volt: value out of range"):
            driver.command("volt 5000m", setting=True)
        driver.close()
        driver = LPM01A(transport, gpio_edge="none")  # the way round it: no events asked for
        driver.open()
        driver.configure(Config(update_interval_s=1e-3))
        driver.close()
    # Settings the board cannot do are refused before anything is sent.
    bench = fake_for("lpm01a")
    try:
        driver = LPM01A(bench.transport, data_format="ascii_dec")
        driver.open()
        with pytest.raises(ConfigurationError, match="ascii_dec at 10 kHz"):
            driver.configure(Config(update_interval_s=1e-4))
        with pytest.raises(ConfigurationError, match="samples at 100k, 50k"):
            driver.configure(Config(update_interval_s=0.003))
        with pytest.raises(ConfigurationError, match="no voltage ranges"):
            driver.set_ranges(3.3, AUTO)
        with pytest.raises(ConfigurationError, match="not one the instrument has"):
            driver.set_ranges(AUTO, 0.1)
        driver.close()
        with pytest.raises(ConfigurationError, match="energy output works up to 10 kHz"):
            d = LPM01A(bench.transport, output="energy")
            d.open()
            try:
                d.configure(Config(update_interval_s=1e-5))
            finally:
                d.close()
    finally:
        bench.device.close()


def test_an_absent_port_is_a_disconnect_naming_it(tmp_path):
    driver = LPM01A(RecordingSerialTransport(str(tmp_path / "ttyACM9"), baudrate=3_686_400))
    with pytest.raises(InstrumentDisconnected, match="ttyACM9.*no such port"):
        driver.open()


# -- end to end --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_station_run_records_from_the_pty_like_any_instrument(board, tmp_path, station_home):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "station", "run", "--instrument", "lpm01a", "--resource", board.tty,
           "--duration", "2", "--json", "--out", str(out)]
    res = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "STATION_HOME": str(station_home)},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["samples"] == 2000 and summary["good_samples"] == 2000 and summary["gaps"] == 0
    assert 1e-3 * 3.3 < summary["avg_w"] < 6.3e-3 * 3.3
    assert summary["energy_j"] == pytest.approx(summary["avg_w"] * 2.0, rel=1e-6)
    assert summary["marks"] >= 10
    header = json.loads((out / "header.json").read_text())
    inst = header["instruments"][0]
    assert inst["identity"]["model"] == "X-NUCLEO-LPM01A"
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    # Each edge inside the recorded stretch is a marked sample (the last second read may hold more).
    gpio = [e for e in events if e["kind"] == "gpio" and e["t"] <= summary["t_last"]]
    assert len(gpio) == summary["marks"] and all(e["edge"] == "falling" and e["line"] == 7 for e in gpio)
    assert board.received[-2:] == ["stop", "hrc"] and not board.host
