"""``station verify`` of a published MLPerf Training power result (a ``power/result_<name>`` folder).

The result dict has the keys of every ``station verify`` kind (:mod:`station.measurement.verdict`
answers, ``kind: "training"``, ``checks``, ``metric``) plus ``round`` (which round, and why) and
``energy`` (each summarizer's total and each file's share). ``metric`` is ``{value: J, unit: "J"}``
as today's official result summarizer computes it; where today's summarizer fails on the files
(it divides by zero on the v4.0 SMC results), ``metric`` is the value of the summarizer in force
when the round was published and says so in ``summarizer``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from station.measurement.checks import FAIL, PASS, WARN, Check
from station.measurement.verdict import published_verdict
from station.training import checks as tc
from station.training import energy
from station.training.mllog import MllogError, PowerLog, read_power_file, read_run_window
from station.training.result_dir import TrainingResult, is_training_result_dir


def _day(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000.0, UTC).strftime("%Y-%m-%d")


def verify_training(power_dir: Path, round_name: str | None = None) -> dict:
    """Every check of one Training power result and its energy; see the module docstring."""
    result = TrainingResult(Path(power_dir))
    checks: list[Check] = []
    node_paths, switch_paths = result.node_files(), result.switch_files()
    if not result.performance_log.is_file():
        checks.append(Check("performance log", FAIL, f"no {result.performance_log.name} two levels above "
                            f"{result.name}/: the summarizer scores only the power folders of result_*.txt files, "
                            "and the package checker never looks at this one", tc.SUMMARIZER))
        return _result(checks, None, None, None)
    try:
        window = read_run_window(result.performance_log)
        nodes = [read_power_file(p) for p in node_paths]
        switches = [read_power_file(p) for p in switch_paths]
    except MllogError as exc:
        checks.append(Check("files", FAIL, str(exc), tc.SUMMARIZER))
        return _result(checks, None, None, None)
    if not nodes:
        checks.append(Check("files", FAIL, f"{result.name}: no node_*.txt (the summarizer asserts at least one)",
                            tc.SUMMARIZER))
        return _result(checks, None, None, None)
    unreadable = [f"{log.path.name}:{line} ({why})" for log in nodes + switches for line, why in log.bad_lines]
    checks.append(Check("files", WARN if unreadable else PASS,
                        f"{result.performance_log.name} (run_start line {window.start_line}, run_stop line "
                        f"{window.stop_line}, time to train {window.time_to_train_ms / 1000:.3f} s), "
                        f"{len(nodes)} node and {len(switches)} switch files"
                        + (f"; lines the official parser skips too: {', '.join(unreadable[:3])}" if unreadable else ""),
                        tc.SUMMARIZER))

    found_round = energy.round_of_run(window.start_ms)
    rnd = round_name or found_round
    why = (f"given (--round); run_start {_day(window.start_ms)}" if round_name else
           f"run_start {_day(window.start_ms)}, before {rnd} was published "
           f"({energy.ROUND_PUBLISHED[rnd].isoformat()})" if rnd else
           f"run_start {_day(window.start_ms)} is outside the known Training power rounds")
    at_publication = energy.summarizer_for_round(rnd)

    checks.append(tc.package_naming_check(result.power_dir))
    checks.append(tc.naming_check(result.power_dir))
    checks.append(_counts(result))
    energy_check, metric, totals = _energy(nodes, switches, window.time_to_train_ms, at_publication, rnd)
    checks.append(energy_check)
    checks.append(tc.sampling_check(nodes, window))
    checks.append(tc.duplicates_check(nodes + [s for s in switches if len(s)]))
    checks.append(tc.window_check(nodes, window))
    effs = [log.conversion_eff for log in nodes if log.conversion_eff is not None]
    checks.append(tc.switches_check(switches, len(nodes), window, effs[0] if effs else 1.0))
    checks.append(tc.identical_files_check(nodes))
    checks.append(tc.node_count_check(len(nodes), result.system_description))
    out = _result(checks, metric, {"name": rnd, "why": why, "summarizer_at_publication": at_publication.name},
                  totals)
    out["system"], out["benchmark"], out["result"] = result.system, result.benchmark, result.name
    return out


def _counts(result: TrainingResult) -> Check:
    bench = result.benchmark_dir
    siblings = {r.name: (len(list(r.power_dir.glob("node*"))), len(list(r.power_dir.glob("sw*"))))
                for r in result.sibling_results()}
    missing = sorted(p.stem for p in bench.glob("result_*.txt") if not (bench / "power" / p.stem).is_dir())
    return tc.counts_check(siblings, missing)


def _energy(nodes: list[PowerLog], switches: list[PowerLog], ttt_ms: float, at_publication: energy.Summarizer,
            rnd: str | None) -> tuple[Check, dict | None, dict]:
    totals: dict = {}
    runs: dict[str, energy.RunEnergy | energy.SummarizerFailure] = {}
    for s in {energy.CURRENT, at_publication}:
        try:
            runs[s.commit] = energy.run_energy(nodes, switches, ttt_ms, s)
        except energy.SummarizerFailure as exc:
            runs[s.commit] = exc
    for s in (energy.CURRENT, at_publication):
        got = runs[s.commit]
        totals[s.name] = ({"error": str(got)} if isinstance(got, energy.SummarizerFailure) else
                          {"total_j": got.total_j, "nodes_j": got.nodes_j, "switches_j": got.switches_j})
    today, then = runs[energy.CURRENT.commit], runs[at_publication.commit]
    then_name = f"the summarizer in force when {rnd} was published ({at_publication.name})"
    if isinstance(today, energy.RunEnergy):
        metric = {"value": today.total_j, "unit": "J", "summarizer": energy.CURRENT.name}
        evidence = f"{today.total_j:.6g} J ({len(today.nodes_j)} node{'s' if len(today.nodes_j) != 1 else ''} {sum(today.nodes_j.values()):.6g} J, " \
                   f"switches {sum(today.switches_j.values()):.6g} J) by today's summarizer ({energy.CURRENT.name})"
        if then is not today and isinstance(then, energy.RunEnergy) and then.total_j != today.total_j:
            evidence += f"; {then_name} gave {then.total_j:.6g} J"
        elif isinstance(then, energy.SummarizerFailure):
            evidence += f"; {then_name} fails: {then.reason}"
        return Check("energy (result summarizer)", PASS, evidence, tc.SUMMARIZER), metric, totals
    failure = f"today's summarizer ({energy.CURRENT.name}) fails on {Path(str(today.path)).name}: {today.reason}"
    if isinstance(then, energy.RunEnergy):
        metric = {"value": then.total_j, "unit": "J", "summarizer": at_publication.name,
                  "note": "today's summarizer fails on these files; the value is the one of the summarizer in force "
                          "when the round was published"}
        return Check("energy (result summarizer)", WARN, f"{failure}; {then_name} gives {then.total_j:.6g} J",
                     tc.SUMMARIZER), metric, totals
    return Check("energy (result summarizer)", FAIL, f"{failure}; {then_name} fails too: {then.reason}",
                 tc.SUMMARIZER), None, totals


def _result(checks: list[Check], metric: dict | None, rnd: dict | None, totals: dict | None) -> dict:
    verdict = published_verdict(checks)
    out = {**verdict.to_dict(), "kind": "training", "checks": [c.to_dict() for c in checks], "metric": metric,
           "energy": totals or {}}
    if rnd is not None:
        out["round"] = rnd
    return out


__all__ = ["is_training_result_dir", "verify_training"]
