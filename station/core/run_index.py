"""The index of runs in progress, so the next start finds runs a crash interrupted.

Each recording leaves a marker file in ``<station home>/active/`` naming its run
directory and process id while it runs, and removes it when it ends cleanly. A marker whose
process is gone belongs to an interrupted run: the next start of the station recovers it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import psutil


def station_home() -> Path:
    """Where the station keeps its own files (``STATION_HOME`` overrides)."""
    env = os.environ.get("STATION_HOME")
    if env:
        return Path(env)
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "station"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "station"
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "station"


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


class RunIndex:
    def __init__(self, home: Path | None = None) -> None:
        self.home = Path(home) if home else station_home()
        self.active = self.home / "active"

    def _marker(self, directory: Path) -> Path:
        key = hashlib.sha256(str(Path(directory).resolve()).encode()).hexdigest()[:16]
        return self.active / f"{key}.json"

    def register(self, directory: Path) -> None:
        try:
            self.active.mkdir(parents=True, exist_ok=True)
            self._marker(directory).write_text(
                json.dumps({"dir": str(Path(directory).resolve()), "pid": os.getpid()}), encoding="utf-8"
            )
        except OSError:
            pass  # the index is a convenience; the run itself does not depend on it

    def unregister(self, directory: Path) -> None:
        try:
            self._marker(directory).unlink()
        except OSError:
            pass

    def interrupted(self) -> list[Path]:
        """Run directories whose recording process is gone without finishing."""
        out = []
        if not self.active.is_dir():
            return out
        for marker in sorted(self.active.glob("*.json")):
            try:
                data = json.loads(marker.read_text(encoding="utf-8"))
                directory, pid = Path(data["dir"]), int(data["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                marker.unlink(missing_ok=True)
                continue
            if pid_alive(pid) and pid != os.getpid():
                continue
            out.append(directory)
        return out
