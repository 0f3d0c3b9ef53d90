"""Where the files of one published MLPerf Training power result are.

Layout (mlcommons/training_results_v4.0 and later)::

    <submitter>/systems/<system>.json                          system description (number_of_nodes)
    <submitter>/results/<system>/<benchmark>/result_<name>.txt  performance log (run_start, run_stop)
    <submitter>/results/<system>/<benchmark>/power/result_<name>/node_<i>.txt, sw_<j>.txt

A *result* is one ``power/result_<name>`` directory; its performance log is two levels up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainingResult:
    """The files of one Training power result, found from its ``power/result_<name>`` directory."""

    power_dir: Path

    @property
    def name(self) -> str:
        return self.power_dir.name

    @property
    def benchmark_dir(self) -> Path:
        return self.power_dir.parent.parent

    @property
    def performance_log(self) -> Path:
        return self.benchmark_dir / f"{self.power_dir.name}.txt"

    @property
    def benchmark(self) -> str:
        return self.benchmark_dir.name

    @property
    def system(self) -> str:
        return self.benchmark_dir.parent.name

    @property
    def system_description(self) -> Path:
        """``<submitter>/systems/<system>.json`` (it may be absent: a result cut out of its tree)."""
        return self.benchmark_dir.parent.parent.parent / "systems" / f"{self.system}.json"

    def node_files(self) -> list[Path]:
        """``node_*.txt`` as the summarizer globs them."""
        return sorted(self.power_dir.glob("node_*.txt"))

    def switch_files(self) -> list[Path]:
        """``sw_*.txt`` as the summarizer globs them."""
        return sorted(self.power_dir.glob("sw_*.txt"))

    def sibling_results(self) -> list[TrainingResult]:
        """Every result of the same benchmark folder (this one included), by name."""
        return [TrainingResult(p) for p in sorted(self.power_dir.parent.iterdir()) if is_training_result_dir(p)]


def is_training_result_dir(path: Path) -> bool:
    """``path`` is ``.../power/result_<name>`` with node files, or its performance log next to ``power/``."""
    path = Path(path)
    return (path.is_dir() and path.parent.name == "power" and path.name.startswith("result_")
            and (any(path.glob("node_*.txt")) or (path.parent.parent / f"{path.name}.txt").is_file()))


def training_result_dirs(root: Path) -> list[Path]:
    """Every Training power result directory at or below ``root``, sorted."""
    root = Path(root)
    if is_training_result_dir(root):
        return [root]
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if os.path.basename(dirpath) == "power":
            found.extend(Path(dirpath) / d for d in dirnames if is_training_result_dir(Path(dirpath) / d))
            dirnames[:] = []
    return sorted(found)


__all__ = ["TrainingResult", "is_training_result_dir", "training_result_dirs"]
