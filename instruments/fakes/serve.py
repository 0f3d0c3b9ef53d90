"""Simulated analyzers served where a real one would be: a TCP port on loopback, or a pty.

The device models of :mod:`instruments.fakes.scpi_device` (any :class:`AnalyzerDevice`) answer
over a real byte stream here, so the station reaches them through its ordinary transports
(pyvisa-py ``TCPIP::127.0.0.1::<port>::SOCKET`` or ``ASRL<path>::INSTR``, pyserial, plain TCP),
in another process if need be, without knowing it talks to a fake.

* :class:`TcpDeviceServer`: a LAN instrument in raw-socket mode. Unplugging it cuts every open
  connection; while it is away, connections are accepted and dropped at once.
* :class:`PtyDeviceServer`: an RS-232 or USB virtual COM port instrument behind a pty. The port
  clients open is a stable symlink (as ``/dev/serial/by-id/...`` is); unplugging closes the
  pty (the client's next read fails with EIO) and removes the link, plugging it back makes a
  new pty behind the same link. The device has its own serial settings (baud rate, data bits,
  parity, stop bits): a client that opens the port with other settings gets what it would get
  on a real line, garbage both ways, so the device answers nothing it can make sense of.

Both read commands up to LF (a CR before it is dropped, as real instruments accept either),
end replies with the device's line ending, swallow commands while the device is stalled, and
serialise access to the device so several connections never interleave inside a command.
The device must run on wall time (:class:`WallClock`) since a client in another process
cannot share a fake clock.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import termios
import threading
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instruments.fakes.clock import WallClock

__all__ = ["PtyDeviceServer", "SerialLine", "TcpDeviceServer", "WallClock"]


class _Dialogue:
    """Commands in, replies out, for one device shared by every connection to it."""

    def __init__(self, device: Any, line_ending: str) -> None:
        self.device = device
        self.line_ending = line_ending.encode("ascii")
        self.lock = threading.Lock()
        self.commands = 0  # commands handled, all connections together

    def feed(self, buffer: bytearray, data: bytes) -> bytes:
        """Add received bytes; the reply bytes to every complete command in them."""
        buffer += data
        out = bytearray()
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end]).rstrip(b"\r")
            del buffer[: end + 1]
            text = line.decode("ascii", errors="replace").strip()
            if not text:
                continue
            with self.lock:
                if self.device.stalled or not self.device.present:
                    continue
                self.commands += 1
                replies = self.device.handle(text)
            for reply in replies:
                out += reply.encode("ascii", errors="replace") + self.line_ending
        return bytes(out)


# -- TCP ------------------------------------------------------------------------------------------
class TcpDeviceServer:
    """``device`` answering on ``host:port`` (port 0: any free one), one thread per connection."""

    def __init__(self, device: Any, host: str = "127.0.0.1", port: int = 0, line_ending: str = "\n") -> None:
        self.device = device
        self.dialogue = _Dialogue(device, line_ending)
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.2)
        self.host, self.port = self._server.getsockname()[:2]
        self.connections = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"fake-tcp-{self.port}", daemon=True)
        self._thread.start()

    @property
    def visa_resource(self) -> str:
        """The VISA name of this instrument for pyvisa-py's raw-socket sessions."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def unplug(self) -> None:
        """The instrument vanishes: the device forgets its sessions and every connection drops."""
        self.device.unplug()
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()

    def plug(self, power_cycle: bool = False) -> None:
        self.device.plug(power_cycle)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.close()
        self.unplug()
        self._thread.join(2.0)

    def __enter__(self) -> TcpDeviceServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.device.present:
                conn.close()  # nobody there: the connection dies at once
                continue
            self.connections += 1
            with self._lock:
                self._open.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        conn.settimeout(0.2)
        try:
            while not self._stop.is_set() and self.device.present:
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    return
                out = self.dialogue.feed(buffer, data)
                if out and self.device.present:
                    conn.sendall(out)
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()


# -- pty ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SerialLine:
    """The serial settings a device is set to on its front panel (None: it takes any baud rate,
    as a USB virtual COM port does)."""

    baudrate: int | None = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1

    def matches(self, attrs: list) -> bool:
        """Whether a port configured as ``attrs`` (termios.tcgetattr) talks to this device."""
        cflag, ospeed = attrs[2], attrs[5]
        if self.baudrate is not None and ospeed != getattr(termios, f"B{self.baudrate}", None):
            return False
        size = {5: termios.CS5, 6: termios.CS6, 7: termios.CS7, 8: termios.CS8}[self.bytesize]
        if cflag & termios.CSIZE != size:
            return False
        parity = "N" if not cflag & termios.PARENB else ("O" if cflag & termios.PARODD else "E")
        if parity != self.parity:
            return False
        return bool(cflag & termios.CSTOPB) == (self.stopbits == 2)


def _garble(data: bytes) -> bytes:
    """What a receiver at the wrong baud rate or framing makes of ``data``: no usable text."""
    return bytes(0x80 | (b ^ 0x55) for b in data)


class PtyDeviceServer:
    """``device`` behind a pty whose slave is reached through the symlink ``link``.

    ``line`` is the device's serial setting; ``line_ending`` ends its replies (RS-232 meters
    usually send CR LF).
    """

    def __init__(self, device: Any, link: str | os.PathLike, line: SerialLine | None = None,
                 line_ending: str = "\r\n") -> None:
        if not hasattr(os, "openpty"):
            raise OSError("a pty device needs a POSIX system")
        self.device = device
        self.link = Path(link)
        self.line = line or SerialLine()
        self.dialogue = _Dialogue(device, line_ending)
        self.garbled = 0  # chunks that arrived with the wrong serial settings
        self.raw_received = bytearray()  # every byte the host wrote, as it arrived
        self._fds: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._attach()

    @property
    def path(self) -> str:
        """The port to open (the stable link)."""
        return str(self.link)

    @property
    def visa_resource(self) -> str:
        return f"ASRL{self.link}::INSTR"

    def _attach(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo or newline translation until the host configures the port
        self._fds = (master, slave)
        tmp = self.link.with_name(self.link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.link)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(master, slave, self._stop),
                                        name=f"fake-pty-{self.link.name}", daemon=True)
        self._thread.start()

    def _detach(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        fds, self._fds = self._fds, None
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if fds is not None:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def unplug(self) -> None:
        """The cable is pulled: the port goes away under the host (its reads fail)."""
        self.device.unplug()
        self._detach()

    def plug(self, power_cycle: bool = False) -> None:
        """The device is back, on a new pty behind the same link."""
        if self._fds is None:
            self._attach()
        self.device.plug(power_cycle)

    def close(self) -> None:
        self._detach()

    def __enter__(self) -> PtyDeviceServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self, master: int, slave: int, stop: threading.Event) -> None:
        buffer = bytearray()
        while not stop.is_set():
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                continue
            self.raw_received += data
            try:
                in_step = self.line.matches(termios.tcgetattr(slave))
            except termios.error:
                in_step = True
            if not in_step:
                self.garbled += 1
                buffer.clear()
                self.device.received.append(_garble(data).decode("latin-1"))  # heard, not understood
                continue
            out = self.dialogue.feed(buffer, data)
            if out:
                try:
                    os.write(master, out)
                except OSError:
                    return
