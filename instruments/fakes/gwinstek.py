"""A simulated GW Instek GPM-8213: WT300-like ``:NUMeric`` items without element, ``NAN``."""

from __future__ import annotations

import math

from instruments.fakes.rohde_schwarz import SCPI_ERRORS
from instruments.fakes.scpi_device import AnalyzerDevice, DeviceError, DeviceModel, Handler

GPM8213_DEVICE = DeviceModel(
    "GPM-8213", 1,
    {3.0: (15.0, 30.0, 60.0, 150.0, 300.0, 600.0), 6.0: (7.5, 15.0, 30.0, 75.0, 150.0, 300.0)},
    {3.0: (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0),
     6.0: (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)},
    (0.1,),  # fixed update rate
    max_items=10,
)
_HEADERS = {"U": "Urms", "I": "Irms", "P": "P", "S": "S", "Q": "Q", "LAMBDA": "PF", "PHI": "Deg",
            "FU": "fU", "FI": "fI", "WH": "WP", "NONE": "--"}


class Gpm8213Device(AnalyzerDevice):
    """A GPM-8213 over its virtual COM port. Missing and over-range values are both ``NAN``."""

    vendor = "GWInstek"
    errors = SCPI_ERRORS
    functions = {"U": "U", "I": "I", "P": "P", "S": "S", "Q": "Q", "LAMBDA": "LAMBDA", "PHI": "PHI",
                 "FU": "FU", "FI": "FI", "WH": "WH", "NONE": "NONE"}

    def __init__(self, model: str = "GPM-8213", **kwargs) -> None:
        kwargs.setdefault("firmware", "V1.05")
        super().__init__(GPM8213_DEVICE, **kwargs)

    def default_items(self) -> list[tuple[str, int]]:
        return [(f, 1) for f in ("U", "I", "P", "S", "FU", "LAMBDA", "Q", "FI")]

    def format_value(self, x: float) -> str:
        return "NAN" if not math.isfinite(x) else super().format_value(x)

    def dialect(self) -> list[tuple[str, Handler]]:
        return [
            (":INPut:VOLTage:RANGe", self.range_handler("v", "V")),
            (":INPut:VOLTage:AUTO", self.auto_handler("v")),
            (":INPut:CURRent:RANGe", self.range_handler("i", "A")),
            (":INPut:CURRent:AUTO", self.auto_handler("i")),
            (":INPut:CFACtor", self.crest_factor_handler()),
            (":INPut:MODE", self.choice_handler("mode", ("AC", "DC", "ACDC"))),
            (":NUMeric[:NORMal]:NUMBer", self.item_count_handler),
            (":NUMeric[:NORMal]:ITEM#", self.item_handler(with_element=False)),
            (":NUMeric[:NORMal]:VALue", self.numbered_values_handler),
            (":NUMeric[:NORMal]:HEADer", self.header_handler),
            (":INTegrate:MODE", self.choice_handler("integ_mode", ("MANUal", "NORMal", "CONTinuous"))),
            (":INTegrate:FUNCtion", self.accept("WATT", "AMPere")),
            (":INTegrate:STARt", self.integ_start),
            (":INTegrate:STOP", self.integ_stop),
            (":INTegrate:RESet", self.integ_reset),
            (":SYSTem:ERRor[:NEXT]", self.error_handler),
            (":COMMunicate:HEADer", self.flag_handler("headers")),
            (":COMMunicate:VERBose", self.flag_handler("verbose")),
            (":COMMunicate:REMote", self.flag_handler("remote")),
        ]

    def header_handler(self, args: str, sfx: list, query: bool) -> str | None:
        if not query:
            raise DeviceError("undefined")
        return ",".join(_HEADERS[self.functions[self.item_table.get(k, ("NONE", 1))[0]]]
                        for k in range(1, self.item_count + 1))
