"""Finding instruments: VISA resources and serial ports, without disturbing unknown devices.

:func:`discover` lists what can be found now and never raises; what could not be searched
(a missing optional package such as pyusb, zeroconf or a GPIB library, a listing that did not
finish in time) is reported as text in ``problems``. Listing sends nothing to any device,
except that the VISA LAN search broadcasts a VXI-11 portmapper query (``lan=False`` skips it).

:func:`identify_visa` asks one VISA resource for ``*IDN?``. It refuses serial resources unless
told otherwise: an unknown serial device (a modem, a microcontroller console, an LPM01A)
may react to stray text.

Each resource is a plain dict: ``resource`` (what to pass as ``--resource``), ``kind``
(``"visa"`` or ``"serial"``), ``description``, and where known ``interface``, ``vid``, ``pid``,
``vendor``, ``serial_number``, ``manufacturer``, ``product``, ``hwid``, ``host``, ``backend``.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 3.0  # s; pyvisa-py's VXI-11 LAN search alone waits 1 s for answers

# USB vendor ids worth naming in a list of ports (analyzer makers and common USB-serial chips).
USB_VENDORS = {
    0x0B21: "Yokogawa", 0x0AAD: "Rohde & Schwarz", 0x2184: "GW Instek", 0x0483: "STMicroelectronics",
    0x0957: "Keysight (Agilent)", 0x2A8D: "Keysight", 0x1AB1: "Rigol", 0x05E6: "Keithley", 0x16D0: "MCS (Joulescope)",
    0x0403: "FTDI", 0x067B: "Prolific", 0x10C4: "Silicon Labs", 0x1A86: "QinHeng (CH34x)",
}


# -- listing ------------------------------------------------------------------------------------------
def discover(visa: bool = True, serial: bool = True, timeout: float = DEFAULT_TIMEOUT, lan: bool = True,
             problems: list[str] | None = None) -> list[dict]:
    """Every resource that can be found now, VISA instruments first. Never raises.

    ``timeout`` bounds the whole search; a listing still running then is abandoned and
    reported. Pass a list as ``problems`` to receive what could not be searched and why.
    """
    result = scan(visa=visa, serial=serial, timeout=timeout, lan=lan)
    if problems is not None:
        problems.extend(result["problems"])
    return result["resources"]


def scan(visa: bool = True, serial: bool = True, timeout: float = DEFAULT_TIMEOUT, lan: bool = True) -> dict:
    """``{"resources": [...], "problems": [...], "seconds": float}``; see :func:`discover`.

    The listings run in daemon threads; one still running at the deadline is left to finish
    on its own (its result is dropped), so a hanging backend cannot hold up the caller.
    """
    start = time.monotonic()
    deadline = start + max(0.1, float(timeout))
    problems: list[str] = []
    jobs: list[_Job] = []
    if serial:
        jobs.append(_Job("serial ports", _serial_ports).start())
    if visa:
        jobs.append(_Job("VISA", lambda: _visa_resources(deadline, lan)).start())
    for job in jobs:
        job.join(deadline)
    resources: list[dict] = []
    for job in jobs:
        found, notes = job.outcome(timeout)
        resources += found
        problems += notes
    resources.sort(key=lambda r: (r["kind"] != "visa", r["resource"]))
    problems = list(dict.fromkeys(problems))  # once each, in order
    for p in problems:
        log.info("discovery: %s", p)
    return {"resources": resources, "problems": problems, "seconds": time.monotonic() - start}


class _Job:
    """A listing in a daemon thread, so a hanging backend cannot hold up the caller."""

    def __init__(self, name: str, fn: Callable[[], tuple[list[dict], list[str]]]) -> None:
        self.name, self.fn = name, fn
        self.result: tuple[list[dict], list[str]] | None = None
        self.thread = threading.Thread(target=self._run, name=f"discovery: {name}", daemon=True)

    def start(self) -> _Job:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self.fn()
        except Exception as exc:
            self.result = ([], [f"{self.name} listing failed: {_first_line(exc)}"])

    def join(self, deadline: float) -> None:
        self.thread.join(max(0.0, deadline - time.monotonic()))

    def outcome(self, timeout: float) -> tuple[list[dict], list[str]]:
        if self.result is None:
            return [], [f"{self.name} listing did not finish within {timeout:g} s and was abandoned"]
        return self.result


def _serial_ports() -> tuple[list[dict], list[str]]:
    from serial.tools import list_ports

    found = []
    for p in list_ports.comports():
        described = p.description if p.description and p.description != "n/a" else ""
        entry: dict[str, Any] = {
            "resource": p.device, "kind": "serial",
            "description": described or p.product or "serial port",
            "hwid": p.hwid if p.hwid and p.hwid != "n/a" else "",
            "vid": p.vid, "pid": p.pid, "serial_number": p.serial_number,
            "manufacturer": p.manufacturer, "product": p.product, "location": p.location,
        }
        if p.vid is not None:
            entry["vendor"] = USB_VENDORS.get(p.vid, "")
        found.append(entry)
    return found, []


def _visa_resources(deadline: float, lan: bool) -> tuple[list[dict], list[str]]:
    from instruments.transports.visa import backend_name, resource_manager

    # pyvisa-py warns about missing optional discovery packages on every listing, possibly
    # after the scan has given up on it; those facts are reported as problems instead.
    warnings.filterwarnings("ignore", message=r".*resources? discovery", category=UserWarning)
    rm = resource_manager()
    backend = backend_name(rm)
    if backend == "@py":
        try:
            names, problems = _pyvisa_py_listing(deadline, lan)
        except ImportError:  # pyvisa-py reorganised: fall back to its public listing
            names, problems = _plain_listing(rm), []
    else:
        names, problems = _plain_listing(rm), []
        if backend == "@ivi":  # a vendor VISA lists serial ports as ASRLn; they are listed by device
            names = [n for n in names if not n.upper().startswith("ASRL")]
    return [_visa_entry(n, backend) for n in dict.fromkeys(names)], problems


def _plain_listing(rm) -> list[str]:
    import pyvisa

    try:
        return list(rm.list_resources("?*"))
    except pyvisa.errors.VisaIOError as exc:
        if exc.error_code == pyvisa.constants.StatusCode.error_resource_not_found:
            return []  # NI-VISA's way of saying "nothing found"
        raise


def _pyvisa_py_listing(deadline: float, lan: bool) -> tuple[list[str], list[str]]:
    """pyvisa-py's listing, one interface at a time, so one failing interface spoils nothing."""
    from pyvisa import constants
    from pyvisa_py.sessions import Session

    it = constants.InterfaceType
    skip = {it.asrl}  # serial ports are listed by their device name instead
    if not lan:
        skip |= {it.tcpip, it.vicp}
    problems = []
    if lan and importlib.util.find_spec("zeroconf") is None:
        problems.append("not searched: HiSLIP LAN instruments (needs the zeroconf package); "
                        "VXI-11 LAN instruments are searched")
    for (itype, _rclass), issue in Session.iter_session_classes_issues():
        if itype in (it.usb, it.gpib) and itype not in skip:
            problems.append(f"not searched: {_interface_label(itype)} ({_first_line(issue)})")
    jobs = [
        _Job(f"VISA {_interface_label(itype)}", _lister(cls)).start()
        for (itype, rclass), cls in Session.iter_valid_session_classes()
        if rclass in ("INSTR", "SOCKET") and itype not in skip
    ]
    names: list[str] = []
    for job in jobs:
        job.join(deadline)
        if job.result is None:
            problems.append(f"{job.name}: the search did not finish in time and was abandoned")
            continue
        found, notes = job.result
        names += [r["resource"] for r in found]
        problems += notes
    return names, problems


def _lister(cls) -> Callable[[], tuple[list[dict], list[str]]]:
    def run():
        return [{"resource": str(name)} for name in cls.list_resources()], []

    return run


def _interface_label(itype) -> str:
    from pyvisa import constants

    it = constants.InterfaceType
    return {it.usb: "USB instruments", it.gpib: "GPIB instruments", it.tcpip: "LAN instruments",
            it.vicp: "VICP (LeCroy) instruments", it.asrl: "serial instruments"}.get(itype, str(itype.name))


def _visa_entry(name: str, backend: str) -> dict:
    entry: dict[str, Any] = {"resource": name, "kind": "visa", "description": "VISA instrument",
                             "backend": backend}
    try:
        from pyvisa import rname

        parsed = rname.parse_resource_name(name)
    except Exception:
        return entry
    kind = type(parsed).__name__
    if kind.startswith("USB"):
        entry["interface"] = "usb"
        vid, pid = _hex(parsed.manufacturer_id), _hex(parsed.model_code)
        entry.update(vid=vid, pid=pid, serial_number=parsed.serial_number)
        vendor = USB_VENDORS.get(vid, "") if vid is not None else ""
        if vendor:
            entry["vendor"] = vendor
        entry["description"] = (f"USB-TMC instrument{' by ' + vendor if vendor else ''} "
                                f"({parsed.manufacturer_id}:{parsed.model_code}, serial {parsed.serial_number})")
    elif kind == "TCPIPInstr":
        entry.update(interface="tcpip", host=parsed.host_address)
        proto = "HiSLIP" if parsed.lan_device_name.lower().startswith("hislip") else "VXI-11"
        entry["description"] = f"LAN instrument ({proto}) at {parsed.host_address}"
    elif kind == "TCPIPSocket":
        entry.update(interface="tcpip", host=parsed.host_address, port=int(parsed.port))
        entry["description"] = f"LAN instrument (raw socket) at {parsed.host_address}:{parsed.port}"
    elif kind == "GPIBInstr":
        entry["interface"] = "gpib"
        entry["description"] = f"GPIB instrument at address {parsed.primary_address} (board {parsed.board})"
    elif kind == "ASRLInstr":
        entry["interface"] = "serial"
        entry["description"] = "serial instrument (VISA)"
    return entry


def _hex(text: str) -> int | None:
    try:
        return int(str(text), 0)
    except ValueError:
        return None


def _first_line(obj: object) -> str:
    text = str(obj).strip()
    return text.splitlines()[0] if text else type(obj).__name__


# -- identification -----------------------------------------------------------------------------------
def identify_visa(resource: str, timeout: float = 1.0, backend: str | None = None,
                  allow_serial: bool = False) -> dict | str:
    """Ask a VISA resource ``*IDN?``. Never raises and never hangs.

    Returns ``{"idn": reply, "manufacturer", "model", "serial_number", "firmware"}``, or a
    one-line error string. ``timeout`` (s) bounds connecting and the reply each; the whole
    probe is abandoned after ``2 * timeout + 1`` s whatever the backend does. Serial (ASRL)
    resources are not probed unless ``allow_serial``: stray text can disturb an unknown device.
    """
    from instruments.transports.base import TransportError
    from instruments.transports.factory import transport_for
    from instruments.transports.serial import SerialTransport
    from instruments.transports.visa import VisaTransport

    text = (resource or "").strip()
    try:
        t = transport_for(text, timeout=timeout)
    except (ValueError, TypeError) as exc:
        return f"cannot probe {text!r}: {exc}"
    if backend and isinstance(t, VisaTransport):
        t.backend = backend
    serial_port = isinstance(t, SerialTransport) or (isinstance(t, VisaTransport)
                                                     and t.resource.upper().startswith("ASRL"))
    if serial_port and not allow_serial:
        return (f"not probed: {text} is a serial port, and sending *IDN? to an unknown serial device "
                "can disturb it (choose its driver instead, or pass allow_serial=True)")
    outcome: list[dict | str] = []

    def probe() -> None:
        try:
            t.open()
            outcome.append(_parse_idn(t.query("*IDN?", timeout), text))
        except TransportError as exc:
            outcome.append(f"no answer to *IDN?: {exc}")
        except Exception as exc:  # a backend bug must not break discovery
            outcome.append(f"no answer to *IDN? from {text}: {_first_line(exc)}")
        finally:
            t.close()

    limit = 2 * float(timeout) + 1.0
    worker = threading.Thread(target=probe, name=f"identify {text}", daemon=True)
    worker.start()
    worker.join(limit)
    if not outcome:
        return f"no answer to *IDN? from {text} within {limit:g} s (probe abandoned)"
    return outcome[0]


def _parse_idn(reply: str, resource: str) -> dict | str:
    reply = reply.strip()
    if not reply:
        return f"{resource} answered *IDN? with an empty line"
    fields = [f.strip() for f in reply.split(",")]
    fields += [""] * (4 - len(fields))
    return {"idn": reply, "manufacturer": fields[0], "model": fields[1], "serial_number": fields[2],
            "firmware": ",".join(fields[3:]).strip(",")}
