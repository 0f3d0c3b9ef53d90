"""A SPEC PTDaemon on loopback TCP: a real socket server, in a thread, that answers like PTDaemon.

It stands in for ``ptd -p <port> <device type> <device port>`` with an analyzer behind it, for
tests of :mod:`instruments.ptd` (which never knows it talks to a fake). State: the analyzer's
ranges (per channel, fixed or auto, the next range >= the one asked for), the measurement
(stopped / running, its interval, its mark, every sample taken since ``Go`` and how many a
client has read), the run's Watts and Uncertainty statistics. Samples are taken at the
measurement interval on the fake's clock (1 Hz by default; ``interval_ms`` makes it faster),
so a client that polls with ``RL`` gets them live, and ``RL`` waits up to one interval for a
sample when none is unread, as SPEC CPU2017's harness describes PTDaemon doing.

Replies quoted verbatim in ``reference/powerdev.md`` / ``analyzers.md`` (MLPerf server.json,
SPEC CPU2017 util.pl): ``Hello, PTDaemon here!``, the ``Identify`` layout, ``Ranges,...``,
``Range V changed`` / ``Range A changed``, ``Starting untimed measurement, maximum 500000
samples at 1000ms with 0 rampup samples``, ``Stopping untimed measurement``, ``Error: no
measurement to stop``, ``Invalid number of parameters``, ``Last <N> samples``, ``Last <N> samples
from sum channel and channels 1 - <n>``, the ``Time,...`` sample lines, ``Watts,...`` and
``Uncertainty,...``. Only the beginning of these is documented, so their rest is made up here:
``No unread samples``, ``Insufficient unread samples``, ``Unknown command``, ``Invalid channel``
and every ``Error: ...`` text other than the one above.

Faults on request: :meth:`PtdDaemon.unplug` / :meth:`plug` (connections die and new ones are
refused; after a power cycle the state is fresh), :meth:`drop_connections` (a network hiccup),
:meth:`stall` / :meth:`resume` (commands are swallowed, the connection stays up),
:meth:`fail_next` (the next command with a given prefix gets the reply you choose),
:meth:`inject_samples` (the next samples are errors, ``-1``, or missed, ``-2``), and
:meth:`set_load` (over-range on a fixed range gives ``-1`` readings, as PTDaemon logs a bad
reading).
"""

from __future__ import annotations

import math
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from instruments.fakes.clock import WallClock
from instruments.fakes.yokogawa import WT310_AMPS, WT330_AMPS, WT_VOLTS
from instruments.transports.tcp import TcpTransport

HELLO = "Hello, PTDaemon here!"
GO_REPLY = "Starting untimed measurement, maximum {n} samples at {ms}ms with 0 rampup samples"
STOP_REPLY = "Stopping untimed measurement"
NOTHING_TO_STOP = "Error: no measurement to stop"
INVALID_PARAMETERS = "Invalid number of parameters"
NO_UNREAD = "No unread samples"  # made up beyond "No unread"
INSUFFICIENT_UNREAD = "Insufficient unread samples"  # made up beyond "Insufficient unread"
UNKNOWN_COMMAND = "Unknown command"
DEFAULT_VERSION = "1.11.1-462c978e-20240907"
PTD_TIME = "%m-%d-%Y %H:%M:%S"


@dataclass(frozen=True)
class AnalyzerModel:
    """What the fake PTDaemon drives: its PTD name, identity string, channels and ranges."""

    name: str
    idn: str  # the analyzer's *IDN?, as PTDaemon appends it (fields joined by ';')
    channels: int
    volts: tuple[float, ...]
    amps: tuple[float, ...]
    accepted: bool = True
    dc: bool = False  # a DC meter: PTDaemon has DC-RL and no RL
    accuracy: tuple[float, float] = (0.1, 0.05)  # (% of reading, % of range), 45-66 Hz


_MULTI_AMPS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0)
MODELS: dict[str, AnalyzerModel] = {m.name: m for m in (
    AnalyzerModel("YokogawaWT310E", "YOKOGAWA;WT310E;C2PH13047V;F1.03", 1, WT_VOLTS[3.0], WT310_AMPS[3.0]),
    AnalyzerModel("YokogawaWT210", "YOKOGAWA;760401;0;F1.12", 1, WT_VOLTS[3.0], WT310_AMPS[3.0]),
    AnalyzerModel("YokogawaWT330_multichannel", "YOKOGAWA;WT333E;C3PH00001V;F1.02", 3, WT_VOLTS[3.0],
                  WT330_AMPS[3.0]),
    AnalyzerModel("YokogawaWT500_multichannel", "YOKOGAWA;760203;91K000001;F2.01", 3,
                  (15.0, 30.0, 60.0, 100.0, 150.0, 300.0, 600.0, 1000.0), _MULTI_AMPS),
    AnalyzerModel("YokogawaWT310_DC", "YOKOGAWA;WT310;C2PH00002V;F1.03", 1, WT_VOLTS[3.0], WT310_AMPS[3.0],
                  dc=True, accuracy=(0.1, 0.2)),
    AnalyzerModel("Dummy", "SPECpower's Dummy Analyzer v1.0", 1, WT_VOLTS[3.0], WT310_AMPS[3.0], accepted=False),
)}


@dataclass
class _Channel:
    v_auto: bool = True
    v_range: float = 300.0
    a_auto: bool = True
    a_range: float = 1.0


@dataclass
class _Sample:
    t: float
    w: list[float]  # per channel; -1 error, -2 missed
    v: list[float]
    a: list[float]
    pf: list[float]
    uncert: float  # relative, NaN = unknown


@dataclass
class _Run:
    interval_s: float
    mark: str
    t0: float
    limit: int
    samples: list[_Sample] = field(default_factory=list)
    unread: int = 0  # index of the first sample no client has read
    running: bool = True


class PtdDaemon:
    """A PTDaemon serving one analyzer on ``127.0.0.1:<port>`` (port 0: a free one is chosen).

    ``clock`` (time, monotonic, sleep) times the samples; a FakeClock shared with the driver
    makes a minute of measuring take no wall time. ``interval_ms`` is PTDaemon's averaging
    interval (reported by ``Identify``; ``Go,0,...`` uses it). ``load_w`` is the total power
    drawn (split evenly over the channels), ``per_sample_uncertainty`` adds an
    ``Uncertainty,<fraction>`` pair to each ``RL`` line.
    """

    def __init__(self, model: str = "YokogawaWT310E", *, clock: Any = None, interval_ms: int = 1000,
                 version: str = DEFAULT_VERSION, accepted: bool | None = None, load_w: float = 120.0,
                 volts: float = 230.0, power_factor: float = 0.92, per_sample_uncertainty: bool = False,
                 seed: int = 0, host: str = "127.0.0.1", port: int = 0) -> None:
        if model not in MODELS:
            raise ValueError(f"the fake PTDaemon knows {', '.join(MODELS)}, not {model!r}")
        self.model = MODELS[model]
        self.clock = clock or WallClock()
        self.interval_ms = int(interval_ms)
        self.version = version
        self.accepted = self.model.accepted if accepted is None else bool(accepted)
        self.load_w = float(load_w)
        self.volts = float(volts)
        self.power_factor = float(power_factor)
        self.per_sample_uncertainty = per_sample_uncertainty
        self.seed = int(seed)
        self.host = host
        self.received: list[str] = []  # every command, in order (also while stalled)
        self.log: list[tuple[str, str]] = []  # (command, first reply line)
        self.connections = 0  # accepted client connections
        self.present = True
        self.stalled = False
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._failures: list[tuple[str, str]] = []
        self._injected: list[str] = []  # "error" / "missed" for the next samples
        self._clients: set[socket.socket] = set()
        self._closed = threading.Event()
        self._reset_state()
        self._listener: socket.socket | None = None
        self.port = self._listen(port)
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"fake-ptd-{self.port}", daemon=True)
        self._acceptor.start()

    # -- where it is ------------------------------------------------------------------------------
    @property
    def resource(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        """``host:port``, as the SPEC harness and PTDaemon's documentation write it."""
        return f"{self.host}:{self.port}"

    # -- faults and control -----------------------------------------------------------------------
    def unplug(self) -> None:
        """PTDaemon (or the network to it) is gone: connections die, new ones are refused."""
        with self._lock:
            self.present = False
            listener, self._listener = self._listener, None
        if listener is not None:
            try:  # wakes the accept loop's select at once; close alone waits for it to time out
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        self.drop_connections()

    def plug(self, power_cycle: bool = False) -> None:
        """Back on the same port; after a power cycle PTDaemon starts afresh (no measurement)."""
        with self._lock:
            if power_cycle:
                self._reset_state()
            if self._listener is None:
                self._listen(self.port)
            self.present = True

    def drop_connections(self) -> None:
        """Close every client connection (the listener stays: the client may reconnect)."""
        with self._lock:
            clients, self._clients = list(self._clients), set()
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def stall(self) -> None:
        """Stop answering; commands are received and dropped, connections stay up."""
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False

    def fail_next(self, prefix: str, reply: str) -> None:
        """The next command starting with ``prefix`` gets ``reply`` and changes nothing."""
        with self._lock:
            self._failures.append((prefix, reply))

    def inject_samples(self, kind: str, count: int = 1) -> None:
        """The next ``count`` samples are ``error`` (-1 readings) or ``missed`` (-2)."""
        if kind not in ("error", "missed"):
            raise ValueError("kind is 'error' or 'missed'")
        with self._lock:
            self._injected.extend([kind] * count)

    def set_load(self, watts: float) -> None:
        """The power the system under test draws from now on."""
        with self._lock:
            self.load_w = float(watts)

    def close(self) -> None:
        """Shut the server down for good."""
        self._closed.set()
        self.unplug()

    @property
    def running(self) -> bool:
        with self._lock:
            return self._run is not None and self._run.running

    @property
    def mark(self) -> str | None:
        with self._lock:
            return self._run.mark if self._run else None

    def ranges(self, channel: int = 1) -> _Channel:
        with self._lock:
            return _Channel(**vars(self._channels[channel - 1]))

    def samples_taken(self) -> int:
        with self._lock:
            self._catch_up()
            return len(self._run.samples) if self._run else 0

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        """Wait (wall time) until ``predicate()`` holds; re-checked after every command."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    # -- the server -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._channels = [_Channel() for _ in range(self.model.channels)]
        self._run: _Run | None = None

    def _listen(self, port: int) -> int:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                srv.bind((self.host, port))
                break
            except OSError:
                if port == 0 or time.monotonic() > deadline:  # the old listener may linger a moment
                    srv.close()
                    raise
                time.sleep(0.05)
        srv.listen(8)
        self._listener = srv
        return srv.getsockname()[1]

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            listener = self._listener
            if listener is None:
                self._closed.wait(0.05)
                continue
            try:
                ready, _, _ = select.select([listener], [], [], 0.2)
                if not ready:
                    continue
                conn, _ = listener.accept()
            except (OSError, ValueError):
                continue  # the listener was closed by unplug()
            with self._lock:
                if not self.present:
                    conn.close()
                    continue
                self._clients.add(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True,
                             name=f"fake-ptd-{self.port}-client").start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        try:
            while not self._closed.is_set():
                try:
                    ready, _, _ = select.select([conn], [], [], 0.2)
                    if not ready:
                        continue
                    data = conn.recv(4096)
                except (OSError, ValueError):
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    command = raw.decode("ascii", errors="replace").strip("\r ")
                    if not command:
                        continue
                    lines = self.handle(command)
                    if lines is None:
                        continue
                    try:
                        conn.sendall("".join(f"{line}\r\n" for line in lines).encode("ascii"))
                    except OSError:
                        return
        finally:
            with self._lock:
                self._clients.discard(conn)
            conn.close()

    # -- the protocol -----------------------------------------------------------------------------
    def handle(self, command: str) -> list[str] | None:
        """The reply lines to one command (None: stalled, nothing is sent)."""
        with self._changed:
            self.received.append(command)
            self._changed.notify_all()
            if self.stalled:
                return None
            for k, (prefix, reply) in enumerate(self._failures):
                if command.startswith(prefix):
                    del self._failures[k]
                    self.log.append((command, reply))
                    return [reply]
        name, _, rest = command.partition(",")
        args = rest.split(",") if rest else []
        handler = {
            "Hello": self._hello, "Identify": self._identify, "RR": self._read_ranges,
            "SR": self._set_range, "Go": self._go, "Stop": self._stop, "RL": self._read_samples,
            "DC-RL": self._read_samples_dc, "Watts": self._stats, "Volts": self._stats,
            "Amps": self._stats, "PF": self._stats, "Uncertainty": self._uncertainty,
        }.get(name)
        if handler is None:
            lines = [UNKNOWN_COMMAND]
        else:
            lines = handler(name, args)
        with self._changed:
            self.log.append((command, lines[0] if lines else ""))
            self._changed.notify_all()
        return lines

    def _hello(self, name: str, args: list[str]) -> list[str]:
        return [HELLO] if not args else [INVALID_PARAMETERS]

    def _identify(self, name: str, args: list[str]) -> list[str]:
        m = self.model
        return [f"{m.name},{self.interval_ms},1,1,1,1,0,0,{int(self.accepted)},version={self.version},"
                f"OS=Linux 6.1 x86_64,mode=power,1,1,{m.channels},0,0,no_cal_date,{m.idn}"]

    def _read_ranges(self, name: str, args: list[str]) -> list[str]:
        with self._lock:
            groups = list(self._channels)
            if len(args) > 1:
                return [INVALID_PARAMETERS]
            if args and args[0] != "*":
                ch = self._channel(args[0])
                if ch is None:
                    return ["Invalid channel"]
                groups = [self._channels[ch - 1]]
            elif self.model.channels > 1:
                groups = [self._channels[0], *groups]  # the virtual sum channel first (PTD >= 1.4.3)
            fields = []
            for c in groups:
                fields += [str(int(c.a_auto)), f"{c.a_range:.6f}", str(int(c.v_auto)), f"{c.v_range:.6f}"]
        return ["Ranges," + ",".join(fields)]

    def _channel(self, text: str) -> int | None:
        try:
            ch = int(text)
        except ValueError:
            return None
        return ch if 1 <= ch <= self.model.channels else None

    def _set_range(self, name: str, args: list[str]) -> list[str]:
        if len(args) not in (2, 3) or args[0].upper() not in ("V", "A"):
            return [INVALID_PARAMETERS]
        kind = args[0].upper()
        table = self.model.volts if kind == "V" else self.model.amps
        with self._lock:
            targets = self._channels
            if len(args) == 3:
                ch = self._channel(args[2])
                if ch is None:
                    return ["Invalid channel"]
                targets = [self._channels[ch - 1]]
            if args[1].strip().lower() == "auto":
                for c in targets:
                    setattr(c, f"{kind.lower()}_auto", True)
                return [f"Range {kind} changed"]
            try:
                asked = float(args[1])
            except ValueError:
                return [f"Error: '{args[1]}' is neither a number nor Auto"]
            if not asked > 0:
                return [f"Error: range {args[1]} must be positive"]
            chosen = next((r for r in table if r >= asked * (1 - 1e-9)), None)
            if chosen is None:
                return [f"Error: {asked:g}{kind} is above the largest {kind} range {table[-1]:g}{kind}"]
            for c in targets:
                setattr(c, f"{kind.lower()}_auto", False)
                setattr(c, f"{kind.lower()}_range", chosen)
        return [f"Range {kind} changed"]

    def _go(self, name: str, args: list[str]) -> list[str]:
        if len(args) not in (2, 3):
            return [INVALID_PARAMETERS]
        try:
            ms, count = int(args[0]), int(args[1])
        except ValueError:
            return [INVALID_PARAMETERS]
        ms = ms or self.interval_ms
        if ms < self.interval_ms:
            return [f"Error: {ms}ms is shorter than the analyzer's {self.interval_ms}ms interval"]
        with self._lock:
            self._catch_up()
            if self._run is not None and self._run.running:
                return ["Error: a measurement is already running"]
            limit = count or 500000
            mark = args[2] if len(args) == 3 else "notset"
            self._run = _Run(ms / 1000.0, mark, self.clock.time(), limit)
        return [GO_REPLY.format(n=limit, ms=ms)]

    def _stop(self, name: str, args: list[str]) -> list[str]:
        with self._lock:
            if self._run is None or not self._run.running:
                return [NOTHING_TO_STOP]
            self._catch_up()
            self._run.running = False
        return [STOP_REPLY]

    def _read_samples_dc(self, name: str, args: list[str]) -> list[str]:
        if not self.model.dc:
            return [UNKNOWN_COMMAND]
        return self._rl(args, with_channels=False)

    def _read_samples(self, name: str, args: list[str]) -> list[str]:
        if self.model.dc:
            return [UNKNOWN_COMMAND]
        if len(args) == 2:
            if self.model.channels == 1 or args != ["*", "*"]:
                return [INVALID_PARAMETERS]
            return self._rl(["*"], with_channels=True)
        if len(args) > 2:
            return [INVALID_PARAMETERS]
        return self._rl(args, with_channels=False)

    def _rl(self, args: list[str], with_channels: bool) -> list[str]:
        want: int | None = None  # None: every unread sample
        if args and args[0] != "*":
            try:
                want = int(args[0])
            except ValueError:
                return [INVALID_PARAMETERS]
            if want < 1:
                return [INVALID_PARAMETERS]
        with self._lock:
            self._catch_up()
            run = self._run
            if run is None:
                return [NO_UNREAD]
            unread = len(run.samples) - run.unread
            wait = run.running and unread < (want or 1)
            due = run.t0 + (len(run.samples) + 1) * run.interval_s
        if wait:  # PTDaemon waits up to one interval for the next sample
            self.clock.sleep(max(0.0, due - self.clock.time()) + 1e-6)
        with self._lock:
            self._catch_up()
            run = self._run
            if run is None:
                return [NO_UNREAD]
            unread = len(run.samples) - run.unread
            if unread == 0:
                return [NO_UNREAD]
            if want is not None and unread < want:
                return [INSUFFICIENT_UNREAD]
            chosen = run.samples[run.unread:] if want is None else run.samples[-want:]
            run.unread = len(run.samples)
            n = len(chosen)
            if with_channels:
                header = f"Last {n} samples from sum channel and channels 1 - {self.model.channels}"
            else:
                header = f"Last {n} samples"
            return [header, *(self._line(s, with_channels) for s in chosen)]

    def _line(self, s: _Sample, with_channels: bool) -> str:
        stamp = datetime.fromtimestamp(s.t, UTC)
        text = f"Time,{stamp.strftime(PTD_TIME)}.{stamp.microsecond // 1000:03d}"
        multi = self.model.channels > 1
        if multi:
            bad = any(w < 0 for w in s.w)
            total = min(s.w) if bad else sum(s.w)
            text += f",Watts,{total:.6f},Volts,-1.000000,Amps,-1.000000,PF,-1.000000"
        else:
            text += f",Watts,{s.w[0]:.6f},Volts,{s.v[0]:.6f},Amps,{s.a[0]:.6f},PF,{s.pf[0]:.6f}"
        if self.per_sample_uncertainty:
            text += f",Uncertainty,{-1.0 if math.isnan(s.uncert) else s.uncert:.6f}"
        if multi and with_channels:
            for k in range(self.model.channels):
                text += (f",Ch{k + 1},Watts,{s.w[k]:.6f},Volts,{s.v[k]:.6f},Amps,{s.a[k]:.6f},"
                         f"PF,{s.pf[k]:.6f}")
        return text

    def _stats(self, name: str, args: list[str]) -> list[str]:
        with self._lock:
            self._catch_up()
            samples = self._run.samples if self._run else []
            values = []
            for s in samples:
                if name == "Watts":
                    values.append(-1.0 if any(w < 0 for w in s.w) else sum(s.w))
                else:
                    per = {"Volts": s.v, "Amps": s.a, "PF": s.pf}[name]
                    values.append(-1.0 if any(x < 0 for x in per) else
                                  (sum(per) if name == "Amps" else sum(per) / len(per)))
        good = [x for x in values if x >= 0]
        avg = sum(good) / len(good) if good else 0.0
        lo, hi = (min(good), max(good)) if good else (0.0, 0.0)
        return [f"{name},{avg:.6f},{lo:.6f},{hi:.6f},{len(values)},{len(values) - len(good)},{len(good)}"]

    def _uncertainty(self, name: str, args: list[str]) -> list[str]:
        with self._lock:
            self._catch_up()
            samples = self._run.samples if self._run else []
            known = [s.uncert for s in samples if not math.isnan(s.uncert)]
        n = len(samples)
        if not known:
            return [f"Uncertainty,-1.0,10000000.000000,0.000000,{n},0,0,{n}"]
        above = sum(1 for u in known if u > 0.01)
        return [f"Uncertainty,{sum(known) / len(known):.6f},{min(known):.6f},{max(known):.6f},{n},"
                f"{above},{len(known) - above},{n - len(known)}"]

    # -- the analyzer ------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Take every sample whose interval has ended by now (call with the lock held)."""
        run = self._run
        if run is None or not run.running:
            return
        now = self.clock.time()
        while len(run.samples) < run.limit:
            k = len(run.samples) + 1
            t = run.t0 + k * run.interval_s
            if t > now + 1e-9:
                break
            run.samples.append(self._measure(k, t))
        if len(run.samples) >= run.limit:
            run.running = False

    def _measure(self, k: int, t: float) -> _Sample:
        n = self.model.channels
        injected = self._injected.pop(0) if self._injected else None
        if injected:
            code = -1.0 if injected == "error" else -2.0
            return _Sample(t, [code] * n, [code] * n, [code] * n, [code] * n, math.nan)
        w, v, a, pf = [], [], [], []
        error = False
        auto = False
        abs_error = 0.0
        for c in range(n):
            ch = self._channels[c]
            wc = self.load_w / n * (1.0 + 0.04 * math.sin(0.37 * k + c + self.seed)
                                    + 0.01 * math.sin(2.3 * k * (c + 1) + self.seed))
            vc = self.volts * (1.0 + 0.002 * math.sin(0.05 * k + c))
            pfc = 1.0 if self.model.dc else self.power_factor
            ac = wc / (vc * pfc)
            if ch.v_auto:
                ch.v_range = next((r for r in self.model.volts if vc <= r), self.model.volts[-1])
            if ch.a_auto:
                ch.a_range = next((r for r in self.model.amps if ac <= r), self.model.amps[-1])
            auto = auto or ch.v_auto or ch.a_auto
            if vc > 1.4 * ch.v_range or ac > 1.4 * ch.a_range:
                error = True  # the meter shows -OL-: PTDaemon logs a bad reading, the sample is -1
            rdg, rng = self.model.accuracy
            abs_error += rdg / 100 * wc + rng / 100 * ch.v_range * ch.a_range
            w.append(wc)
            v.append(vc)
            a.append(ac)
            pf.append(pfc)
        if error:
            return _Sample(t, [-1.0] * n, [-1.0] * n, [-1.0] * n, [-1.0] * n, math.nan)
        uncert = math.nan if auto else abs_error / sum(w)
        return _Sample(t, w, v, a, pf, uncert)


class RecordingTcpTransport(TcpTransport):
    """The TCP transport the station uses, counting what the driver does with it (for tests)."""

    def __init__(self, host: str, port: int, **kwargs: Any) -> None:
        super().__init__(host, port, **kwargs)
        self.sent: list[str] = []
        self.opens = 0

    def open(self) -> None:
        super().open()
        self.opens += 1

    def write_bytes(self, data: bytes) -> None:
        self.sent.append(bytes(data).decode("ascii", errors="replace").rstrip("\r\n"))
        super().write_bytes(data)


def ptd_bench(model: str | None = None, clock: Any = None, **options: Any):
    """A FakeBench: a fake PTDaemon on a free loopback port, the TCP transport to it, a FakeClock.

    Construct the driver as ``PTDaemon(bench.transport, **bench.driver_kwargs)``.
    """
    from instruments.fakes import FakeBench
    from instruments.fakes.clock import FakeClock

    clock = clock or FakeClock()
    device = PtdDaemon(model or "YokogawaWT310E", clock=clock, **options)
    transport = RecordingTcpTransport(device.host, device.port, timeout=5.0)
    return FakeBench(device, transport, clock, {"clock": clock})
