"""Serial transport over pyserial (RS-232 meters, USB CDC devices such as the LPM01A or GPM-8213).

Lines are assembled from whatever the port delivers: a reply split over several reads is put
back together, and a read that times out mid-line keeps the partial line for the next read.
With a read termination of LF (the default) or CR LF, lines are split at LF and a trailing CR
is dropped, so devices ending their replies with either work without configuration.

A device that vanishes (USB unplugged, pty closed) shows up as a SerialException or OSError
from pyserial; that becomes a TransportError saying the device disconnected, and the port is
closed so the driver's next ``open`` tries again.
"""

from __future__ import annotations

import errno
import os

import serial as pyserial

from instruments.transports._lines import LineBuffer
from instruments.transports.base import Transport, TransportError, TransportTimeout

try:  # pyserial's POSIX backend lets termios.error (not an OSError) out of flush() and friends
    from termios import error as _TermiosError
except ImportError:  # pragma: no cover - Windows
    class _TermiosError(Exception):
        pass

_LINK_ERRORS = (pyserial.SerialException, OSError, _TermiosError)

PARITIES = {"N": pyserial.PARITY_NONE, "E": pyserial.PARITY_EVEN, "O": pyserial.PARITY_ODD,
            "M": pyserial.PARITY_MARK, "S": pyserial.PARITY_SPACE}
_POLL_S = 0.05  # the port's own read timeout; reads loop on it until the caller's deadline


class SerialTransport(Transport):
    def __init__(self, port: str, baudrate: int = 9600, bytesize: int = 8, parity: str = "N",
                 stopbits: float = 1, read_termination: str = "\n", write_termination: str = "\n",
                 timeout: float = 2.0, rtscts: bool = False, xonxoff: bool = False) -> None:
        if not port:
            raise ValueError("a serial transport needs a port, e.g. /dev/ttyUSB0 or COM3")
        self.port = str(port)
        self.resource = f"serial://{self.port}"
        self.settings = _settings(baudrate, bytesize, parity, stopbits, rtscts, xonxoff)
        if not read_termination:
            raise ValueError("read_termination must not be empty")
        self.read_termination, self.write_termination = read_termination, write_termination
        self.timeout = float(timeout)
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        self._port: pyserial.Serial | None = None
        # CR LF and LF both end a line at LF; the CR is stripped in read_line.
        self._strip_cr = read_termination in ("\n", "\r\n")
        self._lines = LineBuffer(self._recv, "\n" if self._strip_cr else read_termination)

    # -- connection ---------------------------------------------------------------------------------
    def open(self) -> None:
        if self._port is not None:
            return
        try:
            self._port = pyserial.Serial(
                self.port, timeout=_POLL_S, write_timeout=self.timeout,
                # POSIX: refuse a port another station (or pyserial program) already holds.
                exclusive=True if os.name == "posix" else None, **self.settings)
        except (pyserial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open serial port {self.port}: {_why_not_open(exc)}") from exc
        self._lines.buffer.clear()

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:
                pass

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def _need(self) -> pyserial.Serial:
        if self._port is None:
            raise TransportError(f"serial port {self.port} is not open")
        return self._port

    def _lost(self, exc: BaseException) -> TransportError:
        self.close()
        return TransportError(f"serial device {self.port} disconnected ({exc}); check its cable and power")

    # -- bytes in and out ---------------------------------------------------------------------------
    def _recv(self, size: int, timeout: float) -> bytes:
        """What the port has (at most ``size`` bytes), waiting up to about ``timeout`` for the first."""
        port = self._need()
        try:
            waiting = port.in_waiting
            if waiting:
                return port.read(min(size, waiting))
            if timeout <= 0:
                return b""
            first = port.read(1)  # returns as soon as a byte arrives, else after _POLL_S
            if not first:
                return b""
            more = min(size - 1, port.in_waiting)
            return first + (port.read(more) if more > 0 else b"")
        except _LINK_ERRORS as exc:
            raise self._lost(exc) from exc

    def write_bytes(self, data: bytes) -> None:
        port = self._need()
        try:
            port.write(bytes(data))
            port.flush()
        except pyserial.SerialTimeoutException as exc:
            raise TransportTimeout(
                f"serial device {self.port} did not accept data within {self.timeout:g} s"
                + (" (is it holding CTS low?)" if self.settings["rtscts"] else "")) from exc
        except _LINK_ERRORS as exc:
            raise self._lost(exc) from exc

    def write(self, command: str) -> None:
        self.write_bytes((command + self.write_termination).encode("ascii"))

    def read_line(self, timeout: float | None = None) -> str:
        line = self._lines.read_line(self.timeout if timeout is None else float(timeout),
                                     f"serial device {self.port}")
        return line[:-1] if self._strip_cr and line.endswith("\r") else line

    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes, including any left over from an incomplete line."""
        return self._lines.read_bytes(size, self.timeout if timeout is None else float(timeout))


def _settings(baudrate, bytesize, parity, stopbits, rtscts, xonxoff) -> dict:
    """pyserial's settings from loosely typed values (URL query strings); ValueError if invalid."""
    try:
        baud = int(baudrate)
        bits = int(bytesize)
        stop = float(stopbits)
    except (TypeError, ValueError):
        raise ValueError(f"serial settings must be numbers: baudrate={baudrate!r}, bytesize={bytesize!r}, "
                         f"stopbits={stopbits!r}") from None
    if baud <= 0:
        raise ValueError(f"baudrate must be positive, not {baudrate!r}")
    if bits not in (5, 6, 7, 8):
        raise ValueError(f"bytesize must be 5, 6, 7 or 8, not {bytesize!r}")
    text = str(parity).strip().upper()
    if text in ("NONE", "EVEN", "ODD", "MARK", "SPACE"):
        text = text[0]
    if text not in PARITIES:
        raise ValueError(f"parity must be N, E, O, M or S, not {parity!r}")
    if stop not in (1.0, 1.5, 2.0):
        raise ValueError(f"stopbits must be 1, 1.5 or 2, not {stopbits!r}")
    return dict(baudrate=baud, bytesize=bits, parity=PARITIES[text],
                stopbits=1.5 if stop == 1.5 else int(stop), rtscts=_b(rtscts), xonxoff=_b(xonxoff))


def _why_not_open(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text or "FileNotFoundError" in text:
        return f"no such port ({text}); is the device plugged in?"
    if code == errno.EACCES or "Permission denied" in text or "PermissionError" in text:
        return (f"permission denied ({text}); on Linux add your user to the 'dialout' group "
                "(or 'uucp' on some distributions) and log in again")
    if code in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text or "busy" in text.lower():
        return f"the port is in use by another program ({text})"
    return text


def _b(value) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")
