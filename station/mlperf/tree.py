"""Verify every published power result (MLPerf Inference ``performance/`` directories and MLPerf
Training ``power/result_<name>/`` folders) below a results tree (a results repository, one
submitter's folder, or a zip of either), one result at a time, then a summary.

``verify_tree`` yields one dict per result (what :func:`verify_published` gives for a single
directory, plus its ``path`` relative to the tree), then one ``{"summary": {...}}`` with the
counts by verdict and by round. A result that cannot be read at all is reported with its error
and counted as ``unreadable``; the walk goes on.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from station.mlperf.errors import FormatError
from station.mlperf.published import performance_dirs, verify_published
from station.training.result_dir import training_result_dirs
from station.training.verify import verify_training


def _verdict(result: dict) -> str:
    if "error" in result:
        return "unreadable"
    return str(result.get("headline") or ("VALID" if result.get("valid") else "NOT VALID")).split(":")[0]


def verify_tree(path: Path, round_name: str | None = None) -> Iterator[dict]:
    """One result dict per power result below ``path`` (a directory or a zip), then the summary."""
    path = Path(path)
    tmp = None
    try:
        if path.is_file():
            from station.verify import safe_extract  # station.verify imports this package

            tmp = Path(tempfile.mkdtemp(prefix="station-tree-"))
            safe_extract(path, tmp)
            root = tmp
        else:
            root = path
        by_verdict: Counter[str] = Counter()
        by_round: Counter[str] = Counter()
        # Inference power directories, then Training power results: the same walk, each by its verifier.
        kinds = ((performance_dirs, verify_published, "mlperf", FormatError),
                 (training_result_dirs, verify_training, "training", OSError))
        for find, verify, kind, unreadable in kinds:
            for found in find(root):
                rel = found.relative_to(root).as_posix() if found != root else "."
                try:
                    result = {"path": rel, **verify(found, round_name)}
                except unreadable as exc:
                    result = {"path": rel, "kind": kind, "valid": False, "error": str(exc)}
                by_verdict[_verdict(result)] += 1
                by_round[(result.get("round") or {}).get("name") or "unknown"] += 1
                yield result
        yield {"summary": {"results": sum(by_verdict.values()), "by_verdict": dict(sorted(by_verdict.items())),
                           "by_round": dict(sorted(by_round.items()))}}
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
