"""What the window shows of a finished result: verdict, metric, checks, metrics and run plots.

Qt-free, so the same loader serves the window, the report and tests. Station bundles are read
from their manifest and full-resolution samples; published MLPerf power directories through the
MLPerf readers (``station.mlperf``), when present, by :data:`LOADERS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from station.bundle.manifest import MANIFEST
from station.bundle.report import RunPlot, envelope
from station.bundle.verify import verify_bundle


class ResultError(Exception):
    """The path holds no result the station can show."""


@dataclass
class ResultModel:
    path: Path
    kind: str  # "station" or "mlperf"
    title: str
    valid: bool | None
    metric: dict | None
    checks: list[dict] = field(default_factory=list)  # verification checks and the session's own
    metrics: dict = field(default_factory=dict)
    info: list[tuple[str, str]] = field(default_factory=list)
    runs: list[RunPlot] = field(default_factory=list)


def load_bundle(path: Path) -> ResultModel:
    manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    verification = verify_bundle(path)
    review_checks = [dict(c, name=f"rule: {c.get('name')}") for c in manifest.get("checks") or []]
    runs: list[RunPlot] = []
    windows = []
    review_path = path / "session" / "review.json"
    if review_path.exists():
        try:
            windows = json.loads(review_path.read_text(encoding="utf-8")).get("windows") or []
        except ValueError:
            windows = []
    for rel, info in sorted((manifest.get("samples") or {}).items()):
        p = path / rel
        if not p.is_file():
            continue
        data = np.load(p, mmap_mode="r")
        t, mean, lo, hi = envelope(np.asarray(data))
        run = info.get("run", p.parent.name)
        wins = [(float(w["begin"]), float(w["end"]), str(w.get("label", "workload")))
                for w in windows if isinstance(w, dict) and w.get("run") in (None, run)
                and "begin" in w and "end" in w]
        runs.append(RunPlot(f"{run} — {info.get('instrument', p.stem)}",
                            float(data["t"][0]) if len(data) else 0.0, t, mean, lo, hi, windows=wins))
    session = manifest.get("session") or {}
    info = [
        ("Bundle", str(manifest.get("bundle_id"))),
        ("Created", str(manifest.get("created_utc"))),
        ("Operator", str(session.get("operator"))),
        ("System under test", str(session.get("sut"))),
        ("Benchmark / scenario", f"{session.get('benchmark')} / {session.get('scenario')}"),
        ("Rule set", str((manifest.get("rules") or {}).get("name"))),
    ]
    valid = bool(verification["valid"]) and bool(manifest.get("valid"))
    return ResultModel(path, "station", f"Bundle {path.name}", valid, verification.get("metric"),
                       verification["checks"] + review_checks, manifest.get("metrics") or {}, info, runs)


# Loaders for other kinds, tried in order: (can_load(path), load(path)).
LOADERS: list[tuple[Callable[[Path], bool], Callable[[Path], ResultModel]]] = [
    (lambda p: (p / MANIFEST).is_file(), load_bundle),
]


def load_result(path: str | Path) -> ResultModel:
    path = Path(path)
    if not path.exists():
        raise ResultError(f"{path} does not exist")
    for can, load in LOADERS:
        if path.is_dir() and can(path):
            return load(path)
    raise ResultError(f"{path} is neither a station bundle (no {MANIFEST}) nor a published MLPerf power "
                      "directory")
