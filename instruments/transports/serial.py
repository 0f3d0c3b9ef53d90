"""Serial transport over pyserial (RS-232 meters, USB CDC devices such as the LPM01A)."""

from __future__ import annotations

import serial as pyserial

from instruments.transports._lines import LineBuffer
from instruments.transports.base import Transport, TransportError


class SerialTransport(Transport):
    def __init__(self, port: str, baudrate: int = 9600, bytesize: int = 8, parity: str = "N",
                 stopbits: float = 1, read_termination: str = "\n", write_termination: str = "\n",
                 timeout: float = 2.0, rtscts: bool = False, xonxoff: bool = False) -> None:
        self.port = port
        self.resource = f"serial://{port}"
        self.settings = dict(baudrate=int(baudrate), bytesize=int(bytesize), parity=str(parity).upper(),
                             stopbits=float(stopbits) if float(stopbits) == 1.5 else int(float(stopbits)),
                             rtscts=_b(rtscts), xonxoff=_b(xonxoff))
        self.read_termination, self.write_termination = read_termination, write_termination
        self.timeout = float(timeout)
        self._port: pyserial.Serial | None = None
        # Serial devices end lines with CR LF or LF: split on LF, strip a trailing CR.
        self._lines = LineBuffer(self._recv, "\n" if read_termination.endswith("\n") else read_termination)

    def open(self) -> None:
        if self._port is not None:
            return
        try:
            self._port = pyserial.Serial(self.port, timeout=0, write_timeout=self.timeout, **self.settings)
        except (pyserial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open serial port {self.port}: {exc}") from exc
        self._lines.buffer.clear()

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except Exception:
                pass
            self._port = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def _need(self) -> pyserial.Serial:
        if self._port is None:
            raise TransportError(f"serial port {self.port} is not open")
        return self._port

    def _recv(self, size: int, timeout: float) -> bytes:
        port = self._need()
        try:
            port.timeout = max(0.0, timeout)
            first = port.read(1)
            if not first:
                return b""
            port.timeout = 0
            return first + port.read(min(max(size - 1, 0), port.in_waiting or 0))
        except (pyserial.SerialException, OSError) as exc:
            self.close()
            raise TransportError(f"serial device {self.port} disconnected: {exc}") from exc

    def write_bytes(self, data: bytes) -> None:
        port = self._need()
        try:
            port.write(data)
            port.flush()
        except (pyserial.SerialException, OSError) as exc:
            self.close()
            raise TransportError(f"serial device {self.port} disconnected: {exc}") from exc

    def write(self, command: str) -> None:
        self.write_bytes((command + self.write_termination).encode("ascii"))

    def read_line(self, timeout: float | None = None) -> str:
        line = self._lines.read_line(self.timeout if timeout is None else timeout, self.port)
        return line[:-1] if line.endswith("\r") else line

    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        return self._lines.read_bytes(size, self.timeout if timeout is None else timeout)


def _b(value) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
