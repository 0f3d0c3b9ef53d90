"""Checks in one shape: a verdict on one rule, with the evidence that says why and where it comes from.

A :class:`Check` is what every part of the station reports: the live checks while a run records
(:mod:`station.measurement.checks.live`), the review of a session
(:mod:`station.measurement.checks.final`, ``review.json`` ``checks``), ``station verify`` of a
bundle or of a published MLPerf result, the report and the window's result view. Its JSON form
has exactly the keys ``name, status, evidence, source`` (and ``t`` when the check is tied to a
moment).

Each rule lives in one module of this package with both its forms: the live form (fed with a
recording's events, the run monitors' snapshots and clock checks) and the final form (from the
recorded session). :data:`station.measurement.checks.catalogue.RULES` lists them in the order the
review reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

PASS, WARN, FAIL = "pass", "warn", "fail"
PENDING = "pending"  # live only: the run has not yet shown whether the rule holds
STATUSES = (PASS, WARN, FAIL)


@dataclass(frozen=True)
class Check:
    """One verdict: ``status`` pass | warn | fail (``pending`` only live), ``evidence`` says why.

    ``source`` names the rule parameter's source (document and section) or the official check
    or module the verdict comes from; ``t`` (UTC seconds) is when a live check saw the problem.
    """

    name: str
    status: str
    evidence: str
    source: str = ""
    t: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES and self.status != PENDING:
            raise ValueError(f"check {self.name!r}: status {self.status!r} is not one of pass, warn, fail, pending")

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_dict(self) -> dict:
        d = {"name": self.name, "status": self.status, "evidence": self.evidence, "source": self.source}
        if self.t is not None:
            d["t"] = self.t
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Check:
        """A check from its JSON form. Review files of older stations (``message``, ``param``,
        ``rule`` keys) load too; a status that is none of pass, warn, fail, pending (a damaged or
        edited file) is shown as a failure that says what was recorded."""
        evidence = d.get("evidence")
        if evidence is None:
            evidence = d.get("message", "")
        evidence = str(evidence)
        source = d.get("source") or d.get("param") or ""
        status = d.get("status")
        if status not in STATUSES and status != PENDING:
            evidence = f"recorded status {status!r} is not pass, warn or fail; {evidence}"
            status = FAIL
        try:
            t = None if d.get("t") is None else float(d["t"])
        except (TypeError, ValueError):
            t = None
        return cls(str(d.get("name", "")), status, evidence, str(source), t)


def all_pass(checks: list[Check]) -> bool:
    """No check failed (warnings do not make a result invalid)."""
    return not any(c.failed for c in checks)


__all__ = ["FAIL", "PASS", "PENDING", "STATUSES", "WARN", "Check", "all_pass"]
