"""Verify a published MLPerf power result directory (``performance/`` with ``power/``,
``ranging/``, ``run_1/``): every content check of the Power WG compliance checker, the checks it
misses, and the official power metric.

What the official checker (``compliance/check.py``) checks, done here too: UUIDs, session
names, phase times within 0.8 s, the LoadGen window inside the client's phases, testing average
not more than 5 % below ranging, client/server messages, result file checksums, errors and
warnings of the PTD log by window, PTD device types, the debug flag.

Where it is blind, checked here: it stops at the first warning of the PTD log (we read every
line), its ">1 % uncertainty" rule adds 800 *seconds* instead of milliseconds and never fires on
runs under ~1600 s (we apply it to the whole testing window, less 0.8 s at each end), and it
counts no samples, gaps or invalid readings (we do, inside the testing window).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from station.mlperf.errors import FormatError, read_text
from station.mlperf.loadgen import read_detail, read_summary
from station.mlperf.metric import mlperf_metric, window_average
from station.mlperf.spl import read_spl

TIME_DELTA_TOLERANCE_S = 0.8
RESULT_PATHS = ("power/client.log", "power/ptd_logs.txt", "power/server.log", "ranging/mlperf_log_detail.txt",
                "ranging/mlperf_log_summary.txt", "ranging/spl.txt", "run_1/mlperf_log_detail.txt",
                "run_1/mlperf_log_summary.txt", "run_1/spl.txt")
SUMMARY_KEYS = ("version", "timezone", "modules", "sources", "messages", "uuid", "session_name", "results", "phases")
DEVICE_TYPES = {8, 35, 48, 49, 52, 77, 508, 549, 586}
IGNORED_RANGING_ERRORS = ("Can't evaluate uncertainty of this sample!", "Bad watts reading nan from ",
                          "Bad amps reading nan from ", "Bad pf reading nan from ", "Bad volts reading nan from ",
                          "Current appears to be too high for set range")
_PTD_TIME = re.compile(r"^(\d\d-\d\d-\d\d\d\d \d\d:\d\d:\d\d\.\d\d\d)(.*)$")
_UNCERTAINTY = re.compile(r"Uncertainty \d+\.\d+%, which is above 1\.00% limit for the last sample!")


def _check(name: str, status: str, evidence: str) -> dict:
    return {"name": name, "status": status, "evidence": evidence}


def find_performance_dir(path: Path) -> Path | None:
    """``path`` itself, its ``performance/``, or a single nested result holding one."""
    for cand in (path, path / "performance"):
        if (cand / "power").is_dir() and (cand / "run_1").is_dir():
            return cand
    found = [p.parent for p in path.rglob("power") if p.is_dir() and (p.parent / "run_1").is_dir()]
    return found[0] if len(found) == 1 else None


def _json(path: Path) -> dict:
    text = read_text(path, path.name)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FormatError(f"not JSON ({exc.msg})", path, exc.lineno) from None
    if not isinstance(data, dict):
        raise FormatError("not a JSON object", path, 1)
    missing = [k for k in SUMMARY_KEYS if k not in data]
    if missing:
        raise FormatError(f"lacks {', '.join(missing)}", path)
    return data


def ptd_log_lines(path: Path) -> list[tuple[int, float, str]]:
    """(line number, UTC seconds, text after the timestamp) of every timestamped line."""
    out = []
    for n, line in enumerate(read_text(path, "the PTD log").split("\n"), start=1):
        m = _PTD_TIME.match(line)
        if m:
            try:
                t = datetime.strptime(m.group(1), "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
            except ValueError:
                raise FormatError(f"{m.group(1)!r} is not a valid date", path, n) from None
            out.append((n, t, m.group(2)))
    return out


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def verify_published(root: Path) -> dict:
    perf = find_performance_dir(root)
    if perf is None:
        raise FormatError("not an MLPerf power directory (no performance/ with power/ and run_1/)", root)
    checks: list[dict] = []
    rel = perf.relative_to(root) if perf != root else Path(".")

    # -- files ----------------------------------------------------------------------------------
    missing = [p for p in RESULT_PATHS + ("power/client.json", "power/server.json") if not (perf / p).is_file()]
    if missing:
        checks.append(_check("files", "fail", f"missing under {rel}: {', '.join(missing)}"))
    else:
        checks.append(_check("files", "pass", f"all {len(RESULT_PATHS) + 2} result files present under {rel}"))
    extra = sorted(p.relative_to(perf).as_posix() for d in ("power", "ranging", "run_1") if (perf / d).is_dir()
                   for p in (perf / d).iterdir() if p.is_file()
                   and p.relative_to(perf).as_posix() not in RESULT_PATHS + ("power/client.json", "power/server.json",
                                                                              "run_1/mlperf_log_accuracy.json",
                                                                              "ranging/mlperf_log_accuracy.json"))
    if extra:
        checks.append(_check("file list", "warn", f"files the submission checker does not expect: {', '.join(extra)}"))
    if "power/client.json" in missing or "power/server.json" in missing:
        return _result(checks, None)

    client, server = _json(perf / "power/client.json"), _json(perf / "power/server.json")

    # -- identity -------------------------------------------------------------------------------
    for key, what in (("client", "client"), ("server", "server")):
        a, b = (client.get("uuid") or {}).get(key), (server.get("uuid") or {}).get(key)
        checks.append(_check(f"uuid {what}", "pass" if a and a == b else "fail",
                             f"client.json {a}, server.json {b}"))
    ok = client["session_name"] == server["session_name"]
    checks.append(_check("session name", "pass" if ok else "fail",
                         f"client {client['session_name']!r}, server {server['session_name']!r}"))
    session = str(server["session_name"])

    # -- phases -----------------------------------------------------------------------------------
    worst, problems = 0.0, []
    for mode in ("ranging", "testing"):
        cp, sp = client["phases"].get(mode, []), server["phases"].get(mode, [])
        if len(cp) != len(sp):
            problems.append(f"{mode}: {len(cp)} client phases, {len(sp)} server phases")
            continue
        for i, (c, s) in enumerate(zip(cp, sp, strict=True)):
            d = abs(float(c[0]) - float(s[0]))
            worst = max(worst, d)
            if d > TIME_DELTA_TOLERANCE_S:
                problems.append(f"{mode} phase {i}: client and server differ by {d:.3f} s")
    checks.append(_check("phase times", "fail" if problems else "pass",
                         "; ".join(problems) or f"largest client/server difference {worst * 1000:.0f} ms "
                                                f"(limit {TIME_DELTA_TOLERANCE_S * 1000:.0f} ms)"))

    # -- LoadGen windows, averages -------------------------------------------------------------------
    details, spls, avgs = {}, {}, {}
    for mode, d in (("ranging", "ranging"), ("testing", "run_1")):
        try:
            det = read_detail(perf / d / "mlperf_log_detail.txt")
            spl = read_spl(perf / d / "spl.txt")
        except FormatError as exc:
            checks.append(_check(f"{mode} files", "fail", str(exc)))
            continue
        details[mode], spls[mode] = det, spl
        b, e = det.power_begin.timestamp(), det.power_end.timestamp()
        phases = client["phases"].get(mode, [])
        if len(phases) >= 3:
            lo, hi = float(phases[1][0]), float(phases[2][0])
            inside = lo < b < hi and lo < e < hi
            dst = lo < b - 3600 < hi and lo < e - 3600 < hi
            status = "pass" if inside else ("warn" if dst else "fail")
            checks.append(_check(f"{mode}: LoadGen window inside the client phases", status,
                                 f"power_begin..power_end {det.power_begin.isoformat()}..{det.power_end.isoformat()}, "
                                 f"client measured {datetime.fromtimestamp(lo, UTC).isoformat()}.."
                                 f"{datetime.fromtimestamp(hi, UTC).isoformat()}"
                                 + (" (only with the checker's one-hour DST workaround)" if dst and not inside else "")))
        avg, n = window_average(spl.t, spl.watts, b, e)
        avgs[mode] = (avg, n)
    if "ranging" in avgs and "testing" in avgs:
        (ra, rn), (ta, tn) = avgs["ranging"], avgs["testing"]
        if rn and tn:
            delta = round((ta / ra - 1) * 100, 2)
            checks.append(_check("testing vs ranging power", "pass" if delta > -5 else "fail",
                                 f"testing {ta:.4f} W ({tn} samples), ranging {ra:.4f} W ({rn} samples): "
                                 f"{delta:+.2f} % (limit -5 %)"))
        else:
            checks.append(_check("testing vs ranging power", "fail", "no valid sample inside a LoadGen window"))

    # -- messages, checksums -------------------------------------------------------------------------
    cm, sm = client["messages"], server["messages"]
    bad = [i for i, (c, s) in enumerate(zip(cm, sm, strict=False)) if c.get("cmd") != s.get("cmd")
           or (c.get("reply") != s.get("reply") and not str(c.get("cmd", "")).startswith("time"))]
    ok = len(cm) == len(sm) and not bad
    checks.append(_check("client/server messages", "pass" if ok else "fail",
                         f"{len(cm)} client and {len(sm)} server messages"
                         + (f"; first difference at message {bad[0]}" if bad else "")))
    results = {**server.get("results", {}), **client.get("results", {})}
    wrong = []
    for p in RESULT_PATHS:
        f = perf / p
        if p not in results:
            wrong.append(f"{p} not in the summaries")
        elif f.is_file() and _sha1(f) != results[p]:
            wrong.append(f"{p} changed (SHA-1 {_sha1(f)[:12]}…, recorded {str(results[p])[:12]}…)")
    checks.append(_check("result checksums", "fail" if wrong else "pass",
                         "; ".join(wrong) or f"{len(RESULT_PATHS)} result files match their recorded SHA-1"))

    # -- PTD log ---------------------------------------------------------------------------------------
    checks.extend(_ptd_log_checks(perf / "power/ptd_logs.txt", session, details.get("testing")))

    # -- configuration -----------------------------------------------------------------------------------
    cfg = server.get("ptd_config") or []
    types = [c.get("device_type") for c in cfg if isinstance(c, dict)]
    ok = bool(types) and all(t in DEVICE_TYPES for t in types)
    checks.append(_check("PTD device type", "pass" if ok else "fail", f"device types {types}, supported "
                                                                        f"{sorted(DEVICE_TYPES)}"))
    checks.append(_check("server debug mode", "fail" if server.get("debug", False) else "pass",
                         "debug mode was on" if server.get("debug", False) else "debug mode off"))

    # -- what the official checker does not count -----------------------------------------------------------
    metric = None
    if "testing" in spls:
        spl, det = spls["testing"], details["testing"]
        b, e = det.power_begin.timestamp(), det.power_end.timestamp()
        inside = (spl.t > b) & (spl.t < e)
        n_in = int(inside.sum())
        invalid = int(np.count_nonzero(inside & ~(spl.watts > 0)))
        steps = np.diff(spl.t[inside])
        gaps = int(np.count_nonzero(steps > 1.5))
        expected = int(round(e - b))
        status = "fail" if (gaps or invalid) else "pass"
        checks.append(_check("testing samples (not checked officially)", status,
                             f"{n_in} samples in the {e - b:.1f} s window (about {expected} expected), "
                             f"{invalid} invalid (-1), {gaps} gaps over 1.5 s"
                             + (f"; largest gap {steps.max():.1f} s" if gaps else "")))
        avg, n = avgs["testing"]
        summary = {}
        if (perf / "run_1/mlperf_log_summary.txt").is_file():
            try:
                summary = read_summary(perf / "run_1/mlperf_log_summary.txt")
            except FormatError:
                summary = {}
        summary = {**summary, "result_query_count": det.query_count}
        scen_dir = perf.parent.name if perf.name == "performance" else None
        if n:
            m = mlperf_metric(det.scenario, avg, det.power_begin, det.power_end, summary,
                              directory_scenario=scen_dir if scen_dir in ("Offline", "Server", "Interactive",
                                                                          "SingleStream", "MultiStream") else None)
            metric = {"value": m["value"], "unit": m["unit"], "average_power_w": avg, "samples": n,
                      "scenario": m["scenario"]}
            checks.append(_check("power metric", "pass" if m["value"] is not None else "fail",
                                 f"{m['value']} {m['unit']} from {n} samples, average {avg:.4f} W over "
                                 f"{m['duration_s']:.3f} s"))
    return _result(checks, metric)


def _ptd_log_checks(path: Path, session: str, testing) -> list[dict]:
    try:
        lines = ptd_log_lines(path)
    except FormatError as exc:
        return [_check("PTD log", "fail", str(exc))]
    start = end = None
    for n, t, text in lines:
        if start is None and text == f": Go with mark '{session}_ranging'":
            start = (n, t)
        elif start is not None and text == ": Completed test":
            end = (n, t)
            break
    out = []
    if start is None or end is None:
        return [_check("PTD log: ranging window", "fail", f"{path.name}: cannot find the ranging run "
                                                          f"(Go with mark '{session}_ranging' … Completed test)")]
    activated = [(n, t) for n, t, text in lines if re.search(r"Uncertainty checking for Yokogawa\S+ is activated", text)]
    ok = bool(activated) and activated[0][1] < start[1]
    out.append(_check("PTD log: uncertainty checking", "pass" if ok else "fail",
                      f"{path.name}:{activated[0][0]}: activated before ranging" if ok
                      else f"{path.name}: no 'Uncertainty checking … is activated' before ranging"))
    fails, warns, missed = [], [], []
    first_warning_at = None
    tb = testing.power_begin.timestamp() + TIME_DELTA_TOLERANCE_S if testing else None
    te = testing.power_end.timestamp() - TIME_DELTA_TOLERANCE_S if testing else None
    for n, t, text in lines:
        if "ERROR:" in text:
            msg = text.split("ERROR:", 1)[1].strip()
            if msg == "USB.":
                warns.append((n, msg))
            elif not (start[1] < t < end[1]):
                fails.append((n, f"ERROR: {msg}"))
            elif not msg.startswith(IGNORED_RANGING_ERRORS):
                warns.append((n, f"ERROR during ranging: {msg}"))
                first_warning_at = first_warning_at or n
        elif "WARNING:" in text and tb is not None and tb < t < te:
            msg = text.split("WARNING:", 1)[1].strip()
            if _UNCERTAINTY.search(msg):
                fails.append((n, f"WARNING: {msg}"))
            else:
                warns.append((n, f"WARNING: {msg}"))
    if first_warning_at is not None:
        missed = [f for f in fails if f[0] > first_warning_at]
    if fails:
        sample = "; ".join(f"{path.name}:{n}: {m}" for n, m in fails[:3])
        out.append(_check("PTD log: errors outside ranging, uncertainty in testing", "fail",
                          f"{len(fails)} lines: {sample}" + (" …" if len(fails) > 3 else "")))
    else:
        out.append(_check("PTD log: errors outside ranging, uncertainty in testing", "pass",
                          f"{len(lines)} log lines read, none fails"))
    if missed:
        out.append(_check("PTD log: lines the official checker never reads", "fail",
                          f"it stops at its first warning ({path.name}:{first_warning_at}); {len(missed)} failing "
                          f"lines after it would pass unseen, first {path.name}:{missed[0][0]}"))
    if warns:
        out.append(_check("PTD log: warnings", "warn", f"{len(warns)} lines, first {path.name}:{warns[0][0]}: "
                                                       f"{warns[0][1][:120]}"))
    return out


def _result(checks: list[dict], metric: dict | None) -> dict:
    return {"valid": all(c["status"] != "fail" for c in checks), "kind": "mlperf", "checks": checks,
            "metric": metric}
