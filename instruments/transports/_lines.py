"""Line assembly shared by the byte-stream transports (serial, TCP)."""

from __future__ import annotations

import time
from collections.abc import Callable

from instruments.transports.base import TransportTimeout


class LineBuffer:
    """Collects bytes from ``recv`` until a terminator; keeps partial data across timeouts."""

    def __init__(self, recv: Callable[[int, float], bytes], terminator: str, encoding: str = "ascii") -> None:
        self.recv = recv  # recv(max_bytes, timeout_s) -> bytes (b"" on timeout)
        self.terminator = terminator.encode(encoding)
        self.encoding = encoding
        self.buffer = bytearray()

    def read_line(self, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            idx = self.buffer.find(self.terminator)
            if idx >= 0:
                line = bytes(self.buffer[:idx])
                del self.buffer[: idx + len(self.terminator)]
                return line.decode(self.encoding, errors="replace")
            left = deadline - time.monotonic()
            if left <= 0:
                partial = len(self.buffer)
                raise TransportTimeout(
                    f"no complete reply from {what} within {timeout:g} s"
                    + (f" ({partial} bytes of a partial line kept)" if partial else "")
                )
            self.buffer += self.recv(4096, left)

    def read_bytes(self, size: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while len(self.buffer) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            chunk = self.recv(size - len(self.buffer), left)
            if not chunk:
                continue
            self.buffer += chunk
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out
