"""The station's own record of a Tiny energy run, and its audited bundle.

While the run happens, :class:`TinySession` keeps a session directory (``DIR/session/``) as every
station procedure does: ``audit.jsonl`` (hash-chained, written as events happen: boards found,
monitor settings, each trial, the verdict) and a run journal ``tiny/`` with every sample the
monitor delivered, on its own time base. At the end it writes ``review.json`` (the checks of
:func:`station.tiny.verify.verify_tiny`, the metric, a per-trial table and the windows in UTC) and
exports the bundle with :func:`station.measurement.export.export_bundle` into ``DIR/station/`` (and
``DIR/station.zip``): manifest, audit chain, full-resolution samples, the runner's three files
(``runs/tiny/runner/``) and the report with the power trace and the windows marked.

``station verify DIR/station`` recomputes the review (:func:`recompute_tiny`): the checks and the
median from the runner files in the bundle, and each window's energy from the journal's samples.
"""

from __future__ import annotations

import json
import math
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from station import rules as rulesets
from station.core.journal import InstrumentEntry, JournalWriter, write_json_atomic
from station.measurement.audit import AUDIT_FILE, AuditLog
from station.measurement.checks import FAIL, PASS, Check
from station.tiny.published import DutRun

PROCEDURE = "tiny-energy"  # session.json "procedure": the bundle recomputation dispatches on it
SESSION_DIR = "session"
BUNDLE_DIR = "station"
RUN = "tiny"
INSTRUMENT = "lpm01a"
RUNNER_DIR = "runner"  # the runner's files, inside the run directory (and the bundle's runs/tiny/)
DUT_TIMING = "dut_timing.json"
SOURCE = "station verify: the Tiny review recomputed from the bundle (station.tiny.bundle)"
ENERGY_REL_TOLERANCE = 1e-9  # the journal and results.json hold the same float64 samples


class TinySession:
    """The session directory of one Tiny run: audit log now, journal from the first block."""

    def __init__(self, directory: Path, *, operator: str = "", sut: str = "", emulation: str | None = None,
                 settings: dict | None = None) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and any(self.directory.iterdir()):
            raise FileExistsError(f"{self.directory} already holds a session; choose a new --out directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.operator, self.sut, self.emulation = operator, sut, emulation
        self.settings = dict(settings or {})
        self.session_id = str(uuid.uuid4())
        self.created = datetime.now(UTC).isoformat(timespec="seconds")
        self.audit = AuditLog(self.directory / AUDIT_FILE)
        self.journal: JournalWriter | None = None
        self.instrument_info: dict = {}
        self.event("setup", procedure=PROCEDURE, rule_set="mlperf-tiny", settings=self.settings,
                   emulation=emulation)

    def event(self, kind: str, **detail) -> None:
        """An audit entry (and a journal event once the journal runs)."""
        self.audit.append(kind, **detail)
        if self.journal is not None:
            self.journal.event(kind, **{k: v for k, v in detail.items() if v is not None})

    def add_block(self, samples: np.ndarray, interval_s: float) -> None:
        """The monitor's samples, as delivered (called on the recorder's thread)."""
        if self.journal is None:
            self.instrument_info["interval_s"] = interval_s
            self.journal = JournalWriter(self.directory / RUN, [InstrumentEntry(
                INSTRUMENT, "lpm01a", samples.dtype, interval_s, self.instrument_info)],
                settings={"procedure": PROCEDURE, **self.settings})
        self.journal.write(INSTRUMENT, samples)

    def finish(self, out: Path, verification: dict, dut_runs: list[DutRun], windows_utc: list[tuple[float, float]],
               summary: dict):
        """Close the record, write the review and export the bundle to ``out/station``."""
        from station.measurement.export import ExportOptions, export_bundle

        valid = bool(verification["valid"])
        self.event("review", valid=valid, metric=verification.get("metric"),
                   failed=[c["name"] for c in verification["checks"] if c["status"] == FAIL])
        if self.journal is None:  # not one sample arrived: an empty journal still says what ran
            from instruments.records import SAMPLE_DTYPE
            self.add_block(np.zeros(0, dtype=SAMPLE_DTYPE), 1e-3)
        run_dir = self.directory / RUN
        runner = run_dir / RUNNER_DIR
        runner.mkdir(exist_ok=True)
        for name in ("results.json", "results.txt", "log.txt"):
            shutil.copy2(Path(out) / name, runner / name)
        write_json_atomic(run_dir / DUT_TIMING, [vars(r) for r in dut_runs])
        self.journal.close(summary={"state": "complete", "procedure": PROCEDURE})
        rules = rulesets.load("mlperf-tiny").to_dict()
        write_json_atomic(self.directory / "rules.json", rules)
        write_json_atomic(self.directory / "session.json", {
            "session_id": self.session_id, "procedure": PROCEDURE, "operator": self.operator, "sut": self.sut,
            "benchmark": f"MLPerf Tiny energy ({summary.get('dut', {}).get('model') or '?'})",
            "scenario": summary.get("mode", "single-stream"), "created_utc": self.created, "state": "reviewed",
            "settings": self.settings, "emulation": self.emulation,
            "instruments": [{"id": INSTRUMENT, **self.instrument_info}]})
        # Keys chosen so the report names them with their units (station.bundle.report METRIC_LABELS).
        table = [{"trial": w["trial"], "begin": b, "duration_s": w["duration_s"],
                  "edge_error_ms": w["duration_uncertainty_s"] * 1e3, "inferences": w["inferences"],
                  "energy_uj": w["energy_uj"], "uj_per_inference": w["uj_per_inference"],
                  "edge_error_per_inference_uj": w["uj_per_inference_uncertainty"],
                  "average_power_w": w["power_mw"] / 1e3, "dropped_samples": w["dropped_samples"]}
                 for w, (b, _) in zip(verification["windows"], windows_utc, strict=False)]
        metric = verification.get("metric")
        headline = {"median_energy_per_inference_uj": metric["value"]} if metric and metric["unit"] == "uJ/inf" \
            else ({"average_power_w": metric["value"] / 1e3} if metric else {})
        write_json_atomic(self.directory / "review.json", {
            "valid": valid, "checks": verification["checks"], "metric": metric,
            "metrics": {RUN: {**headline, "inferences_per_window": summary.get("inferences_per_window"),
                              "emulation": self.emulation, "gpio_windows": table}},
            "windows": [{"run": RUN, "begin": b, "end": e, "label": f"trial {w['trial']}"}
                        for w, (b, e) in zip(verification["windows"], windows_utc, strict=False)]})
        self.audit.close()
        notes: list[str] = []
        result = export_bundle(self.directory, Path(out) / BUNDLE_DIR, ExportOptions(mlperf_layout=False,
                                                                                     on_warning=notes.append))
        return result, notes

    def abandon(self, why: str) -> None:
        """The run failed: the record says so and is closed (nothing is exported)."""
        try:
            self.event("failed", message=why)
        finally:
            if self.journal is not None:
                self.journal.close(summary={"state": "failed", "message": why})
            self.audit.close()


def recompute_tiny(bundle: Path, manifest: dict) -> list[Check]:
    """The bundle's Tiny review again, from its own files: every check and the metric from the
    runner files (``runs/tiny/runner/``), and each window's energy from the journal's samples."""
    from station.tiny.verify import verify_tiny

    runner = bundle / "runs" / RUN / RUNNER_DIR
    if not (runner / "results.json").is_file():
        return [Check("rule checks recomputed", FAIL, f"runs/{RUN}/{RUNNER_DIR}/results.json is missing", SOURCE)]
    timing = bundle / "runs" / RUN / DUT_TIMING
    dut_runs = [DutRun(**r) for r in json.loads(timing.read_text(encoding="utf-8"))] if timing.is_file() else None
    again = verify_tiny(runner, dut_runs=dut_runs)
    recorded = {c["name"]: c["status"] for c in manifest.get("checks") or [] if isinstance(c, dict)}
    found = {c["name"]: c["status"] for c in again["checks"]}
    differ = [f"{n}: manifest {recorded.get(n)}, recomputed {found.get(n)}"
              for n in sorted(set(recorded) | set(found)) if recorded.get(n) != found.get(n)]
    out = [Check("rule checks recomputed", FAIL if differ else PASS, "; ".join(differ[:5]) if differ else
                 f"all {len(recorded)} checks of the manifest recomputed from the runner files agree", SOURCE)]
    m1, m2 = manifest.get("metric") or {}, again.get("metric") or {}
    same = (m1.get("unit") == m2.get("unit") and isinstance(m1.get("value"), (int, float))
            and isinstance(m2.get("value"), (int, float)) and math.isclose(m1["value"], m2["value"], rel_tol=1e-12))
    same_verdict = bool(again["valid"]) == bool(manifest.get("valid"))
    out.append(Check("metric recomputed", PASS if same and same_verdict else FAIL,
                     f"from the raw samples: {m2.get('value')} {m2.get('unit')} "
                     f"({'valid' if again['valid'] else 'not valid'}); manifest: {m1.get('value')} {m1.get('unit')} "
                     f"({'valid' if manifest.get('valid') else 'not valid'})", SOURCE))
    out.append(_journal_windows(bundle, manifest, again["windows"]))
    return out


def _journal_windows(bundle: Path, manifest: dict, windows: list[dict]) -> Check:
    """Each window's energy from the full-resolution samples between its UTC bounds."""
    npy = bundle / "samples" / RUN / f"{INSTRUMENT}.npy"
    review = json.loads((bundle / "session" / "review.json").read_text(encoding="utf-8"))
    bounds = [(w["begin"], w["end"]) for w in review.get("windows") or []]
    if not npy.is_file() or len(bounds) != len(windows):
        return Check("samples vs runner files", FAIL, f"{len(bounds)} windows in the review, {len(windows)} in the "
                     "runner files, or the samples are missing", SOURCE)
    data = np.load(npy, mmap_mode="r")
    interval = float(manifest.get("instruments", [{}])[0].get("interval_s") or 1e-3)
    t = np.asarray(data["t"])
    off = []
    for w, (b, e) in zip(windows, bounds, strict=True):
        inside = np.asarray(data["w"][(t >= b - interval / 2) & (t < e - interval / 2)], dtype=np.float64)
        energy_uj = float(inside[np.isfinite(inside)].sum()) * interval * 1e6
        if not math.isclose(energy_uj, w["energy_uj"], rel_tol=1e-6, abs_tol=1e-6):
            off.append(f"trial {w['trial']}: {energy_uj:.3f} µJ in the samples, {w['energy_uj']:.3f} µJ in results.json")
    if off:
        return Check("samples vs runner files", FAIL, "; ".join(off[:5]), SOURCE)
    return Check("samples vs runner files", PASS, f"the energy of each of the {len(windows)} windows summed from "
                 "the full-resolution samples agrees with results.json", SOURCE)


__all__ = ["BUNDLE_DIR", "PROCEDURE", "SESSION_DIR", "TinySession", "recompute_tiny"]
