"""The bundle manifest: what is in a bundle, where it came from, and the hash of every file.

``manifest.json`` lists every other file of the bundle with its SHA-256 and size, plus the
station and library versions, the platform, the instruments (identity, serial and
``calibration_due``: the due date known when the session measured, null when none was), the full
settings snapshot, the rule set, every check with its verdict and evidence, the metrics, a unique
bundle id, and ``audit``: the head of the session's audit chain (``head``, ``entries``, how it
was ``chained``, and a ``torn_tail`` left out of the bundle, if there was one). Its own raw bytes are hashed into ``manifest.json.sha256`` (so a changed
byte anywhere in the manifest is caught even in an unsigned bundle) and, when the bundle is
signed, signed into ``manifest.json.sig`` with the station's Ed25519 key, whose public half is
``station-ed25519.pub``.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

MANIFEST = "manifest.json"
MANIFEST_DIGEST = "manifest.json.sha256"
SIGNATURE = "manifest.json.sig"
PUBLIC_KEY = "station-ed25519.pub"
FORMAT = "station-bundle"
FORMAT_VERSION = 1
# Files that describe the manifest itself and so cannot be listed in it.
SELF_FILES = (MANIFEST, MANIFEST_DIGEST, SIGNATURE, PUBLIC_KEY)
LIBRARIES = ("numpy", "PySide6-Essentials", "pyqtgraph", "pyvisa", "pyvisa-py", "pyserial",
             "cryptography")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def walk_files(root: Path) -> list[str]:
    """Every regular file under ``root`` as a POSIX relative path, sorted."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            p = Path(dirpath) / name
            out.append(p.relative_to(root).as_posix())
    return sorted(out)


def file_table(root: Path) -> dict[str, dict]:
    return {
        rel: {"sha256": sha256_file(root / rel), "bytes": (root / rel).stat().st_size}
        for rel in walk_files(root)
        if rel not in SELF_FILES
    }


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def platform_info() -> dict[str, str]:
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
        "frozen": str(bool(getattr(sys, "frozen", False))).lower(),
    }
