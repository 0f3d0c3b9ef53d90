"""The MLPerf Power part of a bundle: ``power/``, ``ranging/``, ``run_<n>/`` as the MLCommons
tooling reads them, written from a session's recorded runs.

- ``ranging/spl.txt`` and ``run_<n>/spl.txt``: 1 s samples of the system total (several
  analyzers summed per time step, ``station.procedure.alignment.system_total``) in PTDaemon's
  sample line format (``station.mlperf.ptd_files``), mark ``<session>_ranging`` / ``_testing``;
- the LoadGen logs of each run (``mlperf_log_detail.txt``, ``mlperf_log_summary.txt``) when the
  run had them, byte for byte;
- ``run_<n>/ptd_out.txt``: the ``Watts`` and ``Uncertainty`` replies PTDaemon would give;
- ``power/ptd_logs.txt``: the analyzer log of every run (phase start/stop, doubtful seconds:
  invalid, over range, clipped, uncertainty unknown or above the limit), in PTDaemon's words.

The MLCommons metric code needs only ``spl.txt`` and the LoadGen detail log, so it works on the
bundle unchanged; ``server.json``/``client.json`` belong to the protocol-v3 session
(``station serve``) and are copied when the session has them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from station.core.journal import JournalReader
from station.mlperf import ptd_files
from station.procedure.alignment import system_total

LOADGEN_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "mlperf_log_accuracy.json")


def _total(reader: JournalReader) -> tuple[np.ndarray, float]:
    streams = [(np.asarray(reader.samples(i)), e.interval_s) for i, e in reader.instruments.items()]
    return system_total(streams)


def _ranges(reader: JournalReader) -> tuple[float, float] | None:
    for inst in reader.instruments:
        data = reader.samples(inst)
        if len(data):
            v, a = float(data["v_range"][-1]), float(data["a_range"][-1])
            if np.isfinite(v) and np.isfinite(a):
                return v, a
    return None


def _model(reader: JournalReader) -> str:
    for entry in reader.instruments.values():
        ident = entry.info.get("identity") or {}
        model = ident.get("model") or entry.driver
        return str(model)
    return "analyzer"


def _loadgen_sources(run_dir: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name in LOADGEN_FILES:
        for candidate in (run_dir / name, run_dir / "loadgen" / name):
            if candidate.is_file():
                found[name] = candidate
                break
    return found


def write_layout(session_dir: Path, out: Path, session: dict, runs: list[tuple[str, Path]]) -> list[str]:
    """Write the MLPerf layout into bundle directory ``out``; returns the files written (relative)."""
    name = str(session.get("session_id") or session_dir.name)
    written: list[str] = []
    log = ptd_files.PtdLog(out / "power" / "ptd_logs.txt", banner=[f"station session {name}"])
    try:
        testing = 0
        for run_name, run_dir in runs:
            reader = JournalReader(run_dir)
            if run_name == "ranging":
                target, mode = out / "ranging", "ranging"
            elif run_name.startswith("testing_"):
                testing += 1
                target, mode = out / f"run_{testing}", "testing"
            else:
                continue
            total, _dt = _total(reader)
            if len(total) == 0:
                continue
            mark = f"{name}_{mode}"
            t0 = float(np.floor(total["t"][0]))
            secs = ptd_files.one_second_samples(total, t0)
            ranges = _ranges(reader)
            log.line(f"Go with mark '{mark}'", float(total["t"][0]))
            log.lines(ptd_files.sample_log_lines(secs, _model(reader), ranges))
            log.line("Completed test", float(total["t"][-1]))
            log.line(ptd_files.format_completed(secs), float(total["t"][-1]))
            ptd_files.write_spl(target / "spl.txt", secs, mark)
            written.append(f"{target.name}/spl.txt")
            if mode == "testing":
                ptd_files.write_ptd_out(target / "ptd_out.txt", ptd_files.format_watts_reply(secs),
                                        ptd_files.format_uncertainty_reply(secs))
                written.append(f"{target.name}/ptd_out.txt")
            for fname, src in _loadgen_sources(run_dir).items():
                shutil.copyfile(src, target / fname)
                written.append(f"{target.name}/{fname}")
    finally:
        log.close()
    written.append("power/ptd_logs.txt")
    for fname in ("server.json", "client.json", "server.log", "client.log"):
        src = session_dir / "power" / fname
        if src.is_file():
            shutil.copyfile(src, out / "power" / fname)
            written.append(f"power/{fname}")
    (out / "power" / "station.json").write_text(json.dumps(
        {"session": name, "runs": [r for r, _ in runs], "written_by": "station bundle export"}, indent=1) + "\n",
        encoding="utf-8")
    written.append("power/station.json")
    return sorted(written)
