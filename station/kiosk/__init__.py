"""``station --kiosk``: an unattended demo stand on the simulated analyzer.

Pieces, each in its own module:

- ``config``: the settings file (JSON or TOML), checked completely at start (exit 2 when bad);
- ``supervisor``: ``station --kiosk`` itself; runs the window as a child and restarts it;
- ``cycle``: the demo loop (ranging, range selection, testing, result; rotation of old runs);
- the fullscreen Qt window lives with the rest of the GUI in ``station.ui.kiosk_window``
  (``station --kiosk-window``); its only exit is the PIN.

Everything in this package is Qt-free.
"""

from __future__ import annotations

import sys
from pathlib import Path

from station.kiosk.config import KioskConfigError, load_config


def run_kiosk(config_path: Path | None, window: bool = False, demo: bool = False) -> int:
    """Check the settings, then run the supervisor (or, as its child, the window).

    ``demo`` (``--kiosk-demo``) allows the built-in PIN."""
    try:
        config = load_config(config_path, demo=demo)
    except KioskConfigError as exc:
        print(f"station: kiosk settings: {exc}", file=sys.stderr)
        return 2
    if window:
        from station.ui.kiosk_window import run_window

        return run_window(config)
    from station.kiosk.supervisor import supervise

    return supervise(config_path, config.data_dir, demo=demo)
