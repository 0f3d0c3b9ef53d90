"""A workload command the station starts, times and watches, without blocking its caller.

The command runs in a shell in its own process group (so cancel stops everything it started),
in the directory the station was started from (or the one given), as the same command typed
there would; its output (stdout and stderr) is captured to a file in the run directory and these
are in its environment: ``STATION_LOADGEN_DIR`` (where LoadGen should write its logs), ``STATION_RUN``
(``ranging`` or ``testing_<n>``), ``STATION_SESSION_DIR``. The begin and end times are the
station's UTC clock right before the start and right when the process is seen to exit (a
waiting thread, so the end is not late by a polling interval).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

OUTPUT_FILE = "workload-output.txt"


class WorkloadError(Exception):
    """The command could not be started."""


class WorkloadProcess:
    """One run of the workload command; ``cwd`` defaults to the station's working directory."""

    def __init__(self, command: str, run_dir: Path, env: dict[str, str] | None = None,
                 cwd: str | Path | None = None) -> None:
        self.command = command
        self.output_path = Path(run_dir) / OUTPUT_FILE
        self.cwd = Path(cwd or os.getcwd()).resolve()
        self.env = {**os.environ, **(env or {})}
        self.begin: float | None = None
        self.end: float | None = None
        self.returncode: int | None = None
        self.cancelled = False
        self._proc: subprocess.Popen | None = None
        self._done = threading.Event()

    def start(self) -> None:
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.output_path, "wb")
        try:
            self.begin = time.time()
            self._proc = subprocess.Popen(
                self.command, shell=True, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=self.env, cwd=str(self.cwd), start_new_session=True)
        except OSError as exc:
            out.close()
            raise WorkloadError(f"cannot start the workload {self.command!r} in {self.cwd}: "
                                f"{exc.strerror or exc}") from exc
        threading.Thread(target=self._wait, args=(out,), name="workload-wait", daemon=True).start()

    def _wait(self, out) -> None:
        try:
            self.returncode = self._proc.wait()
            self.end = time.time()
        finally:
            out.close()
            self._done.set()

    @property
    def running(self) -> bool:
        return self._proc is not None and not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def terminate(self, grace_s: float = 3.0) -> None:
        """Stop the command and everything it started (TERM, then KILL after ``grace_s``)."""
        if self._proc is None or self._done.is_set():
            return
        self.cancelled = True
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self._proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            if self._done.wait(wait):
                return

    def failure(self) -> str | None:
        """Why the workload failed and where its output is, in the operator's words; None when it
        ran to a clean end. The caller says how to go on."""
        if self.returncode is None:
            return None
        if self.cancelled:
            return "the workload was stopped because the step was cancelled"
        if self.returncode == 0:
            return None
        how = (f"was killed by signal {-self.returncode}" if self.returncode < 0
               else f"exited with status {self.returncode}")
        return (f"the workload command {how}, so the run cannot count. Its output (stdout and stderr) is in "
                f"{self.output_path}; it ran in {self.cwd}")

    def to_dict(self) -> dict:
        return {"command": self.command, "cwd": str(self.cwd), "begin": self.begin, "end": self.end,
                "exit_status": self.returncode, "cancelled": self.cancelled, "output": OUTPUT_FILE}
