"""The transport interface: what a driver needs from a connection, nothing more."""

from __future__ import annotations

from abc import ABC, abstractmethod


class TransportError(Exception):
    """The connection failed or broke. Drivers turn this into InstrumentDisconnected."""


class TransportTimeout(TransportError):
    """No (complete) reply arrived in time."""


class Transport(ABC):
    """A connection to one instrument. Text is exchanged as str, binary data as bytes.

    The constructor does no I/O; ``open`` connects. ``write`` appends the transport's write
    termination; ``read_line`` strips the read termination.
    """

    resource: str = ""

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @property
    @abstractmethod
    def is_open(self) -> bool: ...

    @abstractmethod
    def write(self, command: str) -> None: ...

    @abstractmethod
    def read_line(self, timeout: float | None = None) -> str: ...

    @abstractmethod
    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes; fewer (possibly none) if the timeout passes first."""

    @abstractmethod
    def write_bytes(self, data: bytes) -> None: ...

    def drain(self, timeout: float = 0.05, lines: int = 16) -> int:
        """Throw away replies left over from an earlier, interrupted conversation (a reply the
        instrument sent after the link broke arrives on the next one and would answer the next
        query); at most ``lines``, each waited for ``timeout`` s. Returns how many were thrown
        away; TransportError if the connection breaks."""
        for dropped in range(lines):
            try:
                self.read_line(timeout=timeout)
            except TransportTimeout:
                return dropped
        return lines

    def query(self, command: str, timeout: float | None = None) -> str:
        """Write ``command`` and return the reply line."""
        self.write(command)
        return self.read_line(timeout)

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
