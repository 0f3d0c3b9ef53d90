"""Export a measurement session to an audited bundle directory and a single zip file.

Bundle layout (all paths relative to the bundle directory)::

    manifest.json            what is here, where it came from, SHA-256 of every other file
    manifest.json.sha256     SHA-256 of manifest.json's bytes
    manifest.json.sig        Ed25519 signature of manifest.json (signed bundles)
    station-ed25519.pub      the signing station's public key (signed bundles)
    audit.jsonl              the session's own hash-chained audit log, copied and verified
                             (station.measurement.audit); never rebuilt at export
    report.html, report.pdf  for humans (the PDF when Qt is available)
    session/                 session.json, rules.json, review.json as the station wrote them
    runs/<run>/              each run's journal header, events, summary and workload output
    samples/<run>/<inst>.npy full-resolution samples: ``numpy.load(path)`` gives the records
    power/ ranging/ run_<n>/ the MLPerf Power layout (PTDaemon-format spl.txt, LoadGen logs)

The bundle is built in a hidden sibling directory and renamed into place only when complete, so
an export that fails or is interrupted leaves nothing that looks like a bundle.

Why ``.npy`` for full-resolution samples: it is numpy's own documented format (NEP 1), needs no
extra library, carries the record type (names, units in the README, byte order) in its header, is
memory-mappable for 60 M-sample runs (``np.load(p, mmap_mode="r")``) and opens in pandas with
``pd.DataFrame(np.load(p))`` for single-channel instruments.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import station
from station.bundle import audit, signing
from station.bundle.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_DIGEST,
    PUBLIC_KEY,
    SIGNATURE,
    file_table,
    library_versions,
    platform_info,
    walk_files,
)
from station.bundle.report import RunPlot, build_html, envelope
from station.core.journal import JournalError, JournalReader, json_default, samples_file
from station.core.summary import summarize_records

SESSION_FILES = ("session.json", "rules.json", "review.json")
CHUNK = 1 << 20


class ExportError(Exception):
    """The session cannot be exported. The message names what is missing or wrong."""


@dataclass
class ExportResult:
    directory: Path
    zip_path: Path | None
    bundle_id: str
    manifest: dict


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path} is missing: {what}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ExportError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ExportError(f"{path}: expected a JSON object")
    return data


def session_runs(session_dir: Path) -> list[tuple[str, Path]]:
    """The session's recorded runs in order: ranging first, then testing_1, testing_2, …"""
    runs = [p for p in session_dir.iterdir() if p.is_dir() and (p / "header.json").is_file()]

    def order(p: Path) -> tuple[int, int, str]:
        if p.name == "ranging":
            return (0, 0, p.name)
        if p.name.startswith("testing_") and p.name[8:].isdigit():
            return (1, int(p.name[8:]), p.name)
        return (2, 0, p.name)

    out = []
    for p in sorted(runs, key=order):
        summary = p / "summary.json"
        if summary.exists():
            try:
                if json.loads(summary.read_text(encoding="utf-8")).get("state") == "cancelled":
                    continue  # a cancelled run is not part of the result
            except (OSError, ValueError):
                pass
        out.append((p.name, p))
    return out


def _copy_samples(reader: JournalReader, inst_id: str, dest: Path) -> int:
    """Write the instrument's whole records to ``dest`` as .npy: the header, then the journal's
    bytes streamed across in chunks (memory stays flat; nothing is mapped)."""
    dtype = reader.instruments[inst_id].dtype
    src = reader.directory / samples_file(inst_id)
    n = src.stat().st_size // dtype.itemsize if src.exists() else 0
    left = n * dtype.itemsize  # a torn last record (a crashed run) stays out
    with open(dest, "wb") as out:
        np.lib.format.write_array_header_1_0(
            out, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)})
        if left:
            with open(src, "rb") as f:
                while left:
                    block = f.read(min(left, CHUNK * dtype.itemsize))
                    if not block:
                        raise ExportError(f"{src} became shorter while it was exported")
                    out.write(block)
                    left -= len(block)
    return n


def _run_files(run_dir: Path, dest: Path) -> None:
    """Everything of a run but the raw sample files (those go to samples/ as .npy)."""
    for p in sorted(run_dir.rglob("*")):
        rel = p.relative_to(run_dir)
        if p.is_symlink() or p.name.endswith((".bin", ".lock", ".tmp", ".torn")):
            continue
        if p.is_dir():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, target)


def _audit_entries(session_dir: Path, runs: list[tuple[str, Path]]) -> list[dict]:
    """Every event of a session that has no audit.jsonl of its own (written by hand, or before
    the log was kept live), in time order, each saying where it came from."""
    entries: list[dict] = []
    for source, path in [("session", session_dir / "events.jsonl")] + [
        (name, p / "events.jsonl") for name, p in runs
    ]:
        if not path.exists():
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.endswith("\n"):
                    break
                try:
                    item = json.loads(line)
                except ValueError:
                    entries.append({"t": None, "kind": "unreadable-event", "source": source,
                                    "detail": f"{path.name}:{lineno} is not JSON"})
                    continue
                if isinstance(item, dict):
                    entries.append({"source": source, **item})
    entries.sort(key=lambda e: (e.get("t") is None, e.get("t") or 0.0))
    return entries


def copy_audit_log(session_dir: Path, dest: Path, runs: list[tuple[str, Path]]) -> dict:
    """Copy the session's audit log to ``dest`` after verifying its chain; returns the manifest's
    ``audit`` entry. A broken chain stops the export (ExportError names the file and line); a torn
    last line (a killed process) stays out of the bundle and is said in the entry."""
    src = session_dir / audit.AUDIT_FILE
    if not src.exists():
        head = audit.write_chain(dest, _audit_entries(session_dir, runs))
        return {"file": dest.name, "head": head, "entries": audit.read_chain(dest).entries,
                "chained": "at export, from events.jsonl: the session has no audit.jsonl of its own"}
    rep = audit.read_chain(src)
    if rep.problems:
        raise ExportError(f"the session's audit log is broken: {session_dir / rep.problems[0]}. It was changed "
                          "after it was written, so the session cannot be exported as an audited bundle")
    keep = rep.complete_bytes
    with open(src, "rb") as f:
        data = f.read(keep)
    if rep.tail_whole:  # the last entry is whole but for its line end: it belongs to the chain
        with open(src, "rb") as f:
            f.seek(keep)
            data += f.read().rstrip(b"\n") + b"\n"
    dest.write_bytes(data)
    copy = audit.read_chain(dest)
    if copy.problems or copy.torn_tail or copy.head != rep.head:
        raise ExportError(f"{dest}: the copy of {src} does not verify (the disk changed it?)")
    info = {"file": dest.name, "head": rep.head, "entries": rep.entries, "chained": "while the session ran"}
    if rep.torn_tail and not rep.tail_whole:
        info["torn_tail"] = f"{rep.torn_tail}; the fragment is not part of the bundle"
    return info


def _run_plot(name: str, reader: JournalReader, windows: list[tuple[float, float, str]]) -> RunPlot:
    inst_ids = list(reader.instruments)
    # the system total: the first instrument's timeline, others summed when there are several
    data = reader.samples(inst_ids[0]) if inst_ids else np.zeros(0)  # a memmap: envelope reads it in chunks
    t, mean, lo, hi = envelope(data)
    t0 = float(data["t"][0]) if len(data) else 0.0
    notes = []
    for inst in inst_ids:
        s = summarize_records(reader.samples(inst), reader.instruments[inst].interval_s)
        avg = "n/a" if s["avg_w"] is None else f"{s['avg_w']:.6g} W"
        peak = "n/a" if s["max_w"] is None else f"{s['max_w']:.6g} W"
        energy = "n/a" if s["energy_j"] is None else f"{s['energy_j']:.6g} J"  # no good sample: no energy
        notes.append(f"{inst}: {s['samples']} samples ({s['good_samples']} good, {s['overrange_samples']} "
                     f"overrange, {s['invalid_samples']} invalid, {s['gaps']} gaps) over "
                     f"{s['duration_s']:.1f} s; average {avg}, peak {peak}, energy {energy}")
    title = f"{name} — {', '.join(inst_ids)}"
    if len(inst_ids) > 1:
        title += f" (plot shows {inst_ids[0]})"
    return RunPlot(title, t0, t, mean, lo, hi, windows=windows, notes=notes)


def _windows(review: dict, run_name: str) -> list[tuple[float, float, str]]:
    out = []
    for w in review.get("windows", []) if isinstance(review.get("windows"), list) else []:
        if isinstance(w, dict) and w.get("run") in (None, run_name):
            try:
                out.append((float(w["begin"]), float(w["end"]), str(w.get("label", "workload"))))
            except (KeyError, TypeError, ValueError):
                continue
    return out


def export_session(
    session_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    sign: bool = False,
    key_path: Path | None = None,
    make_zip: bool = True,
    pdf_writer: Callable[[dict, list[RunPlot], Path], None] | None = None,
    mlperf_writer: Callable[[Path, Path, dict, list[tuple[str, Path]]], list[str]] | None = None,
) -> ExportResult:
    """Export ``session_dir`` to the new directory ``out_dir`` (and ``out_dir``.zip)."""
    session_dir, out_dir = Path(session_dir), Path(out_dir)
    if not session_dir.is_dir():
        raise ExportError(f"{session_dir} is not a session directory")
    session = _read_json(session_dir / "session.json", "not a measurement session")
    rules = _read_json(session_dir / "rules.json", "the session has no rule set")
    review_path = session_dir / "review.json"
    review = _read_json(review_path, "the session was not reviewed; finish the review step first")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir} already exists and is not empty; choose a new bundle directory")
    zip_path = out_dir.with_name(out_dir.name + ".zip") if make_zip else None
    if zip_path is not None and zip_path.exists():
        raise ExportError(f"{zip_path} already exists; choose a new bundle name")
    runs = session_runs(session_dir)
    if not runs:
        raise ExportError(f"{session_dir} holds no recorded run")

    tmp = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        bundle_id = str(uuid.uuid4())
        (tmp / "session").mkdir()
        for name in SESSION_FILES:
            shutil.copy2(session_dir / name, tmp / "session" / name)
        instruments: dict[str, dict] = {}
        plots: list[RunPlot] = []
        sample_files: dict[str, dict] = {}
        for run_name, run_dir in runs:
            try:
                reader = JournalReader(run_dir)
            except JournalError as exc:
                raise ExportError(str(exc)) from exc
            _run_files(run_dir, tmp / "runs" / run_name)
            (tmp / "samples" / run_name).mkdir(parents=True, exist_ok=True)
            for inst_id, entry in reader.instruments.items():
                rel = f"samples/{run_name}/{inst_id}.npy"
                n = _copy_samples(reader, inst_id, tmp / rel)
                sample_files[rel] = {"run": run_name, "instrument": inst_id, "records": n,
                                     "dtype": np.lib.format.dtype_to_descr(entry.dtype)}
                instruments.setdefault(inst_id, {"id": inst_id, "driver": entry.driver, **entry.info})
            plots.append(_run_plot(run_name, reader, _windows(review, run_name)))
        mlperf_files: list[str] = []
        if mlperf_writer is not None:
            mlperf_files = mlperf_writer(session_dir, tmp, session, runs)
        audit_info = copy_audit_log(session_dir, tmp / audit.AUDIT_FILE, runs)
        for inst in session.get("instruments") or []:
            if isinstance(inst, dict):  # the session knows calibration dates and settings
                key = str(inst.get("id") or inst.get("name"))
                instruments.setdefault(key, {"id": key}).update(inst)
        for inst in instruments.values():
            inst.setdefault("calibration_due", None)  # null: no due date was known when it measured

        manifest_body = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "bundle_id": bundle_id,
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "station": {"version": station.__version__},
            "libraries": library_versions(),
            "platform": platform_info(),
            "host": platform.node(),
            "session": {k: session.get(k) for k in ("session_id", "operator", "sut", "benchmark",
                                                      "scenario", "created_utc", "state", "range_selection")},
            "instruments": list(instruments.values()),
            "settings": session.get("settings", {}),
            "rules": rules,
            "checks": review.get("checks", []),
            "metrics": review.get("metrics", {}),
            "metric": review.get("metric"),
            "valid": review.get("valid"),
            "runs": [name for name, _ in runs],
            "samples": sample_files,
            "mlperf": mlperf_files,
            "audit": audit_info,
        }
        html = build_html(manifest_body, plots)
        (tmp / "report.html").write_text(html, encoding="utf-8")
        if pdf_writer is not None:
            pdf_writer(manifest_body, plots, tmp / "report.pdf")

        manifest_body["files"] = file_table(tmp)
        raw = (json.dumps(manifest_body, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False,
                          default=json_default) + "\n").encode("utf-8")
        (tmp / MANIFEST).write_bytes(raw)
        (tmp / MANIFEST_DIGEST).write_text(f"{hashlib.sha256(raw).hexdigest()}  {MANIFEST}\n", encoding="ascii")
        if sign:
            key = signing.load_or_create_key(key_path)
            (tmp / SIGNATURE).write_bytes(signing.sign(key, raw))
            (tmp / PUBLIC_KEY).write_bytes(signing.public_pem(key))
        if zip_path is not None:
            _write_zip(tmp, zip_path)
        if out_dir.exists():
            out_dir.rmdir()  # empty (checked above)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if zip_path is not None:
            zip_path.unlink(missing_ok=True)
            zip_path.with_name(zip_path.name + ".partial").unlink(missing_ok=True)
        raise
    return ExportResult(out_dir, zip_path, bundle_id, json.loads(raw))


def _write_zip(src: Path, zip_path: Path) -> None:
    """Deterministic member order; the bundle's directory name is the single top folder."""
    partial = zip_path.with_name(zip_path.name + ".partial")
    top = zip_path.stem
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for rel in walk_files(src):
            zf.write(src / rel, f"{top}/{rel}")
    os.replace(partial, zip_path)


__all__ = ["ExportError", "ExportResult", "copy_audit_log", "export_session", "session_runs"]
