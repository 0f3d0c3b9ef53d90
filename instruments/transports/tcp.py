"""TCP socket transport (LAN instruments in raw socket mode, SPEC PTDaemon)."""

from __future__ import annotations

import select
import socket

from instruments.transports._lines import LineBuffer
from instruments.transports.base import Transport, TransportError


class TcpTransport(Transport):
    def __init__(self, host: str, port: int, read_termination: str = "\n", write_termination: str = "\n",
                 timeout: float = 2.0, connect_timeout: float = 5.0) -> None:
        self.host, self.port = host, int(port)
        self.resource = f"tcp://{host}:{port}"
        self.read_termination, self.write_termination = read_termination, write_termination
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._sock: socket.socket | None = None
        self._lines = LineBuffer(self._recv, read_termination)

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise TransportError(f"cannot connect to {self.resource}: {exc.strerror or exc}") from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._lines.buffer.clear()

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def _need(self) -> socket.socket:
        if self._sock is None:
            raise TransportError(f"{self.resource} is not open")
        return self._sock

    def _recv(self, size: int, timeout: float) -> bytes:
        sock = self._need()
        ready, _, _ = select.select([sock], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            data = sock.recv(size)
        except OSError as exc:
            self.close()
            raise TransportError(f"connection to {self.resource} broke: {exc.strerror or exc}") from exc
        if not data:
            self.close()
            raise TransportError(f"the connection was closed by the instrument at {self.resource}")
        return data

    def write_bytes(self, data: bytes) -> None:
        try:
            self._need().sendall(data)
        except OSError as exc:
            self.close()
            raise TransportError(f"sending to {self.resource} failed: {exc.strerror or exc}") from exc

    def write(self, command: str) -> None:
        self.write_bytes((command + self.write_termination).encode("ascii"))

    def read_line(self, timeout: float | None = None) -> str:
        return self._lines.read_line(self.timeout if timeout is None else timeout, self.resource)

    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        return self._lines.read_bytes(size, self.timeout if timeout is None else timeout)
