"""The kiosk's supervisor: runs the kiosk window as a child process and restarts it when it dies.

``station --kiosk`` is this supervisor. It starts ``station --kiosk-window`` (same executable,
frozen or not) and waits. The child ending with 0 means staff left through the PIN pad: the
supervisor ends too. Exit code 2 means the settings are unusable: restarting cannot help, so
the supervisor ends with 2. Anything else (a crash, ``kill -9``, the OOM killer) is logged and
the window is started again:

- a window that ran at least ``HEALTHY_AFTER_S`` before it died had been working: it is
  restarted at once (a demo stand should not stay dark) and the backoff starts over;
- a window that died sooner failed to start (no display, missing X libraries, a broken
  install). Restarting it once a second would fill the log and burn the CPU for nothing, so
  the delays grow 1, 2, 4 ... up to ``BACKOFF_MAX_S``; after ``MAX_START_FAILURES`` failed
  starts in a row the supervisor gives up with a message saying why and exit code 1.

The child's error output passes through to the supervisor's, and its last lines go into the
message when the supervisor gives up. SIGTERM (system shutdown) stops the child and the
supervisor.

The log, ``<data_dir>/kiosk.log``, is bounded: at ``LOG_MAX_BYTES`` it moves to ``kiosk.log.1``.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

RESTART_DELAY_S = 1.0  # the first delay after a failed start; doubles with every further one
BACKOFF_MAX_S = 60.0
HEALTHY_AFTER_S = 20.0  # a window that lived this long started fine (start-up takes a few seconds)
MAX_START_FAILURES = 5
LOG_MAX_BYTES = 1 << 20
EXIT_GAVE_UP = 1
STDERR_TAIL_LINES = 5


def window_command(config_path: Path | None, demo: bool = False) -> list[str]:
    """The command line of the kiosk window: the same program, frozen or from source."""
    if getattr(sys, "frozen", False):
        cmd = [sys.executable, "--kiosk-window"]
    else:
        cmd = [sys.executable, "-m", "station", "--kiosk-window"]
    if config_path is not None:
        cmd += ["--kiosk-config", str(Path(config_path).resolve())]
    if demo:
        cmd.append("--kiosk-demo")
    return cmd


def backoff_delay(failures: int, base_s: float = RESTART_DELAY_S, max_s: float = BACKOFF_MAX_S) -> float:
    """Seconds to wait after the ``failures``-th failed start in a row: base, 2 base, 4 base ... max."""
    if failures <= 0:
        return 0.0
    return min(max_s, base_s * 2.0 ** min(failures - 1, 62))


class KioskLog:
    """Append-only text log with one rotation step, so it never grows past two files of LOG_MAX_BYTES."""

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes

    def write(self, text: str) -> None:
        line = f"{datetime.now(UTC).isoformat(timespec='seconds')} {text}\n"
        print(f"station kiosk: {text}", file=sys.stderr, flush=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
        except OSError:
            pass  # a full disk must not stop the demo; stderr still has it


class _StderrTail:
    """Copies a child's error output to ours as it comes and keeps its last lines."""

    def __init__(self, stream) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._thread = threading.Thread(target=self._pump, args=(stream,), name="kiosk-stderr", daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                text = raw.decode("utf-8", "replace").rstrip()
                try:
                    sys.stderr.write(text + "\n")
                    sys.stderr.flush()
                except (OSError, ValueError):
                    pass  # our stderr is gone (closed terminal): keep draining the pipe
                if text.strip():
                    self.lines.append(text.strip())

    def finish(self) -> list[str]:
        self._thread.join(5.0)
        return list(self.lines)


def _display_hint() -> str:
    if sys.platform.startswith("linux") and not any(
            os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return " There is no display: DISPLAY and WAYLAND_DISPLAY are not set (start the kiosk from the " \
               "graphical session, or set DISPLAY=:0)."
    return ""


def supervise(config_path: Path | None, data_dir: Path, restart_delay_s: float = RESTART_DELAY_S, *,
              demo: bool = False, command: Sequence[str] | None = None, backoff_max_s: float = BACKOFF_MAX_S,
              healthy_after_s: float = HEALTHY_AFTER_S, max_start_failures: int = MAX_START_FAILURES) -> int:
    """Run the window until it exits through the PIN (0), the settings are bad (2) or it keeps
    failing to start (1). ``command`` replaces the window's command line (tests)."""
    log = KioskLog(Path(data_dir) / "kiosk.log")
    stop = threading.Event()
    child: subprocess.Popen | None = None
    cmd = list(command) if command is not None else window_command(config_path, demo)

    def on_signal(signum, frame):
        stop.set()
        if child is not None and child.poll() is None:
            child.terminate()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    starts = 0
    failures = 0  # failed starts in a row
    try:
        while not stop.is_set():
            started = time.monotonic()
            child = subprocess.Popen(cmd, stderr=subprocess.PIPE)
            tail = _StderrTail(child.stderr)
            starts += 1
            log.write(f"window started (pid {child.pid}, start {starts})")
            code = child.wait()
            lived_s = time.monotonic() - started
            last_words = tail.finish()
            if stop.is_set():
                log.write("stopped by a signal")
                return 0
            if code == 0:
                log.write("left through the PIN pad")
                return 0
            if code == 2:
                log.write("the window refused its settings (exit 2); not restarting")
                return 2
            if lived_s >= healthy_after_s:
                failures = 0
                delay = 0.0
                log.write(f"window ended with code {code} after {lived_s:.0f} s; restarting now")
            else:
                failures += 1
                if failures >= max_start_failures:
                    said = f" Its last words: {' | '.join(last_words[-3:]).rstrip('.')}." if last_words else ""
                    log.write(f"giving up: the window failed to start {failures} times in a row (each ended "
                              f"within {healthy_after_s:g} s, last with code {code}).{_display_hint()}{said} "
                              f"Fix that and start the kiosk again.")
                    return EXIT_GAVE_UP
                delay = backoff_delay(failures, restart_delay_s, backoff_max_s)
                log.write(f"window ended with code {code} after {lived_s:.1f} s (failed start {failures} of "
                          f"{max_start_failures}); restarting in {delay:g} s")
            t_end = time.monotonic() + delay
            while not stop.is_set() and time.monotonic() < t_end:
                stop.wait(min(0.05, max(0.0, t_end - time.monotonic())))
        return 0
    finally:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        for s, h in previous.items():
            signal.signal(s, h)
