"""``verify_tiny(path)``: a published MLPerf Tiny energy result, judged from its raw data.

A directory is a Tiny energy result when :func:`station.tiny.published.is_tiny_energy_dir` says
so (the EnergyRunner's ``trace1-energy.bin`` + ``trace1-timestamps.json``, or a ``results.txt``
with the runners' ``Median energy cost is ... uJ/inf.`` line). The result has the keys of every
``station verify`` result: ``valid``, ``kind`` (``"tiny"``), ``checks``, ``metric``
(``{value, unit}``: ``uJ/inf``, or ``mW`` for streaming wakeword), plus ``layout``, ``mode`` and
``windows`` (each with its +/- 1 sample uncertainty).
"""

from __future__ import annotations

from pathlib import Path

from station.tiny.checks import review
from station.tiny.published import DutRun, is_tiny_energy_dir, read_result

__all__ = ["is_tiny_energy_dir", "verify_tiny"]


def verify_tiny(path: Path, dut_runs: list[DutRun] | None = None) -> dict:
    """Read and judge one Tiny energy result directory. FormatError for files that are not one.

    ``dut_runs``: the DUT's timing of each ``infer`` when the caller saw it (the station's own run;
    the runner's files do not keep it), so windows are cross-checked against it."""
    result = read_result(Path(path))
    if dut_runs is not None:
        result.dut_runs = dut_runs
    judged = review(result)
    return {"valid": not any(c.failed for c in judged.checks), "kind": "tiny", "layout": result.layout,
            "mode": result.mode, "monitor": result.monitor or None,
            "checks": [c.to_dict() for c in judged.checks], "metric": judged.metric,
            "windows": [w.to_dict() for w in judged.windows], "path": str(path)}
