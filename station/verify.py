"""``station verify``: a station bundle or a published MLPerf power directory, directory or zip.

Kinds: a directory with ``manifest.json`` at its top is a station bundle
(``station.bundle.verify``); one with ``performance/`` or ``power/`` + ``run_1/`` is a published
MLPerf power result (``station.mlperf.published``). A zip is first extracted into a private
temporary directory, refusing members that would land outside it (absolute paths, ``..``),
symbolic links, devices, oversized members and archives that expand far beyond their size.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from station.bundle.verify import is_bundle, verify_bundle
from station.mlperf.errors import FormatError
from station.mlperf.published import find_performance_dir, performance_dirs, verify_published

MAX_MEMBER_BYTES = 16 << 30  # a 100 kHz, 10 h recording is ~15 GB
MAX_TOTAL_BYTES = 64 << 30
MAX_RATIO = 1000  # expanded / compressed, per member above 1 MB: more is a zip bomb
MAX_MEMBERS = 100_000


class Unusable(Exception):
    """The input cannot be verified at all (exit 2). The message names the file."""


def safe_extract(zip_path: Path, target: Path) -> None:
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Unusable(f"{zip_path}: not a readable zip file ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise Unusable(f"{zip_path}: {len(infos)} members, more than the {MAX_MEMBERS} a result can hold")
        total = 0
        root = target.resolve()
        seen: set[str] = set()
        for info in infos:
            name = info.filename
            key = name.replace("\\", "/").rstrip("/")
            if key in seen:
                raise Unusable(f"{zip_path}: member {name!r} appears twice (which copy would be the result?)")
            seen.add(key)
            p = PurePosixPath(name.replace("\\", "/"))
            if p.is_absolute() or ".." in p.parts or (p.parts and p.parts[0].endswith(":")):
                raise Unusable(f"{zip_path}: member {name!r} would be written outside the target directory")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise Unusable(f"{zip_path}: member {name!r} is a symbolic link; results hold plain files only")
            if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise Unusable(f"{zip_path}: member {name!r} is not a plain file")
            if info.file_size > MAX_MEMBER_BYTES:
                raise Unusable(f"{zip_path}: member {name!r} is {info.file_size} bytes, over the limit")
            if info.file_size > (1 << 20) and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise Unusable(f"{zip_path}: member {name!r} expands {info.file_size // max(info.compress_size, 1)}x"
                               " (a zip bomb?)")
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise Unusable(f"{zip_path}: expands to more than {MAX_TOTAL_BYTES} bytes")
            dest = (root / p).resolve()
            if dest == root and not info.is_dir():
                raise Unusable(f"{zip_path}: member {name!r} has no file name")
            if root not in dest.parents and dest != root:
                raise Unusable(f"{zip_path}: member {name!r} would be written outside the target directory")
        for info in infos:
            dest = root / PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir():
                try:
                    dest.mkdir(parents=True, exist_ok=True)
                except (FileExistsError, NotADirectoryError):
                    raise Unusable(f"{zip_path}: member {info.filename!r} clashes with a file of the same "
                                   "name") from None
                continue
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise Unusable(f"{zip_path}: member {info.filename!r} clashes with a file of the same name") from None
            written = 0
            try:
                with zf.open(info) as src, open(dest, "wb") as out:
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > info.file_size:
                            raise Unusable(f"{zip_path}: member {info.filename!r} is longer than its header says")
                        out.write(block)
            except (zipfile.BadZipFile, EOFError, zlib_error()) as exc:
                raise Unusable(f"{zip_path}: member {info.filename!r} is damaged ({exc})") from None
            except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
                raise Unusable(f"{zip_path}: member {info.filename!r} clashes with another member "
                               f"({exc.strerror})") from None


def zlib_error():
    import zlib

    return zlib.error


def _single_top(d: Path) -> Path:
    entries = [p for p in d.iterdir() if not p.name.startswith("__MACOSX")]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return d


def verify_path(path: Path, trusted_key: bytes | None = None) -> dict:
    """Verify ``path``; raises Unusable for input that is no result at all."""
    path = Path(path)
    if not path.exists():
        raise Unusable(f"{path} does not exist")
    tmp = None
    try:
        if path.is_file():
            if not zipfile.is_zipfile(path):
                raise Unusable(f"{path} is neither a directory nor a zip file")
            tmp = Path(tempfile.mkdtemp(prefix="station-verify-"))
            safe_extract(path, tmp)
            root = _single_top(tmp)
        else:
            root = path
        try:
            if is_bundle(root):
                result = verify_bundle(root, trusted_key=trusted_key)
            elif find_performance_dir(root) is not None:
                result = verify_published(root)
            elif len(found := performance_dirs(root)) > 1:
                names = ", ".join(p.relative_to(root).as_posix() for p in found[:3])
                raise Unusable(f"{path} holds {len(found)} MLPerf power results ({names}{', …' if len(found) > 3 else ''});"
                               " verify them one at a time")
            else:
                raise Unusable(f"{path} is neither a station bundle (no manifest.json) nor an MLPerf power "
                               "directory (no performance/ with power/ and run_1/)")
        except FormatError as exc:
            raise Unusable(str(exc)) from None
        result["path"] = str(path)
        return result
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
