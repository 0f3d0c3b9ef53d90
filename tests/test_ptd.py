"""SPEC PTDaemon client driver against exact dialogues from the reference notes and a fake PTDaemon.

The replayed exchanges are verbatim from ``reference/powerdev.md`` §3 (a real MLPerf v5.1
server.json with a WT210) and ``analyzers.md`` §4; the fake is a real TCP server on loopback
(``instruments.fakes.ptd``). Driver-side waiting uses a FakeClock shared with the fake, so a
minute of 1 Hz measuring takes no wall time; `station run` tests run in real time at 10 Hz.
"""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from instruments import registry
from instruments.base import Config, ConfigurationError, InstrumentDisconnected, InstrumentError
from instruments.fakes import FakeClock, ReplayTransport, fake_for
from instruments.fakes.clock import WallClock
from instruments.fakes.ptd import PtdDaemon
from instruments.ptd import (
    PTDaemon,
    parse_identify,
    parse_ptd_time,
    parse_sample_line,
    parse_uncertainty,
    parse_watts,
)
from station.core.journal import JournalReader
from station.core.samples import Flag, good_mask

ROOT = Path(__file__).resolve().parents[1]

# Verbatim from reference/powerdev.md §3 (GATEOverflow v5.1 server.json, WT210 over GPIB).
WT210_IDENTIFY = ("YokogawaWT210,1000,1,1,1,1,0,0,1,version=1.11.1-462c978e-20240907,OS=Windows 8 / Server 2012,"
                  "mode=power,1,1,1,0,0,no_cal_date,YOKOGAWA;760401;0;F1.12")
GO_1000 = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
RANGING_LINES = [
    "Time,07-12-2025 23:21:34.443,Watts,15.280000,Volts,244.930000,Amps,0.143200,PF,0.435800",
    "Time,07-12-2025 23:21:37.443,Watts,-1.000000,Volts,244.940000,Amps,-1.000000,PF,-1.000000",
]
# analyzers.md §4: the SPEC CPU2017 harness's dummy analyzer and a temperature sensor.
DUMMY_IDENTIFY = ("Dummy,1000,1,1,1,1,1,1,0,version=9.9.9-1fee1ded-20161226,OS=your uname/whatever output here,"
                  "mode=power,1,1,1,0,0,no_cal_date,SPECpower's Dummy Analyzer v1.0")
TEMP_IDENTIFY = ("PCsensor USB9097+DS18B20,5000,1,0,0,0,0,0,1,version=1.9.1-a2d19f26-20190717,"
                 "OS=Windows 8 / Server 2012,mode=temperature,0,0,1,0,0,no_cal_date,na")
# powerdev.md §5.1: a WT500 multichannel spl.txt line (log form, with Mark).
MULTI_LINE = ("Time,07-28-2025 22:52:09.106,Watts,2361.700000,Volts,237.963333,Amps,3.436667,PF,0.963131,"
              "Mark,2025-07-28_22-39-23_testing,Ch1,Watts,787.500000,Volts,238.090000,Amps,3.482000,PF,0.950000,"
              "Ch2,Watts,788.100000,Volts,237.900000,Amps,3.410000,PF,0.971000,"
              "Ch3,Watts,786.100000,Volts,237.900000,Amps,3.418000,PF,0.968000")


class LinesReplay(ReplayTransport):
    """ReplayTransport whose replies may be several lines (RL: a header, then the samples)."""

    def write(self, command: str) -> None:
        before = len(self._pending)
        super().write(command)
        if len(self._pending) > before:
            self._pending.extend(self._pending.pop().split("\n"))


def replayed(exchanges, **options) -> tuple[PTDaemon, LinesReplay]:
    clock = FakeClock(start_utc=parse_ptd_time("07-12-2025 23:21:37.000"))
    transport = LinesReplay(exchanges, resource="tcp://ptd.lab:8888")
    return PTDaemon(transport, clock=clock, **options), transport


def read_for(driver: PTDaemon, seconds: float) -> np.ndarray:
    """Every sample the driver hands over in ``seconds`` of (fake) time, in order."""
    blocks, events = [], []
    deadline = driver.clock.monotonic() + seconds
    while driver.clock.monotonic() < deadline:
        block = driver.read_block(timeout=0.25)
        if block is not None:
            blocks.append(block.samples)
            events.extend(block.events)
    read_for.events = events
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=driver.dtype)


def connected(model="YokogawaWT310E", voltage="auto", current="auto", interval=1.0, driver_options=None,
              **fake_options):
    bench = fake_for("ptd", model=model, **fake_options)
    driver = PTDaemon(bench.transport, **bench.driver_kwargs, **(driver_options or {}))
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=interval))
    driver.set_ranges(voltage, current)
    return bench, driver


# -- exact dialogues from the reference notes ------------------------------------------------------
def test_mlperf_ranging_dialogue_replayed_samples_ranges_and_figures():
    driver, replay = replayed([
        ("Hello", "Hello, PTDaemon here!"),
        ("Identify", WT210_IDENTIFY),
        ("SR,V,300", "Range V changed"),
        ("SR,A,0.5", "Range A changed"),
        ("RR", "Ranges,0,0.500000,0,300.000000"),
        ("Go,1000,0,2025-07-13_00-21-09_ranging", GO_1000),
        ("RL,*,*", "Invalid number of parameters"),
        ("RL", "Last 2 samples\n" + "\n".join(RANGING_LINES)),
        ("Stop", "Stopping untimed measurement"),
        ("Watts", "Watts,33.226102,15.140000,35.450000,312,76,236"),
        ("Uncertainty", "Uncertainty,-1.0,10000000.000000,0.000000,312,0,0,312"),
    ], mark="2025-07-13_00-21-09_ranging")
    driver.open()
    ident = driver.identify()
    assert (ident.vendor, ident.model, ident.serial, ident.firmware) == ("YOKOGAWA", "YokogawaWT210", "0", "F1.12")
    assert driver.ptd.version == "1.11.1" and driver.ptd.accepted and driver.ptd.channels == 1
    driver.configure(Config(update_interval_s=1.0))
    driver.set_ranges(300, 0.5)
    r = driver._ranges
    assert (r.voltage, r.current, r.voltage_auto, r.current_auto) == (300.0, 0.5, False, False)
    driver.start()
    block = driver.read_block(timeout=2.0)
    s = block.samples
    assert len(s) == 2
    assert s["t"][0] == pytest.approx(parse_ptd_time("07-12-2025 23:21:34.443"))
    assert (s["w"][0], s["v"][0], s["a"][0], s["pf"][0]) == pytest.approx((15.28, 244.93, 0.1432, 0.4358), rel=1e-6)
    assert s["flags"][0] == 0 and (s["v_range"][0], s["a_range"][0]) == (300.0, 0.5)
    assert math.isnan(s["uncert"][0])  # the RL line carries no uncertainty: unknown
    assert s["flags"][1] & Flag.INVALID and np.isnan([s["w"][1], s["v"][1], s["a"][1]]).all()
    kinds = [e.kind for e in block.events]
    assert "ptd_identity" in kinds and "warning" not in kinds
    driver.stop()
    replay.assert_done()
    assert driver.last_summary["watts"] == {"avg": 33.226102, "min": 15.14, "max": 35.45, "samples": 312,
                                            "errors": 76, "valid": 236}
    assert driver.last_summary["uncertainty"][0]["avg"] is None  # ranging: all unknown
    assert driver.last_summary["uncertainty"][0]["unknown"] == 312


def test_mlperf_testing_figures_mid_run_become_an_event():
    driver, replay = replayed([
        ("Hello", "Hello, PTDaemon here!"),
        ("Identify", WT210_IDENTIFY),
        ("SR,V,300", "Range V changed"),
        ("SR,A,0.5", "Range A changed"),
        ("RR", "Ranges,0,0.500000,0,300.000000"),
        ("Go,1000,0,2025-07-13_00-21-09_testing", GO_1000),
        ("Watts", "Watts,33.758605,14.770000,38.790000,611,59,552"),
        ("Uncertainty", "Uncertainty,0.009616,0.008930,0.015782,611,13,539,59"),
        ("RL,*,*", "Invalid number of parameters"),
        ("RL", "Last 1 samples\n" + RANGING_LINES[0]),
    ], mark="2025-07-13_00-21-09_testing", summary_every_s=1.0)
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=1.0))
    driver.set_ranges(300, 0.5)
    driver.start()
    block = driver.read_block(timeout=2.0)
    replay.assert_done()
    summary = next(e.detail for e in block.events if e.kind == "ptd_summary")
    assert summary["watts"]["avg"] == 33.758605 and summary["watts"]["errors"] == 59
    u = summary["uncertainty"][0]
    assert (u["avg"], u["max"], u["above_limit"], u["ok"], u["unknown"]) == (0.009616, 0.015782, 13, 539, 59)
    assert "33.7586 W" in summary["message"] and "13 above 1 %" in summary["message"]


def test_identify_replies_of_the_reference_parse():
    dummy = parse_identify(DUMMY_IDENTIFY)
    assert (dummy.driver, dummy.interval_ms, dummy.accepted, dummy.version, dummy.crc) == (
        "Dummy", 1000, False, "9.9.9", "1fee1ded")
    assert dummy.analyzer_idn == "SPECpower's Dummy Analyzer v1.0" and dummy.calibration == "no_cal_date"
    wt210 = parse_identify(WT210_IDENTIFY)
    assert (wt210.build_date, wt210.os, wt210.range_setting, wt210.channels) == (
        "20240907", "Windows 8 / Server 2012", True, 1)
    assert parse_identify(TEMP_IDENTIFY).mode == "temperature"
    with pytest.raises(ValueError, match="version"):
        parse_identify("YokogawaWT310,1000,1,1,1,1,0,0,1,1.11.1,OS=Linux")


def test_temperature_sensor_is_refused_when_identified():
    driver, _ = replayed([("Hello", "Hello, PTDaemon here!"), ("Identify", TEMP_IDENTIFY)])
    driver.open()
    with pytest.raises(InstrumentError, match="temperature sensor, not a power analyzer"):
        driver.identify()


def test_reply_lines_of_the_reference_parse():
    line = parse_sample_line(MULTI_LINE)
    assert line.total["Watts"] == "2361.700000" and line.total["Mark"] == "2025-07-28_22-39-23_testing"
    assert [c["Watts"] for c in line.channels] == ["787.500000", "788.100000", "786.100000"]
    assert line.t == pytest.approx(parse_ptd_time("07-28-2025 22:52:09.106"))
    assert parse_ptd_time("01-22-2021 15:05:14.313") == pytest.approx(1611327914.313)
    assert parse_watts("Watts,33.226102,15.140000,35.450000,312,76,236")["valid"] == 236
    assert parse_uncertainty("Uncertainty,0.009616,0.008930,0.015782,611,13,539,59")[0]["ok"] == 539
    for bad in ("Ranges,0,0.5,0,300", "Time,2025-07-12 23:21:34,Watts,1", "Time,07-12-2025 23:21:34.443,Watts"):
        with pytest.raises(ValueError):
            parse_sample_line(bad)


def test_something_else_on_the_port_is_not_taken_for_ptdaemon():
    bench = fake_for("ptd")
    bench.device.fail_next("Hello", "220 lab.example FTP server ready")
    driver = PTDaemon(bench.transport, **bench.driver_kwargs)
    with pytest.raises(InstrumentError, match="this is not PTDaemon"):
        driver.open()
    driver.close()


# -- live samples from the fake ----------------------------------------------------------------------
def test_samples_arrive_live_once_per_interval_with_the_ranges_in_force():
    bench, driver = connected(voltage=300, current=1.0, driver_options={"mark": "lab_run_1"})
    driver.start()
    assert bench.device.running and bench.device.mark == "lab_run_1"
    s = read_for(driver, 10.0)
    assert 9 <= len(s) <= 11
    assert np.allclose(np.diff(s["t"]), 1.0, atol=1e-3)
    assert (s["flags"] == 0).all() and (s["v_range"] == 300).all() and (s["a_range"] == 1.0).all()
    assert 100 < s["w"].mean() < 140 and np.allclose(s["w"], s["v"] * s["a"] * s["pf"], rtol=1e-4)
    rl = [c for c in bench.device.received if c.startswith(("RL", "DC-RL"))]
    assert rl[:2] == ["RL,*,*", "RL"] and set(rl[2:]) == {"RL"}  # fallback found once, then kept
    assert len(rl) <= 12  # polled at the interval, not hammered
    driver.stop()
    assert not bench.device.running
    assert driver.last_summary["watts"]["samples"] >= len(s)
    driver.close()


def test_multichannel_samples_fill_the_per_channel_fields_and_totals():
    bench, driver = connected("YokogawaWT500_multichannel", voltage=300, current=5.0)
    assert driver.dtype["ch_w"].shape == (3,)
    assert driver.ranges().voltage == 300 and driver.ranges().current == 5.0
    driver.start()
    s = read_for(driver, 5.0)
    assert len(s) >= 4 and (s["flags"] == 0).all()
    assert np.allclose(s["ch_w"].sum(axis=1), s["w"], rtol=1e-5)
    assert np.allclose(s["ch_v"].mean(axis=1), s["v"], rtol=1e-5)
    assert np.allclose(s["ch_a"].sum(axis=1), s["a"], rtol=1e-5)
    assert np.allclose(s["ch_w"], s["w"][:, None] / 3, rtol=0.1)
    assert set(c for c in bench.device.received if c.startswith("RL")) == {"RL,*,*"}
    assert "RR,*" in bench.device.received
    driver.close()


def test_dc_meter_is_read_with_dc_rl():
    bench, driver = connected("YokogawaWT310_DC", voltage=300, current=1.0)
    driver.start()
    s = read_for(driver, 3.0)
    assert len(s) >= 2 and (s["pf"] == 1.0).all()
    rl = [c for c in bench.device.received if "RL" in c]
    assert rl[:2] == ["RL,*,*", "DC-RL"] and set(rl[2:]) == {"DC-RL"}
    driver.close()


def test_invalid_readings_are_flagged_and_never_averaged():
    bench, driver = connected(voltage=300, current=1.0)
    bench.device.inject_samples("error", 2)
    bench.device.inject_samples("missed", 1)
    driver.start()
    s = read_for(driver, 8.0)
    bad = (s["flags"] & Flag.INVALID) != 0
    assert bad[:3].all() and not bad[3:].any()
    assert np.isnan(s["w"][:3]).all() and np.isnan(s["v"][:3]).all()
    driver.stop()
    watts = driver.last_summary["watts"]
    assert watts["errors"] == 3
    # PTDaemon's own average over its valid samples is the mean of the samples the station keeps.
    assert watts["avg"] == pytest.approx(s["w"][good_mask(s)].mean(), rel=1e-5)
    driver.close()


def test_overrange_on_a_fixed_range_gives_invalid_samples():
    bench, driver = connected(voltage=300, current=0.5, load_w=80.0)
    driver.start()
    before = read_for(driver, 3.0)
    bench.device.set_load(400.0)  # 1.9 A on the 0.5 A range
    after = read_for(driver, 3.0)
    assert len(before) and not (before["flags"] & Flag.INVALID).any()
    assert len(after) and (after["flags"][1:] & Flag.INVALID).all()
    driver.close()


def test_uncertainty_per_sample_when_ptdaemon_reports_it_unknown_under_auto():
    bench, driver = connected(voltage=300, current=1.0, per_sample_uncertainty=True)
    driver.start()
    fixed = read_for(driver, 3.0)
    driver.stop()
    # WT310E class: 0.1 % of reading + 0.05 % of 300 V x 1 A, at about 120 W.
    assert np.all((fixed["uncert"] > 0.0015) & (fixed["uncert"] < 0.0035))
    driver.set_ranges("auto", "auto")
    driver.start()
    auto = read_for(driver, 3.0)
    assert np.isnan(auto["uncert"]).all() and (auto["flags"] & Flag.AUTO_RANGE).all()
    assert np.isnan(auto["v_range"]).all()
    driver.close()


# -- identity, settings and refusals -------------------------------------------------------------------
def test_not_accepted_analyzer_is_warned_about_or_refused():
    bench, driver = connected("Dummy")
    driver.start()
    read_for(driver, 2.0)
    warnings = [e.detail["message"] for e in read_for.events if e.kind == "warning"]
    assert any("not accepted by SPEC" in m for m in warnings)
    driver.close()
    strict = PTDaemon(bench.transport, require_accepted=True, **bench.driver_kwargs)
    strict.open()
    with pytest.raises(InstrumentError, match="not accepted by SPEC"):
        strict.identify()
    strict.close()


def test_ranges_outside_the_analyzer_table_are_refused_unknown_analyzers_round_up():
    bench, driver = connected()
    with pytest.raises(ConfigurationError, match="no voltage range 250 V"):
        driver.set_ranges(250, "auto")
    assert not any(c.startswith("SR,V,250") for c in bench.device.received)
    driver.close()
    bench, driver = connected("Dummy")  # analyzer of unknown ranges: PTDaemon picks the next one up
    driver.set_ranges(250, 0.33)
    r = driver.ranges()
    assert (r.voltage, r.current, r.voltage_auto) == (300.0, 0.5, False)
    assert "SR,A,0.33" in bench.device.received
    driver.close()


def test_ptdaemon_error_replies_become_clear_messages():
    bench, driver = connected()
    bench.device.fail_next("SR,V", "Meter busy")
    with pytest.raises(ConfigurationError, match=r"'SR,V,300' with 'Meter busy' \(PTDaemon is busy"):
        driver.set_ranges(300, 1.0)
    bench.device.fail_next("SR,A", "Error: range setting failed")
    with pytest.raises(ConfigurationError, match=r"'SR,A,1' with 'Error: range setting failed' \(PTDaemon refused"):
        driver.set_ranges(300, 1.0)
    other = PTDaemon(second_client(bench), **bench.driver_kwargs)  # another client is measuring
    other.open()
    other.identify()
    other.configure(Config())
    other.start()
    with pytest.raises(InstrumentError, match="Another client may be measuring"):
        driver.start()
    other.close()
    driver.close()


def second_client(bench):
    from instruments.fakes.ptd import RecordingTcpTransport

    return RecordingTcpTransport(bench.device.host, bench.device.port)


def test_interval_shorter_than_ptdaemon_averaging_and_bad_marks_are_refused():
    bench, driver = connected()
    with pytest.raises(ConfigurationError, match="averages over 1000 ms"):
        driver.configure(Config(update_interval_s=0.5))
    driver.close()
    with pytest.raises(ConfigurationError, match="mark"):
        PTDaemon(None, mark="ranging,1")


def test_clock_skew_of_ptdaemon_is_warned_about():
    class Shifted:
        def __init__(self, clock, offset):
            self.clock, self.offset = clock, offset

        def time(self):
            return self.clock.time() + self.offset

        def monotonic(self):
            return self.clock.monotonic()

        def sleep(self, s):
            self.clock.sleep(s)

    clock = FakeClock()
    bench = fake_for("ptd", clock=Shifted(clock, -3600.0))  # PTDaemon on local time, one hour off
    driver = PTDaemon(bench.transport, clock=clock)
    driver.open()
    driver.identify()
    driver.configure(Config())
    driver.set_ranges("auto", "auto")
    driver.start()
    read_for(driver, 3.0)
    skew = [e.detail for e in read_for.events if e.kind == "warning" and "clock" in e.detail["message"]]
    assert len(skew) == 1 and skew[0]["skew_s"] == pytest.approx(-3600.0, abs=2.0)
    driver.close()


# -- faults -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("power_cycle", [False, True])
def test_lost_connection_raises_disconnected_and_the_run_resumes_with_the_same_mark(power_cycle):
    bench, driver = connected(voltage=300, current=1.0)
    driver.start()
    mark = bench.device.mark
    assert len(read_for(driver, 2.0)) >= 1
    bench.unplug()
    with pytest.raises(InstrumentDisconnected, match="stopped answering"):
        read_for(driver, 2.0)
    driver.close()
    with pytest.raises(InstrumentDisconnected, match="cannot connect"):
        driver.open()
    bench.plug(power_cycle=power_cycle)
    driver.open()
    driver.identify()
    driver.configure(Config())
    driver.set_ranges(300, 1.0)
    driver.start()
    stops = [reply for cmd, reply in bench.device.log if cmd == "Stop"]
    # PTDaemon kept measuring through a network outage (stopped now), or restarted (nothing to stop).
    assert stops == ["Error: no measurement to stop" if power_cycle else "Stopping untimed measurement"]
    assert bench.device.mark == mark and bench.device.running
    assert len(read_for(driver, 3.0)) >= 2
    driver.close()


def test_stalled_ptdaemon_counts_as_gone():
    bench, driver = connected(driver_options={"query_timeout_s": 0.2})
    driver.start()
    read_for(driver, 2.0)
    bench.stall()
    with pytest.raises(InstrumentDisconnected, match="no reply to 'RL'"):
        read_for(driver, 2.0)
    driver.close()
    bench.resume()


def test_garbled_rl_reply_is_out_of_step_not_numbers():
    bench, driver = connected()
    driver.start()
    read_for(driver, 2.0)
    bench.device.fail_next("RL", "Wats,12")
    with pytest.raises(InstrumentDisconnected, match="out of step"):
        read_for(driver, 2.0)
    driver.close()


# -- station run ------------------------------------------------------------------------------------
@pytest.fixture
def ptd_on_lan():
    daemon = PtdDaemon("YokogawaWT310E", clock=WallClock(), interval_ms=100)
    yield daemon
    daemon.close()


def station_run(resource: str, out: Path, duration: float) -> list[str]:
    return [sys.executable, "-m", "station", "run", "--instrument", "ptd", "--resource", resource,
            "--interval", "0.1", "--duration", str(duration), "--voltage-range", "300", "--current-range", "1",
            "--json", "--out", str(out)]


@pytest.mark.slow
def test_station_run_records_from_ptdaemon(ptd_on_lan, tmp_path, station_home):
    ptd_on_lan.inject_samples("error", 3)
    out = tmp_path / "ptd"
    res = subprocess.run(station_run(ptd_on_lan.resource, out, 2), cwd=ROOT,
                         env={**os.environ, "STATION_HOME": str(station_home)},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["samples"] == 20 and summary["invalid_samples"] == 3 and summary["good_samples"] == 17
    assert 100 < summary["avg_w"] < 140 and summary["gaps"] == 0
    reader = JournalReader(out)
    ident = reader.instruments["inst0"].info["identity"]
    assert (ident["model"], ident["serial"]) == ("YokogawaWT310E", "C2PH13047V")
    data = reader.samples()
    assert (data["v_range"] == 300).all() and (data["a_range"] == 1).all()
    assert np.allclose(np.diff(data["t"]), 0.1, atol=0.002)  # PTDaemon's own time stamps
    kinds = [e["kind"] for e in reader.events()]
    assert "ptd_identity" in kinds
    assert ptd_on_lan.mark.startswith("station_") and not ptd_on_lan.running  # stopped at the end


@pytest.mark.slow
def test_dropped_ptdaemon_is_a_gap_and_the_run_goes_on(ptd_on_lan, tmp_path, station_home):
    out = tmp_path / "ptd"
    proc = subprocess.Popen(station_run(ptd_on_lan.resource, out, 6), cwd=ROOT,
                            env={**os.environ, "STATION_HOME": str(station_home)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert ptd_on_lan.wait_for(lambda: ptd_on_lan.received.count("RL") >= 12, timeout=60)
    dropped_at = time.time()
    ptd_on_lan.unplug()
    time.sleep(0.5)  # the outage lasts a while: the stimulus
    ptd_on_lan.plug()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["gaps"] >= 1
    reader = JournalReader(out)
    kinds = [e["kind"] for e in reader.events()]
    assert "disconnected" in kinds and "reconnected" in kinds
    t = reader.samples()["t"]
    assert (t < dropped_at).sum() >= 10 and t[-1] > dropped_at + 1.0  # measured before and after
    assert [r for c, r in ptd_on_lan.log if c == "Stop"][0] == "Stopping untimed measurement"
    go = [c for c in ptd_on_lan.received if c.startswith("Go,")]
    assert len(go) >= 2 and len(set(go)) == 1  # started again after the drop, with the same mark


def test_bare_host_port_resource(ptd_on_lan):
    from instruments.transports.factory import transport_for

    try:
        transport_for("127.0.0.1:8888")
    except ValueError:
        pytest.skip("the transport factory does not take host:port yet (tcp://host:port works)")
    driver = registry.create("ptd", ptd_on_lan.address)
    driver.open()
    assert driver.identify().model == "YokogawaWT310E"
    driver.close()
