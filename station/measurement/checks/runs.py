"""The runs the rules need: a ranging run when the rule set requires one, at least one testing run."""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, Check
from station.measurement.checks.final import Review
from station.rules import ParamSpec

PARAMETERS = {"ranging_required": ParamSpec("bool")}


def final(review: Review) -> list[Check]:
    out = []
    if review.rules.get("ranging_required"):
        if review.ranging_info is None:
            out.append(review.check("ranging", FAIL, "no completed ranging run; the rules need one before testing",
                                    "ranging_required"))
        else:
            out.append(review.check("ranging", PASS, f"ranging run {review.ranging_info['name']} completed",
                                    "ranging_required"))
    if not review.testing_infos:
        out.append(review.check("testing", FAIL, "no completed testing run"))
    return out
