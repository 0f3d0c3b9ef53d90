"""The MLCommons runner's result files, written: ``results.json``, ``results.txt``, ``log.txt``.

The layout is the one ``benchmark/runner/main.py`` writes and :mod:`station.tiny.published` reads
(reference/tiny.md): ``results.json`` is a list of trials ``{file, class, infer: {results,
iterations, warmups}, power: {samples: [J per 1 ms], timestamps: [[counter, sample], ...],
voltage}, mode: "e"}``; ``results.txt`` prints every trial and the ``Median energy cost is X
uJ/inf.`` line the submission checker reads.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from station.tiny.scoring import TinyWindow, median_uj_per_inference


@dataclass
class TrialRecord:
    """One trial as recorded: input file, DUT answer, and the monitor's samples and events."""

    file: str
    iterations: int
    warmups: int
    samples_j: list[float]
    events: list[tuple[int, int]]  # (the monitor's event counter, sample index within the trial)
    results: list[float] = field(default_factory=list)
    voltage: float | None = None
    detections: list[int] = field(default_factory=list)  # streaming wakeword: the interface board's (ms)
    truth: dict | None = None  # streaming wakeword: wav_file, length_sec, detection_windows

    def to_json(self) -> dict:
        infer = {"results": self.results, "iterations": self.iterations, "warmups": self.warmups}
        if self.truth is not None:
            infer.update(self.truth, detections=self.detections)
        return {"file": self.file, "class": None, "infer": infer,
                "power": {"samples": [None if not math.isfinite(s) else s for s in self.samples_j],
                          "timestamps": [[f"{c:02d}", i] for c, i in self.events], "voltage": self.voltage},
                "mode": "e"}


def results_text(windows: list[TinyWindow], streaming: bool = False, note: str | None = None,
                 extra: list[str] | None = None) -> str:
    """``results.txt`` as the MLCommons runner prints it (numbers in its formats); ``note`` (an
    emulation's label) follows the first line; ``extra`` (streaming wakeword's accuracy) comes last."""
    lines = ["Power Edition Output"] + ([note] if note else [])
    for w in windows:
        lines += [f"Energy data for trial {w.trial}",
                  f"  Elapsed time  : {w.duration_s}" + ("" if w.duration_s >= 10.0 else "  <<<< below minimum duration"),
                  f"  Inferences    : {w.inferences}",
                  f"  Power         : {w.power_mw:5.4f} mW.",
                  f"  Total Energy  : {w.energy_uj:.3f} uJ",
                  f"  Energy/Inf    : {w.uj_per_inference:.3f} uJ/inf"]
    lines += ["-" * 57, f"Median energy cost is {median_uj_per_inference(windows):5.4f} uJ/inf.", "-" * 57]
    lines += extra or []
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_runner_layout(out: Path, trials: list[TrialRecord], windows: list[TinyWindow], log_lines: list[str],
                        streaming: bool = False, note: str | None = None, extra: list[str] | None = None
                        ) -> list[Path]:
    """Write the three files into ``out`` (created if needed); returns their paths. ``note`` (an
    emulation's label) goes into results.txt and, as ``"note"``, into every trial of results.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "results.json", out / "results.txt", out / "log.txt"]
    _atomic_write(paths[0], json.dumps([{**t.to_json(), **({"note": note} if note else {})} for t in trials]))
    _atomic_write(paths[1], results_text(windows, streaming, note, extra))
    _atomic_write(paths[2], "\n".join(log_lines) + "\n")
    return paths
