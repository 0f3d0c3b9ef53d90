"""Station processes the tests start: the repository root they run in, a `station serve` process,
and waiting for a recording process to put samples on disk."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.helpers.mlcommons_client import PowerClient
from tests.helpers.waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
DIRECTOR_RATE = 100  # samples per second of the simulated analyzer behind `Director`
DIRECTOR_SETTLE = "0.3"  # seconds `Director` lets the ranges settle before a phase


class Director:
    """`station serve` on the simulated analyzer (--rate 100) as its own process, on a free port."""

    def __init__(self, out: Path, home: Path, *extra: str,
                 first: tuple[str, ...] = ("--instrument", "sim", "--rate", str(DIRECTOR_RATE))) -> None:
        self.out = out
        env = dict(os.environ, STATION_HOME=str(home), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "station", "serve", *first, "--port", "0", "--host", "127.0.0.1",
             "--settle", DIRECTOR_SETTLE, "--out", str(out), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT)
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.port: int | None = None
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(90):
            self.proc.kill()
            raise AssertionError("station serve did not start:\n" + "".join(self.lines))
        assert self.port is not None, "".join(self.lines)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            m = re.search(r"listening on [\d.]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    def client(self) -> PowerClient:
        return PowerClient("127.0.0.1", self.port)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def log(self) -> str:
        return "".join(self.lines)


def wait_for_bytes_on_disk(data_file: Path, min_bytes: int, proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """Wait until the recording process ``proc`` has more than ``min_bytes`` in ``data_file``.

    Fails at once, with the process's stderr, if the process ends first.
    """
    def grown() -> int:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the process ended (exit {proc.returncode}) before writing {data_file.name}: {err}")
        size = data_file.stat().st_size if data_file.exists() else 0
        return size if size > min_bytes else 0

    return wait_until(grown, timeout, f"more than {min_bytes} bytes in {data_file}")
