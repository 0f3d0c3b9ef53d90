"""Errors of the MLPerf file readers: each names the file and, where it has one, the line."""

from __future__ import annotations


class FormatError(ValueError):
    """A file is not what the MLPerf Power tooling writes. ``str()`` reads ``<path>:<line>: <what>``."""

    def __init__(self, message: str, path: object = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.message = message
        where = self.path or "<input>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {message}")


def read_text(path, what: str) -> str:
    """A text file as the MLPerf tools write it: UTF-8 (a BOM is dropped), any line ending."""
    from pathlib import Path

    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{what} is missing", p) from None
    except OSError as exc:
        raise FormatError(f"{what} cannot be read: {exc.strerror or exc}", p) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FormatError(f"{what} is UTF-16 text; the MLPerf tools write UTF-8 / ASCII", p)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise FormatError(f"{what} is not UTF-8 text (byte 0x{raw[exc.start]:02x})", p, line) from None
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise FormatError(f"{what} holds NUL bytes (a binary or damaged file)", p, line)
    return text.replace("\r\n", "\n").replace("\r", "\n")
