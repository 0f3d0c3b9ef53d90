"""Calibration: every instrument of the session is within its calibration when it measures.

Each instrument entry of a session (``session["instruments"][i]``) carries ``calibration_due``
(an ISO date, or null when unknown). A due date before the run's date is a failure when the
rule set says ``calibration_required`` (the MLPerf rule sets) and a warning otherwise (lab); an
unknown or unreadable one is a warning. Live: the same verdict at the start of a run, for the
instruments the procedure hands over. Final: one check per instrument against the date of the
last recorded sample (the session's creation when nothing was recorded).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from station.measurement.checks import FAIL, PASS, WARN, Check
from station.measurement.checks.final import Review
from station.measurement.checks.live import LiveRule
from station.rules import ParamSpec, RuleSet

PARAMETERS = {"calibration_required": ParamSpec("bool")}
PARAM = "calibration_required"


def _label(entry: dict) -> tuple[str, str]:
    ident = entry.get("identity") or {}
    serial = entry.get("serial") or ident.get("serial") or "unknown"
    return str(entry.get("id") or entry.get("name") or entry.get("driver") or "instrument"), str(serial)


def verdict(rules: RuleSet, entry: dict, on: date) -> tuple[str, str]:
    """(status, evidence) of one instrument entry's calibration for a run on ``on``."""
    inst, serial = _label(entry)
    due_text = entry.get("calibration_due")
    who = f"{inst} (serial {serial})"
    if not due_text:
        return WARN, (f"{who}: no calibration due date recorded; the accuracy the uncertainty is computed from "
                      "cannot be vouched for — record the date from the calibration certificate")
    try:
        due = date.fromisoformat(str(due_text)[:10])
    except ValueError:
        return WARN, f"{who}: calibration due date {due_text!r} is not a date (YYYY-MM-DD)"
    if due < on:
        required = bool(rules.get(PARAM, False))
        return (FAIL if required else WARN), (
            f"{who}: calibration was due {due.isoformat()}, before the run on {on.isoformat()}"
            + ("; the rules need a calibrated analyzer — the result is not valid, recalibrate and repeat"
               if required else "; its readings may be off by more than its specification"))
    return PASS, f"{who}: calibrated, due {due.isoformat()} (run on {on.isoformat()})"


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        today = datetime.now(UTC).date()
        for entry in live.instruments:
            status, evidence = verdict(live.rules, entry, today)
            live.set(f"calibration {_label(entry)[0]}", status, evidence, PARAM)


def run_date(review: Review) -> date:
    """The date of the last recorded sample of the session (its creation date without one)."""
    ends = [m[1] for m in (run.data.measured for run in review.runs) if m is not None]
    if ends:
        return datetime.fromtimestamp(max(ends), UTC).date()
    created = review.session.get("created_utc")
    if created:
        try:
            return datetime.fromisoformat(str(created)).date()
        except ValueError:
            pass
    return datetime.now(UTC).date()


def final(review: Review) -> list[Check]:
    entries = [e for e in review.session.get("instruments") or [] if isinstance(e, dict)]
    if not entries:
        return []
    on = run_date(review)
    out = []
    for entry in entries:
        status, evidence = verdict(review.rules, entry, on)
        out.append(review.check(f"calibration {_label(entry)[0]}", status, evidence, PARAM))
    return out
