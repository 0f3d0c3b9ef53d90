"""Three answers about a result, computed in one place so every front end says the same words.

- **integrity**: the files, their hashes, the signature and the audit chain are intact (for a
  published MLPerf result: its files are present and match the checksums recorded at the end
  of the run);
- **valid**: integrity holds *and* the measurement passed its rules (the session's review; for a
  published result, every check, the station's stricter ones included);
- **compliant**: it ran under the full, unmodified rule set of an official benchmark
  (:data:`station.rules.OFFICIAL_RULE_SETS`, no ``--set``, no ``--range-override``) with the
  operator and the system under test recorded; for a published result, the official checker
  accepts it. Compliance is about how it was run, so it is answered even when the run failed.

The headline joins them so that no bare ``VALID`` is ever contradicted by one of the three:
``VALID`` (valid and compliant), ``VALID, NOT COMPLIANT``, ``NOT VALID``, ``INTEGRITY FAILED``,
and for a published result the official checker accepts but the station's own checks do not,
``ACCEPTED OFFICIALLY``. ``station measure``, ``station verify``, the report and the window all
show :attr:`Verdict.text`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from station.measurement.checks import FAIL, WARN, Check
from station.rules import official_deviations

VALID = "VALID"
VALID_NOT_COMPLIANT = "VALID, NOT COMPLIANT"
NOT_VALID = "NOT VALID"
INTEGRITY_FAILED = "INTEGRITY FAILED"
ACCEPTED_OFFICIALLY = "ACCEPTED OFFICIALLY"

# What a front end records when the operator gave no name or no system description: the verdict
# reads these as "not given" (the procedure itself refuses empty fields).
MISSING_OPERATOR = "unknown operator"
MISSING_SUT = "unspecified system"

# Where the checks of a published MLPerf result come from (station.mlperf.published): the
# official tools' checks decide "accepted officially", the station's own are stricter.
_PUBLISHED_OFFICIAL_PREFIXES = ("power-dev compliance", "MLCommons submission checker", "MLCommons package checker",
                                "MLCommons result summarizer")
_PUBLISHED_INTEGRITY = ("files", "result checksums", "power summaries")


@dataclass(frozen=True)
class Verdict:
    """The three answers, the headline that joins them and why it is not a bare VALID."""

    integrity: bool
    valid: bool
    compliant: bool
    headline: str
    reasons: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # identity fields an audited result should have and lacks
    official: dict | None = None  # published results: what the official checker would say
    station: dict | None = None  # published results: what the station's stricter checks say

    @property
    def text(self) -> str:
        """One line: the headline and its reasons."""
        return self.headline + (": " + "; ".join(self.reasons) if self.reasons else "")

    @property
    def tone(self) -> str:
        """pass | warn | fail: green, amber or red wherever the headline is coloured."""
        if self.valid and self.compliant:
            return "pass"
        if self.valid or (self.integrity and self.official and self.official.get("accepted")):
            return "warn"
        return "fail"

    @property
    def answers(self) -> str:
        """The three answers in words, e.g. ``integrity intact, valid yes, compliant no``."""
        return (f"integrity {'intact' if self.integrity else 'BROKEN'}, valid {'yes' if self.valid else 'no'}, "
                f"compliant {'yes' if self.compliant else 'no'}")

    @property
    def sides(self) -> str:
        """A published result's two verdicts side by side ("" for others)."""
        if self.official is None or self.station is None:
            return ""
        o, s = self.official, self.station
        warn = o.get("warnings") or 0
        official = ("accepted" if o.get("accepted") else "rejected (" + ", ".join(o.get("failed", [])[:4]) + ")") \
            + (f", {warn} warning{'s' if warn != 1 else ''}" if warn else "")
        station = "no problem" if s.get("valid") else (
            f"{len(s.get('failed', []))} failed ({s.get('problems', 0)} the official checker does not check)")
        return f"official checker: {official} | station checks: {station}"

    @property
    def exit_code(self) -> int:
        """0 valid, 1 not valid (2, unusable input, is decided before there is a verdict)."""
        return 0 if self.valid else 1

    @classmethod
    def from_dict(cls, d: dict) -> Verdict:
        """A verdict from its JSON form (what ``station verify --json`` prints)."""
        return cls(bool(d.get("integrity")), bool(d.get("valid")), bool(d.get("compliant")),
                   str(d.get("headline", NOT_VALID)), tuple(d.get("reasons") or ()), tuple(d.get("missing") or ()),
                   d.get("official"), d.get("station"))

    def to_dict(self) -> dict:
        d = {"integrity": self.integrity, "valid": self.valid, "compliant": self.compliant,
             "headline": self.headline, "verdict": self.text, "reasons": list(self.reasons),
             "missing": list(self.missing)}
        if self.official is not None:
            d["official"] = self.official
        if self.station is not None:
            d["station"] = self.station
        return d


def _as_checks(checks: Iterable[Check | dict] | None) -> list[Check]:
    return [c if isinstance(c, Check) else Check.from_dict(c) for c in checks or [] if isinstance(c, (Check, dict))]


def _names(checks: list[Check], limit: int = 4) -> str:
    names = [c.name for c in checks]
    return ", ".join(names[:limit]) + (f" (+{len(names) - limit} more)" if len(names) > limit else "")


def missing_identity(session: dict | None) -> list[str]:
    """Which of operator and system under test the session does not really name."""
    session = session or {}
    out = []
    if str(session.get("operator") or "").strip() in ("", MISSING_OPERATOR):
        out.append("operator")
    if str(session.get("sut") or "").strip() in ("", MISSING_SUT):
        out.append("system under test")
    return out


def range_overrides(session: dict | None) -> list[str]:
    """The instruments whose testing ranges the operator overrode, each with its ranges."""
    sel = (session or {}).get("range_selection")
    if not isinstance(sel, dict):
        return []
    return [f"{inst} {item.get('voltage')} V / {item.get('current')} A"
            for inst, item in sel.items() if isinstance(item, dict) and item.get("override")]


def compliance_problems(rules: dict | None, session: dict | None) -> list[str]:
    """Why a session is not compliant; empty when it ran the official rules unmodified."""
    out = official_deviations(rules)
    overridden = range_overrides(session)
    if overridden:
        out.append("testing ranges overridden (--range-override): " + ", ".join(overridden))
    missing = missing_identity(session)
    if missing:
        out.append(f"{' and '.join(missing)} not given")
    return out


def review_verdict(review: dict | None, rules: dict | None, session: dict | None,
                   integrity_problems: Iterable[str] = (), not_reviewed: str = "not reviewed") -> Verdict:
    """The verdict of a measured session from its review, rule set and ``session.json``.

    ``integrity_problems``: what is broken in the files (empty for a session just reviewed);
    ``not_reviewed``: the reason shown when there is no review.
    """
    broken = [p for p in integrity_problems if p]
    missing = tuple(missing_identity(session))
    if broken:
        return Verdict(False, False, False, INTEGRITY_FAILED, tuple(broken), missing)
    noncompliance = compliance_problems(rules, session)
    compliant = not noncompliance
    if not isinstance(review, dict) or review.get("valid") is None:
        return Verdict(True, False, compliant, NOT_VALID, (not_reviewed, *noncompliance), missing)
    failed = [c for c in _as_checks(review.get("checks")) if c.status == FAIL]
    if not review.get("valid") or failed:
        reasons = [f"failed {_names(failed)}" if failed else "the review found no testing run to judge"]
        if noncompliance:
            reasons.append("also not compliant: " + "; ".join(noncompliance))
        return Verdict(True, False, compliant, NOT_VALID, tuple(reasons), missing)
    if not compliant:
        return Verdict(True, True, False, VALID_NOT_COMPLIANT, tuple(noncompliance), missing)
    return Verdict(True, True, True, VALID, (), missing)


def bundle_verdict(integrity_checks: Iterable[Check | dict], manifest: dict | None,
                   session: dict | None = None) -> Verdict:
    """A station bundle: ``integrity_checks`` from ``station verify``, review and rules from the manifest.

    ``session``: the bundle's ``session/session.json`` when it is readable (it holds the range
    selection); the manifest's own session fields take precedence.
    """
    checks = _as_checks(integrity_checks)
    broken = [f"{c.name}: {c.evidence}" for c in checks if c.status == FAIL]
    if manifest is None:
        return Verdict(False, False, False, INTEGRITY_FAILED, tuple(broken or ["the manifest cannot be read"]))
    merged = {**(session or {}), **{k: v for k, v in (manifest.get("session") or {}).items() if v is not None}}
    review = {"valid": manifest.get("valid"), "checks": manifest.get("checks") or []}
    return review_verdict(review, manifest.get("rules"), merged, broken)


def published_verdict(checks: Iterable[Check | dict]) -> Verdict:
    """A published MLPerf power directory: the official checker's verdict beside the station's.

    The official verdict is derived from the checks whose source is the official power checker,
    the submission checker or the official metric; the station's adds the checks they miss.
    """
    checks = _as_checks(checks)
    is_official = [c.source.startswith(_PUBLISHED_OFFICIAL_PREFIXES) for c in checks]
    official = [c for c, o in zip(checks, is_official, strict=True) if o]
    official_failed = [c for c in official if c.status == FAIL]
    failed = [c for c in checks if c.status == FAIL]
    station_only = [c for c, o in zip(checks, is_official, strict=True) if not o and c.status == FAIL]
    broken = [c for c in failed if c.name in _PUBLISHED_INTEGRITY]
    accepted = not official_failed
    official_d = {"accepted": accepted, "failed": [c.name for c in official_failed],
                  "warnings": sum(1 for c in official if c.status == WARN)}
    station_d = {"valid": not failed, "problems": len(station_only), "failed": [c.name for c in failed]}
    if broken:
        return Verdict(False, False, False, INTEGRITY_FAILED, tuple(f"{c.name}: {c.evidence}" for c in broken),
                       official=official_d, station=station_d)
    if failed and accepted:
        headline = (f"{ACCEPTED_OFFICIALLY}; station finds {len(station_only)} "
                    f"problem{'s' if len(station_only) != 1 else ''}")
        return Verdict(True, False, True, headline, (f"station checks failed: {_names(station_only)}",),
                       official=official_d, station=station_d)
    if failed:
        reasons = [f"the official checker would reject it: {_names(official_failed)}"]
        if station_only:
            reasons.append(f"the station also finds {_names(station_only)}")
        return Verdict(True, False, False, NOT_VALID, tuple(reasons), official=official_d, station=station_d)
    return Verdict(True, True, True, VALID, (), official=official_d, station=station_d)


__all__ = ["ACCEPTED_OFFICIALLY", "INTEGRITY_FAILED", "MISSING_OPERATOR", "MISSING_SUT", "NOT_VALID", "VALID",
           "VALID_NOT_COMPLIANT", "Verdict", "bundle_verdict", "compliance_problems", "missing_identity",
           "published_verdict", "range_overrides", "review_verdict"]


def tiny_verdict(checks: Iterable[Check | dict]) -> Verdict:
    """A published MLPerf Tiny energy result: its files are read as published (no hashes to check),
    it ran under the Tiny rules, and it is valid when no check fails (the reference runners only
    print warnings, so the station's checks are the verdict)."""
    checks = _as_checks(checks)
    failed = [c for c in checks if c.status == FAIL]
    if failed:
        return Verdict(True, False, True, NOT_VALID, (f"failed: {_names(failed)}",))
    return Verdict(True, True, True, VALID, ())
