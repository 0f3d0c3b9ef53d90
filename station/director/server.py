"""The director: a TCP server speaking MLCommons power protocol v3 to the SUT-side client.

Clients are served one after another, as the official server does (a second client waits in
the listen backlog). Per connection: the handshake, then commands, each answered with one
line (``OK ...``, a value, or ``Error: <what is wrong>``; a download answers with the file
stream). Commands, as the official client sends them:

    time                                   the director's clock, UTC seconds
    set_ntp                                refused: the station never sets the system clock
    stop                                   OK; the director exits after this client
    new,<label>,<client uuid>              OK <session id>,<server uuid>
    session,<id>,start,ranging             auto ranges, settle, Go   -> OK
    session,<id>,stop,ranging              settle, Stop, ranging/spl.txt, maxima -> OK
    session,<id>,start,testing[,<V>,<A>]   fixed ranges from the ranging maxima (or V, A), Go -> OK
    session,<id>,stop,testing              settle, Stop, run_1/spl.txt, run_1/ptd_out.txt -> OK
    session,<id>,done                      power/server.log, power/server.json -> OK
    download,<id>,<file>                   one of FETCH_FILES, as a chunk stream
    cleanup,<id>                           OK (the station keeps every session's files)

``<id>`` may be ``*`` in ``session`` commands (the current session). Every exchange except
downloads is kept in ``messages`` of server.json, up to the ``done`` command (as the official
server keeps it, so client.json and server.json hold the same list). A client that vanishes
mid-session ends its session: the phase in progress is stopped and its files written, the
session is marked ``abandoned`` in ``director.json``, and the director waits for the next one.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import station
from station.director import protocol
from station.director.protocol import FETCH_FILES, MAGIC_CLIENT, MAGIC_SERVER, LineChannel, PeerGone
from station.director.session import Analyzer, DirectorError, DirectorSession
from station.mlperf import ptd_files

log = logging.getLogger("station.director")

_SOURCE_MODULES = ("station/director/__init__.py", "station/director/protocol.py", "station/director/session.py",
                   "station/director/server.py", "station/mlperf/ptd_files.py")


def source_hashes() -> tuple[dict[str, str], dict[str, str]]:
    """(sources, modules) for server.json: SHA-1 of the director's own source files."""
    root = Path(station.__file__).resolve().parent.parent
    sources, modules = {}, {}
    for rel in _SOURCE_MODULES:
        path = root / rel
        try:
            sources[rel] = hashlib.sha1(path.read_bytes()).hexdigest()
        except OSError:
            continue
        modules[rel[:-3].replace("/", ".").removesuffix(".__init__")] = rel
    return sources, modules


def hash_dir(directory: Path) -> dict[str, str]:
    """SHA-1 of every file under ``directory``, by relative path with ``/`` separators."""
    out = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            out[p.relative_to(directory).as_posix()] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


class _LogBuffer(logging.Handler):
    """Keeps the director's log records of one connection, for power/server.log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.records is not None:
            self.records.append(record)


class DirectorServer:
    """Listens on ``host:port`` and serves power-workflow clients with ``analyzer`` (one, or a list:
    several analyzers, numbered 1, 2, ... in that order, as power-dev's ``analyzerCount``)."""

    def __init__(self, analyzer: Analyzer | Sequence[Analyzer], out_dir: str | Path, host: str = "0.0.0.0",
                 port: int = protocol.DEFAULT_PORT, settle_s: float = 10.0,
                 command: list[str] | None = None, log_name: str = "station-director") -> None:
        self.analyzers = [analyzer] if isinstance(analyzer, Analyzer) else list(analyzer)
        self.analyzer = self.analyzers[0]
        self.out_dir = Path(out_dir)
        self.host = host
        self.port = port
        self.settle_s = settle_s
        self.command = command or []
        self.formatter = ptd_files.server_log_formatter(log_name)
        self.stop_event = threading.Event()
        self.stop_requested_by_client = False
        self.sessions: list[DirectorSession] = []
        self._sock: socket.socket | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def bind(self) -> tuple[str, int]:
        """Open the listening socket (OSError if the port is taken); returns the address."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart despite TIME_WAIT
        try:
            sock.bind((self.host, self.port))
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        sock.settimeout(0.5)
        self._sock = sock
        self.host, self.port = sock.getsockname()[:2]
        return self.host, self.port

    def shutdown(self) -> None:
        """Ask the server to stop (any thread, signal handlers included)."""
        self.stop_event.set()

    def serve_forever(self) -> None:
        """Serve clients one after another until ``shutdown`` or a client's ``stop``."""
        if self._sock is None:
            self.bind()
        log.info("Ready to accept connections at %s:%d", self.host, self.port)
        try:
            while not self.stop_event.is_set():
                try:
                    conn, addr = self._sock.accept()
                except TimeoutError:
                    continue
                except OSError as exc:
                    if self.stop_event.is_set():
                        break
                    log.error("accept failed: %s", exc)
                    time.sleep(0.2)
                    continue
                self.handle(conn, f"{addr[0]}:{addr[1]}")
                if self.stop_requested_by_client:
                    log.info("Stopping the director, as the client asked")
                    break
        finally:
            self._sock.close()
            self._sock = None

    def handle(self, conn: socket.socket, peer: str) -> None:
        _Connection(self, conn, peer).run()


class _Connection:
    """One client connection and the session it runs."""

    def __init__(self, server: DirectorServer, conn: socket.socket, peer: str) -> None:
        self.server = server
        self.peer = peer
        self.chan = LineChannel(conn, server.stop_event)
        self.session: DirectorSession | None = None
        self.last: DirectorSession | None = None  # downloads and cleanup address the last session
        self.messages: list[dict] = []
        self.buffer = _LogBuffer()
        self.buffer.records = []

    def run(self) -> None:
        log.addHandler(self.buffer)
        try:
            self.chan.enable_keepalive()
        except OSError:
            pass
        log.info("Connected %s", self.peer)
        try:
            self._serve()
        except PeerGone as exc:
            if self.session is not None:
                log.warning("Client connection closed unexpectedly (%s)", exc)
                self._end_session("abandoned", f"the client {self.peer} vanished while the session was "
                                               f"{self.session.state}")
            else:
                log.info("Connection closed")
        except protocol.LineTooLong as exc:
            log.error("Dropping %s: %s", self.peer, exc)
            if self.session is not None:
                self._end_session("abandoned", f"the client sent garbage: {exc}")
        except Exception:
            log.exception("Unexpected failure while serving %s", self.peer)
            if self.session is not None:
                self._end_session("failed", "director failure, see server.log")
        finally:
            if self.session is not None:
                state = "interrupted" if self.server.stop_event.is_set() else "abandoned"
                self._end_session(state, "the director was stopped" if state == "interrupted"
                                  else "the connection ended before done")
            log.removeHandler(self.buffer)
            self.chan.close()
            log.info("Done processing %s", self.peer)

    # -- the command loop -------------------------------------------------------------------------------
    def _serve(self) -> None:
        magic = self.chan.recv_line()
        if magic is None:
            return
        t_cmd = time.time()
        if magic != MAGIC_CLIENT:
            log.error("Handshake failed, expected %r, got %r", MAGIC_CLIENT, magic[:200])
            self.chan.send_line(f"Error: this is an MLCommons power director; expected the handshake "
                                f"{MAGIC_CLIENT!r}")
            return
        self._record(magic, t_cmd, MAGIC_SERVER)
        self.chan.send_line(MAGIC_SERVER)
        while True:
            line = self.chan.recv_line()
            if line is None:
                return
            t_cmd = time.time()
            log.info("Got command from the client %r", line[:300])
            try:
                reply = self._command(line)
            except DirectorError as exc:
                reply = f"Error: {exc}"
                log.error("Replying with an error: %s", exc)
            except PeerGone:
                raise
            except Exception as exc:
                log.exception("Command %r failed", line[:300])
                reply = f"Error: {type(exc).__name__}: {exc}"
            if reply is None:
                continue
            reply = protocol.one_line(reply)  # server.json keeps the reply as sent
            log.info("Sending reply to client %r", reply if len(reply) < 1000 else reply[:50] + "...")
            self._record(line, t_cmd, reply)
            self.chan.send_line(reply)

    def _record(self, cmd: str, t_cmd: float, reply: str) -> None:
        self.messages.append({"cmd": cmd, "cmd_time": t_cmd, "reply": reply, "reply_time": time.time()})

    def _command(self, line: str) -> str | None:
        parts = line.split(",")
        head = parts[0]
        if head == "time" and len(parts) == 1:
            return str(time.time())
        if head == "set_ntp" and len(parts) == 1:
            log.warning("The client asked the director to set its clock by NTP; the station never changes the "
                        "system clock: keep it synchronised (chrony, systemd-timesyncd)")
            return "Error: the station does not set the system clock; keep it synchronised with NTP"
        if head == "stop" and len(parts) == 1:
            log.info("The director will stop after this client")
            self.server.stop_requested_by_client = True
            return "OK"
        if head == "new":
            return self._new(parts)
        if head == "session":
            return self._session(parts)
        if head == "download":
            return self._download(parts)
        if head == "cleanup":
            if len(parts) != 2 or self.last is None or parts[1] != self.last.id:
                raise DirectorError(f"cleanup of unknown session {','.join(parts[1:])!r}")
            log.info("Cleanup of %s: the station keeps the files in %s", self.last.id, self.last.dir)
            return "OK"
        raise DirectorError(f"unknown command {line[:80]!r}")

    def _new(self, parts: list[str]) -> str:
        if len(parts) != 3:
            raise DirectorError("'new' needs a label and the client's UUID: new,<label>,<uuid>")
        label, client_uuid = parts[1], parts[2]
        if not protocol.label_ok(label):
            return "Error: invalid label"
        if len(label) > protocol.MAX_LABEL:  # the session directory's name would be too long
            raise DirectorError(f"the label is {len(label)} characters long; at most {protocol.MAX_LABEL}")
        try:
            client_uuid = str(uuid.UUID(client_uuid))
        except ValueError:
            raise DirectorError(f"invalid client UUID {client_uuid!r}") from None
        if self.session is not None:
            self._end_session("abandoned", "replaced by a new session of the same client")
        if self.buffer.records is None:
            self.buffer.records = []
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        base = f"{stamp}_{label}" if label else stamp
        session_id, n = base, 1
        while (self.server.out_dir / session_id).exists():
            n += 1
            session_id = f"{base}-{n}"
        server_uuid = str(uuid.uuid4())
        self.session = DirectorSession(
            session_id, self.server.out_dir / session_id, self.server.analyzers, label=label,
            client_uuid=client_uuid, server_uuid=server_uuid, client=self.peer,
            settle_s=self.server.settle_s, stop=self.server.stop_event)
        self.last = self.session
        self.server.sessions.append(self.session)
        log.info("New session %s in %s", session_id, self.session.dir)
        return f"OK {session_id},{server_uuid}"

    def _session(self, parts: list[str]) -> str:
        if len(parts) < 3:
            raise DirectorError("'session' needs a session id and an action")
        s = self.session
        if s is None or (parts[1] != s.id and parts[1] != "*"):
            raise DirectorError(f"unknown session {parts[1]!r}" + ("" if s is None else f"; the session is {s.id}"))
        action = parts[2:]
        if s.state == "failed" and action != ["done"]:
            raise DirectorError(f"session {s.id} has failed ({s.reason}); send done to end it")
        if action in (["start", "ranging"], ["start", "testing"]):
            s.start(action[1])
            return "OK"
        if len(action) == 4 and action[:2] == ["start", "testing"]:
            s.start("testing", action[2], action[3])
            return "OK"
        if action in (["stop", "ranging"], ["stop", "testing"]):
            s.stop(action[1])
            return "OK"
        if action == ["done"]:
            self._end_session("complete", None)
            return "OK"
        raise DirectorError(f"unknown session command {','.join(action)!r}")

    def _download(self, parts: list[str]) -> None:
        if len(parts) != 3:
            raise DirectorError("'download' needs a session id and a file: download,<id>,<file>")
        if self.last is None or parts[1] != self.last.id:
            raise DirectorError(f"no session {parts[1]!r} to download from")
        if parts[2] not in FETCH_FILES:
            raise DirectorError(f"{parts[2]!r} is not one of the files to download ({', '.join(FETCH_FILES)})")
        if self.session is self.last and not self.last.ended:
            raise DirectorError(f"session {self.last.id} is still running; send done first")
        path = self.last.dir / parts[2]
        if not path.is_file():
            raise DirectorError(f"{parts[2]} does not exist for session {self.last.id} "
                                f"({self.last.state}{': ' + self.last.reason if self.last.reason else ''})")
        size = self.chan.send_file(path)
        log.info("Sent %s (%d bytes)", parts[2], size)
        return None

    # -- ending a session ------------------------------------------------------------------------------
    def _end_session(self, state: str, reason: str | None) -> None:
        s, self.session = self.session, None
        if s is None:
            return
        try:
            s.finish(state, reason)
        except Exception:
            log.exception("Ending session %s failed", s.id)
        self._write_summary(s)

    def _write_summary(self, s: DirectorSession) -> None:
        power = s.dir / "power"
        records = self.buffer.records or []
        self.buffer.records = None
        try:
            ptd_files.write_server_log(power / "server.log", records, self.server.formatter)
            sources, modules = source_hashes()
            summary = {
                "version": "1.0",
                "timezone": -time.localtime().tm_gmtoff,
                "modules": modules,
                "sources": sources,
                "messages": list(self.messages),
                "uuid": {"client": s.client_uuid, "server": s.server_uuid},
                "session_name": s.id,
                "results": hash_dir(s.dir),
                "phases": s.phases,
                "ptd_messages": s.ptd_messages,
                # one entry per analyzer, as power-dev writes it since 2024-11 (v5.0 on)
                "ptd_config": [{
                    "command": list(self.server.command),
                    "device_type": ptd_files.ptd_device_type(a.model),
                    "interface_flag": "",
                    "dc_flag": None,
                    "device_port": a.resource or "",
                    "channel": None if a.inst.driver.description.channels <= 1 else
                    list(range(1, a.inst.driver.description.channels + 1)),
                    "driver": a.inst.driver.description.name,
                    "identity": a.inst.identity.to_dict() if a.inst.identity else None,
                } for a in s.analyzers],
                "director": {"program": "station", "version": station.__version__, "state": s.state,
                             "reason": s.reason},
            }
            ptd_files.write_server_json(power / "server.json", summary)
        except OSError as exc:
            log.error("Could not write the summary of session %s: %s", s.id, exc)
