"""Simulated Yokogawa analyzers: WT300E/WT300 (WT310.., WT33x), WT210/WT230, WT500.

The range tables here are the device's own (from the manuals), written independently of the
drivers' tables so that a test can compare the two.
"""

from __future__ import annotations

import math

from instruments.fakes.scpi_device import AnalyzerDevice, DeviceError, DeviceModel, Handler

_MA = 1e-3
WT_VOLTS = {3.0: (15.0, 30.0, 60.0, 150.0, 300.0, 600.0), 6.0: (7.5, 15.0, 30.0, 75.0, 150.0, 300.0)}
WT310_AMPS = {3.0: (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0),
              6.0: (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)}
WT310EH_AMPS = {3.0: (1.0, 2.0, 5.0, 10.0, 20.0, 40.0), 6.0: (0.5, 1.0, 2.5, 5.0, 10.0, 20.0)}
WT330_AMPS = {3.0: (0.5, 1.0, 2.0, 5.0, 10.0, 20.0), 6.0: (0.25, 0.5, 1.0, 2.5, 5.0, 10.0)}
WT300_RATES = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


def _wt300(name: str, elements: int, amps: dict, items: int, protects: bool = False) -> DeviceModel:
    return DeviceModel(name, elements, WT_VOLTS, amps, WT300_RATES, max_items=items,
                       protects_milliamp_ranges=protects)


WT300E_DEVICES = {
    "WT310E": _wt300("WT310E", 1, WT310_AMPS, 10, protects=True),
    "WT310": _wt300("WT310", 1, WT310_AMPS, 10, protects=True),
    "WT310EH": _wt300("WT310EH", 1, WT310EH_AMPS, 10),
    "WT332E": _wt300("WT332E", 2, WT330_AMPS, 255),
    "WT333E": _wt300("WT333E", 3, WT330_AMPS, 255),
    "WT332": _wt300("WT332", 2, WT330_AMPS, 255),
    "WT333": _wt300("WT333", 3, WT330_AMPS, 255),
}

# Numeric item functions of the WT300E/WT500 (argument of :NUM:NORM:ITEM<x>).
WT_FUNCTIONS = {
    "U": "U", "I": "I", "P": "P", "S": "S", "Q": "Q", "LAMBda": "LAMBDA", "PHI": "PHI",
    "FU": "FU", "FI": "FI", "WH": "WH", "TIME": "TIME", "URANge": "URANGE", "IRANge": "IRANGE",
    "NONE": "NONE",
}


class Wt300eDevice(AnalyzerDevice):
    """A WT310/WT310E/WT310EH/WT33x(E): ``:INPut``, ``:NUMeric``, ``:INTEGrate``, ``:STATus``."""

    vendor = "YOKOGAWA"
    functions = WT_FUNCTIONS
    models = WT300E_DEVICES

    def __init__(self, model: str = "WT310E", **kwargs) -> None:
        super().__init__(self.models[model], **kwargs)

    def default_items(self) -> list[tuple[str, int]]:
        # Preset 1: U, I, P, S, Q, lambda, phi, fU, fI, -- for each element, ten items apart.
        items: list[tuple[str, int]] = []
        for e in range(1, self.model.elements + 1):
            items += [(f, e) for f in ("U", "I", "P", "S", "Q", "LAMBda", "PHI", "FU", "FI", "NONE")]
        return items

    def dialect(self) -> list[tuple[str, Handler]]:
        return [
            ("[:INPut]:VOLTage:RANGe[:ALL]", self.range_handler("v", "V")),
            ("[:INPut]:VOLTage:RANGe:ELEMent#", self.range_handler("v", "V", element_at=0)),
            ("[:INPut]:VOLTage:AUTO[:ALL]", self.auto_handler("v")),
            ("[:INPut]:VOLTage:AUTO:ELEMent#", self.auto_handler("v", element_at=0)),
            ("[:INPut]:CURRent:RANGe[:ALL]", self.range_handler("i", "A")),
            ("[:INPut]:CURRent:RANGe:ELEMent#", self.range_handler("i", "A", element_at=0)),
            ("[:INPut]:CURRent:AUTO[:ALL]", self.auto_handler("i")),
            ("[:INPut]:CURRent:AUTO:ELEMent#", self.auto_handler("i", element_at=0)),
            ("[:INPut]:CFACtor", self.crest_factor_handler()),
            ("[:INPut]:MODE", self.choice_handler("mode", ("RMS", "VMEan", "DC"))),
            ("[:INPut]:FILTer:LINE", self.accept("ON", "OFF")),
            ("[:INPut]:FILTer:FREQuency", self.accept("ON", "OFF")),
            (":RATE", self.interval_handler),
            (":NUMeric[:NORMal]:NUMber", self.item_count_handler),
            (":NUMeric[:NORMal]:ITEM#", self.item_handler(with_element=True)),
            (":NUMeric[:NORMal]:VALue", self.numbered_values_handler),
            (":NUMeric:FORMat", self.choice_handler("numeric_format", ("ASCii", "FLOat"), locked=False)),
            (":INTEGrate:MODE", self.choice_handler("integ_mode", ("NORMal", "CONTinuous"))),
            (":INTEGrate:TIMer", self.timer_handler),
            (":INTEGrate:STARt", self.integ_start),
            (":INTEGrate:STOP", self.integ_stop),
            (":INTEGrate:RESet", self.integ_reset),
            (":INTEGrate:STATe", self.integ_state_handler),
            (":STATus:ERRor", self.error_handler),
            (":STATus:EESR", self.eesr_handler),
            (":STATus:CONDition", self.condition_handler),
            (":STATus:FILTer#", self.filter_handler),
            (":STATus:QMESsage", self.flag_handler("qmes")),
            (":COMMunicate:HEADer", self.flag_handler("headers")),
            (":COMMunicate:VERBose", self.flag_handler("verbose")),
            (":COMMunicate:REMote", self.flag_handler("remote")),
            (":SYSTem:COMMunicate:COMMand", self.choice_handler("command_set", ("WT300", "WT200"), locked=False)),
        ]

    def power_on(self) -> None:
        self.command_set = "WT300"
        super().power_on()

    def timer_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if query:
            return "0,0,0"
        self._settings_locked()
        parts = args.split(",")
        if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
            raise DeviceError("illegal")
        return None


WT500_DEVICES = {
    code: DeviceModel(
        code, n,
        {3.0: (15.0, 30.0, 60.0, 100.0, 150.0, 300.0, 600.0, 1000.0),
         6.0: (7.5, 15.0, 30.0, 50.0, 75.0, 150.0, 300.0, 500.0)},
        {3.0: (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0), 6.0: (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)},
        (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0))
    for code, n in (("760201", 1), ("760202", 2), ("760203", 3))
}


class Wt500Device(Wt300eDevice):
    """A WT500 (model code 760201/2/3 in *IDN?): the WT300E dialect, up to 1000 V / 40 A."""

    models = WT500_DEVICES
    functions = {k: v for k, v in WT_FUNCTIONS.items() if k not in ("URANge", "IRANge")}

    def __init__(self, model: str = "760203", **kwargs) -> None:
        super().__init__(model, **kwargs)


WT210_DEVICES = {
    "760401": DeviceModel("760401", 1, WT_VOLTS, WT310_AMPS, WT300_RATES),  # WT210
    "760502": DeviceModel("760502", 2, WT_VOLTS, WT330_AMPS, WT300_RATES),  # WT230, 2 elements
    "760503": DeviceModel("760503", 3, WT_VOLTS, WT330_AMPS, WT300_RATES),  # WT230, 3 elements
}
# :MEAS:VAL? order of the WT210/WT230 items (switched on or off by name).
WT210_ITEMS = ("V", "A", "W", "VA", "VAR", "PF", "DEGRee", "VHZ", "AHZ", "WH", "WHP", "WHM",
               "AH", "AHP", "AHM", "VPK", "APK", "TIME", "MATH")
_WT210_QUANTITY = {"V": "U", "A": "I", "W": "P", "VA": "S", "VAR": "Q", "PF": "LAMBDA", "DEGRee": "PHI",
                   "VHZ": "FU", "AHZ": "FI", "WH": "WH", "TIME": "TIME"}


class Wt210Device(AnalyzerDevice):
    """A WT210/WT230. In 488.2 mode it speaks ``:CONFigure`` / ``:MEASure``; otherwise nothing.

    Its *IDN? reply carries the model code (760401 ...), not the name; special values are the
    numbers 9.91E+37 (no data) and 9.9E+37 (over-range).
    """

    vendor = "YOKOGAWA"
    functions = {name: _WT210_QUANTITY.get(name, "NONE") for name in WT210_ITEMS}

    def __init__(self, model: str = "760401", mode_4882: bool = True, **kwargs) -> None:
        self.mode_4882 = mode_4882
        super().__init__(WT210_DEVICES[model], **kwargs)

    def power_on(self) -> None:
        super().power_on()
        self.line_filter = False
        self.freq_filter = False
        self.hold = False
        self.items_on = {name: name in ("V", "A", "W", "PF") for name in WT210_ITEMS}

    def handle(self, message: str) -> list[str]:
        if not self.mode_4882:
            self.received.append(message)  # the other command mode: nothing we say means anything
            return []
        return super().handle(message)

    def format_value(self, x: float) -> str:
        if math.isnan(x):
            return "9.91E+37"
        if math.isinf(x):
            return "9.9E+37"
        return f"{x:.4E}"

    def dialect(self) -> list[tuple[str, Handler]]:
        table: list[tuple[str, Handler]] = [
            (":CONFigure:VOLTage:RANGe", self.range_handler("v", "V")),
            (":CONFigure:VOLTage:AUTO", self.auto_handler("v")),
            (":CONFigure:CURRent:RANGe", self.range_handler("i", "A")),
            (":CONFigure:CURRent:AUTO", self.auto_handler("i")),
            (":CONFigure:CFACtor", self.crest_factor_handler()),
            (":CONFigure:MODE", self.choice_handler("mode", ("RMS", "VMEan", "DC"))),
            (":CONFigure:LFILTer", self.flag_handler("line_filter")),
            (":CONFigure:FILTer", self.flag_handler("freq_filter")),
            (":SAMPle:RATE", self.interval_handler),
            (":SAMPle:HOLD", self.flag_handler("hold")),
            (":MEASure[:NORMal]:VALue", self.values_handler),
            (":INTEGrate:MODE", self.choice_handler("integ_mode", ("NORMal", "CONTinuous"))),
            (":INTEGrate:STARt", self.integ_start),
            (":INTEGrate:STOP", self.integ_stop),
            (":INTEGrate:RESet", self.integ_reset),
            (":STATus:ERRor", self.error_handler),
            (":STATus:QMESsage", self.flag_handler("qmes")),
            (":COMMunicate:HEADer", self.flag_handler("headers")),
            (":COMMunicate:VERBose", self.flag_handler("verbose")),
        ]
        table += [(f":MEASure[:NORMal]:ITEM:{name}", self._item_switch(name)) for name in WT210_ITEMS]
        return table

    def _item_switch(self, name: str) -> Handler:
        def handler(args: str, sfx: list, query: bool) -> str | None:
            if query:
                return "1" if self.items_on[name] else "0"
            self.items_on[name] = self.on_off(args)
            return None

        return handler

    def values_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if not query:
            raise DeviceError("undefined")
        values = [self.format_value(self.value_of(name, e))
                  for name in WT210_ITEMS if self.items_on[name]
                  for e in range(self.model.elements)]
        return ",".join(values)
