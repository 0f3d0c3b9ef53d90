"""What each MLPerf Inference round accepted in a power result, and which round a result is from.

The official power checker is not era-aware: today's copy accepts only PTDaemon 1.11.1 and one set
of power-dev source checksums, so it fails every result of an older round on versions alone.
Each round was judged by the checker of its own time; this table is that checker's data, read
from the history of mlcommons/power-dev ``compliance/check.py`` + ``sources_checksums.json``
and of its copy in mlcommons/inference ``tools/submission/power/`` (which the submission
checker ran from v3.0 on):

========  =======================  ====================  ==========  ===========================
round     checker state            PTDaemon accepted     phase skew  >1 % uncertainty in testing
========  =======================  ====================  ==========  ===========================
v1.0      power-dev 719bd6d        1.9.1, 1.9.2          < 0.2 s     not checked
          (LoadGen times local: + client.json ``timezone``; server.json one message more)
v1.1      power-dev r1.1 (27fb59f  1.9.1, 1.9.2          < 0.2 s     not checked
          + the r1.1 branch set
          merged in f7b3b51)
v2.0      power-dev f7b3b51        1.9.1, 1.9.2          < 0.2 s     not checked
v2.1      power-dev ad6224d        1.9.1, 1.9.2          <= 0.5 s    not checked
v3.0      inference f7314047       1.10.0                <= 0.5 s    not checked
v3.1      inference 8545bddb       1.10.0                <= 0.5 s    fails (window shrunk 500 s)
v4.0/4.1  inference 27ef43ae       1.10.0                <= 0.8 s    fails (window shrunk 800 s)
v5.0 on   power-dev c4b3ad8        1.11.1                <= 0.8 s    fails (window shrunk 800 s)
========  =======================  ====================  ==========  ===========================

PTDaemon's end-of-run ``Uncertainty`` reply (``Uncertainty,<avg>,<min>,<max>,<samples>,<above>,
<within>,<unknown>``) is asked for by every power-dev server since f968959 (2023-01-02, "updating per
SPEC guide": ``grab_power_data``): every source set accepted from v3.1 on has it, none accepted
before (verified by matching each set's ``lib/server.py`` SHA-1 to power-dev's history). So a v3.1+
result without it was not made by its round's server as published, and a v1.0-v3.0 one never has it.

Source sets are kept as a fingerprint: the SHA-1 of the sorted ``<path>:<sha1>\\n`` lines of a
``sources`` object (:func:`sources_fingerprint`), so a result's ``sources`` can be matched to the
rounds that accepted it without carrying every file's checksum. Verified on published results
of v1.0, v1.1, v2.0, v2.1, v3.0, v4.1 and v5.1: every sampled result carries a set its round
accepted (v1.1 results of Krai and Qualcomm carry the r1.1-branch set ``e0ff6cabec28``).

``ptd_config`` in ``server.json`` was one object until power-dev's multi-analyzer server
(PR #327, 2024-11); since then it is a list with one entry per analyzer (v5.0 on).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

_V19 = ("1.9.1", "1.9.2")
_V110 = ("1.10.0",)
_V111 = ("1.11.1",)
_SETS_V10 = ("c8406ec282bb", "dffe613cab91")
_SETS_V11 = ("2d2f4c353e94", "e0ff6cabec28")
_SETS_V21 = _SETS_V11 + ("1bbb34214526",)
_SETS_V31 = ("c8875e810558", "394d58c076da", "b41559964ec6")
_SETS_V40 = ("156ab33fc038",)
_SETS_V50 = ("98d31b919140",)
_PD = "mlcommons/power-dev compliance/check.py"
_INF = "mlcommons/inference tools/submission/power/power_checker.py"


@dataclass(frozen=True)
class Round:
    """The power rules of one MLPerf Inference round, as its official checker applied them."""

    name: str  # "v2.1"
    published: str  # ISO date the round's results were published (sessions are older)
    checker: str  # which checker, at which commit
    ptd_versions: tuple[str, ...]
    source_sets: tuple[str, ...]  # sources_fingerprint() of each accepted power-dev source set
    ptd_config_form: str  # "object" (one analyzer) or "list" (one entry per analyzer)
    phase_tolerance_s: float  # client/server phase times may differ by this much
    phase_tolerance_inclusive: bool  # "<=" (True) or "<" (False)
    uncertainty_fails_in_testing: bool  # ">1.00% limit" warnings inside testing are a failure
    window_shrink_s: float  # the checker's testing window shrink at each end (its ms-as-s bug)
    power_delta_checked: bool  # testing average power may not be > 5 % below ranging
    loadgen_local_time: bool = False  # v1.0: LoadGen times shifted by client.json "timezone"
    extra_server_messages: int = 0  # v1.0: server.json holds one message more than client.json
    uncertainty_reply: bool = False  # every accepted server asks PTDaemon for "Uncertainty" after each run

    @property
    def published_t(self) -> float:
        return datetime.fromisoformat(self.published).replace(tzinfo=UTC).timestamp()


ROUNDS: tuple[Round, ...] = (
    Round("v1.0", "2021-04-21", f"{_PD} @719bd6d", _V19, _SETS_V10, "object", 0.2, False, False, 0.0, False,
          loadgen_local_time=True, extra_server_messages=1),
    Round("v1.1", "2021-09-22", f"{_PD} @27fb59f (r1.1)", _V19, _SETS_V11, "object", 0.2, False, False, 0.0, False),
    Round("v2.0", "2022-04-06", f"{_PD} @f7b3b51", _V19, _SETS_V11, "object", 0.2, False, False, 0.0, False),
    Round("v2.1", "2022-09-08", f"{_PD} @ad6224d", _V19, _SETS_V21, "object", 0.5, True, False, 0.0, False),
    Round("v3.0", "2023-04-05", f"{_INF} @f7314047", _V110, _SETS_V21, "object", 0.5, True, False, 0.0, False),
    Round("v3.1", "2023-09-11", f"{_INF} @8545bddb", _V110, _SETS_V31, "object", 0.5, True, True, 500.0, True,
          uncertainty_reply=True),
    Round("v4.0", "2024-03-27", f"{_INF} @27ef43ae", _V110, _SETS_V40, "object", 0.8, True, True, 800.0, True,
          uncertainty_reply=True),
    Round("v4.1", "2024-08-28", f"{_INF} @27ef43ae", _V110, _SETS_V40, "object", 0.8, True, True, 800.0, True,
          uncertainty_reply=True),
    Round("v5.0", "2025-04-02", f"{_PD} @c4b3ad8", _V111, _SETS_V50, "list", 0.8, True, True, 800.0, True,
          uncertainty_reply=True),
    Round("v5.1", "2025-09-09", f"{_PD} @c4b3ad8", _V111, _SETS_V50, "list", 0.8, True, True, 800.0, True,
          uncertainty_reply=True),
    Round("v6.0", "2026-04-01", f"{_PD} @c4b3ad8", _V111, _SETS_V50, "list", 0.8, True, True, 800.0, True,
          uncertainty_reply=True),
)
BY_NAME = {r.name: r for r in ROUNDS}
_RESULTS_REPO = re.compile(r"inference_results_(v\d+\.\d+)")


def round_named(name: str) -> Round:
    """The round called ``name`` (``v2.1``, ``2.1``); ValueError naming the known rounds."""
    key = name if name.startswith("v") else f"v{name}"
    if key not in BY_NAME:
        raise ValueError(f"unknown round {name!r}; known rounds: {', '.join(BY_NAME)}")
    return BY_NAME[key]


def sources_fingerprint(sources: dict[str, str]) -> str:
    """First 12 hex digits of the SHA-1 of the sorted ``<path>:<sha1>`` lines of ``sources``."""
    text = "".join(f"{k}:{v}\n" for k, v in sorted(sources.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def ptd_version_of(identify_reply: str) -> str | None:
    """The PTDaemon version of an ``Identify`` reply, as the checker reads it (``version=1.9.2-...``)."""
    m = re.search(r"(?<=version=)(.+?)-", identify_reply or "")
    return m.group(1) if m else None


@dataclass(frozen=True)
class RoundChoice:
    round: Round
    how: str  # "given", "path", "files", "date"
    why: str  # a sentence for the verdict

    def to_dict(self) -> dict:
        return {"name": self.round.name, "how": self.how, "why": self.why, "checker": self.round.checker}


def identify_round(sources: dict[str, str], ptd_version: str | None, session_t: float | None,
                   path: Path | None = None, given: str | None = None) -> RoundChoice:
    """Which round's rules apply: ``given`` (``--round``), else the ``inference_results_vX.Y``
    folder the result sits in, else the rounds that accepted these sources and this PTDaemon,
    narrowed by the session date; else the date alone."""
    if given:
        r = round_named(given)
        return RoundChoice(r, "given", f"round {r.name} was given (--round)")
    if path is not None:
        for part in reversed(Path(path).resolve().parts):
            m = _RESULTS_REPO.search(part)
            if m and m.group(1) in BY_NAME:
                r = BY_NAME[m.group(1)]
                return RoundChoice(r, "path", f"round {r.name}: the result sits in {part}/")
    fp = sources_fingerprint(sources) if sources else None
    when = datetime.fromtimestamp(session_t, UTC).date().isoformat() if session_t else "unknown"
    by_date = [r for r in ROUNDS if session_t is None or r.published_t > session_t]
    accepting = [r for r in ROUNDS if fp in r.source_sets and (ptd_version is None or ptd_version in r.ptd_versions)]
    if accepting:
        after = [r for r in accepting if r in by_date]
        r = after[0] if after else accepting[-1]
        names = ", ".join(x.name for x in accepting)
        return RoundChoice(r, "files", f"round {r.name} from the files: power-dev sources {fp} and PTDaemon "
                                       f"{ptd_version or '(unknown)'} were accepted in {names}; the session of "
                                       f"{when} is from {r.name} (published {r.published})")
    r = by_date[0] if by_date else ROUNDS[-1]
    return RoundChoice(r, "date", f"round {r.name} by the session date {when} alone: power-dev sources "
                                  f"{fp or '(none)'} with PTDaemon {ptd_version or '(unknown)'} were accepted "
                                  "in no round")
