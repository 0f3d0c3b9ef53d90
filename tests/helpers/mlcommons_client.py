"""A client of MLCommons power protocol v3, written from the protocol notes, for testing the director.

It speaks what the official SUT-side client speaks (handshake, commands answered with one
line, file downloads as ``<length>\\r\\n<bytes>`` chunks ended by ``0\\r\\n``) and keeps the
same message list the official client writes to client.json.
"""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

MAGIC_CLIENT = "mlcommons/power client v3"
MAGIC_SERVER = "mlcommons/power server v3"
FETCH_FILES = ("power/ptd_logs.txt", "ranging/spl.txt", "power/server.json", "power/server.log",
               "run_1/spl.txt", "run_1/ptd_out.txt")


class ProtocolError(Exception):
    pass


class PowerClient:
    def __init__(self, host: str, port: int, timeout: float = 120.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buf = b""
        self.messages: list[dict] = []
        self.uuid = str(uuid.uuid4())

    # -- wire ----------------------------------------------------------------------------------------
    def send_line(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\r\n")

    def recv_line(self) -> str:
        while b"\n" not in self._buf:
            data = self.sock.recv(65536)
            if not data:
                raise ProtocolError("the director closed the connection")
            self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return line.rstrip(b"\r").decode()

    def _recv_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise ProtocolError("the director closed the connection inside a file")
            self._buf += data
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    # -- commands ------------------------------------------------------------------------------------
    def command(self, cmd: str) -> str:
        t0 = time.time()
        self.send_line(cmd)
        reply = self.recv_line()
        self.messages.append({"cmd": cmd, "cmd_time": t0, "reply": reply, "reply_time": time.time()})
        return reply

    def ok(self, cmd: str) -> str:
        reply = self.command(cmd)
        if not reply.startswith("OK"):
            raise ProtocolError(f"{cmd!r} -> {reply!r}")
        return reply

    def handshake(self) -> None:
        reply = self.command(MAGIC_CLIENT)
        if reply != MAGIC_SERVER:
            raise ProtocolError(f"handshake answered {reply!r}")

    def new(self, label: str = "") -> tuple[str, str]:
        reply = self.ok(f"new,{label},{self.uuid}")
        session, server_uuid = reply[len("OK "):].split(",")
        return session, server_uuid

    def download(self, session: str, name: str) -> bytes:
        """A file as bytes; raises ProtocolError with the director's reply if it refuses."""
        self.send_line(f"download,{session},{name}")
        out = bytearray()
        while True:
            line = self.recv_line()
            try:
                n = int(line, 10)
            except ValueError:
                raise ProtocolError(line) from None
            if n == 0:
                return bytes(out)
            out += self._recv_exact(n)

    def close(self) -> None:
        self.sock.close()


def run_session(client: PowerClient, workload_s: float, out: Path, label: str = "t") -> str:
    """The official client's sequence with a sleeping workload; downloads into ``out``; returns the id."""
    client.handshake()
    client.command("time")
    session, _ = client.new(label)
    for mode in ("ranging", "testing"):
        client.command("time")
        client.ok(f"session,{session},start,{mode}")
        time.sleep(workload_s)  # the workload itself: the phase runs this long, nothing is awaited
        client.ok(f"session,{session},stop,{mode}")
    client.ok(f"session,{session},done")
    for name in FETCH_FILES:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(client.download(session, name))
    client.ok(f"cleanup,{session}")
    return session
