"""Finding instruments: VISA resources and serial ports, without disturbing unknown devices."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def discover(visa: bool = True, serial: bool = True) -> list[dict]:
    """Every resource that can be found now. Never raises: problems become entries' errors."""
    found: list[dict] = []
    if serial:
        try:
            from serial.tools import list_ports

            for p in list_ports.comports():
                found.append({
                    "resource": p.device, "kind": "serial", "description": p.description or "",
                    "hwid": p.hwid or "", "vid": p.vid, "pid": p.pid, "serial_number": p.serial_number,
                })
        except Exception as exc:
            log.warning("serial port listing failed: %s", exc)
    if visa:
        try:
            import warnings

            from instruments.transports.visa import resource_manager

            rm = resource_manager()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optional pyvisa-py backends (zeroconf, pyusb) missing
                resources = rm.list_resources()
            for res in resources:
                if res.upper().startswith("ASRL"):
                    continue  # serial ports are listed above, by their device name
                found.append({"resource": res, "kind": "visa", "description": "VISA instrument"})
        except Exception as exc:
            log.warning("VISA resource listing failed: %s", exc)
    return found


def identify_visa(resource: str, timeout: float = 1.0) -> dict | str:
    """``{"idn": reply}`` for a VISA resource, or a one-line error string. Never hangs."""
    from instruments.transports.base import TransportError
    from instruments.transports.visa import VisaTransport

    t = VisaTransport(resource, timeout=timeout)
    try:
        t.open()
        return {"idn": t.query("*IDN?", timeout).strip()}
    except TransportError as exc:
        return f"no answer to *IDN?: {exc}"
    finally:
        t.close()
