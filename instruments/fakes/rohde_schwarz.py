"""A simulated Rohde & Schwarz HMC8015: ``CHANnel1:...`` commands, SCPI error codes, 9.91E+37."""

from __future__ import annotations

import math

from instruments.fakes.scpi_device import AnalyzerDevice, DeviceError, DeviceModel, Handler

HMC8015_DEVICE = DeviceModel(
    "HMC8015", 1,
    {3.0: (5.0, 15.0, 30.0, 60.0, 150.0, 300.0, 600.0), 6.0: (2.5, 7.5, 15.0, 30.0, 75.0, 150.0, 300.0)},
    {3.0: (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0),
     6.0: (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)},
    (0.1,),  # fixed update rate
    max_items=10,
)

SCPI_ERRORS = {
    "undefined": (-113, "Undefined header"),
    "suffix": (-114, "Header suffix out of range"),
    "illegal": (-224, "Illegal parameter value"),
    "out_of_range": (-222, "Data out of range"),
    "integrating": (-221, "Settings conflict"),
    "integ_running": (-221, "Settings conflict"),
    "integ_not_running": (-221, "Settings conflict"),
    "integ_reset_running": (-221, "Settings conflict"),
}


class Hmc8015Device(AnalyzerDevice):
    """An HMC8015 with one channel; functions selected by list, data in that order."""

    vendor = "Rohde&Schwarz"
    errors = SCPI_ERRORS
    functions = {
        "URMS": "U", "IRMS": "I", "P": "P", "S": "S", "Q": "Q", "LAMBda": "LAMBDA", "PHI": "PHI",
        "FU": "FU", "FI": "FI", "URANge": "URANGE", "IRANge": "IRANGE", "WH": "WH", "TIME": "TIME",
        "EMPTy": "NONE",
    }

    def __init__(self, model: str = "HMC8015", **kwargs) -> None:
        super().__init__(HMC8015_DEVICE, **kwargs)

    def power_on(self) -> None:
        super().power_on()
        self.headers = False  # the HMC has no response headers
        self.numeric_format = "ASC"
        self.measured = ["URMS", "IRMS", "P"]

    def number_text(self, x: float) -> str:
        return f"{x:.6E}"

    def format_value(self, x: float) -> str:
        return "9.91E+37" if not math.isfinite(x) else f"{x:.6E}"

    def dialect(self) -> list[tuple[str, Handler]]:
        return [
            ("CHANnel#:VOLTage:RANGe[:VALue]", self.range_handler("v", "V", element_at=0)),
            ("CHANnel#:VOLTage:RANGe:AUTO", self.auto_handler("v", element_at=0)),
            ("CHANnel#:CURRent:RANGe[:VALue]", self.range_handler("i", "A", element_at=0)),
            ("CHANnel#:CURRent:RANGe:AUTO", self.auto_handler("i", element_at=0)),
            ("CHANnel#:VOLTage:CFACtor", self.crest_factor_handler("v")),
            ("CHANnel#:CURRent:CFACtor", self.crest_factor_handler("i")),
            ("CHANnel#:MODE", self.choice_handler("mode", ("AC", "DC"))),
            ("CHANnel#:MEASurement:FUNCtions", self.functions_handler),
            ("CHANnel#:MEASurement:FORMat", self.choice_handler("numeric_format", ("ASCii", "BINary"), locked=False)),
            ("CHANnel#:MEASurement:DATA", self.data_handler),
            ("INTegrator:MODE", self.choice_handler("integ_mode", ("MANual", "DURation", "SPAN"))),
            ("INTegrator:STARt", self.integ_start),
            ("INTegrator:STOP", self.integ_stop),
            ("INTegrator:RESet", self.integ_reset),
            ("INTegrator:STATe", self.integ_state_handler),
            ("SYSTem:ERRor[:NEXT]", self.error_handler),
            ("SYSTem:LOCal", self.accept()),
            ("SYSTem:REMote", self.accept()),
        ]

    def _channel(self, sfx: list) -> None:
        if (sfx[0] or 1) != 1:
            raise DeviceError("suffix")

    def functions_handler(self, args: str, sfx: list, query: bool) -> str | None:
        self._channel(sfx)
        if query:
            return ",".join(self.measured)
        names = [self.function_name(a.strip()) for a in args.split(",") if a.strip()]
        if not 1 <= len(names) <= self.model.max_items:
            raise DeviceError("out_of_range")
        self.measured = names
        return None

    def data_handler(self, args: str, sfx: list, query: bool) -> str | None:
        self._channel(sfx)
        if not query:
            raise DeviceError("undefined")
        if self.numeric_format != "ASC":
            return "#18" + "\x7f" * 8
        return ",".join(self.format_value(self.value_of(f, 0)) for f in self.measured)
