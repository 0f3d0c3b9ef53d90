"""An NTP server on UDP localhost whose clock is off by a set amount, for the clock checks."""

from __future__ import annotations

import socket
import struct
import threading
import time

from station.core import ntp


class FakeNtpServer:
    """An NTP server on 127.0.0.1 whose clock runs ``offset_s`` ahead of ours.

    ``mode`` "ok" answers properly; "silent" never answers; "kiss" sends a kiss-o'-death;
    "unsynced" says its clock is unsynchronised; "stray" first sends an answer to some other
    request (wrong originate time), then the real one.
    """

    def __init__(self, offset_s: float = 0.0, mode: str = "ok") -> None:
        self.offset_s = offset_s
        self.mode = mode
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeNtpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except (TimeoutError, OSError):
                continue
            self.requests += 1
            if self.mode == "silent":
                continue
            if self.mode == "kiss":
                reply = bytearray(ntp.reply_packet(data, time.time(), stratum=0))
                reply[12:16] = b"RATE"
                self.sock.sendto(bytes(reply), peer)
                continue
            if self.mode == "stray":
                other = bytearray(data)
                other[40:48] = struct.pack("!II", 1, 2)
                self.sock.sendto(ntp.reply_packet(bytes(other), time.time(), 5.0), peer)
            leap = 3 if self.mode == "unsynced" else 0
            self.sock.sendto(ntp.reply_packet(data, time.time(), self.offset_s, leap=leap), peer)
