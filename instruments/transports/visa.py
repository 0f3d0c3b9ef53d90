"""VISA transport over pyvisa: USB-TMC, GPIB, TCPIP (VXI-11, HiSLIP, raw SOCKET), ASRL.

Which VISA library does the work (first that applies):

1. the ``backend`` argument: ``"@py"`` (pyvisa-py), ``"@ivi"`` (the installed vendor VISA),
   ``"@sim"`` or ``"path/to/devices.yaml@sim"`` (pyvisa-sim);
2. the environment variable ``STATION_VISA_BACKEND`` (same values);
3. a vendor VISA (NI-VISA, Keysight IO Libraries, R&S VISA), if one is installed and loads;
4. pyvisa-py, the pure-Python backend, so nothing has to be installed from a vendor.

Every pyvisa failure becomes a :class:`TransportError` (a :class:`TransportTimeout` when the
instrument simply did not answer in time) whose message names the resource and says what
happened. A timeout leaves the connection open; any other failure closes it, so the driver's
next ``open`` reconnects.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from contextlib import contextmanager
from typing import Any

from instruments.transports.base import Transport, TransportError, TransportTimeout

log = logging.getLogger(__name__)

ENV_BACKEND = "STATION_VISA_BACKEND"

# Serial-style option names (as SerialTransport and serial:// URLs spell them) -> VISA attributes.
_SERIAL_ALIASES = {
    "baudrate": "baud_rate",
    "bytesize": "data_bits",
    "stopbits": "stop_bits",
}
_SERIAL_ONLY = ("baud_rate", "data_bits", "parity", "stop_bits", "flow_control", "rtscts", "xonxoff",
                "dsrdtr") + tuple(_SERIAL_ALIASES)


def _vendor_visa_present() -> bool:
    """Whether a vendor (IVI) VISA library is installed; looks for files, loads nothing."""
    try:
        from pyvisa.ctwrapper.highlevel import IVIVisaLibrary

        return bool(IVIVisaLibrary.get_library_paths())
    except Exception:
        return False


def resource_manager(backend: str | None = None):
    """A pyvisa ResourceManager for the chosen backend (see the module docstring).

    Raises TransportError when the requested backend cannot be used; without an explicit
    request it never fails while pyvisa-py is installed.
    """
    import pyvisa

    backend = backend or os.environ.get(ENV_BACKEND, "").strip() or None
    if backend:
        try:
            return pyvisa.ResourceManager(backend)
        except Exception as exc:
            hint = " (is pyvisa-sim installed, and does the YAML file exist?)" if "sim" in backend else ""
            raise TransportError(f"the VISA backend {backend!r} cannot be used{hint}: {exc}") from exc
    vendor_failure = ""
    if _vendor_visa_present():
        try:
            return pyvisa.ResourceManager("@ivi")
        except Exception as exc:  # a broken or wrong-architecture vendor install
            vendor_failure = f"the installed vendor VISA failed to load ({exc}); "
            log.warning("vendor VISA library present but unusable, using pyvisa-py: %s", exc)
    try:
        return pyvisa.ResourceManager("@py")
    except Exception as exc:
        raise TransportError(f"no VISA backend is usable: {vendor_failure}pyvisa-py failed: {exc}") from exc


def backend_name(rm) -> str:
    """``"@py"``, ``"@ivi"``, ``"@sim"``: which library a ResourceManager talks through."""
    module = type(rm.visalib).__module__
    if module.startswith("pyvisa_py"):
        return "@py"
    if module.startswith("pyvisa_sim"):
        return "@sim"
    return "@ivi"


def _serial_attributes(options: dict[str, Any]) -> dict[str, Any]:
    """Serial settings, in either spelling, as the VISA attributes pyvisa's ASRL resource takes."""
    from pyvisa import constants

    out: dict[str, Any] = {}
    flow = constants.ControlFlow.none
    explicit_flow = False
    for key, value in options.items():
        key = _SERIAL_ALIASES.get(key, key)
        if key in ("baud_rate", "data_bits"):
            try:
                out[key] = int(value)
            except (TypeError, ValueError):
                raise ValueError(f"{key} {value!r} is not a whole number") from None
        elif key == "parity":
            if isinstance(value, constants.Parity):
                out[key] = value
            else:
                names = {"N": "none", "E": "even", "O": "odd", "M": "mark", "S": "space"}
                text = str(value).strip()
                name = names.get(text.upper()[:1]) if text else None
                if name is None or (len(text) > 1 and text.lower() != name):
                    raise ValueError(f"parity {value!r}: use N, E, O, M or S")
                out[key] = constants.Parity[name]
        elif key == "stop_bits":
            if isinstance(value, constants.StopBits):
                out[key] = value
            else:
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    number = None
                bits = {1.0: constants.StopBits.one, 1.5: constants.StopBits.one_and_a_half,
                        2.0: constants.StopBits.two}.get(number)
                if bits is None:
                    raise ValueError(f"stop bits {value!r}: use 1, 1.5 or 2")
                out[key] = bits
        elif key == "flow_control":
            out[key] = value
            explicit_flow = True
        elif key in ("rtscts", "xonxoff", "dsrdtr"):
            if _truthy(value):
                flow |= {"rtscts": constants.ControlFlow.rts_cts, "xonxoff": constants.ControlFlow.xon_xoff,
                         "dsrdtr": constants.ControlFlow.dtr_dsr}[key]
        else:
            out[key] = value
    if not explicit_flow and flow != constants.ControlFlow.none:
        out["flow_control"] = flow
    return out


def _truthy(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


def _is_serial_resource(resource: str) -> bool:
    return resource.strip().upper().startswith("ASRL")


class VisaTransport(Transport):
    """One VISA resource. ``visa_kwargs`` are passed to ``open_resource`` as VISA attributes.

    For ``ASRL`` resources the serial settings may be given as VISA attributes (``baud_rate``,
    ``data_bits``, ``parity``, ``stop_bits``, ``flow_control``) or spelled as for
    SerialTransport (``baudrate=9600, bytesize=8, parity="N", stopbits=1, rtscts=False,
    xonxoff=False``). ``open_timeout`` (ms) bounds connecting; it defaults to ``timeout``.

    A line that ends in CR LF is returned without the CR when the read termination is LF, so
    devices that end replies with either work with the default.
    """

    def __init__(self, resource: str, backend: str | None = None, read_termination: str = "\n",
                 write_termination: str = "\n", timeout: float = 2.0, **visa_kwargs: Any) -> None:
        self.resource = resource.strip()
        self.backend = backend
        self.read_termination, self.write_termination = read_termination, write_termination
        self.timeout = float(timeout)
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        if _is_serial_resource(self.resource):
            visa_kwargs = _serial_attributes(visa_kwargs)
        else:
            misplaced = sorted(k for k in visa_kwargs if k in _SERIAL_ONLY)
            if misplaced:
                raise ValueError(f"serial setting(s) {', '.join(misplaced)} given for {self.resource}, "
                                 "which is not a serial (ASRL) resource")
        if "open_timeout" in visa_kwargs:
            visa_kwargs["open_timeout"] = int(float(visa_kwargs["open_timeout"]))
        self.visa_kwargs = visa_kwargs
        self.backend_in_use: str | None = None  # "@py", "@ivi", "@sim" once open
        self._inst = None

    # -- connection ---------------------------------------------------------------------------------
    def open(self) -> None:
        if self._inst is not None:
            return
        rm = resource_manager(self.backend)
        self.backend_in_use = backend_name(rm)
        kwargs = dict(self.visa_kwargs)
        kwargs.setdefault("open_timeout", max(1, int(self.timeout * 1000)))
        try:
            self._inst = rm.open_resource(self.resource, read_termination=self.read_termination,
                                          write_termination=self.write_termination,
                                          timeout=max(1, int(self.timeout * 1000)), **kwargs)
        except Exception as exc:  # pyvisa, pyvisa-py and pyserial raise many kinds
            raise TransportError(f"cannot open VISA resource {self.resource} "
                                 f"(backend {self.backend_in_use}): {_describe(exc)}") from exc

    def close(self) -> None:
        inst, self._inst = self._inst, None
        if inst is not None:
            try:
                inst.close()
            except Exception as exc:
                log.debug("closing %s: %s", self.resource, exc)

    @property
    def is_open(self) -> bool:
        return self._inst is not None

    def _need(self):
        if self._inst is None:
            raise TransportError(f"VISA resource {self.resource} is not open")
        return self._inst

    def _failed(self, what: str, exc: Exception, wait: float | None = None) -> TransportError:
        """The TransportError for ``exc``; closes the resource unless it was only a timeout."""
        if _is_timeout(exc):
            wait = self.timeout if wait is None else wait
            return TransportTimeout(f"{self.resource} did not answer within {wait:g} s ({what})")
        self.close()
        return TransportError(f"{what} on {self.resource} failed: {_describe(exc)}")

    # -- text ---------------------------------------------------------------------------------------
    def write(self, command: str) -> None:
        inst = self._need()
        try:
            inst.write(command)
        except Exception as exc:
            raise self._failed(f"writing {command!r}", exc) from exc

    def read_line(self, timeout: float | None = None) -> str:
        inst = self._need()
        try:
            with self._timeout(inst, timeout):
                line = inst.read()
        except Exception as exc:
            raise self._failed("reading a reply", exc, timeout) from exc
        if self.read_termination.endswith("\n") and line.endswith("\r"):
            line = line[:-1]
        return line

    # -- binary -------------------------------------------------------------------------------------
    def write_bytes(self, data: bytes) -> None:
        inst = self._need()
        try:
            inst.write_raw(bytes(data))
        except Exception as exc:
            raise self._failed(f"writing {len(data)} bytes", exc) from exc

    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        """Up to ``size`` raw bytes (terminations are data here); fewer if the timeout passes.

        Serial (ASRL) resources are read only as far as the port has bytes, because a VISA
        read that times out throws away what it had received; other resources deliver what
        arrived before a timeout.
        """
        from pyvisa import constants

        inst = self._need()
        wait = self.timeout if timeout is None else float(timeout)
        deadline = time.monotonic() + wait
        out = bytearray()
        quiet = (constants.StatusCode.success_device_not_present, constants.StatusCode.success_max_count_read,
                 constants.StatusCode.success_termination_character_read)
        stream = _is_serial_resource(self.resource)
        try:
            with inst.ignore_warning(*quiet):
                while len(out) < size:
                    left = deadline - time.monotonic()
                    want = size - len(out)
                    if stream:
                        want = min(want, self._bytes_waiting(inst))
                        if want == 0:
                            if left <= 0:
                                break
                            time.sleep(min(0.01, left))
                            continue
                    inst.timeout = max(0, int(left * 1000))  # 0: only what is already there
                    try:
                        chunk, _status = inst.visalib.read(inst.session, want)
                    except Exception as exc:
                        if _is_timeout(exc):
                            break
                        raise
                    out += chunk
                    if time.monotonic() >= deadline:
                        break
        except Exception as exc:
            raise self._failed(f"reading {size} bytes", exc) from exc
        finally:
            if self._inst is not None:
                self._restore_timeout(self._inst)
        return bytes(out)

    @staticmethod
    def _bytes_waiting(inst) -> int:
        try:
            return int(inst.bytes_in_buffer)
        except Exception:  # a backend without VI_ATTR_ASRL_AVAIL_NUM: read blindly
            return 1 << 16

    # -- helpers ------------------------------------------------------------------------------------
    @contextmanager
    def _timeout(self, inst, timeout: float | None):
        """Use ``timeout`` (s) for one operation, then the transport's own again."""
        if timeout is not None:
            inst.timeout = max(1, int(float(timeout) * 1000))
        try:
            yield
        finally:
            if timeout is not None and self._inst is not None:
                self._restore_timeout(self._inst)

    def _restore_timeout(self, inst) -> None:
        try:
            inst.timeout = max(1, int(self.timeout * 1000))
        except Exception:
            pass


def _is_timeout(exc: BaseException) -> bool:
    try:
        from pyvisa import constants, errors
    except ImportError:
        return False
    return isinstance(exc, errors.VisaIOError) and exc.error_code == constants.StatusCode.error_timeout


def _describe(exc: BaseException) -> str:
    """One line a user can act on, for any exception pyvisa or a backend raises."""
    try:
        from pyvisa import constants, errors
    except ImportError:
        return str(exc) or type(exc).__name__
    if isinstance(exc, errors.VisaIOError):
        code = exc.error_code
        plain = {
            constants.StatusCode.error_connection_lost: "the connection was lost",
            constants.StatusCode.error_resource_not_found: "no such instrument is present "
                                                           "(check the address, cable and power)",
            constants.StatusCode.error_timeout: "no answer in time",
            constants.StatusCode.error_io: "an I/O error occurred (the instrument may be off or unplugged)",
        }.get(code)
        detail = f"{exc.abbreviation}: {exc.description}"
        return f"{plain} [{detail}]" if plain else detail
    if isinstance(exc, errors.InvalidSession):
        return "the VISA session is no longer valid (was the instrument disconnected?)"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if getattr(exc, "errno", None) == errno.EIO or "Input/output error" in text:
        return f"the device disconnected ({text}); check its cable and power"
    if str(constants.StatusCode.error_timeout.value) in text:  # pyvisa-py: "could not connect: <VI_ERROR_TMO>"
        return f"timed out ({text})"
    if "PyUSB" in text:
        return f"{text} (pip install pyusb; it also needs the libusb library)"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return text
