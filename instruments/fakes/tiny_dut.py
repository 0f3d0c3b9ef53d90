"""EMULATION of an MLPerf Tiny DUT in energy mode behind its interface board, on a pseudo-terminal.

This is not hardware and says so: ``name%`` answers ``m-name-[station emulated interface board]``
and the DUT calls itself ``station-emulated-dut``. It speaks what the MLCommons runner sends to
an interface board (benchmark/runner ``io_manager.py``; protocol in reference/tiny.md): commands end
with ``%``; ``setbaud N%`` sets the DUT link's speed; ``dut <cmd>%`` is passed to the DUT, answered
``m-dut-passthrough(<cmd>)`` + ``m-ready``, then the DUT's own lines prefixed ``[dut]: `` ending
with ``[dut]: m-ready``. The DUT (benchmark/api) knows ``name``, ``profile``, ``db load N``,
``db <hex>`` and ``infer N W``: warm-up, ``m-infer-start-N``, a GPIO timestamp, N inferences, a
second timestamp, ``m-infer-done``, ``m-results-[...]``.

What it draws and when it pulls the timestamp line low is a schedule in the rig's clock
(:class:`ScaledClock`, shared with the fake LPM01A through :meth:`TinyRig.load_for`), so a test
can run the 10 s windows of the procedure in a fraction of the time. Trials are counted from 0
by the ``infer`` commands that follow a ``db load`` (a calibration ``infer`` without a new input
is not a trial). Faults on request: ``missing_edge_trial`` / ``extra_edge_trial`` (timestamps of
one trial), :meth:`TinyRig.stop_answering`, and :meth:`TinyRig.during_window` (something done
halfway through a trial's timed window, e.g. the monitor dropping samples).

Streaming wakeword (the runner's ``stream`` step, model ``sww01``): the DUT's ``start`` raises a
timestamp edge and starts detecting (drawing its duty-cycled average current), the interface
board's ``record_detections`` starts its clock, ``play <wav>`` plays ``stream_s`` seconds of audio
(the emulated SD card holds one file) during which the DUT detects the wakeword at ``detect_at``
(seconds into the audio; the board records them in ms, after a start marker), ``m-ready`` when the
file ends; the DUT's ``stop`` raises the second edge; ``print_detections`` lists what was recorded.
"""

from __future__ import annotations

import math
import os
import select
import tempfile
import threading
import time
import tty
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DUT_NAME = "station-emulated-dut"
INTERFACE_NAME = "station emulated interface board"
ENERGY_BAUD = 9600


class ScaledClock:
    """Monotonic seconds that run ``scale`` times faster than the wall clock (1 = real time)."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale)
        self._m0 = time.monotonic()

    def __call__(self) -> float:
        return self._m0 + (time.monotonic() - self._m0) * self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.scale)


@dataclass
class _Schedule:
    """What the DUT does over time: busy intervals and timestamp pulses (rig clock seconds)."""

    busy: list[tuple[float, float]] = field(default_factory=list)
    falls: list[float] = field(default_factory=list)
    streaming: list[list[float]] = field(default_factory=list)  # [start, stop] of each detection run


class _DutLoad:
    """The rig as the fake LPM01A's ``workload``: amps and D7 edges, in seconds since power-on."""

    def __init__(self, rig: TinyRig, board) -> None:
        self.rig, self.board = rig, board
        self.off_a = 3e-9  # leakage into the unpowered DUT

    def current(self, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        at = t + self.board.power_on_at
        amps = np.full(t.shape, self.rig.idle_a)
        with self.rig._lock:
            busy = list(self.rig._schedule.busy)
            streaming = [tuple(x) for x in self.rig._schedule.streaming]
        for a, b in busy:
            if b > at[0] and a < at[-1] + 1:
                amps[(at >= a) & (at < b)] = self.rig.busy_a
        for a, b in streaming:  # the duty-cycled detection loop, at its average current
            if b > at[0] and a < at[-1] + 1:
                amps[(at >= a) & (at < b)] = self.rig.streaming_a
        amps *= 1.0 + self.rig.noise * rng.standard_normal(t.shape)
        return np.maximum(amps, 0.0)

    def edges(self, ta: float, tb: float) -> list[tuple[float, str]]:
        p0 = self.board.power_on_at
        with self.rig._lock:
            falls = list(self.rig._schedule.falls)
        out = []
        for f in falls:
            for t, kind in ((f - p0, "fal"), (f - p0 + self.rig.pulse_s, "ris")):
                if ta <= t < tb:
                    out.append((t, kind))
        return sorted(out)


class TinyRig:
    """The DUT + interface board on a pty (``port``), answering as described in the module doc."""

    def __init__(self, clock: ScaledClock | None = None, inference_s: float = 0.0125, model: str = "kws01",
                 idle_a: float = 1.0e-3, busy_a: float = 9.0e-3, noise: float = 0.01, pulse_s: float = 0.0005,
                 missing_edge_trial: int | None = None, extra_edge_trial: int | None = None,
                 stream_s: float = 1200.0, detect_at: tuple[float, ...] = (), duty_cycle: float = 0.13,
                 wav_file: str = "long_wav.wav") -> None:
        self.clock = clock or ScaledClock(1.0)
        self.inference_s, self.model = inference_s, model
        self.idle_a, self.busy_a, self.noise, self.pulse_s = idle_a, busy_a, noise, pulse_s
        self.missing_edge_trial, self.extra_edge_trial = missing_edge_trial, extra_edge_trial
        self.stream_s, self.detect_at, self.wav_file = float(stream_s), tuple(detect_at), wav_file
        self.streaming_a = idle_a + duty_cycle * (busy_a - idle_a)
        self._detecting_since: float | None = None
        self._recording_since: float | None = None
        self._detections: list[int] = []
        self.dut_baud = 115200  # the interface board talks to the DUT at this speed until told otherwise
        self.received: list[str] = []
        self.infers = 0
        self.trials = 0  # infer commands after a 'db load': the procedure's trials
        self._fresh_input = False
        self._midway: dict[int, list[Callable[[], None]]] = {}
        self._actions: list[tuple[float, Callable[[], None]]] = []  # (due on the rig clock, action)
        self.loaded = b""
        self.answering = True
        self._expect = 0
        self._buffer = bytearray()
        self._schedule = _Schedule()
        self._lock = threading.RLock()
        self._timed: list[tuple[float, bytes]] = []  # (due on the rig clock, bytes to send)
        self._out = bytearray()
        self._inbuf = bytearray()
        self._tmp = tempfile.TemporaryDirectory(prefix="tinyrig-")
        self.port = str(Path(self._tmp.name) / "ttyACM1")
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        Path(self.port).symlink_to(os.ttyname(slave))
        self._closed = False
        self._thread = threading.Thread(target=_serve, args=(weakref.ref(self),), daemon=True, name="tinyrig")
        self._thread.start()

    def load_for(self, board) -> _DutLoad:
        """The workload to give the fake LPM01A that powers this DUT."""
        return _DutLoad(self, board)

    def stop_answering(self) -> None:
        """The DUT hangs: the interface board still passes commands, the DUT says nothing more
        (not even the rest of the answer it was giving)."""
        with self._lock:
            self.answering = False
            self._timed.clear()

    def during_window(self, trial: int, action: Callable[[], None]) -> None:
        """Call ``action`` halfway through the timed window of ``trial`` (on the serving thread)."""
        with self._lock:
            self._midway.setdefault(trial, []).append(action)

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=2)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self._tmp.cleanup()

    def __enter__(self) -> TinyRig:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- serving -------------------------------------------------------------------------------------
    def _step(self) -> None:
        try:
            r, _, _ = select.select([self._master], [], [], 0.002)
        except (OSError, ValueError):
            return
        with self._lock:
            if r:
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    data = b""
                self._inbuf += data
                while b"%" in self._inbuf:
                    cmd, _, rest = bytes(self._inbuf).partition(b"%")
                    self._inbuf = bytearray(rest)
                    self._command(cmd.decode("ascii", errors="replace").strip())
            now = self.clock()
            due = [a for t, a in self._actions if t <= now]
            self._actions = [(t, a) for t, a in self._actions if t > now]
            for action in due:
                action()
            while self._timed and self._timed[0][0] <= now:
                self._out += self._timed.pop(0)[1]
            if self._out:
                try:
                    n = os.write(self._master, bytes(self._out[:4096]))
                    del self._out[:n]
                except OSError:
                    pass

    def _say(self, *lines: str, at: float | None = None) -> None:
        data = b"".join((line + "\r\n").encode() for line in lines)
        if at is None:
            self._out += data
        else:
            self._timed.append((at, data))
            self._timed.sort(key=lambda x: x[0])

    def _command(self, cmd: str) -> None:
        if not cmd:
            return
        self.received.append(cmd)
        word, _, arg = cmd.partition(" ")
        if word == "name":
            self._say(f"m-name-[{INTERFACE_NAME}]", "m-ready")
        elif word == "setbaud":
            self.dut_baud = int(arg) if arg.isdigit() else self.dut_baud
            self._say(f"set baud to: {self.dut_baud}", "m-ready")
        elif word == "record_detections":
            self._recording_since, self._detections = self.clock(), []
            self._say("m-ready")
        elif word == "play":
            self._play(arg.strip())
        elif word == "print_detections":
            self._say("Detection Timestamps (ms)", *(f"{ms}," for ms in self._detections), "m-ready")
        elif word == "dut":
            self._say(f"m-dut-passthrough({arg})", "m-ready")
            if self.answering and self.dut_baud == ENERGY_BAUD:
                self._dut(arg.strip())
            elif self.answering:  # the wrong speed on the DUT link: what comes back is noise
                self._say("[dut]: \x9c\x1e\xf8")
        else:
            self._say(f"m-error-[unknown command {word}]", "m-ready")

    def _dut(self, cmd: str) -> None:
        def dut(*lines: str, at: float | None = None) -> None:
            self._say(*(f"[dut]: {line}" for line in lines), at=at)

        parts = cmd.split()
        if cmd == "name":
            dut(f"m-name-dut-[{DUT_NAME}]", "m-ready")
        elif cmd == "profile":
            dut("m-profile-[ULPMark for tinyML Firmware V0.0.1]", f"m-model-[{self.model}]", "m-ready")
        elif parts[:2] == ["db", "load"] and len(parts) == 3 and parts[2].isdigit():
            self._expect, self._buffer = int(parts[2]), bytearray()
            self._fresh_input = True
            dut(f"m-[Expecting {self._expect} bytes]", "m-ready")
        elif parts[:1] == ["db"] and len(parts) == 2:
            try:
                self._buffer += bytes.fromhex(parts[1])
            except ValueError:
                dut("e-[db: not hex]", "m-ready")
                return
            if self._expect and len(self._buffer) >= self._expect:
                self.loaded, self._expect = bytes(self._buffer[:self._expect]), 0
                dut("m-load-done", "m-ready")
            else:
                dut("m-ready")
        elif cmd == "start":
            now = self.clock()
            if self._detecting_since is None:
                self._detecting_since = now + 0.002
                self._schedule.falls.append(now + 0.002)
                self._schedule.streaming.append([now + 0.002, math.inf])
            dut("m-ready")
        elif cmd == "stop":
            now = self.clock()
            if self._detecting_since is not None:  # a stop while idle raises no edge
                self._detecting_since = None
                self._schedule.falls.append(now + 0.002)
                self._schedule.streaming[-1][1] = now + 0.002
            dut("m-ready")
        elif parts[:1] == ["infer"] and len(parts) in (2, 3) and all(p.isdigit() for p in parts[1:]):
            self._infer(int(parts[1]), int(parts[2]) if len(parts) == 3 else 10, dut)
        else:
            dut(f"e-[Unknown command: {cmd}]", "m-ready")

    def _play(self, name: str) -> None:
        if name and name != self.wav_file:
            self._say(f"m-error-[no file {name} on the SD card]", "m-ready")
            return
        now = self.clock()
        since = self._recording_since if self._recording_since is not None else now

        def detect(at: float) -> None:
            if self._detecting_since is not None and self.answering:
                self._detections.append(int(round((at - since) * 1000)))
        self._actions.append((now + 0.089, lambda: detect(now + 0.089)))  # the board's start marker
        for d in self.detect_at:
            if d < self.stream_s:
                self._actions.append((now + d, lambda at=now + d: detect(at)))
        self._actions.sort(key=lambda x: x[0])
        self._say("m-ready", at=now + self.stream_s)

    def _infer(self, n: int, warmups: int, dut) -> None:
        self.infers += 1
        trial = self.trials if self._fresh_input else None
        if self._fresh_input:
            self.trials += 1
            self._fresh_input = False
        now = self.clock()
        t = now + 0.005
        dut(f"m-warmup-start-{warmups}", at=t)
        warm_end = t + warmups * self.inference_s
        dut("m-warmup-done", f"m-infer-start-{n}", at=warm_end + 0.002)
        t0 = warm_end + 0.004  # the timestamp, then the N timed inferences, then the timestamp
        t1 = t0 + n * self.inference_s
        falls = [t0, t1]
        for action in self._midway.pop(trial, []) if trial is not None else []:
            self._actions.append(((t0 + t1) / 2, action))
        if trial is not None and trial == self.missing_edge_trial:
            falls = [t0]
        elif trial is not None and trial == self.extra_edge_trial:
            falls = [t0, t0 + (t1 - t0) / 2, t1]
        self._schedule.busy.append((t, warm_end))
        self._schedule.busy.append((t0, t1))
        self._schedule.falls.extend(falls)
        scores = np.round(np.random.default_rng(len(self.loaded) + self.infers).dirichlet(np.ones(12)), 3)
        dut("m-infer-done", "m-results-[" + ",".join(f"{x:.3f}" for x in scores) + "]", "m-ready",
            at=t1 + 0.003)


def _serve(ref: weakref.ref) -> None:
    while True:
        rig = ref()
        if rig is None or rig._closed:
            return
        rig._step()
        del rig


def infer_window_s(rig: TinyRig, n: int) -> float:
    """How long ``infer n`` keeps the timestamp window open on the rig (its own clock)."""
    return n * rig.inference_s


__all__ = ["DUT_NAME", "ENERGY_BAUD", "INTERFACE_NAME", "ScaledClock", "TinyRig", "infer_window_s"]
