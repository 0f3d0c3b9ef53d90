"""From a resource string to the transport that reaches it. Parsing only: nothing is opened.

Accepted forms::

    tcp://192.0.2.7:8888[?timeout=5]                raw TCP socket (PTDaemon, LAN raw mode)
    serial:///dev/ttyUSB0[?baudrate=9600&parity=N]  serial port (also serial://COM3?...)
    /dev/ttyACM0, /dev/serial/by-id/..., COM3        serial port
    TCPIP::192.0.2.7::INSTR                          VISA: VXI-11 (and ::hislip0::INSTR, ::5025::SOCKET)
    USB0::0x0B21::0x0025::C2PH13047V::INSTR          VISA: USB-TMC
    GPIB0::1::INSTR                                  VISA: GPIB
    ASRL/dev/ttyUSB0::INSTR, ASRL3::INSTR            VISA: serial
    visa://<any VISA resource>[?backend=@py]         VISA, explicitly

Query parameters become keyword options of the transport; options passed to
:func:`transport_for` override them.
"""

from __future__ import annotations

import inspect
import re
from urllib.parse import parse_qsl, urlsplit

from instruments.transports.base import Transport

VISA_PREFIXES = ("TCPIP", "USB", "GPIB", "ASRL", "VXI", "PXI", "VICP", "PRLGX-TCPIP", "PRLGX-ASRL")
_VISA_RE = re.compile(r"^(GPIB-VXI|PRLGX-TCPIP|PRLGX-ASRL|TCPIP|USB|GPIB|ASRL|VXI|PXI|VICP)[^:]*(::|$)",
                      re.IGNORECASE)
_COM_RE = re.compile(r"^(\\\\\.\\)?COM\d+$", re.IGNORECASE)
ACCEPTED = (
    "tcp://host:port or host:port; serial:///dev/ttyUSB0?baudrate=9600 or serial://COM3; a serial device path "
    "(/dev/ttyACM0) or COMn; a VISA resource (TCPIP::192.0.2.7::INSTR, TCPIP::192.0.2.7::5025::SOCKET, "
    "TCPIP0::192.0.2.7::hislip0::INSTR, USB0::0x0B21::0x0025::C2PH13047V::INSTR, GPIB0::1::INSTR, "
    "ASRL/dev/ttyUSB0::INSTR), optionally written visa://<resource>"
)


_HOST_PORT_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})(\?.*)?$")


# Examples of each transport's resource forms, for help text and error messages.
FORM_EXAMPLES: dict[str, tuple[str, ...]] = {
    "visa": ("TCPIP::192.0.2.7::INSTR", "USB0::0x0B21::0x0025::<serial>::INSTR"),
    "serial": ("/dev/ttyUSB0", "COM3"),
    "tcp": ("tcp://192.0.2.7:8888",),
}


def resource_kind(resource: str | None) -> str | None:
    """Which transport a resource string's form names ("visa", "serial", "tcp"), or None.

    Only the form is looked at: ``serial://`` without a port is "serial" here and refused by
    :func:`transport_for` with the reason.
    """
    text = (resource or "").strip()
    lower = text.lower()
    if not text or text.startswith("/dev/usbtmc"):
        return None
    if lower.startswith("tcp://"):
        return "tcp"
    if lower.startswith("serial://"):
        return "serial"
    if lower.startswith("visa://") or _VISA_RE.match(text):
        return "visa"
    if text.startswith("/dev/") or _COM_RE.match(text):
        return "serial"
    if _HOST_PORT_RE.match(text):  # bare host:port, as PTDaemon users write it
        return "tcp"
    return None


def examples_for(transports: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Example resource strings of the given transports, in the order given."""
    return tuple(form for kind in transports for form in FORM_EXAMPLES.get(kind, ()))


def transport_for(resource: str, **options) -> Transport:
    """Build (not open) the transport for ``resource``. ValueError for anything unrecognised."""
    text = (resource or "").strip()
    kind = resource_kind(text)
    lower = text.lower()
    if kind == "tcp":
        return _tcp(text if lower.startswith("tcp://") else "tcp://" + text, options)
    if kind == "serial" and lower.startswith("serial://"):
        port, query = _split_query(text[len("serial://"):])
        if not port:
            raise ValueError(f"{resource!r}: a serial resource needs a port, e.g. serial:///dev/ttyUSB0 "
                             "or serial://COM3")
        return _serial(port, {**query, **options}, resource)
    if kind == "serial":
        port, query = _split_query(text)
        return _serial(port, {**query, **options}, resource)
    if kind == "visa" and lower.startswith("visa://"):
        name, query = _split_query(text[len("visa://"):])
        if not _VISA_RE.match(name):
            raise ValueError(f"{resource!r}: after visa:// a VISA resource name is expected, "
                             f"e.g. visa://TCPIP::192.0.2.7::INSTR; accepted: {ACCEPTED}")
        return _visa(name, {**query, **options}, resource)
    if kind == "visa":
        name, query = _split_query(text)
        return _visa(name, {**query, **options}, resource)
    raise ValueError(unrecognised(resource))


def unrecognised(resource: str | None) -> str:
    """Why the station's transports cannot reach ``resource`` (a form :func:`resource_kind` does not know)."""
    text = (resource or "").strip()
    if not text:
        return f"no resource given; accepted: {ACCEPTED}"
    if text.startswith("/dev/usbtmc"):
        return (f"{resource!r} is a Linux USB-TMC device node, not a serial port; use its VISA "
                "name instead, e.g. USB0::0x0B21::0x0025::<serial>::INSTR (pyvisa-py needs pyusb "
                "for USB instruments)")
    return f"{resource!r} is not a resource the station understands; accepted: {ACCEPTED}"


def _split_query(text: str) -> tuple[str, dict[str, str]]:
    head, sep, query = text.partition("?")
    if not sep:
        return head, {}
    try:
        return head, dict(parse_qsl(query, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise ValueError(f"cannot read the options {query!r}: write them as ?name=value&name=value") from None


def _tcp(text: str, options: dict):
    from instruments.transports.tcp import TcpTransport

    url = urlsplit(text)
    try:
        host, port = url.hostname, url.port
    except ValueError as exc:  # port not a number / out of range
        raise ValueError(f"{text!r}: {exc}; a TCP resource is tcp://host:port, e.g. tcp://192.0.2.7:8888") from None
    if not host or not port or url.path not in ("", "/"):
        raise ValueError(f"{text!r}: a TCP resource needs a host and a port, e.g. tcp://192.0.2.7:8888")
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    return _build(TcpTransport, text, host, port, **{**query, **options})


def _serial(port: str, options: dict, resource: str):
    from instruments.transports.serial import SerialTransport

    return _build(SerialTransport, resource, port, **options)


def _visa(name: str, options: dict, resource: str):
    try:
        from pyvisa import rname
    except ImportError:  # pragma: no cover - pyvisa is a dependency
        rname = None
    if rname is not None:
        try:
            rname.parse_resource_name(name)
        except Exception as exc:
            raise ValueError(f"{resource!r} is not a valid VISA resource name: {exc}") from None
    from instruments.transports.visa import VisaTransport

    try:
        return VisaTransport(name, **options)
    except ValueError as exc:
        raise ValueError(f"{resource!r}: {exc}") from None


def _build(cls, resource: str, *args, **options):
    """``cls(*args, **options)``, with unknown or malformed options reported as ValueError."""
    known = [p for p in inspect.signature(cls).parameters][len(args):]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"{resource!r}: option(s) {', '.join(unknown)} not understood by "
                         f"{cls.__name__}; it takes {', '.join(known)}")
    try:
        return cls(*args, **options)
    except ValueError as exc:
        raise ValueError(f"{resource!r}: {exc}") from None
