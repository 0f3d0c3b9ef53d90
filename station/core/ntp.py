"""A small SNTP client (RFC 4330): how far this computer's clock is from an NTP server.

The MLPerf Power workflow requires the director and the SUT to be within 400 ms of NTP time
(power-dev ``lib/time_sync.py``, ``CRITICAL_DIFFERENCE_TIME_MS``); the station measures the
offset before each run and while it records. One request is one UDP datagram of 48 bytes; the
offset is ``((t2 - t1) + (t3 - t4)) / 2`` and the round-trip delay ``(t4 - t1) - (t3 - t2)``,
with t1/t4 our send/receive times and t2/t3 the server's receive/transmit times.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import asdict, dataclass

NTP_PORT = 123
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
PACKET = struct.Struct("!BBbb11I")  # 48 bytes: flags, stratum, poll, precision, 11 words


class NtpError(Exception):
    """No usable answer from the NTP server; the message says which server and why."""


@dataclass(frozen=True)
class NtpResult:
    server: str
    offset_s: float  # server clock minus ours: positive when our clock is behind
    delay_s: float
    stratum: int
    t: float  # our UTC time when the answer came

    def to_dict(self) -> dict:
        return asdict(self)


def parse_server(text: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6addr]:port`` -> (host, port)."""
    text = text.strip()
    if not text:
        raise ValueError("the NTP server is empty")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    try:
        p = int(port) if port else NTP_PORT
    except ValueError:
        raise ValueError(f"NTP server {text!r}: port {port!r} is not a number") from None
    if not 0 < p < 65536:
        raise ValueError(f"NTP server {text!r}: port {p} is out of range")
    return host, p


def to_ntp(t: float) -> tuple[int, int]:
    """UTC seconds -> NTP (seconds, fraction) words."""
    t += NTP_EPOCH_OFFSET
    sec = int(t)
    return sec & 0xFFFFFFFF, int((t - sec) * 2**32) & 0xFFFFFFFF


def from_ntp(sec: int, frac: int) -> float:
    return sec - NTP_EPOCH_OFFSET + frac / 2**32


def query(server: str, timeout: float = 2.0, clock=time.time) -> NtpResult:
    """Ask ``server`` (``host[:port]``) once; raises NtpError when there is no good answer."""
    host, port = parse_server(server)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise NtpError(f"NTP server {server}: cannot resolve {host} ({exc.strerror or exc})") from None
    family, _, _, _, addr = infos[0]
    # A random transmit timestamp lets us recognise the answer to this request (RFC 4330 §5).
    nonce = struct.unpack("!II", os.urandom(8))
    request = PACKET.pack(0x23, 0, 0, 0, *([0] * 9), *nonce)  # LI 0, version 4, mode 3 (client)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            t1 = clock()
            sock.sendto(request, addr)
            while True:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                data, _ = sock.recvfrom(512)
                t4 = clock()
                if len(data) >= PACKET.size and struct.unpack("!II", data[24:32]) == nonce:
                    break  # anything else is a stray or late datagram: keep waiting
        except TimeoutError:
            raise NtpError(f"NTP server {server}: no answer within {timeout:g} s") from None
        except OSError as exc:
            raise NtpError(f"NTP server {server}: {exc.strerror or exc}") from None
    fields = PACKET.unpack(data[:PACKET.size])
    flags, stratum = fields[0], fields[1]
    li, mode = flags >> 6, flags & 7
    if mode not in (4, 5):
        raise NtpError(f"NTP server {server}: answer is not a server reply (mode {mode})")
    if stratum == 0:
        code = data[12:16].decode("ascii", "replace")
        raise NtpError(f"NTP server {server}: refused the request (kiss code {code!r})")
    if li == 3:
        raise NtpError(f"NTP server {server}: its own clock is not synchronised (leap indicator 3)")
    t2 = from_ntp(fields[11], fields[12])  # the server's receive time
    t3 = from_ntp(fields[13], fields[14])  # and its transmit time
    if fields[13] == 0 and fields[14] == 0:
        raise NtpError(f"NTP server {server}: answer has no transmit time")
    offset = ((t2 - t1) + (t3 - t4)) / 2.0
    delay = (t4 - t1) - (t3 - t2)
    return NtpResult(server, offset, max(0.0, delay), stratum, t4)


def reply_packet(request: bytes, now: float, offset_s: float = 0.0, stratum: int = 2,
                 leap: int = 0) -> bytes:
    """A server's answer to ``request`` as if its clock were ``now + offset_s`` (for local servers)."""
    if len(request) < PACKET.size:
        raise ValueError("an NTP request has 48 bytes")
    version = (request[0] >> 3) & 7 or 4
    r_sec, r_frac = to_ntp(now + offset_s)
    origin = struct.unpack("!II", request[40:48])
    words = [0, 0, 0x4C4F434C,  # root delay, root dispersion, reference id "LOCL"
             r_sec, r_frac, *origin, r_sec, r_frac, r_sec, r_frac]
    return PACKET.pack((leap << 6) | (version << 3) | 4, stratum, 4, -20, *words)
