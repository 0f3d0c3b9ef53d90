"""Recompute a station bundle's rule checks and metric from its raw samples.

The bundle holds every run's journal metadata (``runs/<run>/``: header, events, workload output,
LoadGen logs) and its full-resolution samples (``samples/<run>/<inst>.npy``). They are put back
together as a session directory in a private temporary directory and reviewed again by the
same code that reviewed the session (``station.procedure.review.review_directory``); every
verdict and the metric must come out as the manifest says.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from station.bundle import verify as bundle_verify
from station.core.journal import samples_file
from station.measurement.checks import FAIL, PASS, WARN, Check

SOURCE = "station verify: the review recomputed from the bundle's raw samples (station.bundle.recompute)"


def _rebuild(bundle: Path, manifest: dict, target: Path) -> None:
    for name in ("session.json", "rules.json"):
        shutil.copyfile(bundle / "session" / name, target / name)
    for run in manifest.get("runs") or []:
        src, dst = bundle / "runs" / run, target / run
        shutil.copytree(src, dst)
        for npy in sorted((bundle / "samples" / run).glob("*.npy")):
            data = np.load(npy, mmap_mode="r")
            with open(dst / samples_file(npy.stem), "wb") as f:
                for i in range(0, len(data), 1 << 20):
                    f.write(np.ascontiguousarray(data[i:i + (1 << 20)]).tobytes())


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def recompute(bundle: Path, manifest: dict) -> list[Check]:
    if not manifest.get("checks") and manifest.get("valid") is None:
        return []  # not a reviewed session (e.g. a lab export without rules): nothing to recompute
    if not (bundle / "session" / "session.json").is_file() or not (bundle / "session" / "rules.json").is_file():
        return [Check("rule checks recomputed", FAIL, "session/session.json or session/rules.json is missing",
                      SOURCE)]
    session = json.loads((bundle / "session" / "session.json").read_text(encoding="utf-8"))
    if isinstance(session, dict) and session.get("procedure") == "tiny-energy":
        from station.tiny.bundle import recompute_tiny  # a Tiny run is reviewed from its runner files

        return recompute_tiny(bundle, manifest)
    if not isinstance(session, dict) or not isinstance(session.get("runs"), list):
        return [Check("rule checks recomputed", WARN, "the session was not recorded by the guided procedure; its "
                      "checks cannot be recomputed from the samples", SOURCE)]
    from station.procedure.review import review_directory

    tmp = Path(tempfile.mkdtemp(prefix="station-recompute-"))
    try:
        _rebuild(bundle, manifest, tmp)
        review = review_directory(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    recorded = {c.name: c.status for c in map(Check.from_dict, manifest.get("checks") or [])}
    again = {c.name: c.status for c in map(Check.from_dict, review.get("checks") or [])}
    # A check this station has and the exporting one did not (a rule added since) only counts
    # when it fails; a recorded check that no longer comes out, or comes out otherwise, differs.
    differ = [f"{n}: manifest {recorded.get(n)}, samples {again.get(n)}"
              for n in sorted(set(recorded) | set(again))
              if recorded.get(n) != again.get(n) and (n in recorded or again[n] == FAIL)]
    added = sorted(n for n in set(again) - set(recorded) if again[n] != FAIL)
    evidence = ("; ".join(differ[:5]) + (" …" if len(differ) > 5 else "") if differ
                else f"all {len(recorded)} checks of the manifest recomputed from the raw samples agree")
    if added:
        evidence += f"; {len(added)} checks this station adds ({', '.join(added[:3])}{' …' if len(added) > 3 else ''}) " \
                    "do not fail"
    out = [Check("rule checks recomputed", FAIL if differ else PASS, evidence, SOURCE)]
    m1, m2 = manifest.get("metric") or {}, review.get("metric") or {}
    ok = _same(m1.get("value"), m2.get("value")) and m1.get("unit") == m2.get("unit")
    verdict_ok = bool(review.get("valid")) == bool(manifest.get("valid"))
    out.append(Check("metric recomputed", PASS if ok and verdict_ok else FAIL,
                     f"from the samples: {m2.get('value')} {m2.get('unit')} "
                     f"({'valid' if review.get('valid') else 'not valid'}); manifest: {m1.get('value')} "
                     f"{m1.get('unit')} ({'valid' if manifest.get('valid') else 'not valid'})", SOURCE))
    return out


if recompute not in bundle_verify.RECOMPUTE:
    bundle_verify.RECOMPUTE.append(recompute)
