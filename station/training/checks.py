"""The checks of a published MLPerf Training power result, each a :class:`Check` with file:line evidence.

Two of them are what mlcommons/logging's package checker (``package_checker/power_checker.py``)
does: file names ``node_x``/``sw_x`` with x in 0..n-1 (as loosely as it checks them), and the
same node and switch counts in every run. It checks no sampling, timing or values, and the result summarizer silently scores
whatever the files hold; the rest are the station's, from the Training power rules
(mlcommons/training_policies ``power_measurement.adoc``): every node sampled at least once a
second over the timed run, timestamps that do not repeat, each node's measurement window covering
``run_start``..``run_stop``, switches measured *or* estimated (a measured switch without
``interconnect_power_est`` counts as 0 J), one log per node (no copies), and as many nodes as the
system description has.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from station.measurement.checks import FAIL, PASS, WARN, Check
from station.training.mllog import POWER_START, POWER_STOP, PowerLog, RunWindow, reading_lines

PACKAGE_CHECKER = "MLCommons package checker (mlcommons/logging package_checker/power_checker.py)"
SUMMARIZER = "MLCommons result summarizer (mlcommons/logging result_summarizer.py)"
POLICY = "station: MLPerf Training power rules (training_policies power_measurement.adoc)"
STATION = "station: Training power audit"

MIN_RATE_HZ = 1.0  # "at least once a second"
RATE_TOLERANCE = 0.01  # a 1 Hz meter whose clock runs 1 % slow is still a 1 Hz meter
MAX_GAP_S = 2.0  # a longer gap is at least one missed 1 Hz sample
MIN_SAMPLES = 60  # "at least max(one run, 60 samples)"
EDGE_TOLERANCE_S = 1.0  # a window short of the run by less than one 1 Hz sample is a warning

_NAME = re.compile(r"^(node|sw)_(\d+)\.txt$")


def _s(ms: float) -> str:
    return f"{ms / 1000.0:.3f} s"


def _utc(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000.0, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def package_naming_check(power_dir: Path) -> Check:
    """The package checker's own naming rule: files starting with ``node``/``sw``, the number after
    the last ``_`` in 0..n-1, n the count of such files. It does not look for repeats or gaps, and
    counts any file starting with ``node`` (a plot ``nodes_1_to_8.png`` is node 8)."""
    names = sorted(p.name for p in power_dir.iterdir() if p.is_file())
    problems = []
    for prefix in ("node", "sw"):
        files = [n for n in names if n.startswith(prefix)]
        for n in files:
            last = Path(n).stem.split("_")[-1]
            try:
                idx = int(last)
            except ValueError:
                problems.append(f"{n}: {last!r} is not a number (the package checker stops with an error)")
                continue
            if not 0 <= idx <= len(files) - 1:
                problems.append(f"{n}: {idx} is outside 0..{len(files) - 1}")
    other = [n for n in names if not n.startswith(("node", "sw"))]
    name = "power file names (package checker)"
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return Check(name, FAIL, f"{power_dir.name}: " + "; ".join(problems[:3]) + more, PACKAGE_CHECKER)
    counted = (f"{sum(n.startswith('node') for n in names)} files starting with node, "
               f"{sum(n.startswith('sw') for n in names)} with sw, every number in range")
    if other:
        return Check(name, WARN, f"{power_dir.name}: {counted}; it warns about {', '.join(other[:3])}"
                                 + (" ..." if len(other) > 3 else ""), PACKAGE_CHECKER)
    return Check(name, PASS, f"{power_dir.name}: {counted}", PACKAGE_CHECKER)


def naming_check(power_dir: Path) -> Check:
    """What the naming rule means: ``node_0.txt``..``node_<n-1>.txt`` and ``sw_0.txt``..``sw_<m-1>.txt``
    exactly, and nothing else the package checker would count as a node or switch file."""
    names = sorted(p.name for p in power_dir.iterdir() if p.is_file())
    fails, counted_extra = [], []
    spans = []
    for prefix in ("node", "sw"):
        idx = sorted(int(m.group(2)) for n in names if (m := _NAME.match(n)) and m.group(1) == prefix)
        if idx and idx != list(range(len(idx))):
            fails.append(f"{prefix} files numbered {_ranges(idx)}, expected 0..{len(idx) - 1}")
        elif idx:
            spans.append(_span(prefix, len(idx)))
        counted_extra += [n for n in names if n.startswith(prefix) and not (_NAME.match(n) and
                                                                            _NAME.match(n).group(1) == prefix)]
    extra = (f"; files the package checker counts as node or switch files: {', '.join(counted_extra[:3])}"
             + (" ..." if len(counted_extra) > 3 else "")) if counted_extra else ""
    if fails:
        return Check("power file names", FAIL, f"{power_dir.name}: " + "; ".join(fails) + extra, STATION)
    return Check("power file names", WARN if counted_extra else PASS,
                 f"{power_dir.name}: {', '.join(spans)}" + extra, STATION)


def _span(prefix: str, n: int) -> str:
    return f"{prefix}_0" if n == 1 else f"{prefix}_0..{prefix}_{n - 1}"


def _ranges(idx: list[int]) -> str:
    return ", ".join(str(i) for i in idx[:6]) + (" ..." if len(idx) > 6 else "")


def counts_check(results: dict[str, tuple[int, int]], missing_power: list[str]) -> Check:
    """Every run of the benchmark has a power folder with the same node and switch counts.

    ``results``: result name -> (node files, switch files); ``missing_power``: performance logs
    without a power folder."""
    problems = [f"no power folder for {name}" for name in missing_power]
    if results:
        common = max(set(results.values()), key=list(results.values()).count)
        problems += [f"{name} has {n} files starting with node and {s} with sw where the others have "
                     f"{common[0]} and {common[1]}"
                     for name, (n, s) in results.items() if (n, s) != common]
    if problems:
        return Check("runs agree on node and switch count", FAIL, "; ".join(problems), PACKAGE_CHECKER)
    n, s = next(iter(results.values()), (0, 0))
    return Check("runs agree on node and switch count", PASS,
                 f"{len(results)} run{'s' if len(results) != 1 else ''} of this benchmark in the folder, "
                 f"each with {n} files starting with node and {s} with sw", PACKAGE_CHECKER)


def sampling_check(nodes: list[PowerLog], window: RunWindow) -> Check:
    """Each node sampled at least once a second over run_start..run_stop, 60 samples or more.

    Fails below 0.9 Hz, on a gap of more than 2 s (two or more 1 Hz samples missed in a row) or
    under 60 samples; a rate between 0.9 and 0.99 Hz, made of single missed samples, warns."""
    duration_s = window.time_to_train_ms / 1000.0
    fails, warns, rates = [], [], []
    for log in nodes:
        t = np.unique(log.time_ms)
        inside = t[(t >= window.start_ms) & (t <= window.stop_ms)]
        rate = inside.size / duration_s if duration_s > 0 else 0.0
        rates.append(rate)
        edges = np.concatenate(([window.start_ms], inside, [window.stop_ms]))
        gaps = np.diff(edges) / 1000.0
        worst = int(np.argmax(gaps))
        missed = int(np.count_nonzero(gaps > 1.5 / MIN_RATE_HZ))
        what = f"{inside.size} distinct sample times in the {duration_s:.1f} s run ({rate:.2f} Hz)"
        why = []
        if gaps[worst] > MAX_GAP_S:
            why.append(f"longest gap {gaps[worst]:.1f} s {_gap_evidence(log, edges, worst, window)}")
        if inside.size < MIN_SAMPLES:
            why.append(f"fewer than {MIN_SAMPLES} samples")
        if why or rate < MIN_RATE_HZ * (1 - 10 * RATE_TOLERANCE):
            fails.append(f"{log.path.name}: " + ", ".join([what, *why]))
        elif rate < MIN_RATE_HZ * (1 - RATE_TOLERANCE) or missed:
            warns.append(f"{log.path.name}: {what}, {missed} gaps of up to {MAX_GAP_S:g} s (a missed 1 Hz sample "
                         f"each), the first {_gap_evidence(log, edges, int(np.argmax(gaps > 1.5)), window)}")
    name = "sampling at least 1 Hz per node"
    if not nodes:
        return Check(name, FAIL, "no node file to judge", POLICY)
    if fails or warns:
        shown = (fails + warns)[:3]
        more = f" (+{len(fails) + len(warns) - 3} more nodes)" if len(fails) + len(warns) > 3 else ""
        return Check(name, FAIL if fails else WARN, "; ".join(shown) + more, POLICY)
    return Check(name, PASS, f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}, {min(rates):.2f}..{max(rates):.2f} "
                             f"Hz over the {duration_s:.1f} s run, no sample missed", POLICY)


def _gap_evidence(log: PowerLog, edges: np.ndarray, worst: int, window: RunWindow) -> str:
    if worst == 0:
        return f"from run_start ({window.path.name}:{window.start_line}) to the first sample"
    if worst == edges.size - 2:
        return f"from the last sample to run_stop ({window.path.name}:{window.stop_line})"
    after = float(edges[worst + 1])
    index = int(np.flatnonzero(log.time_ms == after)[0])
    line = reading_lines(log.path, [index]).get(index)
    return f"before the sample at {log.path.name}:{line} ({_utc(after)})"


def duplicates_check(logs: list[PowerLog]) -> Check:
    """Readings that repeat a timestamp: the same value twice (a logging repeat) warns, two values fail."""
    found, conflicting = [], False
    for log in logs:
        if len(log) < 2:
            continue
        order = np.argsort(log.time_ms, kind="stable")
        t, w = log.time_ms[order], log.watts[order]
        same = np.flatnonzero(t[1:] == t[:-1]) + 1
        if same.size == 0:
            continue
        differ = int(np.count_nonzero(w[same] != w[same - 1]))
        conflicting = conflicting or differ > 0
        first = int(order[same[0]])
        line = reading_lines(log.path, [first]).get(first)
        found.append(f"{log.path.name}: {same.size} reading{'s repeat' if same.size != 1 else ' repeats'} a timestamp"
                     + (f" ({differ} with a different value)" if differ else " (same value)")
                     + f", first at {log.path.name}:{line} (time_ms {t[same[0]]:.0f})")
    if not found:
        return Check("duplicate timestamps", PASS, f"no reading repeats a timestamp in {len(logs)} file{'s' if len(logs) != 1 else ''}", STATION)
    more = f" (+{len(found) - 3} more files)" if len(found) > 3 else ""
    return Check("duplicate timestamps", FAIL if conflicting else WARN, "; ".join(found[:3]) + more, STATION)


def window_check(nodes: list[PowerLog], window: RunWindow) -> Check:
    """Each node's power_measurement_start..stop covers run_start..run_stop."""
    fails, warns = [], []
    run = f"run {window.path.name}:{window.start_line}..{window.stop_line}"
    for log in nodes:
        starts, stops = log.find(POWER_START), log.find(POWER_STOP)
        name = log.path.name
        if not starts or not stops:
            fails.append(f"{name}: no {POWER_START if not starts else POWER_STOP} line")
            continue
        start, stop = min(starts, key=lambda e: e.time_ms), max(stops, key=lambda e: e.time_ms)
        late = start.time_ms - window.start_ms
        early = window.stop_ms - stop.time_ms
        problems = []
        if late > 0:
            problems.append(f"starts {_s(late)} after run_start ({name}:{start.line})")
        if early > 0:
            problems.append(f"stops {_s(early)} before run_stop ({name}:{stop.line})"
                            + (" (start and stop share one timestamp)" if stop.time_ms == start.time_ms else ""))
        if problems:
            (fails if max(late, early) > EDGE_TOLERANCE_S * 1000 else warns).append(f"{name}: " + ", ".join(problems))
    if fails:
        more = f" (+{len(fails) - 3} more nodes)" if len(fails) > 3 else ""
        return Check("measurement window covers the run", FAIL, "; ".join(fails[:3]) + more + f"; {run}", POLICY)
    if warns:
        more = f" (+{len(warns) - 3} more nodes)" if len(warns) > 3 else ""
        return Check("measurement window covers the run", WARN,
                     "; ".join(warns[:3]) + more + f" (less than {EDGE_TOLERANCE_S:g} s); {run}", POLICY)
    return Check("measurement window covers the run", PASS,
                 f"every node's power_measurement_start..stop covers {run}", POLICY)


def switches_check(switches: list[PowerLog], node_count: int, window: RunWindow, conversion_eff: float) -> Check:
    """Each switch estimated (``interconnect_power_est``); a measured one without it counts as 0 J."""
    if not switches:
        if node_count > 1:
            return Check("switches", WARN, f"{node_count} nodes and no sw_*.txt: the interconnect is neither "
                                           "measured nor estimated", POLICY)
        return Check("switches", PASS, "one node, no switch file", POLICY)
    fails, ok = [], []
    for log in switches:
        est = log.interconnect_power_est
        if est is not None:
            ok.append(f"{log.path.name}: estimated {est:g} W")
            continue
        if len(log):
            t, w = log.time_ms, log.watts
            inside = (t >= window.start_ms) & (t <= window.stop_ms)
            mean = float(w[inside].mean()) if inside.any() else float(w.mean())
            over = "over the run" if inside.any() else \
                f"of readings none of which falls inside the run: {_utc(t.min())}..{_utc(t.max())}"
            fails.append(f"{log.path.name}: measured ({len(log)} readings, mean {mean:.1f} W {over}) but no "
                         f"interconnect_power_est: the summarizer counts it as 0 J; its mean power over the "
                         f"time to train would be {conversion_eff * mean * window.time_to_train_ms / 1000:.6g} J")
        else:
            fails.append(f"{log.path.name}: neither readings nor interconnect_power_est (0 J)")
    if fails:
        return Check("switches", FAIL, "; ".join(fails + ok), POLICY)
    return Check("switches", PASS, "; ".join(ok), POLICY)


def identical_files_check(nodes: list[PowerLog]) -> Check:
    """No node file is a byte copy of another (one node's log published for two nodes)."""
    groups: dict[str, list[str]] = {}
    for log in nodes:
        groups.setdefault(hashlib.sha256(log.path.read_bytes()).hexdigest(), []).append(log.path.name)
    copies = [names for names in groups.values() if len(names) > 1]
    if copies:
        return Check("identical node files", FAIL, "byte-identical node files: "
                     + "; ".join(" = ".join(sorted(names)) for names in copies), STATION)
    return Check("identical node files", PASS, f"{len(nodes)} node files, all different" if len(nodes) > 1 else "one node file", STATION)


def node_count_check(node_count: int, system_description: Path) -> Check:
    """As many node files as ``number_of_nodes`` in the system description."""
    try:
        desc = json.loads(system_description.read_text(encoding="utf-8"))
        declared = int(str(desc["number_of_nodes"]).strip())
    except FileNotFoundError:
        return Check("node count", WARN, f"{node_count} node files; no system description "
                                         f"({system_description.name}) to compare with", STATION)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Check("node count", WARN, f"{node_count} node files; {system_description.name}: number_of_nodes "
                                         f"cannot be read ({exc})", STATION)
    where = f"systems/{system_description.name} number_of_nodes {declared}"
    if declared != node_count:
        return Check("node count", FAIL, f"{node_count} node files but {where}", STATION)
    return Check("node count", PASS, f"{node_count} node file{'s' if node_count != 1 else ''}, as {where}", STATION)


__all__ = ["PACKAGE_CHECKER", "POLICY", "STATION", "SUMMARIZER", "counts_check", "duplicates_check",
           "identical_files_check", "naming_check", "package_naming_check", "node_count_check", "sampling_check", "switches_check",
           "window_check"]
