"""TCP socket transport (LAN instruments in raw-socket mode, SPEC PTDaemon on port 8888).

Lines are assembled across packets, a read that times out mid-line keeps the partial line for
the next read, and with a read termination of LF (the default) or CR LF a trailing CR is
dropped (PTDaemon ends lines with CR LF). The instrument closing the connection is a
TransportError that says so; the transport is then closed and ``open`` reconnects.
"""

from __future__ import annotations

import select
import socket

from instruments.transports._lines import LineBuffer
from instruments.transports.base import Transport, TransportError


class TcpTransport(Transport):
    def __init__(self, host: str, port: int, read_termination: str = "\n", write_termination: str = "\n",
                 timeout: float = 2.0, connect_timeout: float = 5.0) -> None:
        if not host:
            raise ValueError("a TCP transport needs a host")
        try:
            self.port = int(port)
        except (TypeError, ValueError):
            raise ValueError(f"TCP port must be a number, not {port!r}") from None
        if not 0 < self.port < 65536:
            raise ValueError(f"TCP port must be 1..65535, not {port!r}")
        self.host = host
        self.resource = f"tcp://[{host}]:{self.port}" if ":" in host else f"tcp://{host}:{self.port}"
        if not read_termination:
            raise ValueError("read_termination must not be empty")
        self.read_termination, self.write_termination = read_termination, write_termination
        self.timeout, self.connect_timeout = float(timeout), float(connect_timeout)
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeout and connect_timeout must be positive")
        self._sock: socket.socket | None = None
        self._strip_cr = read_termination in ("\n", "\r\n")
        self._lines = LineBuffer(self._recv, "\n" if self._strip_cr else read_termination)

    # -- connection ---------------------------------------------------------------------------------
    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError as exc:
            raise TransportError(f"cannot connect to {self.resource}: no answer within "
                                 f"{self.connect_timeout:g} s (is the address right and the instrument on?)") from exc
        except OSError as exc:
            raise TransportError(f"cannot connect to {self.resource}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.settimeout(self.timeout)  # bounds sendall; reads wait in select
        self._sock = sock
        self._lines.buffer.clear()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def _need(self) -> socket.socket:
        if self._sock is None:
            raise TransportError(f"{self.resource} is not open")
        return self._sock

    # -- bytes in and out ---------------------------------------------------------------------------
    def _recv(self, size: int, timeout: float) -> bytes:
        sock = self._need()
        try:
            ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
            if not ready:
                return b""
            data = sock.recv(size)
        except (OSError, ValueError) as exc:
            self.close()
            raise TransportError(f"the connection to {self.resource} broke: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from exc
        if not data:
            self.close()
            raise TransportError(f"the connection was closed by the instrument at {self.resource}")
        return data

    def write_bytes(self, data: bytes) -> None:
        sock = self._need()
        try:
            sock.sendall(bytes(data))
        except TimeoutError as exc:
            self.close()
            raise TransportError(f"{self.resource} did not take the data within {self.timeout:g} s; "
                                 "connection closed") from exc
        except OSError as exc:
            self.close()
            raise TransportError(f"sending to {self.resource} failed: {exc.strerror or exc}") from exc

    def write(self, command: str) -> None:
        self.write_bytes((command + self.write_termination).encode("ascii"))

    def read_line(self, timeout: float | None = None) -> str:
        line = self._lines.read_line(self.timeout if timeout is None else float(timeout), self.resource)
        return line[:-1] if self._strip_cr and line.endswith("\r") else line

    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes, including any left over from an incomplete line."""
        return self._lines.read_bytes(size, self.timeout if timeout is None else float(timeout))
