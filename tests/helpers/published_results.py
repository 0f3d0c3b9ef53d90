"""A published MLPerf power result built by hand, as the official client and server leave it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from station.mlperf.published import RESULT_PATHS

T0 = 1_752_362_000.0  # 2025-07-12 23:13:20 UTC
SESSION = "2025-07-13_00-21-09"
CLIENT_UUID, SERVER_UUID = "da54a2d7-4280-47f2-ad35-0891de35554a", "bfa3300f-f002-45ae-9651-fd8e09a40284"
GO = "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"


# the power-dev source set accepted since v5.0 (mlcommons/power-dev c4b3ad8,
# compliance/sources_checksums.json), so a made result is one of an official release
POWER_DEV_SOURCES = {
    "__init__.py": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "client.py": "33ca4f26368777ac06e01f9567b714a4b8063886",
    "lib/__init__.py": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "lib/client.py": "ac2aa093c8e8bbc9569b9e2a3471bc64e58a2258",
    "lib/common.py": "611d8b29633d331eb19c9455ea3b5fa3284ed6df",
    "lib/external/__init__.py": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "lib/external/ntplib.py": "4da8f970656505a40483206ef2b5d3dd5e81711d",
    "lib/server.py": "9bc9a3b6b9b716520658ac175913bcbbdb354336",
    "lib/source_hashes.py": "60a2e02193209e8d392803326208d5466342da18",
    "lib/summary.py": "602a9fedfa503e5544d27ab3b0067f235047efc3",
    "lib/time_sync.py": "80894ef2389e540781ff78de94db16aa4203a14e",
    "server.py": "c3f90f2f7eeb4db30727556d0c815ebc89b3d28b",
    "tests/unit/__init__.py": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "tests/unit/test_server.py": "948c1995d4008bc2aa6c4046a34ffa3858d6d671",
    "tests/unit/test_source_hashes.py": "00468a2907583c593e6574a1f6b404e4651c221a",
}

def ptd_time(t: float) -> str:
    """UTC seconds written as a PTDaemon time stamp (``MM-DD-YYYY HH:MM:SS.fff``)."""
    return datetime.fromtimestamp(t, UTC).strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]


def spl_text(t0: float, watts, mark: str, skip=()) -> str:
    """An spl.txt with one line a second from ``t0``, leaving out the seconds in ``skip``."""
    return "".join(f"Time,{ptd_time(t0 + i)},Watts,{w:.6f},Volts,230.000000,Amps,{max(w, 0) / 230:.6f},PF,0.900000,"
                   f"Mark,{mark}\n" for i, w in enumerate(watts) if i not in skip) + "\n"


def mllog(key, value) -> str:
    """One LoadGen ``:::MLLOG`` line."""
    return ":::MLLOG " + json.dumps({"key": key, "value": value, "time_ms": 0.0, "namespace": "mlperf::logging",
                                     "event_type": "POINT_IN_TIME", "metadata": {}}) + "\n"


def ptd_messages(version: str = "1.11.1") -> list[dict]:
    """The PTDaemon dialogue of a session as server.json's ``ptd_messages`` holds it."""
    pairs = [("Hello", "Hello, PTDaemon here!"),
             ("Identify", f"YokogawaWT310E,1000,1,1,1,1,0,0,1,version={version}-462c978e-20240907,OS=Linux"),
             ("RR", "Ranges,0,0.500000,0,300.000000"), ("SR,V,Auto", "Range V changed"),
             ("SR,A,Auto", "Range A changed"), ("SR,A,Auto", "Range A changed"),
             (f"Go,1000,0,{SESSION}_ranging", GO), ("Stop", "Stopping untimed measurement"),
             ("SR,V,245.470000", "Range V changed"), ("SR,A,0.55", "Range A changed"),
             (f"Go,1000,0,{SESSION}_testing", GO), ("Stop", "Stopping untimed measurement"),
             ("SR,V,300.000000", "Range V changed"), ("SR,A,0.500000", "Range A changed")]
    return [{"cmd": c, "reply": r} for c, r in pairs]


def make_published(root: Path, testing_w: float = 100.0, ptd_extra: str = "", scenario: str = "Offline",
                   invalid_at: int | None = None, skip=(), window=(5.5, 55.5), edit=None, client=None,
                   server=None) -> Path:
    """A published result as the official tools leave it: ranging at T0, testing at T0 + 100,
    60 s each, LoadGen window ``window`` seconds into each run. ``edit(perf)`` changes files
    before they are hashed; ``client(dict)`` / ``server(dict)`` change the summaries after."""
    perf = root / "closed" / "Org" / "results" / "sys" / "resnet50" / scenario / "performance"
    for d in ("power", "ranging", "run_1"):
        (perf / d).mkdir(parents=True, exist_ok=True)
    phases = {}
    log = ["Analyzer 1\n", "Selected power analyzer 'Yokogawa WT310E'\n", "        Version 1.11.1-462c978e-20240907\n",
           f"{ptd_time(T0 - 20)}: Attempting to connect to measurement device type 49...\n",
           f"{ptd_time(T0 - 10)}: Uncertainty checking for YokogawaWT310E is activated\n",
           f"{ptd_time(T0 - 10)}: Connected to YokogawaWT310E successfully\n"]
    for mode, d, t0, w in (("ranging", "ranging", T0, 101.0), ("testing", "run_1", T0 + 100, testing_w)):
        watts = np.full(60, w)
        if invalid_at is not None and mode == "testing":
            watts[invalid_at] = -1.0
        (perf / d / "spl.txt").write_text(spl_text(t0, watts, f"{SESSION}_{mode}", skip if mode == "testing" else ()))
        (perf / d / "mlperf_log_detail.txt").write_text(
            mllog("effective_scenario", scenario) + mllog("power_begin", ptd_time(t0 + window[0]))
            + mllog("power_end", ptd_time(t0 + window[1])) + mllog("result_query_count", 5000))
        (perf / d / "mlperf_log_summary.txt").write_text(f"Scenario : {scenario}\nSamples per second : 100.0\n"
                                                         "Result is : VALID\n")
        phases[mode] = [[t0 - 1, 0], [t0, 0], [t0 + 60, 0], [t0 + 61, 0]]
        log.append(f"{ptd_time(t0)}: Go with mark '{SESSION}_{mode}'\n")
        if mode == "testing":  # asked for by every power-dev server since 2023-01 (v3.1 on)
            log.append(f"{ptd_time(t0 + 60)}: Response to client sent: Uncertainty,0.004000,0.003900,0.004100,"
                       "60,0,60,0\n")
        log.append(f"{ptd_time(t0 + 60)}: Completed test\n")
        log.append(f"{ptd_time(t0 + 60)}: Avg watts {w:.6f}, min watts {w:.6f}, max watts {w:.6f}, samples 60, "
                   "errors 0, valid 60\n")
    (perf / "power" / "ptd_logs.txt").write_text("".join(log) + ptd_extra)
    (perf / "power" / "client.log").write_text(
        "client 2025-07-13 00:21:10,009 [INFO] Sending command to the server: 'mlcommons/power client v3'\n")
    (perf / "power" / "server.log").write_text(
        "ptd-server 2025-07-13 00:21:09,858 [INFO] Got command from the client 'mlcommons/power client v3'\n")
    if edit is not None:
        edit(perf)
    results = {p: hashlib.sha1((perf / p).read_bytes()).hexdigest() for p in RESULT_PATHS if (perf / p).exists()}
    messages = [{"cmd": "mlcommons/power client v3", "reply": "mlcommons/power server v3"},
                {"cmd": "time", "reply": "1752362469.8583584"}]
    common = {"version": "1.0", "timezone": 0, "modules": {}, "sources": dict(POWER_DEV_SOURCES),
              "messages": messages, "uuid": {"client": CLIENT_UUID, "server": SERVER_UUID}, "session_name": SESSION,
              "phases": phases}
    cj = {**common, "results": {k: v for k, v in results.items()
                                if k.startswith(("power/client", "ranging/mlperf", "run_1/mlperf"))}}
    sj = {**json.loads(json.dumps(common)), "results": {
        k: v for k, v in results.items() if not k.startswith(("power/client", "ranging/mlperf", "run_1/mlperf"))},
        "ptd_messages": ptd_messages(), "ptd_config": [{"command": ["ptd", "-y", "49", "X"], "device_type": 49}]}
    sj["messages"] = [dict(m) for m in messages]
    sj["messages"][1]["reply"] = "1752362469.9"  # replies to "time" may differ
    if client is not None:
        client(cj)
    if server is not None:
        server(sj)
    (perf / "power" / "client.json").write_text(json.dumps(cj))
    (perf / "power" / "server.json").write_text(json.dumps(sj, indent=4))
    return perf
