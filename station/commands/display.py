"""Can the window open here? One clear sentence instead of Qt's abort when it cannot.

Qt's default platform on Linux (xcb) aborts the whole process, with a page of plugin
messages, when there is no display or when one of the X libraries it loads is missing. The
window's entry points ask :func:`display_problem` first; it looks at the environment and
tries to load the libraries (no Qt import, no window), and names the Debian/Ubuntu packages to
install. Headless commands never need any of this.
"""

from __future__ import annotations

import ctypes
import os
import sys

# Shared libraries the Qt xcb platform plugin loads (Qt 6.5+), with the Debian/Ubuntu package of each.
XCB_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-xinerama.so.0", "libxcb-xinerama0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libEGL.so.1", "libegl1"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
)

HEADLESS_HINT = ("everything else works without a display: station run, measure, serve, tiny, training, export, verify; "
                 "or set QT_QPA_PLATFORM=offscreen")


def missing_libraries(libraries=XCB_LIBRARIES) -> list[str]:
    """Debian/Ubuntu packages whose library cannot be loaded here."""
    missing = []
    for soname, package in libraries:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(package)
    return missing


def x_server_answers(display: str) -> bool | None:
    """True/False when libxcb can tell whether the X server at ``display`` accepts us; None when it cannot try."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        xcb.xcb_disconnect(conn)


def display_problem(environ=None, platform: str | None = None, libraries=XCB_LIBRARIES) -> str | None:
    """Why the window cannot open on this machine, in one sentence, or None when it can (as far as we can tell)."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen and not chosen.startswith("xcb"):
        return None  # offscreen, wayland, eglfs, vnc...: the user chose; Qt says what is wrong with it
    if not chosen and env.get("WAYLAND_DISPLAY"):
        return None
    if not env.get("DISPLAY"):
        return ("station: the window needs a display and there is none here (DISPLAY is not set, e.g. over SSH); "
                + HEADLESS_HINT)
    missing = missing_libraries(libraries)
    if missing:
        return ("station: the window cannot open: the X libraries Qt needs are missing; install them with "
                f"'sudo apt-get install {' '.join(missing)}' (Debian/Ubuntu); " + HEADLESS_HINT)
    if x_server_answers(env["DISPLAY"]) is False:
        return (f"station: the window cannot open: no X server accepts a connection at DISPLAY={env['DISPLAY']} "
                "(is it running? over SSH use 'ssh -X'); " + HEADLESS_HINT)
    return None
