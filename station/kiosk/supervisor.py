"""The kiosk's supervisor: runs the kiosk window as a child process and restarts it when it dies.

``station --kiosk`` is this supervisor. It starts ``station --kiosk-window`` (same executable,
frozen or not) and waits. The child ending with 0 means staff left through the PIN pad: the
supervisor ends too. Exit code 2 means the settings are unusable: restarting cannot help, so
the supervisor ends with 2. Anything else (a crash, ``kill -9``, the OOM killer) is logged and
the window is started again after ``RESTART_DELAY_S`` (well within the 5 s a demo stand may
stay dark). SIGTERM (system shutdown) stops the child and the supervisor.

The log, ``<data_dir>/kiosk.log``, is bounded: at ``LOG_MAX_BYTES`` it moves to ``kiosk.log.1``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

RESTART_DELAY_S = 1.0
LOG_MAX_BYTES = 1 << 20


def window_command(config_path: Path | None) -> list[str]:
    """The command line of the kiosk window: the same program, frozen or from source."""
    if getattr(sys, "frozen", False):
        cmd = [sys.executable, "--kiosk-window"]
    else:
        cmd = [sys.executable, "-m", "station", "--kiosk-window"]
    if config_path is not None:
        cmd += ["--kiosk-config", str(Path(config_path).resolve())]
    return cmd


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


def supervise(config_path: Path | None, data_dir: Path, restart_delay_s: float = RESTART_DELAY_S) -> int:
    """Run the window until it exits through the PIN (0) or the settings are bad (2)."""
    log = KioskLog(Path(data_dir) / "kiosk.log")
    stop = threading.Event()
    child: subprocess.Popen | None = None

    def on_signal(signum, frame):
        stop.set()
        if child is not None and child.poll() is None:
            child.terminate()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    starts = 0
    try:
        while not stop.is_set():
            child = subprocess.Popen(window_command(config_path))
            starts += 1
            log.write(f"window started (pid {child.pid}, start {starts})")
            code = child.wait()
            if stop.is_set():
                log.write("stopped by a signal")
                return 0
            if code == 0:
                log.write("left through the PIN pad")
                return 0
            if code == 2:
                log.write("the window refused its settings (exit 2); not restarting")
                return 2
            log.write(f"window ended with code {code}; restarting in {restart_delay_s:g} s")
            t_end = time.monotonic() + restart_delay_s
            while not stop.is_set() and time.monotonic() < t_end:
                stop.wait(0.05)
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
