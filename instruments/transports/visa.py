"""VISA transport over pyvisa: USB-TMC, GPIB, TCPIP (VXI-11, HiSLIP, raw SOCKET), ASRL.

The backend is the pure-Python pyvisa-py (``@py``) unless a vendor VISA library (NI-VISA,
Keysight) is installed, or ``STATION_VISA_BACKEND`` / the ``backend`` argument says otherwise
(``path/to/devices.yaml@sim`` for pyvisa-sim).
"""

from __future__ import annotations

import os

from instruments.transports.base import Transport, TransportError, TransportTimeout


def resource_manager(backend: str | None = None):
    """A pyvisa ResourceManager for the chosen backend, falling back to pyvisa-py."""
    import pyvisa

    backend = backend or os.environ.get("STATION_VISA_BACKEND")
    if backend:
        try:
            return pyvisa.ResourceManager(backend)
        except Exception as exc:
            raise TransportError(f"VISA backend {backend!r} is not usable: {exc}") from exc
    try:
        return pyvisa.ResourceManager()  # a vendor VISA, when one is installed
    except Exception:
        try:
            return pyvisa.ResourceManager("@py")
        except Exception as exc:
            raise TransportError(f"no VISA backend is usable (pyvisa-py failed: {exc})") from exc


class VisaTransport(Transport):
    def __init__(self, resource: str, backend: str | None = None, read_termination: str = "\n",
                 write_termination: str = "\n", timeout: float = 2.0, **visa_kwargs) -> None:
        self.resource = resource
        self.backend = backend
        self.read_termination, self.write_termination = read_termination, write_termination
        self.timeout = float(timeout)
        self.visa_kwargs = visa_kwargs
        self._inst = None

    def open(self) -> None:
        if self._inst is not None:
            return
        import pyvisa

        rm = resource_manager(self.backend)
        kwargs = dict(self.visa_kwargs)
        if self.resource.upper().startswith("ASRL"):
            for key in ("baud_rate", "data_bits"):
                if key in kwargs:
                    kwargs[key] = int(kwargs[key])
        try:
            self._inst = rm.open_resource(self.resource, read_termination=self.read_termination,
                                          write_termination=self.write_termination,
                                          timeout=int(self.timeout * 1000), **kwargs)
        except (pyvisa.Error, OSError, ValueError) as exc:
            raise TransportError(f"cannot open VISA resource {self.resource}: {exc}") from exc

    def close(self) -> None:
        if self._inst is not None:
            try:
                self._inst.close()
            except Exception:
                pass
            self._inst = None

    @property
    def is_open(self) -> bool:
        return self._inst is not None

    def _call(self, what: str, fn, *args):
        if self._inst is None:
            raise TransportError(f"VISA resource {self.resource} is not open")
        import pyvisa

        try:
            return fn(*args)
        except pyvisa.errors.VisaIOError as exc:
            if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
                raise TransportTimeout(f"{self.resource} did not answer ({what}) in time") from exc
            self.close()
            raise TransportError(f"{what} on {self.resource} failed: {exc.description}") from exc
        except (pyvisa.Error, OSError) as exc:
            self.close()
            raise TransportError(f"{what} on {self.resource} failed: {exc}") from exc

    def write(self, command: str) -> None:
        self._call("write", lambda: self._inst.write(command))

    def write_bytes(self, data: bytes) -> None:
        self._call("write", lambda: self._inst.write_raw(data))

    def read_line(self, timeout: float | None = None) -> str:
        def read():
            if timeout is not None:
                self._inst.timeout = int(timeout * 1000)
            try:
                return self._inst.read()
            finally:
                if timeout is not None and self._inst is not None:
                    self._inst.timeout = int(self.timeout * 1000)

        return self._call("read", read)

    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        return self._call("read", lambda: self._inst.read_bytes(size))
