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
    verdict: dict | None = None  # station.measurement.verdict.Verdict.to_dict(), as station verify gives it


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
                       verification["checks"] + review_checks, manifest.get("metrics") or {}, info, runs,
                       verdict=_verdict(verification))


def load_published(path: Path) -> ResultModel:
    """A published MLPerf power directory: the verify checks, the metric, ranging and testing plots."""
    from station.mlperf.errors import FormatError
    from station.mlperf.loadgen import read_detail
    from station.mlperf.published import find_performance_dir, verify_published
    from station.mlperf.spl import read_spl

    result = verify_published(path)
    perf = find_performance_dir(path)
    runs: list[RunPlot] = []
    info = [("Directory", str(perf))]
    for name, d in (("ranging", "ranging"), ("testing", "run_1")):
        try:
            spl = read_spl(perf / d / "spl.txt")
        except FormatError:
            continue
        valid = spl.watts > 0
        t0 = float(spl.t[0])
        w = np.where(valid, spl.watts, np.nan)
        windows = []
        try:
            det = read_detail(perf / d / "mlperf_log_detail.txt")
            windows = [(det.power_begin.timestamp(), det.power_end.timestamp(), "LoadGen window")]
            info.append((f"{name} LoadGen", f"{det.scenario}, {det.power_begin.isoformat()} .. "
                                            f"{det.power_end.isoformat()}"))
        except FormatError:
            pass
        runs.append(RunPlot(f"{name} — spl.txt ({len(spl)} one-second samples, {int((~valid).sum())} invalid)",
                            t0, spl.t - t0, w, w, w, windows=windows))
    metrics = {}
    if result.get("metric"):
        metrics = {k: v for k, v in result["metric"].items()}
    return ResultModel(path, "mlperf", f"MLPerf result {perf.parent.name if perf.name == 'performance' else perf.name}",
                       bool(result["valid"]), result.get("metric"), result["checks"], metrics, info, runs,
                       verdict=_verdict(result))


def _verdict(result: dict) -> dict:
    """The verdict keys of a ``station verify`` result."""
    keys = ("integrity", "valid", "compliant", "headline", "verdict", "reasons", "missing", "official", "station")
    return {k: result[k] for k in keys if k in result}


def _is_published(p: Path) -> bool:
    from station.mlperf.published import find_performance_dir

    return find_performance_dir(p) is not None


# Loaders, tried in order: (can_load(path), load(path)).
LOADERS: list[tuple[Callable[[Path], bool], Callable[[Path], ResultModel]]] = [
    (lambda p: (p / MANIFEST).is_file(), load_bundle),
    (_is_published, load_published),
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
