"""Keysight N6705 ELOG driver: the exact command dialogue, energy from the logged averages, a FIFO
overflow counted as lost records, a channel without a module, garbled and binary replies."""

from __future__ import annotations

import numpy as np
import pytest

from instruments.base import AUTO, Config, ConfigurationError, InstrumentError
from instruments.fakes import ReplayTransport, fake_for
from instruments.fakes.n6705 import Module, exact_energy
from instruments.fakes.transport import FakeTransport
from instruments.n6705 import N6705, decode_real_block, encode_real_block
from instruments.records import Flag

PERIOD = 0.01  # 10 ms records: every 50 ms load step holds whole records


def _bench(**options):
    bench = fake_for("n6705", **options)
    driver = N6705(bench.transport, **bench.driver_kwargs)
    return bench, driver


def _log(driver: N6705, seconds: float, period: float = PERIOD):
    """Configure, start, and read blocks until ``seconds`` of records are in (fake clock: no wall time)."""
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=period))
    driver.set_ranges(AUTO, AUTO)
    driver.start()
    blocks = []
    while sum(len(b) for b in blocks) + driver.stats["lost"] < round(seconds / period):
        block = driver.read_block(timeout=1.0)
        if block is not None:
            blocks.append(block)
    driver.stop()
    return blocks


def test_the_session_is_the_manuals_elog_sequence():
    replay = ReplayTransport([
        ("*IDN?", "Keysight Technologies,N6705C,MY56000123,D.04.07"),
        ("SYST:CHAN:COUN?", "4"),
        ("SYST:CHAN:MOD? (@2)", "N6781A"),
        ("*CLS", None),
        ("ABOR:ELOG (@2)", None),
        ("FORM ASC", None),
        ("FORM:BORD NORM", None),
        ("SENS:ELOG:FUNC:CURR ON,(@2)", None),
        ("SENS:ELOG:FUNC:VOLT ON,(@2)", None),
        ("SENS:ELOG:FUNC:CURR:MINM ON,(@2)", None),
        ("SENS:ELOG:FUNC:VOLT:MINM ON,(@2)", None),
        ("SENS:ELOG:CURR:DC:RANG:AUTO ON,(@2)", None),
        ("SENS:ELOG:PER 0.001,(@2)", None),
        ("TRIG:ELOG:SOUR BUS,(@2)", None),
        ("SYST:ERR?", '+0,"No error"'),
        ("ABOR:ELOG (@2)", None),
        ("INIT:ELOG (@2)", None),
        ("TRIG:ELOG (@2)", None),
        ("FETC:ELOG? 5000,(@2)", "+1.0E-03,+0.9E-03,+1.1E-03,+3.0E+00,+2.99E+00,+3.01E+00,"
                                 "+2.0E-03,+2.0E-03,+2.0E-03,+3.0E+00,+3.0E+00,+3.0E+00"),
        ("ABOR:ELOG (@2)", None),
    ])
    driver = N6705(replay, channel=2, update_interval_s=1e-3, poll_interval_s=0.01)
    driver.open()
    assert driver.identify().model == "N6705C" and driver.module == "N6781A"
    driver.configure(Config(update_interval_s=1e-3))
    driver.start()
    block = driver.read_block(timeout=1.0)
    driver.stop()
    replay.assert_done()
    assert list(block.samples["w"]) == pytest.approx([3e-3, 6e-3])
    assert list(block.samples["a"]) == pytest.approx([1e-3, 2e-3])
    # the spread bound of record 1: (1.1 - 0.9) mA x (3.01 - 2.99) V / 4 = 1e-6 W on 3e-3 W
    assert block.samples["uncert"][0] == pytest.approx(0.005 + 1e-6 / 3e-3, rel=1e-4)
    assert block.samples["uncert"][1] == pytest.approx(0.005, rel=1e-4)


def test_energy_from_the_logged_averages_is_the_delivered_energy():
    bench, driver = _bench()
    blocks = _log(driver, seconds=3.0)
    samples = np.concatenate([b.samples for b in blocks])
    assert len(samples) == 300 and driver.stats["lost"] == 0
    assert not np.any(samples["flags"] & int(Flag.INVALID | Flag.GAP_BEFORE))
    energy = float(np.sum(samples["w"])) * PERIOD
    assert energy == pytest.approx(exact_energy(bench.device.modules[0], 3.0), rel=1e-6)
    assert np.allclose(np.diff(samples["t"]), PERIOD, atol=1e-6)
    assert set(np.round(samples["a"] * 1e3, 6)) == {1.0, 2.0, 3.0}  # the load's steps, record by record


def test_a_fifo_overflow_is_counted_and_marked():
    bench, driver = _bench(fifo_s=2.0)
    driver.options["poll_interval_s"] = 0.5
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=PERIOD))
    driver.start()
    first = driver.read_block(timeout=1.0)
    assert len(first) == 50
    bench.clock.advance(5.0)  # the host is busy: 5 s of records into a FIFO that holds 2 s
    block = driver.read_block(timeout=1.0)
    (gap,) = [e for e in block.events if e.kind == "gap"]
    lost = bench.device.overwritten
    assert lost == pytest.approx(300, abs=2)  # 5.5 s produced, 2 s kept
    assert gap.detail["missing_samples"] == pytest.approx(lost, abs=3)
    assert driver.stats["lost"] == gap.detail["missing_samples"]
    assert block.samples["flags"][0] & int(Flag.GAP_BEFORE)
    # the records after the hole sit at their own times: the first kept record is number 50 + lost
    assert block.samples["t"][0] == pytest.approx(first.samples["t"][0] + (50 + driver.stats["lost"]) * PERIOD)
    # and still measure the load at those times: 1, 2, 3 mA by 50 ms step
    t_rel = block.samples["t"] - first.samples["t"][0]
    expected = 1e-3 * (1 + np.floor((t_rel + PERIOD / 2) / 0.05) % 3)
    assert np.allclose(block.samples["a"], expected, rtol=1e-6)
    driver.close()


def test_a_channel_without_a_module_is_refused_with_what_is_there():
    bench, driver = _bench()
    driver.options["channel"] = 3
    driver.open()
    with pytest.raises(ConfigurationError, match="channel 3 has no module: this N6705C has 2 output"):
        driver.identify()


def test_a_log_that_is_not_running_is_reported_with_the_instruments_error():
    bench, driver = _bench()
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=PERIOD))
    driver.start()
    bench.device.modules[0].state = "idle"  # someone aborted the log at the front panel
    with pytest.raises(InstrumentError, match='did not answer .*Settings conflict'):
        driver.read_block(timeout=1.0)


def test_a_period_the_elog_cannot_do_is_refused():
    bench, driver = _bench()
    driver.open()
    driver.identify()
    with pytest.raises(ConfigurationError, match="outside 614.4 us"):
        driver.configure(Config(update_interval_s=0.0005))
    driver.options["minmax"] = False
    driver.configure(Config(update_interval_s=0.0005))  # 2 parameters: 204.8 us is the shortest


def test_a_garbled_reply_makes_invalid_samples_never_numbers():
    replay = ReplayTransport([
        ("ABOR:ELOG (@1)", None), ("INIT:ELOG (@1)", None), ("TRIG:ELOG (@1)", None),
        ("FETC:ELOG? 5000,(@1)", "+1.0E-03,+2.0E-03,#garbage,+3.0E+00"),
    ])
    driver = N6705(replay, minmax=False, poll_interval_s=0.01)
    driver._configured = True
    driver.open()
    driver.start()
    block = driver.read_block(timeout=1.0)
    assert np.all(block.samples["flags"] & int(Flag.INVALID)) and np.all(np.isnan(block.samples["w"]))
    assert driver.stats["garbled"] == 1


class BinaryFakeTransport(FakeTransport):
    """The fake's replies as the raw bytes a VISA read returns (a REAL block is not text)."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self._bytes = b""

    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        if not self._bytes and self.device.output:
            self._bytes = self.read_line(timeout).encode("latin-1") + b"\n"
        out, self._bytes = self._bytes[:size], self._bytes[size:]
        return out


def test_real_format_blocks_give_the_same_energy():
    bench = fake_for("n6705")
    transport = BinaryFakeTransport(bench.device, bench.transport.resource)
    driver = N6705(transport, clock=bench.clock, data_format="real")
    blocks = _log(driver, seconds=2.0)
    samples = np.concatenate([b.samples for b in blocks])
    assert "FORM REAL" in bench.device.received and len(samples) == 200
    energy = float(np.sum(samples["w"])) * PERIOD
    assert energy == pytest.approx(exact_energy(bench.device.modules[0], 2.0), rel=1e-6)


def test_definite_length_blocks():
    values = np.array([1e-3, -2.5, 3.0e37], dtype=np.float64)
    block = encode_real_block(values)
    assert block.startswith(b"#212")
    assert decode_real_block(block) == pytest.approx(values, rel=1e-7)
    for bad in (b"", b"12", b"#0", b"#213" + b"\0" * 12, b"#13abc"):
        with pytest.raises(ValueError):
            decode_real_block(bad)


def test_a_second_module_logs_at_its_own_voltage():
    bench, driver = _bench(modules=[Module(voltage=3.3), Module(voltage=1.8, current=lambda t: np.full_like(t, 5e-3))])
    driver.options["channel"] = 2
    blocks = _log(driver, seconds=1.0)
    samples = np.concatenate([b.samples for b in blocks])
    assert samples["w"] == pytest.approx(9e-3) and samples["v"] == pytest.approx(1.8)
