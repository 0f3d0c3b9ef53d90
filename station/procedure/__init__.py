"""The guided MLPerf Power procedure, Qt-free: setup -> ranging -> range selection -> testing -> review.

:class:`~station.procedure.machine.Procedure` is the state machine (every action returns at
once and runs on the procedure's worker thread; events go to a callback); ``station measure``
drives it headless and the window's guide drives the same object.

Session directory (a contract: the bundle exporter and the MLPerf layout writer read it)::

    DIR/session.json       who, what and how: session_id, created_utc, operator, sut, benchmark,
                           scenario, rules (name), rule_overrides, workload, loadgen_dir,
                           ntp_server, setup_clock, instruments [{id, driver, resource, options,
                           identity, description, calibration_due, ...}], settings, range_proposal, range_selection
                           {inst: {voltage, current, override, reason, proposed_*}}, state
                           (open | reviewed | done | abandoned), step, and runs: one entry per
                           completed run {name, kind (ranging | testing), dir, state, ranges,
                           workload {command, begin, end, exit_status, output}, loadgen {file,
                           copied | error}, clock [{server, offset_s, delay_s, t} | {error}],
                           live_checks [...], windows [{begin, end, source, label, detail}]}
    DIR/rules.json         the rule set in force (station.rules.RuleSet.to_dict), overrides included
    DIR/audit.jsonl        the session's audit log, hash-chained and on disk as things happen
                           (station.measurement.audit; {"seq", "t", "kind", ..., "prev", "hash"}):
                           setup, connected, clock_check, step, run_start, ranges_set,
                           workload_started/ended, mark, run_complete, ranges_proposed,
                           ranges_confirmed | ranges_override (operator, reason), run_discarded,
                           cancelled, step_failed, review, done; and each run's own events
                           (overrange, gap, range, ...) with "source": the run's name
    DIR/ranging/           the ranging run: a journal run directory (station.core.recording:
                           header.json, samples-<inst>.bin, events.jsonl, summary.json), plus
                           workload-output.txt and, when LoadGen wrote them,
                           mlperf_log_detail.txt and mlperf_log_summary.txt
    DIR/testing_<n>/       testing run n (1, 2, ...), the same layout
    DIR/discarded/<run>.<cancelled|failed|interrupted>-<k>/
                           runs that do not count (cancelled, failed workload, lost instrument),
                           kept for the record with summary.json state "cancelled" / "failed";
                           nothing at the top level of DIR is ever half done
    DIR/review.json        {"valid", "summary", "checks": [{"name", "status": "pass|warn|fail",
                           "evidence", "source"}] (a Check's JSON form), "metrics": {run: {...}},
                           "metric": {"value", "unit", ...}, "windows": [{"run", "begin", "end",
                           "source", "label"}], "rules", "created_utc"}

A LoadGen run writes into ``$STATION_LOADGEN_DIR`` (``DIR/<run>/loadgen/`` unless
``--loadgen-logs`` names another directory); ``STATION_RUN`` names the run.
"""

from station.procedure.machine import (
    Guidance,
    InstrumentSpec,
    Procedure,
    ProcedureError,
    RangeProposal,
    SetupInfo,
    Step,
)

__all__ = ["Guidance", "InstrumentSpec", "Procedure", "ProcedureError", "RangeProposal", "SetupInfo", "Step"]
