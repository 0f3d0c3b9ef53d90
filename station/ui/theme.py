"""Light and dark themes: the Qt palette plus the colours the plot and the alarms use.

Colours were picked for a bench: the power trace and band keep their contrast on both
backgrounds, alarms are white on saturated red (readable from a distance, also for the
most common colour-vision deficiencies, since the banner's text says what is wrong).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    alt_base: str
    text: str
    muted: str
    button: str
    highlight: str
    plot_bg: str
    plot_fg: str
    grid_alpha: float
    mean: str
    band: str  # with alpha
    bad: str  # with alpha: shading of overrange / invalid stretches
    region: str  # with alpha
    cursor: str
    mark: str
    alarm_bg: str
    alarm_fg: str
    warn_bg: str
    warn_fg: str
    ok_fg: str
    info_fg: str


LIGHT = Theme(
    name="light", window="#eef0f3", base="#ffffff", alt_base="#f4f6f8", text="#15191e", muted="#5b6470",
    button="#e3e6ea", highlight="#1f6fd1", plot_bg="#ffffff", plot_fg="#2a2f36", grid_alpha=0.18,
    mean="#0b4f9c", band="#5b9be666", bad="#e0303040", region="#f2a40033", cursor="#6a3d9a",
    mark="#b8860b", alarm_bg="#c62828", alarm_fg="#ffffff", warn_bg="#f0a400", warn_fg="#1a1a1a",
    ok_fg="#1b7f3b", info_fg="#15191e",
)

DARK = Theme(
    name="dark", window="#1d2126", base="#14171b", alt_base="#1a1e23", text="#e7eaee", muted="#9aa4af",
    button="#2b3037", highlight="#3d8bfd", plot_bg="#0f1215", plot_fg="#c9d1d9", grid_alpha=0.22,
    mean="#7cc4ff", band="#3d8bfd55", bad="#ff4d4d48", region="#ffc24724", cursor="#d0a8ff",
    mark="#ffd24d", alarm_bg="#d32f2f", alarm_fg="#ffffff", warn_bg="#ffb300", warn_fg="#111111",
    ok_fg="#5fd38a", info_fg="#e7eaee",
)

THEMES = {"light": LIGHT, "dark": DARK}


def theme_named(name: str | None) -> Theme:
    return THEMES.get(name or "light", LIGHT)


def qcolor(spec: str) -> QColor:
    """``#rrggbb`` or ``#rrggbbaa`` (alpha last, as written in this module)."""
    if len(spec) == 9:
        c = QColor(spec[:7])
        c.setAlpha(int(spec[7:], 16))
        return c
    return QColor(spec)


def palette(theme: Theme) -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.alt_base,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.button,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.Highlight: theme.highlight,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: theme.base,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.PlaceholderText: theme.muted,
        QPalette.ColorRole.Link: theme.highlight,
    }
    for role, spec in roles.items():
        p.setColor(role, qcolor(spec))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, qcolor(theme.muted))
    return p


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Fusion style with the theme's palette: the same look on every platform."""
    app.setStyle("Fusion")
    app.setPalette(palette(theme))
