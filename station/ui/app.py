"""Start the station window: ``station`` (empty) or ``station --demo`` (simulated analyzer, streaming)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

import station
from station.ui import measure_menu, node_table, results_tree
from station.ui.instrument_link import InstrumentRequest
from station.ui.main_window import MainWindow, default_settings

ORGANIZATION = "station"
APPLICATION = "station"


def make_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication, created once, high-DPI safe (fractional scale factors pass through)."""
    app = QApplication.instance()
    if app is not None:
        return app
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationVersion(station.__version__)
    app.setApplicationDisplayName("Station")
    return app


def demo_request(window: MainWindow) -> InstrumentRequest:
    """The simulated analyzer with the settings in the panel (defaults: datacenter profile, 1 kHz)."""
    window.panel.select_driver("sim")
    return window.panel.request()


def create_window(demo: bool = False, settings: QSettings | None = None) -> MainWindow:
    """The main window; with ``demo`` it connects the simulated analyzer at once and streams."""
    window = MainWindow(settings if settings is not None else default_settings())
    measure_menu.install(window)
    node_table.install(window)
    if demo:
        window.connect_instrument(demo_request(window))
    return window


def run_app(demo: bool = False, open_path: Path | None = None) -> int:
    """Run the window until it is closed (first opening ``open_path``: a result or a results tree); returns
    the exit code."""
    app = make_application()
    window = create_window(demo)
    window.show()
    if open_path is not None:
        results_tree.open_path(window, Path(open_path))
    # Ctrl+C in the terminal closes the window the normal way (the recording is finished first);
    # the window's frame timer runs Python often enough for the handler to be called.
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    try:
        return int(app.exec())
    finally:
        signal.signal(signal.SIGINT, previous)
