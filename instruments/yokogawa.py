"""Yokogawa power analyzers: WT300E/WT300 (WT310, WT33x), WT210/WT230, WT500.

Each family is one command table plus its models' range tables and accuracy; the driver
that speaks them is :class:`instruments.scpi.ScpiPowerAnalyzer`.

Sources (see ``reference/analyzers.md``): commands and EESR bits as used by yokotool and the
WT310E communication manual; WT300E ranges from IM WT310E-01EN p.2-7 (current, verified) and
the WT310E/GPM clone table (voltage, derived); WT300E power accuracy from IM WT310E-02EN p.7-7.
Where a value below is marked "unverified", check it against the manual before relying on it.

Over-range status: the WT300E and WT500 report it in the extended event status register
(EESR bits 6/9/12 "over-range", 7/10/13 "voltage peak over", 8/11/14 "current peak over" for
elements 1/2/3, bit 3 "computation overflow") and the condition register; the driver reads
both with every sample. The WT210/WT230 are read without status bits: their over-range shows
only as the 9.9E+37 value.
"""

from __future__ import annotations

from dataclasses import replace

from instruments.base import AccuracySpec, ModelSpec
from instruments.scpi import CommandTable, ScpiPowerAnalyzer, describe

_MA = 1e-3

# -- WT300E / WT300 -------------------------------------------------------------------------------
_WT300_VOLTS = ((3.0, (15.0, 30.0, 60.0, 150.0, 300.0, 600.0)),
                (6.0, (7.5, 15.0, 30.0, 75.0, 150.0, 300.0)))
_WT310_AMPS = ((3.0, (5 * _MA, 10 * _MA, 20 * _MA, 50 * _MA, 100 * _MA, 200 * _MA,
                      0.5, 1.0, 2.0, 5.0, 10.0, 20.0)),
               (6.0, (2.5 * _MA, 5 * _MA, 10 * _MA, 25 * _MA, 50 * _MA, 100 * _MA,
                      0.25, 0.5, 1.0, 2.5, 5.0, 10.0)))
_WT310EH_AMPS = ((3.0, (1.0, 2.0, 5.0, 10.0, 20.0, 40.0)),
                 (6.0, (0.5, 1.0, 2.5, 5.0, 10.0, 20.0)))
_WT330_AMPS = ((3.0, (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)),
               (6.0, (0.25, 0.5, 1.0, 2.5, 5.0, 10.0)))

# IM WT310E-02EN p.7-7 (12 months, CF 3, PF 1). The 1-10 kHz and 10-100 kHz bands add a
# frequency-proportional reading term; the value at the top of each band is used (worst case).
WT300E_ACCURACY = AccuracySpec(
    bands=((0.0, 0.1, 0.2), (44.999, 0.3, 0.2), (66.0, 0.1, 0.05), (1000.0, 0.2, 0.2),
           (10_000.0, 0.1 + 0.067 * 9, 0.3), (100_000.0, 0.5 + 0.09 * 90, 0.5)),
    source="IM WT310E-02EN p.7-7 (WT310E/WT310EH/WT332E/WT333E)",
)
# WT300 (non-E), IM WT310-02EN p.7-7: the same bands as the WT300E (DC 0.1+0.2, <45 Hz 0.3+0.2,
# 66 Hz-1 kHz 0.2+0.2, 1-10 kHz 0.1+0.3 plus 0.067(f-1), 10-100 kHz 0.5+0.5 plus 0.09(f-10)),
# except 45-66 Hz: +-(0.1 % rdg + 0.1 % rng). Checked against the manual's table.
WT300_ACCURACY = replace(
    WT300E_ACCURACY,
    bands=tuple((f, r, 0.1) if f == 66.0 else (f, r, n) for f, r, n in WT300E_ACCURACY.bands),
    source="IM WT310-02EN p.7-7 (WT310/WT332/WT333)",
)


def _wt300(name: str, elements: int, amps, accuracy: AccuracySpec, max_items: int) -> ModelSpec:
    return ModelSpec(name, (name,), elements, _WT300_VOLTS, amps, accuracy, max_items=max_items)


WT300E_MODELS = (
    _wt300("WT310E", 1, _WT310_AMPS, WT300E_ACCURACY, 10),  # reference model (first)
    _wt300("WT310", 1, _WT310_AMPS, WT300_ACCURACY, 10),
    _wt300("WT310EH", 1, _WT310EH_AMPS, WT300E_ACCURACY, 10),
    _wt300("WT332E", 2, _WT330_AMPS, WT300E_ACCURACY, 255),
    _wt300("WT333E", 3, _WT330_AMPS, WT300E_ACCURACY, 255),
    _wt300("WT332", 2, _WT330_AMPS, WT300_ACCURACY, 255),
    _wt300("WT333", 3, _WT330_AMPS, WT300_ACCURACY, 255),
)

_EESR_UPD, _EESR_OVRS = 0, 3
_ELEMENT_BITS = ((6, 7, 8), (9, 10, 11), (12, 13, 14))  # (over-range, V peak over, I peak over)
# EESR transition filters (:STAT:FILT<bit+1>): "update finished" on its falling edge, the
# over-range conditions on their rising edge, everything else never.
_FILTERS = tuple(
    f":STAT:FILT{bit + 1} {'FALL' if bit == _EESR_UPD else 'RISE' if bit == _EESR_OVRS or bit >= 6 else 'NEVER'}"
    for bit in range(15)
)

WT300E_COMMANDS = CommandTable(
    family="WT300E",
    init=(
        "*CLS",
        ":STAT:QMES ON",  # error replies carry the message, not just the code
        ":COMM:HEAD OFF",
        ":COMM:VERB ON",
        ":SYST:COMM:COMM WT300",  # the native command set, not the WT200-compatible one
        ":NUM:FORM ASCII",
    ),
    error_query=":STAT:ERR?",
    voltage_range=(":INP:VOLT:RANG {value}",),  # all elements ([:ALL])
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
    mode_names=(("rms", "RMS"), ("dc", "DC")),
    interval=(":RATE {value}",),
    interval_query=":RATE?",
    values_query=":NUM:NORM:VAL?",
    functions=(("v", "U"), ("a", "I"), ("w", "P"), ("pf", "LAMBDA"), ("freq", "FU"),
               ("v_range", "URANGE"), ("a_range", "IRANGE"), ("wh", "WH")),
    item_style="numbered",
    item_count=":NUM:NORM:NUM {count}",
    item_select=":NUM:NORM:ITEM{index} {function},{element}",
    integ_setup=(":INTEG:MODE NORM", ":INTEG:TIM 0,0,0"),
    integ_start=":INTEG:STAR",
    integ_stop=":INTEG:STOP",
    integ_reset=":INTEG:RES",
    integ_state_query=":INTEG:STAT?",
    status_setup=_FILTERS,
    update_query=":STAT:EESR?",
    update_bit=_EESR_UPD,
    condition_query=":STAT:COND?",
    element_status_bits=_ELEMENT_BITS,
    overflow_bit=_EESR_OVRS,
    local=(":COMM:REM OFF",),
)

WT300E_INTERVALS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


class WT300E(ScpiPowerAnalyzer):
    """Yokogawa WT300E / WT300 series: WT310, WT310E, WT310EH (1 element), WT332(E), WT333(E).

    USB-TMC, GPIB, RS-232 or VXI-11 (Ethernet option). Ranges apply to all elements at once;
    the numeric items are U, I, P, lambda, fU, the ranges in force (and Wh when integrating)
    for every element; new data is detected with the EESR update bit.
    """

    commands = WT300E_COMMANDS
    model_specs = WT300E_MODELS
    vendor_names = ("YOKOGAWA",)
    intervals = WT300E_INTERVALS
    description = describe(
        "wt300e", "Yokogawa", WT300E_MODELS, WT300E_COMMANDS, WT300E_INTERVALS, ("visa", "serial"),
        "WT300E/WT300 digital power meters (1 to 3 elements). Listed ranges are the WT310E's at "
        "crest factor 3; the connected model's ranges are used once it is identified.",
    )


# -- WT210 / WT230 (488.2 mode) -------------------------------------------------------------------
_WT210_AMPS = _WT310_AMPS  # 5 mA .. 20 A (unverified beyond the WT300E table it matches)
_WT230_AMPS = _WT330_AMPS  # 0.5 .. 20 A (unverified)
# IM 760401-01E p.16-4 (3 months): DC +-(0.3 % rdg + 0.2 % rng), 45-66 Hz +-(0.1 % + 0.1 %).
# The other bands are not in the reference: conservative placeholders (unverified).
WT210_ACCURACY = AccuracySpec(
    bands=((0.0, 0.3, 0.2), (44.999, 0.3, 0.2), (66.0, 0.1, 0.1), (1000.0, 0.3, 0.2),
           (10_000.0, 1.0, 0.5), (100_000.0, 10.0, 1.0)),
    source="IM 760401-01E p.16-4 (DC, 45-66 Hz); other bands unverified placeholders",
)
WT210_MODELS = (
    ModelSpec("WT210", ("760401", "WT210"), 1, _WT300_VOLTS, _WT210_AMPS, WT210_ACCURACY),
    ModelSpec("WT230", ("760502",), 2, _WT300_VOLTS, _WT230_AMPS, WT210_ACCURACY),
    ModelSpec("WT230", ("760503", "WT230"), 3, _WT300_VOLTS, _WT230_AMPS, WT210_ACCURACY),
)
# :MEAS:VAL? returns the switched-on items in this fixed order.
_WT210_ITEMS = ("V", "A", "W", "VA", "VAR", "PF", "DEGREE", "VHZ", "AHZ", "WH", "WHP", "WHM",
                "AH", "AHP", "AHM", "VPK", "APK", "TIME", "MATH")

WT210_COMMANDS = CommandTable(
    family="WT210",
    init=("*CLS", ":COMM:HEAD OFF", ":COMM:VERB ON"),
    error_query=":STAT:ERR?",
    voltage_range=(":CONF:VOLT:RANG {value}",),
    voltage_range_query=":CONF:VOLT:RANG?",
    voltage_auto=(":CONF:VOLT:AUTO {state}",),
    voltage_auto_query=":CONF:VOLT:AUTO?",
    current_range=(":CONF:CURR:RANG {value}",),
    current_range_query=":CONF:CURR:RANG?",
    current_auto=(":CONF:CURR:AUTO {state}",),
    current_auto_query=":CONF:CURR:AUTO?",
    crest_factor=(":CONF:CFAC {value}",),
    crest_factor_query=":CONF:CFAC?",
    mode=(":CONF:MODE {value}",),
    mode_names=(("rms", "RMS"), ("dc", "DC")),
    interval=(":SAMP:RATE {value}",),
    interval_query=":SAMP:RATE?",
    values_query=":MEAS:VAL?",
    functions=(("v", "V"), ("a", "A"), ("w", "W"), ("pf", "PF"), ("freq", "VHZ"), ("wh", "WH")),
    item_style="switch",
    item_select=":MEAS:ITEM:{function} {state}",
    switch_functions=_WT210_ITEMS,
    integ_setup=(":INTEG:MODE NORM",),
    integ_start=":INTEG:STAR",
    integ_stop=":INTEG:STOP",
    integ_reset=":INTEG:RES",
    verify_query=":CONF:LFILT?",  # only the WT210/WT230 know this command
    verify_hint="Is it a WT210/WT230 switched to the '488.2' mode (LOCAL key menu, user's manual "
                "p.11-5)? Switch it and connect again.",
)


class WT210(ScpiPowerAnalyzer):
    """Yokogawa WT210 (1 element) and WT230 (2 or 3 elements), in the 488.2 command mode.

    Their ``*IDN?`` gives a model code, not the name, so the family is confirmed with the
    WT210-only ``:CONF:LFILT?``. Values come from ``:MEAS:VAL?`` with the items switched on
    by name; over-range shows as 9.9E+37 (no status bits are read). WT230 item order over
    elements is unverified.
    """

    commands = WT210_COMMANDS
    model_specs = WT210_MODELS
    vendor_names = ("YOKOGAWA",)
    intervals = WT300E_INTERVALS
    description = describe(
        "wt210", "Yokogawa", WT210_MODELS, WT210_COMMANDS, WT300E_INTERVALS, ("visa", "serial"),
        "WT210/WT230 digital power meters in 488.2 mode (GPIB or RS-232).",
    )


# -- WT500 ------------------------------------------------------------------------------------------
# Ranges and accuracy of the WT500 are not in the reference: values from the WT500 data sheet
# as remembered, unverified.
_WT500_VOLTS = ((3.0, (15.0, 30.0, 60.0, 100.0, 150.0, 300.0, 600.0, 1000.0)),
                (6.0, (7.5, 15.0, 30.0, 50.0, 75.0, 150.0, 300.0, 500.0)))
_WT500_AMPS = ((3.0, (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0)),
               (6.0, (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)))
WT500_ACCURACY = AccuracySpec(
    bands=((0.0, 0.2, 0.2), (44.999, 0.3, 0.2), (66.0, 0.1, 0.1), (1000.0, 0.2, 0.2),
           (10_000.0, 1.0, 0.5), (100_000.0, 5.0, 1.0)),
    source="WT500 (unverified placeholders)",
)
WT500_MODELS = tuple(
    ModelSpec("WT500", (f"76020{n}",), n, _WT500_VOLTS, _WT500_AMPS, WT500_ACCURACY)
    for n in (3, 2, 1)
)
WT500_COMMANDS = replace(
    WT300E_COMMANDS,
    family="WT500",
    init=("*CLS", ":STAT:QMES ON", ":COMM:HEAD OFF", ":COMM:VERB ON", ":NUM:FORM ASCII"),
    # No per-sample range items: the ranges in force come from the range queries.
    functions=(("v", "U"), ("a", "I"), ("w", "P"), ("pf", "LAMBDA"), ("freq", "FU"), ("wh", "WH")),
)
WT500_INTERVALS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


class WT500(ScpiPowerAnalyzer):
    """Yokogawa WT500 (760201/760202/760203: 1 to 3 elements), WT300E-style commands.

    Ranges apply to all elements; new data and over-range come from the EESR as on the WT300E
    (bit layout derived from the WT300E, unverified).
    """

    commands = WT500_COMMANDS
    model_specs = WT500_MODELS
    vendor_names = ("YOKOGAWA",)
    intervals = WT500_INTERVALS
    description = describe(
        "wt500", "Yokogawa", WT500_MODELS, WT500_COMMANDS, WT500_INTERVALS, ("visa",),
        "WT500 power analyzer (1 to 3 elements, up to 1000 V / 40 A).",
    )
