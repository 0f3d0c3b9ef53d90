"""``station verify``: a station bundle, a session directory or a published MLPerf power directory.

Kinds: a directory with ``manifest.json`` at its top is a station bundle
(``station.bundle.verify``); one with ``session.json`` (``station measure``, the window's guide)
or ``director.json`` (``station serve``) and its ``audit.jsonl`` is a session directory that was
never exported, perhaps because its process was killed (:func:`verify_session`: the audit chain,
where a torn last line is a warning, and each run's journal); one with ``performance/`` or
``power/`` + ``run_1/`` is a published MLPerf power result (``station.mlperf.published``), and
``power/result_<name>/`` with ``node_*.txt`` a published MLPerf Training power result
(``station.training.verify``). A zip is first extracted into a private
temporary directory, refusing members that would land outside it (absolute paths, ``..``),
symbolic links, devices, oversized members and archives that expand far beyond their size.

Every kind ends in the same three answers (:mod:`station.measurement.verdict`): ``integrity``,
``valid`` (integrity and a passed review: a session that was never reviewed is not valid) and
``compliant``, joined in ``headline``.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from station.bundle.verify import is_bundle, verify_bundle
from station.measurement.audit import AUDIT_FILE, audit_check
from station.measurement.checks import Check
from station.measurement.verdict import INTEGRITY_FAILED, NOT_VALID, Verdict, review_verdict, tiny_verdict
from station.mlperf.errors import FormatError
from station.mlperf.published import find_performance_dir, performance_dirs, verify_published
from station.tiny.published import is_tiny_energy_dir
from station.tiny.verify import verify_tiny
from station.training.result_dir import training_result_dirs
from station.training.verify import verify_training

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


class ManyResults(Unusable):
    """``path`` is a results tree (several MLPerf power results): verify it with :func:`verify_tree`."""


def verify_tree(path: Path, round_name: str | None = None):
    """One result per published power result below ``path`` (directory or zip), then ``{"summary": ...}``."""
    from station.mlperf.tree import verify_tree as walk

    return walk(Path(path), round_name)


def verify_path(path: Path, trusted_key: bytes | None = None, round_name: str | None = None) -> dict:
    """Verify ``path``; raises Unusable for input that is no result at all, ManyResults for a tree.

    ``round_name`` (``v4.1``) judges a published result by that round's rules instead of the one
    its files show."""
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
            elif is_session_dir(root):
                result = verify_session(root)
            elif is_tiny_energy_dir(root):
                result = verify_tiny(root)
                result.update(tiny_verdict(result["checks"]).to_dict())
            elif find_performance_dir(root) is not None and not training_result_dirs(root):
                result = verify_published(root, round_name)
            elif len(found := performance_dirs(root) + training_result_dirs(root)) > 1:
                names = ", ".join(p.relative_to(root).as_posix() for p in found[:3])
                raise ManyResults(f"{path} holds {len(found)} MLPerf power results ({names}"
                                  f"{', …' if len(found) > 3 else ''})")
            elif found:
                result = verify_training(found[0], round_name)
            else:
                raise Unusable(f"{path} is neither a station bundle (no manifest.json), nor a session directory "
                               "(no session.json or director.json), nor an MLPerf power directory "
                               "(no performance/ with power/ and run_1/, no power/result_<name>/ of MLPerf Training)")
        except FormatError as exc:
            raise Unusable(str(exc)) from None
        result["path"] = str(path)
        return result
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


SESSION_FILES = {"session.json": "measurement session", "director.json": "director session"}


def is_session_dir(path: Path) -> bool:
    """A session directory as the station leaves it while measuring (not exported)."""
    return any((path / name).is_file() for name in SESSION_FILES)


def verify_session(root: Path) -> dict:
    """Check a session directory that was never exported: its audit chain and its runs (integrity),
    and its review when it has one (valid; without a review it is not valid).

    A torn last line of ``audit.jsonl`` (the process was killed while writing it) is a warning;
    any other break of the chain fails, naming the file and line. A run without ``summary.json``
    was interrupted: a warning that says how to recover it.
    """
    import json

    root = Path(root)
    checks: list[Check] = []
    kind_file = next(name for name in SESSION_FILES if (root / name).is_file())
    what = SESSION_FILES[kind_file]
    try:
        info = json.loads((root / kind_file).read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError("the top level is not an object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        checks.append(_check("session", "fail", f"{kind_file} cannot be read: {exc}"))
        info = {}
    else:
        state = info.get("state")
        step = f", step {info['step']}" if info.get("step") else ""
        done = state in ("done", "complete", "reviewed")
        checks.append(_check("session", "pass", f"{what} {info.get('session_id')}: state {state}{step}"
                             + ("" if done else " (not finished: its process ended early or is still running)")
                             + "; not exported (a bundle adds file hashes, the report and the signature)"))
    checks.append(audit_check(root / AUDIT_FILE, torn_tail_fails=False))
    run_dirs = sorted(p.parent for p in root.glob("*/header.json")) + sorted(
        p.parent for p in root.glob("journal/*/header.json"))
    checks.extend(_run_check(root, d) for d in run_dirs)
    review, rules = _optional_json(root / "review.json"), _optional_json(root / "rules.json")
    broken = [f"{c.name}: {c.evidence}" for c in checks if c.failed]
    if kind_file == "director.json":
        # The station only measured: the MLPerf checker judges the directory the client submits.
        verdict = Verdict(False, False, False, INTEGRITY_FAILED, tuple(broken)) if broken else Verdict(
            True, False, False, NOT_VALID, ("integrity intact; a director session has no review of its own: "
                                            "station verify the published result the client submits",))
    else:
        verdict = review_verdict(review, rules, info, broken,
                                 not_reviewed="integrity intact, but not reviewed (the session did not reach "
                                              "its review step)")
    metric = review.get("metric") if isinstance(review, dict) else None
    return {**verdict.to_dict(), "kind": "session", "checks": [c.to_dict() for c in checks],
            "review_checks": (review.get("checks") or []) if isinstance(review, dict) else [],
            "metric": metric if isinstance(metric, dict) and "value" in metric else None, "bundle_id": None}


def _optional_json(path: Path) -> dict | None:
    """A session file that may be absent (not reviewed yet) or cut short (killed while writing)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _check(name: str, status: str, evidence: str) -> Check:
    return Check(name, status, evidence, "station verify (session directory)")


def _run_check(root: Path, run_dir: Path) -> Check:
    from station.core.journal import JournalError, JournalReader
    from station.core.run_index import pid_alive

    rel = run_dir.relative_to(root).as_posix()
    name = f"run {rel}"
    try:
        reader = JournalReader(run_dir)
        counts = {i: int(len(reader.samples(i))) for i in reader.instruments}
        torn = sum(reader.torn_bytes(i) for i in reader.instruments)
    except (JournalError, OSError, ValueError) as exc:
        return _check(name, "fail", f"{rel}: the journal cannot be read: {exc}")
    samples = ", ".join(f"{i}: {n} samples" for i, n in counts.items())
    if reader.complete:
        state = (reader.summary_file() or {}).get("state")
        return _check(name, "pass", f"{rel}: {state}; {samples}")
    pid = reader.lock_pid()
    if pid_alive(pid):
        return _check(name, "warn", f"{rel}: still recording (process {pid}); {samples} so far")
    torn_text = f"; {torn} bytes of a record cut short at the end" if torn else ""
    return _check(name, "warn", f"{rel}: interrupted (no summary.json: its process ended without finishing it); "
                                f"{samples}{torn_text}; `station recover {run_dir}` restores its summary")
