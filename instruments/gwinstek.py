"""GW Instek GPM-8213 power meter (WT300-like SCPI, one element, no element suffix).

Commands from ``reference/analyzers.md`` section 2.2 (a hardware-captured transcript for the
numeric items; the range, crest factor and error-queue forms follow the WT300 dialect and are
unverified). Missing values come back as ``NAN``. No over-range status bits are read: an
over-range shows only as a special value. The update rate is fixed: the driver reads at the
chosen interval. Over USB the GPM-8213 is a virtual COM port (CR+LF); over LAN a raw socket on
port 23.
"""

from __future__ import annotations

from instruments.base import AccuracySpec, ModelSpec
from instruments.scpi import CommandTable, ScpiPowerAnalyzer, describe

_MA = 1e-3
_GPM_VOLTS = ((3.0, (15.0, 30.0, 60.0, 150.0, 300.0, 600.0)),
              (6.0, (7.5, 15.0, 30.0, 75.0, 150.0, 300.0)))
_GPM_AMPS = ((3.0, (5 * _MA, 10 * _MA, 20 * _MA, 50 * _MA, 100 * _MA, 200 * _MA,
                    0.5, 1.0, 2.0, 5.0, 10.0, 20.0)),
             (6.0, (2.5 * _MA, 5 * _MA, 10 * _MA, 25 * _MA, 50 * _MA, 100 * _MA,
                    0.25, 0.5, 1.0, 2.5, 5.0, 10.0)))
GPM8213_ACCURACY = AccuracySpec(
    bands=((0.0, 0.3, 0.2), (44.999, 0.3, 0.2), (66.0, 0.1, 0.1), (1000.0, 0.3, 0.2),
           (10_000.0, 1.0, 0.5), (100_000.0, 3.0, 1.0)),
    source="GPM-8213 (not in the reference: conservative placeholders, unverified)",
)
GPM8213_MODELS = (ModelSpec("GPM-8213", ("GPM-8213", "GPM8213"), 1, _GPM_VOLTS, _GPM_AMPS,
                            GPM8213_ACCURACY, max_items=10),)

GPM8213_COMMANDS = CommandTable(
    family="GPM-8213",
    init=("*CLS", ":COMM:HEAD OFF", ":COMM:VERB ON"),
    error_query=":SYST:ERR?",
    voltage_range=(":INP:VOLT:RANG {value}",),
    voltage_range_query=":INP:VOLT:RANG?",
    voltage_auto=(":INP:VOLT:AUTO {state}",),
    voltage_auto_query=":INP:VOLT:AUTO?",
    current_range=(":INP:CURR:RANG {value}",),
    current_range_query=":INP:CURR:RANG?",
    current_auto=(":INP:CURR:AUTO {state}",),
    current_auto_query=":INP:CURR:AUTO?",
    crest_factor=(":INP:CFAC {value}",),
    crest_factor_query=":INP:CFAC?",
    mode=(":INP:MODE {value}",),
    mode_names=(("rms", "ACDC"), ("dc", "DC")),
    values_query=":NUM:NORM:VAL?",
    functions=(("v", "U"), ("a", "I"), ("w", "P"), ("pf", "LAMBDA"), ("freq", "FU"), ("wh", "WH")),
    item_style="numbered",
    item_count=":NUM:NORM:NUMB {count}",
    item_select=":NUM:NORM:ITEM{index} {function}",
    integ_setup=(":INT:MODE MANU", ":INT:FUNC WATT"),  # :INTegrate, MANUal: short forms INT, MANU
    integ_start=":INT:STAR",
    integ_stop=":INT:STOP",
    integ_reset=":INT:RES",
    local=(":COMM:REM 0",),
)

GPM8213_INTERVALS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class GPM8213(ScpiPowerAnalyzer):
    """GW Instek GPM-8213 single-phase power meter (USB virtual COM port, LAN, GPIB option).

    Items U, I, P, LAMBDA, FU (and WH when integrating) are read with ``:NUM:NORM:VAL?``; the
    driver polls at the chosen interval.
    """

    commands = GPM8213_COMMANDS
    model_specs = GPM8213_MODELS
    vendor_names = ("GWINSTEK", "GW INSTEK", "GW-INSTEK")
    intervals = GPM8213_INTERVALS
    description = describe(
        "gpm8213", "GW Instek", GPM8213_MODELS, GPM8213_COMMANDS, GPM8213_INTERVALS,
        ("serial", "tcp", "visa"),
        "GPM-8213 digital power meter (1 element, 600 V / 20 A); update rate fixed, polled at the interval.",
    )
