"""Rohde & Schwarz (Hameg) HMC8015 power analyzer.

Commands from the official R&S CVI driver (rshmc8015 1.0.3) as summarised in
``reference/analyzers.md`` section 2.1. The HMC8015 has a fixed update rate: the driver reads
it at the chosen interval. It reports every invalid value, over-range included, as 9.91E+37:
such samples are flagged INVALID (there are no over-range status bits read). The ranges in
force are read with every sample (functions URANge / IRANge).
"""

from __future__ import annotations

from instruments.base import AccuracySpec, ModelSpec
from instruments.records import Flag
from instruments.scpi import CommandTable, ScpiPowerAnalyzer, describe

_MA = 1e-3
# 5..600 V and 5 mA..20 A per the CVI range tables; the steps in between and the crest factor 6
# tables are derived (unverified).
_HMC_VOLTS = ((3.0, (5.0, 15.0, 30.0, 60.0, 150.0, 300.0, 600.0)),
              (6.0, (2.5, 7.5, 15.0, 30.0, 75.0, 150.0, 300.0)))
_HMC_AMPS = ((3.0, (5 * _MA, 10 * _MA, 20 * _MA, 50 * _MA, 100 * _MA, 200 * _MA,
                    0.5, 1.0, 2.0, 5.0, 10.0, 20.0)),
             (6.0, (2.5 * _MA, 5 * _MA, 10 * _MA, 25 * _MA, 50 * _MA, 100 * _MA,
                    0.25, 0.5, 1.0, 2.5, 5.0, 10.0)))
HMC8015_ACCURACY = AccuracySpec(
    bands=((0.0, 0.3, 0.2), (44.999, 0.3, 0.2), (66.0, 0.1, 0.1), (1000.0, 0.3, 0.2),
           (10_000.0, 1.0, 0.5), (100_000.0, 3.0, 1.0)),
    source="HMC8015 (not in the reference: conservative placeholders, unverified)",
)
HMC8015_MODELS = (ModelSpec("HMC8015", ("HMC8015",), 1, _HMC_VOLTS, _HMC_AMPS, HMC8015_ACCURACY,
                            max_items=10),)

HMC8015_COMMANDS = CommandTable(
    family="HMC8015",
    init=("*CLS", "CHAN1:MEAS:FORM ASC"),
    error_query="SYST:ERR?",
    voltage_range=("CHAN1:VOLT:RANG {value}",),
    voltage_range_query="CHAN1:VOLT:RANG?",
    voltage_auto=("CHAN1:VOLT:RANG:AUTO {state}",),
    voltage_auto_query="CHAN1:VOLT:RANG:AUTO?",
    current_range=("CHAN1:CURR:RANG {value}",),
    current_range_query="CHAN1:CURR:RANG?",
    current_auto=("CHAN1:CURR:RANG:AUTO {state}",),
    current_auto_query="CHAN1:CURR:RANG:AUTO?",
    crest_factor=("CHAN1:VOLT:CFAC {value}", "CHAN1:CURR:CFAC {value}"),
    crest_factor_query="CHAN1:VOLT:CFAC?",
    mode=("CHAN1:MODE {value}",),
    mode_names=(("rms", "AC"), ("dc", "DC")),  # AC = true RMS in the HMC's terms (unverified)
    values_query="CHAN1:MEAS:DATA?",
    functions=(("v", "URMS"), ("a", "IRMS"), ("w", "P"), ("pf", "LAMB"), ("freq", "FU"),
               ("v_range", "URAN"), ("a_range", "IRAN"), ("wh", "WH")),
    item_style="list",
    item_select="CHAN1:MEAS:FUNC {functions}",
    integ_setup=("INT:MODE MAN",),
    integ_start="INT:STAR",
    integ_stop="INT:STOP",
    integ_reset="INT:RES",
    sentinels=((9.91e37, int(Flag.INVALID)),),
    on_off=("1", "0"),
    range_units=False,
    local=("SYST:LOC",),
)

HMC8015_INTERVALS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class HMC8015(ScpiPowerAnalyzer):
    """Rohde & Schwarz HMC8015 single-phase power analyzer (USB-TMC, USB-VCP, LAN, GPIB).

    Numeric functions URMS, IRMS, P, LAMB, FU, URAN, IRAN (and WH when integrating) are read
    with ``CHAN1:MEAS:DATA?``; the driver polls at the chosen interval.
    """

    commands = HMC8015_COMMANDS
    model_specs = HMC8015_MODELS
    vendor_names = ("ROHDE&SCHWARZ", "ROHDE & SCHWARZ", "HAMEG")
    intervals = HMC8015_INTERVALS
    description = describe(
        "hmc8015", "Rohde & Schwarz", HMC8015_MODELS, HMC8015_COMMANDS, HMC8015_INTERVALS,
        ("visa", "serial", "tcp"),
        "HMC8015 power analyzer (1 channel, 600 V / 20 A); update rate fixed, polled at the interval.",
    )
