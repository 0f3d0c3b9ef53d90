"""A stateful X-NUCLEO-LPM01A on a pseudo-terminal: the driver opens it like the real /dev/ttyACM0.

The fake owns the master side of a pty and publishes the slave under a stable link (``port``,
e.g. ``<tmp>/ttyACM0``), the way udev names a USB serial device: unplugging removes the link
and hangs up the open port, plugging in again makes a new pty behind the same name.

It speaks the board's command set with its replies (``PowerShield > ack <cmd> [output]``, or
``PowerShield > error <cmd>`` + ``Error detail: <why>``), keeps its state (host control, target
voltage, frequency, acquisition time, mode, output, format, trigger, event source, target
power), refuses what the board refuses (no host control, out-of-range values, settings while
acquiring, ascii_dec too fast for the link, energy above 10 kHz), and streams both formats at
the configured rate, paced by the wall clock in chunks of about 10 ms:

- ``ascii_dec`` lines ``dddd[+-]dd``, a ``TimeStamp: SSSs MMMms, buff NN%`` line per second of
  acquisition, ``event NN fal|ris`` lines for D7 edges of the configured kind;
- ``bin_hexa`` 16-bit words (exponent nibble, 12-bit mantissa, value x 16^-exponent) with
  ``F0 F3 <ms:4> <buff%> FF FF`` timestamp blocks, ``F0 F5 <nr> <edge> FF FF`` event blocks and
  ``F0 F4 FF FF`` at the end (see :mod:`instruments.lpm01a` for which parts are assumptions).

What it measures is ``workload``: anything with ``current(t, rng)`` (amps at times ``t``, seconds since
the target was powered on) and ``edges(ta, tb)`` (GPIO edges in that span), by default a small
MCU running inference (:class:`TinyWorkload`): about 1 mA idle,
bursts of about 6 mA with clock ripple, a GPIO pulse (falling then rising edge on D7) at the
start and the end of each inference, an inrush when the target is powered on, nanoamps when
it is off. Output is current or energy per sample period.

The board's transmit buffer is modelled: what the pty does not take waits in it, its fill
level is what ``buff`` reports, and when it is full new samples are dropped (the timestamps
go on counting them, as the board's do). Faults on request: :meth:`Lpm01aDevice.inject_garbage`
(stray bytes in the stream), :meth:`~Lpm01aDevice.truncate_next` (a sample cut short),
:meth:`~Lpm01aDevice.overflow` (the buffer loses samples), :meth:`~Lpm01aDevice.unplug` (the
device disappears: pty closed), :meth:`~Lpm01aDevice.stall` (silent), and
``supports_eventsrc=False`` (older firmware that does not know ``eventsrc``).

Run it on its own for another process (the benchmark, a manual ``station run``)::

    python -c "from instruments.fakes.lpm01a import main; main()" [--link PATH] [--tty]
        # prints the port (or its /dev/pts path), serves until stdin closes
"""

from __future__ import annotations

import argparse
import math
import os
import re
import select
import sys
import tempfile
import threading
import time
import tty
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instruments.transports.serial import SerialTransport

PROMPT = "PowerShield > "
UID = "540554545-1430736921-1900587"
FIRMWARE = "1.0.7"
FREQS = {"100k": 100_000, "50k": 50_000, "20k": 20_000, "10k": 10_000, "5k": 5_000, "2k": 2_000, "1k": 1_000,
         "500": 500, "200": 200, "100": 100, "50": 50, "20": 20, "10": 10, "5": 5, "2": 2, "1": 1}
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?)([umk]|[-+]\d{1,2})?$")
_SUFFIX = {"u": 1e-6, "m": 1e-3, "k": 1e3}
HOST_FREE = {"help", "echo", "powershield", "version", "status", "htc", "hrc", "range"}
SETTINGS = {"volt", "freq", "acqtime", "acqmode", "funcmode", "output", "format", "trigsrc", "trigdelay",
            "currthres", "eventsrc", "pwrend", "lcd", "calib", "autotest", "psrst"}
CHUNK_S = 0.01


# -- what the target draws --------------------------------------------------------------------------
@dataclass(frozen=True)
class TinyWorkload:
    """A microcontroller running inference in a loop, as the board sees it (amps, seconds since power-on)."""

    idle_a: float = 1.1e-3
    inference_a: float = 6.3e-3
    period_s: float = 0.25
    burst_s: float = 0.085
    ripple: float = 0.04  # clock / flash ripple during inference, relative
    ripple_hz: float = 2000.0
    noise: float = 0.012
    inrush_a: float = 0.02
    inrush_tau_s: float = 0.002
    off_a: float = 3e-9  # leakage into an unpowered target
    pulse_s: float = 0.0005  # the DUT's GPIO timestamp pulse

    def _starts(self, c: np.ndarray) -> np.ndarray:
        frac = np.modf(c * 0.6180339887498949)[0]
        return c * self.period_s + 0.02 + 0.03 * frac

    def current(self, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = np.floor(t / self.period_s)
        start = self._starts(c)
        inb = (t >= start) & (t < start + self.burst_s)
        i = np.full(t.shape, self.idle_a)
        wave = 1.0 + self.ripple * np.sin(t * (2 * np.pi * self.ripple_hz))
        i += inb * (self.inference_a - self.idle_a) * wave
        i *= 1.0 + self.noise * rng.standard_normal(t.shape)
        i += self.inrush_a * np.exp(-np.maximum(t, 0.0) / self.inrush_tau_s)
        return np.maximum(i, 0.0)

    def edges(self, ta: float, tb: float) -> list[tuple[float, str]]:
        """GPIO edges in [ta, tb): a pulse (falling, then rising) at the start and the end of each inference."""
        out = []
        c0, c1 = max(0, math.floor(ta / self.period_s) - 1), math.floor(tb / self.period_s) + 1
        for c in range(c0, c1 + 1):
            s = float(self._starts(np.array([float(c)]))[0])
            for at in (s, s + self.burst_s):
                for t, edge in ((at, "fal"), (at + self.pulse_s, "ris")):
                    if ta <= t < tb:
                        out.append((t, edge))
        return sorted(out)


# -- encoders (the board's side of the formats) ------------------------------------------------------
def encode_ascii(values: np.ndarray) -> np.ndarray:
    """Rows of ``dddd[+-]dd\\r\\n`` (n x 9 bytes): 4-digit mantissa, 2-digit power of ten."""
    v = np.asarray(values, dtype=np.float64)
    pos = v > 1e-30
    e = np.where(pos, np.floor(np.log10(np.where(pos, v, 1.0))) - 3, 0).astype(np.int64)
    m = np.rint(np.where(pos, v, 0.0) / 10.0 ** e).astype(np.int64)
    up = m >= 10000
    m = np.where(up, np.rint(m / 10.0).astype(np.int64), m)
    e = np.where(up, e + 1, e)
    e = np.clip(e, -99, 99)
    rows = np.empty((len(v), 9), dtype=np.uint8)
    for k, div in enumerate((1000, 100, 10, 1)):
        rows[:, k] = 48 + (m // div) % 10
    rows[:, 4] = np.where(e < 0, ord("-"), ord("+"))
    ae = np.abs(e)
    rows[:, 5] = 48 + ae // 10
    rows[:, 6] = 48 + ae % 10
    rows[:, 7] = 13
    rows[:, 8] = 10
    return rows


def encode_binary(values: np.ndarray) -> bytes:
    """Big-endian words: exponent nibble (0..14, never 15) and a 12-bit mantissa, value x 16^-exponent."""
    v = np.asarray(values, dtype=np.float64)
    pos = v > 0
    e = np.where(pos, np.floor(np.log(4095.0 / np.where(pos, v, 1.0)) / np.log(16.0)), 14)
    e = np.clip(e, 0, 14).astype(np.int64)
    m = np.clip(np.rint(v * 16.0 ** e), 0, 4095).astype(np.int64)
    return ((e << 12) | m).astype(">u2").tobytes()


def parse_number(text: str) -> float:
    """A number as the board reads it: ``3300m``, ``100u``, ``2-3``, ``1k``, ``2``."""
    m = _NUMBER.match(text.strip())
    if not m:
        raise ValueError(text)
    x, suffix = float(m.group(1)), m.group(2)
    if suffix in _SUFFIX:
        return x * _SUFFIX[suffix]
    if suffix:
        return x * 10.0 ** int(suffix)
    return x


class BoardError(Exception):
    """The board refuses a command: the reply is an error line plus its detail."""


# -- the device -------------------------------------------------------------------------------------
class Lpm01aDevice:
    """The fake board behind a pty. Thread-safe: faults may be injected from any thread."""

    def __init__(self, link: str | os.PathLike | None = None, seed: int = 1, workload: TinyWorkload | None = None,
                 buffer_kib: int = 128, supports_eventsrc: bool = True, uid: str = UID,
                 firmware: str = FIRMWARE, clock: Callable[[], float] = time.monotonic) -> None:
        if link is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="lpm01a-")
            link = Path(self._tmpdir.name) / "ttyACM0"
        else:
            self._tmpdir = None
        self.port = str(link)
        # The board's time base. A faster clock (instruments.fakes.tiny_dut.ScaledClock) makes it
        # measure seconds of target time in a fraction of a wall second, for tests of long runs.
        self.clock = clock
        self.workload = workload or TinyWorkload()
        self.capacity = int(buffer_kib) * 1024
        self.supports_eventsrc = supports_eventsrc
        self.uid, self.firmware = uid, firmware
        self.received: list[str] = []  # every command line the board got, in order
        self.dropped = 0  # samples its buffer lost (overflow, injected or real)
        self.produced = 0  # samples measured in the current / last acquisition
        self.present = False
        self.stalled = False
        self._rng = np.random.default_rng(seed)
        self._lock = threading.RLock()
        self._closed = False
        self._master = self._slave = -1
        self._inbuf = bytearray()
        self._out = bytearray()
        self._garbage: list[bytes] = []
        self._truncate = 0
        self._drop = 0
        self._late_word: str | None = None  # the command whose answer is held back (stale_ack)
        self._held: list[str] = []
        self._fds: list[int] = []  # shared with the finalizer, which closes what is left
        self._reset_state()
        self.plug()
        self._thread = threading.Thread(target=_serve, args=(weakref.ref(self),), daemon=True,
                                        name="lpm01a-fake")
        self._thread.start()
        self._finalizer = weakref.finalize(self, _release, self._fds, self._tmpdir)

    # -- board state -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        """Power-up defaults (ST's command table)."""
        self.host = False
        self.volt = 3.3
        self.freq = 100
        self.acqtime = 10.0
        self.acqmode = "dyn"
        self.funcmode = "optim"
        self.output = "current"
        self.format = "ascii_dec"
        self.trigsrc = "sw"
        self.trigdelay = 1e-3
        self.eventsrc: str | None = None
        self.pwr = "auto"
        self.pwrend = "on"
        self.target_on = False
        self.power_on_at = 0.0
        self.acquiring = False
        self.lcd = ["", ""]
        self._event_nr = 0
        self._completed_after_ack = False

    # -- cable -------------------------------------------------------------------------------------
    def plug(self, power_cycle: bool = True) -> None:
        """Connect (again): a new pty behind the same port name. The board restarts with defaults
        (it is powered from USB), whatever ``power_cycle`` says."""
        with self._lock:
            if self.present:
                return
            master, slave = os.openpty()
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._master, self._slave = master, slave
            self._fds[:] = [master, slave]
            self._inbuf.clear()
            self._out.clear()
            self._reset_state()
            link = Path(self.port)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(os.ttyname(slave))
            self.present = True

    def unplug(self) -> None:
        """The board disappears: its port name goes away and the open port hangs up."""
        with self._lock:
            if not self.present:
                return
            self.present = False
            self.acquiring = False
            try:
                Path(self.port).unlink()
            except FileNotFoundError:
                pass
            for fd in (self._master, self._slave):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._master = self._slave = -1
            self._fds[:] = []

    @property
    def tty(self) -> str:
        """The pty's own device path (``/dev/pts/N``), which changes with every plug."""
        with self._lock:
            if not self.present:
                raise RuntimeError("the fake LPM01A is unplugged")
            return os.ttyname(self._slave)

    def stall(self) -> None:
        """The board stops answering and streaming (the port stays up)."""
        self.stalled = True

    def resume(self) -> None:
        self.stalled = False

    def close(self) -> None:
        """Unplug and stop the device thread."""
        self.unplug()
        self._closed = True
        self._finalizer()

    def __enter__(self) -> Lpm01aDevice:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- faults ------------------------------------------------------------------------------------
    def inject_garbage(self, data: bytes = b"\x00#~%\x7f") -> None:
        """Stray bytes between two samples of the next chunk (EMI, a USB hiccup)."""
        with self._lock:
            self._garbage.append(bytes(data))

    def truncate_next(self, count: int = 1) -> None:
        """The next ``count`` samples lose their tail (ascii: the rest of the line; binary: a byte)."""
        with self._lock:
            self._truncate += int(count)

    def overflow(self, samples: int) -> None:
        """The board's buffer loses the next ``samples`` samples (the next TimeStamp says 100 %)."""
        with self._lock:
            self._drop += int(samples)

    def stale_ack(self, word: str) -> None:
        """The board answers the next ``word`` command (e.g. ``eventsrc``) only when the command
        after it arrives, just before that one's answer: a stale ``ack`` for whoever reads next."""
        with self._lock:
            self._late_word = word

    # -- the serving loop --------------------------------------------------------------------------
    def _step(self) -> None:
        with self._lock:
            master = self._master if self.present else -1
            streaming = self.acquiring and not self.stalled
            pending_out = bool(self._out) and not self.stalled
        if master < 0:
            time.sleep(0.05)
            return
        try:
            r, w, _ = select.select([master], [master] if pending_out else [], [], 0.002 if streaming else 0.02)
        except (OSError, ValueError):
            return
        with self._lock:
            if not self.present or master != self._master:
                return
            if r:
                try:
                    data = os.read(master, 4096)
                except (BlockingIOError, InterruptedError):
                    data = b""
                except OSError:
                    data = b""
                if data and not self.stalled:
                    self._inbuf += data
                    while b"\n" in self._inbuf:
                        line, _, rest = bytes(self._inbuf).partition(b"\n")
                        self._inbuf = bytearray(rest)
                        self._command(line.decode("ascii", errors="replace").strip())
            if self.acquiring and not self.stalled:
                self._produce()
            if self._out and not self.stalled:
                try:
                    n = os.write(master, bytes(self._out[:65536]))
                    del self._out[:n]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    pass

    def _say(self, *lines: str) -> None:
        for line in lines:
            self._out += (line + "\r\n").encode("ascii")

    # -- commands ----------------------------------------------------------------------------------
    def _command(self, line: str) -> None:
        if not line:
            return
        self.received.append(line)
        word, _, arg = line.partition(" ")
        word = word.lower()
        held, self._held = self._held, []
        self._say(*held)
        try:
            output = self._handle(word, arg.strip())
        except BoardError as exc:
            self._say(f"{PROMPT}error {line}", f"Error detail: {exc}")
            return
        ack = f"{PROMPT}ack {line}" + (f" {output}" if output else "")
        if word == self._late_word:
            self._late_word = None
            self._held.append(ack)
            return
        self._say(ack)
        if self._completed_after_ack:
            self._completed_after_ack = False
            self._say("Acquisition completed")

    def _handle(self, word: str, arg: str) -> str | None:
        if word not in HOST_FREE and word not in SETTINGS and word not in (
                "pwr", "start", "stop", "targrst", "temp"):
            raise BoardError(f"command '{word}' not recognized (type 'help')")
        if word not in HOST_FREE and not self.host:
            raise BoardError("host control not taken: send 'htc' first")
        if word in SETTINGS and self.acquiring:
            raise BoardError("command not allowed during acquisition: send 'stop' first")
        if word == "eventsrc" and not self.supports_eventsrc:
            raise BoardError(f"command '{word}' not recognized (type 'help')")
        handler = getattr(self, f"_cmd_{word}", None)
        if handler is None:
            return None
        return handler(arg)

    def _cmd_help(self, arg: str) -> str:
        return "commands: " + " ".join(sorted(HOST_FREE | SETTINGS | {"pwr", "start", "stop", "targrst", "temp"}))

    def _cmd_echo(self, arg: str) -> str:
        return arg

    def _cmd_powershield(self, arg: str) -> str:
        return f"PowerShield present {self.uid}"

    def _cmd_version(self, arg: str) -> str:
        return self.firmware

    def _cmd_status(self, arg: str) -> str:
        return "ok"

    def _cmd_range(self, arg: str) -> str:
        return "100n 50m" if self.acqmode == "dyn" else "1n 200m"

    def _cmd_htc(self, arg: str) -> None:
        self.host = True

    def _cmd_hrc(self, arg: str) -> None:
        if self.acquiring:
            self._finish()
        self.host = False

    def _cmd_lcd(self, arg: str) -> None:
        m = re.match(r'^([12])\s+"(.{0,16})"$', arg)
        if not m:
            raise BoardError('expected lcd <1|2> "<up to 16 characters>"')
        self.lcd[int(m.group(1)) - 1] = m.group(2)

    def _cmd_psrst(self, arg: str) -> None:
        self._reset_state()

    def _cmd_calib(self, arg: str) -> None:
        return None

    def _cmd_autotest(self, arg: str) -> str:
        return "ok"

    def _cmd_temp(self, arg: str) -> str:
        return "2512-02 degf" if arg == "degf" else "2450-02 degc"

    def _number(self, arg: str, lo: float, hi: float, what: str) -> float:
        try:
            x = parse_number(arg)
        except ValueError:
            raise BoardError(f"{what}: '{arg}' is not a number") from None
        if not lo - 1e-12 <= x <= hi + 1e-12:
            raise BoardError(f"{what}: value out of range [{lo:g}; {hi:g}]")
        return x

    def _cmd_volt(self, arg: str) -> str | None:
        if arg == "get":
            return f"{round(self.volt * 1000):04d}-03"
        self.volt = self._number(arg, 1.8, 3.3, "volt")
        return None

    def _cmd_freq(self, arg: str) -> None:
        if arg not in FREQS:
            raise BoardError(f"freq: '{arg}' is not one of {', '.join(FREQS)}")
        self.freq = FREQS[arg]

    def _cmd_acqtime(self, arg: str) -> None:
        if arg in ("0", "inf"):
            self.acqtime = 0.0
            return
        self.acqtime = self._number(arg, 100e-6, 100.0, "acqtime")

    def _choice(self, arg: str, choices: tuple[str, ...], what: str) -> str:
        if arg not in choices:
            raise BoardError(f"{what}: '{arg}' is not one of {', '.join(choices)}")
        return arg

    def _cmd_acqmode(self, arg: str) -> None:
        self.acqmode = self._choice(arg, ("dyn", "stat"), "acqmode")

    def _cmd_funcmode(self, arg: str) -> None:
        self.funcmode = self._choice(arg, ("optim", "high"), "funcmode")

    def _cmd_output(self, arg: str) -> None:
        self.output = self._choice(arg, ("current", "energy"), "output")

    def _cmd_format(self, arg: str) -> None:
        self.format = self._choice(arg, ("ascii_dec", "bin_hexa"), "format")

    def _cmd_trigsrc(self, arg: str) -> None:
        self.trigsrc = self._choice(arg, ("sw", "d7"), "trigsrc")

    def _cmd_trigdelay(self, arg: str) -> None:
        self.trigdelay = self._number(arg, 0.0, 30.0, "trigdelay")

    def _cmd_currthres(self, arg: str) -> None:
        self._number(arg, 0.0, 50e-3, "currthres")

    def _cmd_eventsrc(self, arg: str) -> None:
        m = re.match(r"^d7\s+(ris|fal)$", arg)
        if not m:
            raise BoardError("eventsrc: expected 'd7 ris' or 'd7 fal'")
        self.eventsrc = m.group(1)

    def _cmd_pwrend(self, arg: str) -> None:
        self.pwrend = self._choice(arg, ("on", "off"), "pwrend")

    def _cmd_pwr(self, arg: str) -> str | None:
        parts = arg.split()
        if not parts:
            raise BoardError("pwr: expected auto, on, off or get")
        if parts[0] == "get":
            return "on" if self.target_on else "off"
        mode = self._choice(parts[0], ("auto", "on", "off"), "pwr")
        if len(parts) > 1:
            self._choice(parts[1], ("nostatus", "status"), "pwr")
        self.pwr = mode
        if mode == "on":
            self._power(True)
        elif mode == "off":
            self._power(False)
        return None

    def _cmd_targrst(self, arg: str) -> None:
        duration = self._number(arg, 0.0, 1.0, "targrst")
        self._power(False)
        if duration > 0:
            self._power(True, at=self.clock() + duration)

    def _power(self, on: bool, at: float | None = None) -> None:
        if on and not self.target_on:
            self.power_on_at = self.clock() if at is None else at
        self.target_on = on

    def _cmd_start(self, arg: str) -> None:
        if self.acquiring:
            raise BoardError("acquisition already running")
        f = self.freq
        if self.output == "energy" and f > 10_000:
            raise BoardError("output energy is limited to 10 kHz sampling")
        if self.format == "ascii_dec" and f > 5_000:
            limit = {10_000: 1.0, 20_000: 0.5}.get(f)
            if limit is None or self.acqtime == 0 or self.acqtime > limit:
                raise BoardError(f"format ascii_dec at {f} Hz: acquisition time too long for the baudrate "
                                 "(use bin_hexa)")
        now = self.clock()
        if self.pwr == "auto":
            self._power(True)
        origin = now + self.trigdelay
        if self.trigsrc == "d7":
            wl = self.workload
            edges = [t for t, e in wl.edges(origin - self.power_on_at, origin - self.power_on_at + 2 * wl.period_s)
                     if e == "fal"]
            if edges:
                origin = self.power_on_at + edges[0]
        self.acquiring = True
        self._origin = origin
        self._k = 0
        self._last_chunk = now
        self._lost_since_stamp = False
        self._total = int(round(self.acqtime * f)) if self.acqtime else None
        self.produced = 0

    def _cmd_stop(self, arg: str) -> None:
        if self.acquiring:
            self._finish(announce=False)
            self._completed_after_ack = True  # after the 'ack stop' line

    def _finish(self, announce: bool = True) -> None:
        """End of acquisition: the end block (binary), then 'Acquisition completed'."""
        self.acquiring = False
        if self.format == "bin_hexa":
            self._out += b"\xf0\xf4\xff\xff"
        if announce:
            self._say("Acquisition completed")
        if self.pwr == "auto" and self.pwrend == "off":
            self._power(False)

    # -- streaming ---------------------------------------------------------------------------------
    def _produce(self) -> None:
        f = self.freq
        now = self.clock()
        due = math.floor((now - self._origin) * f)
        if self._total is not None:
            due = min(due, self._total)
        n = due - self._k
        if n <= 0 or (n < max(1, CHUNK_S * f) and now - self._last_chunk < CHUNK_S
                      and (self._total is None or due < self._total)):
            return
        self._last_chunk = now
        k0 = self._k
        self._k = due
        self.produced = due
        idx = np.arange(k0, due, dtype=np.float64)
        wl = self.workload
        t_wl = (self._origin - self.power_on_at) + idx / f
        if self.target_on and now >= self.power_on_at:
            amps = wl.current(t_wl, self._rng)
            amps[t_wl < 0] = wl.off_a
        else:
            amps = np.full(n, wl.off_a)
        values = amps * self.volt / f if self.output == "energy" else amps
        keep = np.ones(n, dtype=bool)
        if self._drop:
            d = min(self._drop, n)
            keep[:d] = False
            self._drop -= d
            self.dropped += d
            self._lost_since_stamp = True
        per = 2 if self.format == "bin_hexa" else 9
        if len(self._out) + int(keep.sum()) * per > self.capacity:  # the buffer is full: these are lost
            self.dropped += int(keep.sum())
            keep[:] = False
            self._lost_since_stamp = True
        # Where metadata goes: (position in this chunk = number of samples before it, order, bytes)
        meta: list[tuple[int, int, bytes]] = []
        if self.eventsrc and self.target_on:
            ta, tb = float(t_wl[0]), float(t_wl[-1]) + 1.0 / f
            for te, edge in wl.edges(ta, tb):
                if edge != self.eventsrc:
                    continue
                pos = int(np.searchsorted(t_wl, te, side="left"))
                self._event_nr += 1
                meta.append((pos, 0, self._event_bytes(self._event_nr, edge)))
        first_stamp = (k0 // f + 1) * f
        for end in range(first_stamp, due + 1, f):
            meta.append((end - k0, 1, b""))  # filled in below, when the buffer level is known
        meta.sort(key=lambda m: (m[0], m[1]))
        start = 0
        for pos, order, data in meta + [(n, 2, b"")]:
            if pos > start:
                self._emit_samples(values[start:pos][keep[start:pos]])
                start = pos
            if order == 0:
                self._out += data
            elif order == 1:
                self._out += self._stamp_bytes(k0 + pos)
        if self._total is not None and due >= self._total:
            self._finish()

    def _emit_samples(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        if self.format == "bin_hexa":
            data = bytearray(encode_binary(values))
        else:
            data = bytearray(encode_ascii(values).tobytes())
        if self._truncate:
            self._truncate -= 1
            if self.format == "bin_hexa":
                del data[1]
            else:
                del data[3:9]  # "640" and then the next line
        if self._garbage:
            cut = (len(values) // 2) * (2 if self.format == "bin_hexa" else 9)
            data[cut:cut] = b"".join(self._garbage)
            self._garbage.clear()
        self._out += data

    def _level(self) -> int:
        if self._lost_since_stamp:
            self._lost_since_stamp = False
            return 100
        return min(100, round(100 * len(self._out) / self.capacity))

    def _stamp_bytes(self, k: int) -> bytes:
        ms = int(round(k * 1000 / self.freq))
        level = self._level()
        if self.format == "bin_hexa":
            return b"\xf0\xf3" + ms.to_bytes(4, "big") + bytes([level]) + b"\xff\xff"
        return f"TimeStamp: {ms // 1000:03d}s {ms % 1000:03d}ms, buff {level:02d}%\r\n".encode("ascii")

    def _event_bytes(self, nr: int, edge: str) -> bytes:
        if self.format == "bin_hexa":
            return b"\xf0\xf5" + bytes([nr & 0xFF, 1 if edge == "ris" else 0]) + b"\xff\xff"
        return f"event {nr:02d} {edge}\r\n".encode("ascii")


def _serve(ref: weakref.ref) -> None:
    """The device's thread: holds the device only while stepping, so a dropped device is collected."""
    while True:
        dev = ref()
        if dev is None or dev._closed:
            return
        try:
            dev._step()
        except Exception:  # the fake must not die silently in the middle of a test
            import traceback

            traceback.print_exc()
            time.sleep(0.05)
        del dev


def _release(fds: list[int], tmpdir) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    fds[:] = []
    if tmpdir is not None:
        tmpdir.cleanup()


class RecordingSerialTransport(SerialTransport):
    """The real serial transport, counting opens and recording commands (for the driver meta-tests)."""

    def __init__(self, port: str, **kwargs) -> None:
        super().__init__(port, **kwargs)
        self.sent: list[str] = []
        self.opens = 0

    def open(self) -> None:
        was_open = self.is_open
        super().open()
        if not was_open:
            self.opens += 1

    def write(self, command: str) -> None:
        self.sent.append(command)
        super().write(command)


def lpm01a_bench(model: str | None = None, **options):
    """A bench for ``fake_for("lpm01a")``: the board on a pty and a serial transport to its port."""
    from instruments.base import SystemClock
    from instruments.fakes import FakeBench

    device = Lpm01aDevice(**options)
    transport = RecordingSerialTransport(device.port, baudrate=3_686_400, timeout=2.0)
    return FakeBench(device, transport, SystemClock(), {})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Serve a fake LPM01A on a pty until stdin closes.")
    ap.add_argument("--link", help="port name to create (default: a temporary .../ttyACM0)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--buffer-kib", type=int, default=128)
    ap.add_argument("--tty", action="store_true", help="print the pty's /dev/pts path instead of the link")
    args = ap.parse_args(argv)
    device = Lpm01aDevice(args.link, seed=args.seed, buffer_kib=args.buffer_kib)
    print(device.tty if args.tty else device.port, flush=True)
    try:
        for line in sys.stdin:  # "stats" prints what the board did; EOF ends
            if line.strip() == "stats":
                print(f"produced={device.produced} dropped={device.dropped}", flush=True)
    except KeyboardInterrupt:
        pass
    device.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
