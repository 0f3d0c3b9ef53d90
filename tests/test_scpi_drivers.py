"""SCPI power-analyzer drivers: exact dialogues, and behaviour against device-like fakes.

Replay tests pin the command strings (what goes out, what comes back). Fake-device tests
check what an operator would notice: wrong ranges refused, over-range samples kept out of
averages, uncertainty as the manual states it, disconnects reported and recovered.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from instruments import registry
from instruments.base import (
    AUTO,
    Config,
    ConfigurationError,
    InstrumentDisconnected,
    InstrumentError,
)
from instruments.fakes import GONE, TIMEOUT, FakeClock, FakeTransport, ReplayTransport, fake_for
from instruments.fakes.gwinstek import GPM8213_DEVICE
from instruments.fakes.rohde_schwarz import HMC8015_DEVICE
from instruments.fakes.scpi_device import nr3
from instruments.fakes.yokogawa import WT210_DEVICES, WT300E_DEVICES, WT500_DEVICES
from instruments.gwinstek import GPM8213
from instruments.rohde_schwarz import HMC8015
from instruments.scpi import parse_error, parse_quantity, parse_value, recognise
from instruments.transports.base import Transport, TransportTimeout
from instruments.yokogawa import WT210, WT300E, WT500
from station.core.samples import Flag, good_mask

OK = '0,"No error"'
INVALID, OVERRANGE = int(Flag.INVALID), int(Flag.OVERRANGE)


def applied(*commands: str, error_query: str = ":STAT:ERR?") -> list:
    """Commands the instrument accepts, followed by the error query the driver sends after them."""
    return [(c, None) for c in commands] + [(error_query, OK)]


def replay_driver(cls, script, **options):
    transport = ReplayTransport(script, resource="USB0::0x0B21::0x0025::C2PH13047V::INSTR")
    clock = FakeClock()
    return cls(transport, clock=clock, **options), transport, clock


def bench_driver(name: str, device_model: str | None = None, **options):
    bench = fake_for(name, device_model)
    cls = registry.driver_class(name)
    return cls(bench.transport, **bench.driver_kwargs, **options), bench


def connect(driver, interval=1.0, cf=3.0, mode="rms", v=300.0, a=1.0):
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=interval, crest_factor=cf, mode=mode))
    driver.set_ranges(v, a)
    driver.start()


def collect(driver, n: int, timeout: float = 0.5, max_calls: int = 1000):
    """At least ``n`` samples (fake time passes inside read_block, so this is instantaneous)."""
    blocks, events = [], []
    for _ in range(max_calls):
        block = driver.read_block(timeout)
        if block is not None:
            blocks.append(block.samples)
            events += block.events
            if sum(len(b) for b in blocks) >= n:
                break
    assert blocks, "no samples at all"
    return np.concatenate(blocks), events


# -- the manual's WT310E dialogue, exchange by exchange ------------------------------------------
WT310E_OPEN = applied("*CLS", ":STAT:QMES ON", ":COMM:HEAD OFF", ":COMM:VERB ON",
                      ":SYST:COMM:COMM WT300", ":NUM:FORM ASCII")
WT310E_IDN = [("*IDN?", "YOKOGAWA,WT310E,C2PH13047V,F1.03")]
WT310E_FILTERS = applied(
    ":STAT:FILT1 FALL", ":STAT:FILT2 NEVER", ":STAT:FILT3 NEVER", ":STAT:FILT4 RISE",
    ":STAT:FILT5 NEVER", ":STAT:FILT6 NEVER", ":STAT:FILT7 RISE", ":STAT:FILT8 RISE",
    ":STAT:FILT9 RISE", ":STAT:FILT10 RISE", ":STAT:FILT11 RISE", ":STAT:FILT12 RISE",
    ":STAT:FILT13 RISE", ":STAT:FILT14 RISE", ":STAT:FILT15 RISE")
WT310E_CONFIGURE = (
    [(":INTEG:STAT?", "RESET")]
    + applied(":INP:CFAC 3") + applied(":INP:MODE RMS") + applied(":RATE 1S")
    + applied(":NUM:NORM:NUM 7", ":NUM:NORM:ITEM1 U,1", ":NUM:NORM:ITEM2 I,1", ":NUM:NORM:ITEM3 P,1",
              ":NUM:NORM:ITEM4 LAMBDA,1", ":NUM:NORM:ITEM5 FU,1", ":NUM:NORM:ITEM6 URANGE,1",
              ":NUM:NORM:ITEM7 IRANGE,1")
    + WT310E_FILTERS
)
WT310E_RANGES_150V_500MA = (
    applied(":INP:VOLT:AUTO OFF", ":INP:VOLT:RANG 150V") + applied(":INP:CURR:AUTO OFF", ":INP:CURR:RANG 500MA")
    + [(":INP:VOLT:RANG?", "150.0E+00"), (":INP:VOLT:AUTO?", "0"),
       (":INP:CURR:RANG?", "500.0E-03"), (":INP:CURR:AUTO?", "0")]
)
WT310E_SETUP = WT310E_OPEN + WT310E_IDN + WT310E_CONFIGURE + WT310E_RANGES_150V_500MA + [(":STAT:EESR?", "0")]


def wt310e_poll(values: str, eesr: str = "1", cond: str = "0") -> list:
    return [(":STAT:EESR?", eesr), (":STAT:COND?", cond), (":NUM:NORM:VAL?", values)]


def test_wt310e_dialogue_from_open_to_first_sample():
    values = "230.12E+00,432.10E-03,98.765E+00,0.99312E+00,50.000E+00,150.00E+00,500.00E-03"
    script = WT310E_SETUP + [(":STAT:EESR?", "0")] + wt310e_poll(values)
    driver, transport, _ = replay_driver(WT300E, script)
    driver.open()
    identity = driver.identify()
    driver.configure(Config(update_interval_s=1.0, crest_factor=3.0, mode="rms"))
    driver.set_ranges(150, 0.5)
    driver.start()
    block = driver.read_block(timeout=0.5)
    transport.assert_done()

    assert (identity.model, identity.serial, identity.firmware) == ("WT310E", "C2PH13047V", "F1.03")
    s = block.samples
    assert len(s) == 1
    assert s["w"][0] == pytest.approx(98.765)
    assert s["v"][0] == pytest.approx(230.12)
    assert s["a"][0] == pytest.approx(0.4321)
    assert s["pf"][0] == pytest.approx(0.99312)
    assert (s["v_range"][0], s["a_range"][0]) == (150.0, pytest.approx(0.5))
    assert s["flags"][0] == 0
    # IM WT310E-02EN p.7-7, 45-66 Hz: 0.1 % of reading + 0.05 % of range (150 V x 0.5 A),
    # plus 0.1 % of the reactive power for PF < 1.
    p, s_va = 98.765, 230.12 * 0.4321
    expected = (0.001 * p + 0.0005 * 75.0 + 0.001 * math.sqrt(s_va**2 - p**2)) / p
    assert s["uncert"][0] == pytest.approx(expected, rel=1e-5)


def test_wt310e_special_values_and_status_bits_flag_samples():
    script = (WT310E_SETUP
              + wt310e_poll("230.1E+00,NAN,NAN,NAN,NAN,150.0E+00,500.0E-03")  # no data yet
              + wt310e_poll("INF,432.1E-03,INF,INF,50.0E+00,150.0E+00,500.0E-03")  # -OL-
              + wt310e_poll("230.1E+00,432.1E-03,98.7E+00,0.99E+00,50.0E+00,150.0E+00,500.0E-03", eesr="65")
              + [(":STAT:EESR?", "128")]  # V peak over latched before the update finished ...
              + wt310e_poll("230.1E+00,432.1E-03,98.7E+00,0.99E+00,50.0E+00,150.0E+00,500.0E-03")  # ... kept
              + wt310e_poll("230.1E+00,432.1E-03,98.7E+00,0.99E+00,50.0E+00,150.0E+00,500.0E-03", eesr="9"))
    driver, transport, _ = replay_driver(WT300E, script)
    connect_script_driver(driver)
    samples, _ = collect(driver, 5, timeout=0.05)
    transport.assert_done()

    flags = samples["flags"]
    assert flags[0] & INVALID and math.isnan(samples["w"][0])
    assert flags[1] & OVERRANGE and math.isnan(samples["w"][1]) and math.isnan(samples["v"][1])
    assert flags[2] & OVERRANGE and samples["w"][2] == pytest.approx(98.7)  # EESR over-range bit 6
    assert flags[3] & OVERRANGE and flags[3] & int(Flag.CLIPPED)  # peak over, bit 7
    assert flags[4] & INVALID  # computation overflow, bit 3
    assert not good_mask(samples).any(), "no flagged sample may enter an average"
    assert np.isnan(samples["uncert"]).all()


def test_refused_setting_names_the_setting_code_and_message():
    script = (WT310E_OPEN + WT310E_IDN + [(":INTEG:STAT?", "RESET")] + applied(":INP:CFAC 3")
              + applied(":INP:MODE RMS")
              + [(":RATE 1S", None), (":STAT:ERR?", '224,"Illegal parameter value"'), (":STAT:ERR?", OK)])
    driver, transport, _ = replay_driver(WT300E, script)
    driver.open()
    driver.identify()
    with pytest.raises(ConfigurationError) as err:
        driver.configure(Config(update_interval_s=1.0))
    transport.assert_done()
    message = str(err.value)
    assert "update interval 1 s" in message and "224" in message and "Illegal parameter value" in message


def test_configure_stops_a_running_integrator_first():
    script = (WT310E_OPEN + WT310E_IDN + [(":INTEG:STAT?", "START")] + applied(":INTEG:STOP", ":INTEG:RES")
              + WT310E_CONFIGURE[1:])
    driver, transport, _ = replay_driver(WT300E, script)
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=1.0))
    transport.assert_done()


@pytest.mark.parametrize("fault", [TIMEOUT, GONE])
def test_silence_or_broken_link_during_reading_is_a_disconnect(fault):
    script = WT310E_SETUP + [(":STAT:EESR?", "1"), (":STAT:COND?", "0"), (":NUM:NORM:VAL?", fault)]
    driver, _, _ = replay_driver(WT300E, script, query_timeout_s=0.5)
    connect_script_driver(driver)
    with pytest.raises(InstrumentDisconnected) as err:
        driver.read_block(0.5)
    assert "WT310E" in str(err.value) and ":NUM:NORM:VAL?" in str(err.value)
    assert "stopped answering" in str(err.value)
    driver.stop()  # after a disconnect stop() has nothing to do and does not raise


def connect_script_driver(driver):
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=1.0))
    driver.set_ranges(150, 0.5)
    driver.start()


def test_a_status_reply_out_of_step_is_a_disconnect():
    script = WT310E_SETUP + [(":STAT:EESR?", "230.12E+00,432.10E-03")]
    driver, _, _ = replay_driver(WT300E, script)
    connect_script_driver(driver)
    with pytest.raises(InstrumentDisconnected, match="out of step"):
        driver.read_block(0.5)


def test_replies_left_from_an_interrupted_conversation_are_discarded_on_open():
    driver, bench = bench_driver("wt300e")
    connect(driver, interval=0.5)
    bench.transport.write(":NUM:NORM:VAL?")  # its reply stays in the instrument's output queue
    driver.close()
    connect(driver, interval=0.5)
    samples, _ = collect(driver, 2)
    assert good_mask(samples).all()


def test_garbled_values_reply_is_an_invalid_sample_and_an_event():
    script = WT310E_SETUP + wt310e_poll("230.12E+00,432.10E-03")
    driver, _, _ = replay_driver(WT300E, script)
    connect_script_driver(driver)
    block = driver.read_block(0.5)
    assert block.samples["flags"][0] & INVALID
    assert [e.kind for e in block.events] == ["error"]
    assert "does not match" in block.events[0].detail["message"]


# -- other families' dialogues --------------------------------------------------------------------
def test_wt210_dialogue_verifies_the_family_and_switches_items_by_name():
    items = ["V ON", "A ON", "W ON", "VA OFF", "VAR OFF", "PF ON", "DEGREE OFF", "VHZ ON", "AHZ OFF",
             "WH OFF", "WHP OFF", "WHM OFF", "AH OFF", "AHP OFF", "AHM OFF", "VPK OFF", "APK OFF",
             "TIME OFF", "MATH OFF"]
    script = (applied("*CLS", ":COMM:HEAD OFF", ":COMM:VERB ON")
              + [("*IDN?", "YOKOGAWA,760401,91K000001,F3.01"), (":CONF:LFILT?", "0"), (":STAT:ERR?", OK)]
              + [(":INTEG:STOP", None), (":INTEG:RES", None),
                 (":STAT:ERR?", '844,"Integration is not started"'), (":STAT:ERR?", OK)]
              + applied(":CONF:CFAC 3") + applied(":CONF:MODE RMS") + applied(":SAMP:RATE 500MS")
              + applied(*[f":MEAS:ITEM:{i}" for i in items])
              + applied(":CONF:VOLT:AUTO ON") + applied(":CONF:CURR:AUTO OFF", ":CONF:CURR:RANG 2A")
              + [(":CONF:VOLT:RANG?", "300.0E+00"), (":CONF:VOLT:AUTO?", "1"),
                 (":CONF:CURR:RANG?", "2.0E+00"), (":CONF:CURR:AUTO?", "0")]
              + [(":MEAS:VAL?", "2.3012E+02,9.9E+37,9.9E+37,9.91E+37,5.0000E+01")])
    driver, transport, _ = replay_driver(WT210, script)
    driver.open()
    assert driver.identify().model == "WT210"
    driver.configure(Config(update_interval_s=0.5))
    driver.set_ranges(AUTO, 2)
    driver.start()
    block = driver.read_block(0.75)
    transport.assert_done()
    s = block.samples
    assert s["flags"][0] & OVERRANGE and s["flags"][0] & int(Flag.AUTO_RANGE)
    assert math.isnan(s["w"][0]) and math.isnan(s["v_range"][0]) and s["a_range"][0] == 2.0


def test_hmc8015_dialogue():
    script = (applied("*CLS", "CHAN1:MEAS:FORM ASC", error_query="SYST:ERR?")
              + [("*IDN?", "Rohde&Schwarz,HMC8015,012345678,00.011")]
              + [("INT:STOP", None), ("INT:RES", None), ("SYST:ERR?", OK)]
              + applied("CHAN1:VOLT:CFAC 6", "CHAN1:CURR:CFAC 6", error_query="SYST:ERR?")
              + applied("CHAN1:MODE DC", error_query="SYST:ERR?")
              + applied("CHAN1:MEAS:FUNC URMS,IRMS,P,LAMB,FU,URAN,IRAN", error_query="SYST:ERR?")
              + applied("CHAN1:VOLT:RANG:AUTO 0", "CHAN1:VOLT:RANG 7.5", error_query="SYST:ERR?")
              + applied("CHAN1:CURR:RANG:AUTO 0", "CHAN1:CURR:RANG 0.025", error_query="SYST:ERR?")
              + [("CHAN1:VOLT:RANG?", "7.500000E+00"), ("CHAN1:VOLT:RANG:AUTO?", "0"),
                 ("CHAN1:CURR:RANG?", "2.500000E-02"), ("CHAN1:CURR:RANG:AUTO?", "0")]
              + [("CHAN1:MEAS:DATA?", "5.000000E+00,2.000000E-02,1.000000E-01,1.000000E+00,9.91E+37,"
                                      "7.500000E+00,2.500000E-02")])
    driver, transport, _ = replay_driver(HMC8015, script)
    driver.open()
    assert driver.identify().model == "HMC8015"
    driver.configure(Config(update_interval_s=0.5, crest_factor=6.0, mode="dc"))
    driver.set_ranges(7.5, 0.025)
    driver.start()
    block = driver.read_block(0.75)
    transport.assert_done()
    s = block.samples
    assert s["w"][0] == pytest.approx(0.1) and s["flags"][0] == 0  # no frequency in DC is not an error
    assert s["uncert"][0] > 0


def test_gpm8213_dialogue_has_no_element_in_its_items():
    script = (applied("*CLS", ":COMM:HEAD OFF", ":COMM:VERB ON", error_query=":SYST:ERR?")
              + [("*IDN?", "GWInstek,GPM-8213,GES913349,V1.05")]
              + [(":INT:STOP", None), (":INT:RES", None), (":SYST:ERR?", OK)]
              + applied(":INP:CFAC 3", error_query=":SYST:ERR?")
              + applied(":INP:MODE ACDC", error_query=":SYST:ERR?")
              + applied(":NUM:NORM:NUMB 5", ":NUM:NORM:ITEM1 U", ":NUM:NORM:ITEM2 I", ":NUM:NORM:ITEM3 P",
                        ":NUM:NORM:ITEM4 LAMBDA", ":NUM:NORM:ITEM5 FU", error_query=":SYST:ERR?")
              + applied(":INP:VOLT:AUTO OFF", ":INP:VOLT:RANG 150V", error_query=":SYST:ERR?")
              + applied(":INP:CURR:AUTO OFF", ":INP:CURR:RANG 500MA", error_query=":SYST:ERR?")
              + [(":INP:VOLT:RANG?", "150V"), (":INP:VOLT:AUTO?", "0"),
                 (":INP:CURR:RANG?", "500mA"), (":INP:CURR:AUTO?", "0")]
              + [(":NUM:NORM:VAL?", "127.58E+00,240.02E-03,17.688E+00,0.5776E+00,NAN")])
    driver, transport, _ = replay_driver(GPM8213, script)
    driver.open()
    assert driver.identify().serial == "GES913349"
    driver.configure(Config(update_interval_s=1.0))
    driver.set_ranges(150, 0.5)
    driver.start()
    block = driver.read_block(1.5)
    transport.assert_done()
    s = block.samples
    assert s["w"][0] == pytest.approx(17.688) and s["a_range"][0] == pytest.approx(0.5)
    assert s["flags"][0] == 0, "a missing frequency does not invalidate the power reading"


# -- parsing --------------------------------------------------------------------------------------
@pytest.mark.parametrize("token,flag", [
    ("NAN", INVALID), ("INF", OVERRANGE), ("-INF", OVERRANGE), ("9.91E+37", INVALID),
    ("9.9E+37", OVERRANGE), ("9.90000E+37", OVERRANGE), ("-9.9E+37", OVERRANGE), ("1.0E+38", INVALID),
    ("12.3#4", INVALID), ("", INVALID),
])
def test_special_values_never_become_numbers(token, flag):
    value, got = parse_value(token)
    assert math.isnan(value) and got == flag


@given(st.floats(min_value=-1e30, max_value=1e30, allow_nan=False).filter(lambda x: abs(x) > 1e-30 or x == 0))
def test_every_number_the_device_writes_reads_back(x):
    value, flag = parse_value(nr3(x))
    assert flag == 0
    assert value == pytest.approx(x, rel=1e-4, abs=1e-30)


@pytest.mark.parametrize("reply,value", [
    ("300.0E+00", 300.0), ("200MA", 0.2), ("250MS", 0.25), ("1S", 1.0), (":RATE 500.0E-03", 0.5),
    ("600V", 600.0), ("2.5mA", 0.0025), ("7.500000E+00", 7.5),
])
def test_settings_read_back_in_base_units(reply, value):
    assert parse_quantity(reply) == pytest.approx(value)


def test_error_replies():
    assert parse_error('113,"Undefined header"') == (113, "Undefined header")
    assert parse_error('-222,"Data out of range"') == (-222, "Data out of range")
    assert parse_error("0") == (0, "")
    assert parse_error("garbage")[0] is None


@pytest.mark.parametrize("idn,expected", [
    ("YOKOGAWA,WT310,C2PH13047V,F1.03", ("wt300e", "WT310")),
    ("YOKOGAWA,WT333E,C2PH13047V,F1.03", ("wt300e", "WT333E")),
    ("YOKOGAWA,760401,91K000001,F3.01", ("wt210", "WT210")),
    ("YOKOGAWA,760202,91K000001,F1.01", ("wt500", "WT500")),
    ("Rohde&Schwarz,HMC8015,012345678,00.011", ("hmc8015", "HMC8015")),
    ("GWInstek,GPM-8213,GES913349,V1.05", ("gpm8213", "GPM-8213")),
    ("YOKOGAWA,WT1806,123,F1", None),
    ("KEITHLEY INSTRUMENTS INC.,MODEL 2000,1,A", None),
    ("garbage", None),
])
def test_recognise_idn_replies(idn, expected):
    assert recognise(idn) == expected


def test_the_five_drivers_are_registered():
    names = registry.available()
    for name, cls in (("wt300e", WT300E), ("wt210", WT210), ("wt500", WT500), ("hmc8015", HMC8015),
                      ("gpm8213", GPM8213)):
        assert names[name] is cls


# -- the drivers' tables against the devices' own ------------------------------------------------
def _same_tables(spec_table, device_table):
    assert sorted(device_table) == [cf for cf, _ in spec_table]
    for cf, ranges in spec_table:
        assert ranges == pytest.approx(device_table[cf]), f"crest factor {cf}"


@pytest.mark.parametrize("cls,devices", [
    (WT300E, WT300E_DEVICES), (WT210, WT210_DEVICES), (WT500, WT500_DEVICES),
    (HMC8015, {"HMC8015": HMC8015_DEVICE}), (GPM8213, {"GPM-8213": GPM8213_DEVICE}),
])
def test_driver_range_tables_match_the_devices(cls, devices):
    for spec in cls.model_specs:
        device = next(d for d in devices.values() if d.idn_model.upper() in [m.upper() for m in spec.idn_models])
        assert spec.elements == device.elements
        _same_tables(spec.voltage_ranges, device.voltage_ranges)
        _same_tables(spec.current_ranges, device.current_ranges)


# -- ranges and crest factor ----------------------------------------------------------------------
def test_a_range_the_model_lacks_is_refused_before_anything_is_sent():
    driver, bench = bench_driver("wt300e")
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=1.0))
    sent = len(bench.transport.sent)
    with pytest.raises(ConfigurationError) as err:
        driver.set_ranges(100, 1)
    assert "100" in str(err.value) and "15, 30, 60, 150, 300, 600" in str(err.value)
    assert len(bench.transport.sent) == sent


def test_crest_factor_6_changes_the_range_table():
    driver, bench = bench_driver("wt300e")
    driver.open()
    driver.identify()
    driver.configure(Config(update_interval_s=1.0, crest_factor=6.0))
    with pytest.raises(ConfigurationError):
        driver.set_ranges(600, 1)
    driver.set_ranges(7.5, 0.0025)
    assert (bench.device.v_range[0], bench.device.i_range[0]) == (7.5, 0.0025)
    assert driver.range_table("voltage") == (7.5, 15.0, 30.0, 75.0, 150.0, 300.0)
    driver.configure(Config(update_interval_s=1.0, crest_factor=3.0))
    with pytest.raises(ConfigurationError):
        driver.set_ranges(7.5, 1)


def test_each_model_has_its_own_current_ranges():
    driver, bench = bench_driver("wt300e", "WT310EH")
    driver.open()
    assert driver.identify().model == "WT310EH"
    driver.configure(Config(update_interval_s=1.0))
    driver.set_ranges(300, 40)
    assert driver.ranges().current == 40.0
    with pytest.raises(ConfigurationError):
        driver.set_ranges(300, 0.005)
    assert driver.round_up_range("current", 0.3) == 1.0


def test_interval_the_model_lacks_is_refused():
    driver, _ = bench_driver("wt300e")
    driver.open()
    driver.identify()
    with pytest.raises(ConfigurationError) as err:
        driver.configure(Config(update_interval_s=0.3))
    assert "0.1, 0.25, 0.5, 1, 2, 5" in str(err.value)


# -- what is measured -----------------------------------------------------------------------------
def test_a_fixed_range_too_small_gives_overrange_samples_kept_out_of_averages():
    driver, bench = bench_driver("wt300e")
    bench.device.set_load(urms=230.0, irms=2.0, pf=1.0)
    connect(driver, interval=0.5, v=300, a=1)
    samples, _ = collect(driver, 4)
    assert (samples["flags"] & OVERRANGE).all()
    assert np.isnan(samples["w"]).all() and not good_mask(samples).any()
    driver.set_ranges(300, 2)
    driver.start()
    samples, _ = collect(driver, 4)
    assert good_mask(samples).all()
    assert samples["w"] == pytest.approx(460.0)


# How each family writes a value it has not got / cannot measure, and what the station makes of it.
FAMILY_OVERRANGE_FLAG = {
    "wt300e": OVERRANGE,  # INF (and the EESR over-range bit)
    "wt500": OVERRANGE,  # INF
    "wt210": OVERRANGE,  # 9.9E+37
    "hmc8015": INVALID,  # 9.91E+37 for every invalid value, over-range included
    "gpm8213": INVALID,  # NAN for missing and over-range alike
}


@pytest.mark.parametrize("name", sorted(FAMILY_OVERRANGE_FLAG))
def test_every_family_flags_overrange_and_missing_values_and_never_averages_them(name):
    driver, bench = bench_driver(name)
    bench.device.set_load(urms=230.0, irms=2.0, pf=1.0)
    connect(driver, interval=0.5, v=300, a=1)  # 2 A on the 1 A range: over-range on every family
    samples, _ = collect(driver, 4)
    assert (samples["flags"] & FAMILY_OVERRANGE_FLAG[name]).all()
    assert np.isnan(samples["w"]).all() and not good_mask(samples).any()
    driver.set_ranges(300, 5)  # a range that fits: readings again
    driver.start()
    samples, _ = collect(driver, 4)
    first = samples["ch_w"][:, 0] if "ch_w" in samples.dtype.names else samples["w"]
    assert good_mask(samples).all() and first == pytest.approx(460.0)


def test_wt500_special_values_from_its_values_reply():
    """The WT500 writes NAN (no data) and INF (over-range) like the WT300E; both stay out of averages."""
    bench = fake_for("wt500")
    driver = WT500(bench.transport, **bench.driver_kwargs)
    connect(driver, interval=0.5, v=300, a=5)
    samples, _ = collect(driver, 2)
    assert good_mask(samples).all()
    bench.device.set_load(urms=500.0)  # 500 V on the 300 V range
    samples, _ = collect(driver, 4)
    assert (samples["flags"][-2:] & OVERRANGE).all() and np.isnan(samples["v"][-2:]).all()
    assert any(r.startswith("INF") for r in bench.transport.received if "," in r)


def test_auto_range_is_flagged_and_follows_the_load():
    driver, bench = bench_driver("wt300e")
    bench.device.set_load(urms=230.0, irms=lambda t: 0.05 if t < 1003.0 else 4.0, pf=1.0)
    connect(driver, interval=0.25, v=AUTO, a=AUTO)
    samples, _ = collect(driver, 40)
    assert (samples["flags"] & int(Flag.AUTO_RANGE)).all()
    assert np.isnan(samples["uncert"]).all(), "no uncertainty is claimed while auto-ranging"
    changed = samples["flags"] & int(Flag.RANGE_CHANGE) != 0
    assert changed.sum() >= 2, "the current range stepped up more than once"
    assert np.all(samples["a_range"][changed] != np.roll(samples["a_range"], 1)[changed])
    assert samples["a_range"][-1] == 5.0 and samples["a"][-1] == pytest.approx(4.0)


def test_input_protection_switching_to_auto_is_reported():
    driver, bench = bench_driver("wt300e")
    bench.device.set_load(irms=0.1)
    connect(driver, interval=0.5, v=300, a=0.2)
    samples, events = collect(driver, 2)
    assert good_mask(samples).all()
    bench.device.set_load(irms=0.9)  # far above the 200 mA range: the WT310E protects its shunt
    samples, events = collect(driver, 4)
    assert [e.kind for e in events] == ["range"]
    assert events[0].detail["current_auto"] and "auto range" in events[0].detail["message"]
    assert samples["flags"][-1] & int(Flag.AUTO_RANGE) and samples["a_range"][-1] == 1.0


def _uncert_of(load: dict, cf=3.0, mode="rms", v=300.0, a=1.0):
    driver, bench = bench_driver("wt300e")
    bench.device.set_load(**load)
    connect(driver, interval=1.0, cf=cf, mode=mode, v=v, a=a)
    samples, _ = collect(driver, 2)
    return float(samples["uncert"][-1])


def test_uncertainty_follows_the_manuals_table():
    p = 230.0 * 0.5
    # 300 V x 1 A = 300 W range; IM WT310E-02EN p.7-7, PF 1.
    assert _uncert_of({"urms": 230.0, "irms": 0.5, "pf": 1.0, "freq": 50.0}) == pytest.approx(
        (0.001 * p + 0.0005 * 300) / p, rel=1e-4)
    assert _uncert_of({"urms": 230.0, "irms": 0.5, "pf": 1.0, "freq": 400.0}) == pytest.approx(
        (0.002 * p + 0.002 * 300) / p, rel=1e-4)
    assert _uncert_of({"urms": 230.0, "irms": 0.5, "pf": 1.0, "freq": 0.0}) == pytest.approx(
        (0.001 * p + 0.002 * 300) / p, rel=1e-4)
    # Crest factor 6 doubles the range error (150 V x 0.5 A at CF 6 = 75 W range).
    assert _uncert_of({"urms": 100.0, "irms": 0.4, "pf": 1.0}, cf=6.0, v=150, a=0.5) == pytest.approx(
        (0.001 * 40 + 2 * 0.0005 * 75) / 40, rel=1e-4)


def test_uncertainty_grows_with_range_headroom_and_reactive_power():
    small_range = _uncert_of({"irms": 0.5, "pf": 1.0}, a=0.5)
    big_range = _uncert_of({"irms": 0.5, "pf": 1.0}, a=20.0)
    assert big_range > 10 * small_range > 0
    assert _uncert_of({"irms": 0.5, "pf": 0.5}) > _uncert_of({"irms": 0.5, "pf": 1.0})


def test_three_elements_give_per_element_values_and_totals():
    driver, bench = bench_driver("wt300e", "WT333E")
    for element, (u, i) in enumerate(((230.0, 1.0), (231.0, 2.0), (229.0, 3.0)), start=1):
        bench.device.set_load(element, urms=u, irms=i, pf=1.0)
    connect(driver, interval=0.5, v=300, a=5)
    samples, _ = collect(driver, 2)
    s = samples[-1]
    assert samples.dtype.names[-4:] == ("ch_w", "ch_v", "ch_a", "ch_pf")
    assert s["ch_w"] == pytest.approx([230.0, 462.0, 687.0])
    assert s["w"] == pytest.approx(230.0 + 462.0 + 687.0)
    assert s["a"] == pytest.approx(6.0) and s["v"] == pytest.approx(230.0)
    assert s["flags"] == 0 and 0 < s["uncert"] < 0.01
    bench.device.set_load(2, irms=8.0)  # element 2 over-ranges on 5 A
    samples, _ = collect(driver, 2)
    s = samples[-1]
    assert s["flags"] & OVERRANGE and math.isnan(s["w"])
    assert math.isnan(s["ch_w"][1]) and s["ch_w"][0] == pytest.approx(230.0)


# -- polling and timestamps -----------------------------------------------------------------------
class TimedTransport(FakeTransport):
    """Notes the clock when each values query goes out and when its reply comes back."""

    def __init__(self, device, clock):
        super().__init__(device, latency_s=0.010)
        self.clock = clock
        self.exchanges: list[tuple[float, float]] = []

    def write(self, command):
        if command == ":NUM:NORM:VAL?":
            self._t_write = self.clock.time()
        super().write(command)

    def read_line(self, timeout=None):
        line = super().read_line(timeout)
        if self.sent[-1] == ":NUM:NORM:VAL?":
            self.exchanges.append((self._t_write, self.clock.time()))
        return line


def test_samples_are_stamped_mid_exchange_one_per_instrument_update():
    bench = fake_for("wt300e")
    transport = TimedTransport(bench.device, bench.clock)
    driver = WT300E(transport, clock=bench.clock)
    connect(driver, interval=0.5)
    samples, _ = collect(driver, 20)
    values_queries = transport.sent.count(":NUM:NORM:VAL?")
    assert values_queries == len(samples), "every values read is a new update, none read twice"
    mid = [(a + b) / 2 for a, b in transport.exchanges]
    assert samples["t"] == pytest.approx(mid, abs=1e-6)
    assert np.diff(samples["t"]) == pytest.approx(0.5, abs=0.02)
    # Once in step with the instrument: a status read, a condition read and a values read
    # per update, never a tight loop.
    sent = len(transport.sent)
    more, _ = collect(driver, 20)
    assert len(transport.sent) - sent <= 3 * len(more) + 2


class StampedTransport(FakeTransport):
    """Notes the clock around every values exchange of any family."""

    def __init__(self, device, values_query):
        super().__init__(device, latency_s=0.030)
        self.values_query = values_query
        self.exchanges: list[tuple[float, float]] = []

    def write(self, command):
        if command == self.values_query:
            self._t_write = self.device.clock.time()
        super().write(command)

    def read_line(self, timeout=None):
        line = super().read_line(timeout)
        if self.sent[-1] == self.values_query:
            self.exchanges.append((self._t_write, self.device.clock.time()))
        return line


@pytest.mark.parametrize("name", ["wt300e", "wt210", "wt500", "hmc8015", "gpm8213"])
@pytest.mark.parametrize("interval", [0.1, 0.5])
def test_every_family_keeps_to_the_update_interval_with_mid_exchange_stamps(name, interval):
    bench = fake_for(name)
    cls = registry.driver_class(name)
    transport = StampedTransport(bench.device, cls.commands.values_query)
    driver = cls(transport, **bench.driver_kwargs)
    connect(driver, interval=interval, v=300, a=5)
    samples, _ = collect(driver, 30)
    mid = [(a + b) / 2 for a, b in transport.exchanges]
    assert samples["t"] == pytest.approx(mid[:len(samples)], abs=1e-6)
    steps = np.diff(samples["t"])
    assert steps == pytest.approx(interval, abs=0.2 * interval), "one sample per update interval"
    assert samples["t"][-1] - samples["t"][0] == pytest.approx(interval * (len(samples) - 1), abs=interval)


def test_a_read_with_nothing_due_waits_its_timeout_without_traffic():
    driver, bench = bench_driver("hmc8015")
    connect(driver, interval=5.0)
    sent = len(bench.transport.sent)
    start = bench.clock.monotonic()
    assert driver.read_block(0.25) is None
    assert bench.clock.monotonic() - start == pytest.approx(0.25)
    assert len(bench.transport.sent) == sent
    samples, _ = collect(driver, 3)
    assert np.diff(samples["t"]) == pytest.approx(5.0, abs=0.01)


def test_read_before_start_is_an_error():
    driver, _ = bench_driver("wt300e")
    driver.open()
    driver.identify()
    with pytest.raises(InstrumentError, match="start"):
        driver.read_block(0.1)


# -- faults: stall, vanish, come back ----------------------------------------------------------------
def test_a_stalled_instrument_is_a_disconnect_and_recovers_after_reconnect():
    driver, bench = bench_driver("wt300e", query_timeout_s=0.5)
    connect(driver, interval=0.5, v=300, a=1)
    collect(driver, 2)
    bench.stall()
    with pytest.raises(InstrumentDisconnected, match="no reply"):
        collect(driver, 1)
    bench.resume()
    driver.close()
    connect(driver, interval=0.5, v=300, a=1)
    samples, _ = collect(driver, 3)
    assert good_mask(samples).all()


def test_an_instrument_that_vanishes_and_comes_back_power_cycled_is_set_up_again():
    driver, bench = bench_driver("wt300e")
    connect(driver, interval=0.5, v=300, a=2)
    collect(driver, 2)
    bench.unplug()
    with pytest.raises(InstrumentDisconnected, match="connection broke"):
        collect(driver, 1)
    driver.close()
    with pytest.raises(InstrumentDisconnected, match="cannot connect"):
        driver.open()
    bench.plug(power_cycle=True)  # factory settings: headers on, 600 V / 20 A, preset items
    connect(driver, interval=0.5, v=300, a=2)
    samples, _ = collect(driver, 3)
    assert good_mask(samples).all()
    assert (samples["v_range"] == 300).all() and (samples["a_range"] == 2).all()
    assert bench.device.headers is False


def test_unknown_commands_land_in_the_error_queue_with_the_family_code():
    for name, query, code in (("wt300e", ":STAT:ERR?", 113), ("hmc8015", "SYST:ERR?", -113),
                              ("gpm8213", ":SYST:ERR?", -113), ("wt210", ":STAT:ERR?", 113)):
        bench = fake_for(name)
        bench.transport.open()
        bench.transport.write(":BOGUS:COMMAND 1")
        assert parse_error(bench.transport.query(query)) == (code, "Undefined header"), name
        assert parse_error(bench.transport.query(query))[0] == 0, name


def test_the_session_keeps_running_through_an_unplug():
    from station.core.acquisition import InstrumentSession

    driver, bench = bench_driver("wt300e")
    session = InstrumentSession("wt", driver, Config(update_interval_s=0.1), 300.0, 1.0,
                                stall_timeout_s=60.0, reconnect_interval_s=0.01)
    got: list[np.ndarray] = []
    kinds: list[str] = []
    lock = threading.Lock()

    def sink(samples):
        with lock:
            got.append(samples.copy())

    session.add_sink(sink)
    session.add_listener(lambda kind, **_: kinds.append(kind))

    def wait_for(condition, what):
        deadline = time.monotonic() + 10.0
        while not condition():
            assert time.monotonic() < deadline, f"never saw {what}"
            time.sleep(0.005)

    session.start()
    try:
        wait_for(lambda: len(got) >= 3, "samples")
        bench.unplug()
        wait_for(lambda: "disconnected" in kinds, "the disconnect")
        bench.plug()
        wait_for(lambda: "reconnected" in kinds, "the reconnect")
        n = len(got)
        wait_for(lambda: len(got) >= n + 3, "samples after the reconnect")
    finally:
        session.stop()
    with lock:
        samples = np.concatenate(got)
    assert np.count_nonzero(samples["flags"] & int(Flag.GAP_BEFORE)) == 1
    assert session.state == "stopped"


# -- energy integrator ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["wt300e", "wt210", "hmc8015", "gpm8213"])
def test_integrator_runs_between_start_and_stop(name):
    driver, bench = bench_driver(name, integrate=True)
    bench.device.set_load(urms=230.0, irms=0.5, pf=1.0)
    connect(driver, interval=1.0)
    assert bench.device.integ_state == "START"
    collect(driver, 36)
    driver.stop()
    assert bench.device.integ_state == "STOP"
    assert driver.energy_wh == pytest.approx(115.0 * 36 / 3600, rel=0.1)
    # Reconfiguring (as after a reconnect) resets the integrator without an error.
    driver.configure(Config(update_interval_s=1.0))
    assert bench.device.integ_state == "RESET" and not bench.device.errors_queue


# -- model-specific identification ----------------------------------------------------------------
def test_wt230_is_recognised_by_its_code_with_three_elements():
    driver, bench = bench_driver("wt210", "760503")
    bench.device.set_load(3, irms=1.0)
    connect(driver, interval=0.5, a=2)
    assert driver.identity.model == "WT230" and driver.dtype["ch_w"].shape == (3,)
    samples, _ = collect(driver, 2)
    assert samples["ch_a"][-1] == pytest.approx([0.5, 0.5, 1.0])


def test_wt210_outside_488_2_mode_is_explained():
    bench = fake_for("wt210", mode_4882=False)
    driver = WT210(bench.transport, clock=bench.clock, query_timeout_s=0.1)
    with pytest.raises(InstrumentError, match="488.2"):
        driver.open()
        driver.identify()


def test_wrong_driver_for_the_instrument_says_so():
    bench = fake_for("hmc8015")
    driver = WT300E(bench.transport, clock=bench.clock)
    bench.transport.open()
    with pytest.raises(InstrumentError, match="not a Yokogawa"):
        driver.identify()


def test_expected_model_guards_against_the_wrong_analyzer():
    driver, _ = bench_driver("wt300e", "WT310", model="WT333E")
    driver.open()
    with pytest.raises(InstrumentError, match="WT333E"):
        driver.identify()


def test_unknown_option_is_refused_at_construction():
    with pytest.raises(ConfigurationError, match="integrate"):
        WT300E(None, intergrate=True)


# -- pyvisa-sim: the simple dialogues through a real VISA stack --------------------------------------
SIM_INSTRUMENTS = {
    # name: (resource, *IDN? reply, init commands, error query, extra dialogues)
    "WT310E": ("USB0::0x0B21::0x0025::C2PH13047V::INSTR", "YOKOGAWA,WT310E,C2PH13047V,F1.03",
               ["*CLS", ":STAT:QMES ON", ":COMM:HEAD OFF", ":COMM:VERB ON", ":SYST:COMM:COMM WT300",
                ":NUM:FORM ASCII"], ":STAT:ERR?", []),
    "WT333E": ("USB0::0x0B21::0x0025::C3PH00001V::INSTR", "YOKOGAWA,WT333E,C3PH00001V,F1.05",
               ["*CLS", ":STAT:QMES ON", ":COMM:HEAD OFF", ":COMM:VERB ON", ":SYST:COMM:COMM WT300",
                ":NUM:FORM ASCII"], ":STAT:ERR?", []),
    "WT210": ("GPIB0::1::INSTR", "YOKOGAWA,760401,91K000001,F3.01",
              ["*CLS", ":COMM:HEAD OFF", ":COMM:VERB ON"], ":STAT:ERR?", [(":CONF:LFILT?", "0")]),
    "WT210-other-mode": ("GPIB0::2::INSTR", "YOKOGAWA,760401,91K000002,F3.01",
                         ["*CLS", ":COMM:HEAD OFF", ":COMM:VERB ON"], ":STAT:ERR?", []),
    "WT500": ("USB0::0x0B21::0x0026::91N000001::INSTR", "YOKOGAWA,760202,91N000001,F2.01",
              ["*CLS", ":STAT:QMES ON", ":COMM:HEAD OFF", ":COMM:VERB ON", ":NUM:FORM ASCII"], ":STAT:ERR?", []),
    "HMC8015": ("USB0::0x0AAD::0x0135::012345678::INSTR", "Rohde&Schwarz,HMC8015,012345678,00.011",
                ["*CLS", "CHAN1:MEAS:FORM ASC"], "SYST:ERR?", []),
    "GPM-8213": ("TCPIP0::192.168.0.20::inst0::INSTR", "GWInstek,GPM-8213,GES913349,V1.05",
                 ["*CLS", ":COMM:HEAD OFF", ":COMM:VERB ON"], ":SYST:ERR?", []),
}


@pytest.fixture
def sim_visa(tmp_path):
    """A pyvisa-sim resource manager over a YAML file written here (no shared fixtures)."""
    pyvisa = pytest.importorskip("pyvisa")
    pytest.importorskip("pyvisa_sim")
    devices, resources = {}, {}
    for name, (resource, idn, init, error_query, extra) in SIM_INSTRUMENTS.items():
        eom = {"q": "\n", "r": "\n"}
        devices[name] = {
            "eom": {"USB INSTR": eom, "GPIB INSTR": eom, "TCPIP INSTR": eom},
            "error": {"error_queue": [{"q": error_query, "default": OK,
                                       "command_error": '113,"Undefined header"'}]},
            "dialogues": [{"q": "*IDN?", "r": idn}] + [{"q": c} for c in init]
                         + [{"q": q, "r": r} for q, r in extra],
        }
        resources[resource] = {"device": name}
    path = tmp_path / "analyzers.yaml"
    path.write_text(yaml.safe_dump({"spec": "1.1", "devices": devices, "resources": resources}))
    rm = pyvisa.ResourceManager(f"{path}@sim")
    yield rm
    rm.close()


class PyvisaSimTransport(Transport):
    """The Transport interface over a pyvisa resource (the test's own, minimal adapter)."""

    def __init__(self, rm, resource):
        self.rm, self.resource, self._res = rm, resource, None

    def open(self):
        self._res = self.rm.open_resource(self.resource, read_termination="\n", write_termination="\n")

    def close(self):
        if self._res is not None:
            self._res.close()
            self._res = None

    @property
    def is_open(self):
        return self._res is not None

    def write(self, command):
        self._res.write(command)

    def read_line(self, timeout=None):
        import pyvisa

        self._res.timeout = int(1000 * (timeout or 0.1))
        try:
            return self._res.read()
        except pyvisa.errors.VisaIOError as exc:
            raise TransportTimeout(str(exc)) from exc

    def read_bytes(self, size, timeout=None):
        return self._res.read_bytes(size)

    def write_bytes(self, data):
        self._res.write_raw(data)


@pytest.mark.parametrize("name,driver_name,model,serial", [
    ("WT310E", "wt300e", "WT310E", "C2PH13047V"),
    ("WT333E", "wt300e", "WT333E", "C3PH00001V"),
    ("WT210", "wt210", "WT210", "91K000001"),
    ("WT500", "wt500", "WT500", "91N000001"),
    ("HMC8015", "hmc8015", "HMC8015", "012345678"),
    ("GPM-8213", "gpm8213", "GPM-8213", "GES913349"),
])
def test_identify_over_pyvisa_sim(sim_visa, name, driver_name, model, serial):
    resource = SIM_INSTRUMENTS[name][0]
    driver = registry.driver_class(driver_name)(PyvisaSimTransport(sim_visa, resource), query_timeout_s=0.1)
    driver.open()
    identity = driver.identify()
    driver.close()
    assert (identity.model, identity.serial) == (model, serial)
    assert recognise(identity.raw) == (driver_name, model)


def test_wt210_that_does_not_know_its_own_command_is_told_about_488_2_mode(sim_visa):
    resource = SIM_INSTRUMENTS["WT210-other-mode"][0]
    driver = WT210(PyvisaSimTransport(sim_visa, resource), query_timeout_s=0.05)
    driver.open()
    with pytest.raises(InstrumentError, match="488.2"):
        driver.identify()


def test_readings_taken_before_the_device_vanishes_are_kept():
    """A device that disappears in the middle of a read_block call loses none of the readings
    already taken in that call: they come out, and the disconnect is reported on the next call."""
    from instruments.base import AUTO, Config, InstrumentDisconnected
    from instruments.fakes import fake_for
    from instruments.registry import available

    bench = fake_for("wt300e")
    drv = available()["wt300e"](bench.transport, **bench.driver_kwargs)
    drv.open()
    drv.identify()
    drv.configure(Config(update_interval_s=0.1))
    drv.set_ranges(AUTO, AUTO)
    drv.start()
    drv.read_block(timeout=0.5)
    polls = {"n": 0}
    original = drv._poll

    def poll_then_vanish():
        polls["n"] += 1
        if polls["n"] == 3:
            bench.unplug()
        return original()

    drv._poll = poll_then_vanish
    block = drv.read_block(timeout=1.0)
    assert block is not None and len(block.samples) >= 2
    with pytest.raises(InstrumentDisconnected):
        drv.read_block(timeout=0.5)
