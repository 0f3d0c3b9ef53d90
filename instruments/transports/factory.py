"""From a resource string to the transport that reaches it."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from instruments.transports.base import Transport

VISA_PREFIXES = ("TCPIP", "USB", "GPIB", "ASRL", "VXI", "PXI", "VICP")
ACCEPTED = (
    "VISA resource strings (TCPIP::192.0.2.7::INSTR, USB0::0x0B21::0x0025::C2PH13047V::INSTR, "
    "GPIB0::1::INSTR, ASRL/dev/ttyUSB0::INSTR), tcp://host:port, serial:///dev/ttyUSB0?baudrate=9600, "
    "a serial device path (/dev/ttyACM0) or COMn"
)


def transport_for(resource: str, **options) -> Transport:
    """Build (not open) the transport for ``resource``. ValueError for anything unrecognised."""
    text = (resource or "").strip()
    if text.lower().startswith("tcp://"):
        from instruments.transports.tcp import TcpTransport

        url = urlsplit(text)
        if not url.hostname or not url.port:
            raise ValueError(f"{resource!r}: a TCP resource needs host and port, e.g. tcp://192.0.2.7:8888")
        return TcpTransport(url.hostname, url.port, **{**dict(parse_qsl(url.query)), **options})
    if text.lower().startswith("serial://"):
        from instruments.transports.serial import SerialTransport

        rest = text[len("serial://"):]
        port, _, query = rest.partition("?")
        if not port:
            raise ValueError(f"{resource!r}: a serial resource needs a port, e.g. serial:///dev/ttyUSB0")
        return SerialTransport(port, **{**dict(parse_qsl(query)), **options})
    if text.lower().startswith("visa://"):
        text = text[len("visa://"):]
    if text.upper().startswith(VISA_PREFIXES):
        from instruments.transports.visa import VisaTransport

        return VisaTransport(text, **options)
    if text.startswith("/dev/") or re.fullmatch(r"COM\d+", text, re.IGNORECASE):
        from instruments.transports.serial import SerialTransport

        return SerialTransport(text, **options)
    raise ValueError(f"{resource!r} is not a resource the station understands; accepted: {ACCEPTED}")
