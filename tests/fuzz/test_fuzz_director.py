"""The director's protocol v3 commands under random and mutated lines, over real loopback TCP.

One DirectorServer on the simulated analyzer serves the whole module; every hypothesis example
opens a connection, does the handshake and sends a few lines: random text and bytes, or real
commands (``time``, ``new``, ``session`` …, ``download``, ``cleanup``, ``stop``) with fields
dropped, doubled, swapped or replaced, bad labels / ids / file names, path traversal, numbers
that are not (NaN, inf, 1e400, ``0x10``), non-UTF-8 bytes, in any order. Properties:

* the server thread never dies and never logs a traceback; after a client's ``stop`` it ends
  cleanly (and the fixture starts it again);
* every line gets exactly one reply line (a download: its chunk stream), a valid reply or
  ``Error: <message>``; the session state in ``director.json`` follows the commands as the
  state machine in station.director.session says, and a session left open ends ``abandoned``;
* a line longer than protocol.MAX_LINE closes the connection without a reply, any shorter one
  is answered; nothing is ever created outside the server's out_dir;
* afterwards a full session (new, ranging, testing, done, downloads) still works.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import socket
import string
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from instruments.base import AUTO, Config
from instruments.sim import SimulatedAnalyzer
from station.core.acquisition import InstrumentSession
from station.director import FETCH_FILES, MAGIC_CLIENT, MAGIC_SERVER, Analyzer, DirectorServer, protocol
from tests.helpers.fuzz_counts import EXAMPLES, tried
from tests.helpers.mlcommons_client import PowerClient, run_session

INTERVAL = 0.01  # analyzer update interval
SETTLE = 0.01  # settle time of the director: short, so a ranging sometimes has no valid reading
TIMEOUT = 30.0
MARK = f"fzx{os.getpid()}"  # in every traversal attempt: a file with it outside out_dir is an escape
LABEL_CHARS = string.ascii_letters + string.digits + "-_"
STAMP = r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d"  # a session id: <stamp>[_<label>][-<n>]
SESSION_ID = re.compile(STAMP + r"(?:_[A-Za-z0-9_-]*)?")
SESSION_ENTRIES = {"director.json", "audit.jsonl", "power", "ranging", "run_1", "journal"}
FINAL_STATES = {"complete", "incomplete", "failed", "abandoned"}
GENERIC_ERROR = re.compile(r"Error: [A-Za-z_.]*(Error|Exception|Warning|Interrupt)\b")  # a leaked exception


# -- the server -------------------------------------------------------------------------------------------------
class _Watch(logging.Handler):
    """Tracebacks the director logs, and the connections it has finished with."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.tracebacks: list[str] = []
        self.done = 0
        self.cond = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.levelno >= logging.ERROR:
            self.tracebacks.append(self.format(record))
        if record.getMessage().startswith("Done processing"):
            with self.cond:
                self.done += 1
                self.cond.notify_all()


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.out = root / "out"
        drv = SimulatedAnalyzer(None, update_interval_s=INTERVAL)
        self.inst = InstrumentSession("inst0", drv, Config(update_interval_s=INTERVAL), AUTO, AUTO)
        self.inst.connect()
        self.server = DirectorServer(Analyzer(self.inst), self.out, host="127.0.0.1", port=0, settle_s=SETTLE)
        self.host, self.port = self.server.bind()
        self.watch = _Watch()
        self.hook_errors: list[str] = []
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, name="director-fuzz", daemon=True)
        self.thread.start()

    def connect(self) -> Client:
        return Client(socket.create_connection((self.host, self.port), timeout=TIMEOUT))

    def finish(self, before: int, stop_sent: bool) -> None:
        """Wait until the server is done with the connection; check it is still (or cleanly not) serving."""
        with self.watch.cond:
            assert self.watch.cond.wait_for(lambda: self.watch.done > before, TIMEOUT), \
                "the director did not finish the connection"
        if stop_sent:  # the client asked the director to stop: it must end, cleanly
            self.thread.join(TIMEOUT)
            assert not self.thread.is_alive(), "the director did not stop after the client's stop"
            assert self.server.stop_requested_by_client
            self.server.stop_requested_by_client = False
            assert self.server.bind() == (self.host, self.port)  # listening again before the next client
            self.start()
        self.check()

    def check(self) -> None:
        # a phase's journal is in the run index (in the station home) only while it records
        assert not list((Path(os.environ["STATION_HOME"]) / "active").glob("*")), "a run left in the index"
        # what went wrong is reported once, and the server serves on, so hypothesis can shrink the example
        hook_errors, self.hook_errors[:] = list(self.hook_errors), []
        tracebacks, self.watch.tracebacks[:] = list(self.watch.tracebacks), []
        if not self.thread.is_alive():
            self.server.stop_requested_by_client = False
            self.server.bind()
            self.start()
            raise AssertionError(f"the director thread died: {hook_errors}")
        assert not hook_errors, hook_errors[0]
        assert not tracebacks, tracebacks[0]
        assert sorted(p.name for p in self.root.iterdir()) == ["out"]
        for d in {self.root.parent, self.root.parent.parent, Path.cwd(), Path("/tmp")}:
            escaped = [p for p in d.iterdir() if MARK in p.name]
            assert not escaped, f"created outside out_dir: {escaped}"

    def state(self, session: str | None) -> str | None:
        if session is None:
            return None
        try:
            return json.loads((self.out / session / "director.json").read_text())["state"]
        except (OSError, ValueError, KeyError) as exc:
            raise AssertionError(f"no readable director.json for session {session!r}: {exc}") from None


@pytest.fixture(scope="module")
def director(tmp_path_factory):
    h = Harness(tmp_path_factory.mktemp("director-fuzz"))
    logger = logging.getLogger("station.director")
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)  # as `station serve` runs it (server.log holds the INFO records)
    logger.propagate = False
    logger.addHandler(h.watch)
    old_hook = threading.excepthook

    def hook(args):
        h.hook_errors.append(f"{args.exc_type.__name__}: {args.exc_value} in {args.thread}")
        old_hook(args)

    threading.excepthook = hook
    h.start()
    try:
        yield h
    finally:
        h.server.shutdown()
        h.thread.join(TIMEOUT)
        threading.excepthook = old_hook
        logger.removeHandler(h.watch)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
        h.inst.close()
    assert not h.thread.is_alive()


# -- the client ------------------------------------------------------------------------------------------------------
class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def line(self) -> str | None:
        """The next reply line without its ``\\r\\n``; None at the end of the stream."""
        while b"\n" not in self.buf:
            if not self._fill():
                assert not self.buf, f"the director closed the connection inside a line: {self.buf[:200]!r}"
                return None
        raw, _, self.buf = self.buf.partition(b"\n")
        assert raw.endswith(b"\r"), f"a reply line not ended by \\r\\n: {raw[:200]!r}"
        return raw[:-1].decode("utf-8")  # the director always sends UTF-8

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            assert self._fill(), "the director closed the connection inside a file"
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def closed(self) -> bool:
        """True when the director has closed the connection (EOF or reset), without sending anything."""
        try:
            return not self._fill() and not self.buf
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self) -> None:
        self.sock.close()


def assert_error(reply: str, line: str) -> None:
    assert reply.startswith("Error: "), f"{line[:200]!r} -> {reply[:300]!r}"
    assert reply[len("Error: "):].strip(), f"{line[:200]!r} -> an error without a message"
    assert not GENERIC_ERROR.match(reply), f"{line[:200]!r} -> a leaked exception: {reply[:300]!r}"


def number_ok(text: str) -> bool:
    try:
        x = float(text)
    except ValueError:
        return False
    return math.isfinite(x) and x > 0


def uuid_ok(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


# -- one conversation, checked against the protocol's state machine ------------------------------------------------
class Conversation:
    def __init__(self, h: Harness) -> None:
        self.h = h
        self.before = h.watch.done
        self.c = h.connect()
        self.current: str | None = None  # the open session
        self.last: str | None = None  # the session downloads and cleanup address
        self.stop_sent = False

    def handshake(self) -> None:
        self.c.send(MAGIC_CLIENT.encode() + b"\r\n")
        assert self.c.line() == MAGIC_SERVER

    def end(self) -> None:
        self.c.close()
        self.h.finish(self.before, self.stop_sent)
        if self.current is not None:
            assert self.h.state(self.current) in ("abandoned", "failed")

    def send(self, raw: bytes, end: bytes = b"\r\n") -> None:
        """One line, its reply checked."""
        assert b"\n" not in raw
        prior = self.h.state(self.current)
        self.c.send(raw + end)
        self.check_reply(raw, prior)

    def check_reply(self, raw: bytes, prior: str | None) -> None:
        """The reply to ``raw``; ``prior`` is the session's state before it was sent."""
        text = raw.rstrip(b"\r").decode("utf-8", errors="replace")  # what the director reads
        parts = text.split(",")
        head = parts[0]
        reply = self.c.line()
        assert reply is not None, f"no reply to {text[:200]!r}: the director closed the connection"
        assert "\r" not in reply and "\n" not in reply
        if head == "time" and len(parts) == 1:
            assert abs(float(reply) - time.time()) < 60, reply
        elif head == "stop" and len(parts) == 1:
            assert reply == "OK", reply
            self.stop_sent = True
        elif head == "new":
            self._new(parts, text, reply, prior)
        elif head == "session":
            self._session(parts, text, reply, prior)
        elif head == "download":
            self._download(parts, text, reply)
        elif head == "cleanup":
            if len(parts) == 2 and self.last is not None and parts[1] == self.last:
                assert reply == "OK", f"{text!r} -> {reply!r}"
            else:
                assert_error(reply, text)
        else:  # set_ntp is refused; anything else is unknown
            assert_error(reply, text)
            if head == "set_ntp" and len(parts) == 1:
                assert "clock" in reply
            else:
                assert reply.startswith("Error: unknown command"), f"{text[:200]!r} -> {reply[:300]!r}"
        if self.current is not None:
            assert self.h.state(self.current) is not None

    def _new(self, parts: list[str], text: str, reply: str, prior: str | None) -> None:
        valid = (len(parts) == 3 and re.fullmatch(r"[A-Za-z0-9_-]*", parts[1]) and len(parts[1]) <= protocol.MAX_LABEL
                 and uuid_ok(parts[2]))
        if not valid:
            assert_error(reply, text)
            assert self.h.state(self.current) == prior  # the open session goes on
            return
        m = re.fullmatch(r"OK (\S+),(\S+)", reply)
        assert m, f"{text!r} -> {reply[:300]!r}"
        session, server_uuid = m.groups()
        uuid.UUID(server_uuid)
        label = parts[1]
        assert re.fullmatch(STAMP + (f"_{re.escape(label)}" if label else "")
                            + r"(-\d+)?", session), f"{text!r} -> {reply!r}"
        assert (self.h.out / session).resolve().parent == self.h.out.resolve()
        if self.current is not None:
            assert self.h.state(self.current) in ("abandoned", "failed")  # replaced by the new one
        assert self.h.state(session) == "initial"
        self.current = self.last = session

    def _session(self, parts: list[str], text: str, reply: str, prior: str | None) -> None:
        if self.current is None or len(parts) < 3 or parts[1] not in (self.current, "*"):
            assert_error(reply, text)
            return
        action = parts[2:]
        ok, after = False, prior
        if prior == "failed" and action != ["done"]:
            pass
        elif action == ["start", "ranging"]:
            ok, after = prior in ("initial", "ranging"), "ranging"
        elif action == ["start", "testing"]:
            ok, after = prior in ("ranging_done", "testing"), "testing"
        elif len(action) == 4 and action[:2] == ["start", "testing"]:
            ok = prior == "testing" or (prior in ("initial", "ranging_done")
                                        and number_ok(action[2]) and number_ok(action[3]))
            after = "testing"
        elif action in (["stop", "ranging"], ["stop", "testing"]):
            ok, after = prior in (action[1], f"{action[1]}_done"), f"{action[1]}_done"
        elif action == ["done"]:
            assert reply == "OK", f"{text!r} -> {reply!r}"
            state = self.h.state(self.current)
            assert state == ("complete" if prior == "testing_done" else "failed" if prior == "failed"
                             else "incomplete"), (prior, state)
            self.current = None
            return
        state = self.h.state(self.current)
        if ok and reply == "OK":
            assert state == after, f"{text!r} in {prior} -> OK but the session is {state}"
        elif ok and action[0] == "stop" and prior == action[1]:
            # a phase that ends with no valid reading (or a lost analyzer) fails the session
            assert_error(reply, text)
            assert state == "failed", f"{text!r} in {prior} -> {reply!r} and the session is {state}"
        else:
            assert not ok, f"{text!r} in {prior} -> {reply!r}"
            assert_error(reply, text)
            assert state == prior, f"{text!r} in {prior} -> {reply!r} but the session went {state}"

    def _download(self, parts: list[str], text: str, reply: str) -> None:
        if not reply.isdigit():
            assert_error(reply, text)
            return
        assert len(parts) == 3 and parts[1] == self.last and parts[2] in FETCH_FILES, f"{text!r} -> a file"
        assert self.current != self.last, "a download of a running session"
        data = bytearray()
        n = int(reply)
        while n:
            assert n <= protocol.CHUNK
            data += self.c.exact(n)
            size = self.c.line()
            assert size is not None and size.isdigit(), size
            n = int(size)
        assert bytes(data) == (self.h.out / self.last / parts[2]).read_bytes()


# -- what is sent ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Id:
    """A session id resolved when sent: the last session's, ``*``, or one mutated."""

    how: str

    def resolve(self, last: str | None) -> str:
        s = last or "2024-01-01_00-00-00_none"
        return {
            "id": s, "star": "*", "plus": s + "x", "minus": s[:-1], "upper": s.upper(), "space": f" {s}",
            "up": f"../{s}", "into": f"{s}/../../{MARK}", "abs": f"/tmp/{MARK}", "dots": "..", "empty": "",
            "glob": "*" * 2, "nul": s + "\x00", "cr": s + "\r",
        }[self.how]


TRAVERSAL = [f"../{MARK}", f"../../{MARK}", f"../../../../../../tmp/{MARK}", f"/tmp/{MARK}", f"..\\{MARK}",
             f"%2e%2e%2f{MARK}", f"power/../../{MARK}", "..", ".", "/", "~", f"{MARK}/..", "\x00",
             f"{MARK}\x00.txt", "CON", "nul", f"./{MARK}", "\\\\host\\share", f"{MARK}/" + "../" * 40]
IDS = st.one_of(  # mostly the right one, so that sequences get somewhere
    st.just(Id("id")), st.just(Id("star")), st.just(Id("id")),
    st.one_of(st.sampled_from(["plus", "minus", "upper", "space", "up", "into", "abs", "dots", "empty", "glob", "nul",
                               "cr"]).map(Id), st.text(max_size=30), st.sampled_from(TRAVERSAL)),
)
LABELS = st.one_of(
    st.text(LABEL_CHARS, max_size=24),
    st.text(LABEL_CHARS, min_size=60, max_size=400),  # longer than a file name may be
    st.sampled_from([*TRAVERSAL, "", "-", "_", "a b", "é", "ａ", "٣", "a.b", "a;b", "-rf", MARK]),
    st.text(max_size=30),
)
UUIDS = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: u.urn),
    st.sampled_from(["", "0", "not-a-uuid", "00000000-0000-0000-0000-000000000000", "g" * 32, "1" * 33]),
    st.text(max_size=40),
)
NUMBERS = st.one_of(
    st.floats().map(repr),
    st.floats(min_value=1e-3, max_value=1e4).map(lambda x: f"{x:g}"),
    st.integers(-10**6, 10**400).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e-400", "1e-320", "-1", "0",
                     "-0", "0.0", "1_000", " 5 ", "0x10", "", "٣", "5V", "1,5", "+2", ".5", "5.", "9" * 400]),
    st.text(max_size=12),
)
FILES = st.one_of(
    st.sampled_from(FETCH_FILES),
    st.sampled_from(FETCH_FILES),
    st.sampled_from([*TRAVERSAL, "/etc/passwd", "/etc/hostname", "director.json", "journal/ranging/summary.json", "POWER/SERVER.JSON",
                     "power//server.json", "./power/server.json", "power\\server.json", "power/server.json ",
                     "power/server.json\x00", "power/server.json/..", "power", ""]),
    st.text(max_size=30),
)


def _cmd(*fields) -> st.SearchStrategy[list]:
    return st.tuples(*(f if isinstance(f, st.SearchStrategy) else st.just(f) for f in fields)).map(list)


REAL = st.one_of(
    _cmd("time"),
    _cmd("set_ntp"),
    _cmd("new", LABELS, UUIDS),
    _cmd("session", IDS, "start", "ranging"),
    _cmd("session", IDS, "stop", "ranging"),
    _cmd("session", IDS, "start", "testing"),
    _cmd("session", IDS, "stop", "testing"),
    _cmd("session", IDS, "start", "testing", NUMBERS, NUMBERS),
    _cmd("session", IDS, "done"),
    _cmd("download", IDS, FILES),
    _cmd("download", IDS, FILES),
    _cmd("cleanup", IDS),
)
FIELD = st.one_of(st.sampled_from(["", "*", "start", "stop", "ranging", "testing", "done", "session", "new"]),
                  st.text(max_size=12))
JUNK = st.one_of(st.sampled_from([b"\xff", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00", b"\r",
                                  b"\xc3\xa9", b"\xef\xbb\xbf"]),
                 st.binary(min_size=1, max_size=4).map(lambda b: b.replace(b"\n", b"")))


@st.composite
def mutated(draw) -> list:
    fields = draw(REAL)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        kind = draw(st.sampled_from(["drop", "dup", "insert", "replace", "swap", "case", "space", "comma"]))
        i = draw(st.integers(0, len(fields) - 1)) if fields else 0
        if kind == "drop" and fields:
            del fields[i]
        elif kind == "dup" and fields:
            fields.insert(i, fields[i])
        elif kind == "insert":
            fields.insert(i, draw(FIELD))
        elif kind == "replace" and fields:
            fields[i] = draw(FIELD)
        elif kind == "swap" and len(fields) > 1:
            j = draw(st.integers(0, len(fields) - 1))
            fields[i], fields[j] = fields[j], fields[i]
        elif kind == "case" and fields and isinstance(fields[i], str):
            fields[i] = fields[i].upper()
        elif kind == "space" and fields and isinstance(fields[i], str):
            fields[i] = draw(st.sampled_from([" ", "\t", "\r", "\x0b"])) + fields[i]
        elif kind == "comma":
            fields.append("")
    return fields


@dataclass(frozen=True)
class Line:
    fields: tuple
    junk: bytes = b""
    at: float = 0.0
    end: bytes = b"\r\n"

    def encode(self, last: str | None) -> bytes:
        raw = ",".join(f.resolve(last) if isinstance(f, Id) else f for f in self.fields).encode("utf-8")
        raw = raw.replace(b"\n", b" ")
        if self.junk:
            k = int(self.at * len(raw))
            raw = raw[:k] + self.junk + raw[k:]
        return raw


def _real(*fields) -> Line:
    return Line(tuple(Id("id") if f is Id else f for f in fields))


NEW = ("new", "fuzz", "6f1c5f3e-2a7e-4a0e-9a57-3c1e8f6c2b11")
START_R, STOP_R = _real("session", Id, "start", "ranging"), _real("session", Id, "stop", "ranging")
START_T, STOP_T = _real("session", Id, "start", "testing"), _real("session", Id, "stop", "testing")
START_VA, DONE = _real("session", Id, "start", "testing", "230", "2"), _real("session", Id, "done")
# Well-formed commands with the right id (or *), in any order: they walk the state machine; and downloads
# of files a director must never send.
FLOW = st.sampled_from([
    ("session", Id, "start", "ranging"), ("session", Id, "stop", "ranging"),
    ("session", Id, "start", "testing"), ("session", Id, "stop", "testing"),
    ("session", Id, "start", "testing", "230", "2"), ("session", Id, "start", "testing", "1e-3", "1e6"),
    ("session", Id, "done"),
])
DOWNLOADS = st.sampled_from([
    *(("download", Id, f) for f in FETCH_FILES),
    *(("download", Id, f) for f in ("/etc/passwd", "../../../../../../etc/passwd", "director.json",
                                    "power/../director.json", "journal/ranging/summary.json")),
])
CLEAN = st.builds(
    lambda fields, how: Line(tuple(Id(how) if f is Id else f for f in fields)),
    st.one_of(FLOW, FLOW, DOWNLOADS, st.sampled_from([("cleanup", Id), ("time",), NEW])),
    st.sampled_from(["id", "id", "star"]),
)
MUTATED = st.builds(
    Line, mutated().map(tuple),
    junk=st.one_of(st.just(b""), st.just(b""), JUNK), at=st.floats(0, 1),
    end=st.sampled_from([b"\r\n", b"\r\n", b"\n"]),
)
LINES = st.one_of(CLEAN, MUTATED)
# Where a sequence starts: every state of a session (a ranging may fail: no valid reading that fast).
PREFIXES = [
    (),
    (_real(*NEW),),
    (_real(*NEW), START_R),
    (_real(*NEW), START_R, STOP_R),
    (_real(*NEW), START_R, STOP_R, START_T),
    (_real(*NEW), START_VA),
    (_real(*NEW), START_VA, STOP_T),
    (_real(*NEW), START_VA, STOP_T, DONE),
]


def play(director: Harness, lines, stop: bool = False) -> None:
    conv = Conversation(director)
    try:
        conv.handshake()
        for line in lines:
            conv.send(line.encode(conv.last), line.end)
        if stop:
            conv.send(b"stop")
    finally:
        conv.end()


# -- the tests -----------------------------------------------------------------------------------------------------------
@given(st.lists(st.one_of(st.text(max_size=80).map(lambda s: s.encode("utf-8", "surrogatepass")),
                          st.binary(max_size=80)).map(lambda b: b.replace(b"\n", b"")), min_size=1, max_size=6),
       st.sampled_from([False, False, False, True]))
@example([b"", b"\r", b"\x00", b"\xff\xfe", b",", b",,,", b"time,", b" time", b"TIME"], True)
def test_random_lines_get_one_reply_each(director, lines, pipelined):
    tried("director.random_lines")
    conv = Conversation(director)
    try:
        conv.handshake()
        if pipelined:  # all lines in one write: each still gets its own reply, in order
            conv.c.send(b"".join(raw + b"\r\n" for raw in lines))
            for raw in lines:
                conv.check_reply(raw, conv.h.state(conv.current))
        else:
            for raw in lines:
                conv.send(raw)
    finally:
        conv.end()


@given(st.sampled_from(PREFIXES), st.lists(LINES, min_size=1, max_size=6),
       st.integers(0, 39).map(lambda i: i == 0))
@example(PREFIXES[3], [_real("session", Id, "start", "testing"), _real("session", Id, "stop", "testing"),
                       _real("session", Id, "done"), *(_real("download", Id, f) for f in FETCH_FILES),
                       _real("cleanup", Id)], False)
@example((), [_real("new", "a" * 300, NEW[2])], False)
@example(PREFIXES[1], [_real("session", "*", "start", "testing", "nan", "inf"),
                       _real("session", "*", "start", "testing", "1e400", "-1"),
                       _real("download", Id, "../../../etc/passwd"), _real("new", f"../{MARK}", NEW[2])], True)
def test_mutated_command_sequences_follow_the_state_machine(director, prefix, lines, stop):
    tried("director.commands")
    play(director, [*prefix, *lines], stop)


@given(st.one_of(st.text(max_size=60).map(lambda s: s.encode("utf-8", "surrogatepass")), st.binary(max_size=60),
                 st.sampled_from([MAGIC_CLIENT.encode(), MAGIC_CLIENT.upper().encode(), b"mlcommons/power client v2",
                                  MAGIC_CLIENT.encode() + b" ", b" " + MAGIC_CLIENT.encode(), MAGIC_SERVER.encode(),
                                  MAGIC_CLIENT.encode() + b"\xff", b"time", b""])).map(lambda b: b.replace(b"\n", b"")),
       st.sampled_from(["line", "partial", "nothing"]))
def test_handshake_is_exact_or_refused(director, first, how):
    tried("director.handshake")
    before = director.watch.done
    c = director.connect()
    try:
        if how == "nothing":
            return  # connect and leave
        if how == "partial":  # no line end, then gone
            c.send(first)
            return
        c.send(first + b"\r\n")
        reply = c.line()
        if first.rstrip(b"\r").decode("utf-8", "replace") == MAGIC_CLIENT:
            assert reply == MAGIC_SERVER
        else:
            assert reply is not None
            assert_error(reply, repr(first))
            assert "mlcommons/power client v3" in reply
            assert c.closed()
    finally:
        c.close()
        director.finish(before, False)


@settings(max_examples=max(1, EXAMPLES // 3))  # a small space of sizes around the limit: a third is plenty
@given(st.sampled_from([0, 1, 100, protocol.MAX_LINE // 2, protocol.MAX_LINE - 1, protocol.MAX_LINE,
                        protocol.MAX_LINE + 1, protocol.MAX_LINE + 1000, protocol.MAX_LINE + 16 * 1024 - 1,
                        protocol.MAX_LINE + 40 * 1024, 4 * protocol.MAX_LINE])
       | st.integers(protocol.MAX_LINE - 20 * 1024, protocol.MAX_LINE + 20 * 1024),
       st.sampled_from([b"session,*,start,", b"new,", b"download,x,", b"", b"\xff"]),
       st.sampled_from([b"x", b"\xff", b",", b"\x00", b"9"]),
       st.sampled_from([b"\r\n", b"\n"]),
       st.sampled_from([False, False, True]))
def test_over_long_lines_close_the_connection_shorter_ones_are_answered(director, size, head, fill, end, in_session):
    tried("director.long_lines")
    conv = Conversation(director)
    try:
        conv.handshake()
        if in_session:
            conv.send(_real(*NEW).encode(None))
            conv.send(b"session,*,start,ranging")
        raw = (head + fill * size)[:max(size, 0)]
        raw += b"\r" if end == b"\r\n" else b""  # the bytes before the \n are the line the director counts
        prior = director.state(conv.current)
        try:
            conv.c.send(raw + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            assert len(raw) > protocol.MAX_LINE, f"a line of {len(raw)} bytes broke the connection"
        if len(raw) > protocol.MAX_LINE:
            assert conv.c.closed(), f"a line of {len(raw)} bytes was answered"
        else:
            conv.check_reply(raw, prior)
            conv.send(b"time")  # the connection goes on
    finally:
        conv.end()


def test_a_full_session_still_works_after_the_fuzzing(director, tmp_path):
    before = director.watch.done
    c = PowerClient(director.host, director.port, timeout=TIMEOUT)
    try:
        session = run_session(c, 1.2, tmp_path, label="after_fuzz")
    finally:
        c.close()
    director.finish(before, False)
    assert director.state(session) == "complete"
    for name in FETCH_FILES:
        assert (tmp_path / name).read_bytes() == (director.out / session / name).read_bytes()
    figures = json.loads((director.out / session / "director.json").read_text())["phases"]
    assert figures["ranging"]["records"] > 0 and figures["testing"]["records"] > 0
    # every session the fuzzing opened has ended, and everything is inside out_dir, where it belongs
    for d in director.out.iterdir():
        assert SESSION_ID.match(d.name) and d.is_dir(), d
        assert {p.name for p in d.iterdir()} <= SESSION_ENTRIES, d
        assert director.state(d.name) in FINAL_STATES, d
    for p in director.out.rglob("*"):
        assert p.resolve().is_relative_to(director.out.resolve()), p
    assert len(director.server.sessions) > 1
