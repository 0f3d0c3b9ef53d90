"""Dropped samples: invalid samples and gaps are left out of the average; ``max_dropped_fraction``
(MLPerf Tiny: 0.1 %) bounds how many of the expected samples may be lost.

Live: the first invalid sample of a stretch, every gap in the timestamps (a failure when the
rule set allows none). Final, per testing run and instrument: invalid plus missing samples
against the samples expected inside the window.
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, WARN, Check
from station.measurement.checks.final import Review
from station.measurement.checks.live import LiveRule, clock_text
from station.rules import ParamSpec

PARAMETERS = {"max_dropped_fraction": ParamSpec("float", 0.0, 1.0)}


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        live.set("invalid", PASS, "no invalid sample so far", "max_dropped_fraction")
        live.set("gaps", PASS, "no gap in the data so far", "max_dropped_fraction")

    def on_event(self, kind: str, t: float | None, detail: dict) -> None:
        live, inst = self.live, detail.get("instrument", "")
        if kind == "invalid" and detail.get("state") == "begin":
            live.set("invalid", WARN, f"{inst} delivered invalid samples from {clock_text(t)}: they are left out of "
                     "the average (as the MLCommons tools do); many of them make the result less certain",
                     "max_dropped_fraction", t)
        elif kind == "gap":
            limit = live.rules.get("max_dropped_fraction")
            live.set("gaps", FAIL if limit is not None and limit == 0 else WARN,
                     f"{inst}: {detail.get('missing_samples', 0)} samples missing before {clock_text(t)} "
                     f"({detail.get('length_s', 0):.3g} s); energy in the gap is not measured",
                     "max_dropped_fraction", t)


def final(review: Review) -> list[Check]:
    limit = review.rules.get("max_dropped_fraction")
    out = []
    for run in review.testing:
        for inst, s in run.per.items():
            name = f"{run.name} {inst}: dropped samples"
            dropped = s["invalid_samples"] + s["missing_samples"]
            expected = s["samples"] + s["missing_samples"]
            if limit is not None and expected:
                frac = dropped / expected
                out.append(review.check(name, PASS if frac <= limit else FAIL,
                                        f"{s['invalid_samples']} invalid and {s['missing_samples']} missing of "
                                        f"{expected} ({frac * 100:.3g} %, at most {limit * 100:g} %)",
                                        "max_dropped_fraction"))
            elif dropped or s["gaps"]:
                out.append(review.check(name, WARN, f"{s['invalid_samples']} invalid samples and {s['gaps']} gaps "
                                        f"({s['missing_samples']} samples missing) inside the window; they are left "
                                        "out of the average"))
    return out
