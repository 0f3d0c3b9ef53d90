"""Joulescope JS110/JS220 driver: energy exact to the source samples, GPI edges at the right samples,
holes counted, JLS files replayed through the same seam, and the pyjoulescope_driver glue."""

from __future__ import annotations

import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

from instruments import registry
from instruments.base import AUTO, Config, ConfigurationError, InstrumentError
from instruments.fakes.joulescope import write_jls
from instruments.joulescope import Joulescope, PyJoulescopeSource, ReplaySource
from instruments.records import Flag

ROOT = Path(__file__).resolve().parents[1]
RATE = 100_000  # source samples per second
PER = 100  # source samples per 1 ms output sample
FRAME = 7_000  # not a multiple of PER: periods straddle frames


def _stream(seconds: float = 2.0, pulses: tuple[int, ...] = (12_345, 63_000, 150_050)):
    """A stepped, rippled current at a drooping voltage and GPI pulses (low for 50 samples) at ``pulses``."""
    n = int(seconds * RATE)
    k = np.arange(n)
    current = (1e-3 + 5e-3 * ((k // 9_000) % 2) + 2e-4 * np.sin(k / 37.0)).astype(np.float32)
    voltage = (3.3 - 0.05 * (k / n)).astype(np.float32)
    gpi = np.ones(n, np.uint8)
    for p in pulses:
        gpi[p:p + 50] = 0
    return current, voltage, gpi


def _exact_energy(current, voltage, a=0, b=None) -> float:
    return float(np.sum(current[a:b].astype(np.float64) * voltage[a:b].astype(np.float64)) / RATE)


def _drain(driver: Joulescope, source: ReplaySource, limit_s: float = 30.0):
    """Every block until the replay has delivered everything and nothing more completes."""
    blocks, deadline = [], time.monotonic() + limit_s
    while time.monotonic() < deadline:
        block = driver.read_block(timeout=0.2)
        if block is not None:
            blocks.append(block)
        elif source.finished.is_set():
            return blocks
    raise AssertionError("the replay did not finish in time")


def _run(source: ReplaySource, **options):
    driver = Joulescope(source, sample_rate_hz=RATE, **options)
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=PER / RATE))
    driver.set_ranges(AUTO, AUTO)
    driver.start()
    blocks = _drain(driver, source)
    driver.stop()
    driver.close()
    samples = np.concatenate([b.samples for b in blocks])
    events = [e for b in blocks for e in b.events]
    return driver, samples, events


def test_energy_of_a_synthetic_stream_is_the_exact_integral():
    current, voltage, gpi = _stream()
    source = ReplaySource.from_arrays(current, voltage, RATE, gpi=gpi, frame_samples=FRAME, utc_start=1.8e9)
    driver, samples, _ = _run(source)
    assert len(samples) == len(current) // PER
    energy = float(np.sum(samples["w"])) / driver.freq
    assert energy == pytest.approx(_exact_energy(current, voltage), rel=1e-12)
    # per output sample too: the 1 ms virtual samples of the MLCommons runner
    expected = (current.astype(np.float64) * voltage).reshape(-1, PER).mean(axis=1)
    np.testing.assert_allclose(samples["w"], expected, rtol=1e-12)
    assert samples["t"][0] == pytest.approx(1.8e9) and np.allclose(np.diff(samples["t"]), 1e-3, atol=1e-6)


def test_timestamp_edges_are_found_at_their_source_samples():
    pulses = (12_345, 63_000, 150_050)
    current, voltage, gpi = _stream(pulses=pulses)
    gpi[70_000:70_050] = 0  # a pulse that starts exactly on a frame boundary (70_000 = 10 x FRAME)
    source = ReplaySource.from_arrays(current, voltage, RATE, gpi=gpi, frame_samples=FRAME, utc_start=1.8e9)
    _, samples, events = _run(source)
    edges = [e for e in events if e.kind == "gpio"]
    starts = sorted((*pulses, 70_000))
    assert [e.detail["source_sample"] for e in edges] == starts
    assert [e.detail["number"] for e in edges] == [1, 2, 3, 4]
    assert all(e.detail["edge"] == "falling" and e.detail["line"] == 0 for e in edges)
    assert [e.detail["sample"] for e in edges] == [s // PER for s in starts]
    marked = np.flatnonzero(samples["flags"] & int(Flag.MARK))
    assert list(marked) == [s // PER for s in starts]
    assert [e.t for e in edges] == pytest.approx([1.8e9 + s / RATE for s in starts])
    # the window between two edges, integrated from the output samples, is the exact integral of
    # the source samples up to the edges' rounding to output samples (<= 1 output sample each side)
    a, b = edges[1].detail["sample"], edges[3].detail["sample"]
    assert float(np.sum(samples["w"][a:b])) * 1e-3 == pytest.approx(
        _exact_energy(current, voltage, a * PER, b * PER), rel=1e-12)


def test_rising_edges_when_asked():
    current, voltage, gpi = _stream(pulses=(20_000,))
    source = ReplaySource.from_arrays(current, voltage, RATE, gpi=gpi, frame_samples=FRAME)
    _, _, events = _run(source, gpi_edge="ris")
    assert [e.detail["source_sample"] for e in events if e.kind == "gpio"] == [20_050]


def test_a_dropped_frame_is_a_counted_hole_never_numbers():
    current, voltage, gpi = _stream(pulses=(5_000, 40_000))
    source = ReplaySource.from_arrays(current, voltage, RATE, gpi=gpi, frame_samples=FRAME, skip_frames={3})
    driver, samples, events = _run(source)
    gaps = [e for e in events if e.kind == "gap"]
    assert len(gaps) == 1 and gaps[0].detail["missing_source_samples"] == FRAME
    assert driver.stats["missing_source_samples"] == FRAME
    hole = slice(3 * FRAME // PER, -(-4 * FRAME // PER))  # output samples touching frame 3
    assert np.all(np.isnan(samples["w"][hole]))
    assert np.all(samples["flags"][hole] & int(Flag.INVALID))
    good = np.ones(len(samples), bool)
    good[hole] = False
    assert np.all(np.isfinite(samples["w"][good]))
    # the edge after the hole is still at its own sample
    assert [e.detail["source_sample"] for e in events if e.kind == "gpio"] == [5_000, 40_000]


def test_a_jls_recording_replays_through_the_same_path(tmp_path):
    pytest.importorskip("pyjls")
    current, voltage, gpi = _stream(seconds=1.5, pulses=(30_000, 90_010))
    path = write_jls(tmp_path / "tiny.jls", current, voltage, RATE, gpi=gpi, utc_start=1.75e9, serial="002122")
    driver = registry.create("joulescope", f"jls:{path}", sample_rate_hz=RATE)
    source = driver.transport
    assert isinstance(source, ReplaySource)
    driver.open()
    identity = driver.identify()
    assert (identity.model, identity.serial) == ("JS220", "002122")
    driver.configure(Config(update_interval_s=1e-3))
    driver.start()
    blocks = _drain(driver, source)
    driver.close()
    samples = np.concatenate([b.samples for b in blocks])
    energy = float(np.sum(samples["w"])) * 1e-3
    assert energy == pytest.approx(_exact_energy(current, voltage), rel=1e-12)
    edges = [e.detail["source_sample"] for b in blocks for e in b.events if e.kind == "gpio"]
    assert edges == [30_000, 90_010]
    assert samples["t"][0] == pytest.approx(1.75e9)


def test_a_replay_refuses_another_rate_and_a_period_that_is_not_whole_samples(tmp_path):
    current, voltage, gpi = _stream(seconds=0.1)
    driver = Joulescope(ReplaySource.from_arrays(current, voltage, RATE), sample_rate_hz=2 * RATE)
    driver.open()
    with pytest.raises(ConfigurationError, match="recorded at 100000 Hz"):
        driver.configure(Config(update_interval_s=1e-3))
    driver = Joulescope(ReplaySource.from_arrays(current, voltage, RATE), sample_rate_hz=RATE)
    driver.open()
    with pytest.raises(ConfigurationError, match="whole number of source samples"):
        driver.configure(Config(update_interval_s=1.5e-5))
    with pytest.raises(ConfigurationError, match="use auto"):
        driver.set_ranges(AUTO, 0.1)


def test_resources_it_takes(tmp_path):
    assert Joulescope.claims("joulescope") and Joulescope.claims("joulescope:002122")
    assert Joulescope.claims("jls:/data/run.jls") and Joulescope.claims("/data/run.JLS")
    assert not Joulescope.claims("/dev/ttyACM0") and not Joulescope.claims("TCPIP::1.2.3.4::INSTR")
    assert registry.create("joulescope", "joulescope:002122").options["serial"] == "002122"
    with pytest.raises(ConfigurationError, match="no JLS recording"):
        registry.create("joulescope", f"jls:{tmp_path / 'absent.jls'}")


def test_the_core_runs_without_the_joulescope_packages():
    code = ("import sys; sys.modules['pyjoulescope_driver'] = None; sys.modules['pyjls'] = None\n"
            "from instruments import registry\n"
            "from instruments.base import InstrumentError\n"
            "d = registry.create('joulescope', 'joulescope')\n"
            "try:\n    d.open()\nexcept InstrumentError as e:\n    print('REFUSED', e)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert "REFUSED" in out.stdout and "pip install 'station[joulescope]'" in out.stdout


# -- the pyjoulescope_driver glue, against a stand-in for its Driver (no hardware needed) -------------
class StandInDriver:
    """What PyJoulescopeSource uses of ``pyjoulescope_driver.Driver``, recording every call."""

    paths = ["u/js220/002122"]

    def __init__(self) -> None:
        self.published: list[tuple[str, object]] = []
        self.subscribers: dict[str, object] = {}
        self.calls: list[str] = []

    def device_paths(self, timeout=None):
        return list(self.paths)

    def open(self, path, mode=None, timeout=None):
        self.calls.append(f"open {path} {mode}")

    def close(self, path, timeout=None):
        self.calls.append(f"close {path}")

    def finalize(self, timeout=None):
        self.calls.append("finalize")

    def publish(self, topic, value, timeout=None):
        self.published.append((topic, value))

    def subscribe(self, topic, flags, fn, timeout=None):
        self.subscribers[topic] = fn

    def unsubscribe(self, topic, fn, timeout=None):
        self.subscribers.pop(topic, None)


@pytest.fixture
def stand_in(monkeypatch):
    made: list[StandInDriver] = []
    module = types.ModuleType("pyjoulescope_driver")
    module.Driver = lambda: made.append(StandInDriver()) or made[-1]
    time64 = types.ModuleType("pyjoulescope_driver.time64")
    time64.as_timestamp = lambda t64: t64 / 2 ** 30 + 1514764800.0  # time64: 2^-30 s since 2018-01-01
    module.time64 = time64
    monkeypatch.setitem(sys.modules, "pyjoulescope_driver", module)
    monkeypatch.setitem(sys.modules, "pyjoulescope_driver.time64", time64)
    return made


def _stream_value(sample_id: int, data: np.ndarray, decimate: int, utc: float) -> dict:
    """A stream message as the binding hands it to a subscriber."""
    return {"sample_id": sample_id, "utc": int((utc - 1514764800.0) * 2 ** 30), "field_id": 0, "index": 0,
            "sample_rate": 1_000_000, "decimate_factor": decimate, "data": data,
            "time_map": {"offset_time": 0, "offset_counter": 0, "counter_rate": 1e6}}


def test_the_pyjoulescope_driver_source_speaks_its_topics(stand_in):
    driver = registry.create("joulescope", "joulescope:002122", sample_rate_hz=RATE)
    driver.open()
    assert driver.identify().model == "JS220" and driver.identity.serial == "002122"
    driver.configure(Config(update_interval_s=1e-3))
    driver.start()
    dev = stand_in[0]
    p = "u/js220/002122"
    assert (f"{p}/h/fs", RATE) in dev.published and (f"{p}/s/i/range/mode", "auto") in dev.published
    assert {f"{p}/s/i/ctrl", f"{p}/s/v/ctrl", f"{p}/s/gpi/0/ctrl"} <= {t for t, v in dev.published if v == 1}
    # the device streams at 1 MHz decimated by 10 to the host's 100 kHz: sample ids are at 1 MHz
    n = 2_000
    bits = np.ones(n, np.uint8)
    bits[1_234:1_300] = 0
    for topic, data in ((f"{p}/s/i/!data", np.full(n, 2e-3, np.float32)),
                        (f"{p}/s/v/!data", np.full(n, 3.0, np.float32)),
                        (f"{p}/s/gpi/0/!data", np.packbits(bits, bitorder="little"))):
        dev.subscribers[topic](topic, _stream_value(50_000, data, 10, 1.8e9))
    block = driver.read_block(timeout=1.0)
    assert len(block.samples) == n // PER
    assert block.samples["w"] == pytest.approx(6e-3)
    assert block.samples["t"][0] == pytest.approx(1.8e9, abs=1e-6)
    (edge,) = [e for e in block.events if e.kind == "gpio"]
    assert edge.detail["source_sample"] == 5_000 + 1_234 and edge.detail["sample"] == 1_234 // PER
    dev.subscribers["@/!remove"]("@/!remove", p)
    with pytest.raises(InstrumentError, match="removed"):
        driver.read_block(timeout=1.0)
    driver.close()
    assert dev.calls[-2:] == [f"close {p}", "finalize"] and f"{p}/s/i/!data" not in dev.subscribers


def test_the_pyjoulescope_driver_source_needs_exactly_one_device(stand_in, monkeypatch):
    monkeypatch.setattr(StandInDriver, "paths", ["u/js220/000001", "u/js110/000002"])
    with pytest.raises(InstrumentError, match="2 Joulescopes connected"):
        registry.create("joulescope", "joulescope").open()
    driver = registry.create("joulescope", "joulescope:000002")
    driver.open()
    assert driver.identify().model == "JS110"
    driver.configure(Config(update_interval_s=1e-3))
    assert ("u/js110/000002/s/i/range/select", "auto") in stand_in[-1].published
    driver.close()
    with pytest.raises(InstrumentError, match="0 Joulescopes with serial number 9"):
        registry.create("joulescope", "joulescope:9").open()
    assert isinstance(PyJoulescopeSource(), PyJoulescopeSource)


def test_the_tiny_procedure_records_energy_and_edges_from_it():
    """The Tiny energy procedure's recorder reads the Joulescope as it reads the LPM01A: energy per
    output sample by index, and (event number, sample index) timestamps."""
    from station.tiny.procedure import EnergyRecorder

    current, voltage, gpi = _stream(seconds=1.2, pulses=(10_000, 95_000))
    source = ReplaySource.from_arrays(current, voltage, RATE, gpi=gpi, frame_samples=FRAME)
    driver = Joulescope(source, sample_rate_hz=RATE)
    driver.open()
    driver.configure(Config(update_interval_s=1e-3))
    driver.start()
    recorder = EnergyRecorder(driver, driver.freq)
    recorder.start()
    try:
        assert recorder.wait(lambda: recorder.count >= 1_200 and len(recorder.events) == 2, 30.0, time.monotonic)
    finally:
        recorder.stop()
        driver.close()
    assert recorder.events == [(1, 100), (2, 950)]
    energy, _ = recorder.snapshot(100, 950)
    assert float(np.sum(energy)) == pytest.approx(_exact_energy(current, voltage, 10_000, 95_000), rel=1e-12)


def test_a_replay_waits_for_the_reader_so_memory_stays_bounded():
    from instruments.joulescope import MAX_QUEUED_CHUNKS

    current, voltage, gpi = _stream(seconds=4.0)
    source = ReplaySource.from_arrays(current, voltage, RATE, gpi=gpi, frame_samples=1_000)  # 400 frames
    driver = Joulescope(source, sample_rate_hz=RATE)
    driver.open()
    driver.configure(Config(update_interval_s=1e-3))
    driver.start()
    deadline = time.monotonic() + 10
    while len(driver._queue) < MAX_QUEUED_CHUNKS and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(driver._queue) == MAX_QUEUED_CHUNKS and not source.finished.is_set()
    samples = np.concatenate([b.samples for b in _drain(driver, source)])
    driver.close()
    assert len(samples) == 4_000
    assert float(np.sum(samples["w"])) * 1e-3 == pytest.approx(_exact_energy(current, voltage), rel=1e-12)


def test_an_input_low_from_the_start_is_a_level_not_an_edge():
    current, voltage, gpi = _stream(seconds=0.5, pulses=())
    gpi[:20_000] = 0  # unconnected (low) until the DUT pulls it up, then one pulse
    gpi[30_000:30_050] = 0
    _, _, events = _run(ReplaySource.from_arrays(current, voltage, RATE, gpi=gpi, frame_samples=FRAME))
    assert [e.detail["source_sample"] for e in events if e.kind == "gpio"] == [30_000]
