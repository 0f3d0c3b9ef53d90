"""Workload windows: when the benchmark really ran, from the sources the station knows.

- ``command``: a command the station started; begin/end are its start and exit.
- ``loadgen``: ``power_begin`` / ``power_end`` (UTC) of a LoadGen ``mlperf_log_detail.txt``
  (read by :func:`station.mlperf.loadgen.read_detail`).
- ``gpio``: edges on a GPIO line reported by the instrument ("gpio" events): rising to falling
  when both directions are reported; when only one direction is (an LPM01A reports the falling
  edges MLPerf Tiny uses as timestamps) or the instrument only flags samples MARK, the
  timestamps are taken in pairs, and an odd leading one (EnergyRunner's first marker) is skipped.
- ``marks``: the operator's begin/end marks ("workload_mark" events).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from station.core.samples import Flag

DETAIL = "mlperf_log_detail.txt"
SUMMARY = "mlperf_log_summary.txt"


@dataclass
class Window:
    begin: float  # UTC seconds
    end: float
    source: str  # command, loadgen, gpio, marks
    label: str = "workload"
    detail: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end - self.begin

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Window:
        return cls(float(d["begin"]), float(d["end"]), str(d["source"]), str(d.get("label", "workload")),
                   dict(d.get("detail") or {}))


def find_loadgen_detail(directory: Path, not_before: float, slack_s: float = 1.0) -> Path | None:
    """The newest ``mlperf_log_detail.txt`` under ``directory`` written by this run.

    A log counts as this run's when it was written after ``not_before`` (the workload's start,
    less ``slack_s``); the power-dev client does the same search by the power_begin it holds.
    """
    if not directory.is_dir():
        return None
    found = []
    for p in directory.rglob(DETAIL):
        try:
            mtime = p.stat().st_mtime
        except OSError:
            continue
        if mtime >= not_before - slack_s:
            found.append((mtime, p))
    return max(found)[1] if found else None


def loadgen_window(detail_path: Path) -> Window:
    """The window of a LoadGen detail log; raises station.mlperf.errors.FormatError for bad logs."""
    from station.mlperf.loadgen import read_detail

    d = read_detail(detail_path)
    begin, end = d.power_begin.timestamp(), d.power_end.timestamp()
    return Window(begin, end, "loadgen", "LoadGen power_begin..power_end", {
        "file": detail_path.name, "scenario": d.scenario, "mode": d.mode, "query_count": d.query_count,
        "power_begin": d.power_begin.isoformat(), "power_end": d.power_end.isoformat()})


def collect_loadgen_logs(found: Path, run_dir: Path) -> list[str]:
    """Put the detail and summary logs next to the run's journal; returns their names.

    Logs the workload wrote inside the run directory are moved there (no second copy), logs
    from elsewhere (``--loadgen-logs DIR``) are copied, byte for byte.
    """
    copied = []
    inside = run_dir.resolve() in found.resolve().parents
    for name in (DETAIL, SUMMARY):
        src = found.parent / name
        dst = run_dir / name
        if src.is_file() and src.resolve() != dst.resolve():
            if inside:
                os.replace(src, dst)
            else:
                shutil.copy2(src, dst)
        if dst.is_file():
            copied.append(name)
    if inside:
        d = found.parent
        while d != run_dir and d.is_dir() and not any(d.iterdir()):
            d.rmdir()
            d = d.parent
    return copied


def gpio_windows(events: list[dict], samples: np.ndarray | None = None) -> list[Window]:
    """Windows between GPIO edges (rising -> falling); falls back to MARK-flagged samples."""
    edges = sorted((float(e["t"]), str(e.get("edge", ""))) for e in events if e.get("kind") == "gpio")
    out: list[Window] = []
    kinds = {edge for _, edge in edges}
    if kinds == {"rising", "falling"}:
        begin = None
        for t, edge in edges:
            if edge == "rising":
                begin = t
            elif begin is not None:
                out.append(Window(begin, t, "gpio", f"GPIO window {len(out) + 1}"))
                begin = None
        return out
    if edges:
        times = [t for t, _ in edges]
    elif samples is not None and len(samples):
        times = samples["t"][(samples["flags"] & int(Flag.MARK)) != 0].tolist()
    else:
        times = []
    if len(times) % 2:
        times = times[1:]  # a leading marker before the timed windows
    for i in range(0, len(times) - 1, 2):
        out.append(Window(float(times[i]), float(times[i + 1]), "gpio", f"GPIO window {i // 2 + 1}"))
    return out


def mark_windows(events: list[dict]) -> list[Window]:
    """Windows from the operator's marks: each begin to the next end."""
    out: list[Window] = []
    begin = None
    for e in sorted((e for e in events if e.get("kind") == "workload_mark"), key=lambda e: e["t"]):
        if e.get("edge") == "begin":
            begin = float(e["t"])
        elif e.get("edge") == "end" and begin is not None:
            out.append(Window(begin, float(e["t"]), "marks", "operator marks"))
            begin = None
    return out
