"""The kiosk window: fullscreen, large touch targets, plain words, and no way out but the PIN.

What it refuses: Escape, Alt+F4, Ctrl+Q, Ctrl+W, F11 and every other shortcut (an application
event filter eats them), close events from the window manager (ignored, and they open the PIN
pad), minimizing (the window goes back to full screen). Staff open the PIN pad with the small
"Staff" button or any refused exit; the right PIN ends the demo loop (its recordings are
finished) and the application with exit code 0, which tells the supervisor to stop too.

It fills the screen on bare X, under a minimal window manager and under GNOME/KDE: the
fullscreen flag alone is only a request that a window manager may ignore (and without one
nobody acts on it), so the window also takes the screen's geometry, stays on top and takes it
again when the screen changes or something moved it.

The window polls the demo loop (:mod:`station.kiosk.cycle`) on a 10 Hz timer; it holds only
the live store of the phase running now, so memory does not grow with the cycles. After a
cycle it shows the comparison board: the latest result of every profile side by side.

A fleet kiosk (``config.fleet``) has two steps, measuring and result; beside the total power it
shows the per-node table of the window's Nodes dock (:class:`station.ui.node_table.NodeTable`,
fed from the same live store), and its result card says it is fleet telemetry.
"""

from __future__ import annotations

import signal
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from station.kiosk.config import KioskConfig
from station.kiosk.cycle import CycleResult, DemoLoop, LoopStatus
from station.ui import units
from station.ui.node_table import NodeTable, NodeTally, feed_from_store

TICK_MS = 100
PLOT_S = 30.0  # seconds of live power on the plot
PLOT_TICK_S = 10.0  # a labelled tick every this many seconds ("20 s ago"), unlabelled ones in between
REFILL_TICKS = 10  # how often (in ticks) the window checks it still covers the screen
PIN_TRIES = 5  # wrong PINs before the pad locks
PIN_LOCK_S = 30.0
BG, FG, MUTED, ACCENT, TILE = "#0f1720", "#f4f7fb", "#9fb0c3", "#ffb000", "#1d2a38"
_BLOCKED_KEYS = {Qt.Key.Key_Escape, Qt.Key.Key_F4, Qt.Key.Key_F11, Qt.Key.Key_Q, Qt.Key.Key_W,
                 Qt.Key.Key_Tab, Qt.Key.Key_Backtab, Qt.Key.Key_Close, Qt.Key.Key_Exit, Qt.Key.Key_Back}

_MODIFIER_KEYS = {Qt.Key.Key_Alt, Qt.Key.Key_Control, Qt.Key.Key_Shift, Qt.Key.Key_Meta, Qt.Key.Key_AltGr,
                  Qt.Key.Key_Super_L, Qt.Key.Key_Super_R}


def _fmt(x: float | None, unit: str) -> str:
    return "—" if x is None else units.si(x, unit, 3)


def _count(x: float | None) -> str:
    if x is None:
        return "—"
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def time_ticks(span_s: float = PLOT_S, step_s: float = PLOT_TICK_S) -> list[list[tuple[float, str]]]:
    """Ticks of the live plot's time axis: time runs to the right and ends at "now"; the labels
    say how long ago ("20 s ago"), so no negative number appears."""
    n = int(span_s // step_s)
    major = [(-k * step_s, "now" if k == 0 else f"{k * step_s:g} s ago") for k in range(n, -1, -1)]
    minor = [(-(k + 0.5) * step_s, "") for k in range(n)]
    return [major, minor]


class ComparisonBoard(QFrame):
    """The latest result of every profile side by side, in large type."""

    def __init__(self, config: KioskConfig) -> None:
        super().__init__()
        self.config = config
        self.setObjectName("comparison_board")
        self.title = QLabel(config.text("compare_title"))
        self.title.setObjectName("compare_title")
        self.note = QLabel(config.text("compare_note"))
        self.note.setWordWrap(True)
        # One card per profile: {profile name: {part: QLabel}}
        self.cards: dict[str, dict[str, QLabel]] = {}
        self.frames: list[QFrame] = []
        row = QHBoxLayout()
        row.setSpacing(20)
        for p in config.profiles:
            frame = QFrame()
            frame.setObjectName("compare_card")
            frame.setStyleSheet(f"#compare_card {{ background: {TILE}; border-radius: 18px; }}")
            parts = {k: QLabel("") for k in ("title", "detail", "energy_caption", "energy", "per_joule_caption",
                                              "per_joule", "power_caption", "power")}
            parts["title"].setText(p.title)
            parts["detail"].setText(p.detail)
            for k in ("title", "detail", "energy_caption", "per_joule_caption"):
                parts[k].setWordWrap(True)  # four cards must fit a small touch screen too
            parts["energy_caption"].setText(config.text("label_energy_per", work_one=p.work_one))
            parts["per_joule_caption"].setText(config.text("label_per_joule", work=p.work).capitalize())
            parts["power_caption"].setText(config.text("label_average"))
            col = QVBoxLayout(frame)
            for k in ("title", "detail"):
                col.addWidget(parts[k])
            col.addStretch(1)
            for k in ("energy_caption", "energy", "per_joule_caption", "per_joule", "power_caption", "power"):
                col.addWidget(parts[k])
            for k, label in parts.items():
                label.setObjectName(f"compare_{p.name}_{k}")
            row.addWidget(frame, 1)
            self.cards[p.name] = parts
            self.frames.append(frame)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(16)
        v.addWidget(self.title)
        v.addLayout(row, 1)
        v.addWidget(self.note)

    def show_results(self, results: dict[str, CycleResult]) -> None:
        pending = self.config.text("compare_pending")
        for name, parts in self.cards.items():
            r = results.get(name)
            measured = r is not None and r.avg_w is not None
            parts["energy"].setText(_fmt(r.joules_per_item, "J") if measured else pending)
            parts["per_joule"].setText(_count(r.items_per_joule) if measured else "—")
            parts["power"].setText(_fmt(r.avg_w, "W") if measured else "—")

    def set_scale(self, scale: float, px) -> None:
        for frame in self.frames:
            frame.layout().setContentsMargins(int(22 * scale), int(18 * scale), int(22 * scale), int(18 * scale))
        self.title.setStyleSheet(f"font-size: {px(44)}px; font-weight: 700;")
        self.note.setStyleSheet(f"font-size: {px(24)}px; color: {MUTED};")
        for parts in self.cards.values():
            parts["title"].setStyleSheet(f"font-size: {px(40)}px; font-weight: 700; color: {ACCENT};")
            parts["detail"].setStyleSheet(f"font-size: {px(22)}px; color: {MUTED};")
            parts["detail"].setVisible(scale >= 0.6)  # on a small screen the figures need the room
            for k in ("energy_caption", "per_joule_caption", "power_caption"):
                parts[k].setStyleSheet(f"font-size: {px(24)}px; color: {MUTED};")
            parts["energy"].setStyleSheet(f"font-size: {px(64)}px; font-weight: 700;")
            parts["per_joule"].setStyleSheet(f"font-size: {px(48)}px; font-weight: 700;")
            parts["power"].setStyleSheet(f"font-size: {px(36)}px; font-weight: 700;")


class PinPad(QFrame):
    """A full-window overlay with a touch keypad. ``accepted`` is called on the right PIN."""

    def __init__(self, parent: QWidget, config: KioskConfig, accepted) -> None:
        super().__init__(parent)
        self.config = config
        self.accepted = accepted
        self.entry = ""
        self.failures = 0
        self.locked_until = 0.0
        self.last_touch = time.monotonic()
        self.setObjectName("pin_pad")
        self.setStyleSheet(f"#pin_pad {{ background: rgba(5, 10, 16, 235); }} QLabel {{ color: {FG}; }}")
        box = QFrame(self)
        box.setObjectName("pin_box")
        box.setStyleSheet(f"#pin_box {{ background: {TILE}; border-radius: 18px; }}")
        self.box = box
        v = QVBoxLayout(box)
        v.setContentsMargins(32, 24, 32, 24)
        self.title = QLabel(config.text("pin_title"))
        self.title.setWordWrap(True)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.display = QLabel("")
        self.display.setObjectName("pin_display")
        self.display.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel("")
        self.message.setObjectName("pin_message")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setStyleSheet(f"color: {ACCENT};")
        v.addWidget(self.title)
        v.addWidget(self.display)
        v.addWidget(self.message)
        grid = QGridLayout()
        grid.setSpacing(12)
        self.buttons: dict[str, QPushButton] = {}
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", config.text("pin_ok")]
        for i, k in enumerate(keys):
            b = QPushButton(k)
            b.setObjectName(f"pin_{'back' if k == '⌫' else 'ok' if i == 11 else k}")
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(lambda _=False, key=k, idx=i: self._key(key if idx < 11 else "ok"))
            grid.addWidget(b, i // 3, i % 3)
            self.buttons[b.objectName()] = b
        v.addLayout(grid)
        self.cancel_button = QPushButton(config.text("pin_cancel"))
        self.cancel_button.setObjectName("pin_cancel")
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cancel_button.clicked.connect(self.close_pad)
        v.addWidget(self.cancel_button)
        self.hide()

    def set_scale(self, s: float) -> None:
        self.title.setStyleSheet(f"font-size: {int(30 * s)}px; font-weight: 600;")
        self.display.setStyleSheet(f"font-size: {int(64 * s)}px; letter-spacing: {int(12 * s)}px;")
        self.message.setStyleSheet(f"color: {ACCENT}; font-size: {int(26 * s)}px;")
        side = int(max(88, 120 * s))
        for b in [*self.buttons.values(), self.cancel_button]:
            b.setMinimumSize(side, int(side * 0.75))
            b.setStyleSheet(f"QPushButton {{ font-size: {int(40 * s)}px; color: {FG}; background: #2c3e52; "
                            f"border-radius: 12px; }} QPushButton:pressed {{ background: {ACCENT}; }}")
        self.box.setFixedWidth(int(max(420, 620 * s)))

    def open_pad(self) -> None:
        self.entry = ""
        self.last_touch = time.monotonic()
        self._show_entry()
        self.place()
        self.show()
        self.raise_()

    def place(self) -> None:
        """Cover the whole window, keypad in the middle."""
        self.setGeometry(self.parentWidget().rect())
        self.box.adjustSize()
        self.box.move((self.width() - self.box.width()) // 2, (self.height() - self.box.height()) // 2)

    def close_pad(self) -> None:
        self.entry = ""
        self.hide()

    def _show_entry(self) -> None:
        self.display.setText("•" * len(self.entry) if self.entry else " ")

    def _key(self, key: str) -> None:
        self.last_touch = time.monotonic()
        now = time.monotonic()
        if now < self.locked_until:
            self.message.setText(self.config.text("pin_locked", seconds=int(self.locked_until - now) + 1))
            return
        if key == "⌫":
            self.entry = self.entry[:-1]
        elif key == "ok":
            self.submit()
            return
        elif key.isdigit() and len(self.entry) < 12:
            self.entry += key
        self.message.setText("")
        self._show_entry()

    def type_digits(self, digits: str) -> None:
        for d in digits:
            self._key(d)

    def submit(self) -> None:
        if time.monotonic() < self.locked_until:
            return
        if self.entry == self.config.pin:
            self.entry = ""
            self.accepted()
            return
        self.failures += 1
        self.entry = ""
        self._show_entry()
        if self.failures >= PIN_TRIES:
            self.failures = 0
            self.locked_until = time.monotonic() + PIN_LOCK_S
            self.message.setText(self.config.text("pin_locked", seconds=int(PIN_LOCK_S)))
        else:
            self.message.setText(self.config.text("pin_wrong"))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        text = event.text()
        if text.isdigit():
            self._key(text)
        elif event.key() == Qt.Key.Key_Backspace:
            self._key("⌫")
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._key("ok")


class ExitGuard(QObject):
    """Application-wide filter: no shortcut, Escape or quit key reaches anything."""

    def __init__(self, window: KioskWindow) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.Shortcut):
            return True
        if kind == QEvent.Type.KeyPress:
            key = event.key()
            mods = event.modifiers()
            pad = self.window.pin_pad
            if pad.isVisible() and (event.text().isdigit() or key in (Qt.Key.Key_Backspace, Qt.Key.Key_Return,
                                                                       Qt.Key.Key_Enter)):
                if obj is not pad:
                    pad.keyPressEvent(event)
                    return True
                return False
            if key in _MODIFIER_KEYS:
                return True  # holding Ctrl or Alt alone is no attempt to leave yet
            if key in _BLOCKED_KEYS or mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                                               | Qt.KeyboardModifier.MetaModifier):
                self.window.refuse_exit(f"key {event.key()}")
                return True
            return True  # the kiosk takes no typing at all outside the PIN pad
        return False


class KioskWindow(QWidget):
    def __init__(self, config: KioskConfig, loop: DemoLoop | None = None, on_leave=None) -> None:
        """``on_leave()`` runs after the right PIN closed the window (run_window: end the application)."""
        super().__init__()
        self.config = config
        self.on_leave = on_leave
        self.loop = loop if loop is not None else DemoLoop(config)
        self.refused_exits = 0
        self._may_close = False
        self._store = None
        self._tally_store = None
        self._table_refreshed = -1.0
        self._scale = 1.0
        self._watched_screen = None
        self.setObjectName("kiosk_window")
        self.setWindowTitle("Station demo")
        self.setWindowFlag(Qt.WindowType.FramelessWindowHint, True)
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.setStyleSheet(f"#kiosk_window {{ background: {BG}; }} QLabel {{ color: {FG}; }}")
        self.setCursor(Qt.CursorShape.ArrowCursor)

        self.title = QLabel(config.text("title"))
        self.subtitle = QLabel(config.text("subtitle"))
        self.subtitle.setWordWrap(True)
        steps = ("step_measuring", "step_fleet_result") if config.fleet else ("step_ranging", "step_testing",
                                                                              "step_result")
        self.steps = [QLabel(config.text(k)) for k in steps]
        for s in self.steps:
            s.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.profile_title = QLabel("")
        self.profile_detail = QLabel("")
        self.profile_detail.setWordWrap(True)
        self.power_caption = QLabel(config.text("label_power"))
        self.power_value = QLabel("—")
        self.power_value.setObjectName("power_value")
        self.explain = QLabel("")
        self.explain.setObjectName("explain")
        self.explain.setWordWrap(True)
        self.explain.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.explain.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.tiles = {k: (QLabel(""), QLabel("—")) for k in ("average", "energy_per", "per_joule", "ranges")}
        self.glossary = QLabel(config.text("glossary"))
        self.glossary.setWordWrap(True)
        self.note = QLabel(config.text("throughput_note"))
        self.note.setWordWrap(True)
        self.dots = QLabel("")
        self.staff_button = QPushButton(config.text("staff"))
        self.staff_button.setObjectName("staff_button")
        self.staff_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.staff_button.clicked.connect(self.open_pin_pad)

        pg.setConfigOptions(antialias=False)
        self.plot = pg.PlotWidget(background=BG)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.getPlotItem().setLabel("left", "power", units="W")
        time_axis = self.plot.getPlotItem().getAxis("bottom")
        time_axis.setTicks(time_ticks())
        time_axis.setStyle(hideOverlappingLabels=40)  # "now" sits at the right end: let it show whole
        self.curve = self.plot.plot([], [], pen=pg.mkPen(ACCENT, width=3))

        root = QVBoxLayout(self)
        # The screen's size wins over the layout's minimum: on a small screen the content is
        # squeezed rather than the window sticking out past the screen.
        root.setSizeConstraint(QVBoxLayout.SizeConstraint.SetNoConstraint)
        root.setContentsMargins(36, 24, 36, 18)
        root.setSpacing(14)
        root.addWidget(self.title)
        root.addWidget(self.subtitle)
        steps = QHBoxLayout()
        for s in self.steps:
            steps.addWidget(s, 1)
        root.addLayout(steps)
        root.addWidget(self.progress)
        body = QHBoxLayout()
        body.setSpacing(28)
        left = QVBoxLayout()
        left.addWidget(self.profile_title)
        left.addWidget(self.profile_detail)
        power = QHBoxLayout()
        power.addWidget(self.power_caption)
        power.addStretch(1)
        power.addWidget(self.power_value)
        left.addLayout(power)
        left.addWidget(self.plot, 1)
        body.addLayout(left, 11)
        right = QVBoxLayout()
        right.addWidget(self.explain, 0 if config.fleet else 1)
        self.node_table: NodeTable | None = None  # a fleet's nodes, as in the window's Nodes dock
        self.tally: NodeTally | None = None
        if config.fleet:
            self.node_table = NodeTable()
            self.node_table.setObjectName("kiosk_nodes")
            right.addWidget(self.node_table, 1)
        tiles = QGridLayout()
        tiles.setSpacing(12)
        # A fleet shows its energy and how many nodes report in one row: the average is the big figure
        # already, the source is in the subtitle, and the node table needs the height.
        shown = ("energy_per", "per_joule") if config.fleet else tuple(self.tiles)
        for i, key in enumerate(shown):
            caption, value = self.tiles[key]
            frame = QFrame()
            frame.setObjectName("tile")
            frame.setStyleSheet(f"#tile {{ background: {TILE}; border-radius: 14px; }}")
            fl = QVBoxLayout(frame)
            fl.addWidget(caption)
            fl.addWidget(value)
            tiles.addWidget(frame, *((0, i) if config.fleet else (i // 2, i % 2)))
        right.addLayout(tiles)
        body.addLayout(right, 9)
        measure_page = QWidget()
        measure_page.setLayout(body)
        self.board = ComparisonBoard(config)
        self.pages = QStackedWidget()
        self.pages.addWidget(measure_page)
        self.pages.addWidget(self.board)
        root.addWidget(self.pages, 1)
        bottom = QHBoxLayout()
        text = QVBoxLayout()
        text.addWidget(self.glossary)
        text.addWidget(self.note)
        bottom.addLayout(text, 1)
        bottom.addWidget(self.dots)
        bottom.addWidget(self.staff_button, 0, Qt.AlignmentFlag.AlignBottom)
        root.addLayout(bottom)

        self.pin_pad = PinPad(self, config, self.leave)
        self.guard = ExitGuard(self)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.guard)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(TICK_MS)
        self.ticks = 0
        self._apply_scale()

    # -- exits ----------------------------------------------------------------------------------------
    def refuse_exit(self, how: str) -> None:
        self.refused_exits += 1
        if not self.pin_pad.isVisible():
            self.open_pin_pad()

    def open_pin_pad(self) -> None:
        self.pin_pad.open_pad()

    def leave(self) -> None:
        """The right PIN: finish the demo loop, close, and tell ``on_leave``."""
        self.pin_pad.close_pad()
        self.timer.stop()
        self.loop.stop()
        self._may_close = True
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.guard)
        self.close()
        if self.on_leave is not None:
            self.on_leave()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self._may_close:
            event.accept()
            return
        event.ignore()
        self.refuse_exit("close")

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.WindowStateChange and self.isMinimized() and not self._may_close:
            QTimer.singleShot(0, self._restore)
        super().changeEvent(event)

    def _restore(self) -> None:
        self.fill_screen() if self.config.fullscreen else self.showNormal()

    def fill_screen(self) -> None:
        """Cover the whole screen: its geometry, then the fullscreen state, then on top."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            self.showFullScreen()
            return
        if self._watched_screen is not screen:
            if self._watched_screen is not None:
                self._watched_screen.geometryChanged.disconnect(self._screen_changed)
            screen.geometryChanged.connect(self._screen_changed)
            self._watched_screen = screen
        self.setGeometry(screen.geometry())
        self.showFullScreen()
        self.raise_()
        self.activateWindow()

    def _screen_changed(self, *_args) -> None:
        if self.config.fullscreen and not self._may_close:
            self.fill_screen()

    def covers_screen(self) -> bool:
        screen = self.screen()
        return screen is not None and self.geometry() == screen.geometry()

    # -- layout -----------------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._apply_scale()
        if self.pin_pad.isVisible():
            self.pin_pad.place()

    def _apply_scale(self) -> None:
        s = max(0.4, min(self.width() / 1920, self.height() / 1080))
        self._scale = s

        def px(n: float) -> int:
            return max(12, int(n * s))

        self.title.setStyleSheet(f"font-size: {px(60)}px; font-weight: 700;")
        self.subtitle.setStyleSheet(f"font-size: {px(26)}px; color: {MUTED};")
        self.profile_title.setStyleSheet(f"font-size: {px(50)}px; font-weight: 700; color: {ACCENT};")
        self.profile_detail.setStyleSheet(f"font-size: {px(26)}px; color: {MUTED};")
        self.power_caption.setStyleSheet(f"font-size: {px(32)}px; color: {MUTED};")
        self.power_value.setStyleSheet(f"font-size: {px(96)}px; font-weight: 700;")
        self.explain.setStyleSheet(f"font-size: {px(34)}px; line-height: 130%;")
        for caption, value in self.tiles.values():
            caption.setStyleSheet(f"font-size: {px(24)}px; color: {MUTED};")
            value.setStyleSheet(f"font-size: {px(46)}px; font-weight: 700;")
        self.glossary.setStyleSheet(f"font-size: {px(22)}px; color: {MUTED};")
        self.note.setStyleSheet(f"font-size: {px(18)}px; color: {MUTED};")
        self.dots.setStyleSheet(f"font-size: {px(40)}px; color: {ACCENT};")
        if self.node_table is not None:
            # The table's summary turns red with a stale node (its own style sheet): the size goes by font.
            font = self.node_table.summary.font()
            font.setPixelSize(px(24))
            self.node_table.summary.setFont(font)
            self.explain.setStyleSheet(f"font-size: {px(26)}px; line-height: 130%;")
            self.node_table.table.setStyleSheet(
                f"QTableView {{ font-size: {px(20)}px; color: {FG}; background: {TILE}; "
                f"alternate-background-color: #243447; gridline-color: {BG}; border: none; }} "
                f"QHeaderView::section {{ font-size: {px(18)}px; color: {MUTED}; background: {BG}; border: none; "
                f"padding: {int(6 * s)}px; }} QTableCornerButton::section {{ background: {BG}; border: none; }} "
                f"QHeaderView {{ background: {BG}; }} QScrollBar {{ background: {BG}; width: {px(14)}px; }} "
                f"QScrollBar::handle {{ background: #3a4d63; border-radius: 4px; min-height: 24px; }}")
        self.staff_button.setMinimumSize(max(96, int(150 * s)), max(64, int(80 * s)))
        self.staff_button.setStyleSheet(f"QPushButton {{ font-size: {px(24)}px; color: {MUTED}; background: {TILE}; "
                                        f"border-radius: 12px; }}")
        self.progress.setFixedHeight(max(8, int(14 * s)))
        self.progress.setStyleSheet(f"QProgressBar {{ background: {TILE}; border: none; border-radius: 6px; }} "
                                    f"QProgressBar::chunk {{ background: {ACCENT}; border-radius: 6px; }}")
        font = self.plot.getPlotItem().getAxis("bottom").label.font()
        font.setPixelSize(px(22))
        for name in ("bottom", "left"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setTickFont(font)
            axis.setTextPen(pg.mkPen(MUTED))
            axis.label.setFont(font)
        # Room for the tick labels below the ticks (the axis has no title line to make room).
        self.plot.getPlotItem().getAxis("bottom").setHeight(int(px(22) * 2.2))
        self.pin_pad.set_scale(s)
        self.board.set_scale(s, px)
        self._style_steps(self._phase_index(self.loop.status().phase))

    def _phase_index(self, phase: str) -> int:
        if self.config.fleet:
            return {"measuring": 0, "result": 1}.get(phase, -1)
        return {"ranging": 0, "testing": 1, "result": 2, "compare": 2}.get(phase, -1)

    def _style_steps(self, active: int) -> None:
        s = self._scale
        for i, label in enumerate(self.steps):
            if i == active:
                css = f"background: {ACCENT}; color: {BG}; font-weight: 700;"
            else:
                css = f"background: {TILE}; color: {MUTED};"
            label.setStyleSheet(f"{css} font-size: {max(14, int(34 * s))}px; border-radius: 12px; "
                                f"padding: {int(10 * s)}px;")

    # -- the timer -------------------------------------------------------------------------------------
    def tick(self) -> None:
        self.ticks += 1
        if self.pin_pad.isVisible() and time.monotonic() - self.pin_pad.last_touch > self.config.screen_timeout_s:
            self.pin_pad.close_pad()
        if (self.config.fullscreen and self.ticks % REFILL_TICKS == 0 and self.isVisible() and not self._may_close
                and not self.isMinimized() and not self.covers_screen()):
            self.fill_screen()  # a window manager or a screen change moved or shrank it
        st = self.loop.status()
        self._show_status(st)

    def _show_status(self, st: LoopStatus) -> None:
        c = self.config
        p = st.profile
        self._style_steps(self._phase_index(st.phase))
        comparing = st.phase == "compare"
        self.pages.setCurrentWidget(self.board if comparing else self.pages.widget(0))
        if comparing:
            self.board.show_results(st.results)
        # The board brings its own note; the glossary would only take the room its cards need.
        self.glossary.setVisible(not comparing)
        self.note.setVisible(not comparing)
        if st.phase_s > 0:
            frac = min(1.0, (time.monotonic() - st.phase_started) / st.phase_s)
            self.progress.setValue(int(1000 * frac))
        if p is not None:
            self.profile_title.setText(p.title)
            self.profile_detail.setText(p.detail)
        names = [q.name for q in c.profiles]
        current = names.index(p.name) if p is not None and p.name in names else -1
        self.dots.setText(" ".join("●" if i == current else "○" for i in range(len(names))))
        if st.store is not self._store:
            self._store = st.store
            if st.store is None:
                self.curve.setData([], [])
        if st.phase == "result" and st.result is not None:
            self.power_caption.setText(c.text("label_average"))
            self.power_value.setText(_fmt(st.result.avg_w, "W"))
        else:
            self.power_caption.setText(c.text("label_power"))
        self._draw_live(show_value=st.phase != "result")
        if c.fleet:
            self._show_fleet(st)
            return
        result = st.result if st.phase == "result" else (st.results.get(p.name) if p is not None else None)
        self._show_result(result, p)
        if st.error:
            self.explain.setText(c.text("error", message=st.error))
        elif p is None or st.phase == "waiting":
            self.explain.setText(c.text("explain_waiting"))
        elif st.phase == "ranging":
            self.explain.setText(c.text("explain_ranging", title=p.title))
        elif st.phase == "testing":
            v, a = st.ranges or (None, None)
            self.explain.setText(c.text("explain_testing", title=p.title, v_range=units.range_label(v, "V"),
                                        a_range=units.range_label(a, "A")))
        elif st.phase == "result" and st.result is not None and st.result.avg_w is None:
            self.explain.setText(c.text("explain_no_window", title=p.title))
        elif st.phase == "result" and st.result is not None:
            r = st.result
            self.explain.setText(c.text(
                "explain_result", title=p.title, avg_power=_fmt(r.avg_w, "W"),
                throughput=_count(p.throughput_per_s), work=p.work,
                energy_per=_fmt(r.joules_per_item, "J"), per_joule=_count(r.items_per_joule)))
        tile = self.tiles["ranges"]
        tile[0].setText(c.text("label_ranges"))
        if st.phase == "ranging":
            tile[1].setText(c.text("auto_ranges"))
        elif st.ranges is not None:
            tile[1].setText(f"{units.range_label(st.ranges[0], 'V')} · {units.range_label(st.ranges[1], 'A')}")

    def _show_fleet(self, st: LoopStatus) -> None:
        """The node table, the explanation and the tiles of a fleet kiosk: power, energy, nodes, source."""
        c = self.config
        self.note.setVisible(False)
        self.glossary.setVisible(False)  # inferences and J per answer: not what a fleet shows
        self.dots.setText("")
        if st.store is not None and st.channels and (self.tally is None or self.tally.names != st.channels
                                                     or self._tally_store is not st.store):
            self.tally = NodeTally(st.channels, st.store.interval_s or 1.0 / c.rate_hz, st.stale_after_s)
            self._tally_store = st.store
        if self.tally is not None and st.store is not None and self.node_table is not None:
            now = time.monotonic()
            if now - self._table_refreshed >= 0.5:
                self._table_refreshed = now
                feed_from_store(self.tally, st.store)
                self.node_table.show_rows(self.tally.rows())
        r = st.result if st.phase == "result" else st.results.get("fleet")
        if st.error:
            self.explain.setText(c.text("error", message=st.error))
        elif st.phase == "measuring":
            self.explain.setText(c.text("explain_fleet"))
        elif st.phase == "result" and r is not None:
            names = short_names(r.stopped, st.channels)
            gaps = c.text("fleet_gaps", count=len(r.stopped), names=", ".join(names)) if r.stopped else ""
            self.explain.setText(c.text("explain_fleet_result", duration=f"{r.window_s:.0f} s", nodes=r.nodes,
                                        avg_power=_fmt(r.avg_w, "W"), energy=_fmt(r.energy_j, "J"), gaps=gaps))
        else:
            self.explain.setText(c.text("explain_waiting"))
        tiles = self.tiles
        tiles["average"][0].setText(c.text("label_average"))
        tiles["average"][1].setText(_fmt(r.avg_w if r else None, "W"))
        tiles["energy_per"][0].setText(c.text("label_energy"))
        tiles["energy_per"][1].setText(_fmt(r.energy_j if r else None, "J"))
        tiles["per_joule"][0].setText(c.text("label_nodes"))
        tiles["per_joule"][1].setText(f"{r.nodes_reporting} / {r.nodes}" if r else "—")
        tiles["ranges"][0].setText(c.text("label_source"))
        tiles["ranges"][1].setText(c.text("fleet_source"))

    def _show_result(self, r: CycleResult | None, p) -> None:
        work = p.work if p is not None else "inferences"
        work_one = p.work_one if p is not None else "inference"
        self.tiles["average"][0].setText(self.config.text("label_average"))
        self.tiles["energy_per"][0].setText(self.config.text("label_energy_per", work_one=work_one))
        self.tiles["per_joule"][0].setText(self.config.text("label_per_joule", work=work).capitalize())
        self.tiles["average"][1].setText(_fmt(r.avg_w if r else None, "W"))
        self.tiles["energy_per"][1].setText(_fmt(r.joules_per_item if r else None, "J"))
        self.tiles["per_joule"][1].setText(_count(r.items_per_joule if r else None))

    def _draw_live(self, show_value: bool = True) -> None:
        store = self._store
        if store is None or store.span() is None:
            if show_value:
                self.power_value.setText("—")
            return
        interval = store.interval_s or 0.02
        recs = store.latest(int(PLOT_S / interval))
        if len(recs) == 0:
            return
        t = recs["t"] - recs["t"][-1]
        w = np.where(np.isfinite(recs["w"]), recs["w"], np.nan)
        self.curve.setData(t, w, connect="finite")
        self.plot.setXRange(-PLOT_S, PLOT_S * 0.02, padding=0)
        top = float(np.nanmax(w)) if np.isfinite(w).any() else 0.0
        # From zero up: a visitor compares heights, and noise should look as small as it is.
        self.plot.setYRange(0.0, top * 1.15 if top > 0 else 1.0, padding=0)
        if show_value:
            tail = w[-max(1, int(0.5 / interval)):]
            tail = tail[np.isfinite(tail)]
            self.power_value.setText(_fmt(float(np.mean(tail)) if len(tail) else None, "W"))


def short_names(series: tuple[str, ...], channels: list[str] | None) -> list[str]:
    """The stopped series as the node table labels them (``n3``), else whole."""
    from station.ui.node_table import short_labels

    labels = dict(zip(channels or [], short_labels(list(channels or [])), strict=True))
    return [labels.get(name, name) for name in series]


def run_window(config: KioskConfig) -> int:
    """The kiosk window until the PIN ends it (0)."""
    from station.ui.app import make_application

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C on a terminal is no way out either
    app = make_application(["station-kiosk"])
    app.setQuitOnLastWindowClosed(False)
    window = KioskWindow(config, on_leave=lambda: app.exit(0))
    window.loop.start()
    if config.fullscreen:
        window.fill_screen()
    else:
        window.resize(1920, 1080)
        window.show()
    code = int(app.exec())
    window.loop.stop()
    return code
