"""Transports for tests: one wired to a simulated device, one replaying a fixed dialogue."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from instruments.transports.base import Transport, TransportError, TransportTimeout

if TYPE_CHECKING:
    from instruments.fakes.scpi_device import AnalyzerDevice


class FakeTransport(Transport):
    """A line transport connected to a simulated analyzer (see :mod:`instruments.fakes.scpi_device`).

    Behaves like a VISA session: ``open`` fails while the device is unplugged; a session opened
    before the device vanished stays dead (TransportError) until it is closed and opened again;
    a stalled device swallows commands and every read times out (the clock moves on by the
    timeout, as a real wait would). Replies wait in the device's output queue, so a reply
    nobody read is still there after the session is closed and opened again.
    """

    def __init__(self, device: AnalyzerDevice, resource: str = "FAKE0::INSTR", latency_s: float = 0.002,
                 default_timeout_s: float = 1.0) -> None:
        self.device = device
        self.resource = resource
        self.latency_s = latency_s
        self.default_timeout_s = default_timeout_s
        self.sent: list[str] = []  # every command written, in order
        self.received: list[str] = []  # every reply line read, in order
        self.opens = 0
        self._open = False
        self._generation = -1

    # -- Transport ------------------------------------------------------------------------------
    def open(self) -> None:
        if not self.device.present:
            raise TransportError(f"{self.resource}: no such device (unplugged or powered off)")
        self._open = True
        self._generation = self.device.generation
        self.opens += 1

    def close(self) -> None:
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def write(self, command: str) -> None:
        self._check()
        self.sent.append(command)
        self.device.clock.advance(self.latency_s / 2)
        if self.device.stalled:
            return
        self.device.output.extend(self.device.handle(command))

    def read_line(self, timeout: float | None = None) -> str:
        self._check()
        if self.device.output and not self.device.stalled:
            self.device.clock.advance(self.latency_s / 2)
            line = self.device.output.pop(0)
            self.received.append(line)
            return line
        self.device.clock.advance(self.default_timeout_s if timeout is None else timeout)
        raise TransportTimeout(f"{self.resource}: no reply")

    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        if not self.device.output:
            return b""
        data = (self.read_line(timeout) + "\n").encode()
        return data[:size]

    def write_bytes(self, data: bytes) -> None:
        self.write(data.decode().rstrip("\r\n"))

    # -- helpers --------------------------------------------------------------------------------
    def _check(self) -> None:
        if not self._open:
            raise TransportError(f"{self.resource}: not open")
        if not self.device.present or self.device.generation != self._generation:
            self._open = False
            raise TransportError(f"{self.resource}: the device went away")


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


TIMEOUT = _Marker("TIMEOUT")  # the instrument stays silent: the read times out
GONE = _Marker("GONE")  # the connection breaks when this command is written

Exchange = tuple[str, "str | None | _Marker"]


class ReplayTransport(Transport):
    """Replays an exact list of (command the driver must send, reply or None) pairs.

    A command that differs from the script fails at once with both strings, so a driver test
    reads like the instrument's manual: what goes out, what comes back.
    """

    def __init__(self, exchanges: Iterable[Exchange], resource: str = "REPLAY0::INSTR") -> None:
        self.exchanges = list(exchanges)
        self.resource = resource
        self.position = 0
        self.sent: list[str] = []
        self._pending: list[str] = []
        self._silent = False
        self._open = False

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def write(self, command: str) -> None:
        self.sent.append(command)
        if self.position >= len(self.exchanges):
            raise AssertionError(f"the driver sent {command!r} after the script ended")
        expected, reply = self.exchanges[self.position]
        if command != expected:
            raise AssertionError(
                f"exchange {self.position}: the script expects {expected!r}, the driver sent {command!r}")
        self.position += 1
        if reply is GONE:
            raise TransportError("the connection broke")
        self._silent = reply is TIMEOUT
        if isinstance(reply, str):
            self._pending.append(reply)

    def read_line(self, timeout: float | None = None) -> str:
        if self._pending and not self._silent:
            return self._pending.pop(0)
        raise TransportTimeout("no reply")

    def read_bytes(self, size: int, timeout: float | None = None) -> bytes:
        return (self.read_line(timeout) + "\n").encode()[:size] if self._pending else b""

    def write_bytes(self, data: bytes) -> None:
        self.write(data.decode().rstrip("\r\n"))

    @property
    def remaining(self) -> list[Exchange]:
        return self.exchanges[self.position:]

    def assert_done(self) -> None:
        """Fail if the driver stopped before the end of the script."""
        if self.position != len(self.exchanges):
            raise AssertionError(f"the driver never sent {[c for c, _ in self.remaining]}")
