"""Verify a published MLPerf power result directory (``performance/`` with ``power/``,
``ranging/``, ``run_1/``): every content check of the Power WG compliance checker, the checks it
misses, and the official power metric.

What the official checker (power-dev ``compliance/check.py``, copied into mlcommons/inference as
``power_checker.py``) checks, done here too: PTD model, version and command replies; UUIDs;
session names; client/server phase times within 0.8 s; the LoadGen window inside the client's
phases; testing average power not more than 5 % below ranging; client/server messages; result
file checksums; errors and warnings of the PTD log by window; PTD device types; the debug flag.
The tool sources are compared between client and server (whether they are the pinned official
release is for the official checker, which carries that list).

Where it is blind, checked here:

- it stops reading the PTD log at its first warning: we read every line and say which failing
  lines it never reaches;
- its ">1 % uncertainty in testing is an error" rule adds 800 *seconds* instead of 0.8 s to the
  window, so it never fires on runs under ~1600 s: we apply it to the real testing window;
- it counts no samples, gaps or invalid (-1) readings: we do, inside the LoadGen window;
- it never reads PTDaemon's end-of-run ``Uncertainty`` reply: we do, and hold it to the 1 % limit;
- with several analyzers it reads the first one's model, version and ranging run only: we hold
  every later one to its round's models and versions, both LoadGen windows, and its own readings
  in the merged ``spl.txt`` (whose sum turns negative readings into power).
"""

from __future__ import annotations

import hashlib
import re
import uuid as uuidlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from station.measurement.checks import Check
from station.measurement.verdict import published_verdict
from station.mlperf.client_server import PowerSummary, read_power_json, read_power_log
from station.mlperf.errors import FormatError
from station.mlperf.loadgen import LoadgenDetail, read_detail, read_summary
from station.mlperf.metric import canonical_scenario, mlperf_metric, official_throughput, window_average
from station.mlperf.ptd_log import PtdLog, parse_uncertainty_reply, read_ptd_log
from station.mlperf.rounds import (
    ROUNDS,
    Round,
    RoundChoice,
    identify_round,
    ptd_version_of,
    sources_fingerprint,
)
from station.mlperf.spl import SplData, analyzer_readings, read_spl

TIME_DELTA_TOLERANCE_S = 0.8
OFFICIAL_TOLERANCE_BUG_S = 800.0  # what the checker really adds (milliseconds taken as seconds)
RESULT_PATHS = ("power/client.log", "power/ptd_logs.txt", "power/server.log", "ranging/mlperf_log_detail.txt",
                "ranging/mlperf_log_summary.txt", "ranging/spl.txt", "run_1/mlperf_log_detail.txt",
                "run_1/mlperf_log_summary.txt", "run_1/spl.txt")
SUMMARIES = ("power/client.json", "power/server.json")
OPTIONAL = ("run_1/mlperf_log_accuracy.json", "ranging/mlperf_log_accuracy.json", "run_1/mlperf_log_trace.json",
            "ranging/mlperf_log_trace.json")
SUPPORTED_MODELS = {"YokogawaWT210": 8, "YokogawaWT500": 35, "YokogawaWT500_multichannel": 48, "YokogawaWT310": 49,
                    "YokogawaWT310E": 49, "YokogawaWT330": 52, "YokogawaWT330E": 52,
                    "YokogawaWT330_multichannel": 77, "YokogawaWT210_DC": 508, "YokogawaWT310_DC": 549,
                    "YokogawaWT330_DC": 586}
DEVICE_TYPES = set(SUPPORTED_MODELS.values())
SUPPORTED_PTD_VERSIONS = ("1.11.1",)
GO_REPLY = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
IGNORED_RANGING_ERRORS = ("Can't evaluate uncertainty of this sample!", "Bad watts reading nan from ",
                          "Bad amps reading nan from ", "Bad pf reading nan from ", "Bad volts reading nan from ",
                          "Current appears to be too high for set range")
ACCEPTED_ERRORS = ("USB.",)
_UNCERTAINTY = re.compile(r"Uncertainty \d+.\d+%, which is above 1.00% limit for the last sample!")
# PTD 1.11.1 with multichannel analyzers ends "... for the last sample, logical channel K!", which
# the official pattern above does not match: the station reads both forms
_UNCERTAINTY_ANY = re.compile(r"Uncertainty \d+\.\d+%, which is above \d+\.\d+% limit for the last sample"
                              r"(?:, logical channel \d+)?!")
GAP_S = 1.5  # PTDaemon samples once a second: a step over 1.5 s is a missing sample


# Where each verdict comes from (Check.source).
OFFICIAL = "power-dev compliance/check.py (the official power checker)"
SUBMISSION = "MLCommons submission checker"
OURS = "station: what the official checker does not check"
METRIC = "power-dev compliance power metric (station.mlperf.metric)"


def performance_dirs(path: Path) -> list[Path]:
    """``path`` itself or its ``performance/`` when it is a result, else every nested result."""
    for cand in (path, path / "performance"):
        if (cand / "power").is_dir() and (cand / "run_1").is_dir():
            return [cand]
    return sorted(p.parent for p in path.rglob("power") if p.is_dir() and (p.parent / "run_1").is_dir())


def find_performance_dir(path: Path) -> Path | None:
    """``path`` itself, its ``performance/``, or the single nested result under it."""
    found = performance_dirs(path)
    return found[0] if len(found) == 1 else None


def ptd_log_lines(path: Path) -> list[tuple[int, float, str]]:
    """(line number, UTC seconds, text after the timestamp) of every timestamped PTD log line."""
    return [(x.line, x.t, x.text) for x in read_ptd_log(path).lines]


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def verify_published(root: Path, round_name: str | None = None) -> dict:
    """Every check of a published power result, by the rules of its round (``round_name``, e.g.
    ``"v2.1"``, or found from the files); ``result["round"]`` says which and why. ValueError for
    an unknown ``round_name``."""
    perf = find_performance_dir(root)
    if perf is None:
        raise FormatError("not an MLPerf power directory (no performance/ with power/ and run_1/)", root)
    checks: list[Check] = []
    rel = perf.relative_to(root).as_posix() if perf != root else "."

    # -- files ----------------------------------------------------------------------------------------
    expected = SUMMARIES + RESULT_PATHS
    missing = [p for p in expected if not (perf / p).is_file()]
    checks.append(Check("files", "fail" if missing else "pass",
                         f"missing under {rel}: {', '.join(missing)}" if missing
                         else f"all {len(expected)} result files present under {rel}", OFFICIAL))
    extra = sorted(p.relative_to(perf).as_posix() for d in ("power", "ranging", "run_1") if (perf / d).is_dir()
                   for p in (perf / d).iterdir() if p.is_file()
                   and p.relative_to(perf).as_posix() not in expected + OPTIONAL)
    if extra:
        checks.append(Check("file list", "warn", f"files the submission checker rejects (it wants exactly the "
                                                  f"result files): {', '.join(extra)}", SUBMISSION))
    try:
        client = read_power_json(perf / "power/client.json")
        server = read_power_json(perf / "power/server.json")
    except FormatError as exc:
        checks.append(Check("power summaries", "fail", str(exc), OFFICIAL))
        return _result(checks, None)

    choice = _choose_round(perf, client, server, round_name)
    rnd = choice.round
    checks.append(_round_check(choice, server))
    checks.extend(_sources_checks(client, server, rnd))
    checks.extend(_ptd_messages_checks(server, rnd))
    checks.extend(_identity_checks(client, server))

    # -- LoadGen logs and samples --------------------------------------------------------------------------
    details: dict[str, LoadgenDetail] = {}
    spls: dict[str, SplData] = {}
    for mode, d in (("ranging", "ranging"), ("testing", "run_1")):
        try:
            details[mode] = read_detail(perf / d / "mlperf_log_detail.txt")
            spls[mode] = read_spl(perf / d / "spl.txt")
        except FormatError as exc:
            checks.append(Check(f"{mode} files", "fail", str(exc), OFFICIAL))
    checks.extend(_phase_checks(client, server, details, rnd))
    avgs = {m: window_average(spls[m].t, spls[m].watts, details[m].power_begin.timestamp(),
                              details[m].power_end.timestamp()) for m in spls if m in details}
    if "ranging" in avgs and "testing" in avgs:
        checks.append(_power_delta_check(avgs["ranging"], avgs["testing"], rnd))
    checks.append(_messages_check(client, server, rnd))
    checks.append(_results_check(perf, client, server))

    # -- PTD log ----------------------------------------------------------------------------------------------
    try:
        log = read_ptd_log(perf / "power/ptd_logs.txt")
    except FormatError as exc:
        checks.append(Check("PTD log", "fail", str(exc), OFFICIAL))
    else:
        checks.extend(_ptd_log_checks(log, server.session_name, details.get("testing"), rnd))
        if len(set(log.analyzers)) > 1 or len(server.ptd_config or []) > 1:
            checks.append(_later_analyzers_check(log, server, rnd, details, perf))
        checks.append(_uncertainty_reply_check(log, server, rnd))

    checks.append(_ptd_config_check(server))
    checks.append(Check("server debug mode", "fail" if server.debug else "pass",
                         "power/server.json: \"debug\": true (the server ran with MLPP_DEBUG: shortened waits)"
                         if server.debug else "power/server.json: debug mode off", OFFICIAL))
    checks.append(_logs_check(perf))

    # -- what the official checker does not count, and the metric -------------------------------------------------
    metric = None
    if "testing" in spls and "testing" in details:
        spl, det = spls["testing"], details["testing"]
        checks.append(_samples_check(spl, det))
        avg, n = avgs["testing"]
        summary: dict = {}
        try:
            summary = read_summary(perf / "run_1/mlperf_log_summary.txt")
        except FormatError as exc:
            checks.append(Check("testing LoadGen summary", "fail", str(exc), METRIC))
        summary = {**summary, "result_query_count": det.query_count}
        # the official metric uses the scenario of the directory (any case), not the log's
        scen_dir = canonical_scenario(perf.parent.name) if perf.name == "performance" else None
        if n:
            throughput = official_throughput(det.value, scen_dir or det.scenario, det.scenario,
                                             perf.parent.parent.name if scen_dir else "", rnd.name)
            m = mlperf_metric(det.scenario, avg, det.power_begin, det.power_end, summary, directory_scenario=scen_dir,
                              throughput=throughput)
            metric = {"value": m["value"], "unit": m["unit"], "average_power_w": avg, "samples": n,
                      "duration_s": m["duration_s"], "scenario": m["scenario"]}
            if "efficiency" in m:
                metric["efficiency"] = m["efficiency"]
            checks.append(Check("power metric", "pass" if m["value"] is not None else "fail",
                                 (f"{m['value']:.6g} {m['unit']}" if m["value"] is not None else m.get("problem", ""))
                                 + f" ({m['scenario']}): average {avg:.4f} W of {n} samples of run_1/spl.txt "
                                   f"strictly inside power_begin..power_end ({m['duration_s']:.3f} s)"
                                 + (f", {m['queries']} queries" if "queries" in m else ""), METRIC))
        else:
            checks.append(Check("power metric", "fail", "run_1/spl.txt has no valid sample (Watts > 0) inside "
                                                         "power_begin..power_end: no power metric", METRIC))
    result = _result(checks, metric)
    result["round"] = choice.to_dict()
    return result


def _choose_round(perf: Path, client: PowerSummary, server: PowerSummary, given: str | None) -> RoundChoice:
    ident = next((str(m.get("reply", "")) for m in server.ptd_messages or [] if m.get("cmd") == "Identify"), "")
    times = [t for phases in server.phases.values() for t in phases]
    return identify_round(server.sources, ptd_version_of(ident), min(times) if times else None, perf, given)


def _round_check(choice: RoundChoice, server: PowerSummary) -> Check:
    rnd = choice.round
    form = server.ptd_config_form
    rules = (f"PTDaemon {', '.join(rnd.ptd_versions)}, client/server phase skew "
             f"{'<=' if rnd.phase_tolerance_inclusive else '<'} {rnd.phase_tolerance_s:g} s, ptd_config as "
             f"{'a list per analyzer' if rnd.ptd_config_form == 'list' else 'one object'}")
    odd = form is not None and form != rnd.ptd_config_form
    return Check("round", "warn" if odd else "pass",
                 f"{choice.why}; its checker ({rnd.checker}) accepted {rules}"
                 + (f"; but power/server.json holds ptd_config as {'a list' if form == 'list' else 'one object'}"
                    if odd else ""), OURS)


# -- official checks ---------------------------------------------------------------------------------------------
def _sources_checks(client: PowerSummary, server: PowerSummary, rnd: Round) -> list[Check]:
    """The official rule (each summary's sources one of the round's accepted sets), and ours: the
    client and the server ran the same sources."""
    out = []
    problems, kinds = [], []
    for name, s in (("client.json", client), ("server.json", server)):
        if not s.sources:
            problems.append(f"power/{name} lists no tool sources")
            kinds.append("none")
            continue
        fp = sources_fingerprint(s.sources)
        if fp in rnd.source_sets:
            kinds.append("accepted")
            continue
        elsewhere = [r.name for r in ROUNDS if fp in r.source_sets]
        kinds.append("other round" if elsewhere else "unofficial")
        problems.append(f"power/{name}: source set {fp} is not one accepted in {rnd.name}"
                        + (f" (it is {', '.join(elsewhere)}'s)" if elsewhere
                           else " nor in any round: not an official power-dev release"))
    # the official checker rejects every set not accepted in the round; one tool of no release on
    # both sides (a station director, a self-built tool) is for the reader to judge, anything
    # else (another round's release, one side changed) is a failure
    same = client.sources == server.sources
    status = ("pass" if not problems else
              "warn" if kinds == ["unofficial", "unofficial"] and same else "fail")
    diff = sorted(k for k in set(client.sources) | set(server.sources)
                  if client.sources.get(k) != server.sources.get(k))
    if problems and diff:
        problems.append(f"client and server differ in {', '.join(diff[:5])}")
    out.append(Check("tool sources", status,
                     "; ".join(problems) or f"power/client.json {sources_fingerprint(client.sources)}, "
                                            f"power/server.json {sources_fingerprint(server.sources)}: source "
                                            f"sets accepted in {rnd.name}", OFFICIAL))
    if diff and not problems:
        out.append(Check("client and server sources (not checked officially)", "warn",
                         f"power/client.json and power/server.json: client and server ran different versions of "
                         f"{', '.join(diff[:5])}", OURS))
    return out


def _ptd_messages_checks(server: PowerSummary, rnd: Round) -> list[Check]:
    msgs = server.ptd_messages
    if not msgs:
        return [Check("PTD analyzer and version", "fail", "power/server.json has no ptd_messages", OFFICIAL)]
    out = []

    def reply(cmd: str) -> str:
        return next((str(m.get("reply", "")) for m in msgs if m.get("cmd") == cmd), "")

    ident = reply("Identify")
    model = ident.split(",")[0] if ident else ""
    ver = re.search(r"(?<=version=)(.+?)-", ident)
    version = ver.group(1) if ver else ""
    ok = model in SUPPORTED_MODELS and version in rnd.ptd_versions
    out.append(Check("PTD analyzer and version", "pass" if ok else "fail",
                      f"Identify: model {model or '(none)'!r} ({'supported' if model in SUPPORTED_MODELS else 'not supported'}), "
                      f"PTDaemon {version or '(unknown)'} (supported in {rnd.name}: {', '.join(rnd.ptd_versions)})",
                      OFFICIAL))
    problems = []
    stops = 0
    for i, m in enumerate(msgs):
        cmd, rep = str(m.get("cmd", "")), str(m.get("reply", ""))
        want = None
        if cmd.startswith("SR,A"):
            want = "Range A changed"
        elif cmd.startswith("SR,V"):
            want = "Range V changed"
        elif cmd.startswith("Go,1000,"):
            want = GO_REPLY
        elif cmd == "Stop":
            want = "Error: no measurement to stop" if stops == 2 else "Stopping untimed measurement"
            stops += 1
        if want is not None and rep != want:
            problems.append(f"ptd_messages[{i}] {cmd!r} got {rep!r}, expected {want!r}")

    def initial(fields: list[str], i: int) -> str | None:
        try:
            return fields[i + 1] if fields[i] == "0" and float(fields[i + 1]) > 0 else "Auto"
        except (IndexError, ValueError):
            return None

    rr = str(msgs[2].get("reply", "")) if len(msgs) > 2 else ""
    fields = rr.split(",")
    amps, volts = initial(fields, 1), initial(fields, 3)
    if amps is None or volts is None:
        problems.append(f"ptd_messages[2] is not the RR reply with the initial ranges: {rr!r}")
    else:
        sr_a = [str(m.get("cmd")) for m in msgs if str(m.get("cmd", "")).startswith("SR,A")]
        sr_v = [str(m.get("cmd")) for m in msgs if str(m.get("cmd", "")).startswith("SR,V")]
        if f"SR,A,{amps}" not in sr_a[2:4]:
            problems.append(f"the current range is not restored to the initial {amps} (3rd/4th SR,A: {sr_a[2:4]})")
        if sr_v[2:3] != [f"SR,V,{volts}"]:
            problems.append(f"the voltage range is not restored to the initial {volts} (3rd SR,V: {sr_v[2:3]})")
    n_analyzers = sum(1 for m in msgs if m.get("cmd") == "Identify")
    if n_analyzers > 1 and any("expected 'Error: no measurement to stop'" in p for p in problems):
        # power-dev appends each analyzer's messages: analyzer 2's first Stop is the 3rd, which the
        # checker (written for one analyzer) wants refused; so it rejects every such session
        problems.insert(0, f"with {n_analyzers} analyzers ptd_messages hold each one's Stop commands and the "
                           "official checker wants the 3rd Stop refused: it rejects every session of several "
                           "analyzers, power-dev's own included")
    out.append(Check("PTD commands and replies", "fail" if problems else "pass",
                      "power/server.json: " + ("; ".join(problems[:3]) if problems
                                               else f"{len(msgs)} PTD commands with the expected replies, ranges "
                                                    f"restored to {volts} V / {amps} A"), OFFICIAL))
    return out


def _identity_checks(client: PowerSummary, server: PowerSummary) -> list[Check]:
    out = []
    for key in ("client", "server"):
        a = client.uuid_client if key == "client" else client.uuid_server
        b = server.uuid_client if key == "client" else server.uuid_server
        try:
            ok = uuidlib.UUID(str(a)) == uuidlib.UUID(str(b))
            why = ""
        except ValueError:
            ok, why = False, " (not a UUID)"
        out.append(Check(f"uuid {key}", "pass" if ok else "fail", f"client.json {a}, server.json {b}{why}", OFFICIAL))
    ok = client.session_name == server.session_name
    out.append(Check("session name", "pass" if ok else "fail",
                      f"client.json {client.session_name!r}, server.json {server.session_name!r}", OFFICIAL))
    return out


def _phase_checks(client: PowerSummary, server: PowerSummary, details: dict[str, LoadgenDetail],
                  rnd: Round) -> list[Check]:
    out = []
    worst, problems = (0.0, ""), []
    for mode in ("ranging", "testing"):
        cp, sp = client.phases.get(mode, []), server.phases.get(mode, [])
        if len(cp) != len(sp) or not cp:
            problems.append(f"{mode}: {len(cp)} client phases, {len(sp)} server phases")
            continue
        for i, (c, s) in enumerate(zip(cp, sp, strict=True)):
            d = abs(c - s)
            if d > worst[0]:
                worst = (d, f"{mode} phase {i + 1}")
            limit = rnd.phase_tolerance_s
            if d > limit or (d == limit and not rnd.phase_tolerance_inclusive):
                problems.append(f"{mode} phase {i + 1}: client and server clocks differ by {d * 1000:.0f} ms")
    out.append(Check("phase times", "fail" if problems else "pass",
                      "power/client.json vs server.json: " + ("; ".join(problems) if problems else
                      f"largest difference {worst[0] * 1000:.0f} ms ({worst[1]})")
                      + f", limit {rnd.phase_tolerance_s * 1000:.0f} ms in {rnd.name}", OFFICIAL))
    for mode, d in (("ranging", "ranging"), ("testing", "run_1")):
        det, phases = details.get(mode), client.phases.get(mode, [])
        if det is None:
            continue
        if len(phases) < 3:
            out.append(Check(f"{mode}: LoadGen window inside the client phases", "fail",
                              f"power/client.json has {len(phases)} {mode} phases, not 4", OFFICIAL))
            continue
        shift = _client_timezone(client) if rnd.loadgen_local_time else 0.0
        b, e = det.power_begin.timestamp() + shift, det.power_end.timestamp() + shift
        lo, hi = phases[1], phases[2]
        inside = lo < b < hi and lo < e < hi
        dst = (lo < b - 3600 < hi or inside) and (lo < e - 3600 < hi or lo < e < hi)
        status = "pass" if inside else ("warn" if dst else "fail")
        out.append(Check(f"{mode}: LoadGen window inside the client phases", status,
                          f"{d}/mlperf_log_detail.txt:{det.lines.get('power_begin')},{det.lines.get('power_end')}: "
                          f"power_begin..power_end "
                          f"{_utc(b)}..{_utc(e)} UTC; client workload phase {_utc(lo)}..{_utc(hi)} UTC"
                          + (" — inside only with the official checker's one-hour DST allowance"
                             if status == "warn" else "")
                          + (f" (LoadGen times read as local time, + {shift:+.0f} s, as in {rnd.name})"
                             if shift else ""), OFFICIAL))
    if "ranging" in details and "testing" in details:
        r = details["ranging"].power_end.timestamp() - details["ranging"].power_begin.timestamp()
        t = details["testing"].power_end.timestamp() - details["testing"].power_begin.timestamp()
        short = (r - t) / r > 0.5
        out.append(Check("testing duration vs ranging", "warn" if short else "pass",
                          f"LoadGen windows: testing {t:.1f} s, ranging {r:.1f} s"
                          + (" (testing is less than half of ranging)" if short else ""), OFFICIAL))
    return out


def _client_timezone(client: PowerSummary) -> float:
    try:
        return float(client.data.get("timezone") or 0)
    except (TypeError, ValueError):
        return 0.0


def _power_delta_check(ranging: tuple[float, int], testing: tuple[float, int], rnd: Round) -> Check:
    (ra, rn), (ta, tn) = ranging, testing
    # before v3.1 the official checker compared durations, not power: then this rule is ours
    source = OFFICIAL if rnd.power_delta_checked else OURS
    if not rn or not tn:
        return Check("testing vs ranging power", "fail",
                      f"no valid sample inside the LoadGen window ({rn} in ranging/spl.txt, {tn} in run_1/spl.txt)", source)
    delta = round((round(ta, 5) / round(ra, 5) - 1) * 100, 2)
    return Check("testing vs ranging power", "pass" if delta > -5 else "fail",
                  f"average inside the LoadGen windows: run_1/spl.txt {ta:.4f} W ({tn} samples), "
                  f"ranging/spl.txt {ra:.4f} W ({rn} samples): {delta:+.2f} % (must be above -5 %)", source)


def _messages_check(client: PowerSummary, server: PowerSummary, rnd: Round) -> Check:
    cm, sm = client.messages, server.messages
    problems = []
    if len(cm) + rnd.extra_server_messages != len(sm):
        problems.append(f"{len(cm)} client messages, {len(sm)} server messages"
                        + (f" ({rnd.name} wants {rnd.extra_server_messages} more on the server)"
                           if rnd.extra_server_messages else ""))
    for i, (c, s) in enumerate(zip(cm, sm, strict=False)):
        if c.get("cmd") != s.get("cmd"):
            problems.append(f"message {i}: client {c.get('cmd')!r}, server {s.get('cmd')!r}")
        elif c.get("cmd") != "time" and c.get("reply") != s.get("reply"):
            problems.append(f"message {i} {c.get('cmd')!r}: replies differ ({c.get('reply')!r} / {s.get('reply')!r})")
    if sm:
        cv = re.search(r"mlcommons/power client v(\d+)$", str(sm[0].get("cmd", "")))
        sv = re.search(r"mlcommons/power server v(\d+)$", str(sm[0].get("reply", "")))
        if not cv or not sv or cv.group(1) != sv.group(1):
            problems.append(f"handshake {sm[0].get('cmd')!r} / {sm[0].get('reply')!r} is not a matching "
                            "'mlcommons/power client vN' / 'server vN'")
    else:
        problems.append("no messages")
    return Check("client/server messages", "fail" if problems else "pass",
                  "; ".join(problems[:3]) or f"{len(cm)} messages identical in client.json and server.json", OFFICIAL)


def _results_check(perf: Path, client: PowerSummary, server: PowerSummary) -> Check:
    rc = {k: v for k, v in client.results.items() if k in RESULT_PATHS}
    rs = {k: v for k, v in server.results.items() if k in RESULT_PATHS}
    problems = [f"{k}: client.json and server.json record different SHA-1" for k in sorted(set(rc) & set(rs))
                if rc[k] != rs[k]]
    recorded = {**rc, **rs}
    for p in RESULT_PATHS:
        f = perf / p
        if p not in recorded:
            problems.append(f"{p} is not recorded in client.json or server.json")
        elif not f.is_file():
            problems.append(f"{p} is recorded but missing")
        else:
            got = _sha1(f)
            if got != recorded[p]:
                problems.append(f"{p} changed since the run (SHA-1 {got[:12]}…, recorded {recorded[p][:12]}…)"
                                + _line_ending_note(f, recorded[p]))
    # Publishing (git, zip tools) turns CRLF into LF: when that is all that changed, the files are the
    # ones that were hashed, so the result is intact and the note says so (a warning, not a failure).
    only_line_endings = problems and all("only its line endings changed" in p for p in problems)
    return Check("result checksums", "warn" if only_line_endings else "fail" if problems else "pass",
                  "; ".join(problems[:4]) + (f" (+{len(problems) - 4} more)" if len(problems) > 4 else "")
                  or f"{len(RESULT_PATHS)} result files match the SHA-1 recorded at the end of the run", OFFICIAL)


def _line_ending_note(path: Path, recorded: str) -> str:
    """Whether a changed file differs from what was hashed only by its line endings."""
    raw = path.read_bytes()
    lf = raw.replace(b"\r\n", b"\n")
    for name, variant in (("restoring CRLF", lf.replace(b"\n", b"\r\n")), ("restoring LF", lf)):
        if variant != raw and hashlib.sha1(variant).hexdigest() == recorded:
            return f": only its line endings changed (publishing); {name} restores the recorded SHA-1"
    return ""


def _ptd_log_events(log: PtdLog, ranging: tuple[float, float], testing: tuple[float, float] | None,
                    tolerance: float, uncertainty_fails: bool = True,
                    pattern: re.Pattern = _UNCERTAINTY) -> list[tuple[int, str, str]]:
    """(line, "warn"|"fail", what) in file order, by the official rules with ``tolerance``."""
    out = []
    for x in log.lines:
        if "WARNING:" in x.text and testing is not None:
            msg = x.text.split("WARNING:", 1)[1].strip()
            if testing[0] + tolerance < x.t < testing[1] - tolerance:
                above = uncertainty_fails and pattern.search(msg)
                out.append((x.line, "fail" if above else "warn", f"WARNING in testing: {msg}"))
        if "ERROR:" in x.text:
            msg = x.text.split("ERROR:", 1)[1].strip()
            if msg in ACCEPTED_ERRORS:
                out.append((x.line, "warn", f"ERROR accepted as a warning: {msg}"))
            elif not ranging[0] < x.t < ranging[1]:
                out.append((x.line, "fail", f"ERROR outside ranging: {msg}"))
            elif not msg.startswith(IGNORED_RANGING_ERRORS):
                out.append((x.line, "warn", f"ERROR during ranging: {msg}"))
    return out


def _ptd_log_checks(log: PtdLog, session: str, testing: LoadgenDetail | None, rnd: Round) -> list[Check]:
    name = "power/ptd_logs.txt"
    run = log.run(f"{session}_ranging")
    if run is None or run.completed is None:
        return [Check("PTD log: ranging run", "fail", f"{name}: no \"Go with mark '{session}_ranging'\" followed "
                                                       "by \"Completed test\"", OFFICIAL)]
    out = [Check("PTD log: ranging run", "pass", f"{name}:{run.go.line}..{run.completed.line}: ranging "
                                                  f"{_utc(run.go.t)}..{_utc(run.completed.t)} UTC", OFFICIAL)]
    act = log.uncertainty_activated[0] if log.uncertainty_activated else None
    ok = act is not None and act.t < run.go.t
    out.append(Check("PTD log: uncertainty checking", "pass" if ok else "fail",
                      f"{name}:{act.line}: {act.message}" + ("" if ok else ", but only after ranging started")
                      if act else f"{name}: no 'Uncertainty checking for Yokogawa… is activated' line", OFFICIAL))
    ranging = (run.go.t, run.completed.t)
    window = (testing.power_begin.timestamp(), testing.power_end.timestamp()) if testing else None
    official = _ptd_log_events(log, ranging, window, rnd.window_shrink_s, rnd.uncertainty_fails_in_testing)
    strict = _ptd_log_events(log, ranging, window, TIME_DELTA_TOLERANCE_S, pattern=_UNCERTAINTY_ANY)
    # the official checker: the first warning or failure ends its reading of the log
    if official:
        line, status, what = official[0]
        unseen = [e for e in strict if e[1] == "fail" and e[0] > line]
        out.append(Check("PTD log: official scan", status,
                          f"{name}:{line}: {what[:160]} — the official checker stops reading here"
                          + (f"; {len(unseen)} failing lines after it go unseen" if unseen else ""), OFFICIAL))
    else:
        out.append(Check("PTD log: official scan", "pass", f"{name}: {len(log.lines)} timestamped lines, none "
                                                            "fails by the official rules", OFFICIAL))
    fails = [e for e in strict if e[1] == "fail"]
    warns = [e for e in strict if e[1] == "warn"]
    if fails:
        errors = [e for e in fails if e[2].startswith("ERROR")]
        above = [e for e in fails if e[2].startswith("WARNING")]
        in_testing = [e for e in errors if window and window[0] < _line_time(log, e[0]) < window[1]]
        parts = []
        if errors:
            parts.append(f"{len(errors)} ERROR lines outside ranging ({len(in_testing)} inside the testing window), "
                         f"first {name}:{errors[0][0]}: {errors[0][2][len('ERROR outside ranging: '):][:100]}")
        if above:
            parts.append(f"{len(above)} uncertainty warnings above 1 % inside the testing window, first "
                         f"{name}:{above[0][0]}")
        out.append(Check("PTD log: every line (not checked officially)", "fail", "; ".join(parts), OURS))
    else:
        out.append(Check("PTD log: every line (not checked officially)", "warn" if warns else "pass",
                          f"{len(log.lines)} lines read, none fails"
                          + (f"; {len(warns)} warnings, first {name}:{warns[0][0]}: {warns[0][2][:100]}"
                             if warns else ""), OURS))
    return out


_MODEL_LINE = re.compile(r"(?:Uncertainty checking for (\S+) is activated|Connected to (\S+) successfully)")


def _later_analyzers_check(log: PtdLog, server: PowerSummary, rnd: Round, details: dict[str, LoadgenDetail],
                           perf: Path) -> Check:
    """Analyzers after the first, which the official checker never looks at (it reads the first
    ``Identify`` reply and analyzer 1's ranging run only). Each must be a model and a PTDaemon
    version its round accepted (from its ``ptd_logs.txt`` section, its ``Identify`` reply in
    server.json, its ``ptd_config`` entry), have uncertainty checking on, run the ranging and the
    testing measurement over the whole LoadGen window of each, and give readings of its own in
    ``run_1/spl.txt`` inside the testing window."""
    name = "power/ptd_logs.txt"
    cfg = server.ptd_config or []
    wanted = sorted(set(log.analyzers) | set(range(1, len(cfg) + 1)))
    idents = [str(m.get("reply", "")) for m in server.ptd_messages or [] if m.get("cmd") == "Identify"]
    try:
        spl_text = (perf / "run_1/spl.txt").read_text(errors="replace")
    except OSError:
        spl_text = ""
    problems, seen = [], []
    for n in wanted[1:]:
        lines = [x for x in log.lines if x.analyzer == n]
        if not lines:
            problems.append(f"analyzer {n} of ptd_config has no 'Analyzer {n}' section in {name}")
            continue
        about = []
        # which meter: its log section, its Identify reply (power-dev appends each analyzer's
        # PTD messages in order), its ptd_config entry; each must agree and be accepted
        models = [m.group(1) or m.group(2) for x in lines if (m := _MODEL_LINE.search(x.text))]
        model = models[0] if models else None
        ident = idents[n - 1] if len(idents) >= n else ""
        id_model = ident.split(",")[0] if ident else None
        version = ptd_version_of(ident) or log.analyzer_versions.get(n)
        entry = cfg[n - 1] if len(cfg) >= n and isinstance(cfg[n - 1], dict) else None
        dev = entry.get("device_type") if entry else None
        model = model or id_model
        if model is None:
            problems.append(f"analyzer {n} ({name}:{lines[0].line}..): its model is named nowhere")
        elif model not in SUPPORTED_MODELS:
            problems.append(f"analyzer {n}: model {model} is not one the checker accepts")
        if id_model and model and id_model != model:
            problems.append(f"analyzer {n}: its Identify reply names {id_model}, its log {model}")
        if version is None:
            problems.append(f"analyzer {n}: no PTDaemon version (no Identify reply in power/server.json, no "
                            f"'Version' line in its {name} section)")
        elif version not in rnd.ptd_versions:
            problems.append(f"analyzer {n}: PTDaemon {version} is not accepted in {rnd.name} "
                            f"({', '.join(rnd.ptd_versions)})")
        if entry is None:
            problems.append(f"analyzer {n}: no ptd_config[{n - 1}] entry in power/server.json")
        elif model in SUPPORTED_MODELS and dev != SUPPORTED_MODELS[model]:
            problems.append(f"analyzer {n}: ptd_config[{n - 1}] device type {dev} is not {model}'s "
                            f"({SUPPORTED_MODELS[model]})")
        about.append(f"{model or '(model unknown)'} PTDaemon {version or '(unknown)'}"
                     + (f" device type {dev}" if entry else ""))
        act = next((x for x in lines if "Uncertainty checking for" in x.text and "is activated" in x.text), None)
        if act is None:
            problems.append(f"analyzer {n} ({name}:{lines[0].line}..): no 'Uncertainty checking for Yokogawa… "
                            "is activated' line")
        # its own measurements must cover each LoadGen window (the official checker reads
        # analyzer 1's ranging run only)
        for mode in ("ranging", "testing"):
            mark = f"{server.session_name}_{mode}"
            run = next((r for r in log.runs if r.go.analyzer == n and r.mark == mark), None)
            if run is None or run.completed is None:
                problems.append(f"analyzer {n}: no \"Go with mark '{mark}'\" followed by \"Completed test\"")
                continue
            if mode == "ranging" and act is not None and act.t >= run.go.t:
                problems.append(f"analyzer {n}: uncertainty checking activated ({name}:{act.line}) only after "
                                f"its ranging run began ({name}:{run.go.line})")
            det = details.get(mode)
            where = f"{mode} {name}:{run.go.line}..{run.completed.line}"
            if det is not None:
                b, e = det.power_begin.timestamp(), det.power_end.timestamp()
                if not run.go.t < b < e < run.completed.t:
                    problems.append(f"analyzer {n}: its {mode} run {_utc(run.go.t)}..{_utc(run.completed.t)} UTC "
                                    f"({name}:{run.go.line}..{run.completed.line}) does not cover the LoadGen window "
                                    f"{_utc(b)}..{_utc(e)} UTC")
                else:
                    where += " covers the LoadGen window"
            about.append(where)
        det = details.get("testing")
        if det is not None and spl_text:
            t, w, ln = analyzer_readings(spl_text, n)
            b, e = det.power_begin.timestamp(), det.power_end.timestamp()
            inside = (t > b) & (t < e)
            valid, negative = inside & (w > 0), np.flatnonzero(inside & (w < 0) & (w != -1))
            if not valid.any():
                problems.append(f"analyzer {n}: no valid reading of its own in run_1/spl.txt inside the testing "
                                f"window ({int(inside.sum())} lines there)")
            else:
                about.append(f"run_1/spl.txt {int(valid.sum())} valid readings of its own in the window")
            if negative.size:
                problems.append(_negative_readings(n, negative, w, ln))
        seen.append(f"analyzer {n} " + ", ".join(about))
    det = details.get("testing")
    if det is not None and spl_text and 1 in wanted:
        t, w, ln = analyzer_readings(spl_text, 1)
        negative = np.flatnonzero((t > det.power_begin.timestamp()) & (t < det.power_end.timestamp()) & (w < 0)
                                  & (w != -1))
        if negative.size:
            problems.insert(0, _negative_readings(1, negative, w, ln))
    return Check("analyzers after the first (not checked officially)", "fail" if problems else "pass",
                 "; ".join(problems + seen) if problems else "; ".join(seen), OURS)


def _negative_readings(n: int, negative: np.ndarray, w: np.ndarray, ln: np.ndarray) -> str:
    # PTDaemon writes readings in error as negative values (seen with "Current exceeds peak"):
    # alone they fail "Watts > 0"; in a merged file the sum takes their absolute value
    return (f"analyzer {n}: {negative.size} negative readings of its own in the testing window, first "
            f"run_1/spl.txt:{int(ln[negative[0]])} ({w[negative[0]]:g} W); the merged sum the metric averages "
            "counts them as valid power (their absolute value)")


UNCERTAINTY_LIMIT = 0.01  # MLPerf Inference: 1 % per sample


def _uncertainty_replies(log: PtdLog, server: PowerSummary) -> tuple[list, list]:
    """Each analyzer's end-of-run ``Uncertainty`` reply of the testing run: ([(analyzer, where,
    reply)], [analyzers without one]). From ``ptd_logs.txt`` ("Response to client sent:
    Uncertainty,...", the first after the testing Go of that analyzer), else from server.json's
    ``ptd_messages`` (the first ``Uncertainty`` after the k-th testing Go: power-dev appends the
    analyzers' messages in order)."""
    mark = f"{server.session_name}_testing"
    analyzers = sorted(set(log.analyzers)) or [None]
    msgs = server.ptd_messages or []
    gos = [i for i, m in enumerate(msgs) if str(m.get("cmd", "")).startswith("Go,") and str(m.get("cmd")).endswith(mark)]
    found, missing = [], []
    for k, n in enumerate(analyzers):
        run = next((r for r in log.runs if r.mark == mark and r.go.analyzer == n), None)
        line = next((x for x in log.uncertainty_replies if run is not None and x.analyzer == n and x.t >= run.go.t),
                    None)
        reply = parse_uncertainty_reply(line.text) if line is not None else None
        if reply is not None:
            found.append((n, f"power/ptd_logs.txt:{line.line}", reply))
            continue
        if k < len(gos):
            i = next((j for j in range(gos[k] + 1, len(msgs)) if msgs[j].get("cmd") == "Uncertainty"), None)
            reply = parse_uncertainty_reply(str(msgs[i].get("reply", ""))) if i is not None else None
            if reply is not None:
                found.append((n, f"power/server.json ptd_messages[{i}]", reply))
                continue
        missing.append(n)
    return found, missing


def _uncertainty_reply_check(log: PtdLog, server: PowerSummary, rnd: Round) -> Check:
    """PTDaemon's own summary of the testing run's per-sample uncertainty, which the official
    checker never reads: an average above the 1 % limit, or no known uncertainty at all (auto
    ranging), fails; samples above the limit are named; a missing reply fails in the rounds
    whose every accepted server asked for it."""
    name = "PTD uncertainty reply (not checked officially)"
    found, missing = _uncertainty_replies(log, server)

    def who(n: int | None) -> str:
        return f"analyzer {n}" if n is not None else "the analyzer"

    problems, notes, status = [], [], "pass"
    for n, where, r in found:
        if r.avg is None:
            problems.append(f"{where}: {who(n)} knew the uncertainty of none of its {r.samples} testing samples "
                            f"(Uncertainty -1.0: auto ranging or no valid sample)")
            continue
        text = (f"{where}: {who(n)} average {r.avg * 100:.2f} %, max {r.max * 100:.2f} % over {r.samples} "
                f"testing samples; {r.above} above the {UNCERTAINTY_LIMIT * 100:.2f} % limit, {r.unknown} unknown")
        if r.avg > UNCERTAINTY_LIMIT:
            problems.append(text + " — the average is above the limit")
        else:
            notes.append(text)
            if r.above or r.unknown:
                status = "warn"
    if missing:
        who_missing = ", ".join(who(n) for n in missing)
        if rnd.uncertainty_reply:
            problems.append(f"no end-of-run Uncertainty reply of the testing run for {who_missing} in "
                            f"power/ptd_logs.txt or power/server.json: every power-dev server accepted in {rnd.name} "
                            "asks PTDaemon for it (since power-dev f968959, 2023-01-02), so these files are cut "
                            "or not from that server")
        elif not found:
            return Check(name, "pass", f"the power-dev servers accepted in {rnd.name} did not ask PTDaemon for its "
                                       "Uncertainty summary (they do from v3.1 on): nothing to read", OURS)
    if problems:
        return Check(name, "fail", "; ".join(problems + notes), OURS)
    return Check(name, status, "; ".join(notes), OURS)


def _line_time(log: PtdLog, line: int) -> float:
    return next(x.t for x in log.lines if x.line == line)


def _ptd_config_check(server: PowerSummary) -> Check:
    cfg = server.ptd_config or []
    if not cfg:
        return Check("PTD device type", "fail", "power/server.json has no ptd_config", OFFICIAL)
    problems, types = [], []
    for i, a in enumerate(cfg):
        if not isinstance(a, dict):
            problems.append(f"ptd_config[{i}] is not an object")
            continue
        dev = a.get("device_type")
        types.append(dev)
        if dev not in DEVICE_TYPES:
            problems.append(f"analyzer {i + 1}: device type {dev} is not supported")
        if dev == 77:
            cmd = [str(x) for x in a.get("command") or []]
            chans = cmd[cmd.index("-c") + 1] if "-c" in cmd[:-1] else ""
            if len(chans.split(",")) != 2 or len(a.get("channel") or []) != 2:
                problems.append(f"analyzer {i + 1}: WT330 multichannel (77) without two channels (-c a,b)")
    return Check("PTD device type", "fail" if problems else "pass",
                  "power/server.json: " + ("; ".join(problems) if problems
                                           else f"device types {types} (supported {sorted(DEVICE_TYPES)})"), OFFICIAL)


# -- our own checks ----------------------------------------------------------------------------------------------------
def _logs_check(perf: Path) -> Check:
    errors, notes = [], []
    for p in ("power/client.log", "power/server.log"):
        try:
            records = read_power_log(perf / p)
        except FormatError as exc:
            return Check("client and server logs", "fail", str(exc), OURS)
        bad = [r for r in records if r.level in ("ERROR", "CRITICAL")]
        notes.append(f"{p} {len(records)} records")
        errors += [f"{p}:{r.line}: [{r.level}] {r.message[:100]}" for r in bad]
    return Check("client and server logs", "warn" if errors else "pass",
                  "; ".join(notes) + (f"; {len(errors)} error records, first {errors[0]}" if errors else ", no errors"), OURS)


def _samples_check(spl: SplData, det: LoadgenDetail) -> Check:
    b, e = det.power_begin.timestamp(), det.power_end.timestamp()
    inside = (spl.t > b) & (spl.t < e)
    n_in = int(inside.sum())
    invalid = np.flatnonzero(inside & ~(spl.watts > 0))
    times = np.concatenate(([b], spl.t[inside], [e]))
    steps = np.diff(times)
    gaps = np.flatnonzero(steps > GAP_S)
    expected = int(e - b)
    problems = []
    if invalid.size:
        problems.append(f"{invalid.size} invalid readings (Watts -1), first run_1/spl.txt:{spl.line_numbers[invalid[0]]}")
    if gaps.size:
        g = int(np.argmax(steps))
        problems.append(f"{gaps.size} gaps over {GAP_S} s, largest {steps[g]:.1f} s after {_utc(times[g])} UTC")
    # in file order: a time equal to the previous one is a repeated sample, an earlier one is out of order
    lines_in = spl.line_numbers[inside]
    step_in_file = np.diff(spl.t[inside])
    for what, where in (("repeated (same time as the line before)", np.flatnonzero(step_in_file == 0)),
                        ("out of order (earlier than the line before)", np.flatnonzero(step_in_file < 0))):
        if where.size:
            problems.append(f"{where.size} samples {what}, first run_1/spl.txt:{int(lines_in[where[0] + 1])}")
    return Check("testing samples (not checked officially)", "fail" if problems else "pass",
                  f"run_1/spl.txt: {n_in} samples strictly inside the {e - b:.1f} s LoadGen window "
                  f"(1 per second: {expected} expected)" + ("; " + "; ".join(problems) if problems else
                                                            ", none invalid, no gap"), OURS)


def _result(checks: list[Check], metric: dict | None) -> dict:
    """The checks, the metric and the verdict: the official checker's (from the checks whose source
    is an official tool) beside the station's stricter one (``official``, ``station``)."""
    verdict = published_verdict(checks)
    return {**verdict.to_dict(), "kind": "mlperf", "checks": [c.to_dict() for c in checks], "metric": metric}
