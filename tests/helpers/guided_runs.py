"""What the guided-procedure tests share: short rule settings, a fake LoadGen benchmark, the metric by hand."""

from __future__ import annotations

import json
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from station.core.journal import JournalReader
from station.core.samples import good_mask

# rule overrides that make an MLPerf Inference run last a fraction of a second
SHORT = ["min_testing_s=0.3", "settle_s=0.15", "sample_interval_s=0.05"]

WORKLOAD = textwrap.dedent('''\
    """A fake benchmark: runs a while, then writes LoadGen-style logs with the power window in UTC."""
    import json, os, sys, time
    from datetime import datetime, timezone
    from pathlib import Path

    here = Path(sys.argv[0]).resolve().parent
    settings = json.loads((here / "settings.json").read_text())
    out = Path(settings.get("logdir") or os.environ["STATION_LOADGEN_DIR"])
    fail = here / "fail-once"
    if fail.exists():
        fail.unlink()
        print("cannot open the model file", file=sys.stderr)
        sys.exit(3)
    print("run", os.environ.get("STATION_RUN"), flush=True)
    time.sleep(0.05)  # a benchmark's start-up before its power window
    begin = datetime.now(timezone.utc)
    time.sleep(settings["duration"])  # the benchmark's run: its length is the stimulus
    end = datetime.now(timezone.utc)

    def line(key, value):
        return ":::MLLOG " + json.dumps({"key": key, "value": value, "time_ms": 0.0, "namespace": "mlperf::logging",
                                         "event_type": "POINT_IN_TIME", "metadata": {"is_error": False}}) + "\\n"

    fmt = lambda d: d.strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]
    scenario = settings["scenario"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "mlperf_log_detail.txt").write_text(
        line("loadgen_version", "5.0.25 @ fake") + line("requested_scenario", scenario)
        + line("effective_scenario", scenario) + line("effective_test_mode", "PerformanceOnly")
        + line("power_begin", fmt(begin)) + line("power_end", fmt(end))
        + line("result_query_count", settings["queries"]) + line("result_validity", "VALID"))
    (out / "mlperf_log_summary.txt").write_text(
        "================================================\\nMLPerf Results Summary\\n"
        "================================================\\n"
        f"SUT name : fake\\nScenario : {scenario}\\nMode     : PerformanceOnly\\n"
        f"Samples per second : {settings['queries'] / settings['duration']:.2f}\\nResult is : VALID\\n")
    print("done", flush=True)
''')


def make_workload(tmp_path: Path, duration=0.4, scenario="Offline", queries=4000, logdir=None,
                  fail_once=False) -> str:
    """The command line of a fake benchmark in ``tmp_path/bench`` that runs ``duration`` s and writes
    LoadGen logs; with ``fail_once`` its first run exits 3."""
    d = tmp_path / "bench"
    d.mkdir(exist_ok=True)
    (d / "fake_loadgen.py").write_text(WORKLOAD)
    (d / "settings.json").write_text(json.dumps({"duration": duration, "scenario": scenario, "queries": queries,
                                                 "logdir": str(logdir) if logdir else None}))
    if fail_once:
        (d / "fail-once").write_text("")
    return f"{sys.executable} {d / 'fake_loadgen.py'}"


def loadgen_times(path: Path) -> tuple[float, float, dict]:
    """power_begin / power_end of a detail log, read by hand (UTC)."""
    values = {}
    for line in path.read_text().splitlines():
        d = json.loads(line[len(":::MLLOG "):])
        values[d["key"]] = d["value"]

    def utc(s):
        return datetime.strptime(s, "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()

    return utc(values["power_begin"]), utc(values["power_end"]), values


def hand_average(run_dir: Path, begin: float, end: float) -> tuple[float, int]:
    """Mean watts and count of the good samples strictly between ``begin`` and ``end``, from the journal."""
    data = np.asarray(JournalReader(run_dir).samples())
    sel = (data["t"] > begin) & (data["t"] < end) & good_mask(data)
    return float(np.mean(data["w"][sel])), int(sel.sum())
