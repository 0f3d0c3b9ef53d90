"""What every screenshot script shares: its command line, an offscreen Qt with a scratch
station home, pumping the event loop until something shows, and saving a window as PNG."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def parser(description: str | None, width: int, height: int) -> argparse.ArgumentParser:
    """``OUT [--width W] [--height H]``; a script adds its own options."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("out", type=Path, help="directory for the PNG files")
    ap.add_argument("--width", type=int, default=width)
    ap.add_argument("--height", type=int, default=height)
    return ap


def offscreen(home_prefix: str | None = "station-shots-") -> Path | None:
    """Qt offscreen unless a platform is set; with ``home_prefix``, a scratch ``STATION_HOME``
    unless one is set (the screenshots must not touch the user's settings and sessions)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if home_prefix is None:
        return None
    return Path(os.environ.setdefault("STATION_HOME", tempfile.mkdtemp(prefix=home_prefix)))


def pump(app, seconds: float, until: Callable[[], bool] | None = None) -> bool:
    """Run the event loop for ``seconds``, or until ``until()`` holds; whether it held (True
    without ``until``). Widgets replaced with ``deleteLater()`` go as they would in the
    application's own loop, which ``processEvents()`` alone does not do."""
    from PySide6.QtCore import QCoreApplication, QEvent

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        if until is not None and until():
            return True
        time.sleep(0.005)
    return until is None


def save(app, widget, path: Path, settle_s: float = 0.4) -> Path:
    """Let the widget settle, then write it as PNG (strongest compression) and print its size."""
    pump(app, settle_s)
    widget.grab().save(str(path), "PNG", 0)
    print(path, path.stat().st_size)
    return path
