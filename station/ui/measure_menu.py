"""The window's Measure menu: the guided MLPerf measurement, the MLPerf Tiny energy run and opening
finished results.

Kept out of ``main_window.py``: :func:`install` adds the menu to a main window. The guide
connects its analyzers itself (through the procedure), so it asks the operator to disconnect the
main window's instrument first when one is connected to real hardware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QWidget

from station.core.run_index import station_home
from station.ui import results_tree
from station.ui.guide import GuideWidget
from station.ui.result_view import ResultView


def default_session_dir() -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return station_home() / "sessions" / f"session-{stamp}"


class GuideWindow(QMainWindow):
    """The guide in its own window; Esc or the window's close button closes it (asking first while a
    step runs)."""

    def __init__(self, out_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Guided MLPerf measurement — {out_dir}")
        # Through the station window's inbox and guide lane when there is one.
        self.guide = parent.new_guide(out_dir) if hasattr(parent, "new_guide") else GuideWidget(out_dir)
        self.setCentralWidget(self.guide)
        self.resize(1280, 900)  # the live page's readout, plot and checks side by side

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt override)
        # Esc reaches here from any field that does not use it itself (an open list takes it first).
        if event.key() == Qt.Key.Key_Escape:
            self.close()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if self.guide.proc.busy:
            answer = QMessageBox.question(self, "Stop the measurement?",
                                          "A run is in progress. Closing cancels it (nothing half-done is kept).")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.guide.close_procedure()
        event.accept()


class ResultWindow(QMainWindow):
    def __init__(self, view: ResultView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Result — {view.model.path}")
        self.setCentralWidget(view)
        self.resize(1100, 850)


def install(window: QMainWindow) -> None:
    """Add the Measure menu to ``window`` (a station MainWindow)."""
    menu = window.menuBar().addMenu("&Measure")
    window._measure_windows = []  # keep the windows alive

    def open_guide() -> None:
        link = getattr(window, "link", None)
        if link is not None and link.connected and getattr(link.request, "driver", "sim") != "sim":
            QMessageBox.information(window, "Disconnect first",
                                    "The guided measurement connects the analyzer itself. Disconnect it in "
                                    "this window first.")
            return
        gw = GuideWindow(default_session_dir(), window)
        window._measure_windows.append(gw)
        gw.show()

    def open_result() -> None:
        path = QFileDialog.getExistingDirectory(window, "Open a bundle, a published MLPerf power directory or "
                                                "a results tree")
        if path:
            results_tree.open_path(window, Path(path))

    def open_results_zip() -> None:
        path, _ = QFileDialog.getOpenFileName(window, "Open a zip of published results", "", "Zip files (*.zip)")
        if path:
            results_tree.open_path(window, Path(path))

    def open_tiny() -> None:
        from station.ui.tiny_guide import TinyGuideWindow

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        tw = TinyGuideWindow(station_home() / "tiny" / f"tiny-{stamp}", window)
        window._measure_windows.append(tw)
        tw.show()

    guide = menu.addAction("&Guided MLPerf measurement…", open_guide)
    guide.setShortcut(QKeySequence("Ctrl+G"))
    tiny = menu.addAction("MLPerf &Tiny energy run…", open_tiny)
    result = menu.addAction("Open &result…", open_result)
    result.setShortcut(QKeySequence("Ctrl+Shift+O"))
    window.measure_actions = {"guide": guide, "tiny": tiny, "result": result}
    window.results_zip_action = menu.addAction("Open results &zip…", open_results_zip)


def show_result(window: QMainWindow, path: Path) -> None:
    """Load a result on the window's lane (:meth:`MainWindow.open_result`) and open it in its own
    window when ready."""

    def show(model) -> None:
        rw = ResultWindow(ResultView(model), window)
        window._measure_windows.append(rw)
        rw.show()

    window.open_result(path, show, lambda text: QMessageBox.warning(window, "Cannot open the result", text))
