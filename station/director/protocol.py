"""MLCommons power protocol v3 on the wire: text lines, the handshake, the file stream.

As the official ``ptd_client_server`` speaks it: every message is one line sent with ``\\r\\n``
and read up to ``\\n`` (a trailing ``\\r`` dropped); the client opens with
``mlcommons/power client v3`` and the director answers ``mlcommons/power server v3``; a file is
sent as chunks ``<decimal length>\\r\\n<raw bytes>`` (at most 1 MiB each) ended by ``0\\r\\n``.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

DEFAULT_PORT = 4950
PROTO_VERSION = "3"
MAGIC_CLIENT = f"mlcommons/power client v{PROTO_VERSION}"
MAGIC_SERVER = f"mlcommons/power server v{PROTO_VERSION}"

# The files a client downloads after ``session,<id>,done``, relative to the session directory.
FETCH_FILES = (
    "power/ptd_logs.txt",
    "ranging/spl.txt",
    "power/server.json",
    "power/server.log",
    "run_1/spl.txt",
    "run_1/ptd_out.txt",
)
CHUNK = 1024 * 1024
MAX_LINE = 64 * 1024  # a command longer than this is not a protocol command
MAX_LABEL = 100  # a session label names a directory (<stamp>_<label>): keep it well inside a file name


class PeerGone(Exception):
    """The other side closed the connection or it broke."""


class LineTooLong(Exception):
    """The peer sent a line of more than MAX_LINE bytes."""


def label_ok(label: str) -> bool:
    """Session labels are letters, digits, ``-`` and ``_`` (they become directory names)."""
    return all(c.isascii() and (c.isalnum() or c in "-_") for c in label)


def one_line(text: str) -> str:
    """``text`` as one protocol line: an error message may quote a multi-line text (a device's reply)."""
    return text.replace("\r", " ").replace("\n", " ")


class LineChannel:
    """One connection: read lines (polling ``stop`` so a shutdown is never stuck), send lines/files."""

    def __init__(self, sock: socket.socket, stop: threading.Event | None = None, poll_s: float = 0.5) -> None:
        self.sock = sock
        self.stop = stop or threading.Event()
        self.poll_s = poll_s
        self._buf = b""
        sock.settimeout(poll_s)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # Replies and the last chunk of a download are small writes: send them at once rather
            # than waiting up to ~40 ms for the peer's delayed acknowledgement (Nagle).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def enable_keepalive(self) -> None:
        """Notice a vanished peer within ~22 s even when it sends nothing (as the official client does)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if sys.platform == "linux":
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 2)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 2)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 10)

    def recv_line(self, should_stop: Callable[[], bool] | None = None) -> str | None:
        """The next line without its line end; None when the director is stopping.

        Raises PeerGone when the peer closed or the connection broke.
        """
        while b"\n" not in self._buf:
            if self.stop.is_set() or (should_stop is not None and should_stop()):
                return None
            try:
                data = self.sock.recv(16 * 1024)
            except TimeoutError:
                continue
            except OSError as exc:
                raise PeerGone(f"connection broken: {exc}") from exc
            if not data:
                raise PeerGone("the client closed the connection")
            self._buf += data
            if len(self._buf) > MAX_LINE and b"\n" not in self._buf:
                raise LineTooLong(f"more than {MAX_LINE} bytes without a line end")
        line, _, self._buf = self._buf.partition(b"\n")
        if len(line) > MAX_LINE:  # however the bytes came in: the limit does not depend on the chunking
            raise LineTooLong(f"a line of {len(line)} bytes, more than {MAX_LINE}")
        return line.rstrip(b"\r").decode("utf-8", errors="replace")

    def send_line(self, text: str) -> None:
        self._sendall(one_line(text).encode("utf-8") + b"\r\n")

    def send_file(self, path: Path) -> int:
        """Send a file as the chunk stream; returns its size."""
        size = 0
        with open(path, "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                self._sendall(f"{len(chunk)}\r\n".encode("ascii") + chunk)
                size += len(chunk)
                if not chunk:
                    return size

    def _sendall(self, data: bytes) -> None:
        try:
            self.sock.settimeout(30.0)  # a peer that stops reading for this long is gone
            self.sock.sendall(data)
        except OSError as exc:
            raise PeerGone(f"sending failed: {exc}") from exc
        finally:
            try:
                self.sock.settimeout(self.poll_s)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
