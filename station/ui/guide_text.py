"""The guide's log in sentences: what a procedure event means, said as an operator reads it.

:func:`describe` turns one event of :class:`station.procedure.Procedure` (kind and detail) into
a level and a sentence ("Testing run 1 started.", "Ranges confirmed for sim-1: 300 V / 20 A
(proposed from the ranging maxima 231 V / 13.9 A)."), or None for events that change the page
but say nothing new (busy, idle, passing checks). :class:`EventWording` keeps the little it must
remember between events: the proposal (for the confirmation's "proposed from") and the last
step said. No Qt here.
"""

from __future__ import annotations

import re

from station.ui import units

INFO, WARN, FAIL = "info", "warn", "fail"
RUN_NAME = re.compile(r"^(ranging|[a-z]+_\d+)\b")

STEP_SENTENCES = {
    "ranging": "Setup is done: the ranging run comes next.",
    "range_selection": "Ranging is done: confirm the proposed ranges, or override them with a reason.",
    "testing": "Testing runs can start now, on the fixed ranges.",
    "review": "The review is ready: read every check and the metric.",
    "done": "The review is finished: the session can be exported.",
    "abandoned": "The session was abandoned: nothing of it is used.",
}


def run_title(name: str | None) -> str:
    """``testing_2`` -> "Testing run 2", ``ranging`` -> "The ranging run"."""
    if not name:
        return "The run"
    if name == "ranging":
        return "The ranging run"
    head, _, number = name.rpartition("_")
    if head and number.isdigit():
        return f"{head.capitalize()} run {number}"
    return f"Run {name}"


def sentence(text: str) -> str:
    text = str(text).strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def ranges_text(voltage, current) -> str:
    """300 V / 20 A, or "auto" for a range the meter chooses."""
    def one(value, unit: str) -> str:
        return "auto" if value == "auto" else units.range_label(value, unit)
    return f"{one(voltage, 'V')} / {one(current, 'A')}"


def _window_text(windows: list[dict]) -> str:
    if not windows:
        return "no workload window was found"
    labels = {"loadgen": "LoadGen", "command": "the workload command", "marks": "the operator's marks",
              "gpio": "the GPIO lines"}
    parts = [f"{labels.get(w.get('source'), w.get('source'))} ({units.duration(w['end'] - w['begin'])})"
             for w in windows if w.get("begin") is not None and w.get("end") is not None]
    return "workload window from " + ", ".join(parts)


class EventWording:
    """Sentences for one guided session's events (in the order the procedure told them)."""

    def __init__(self) -> None:
        self.proposal: dict[str, dict] = {}
        self.step: str | None = "setup"
        self.check_status: dict[tuple[str, str], str] = {}  # (run, check) -> the status last seen

    def describe(self, kind: str, d: dict) -> tuple[str, str] | None:
        """(level, sentence) for the event, or None when it says nothing new to the operator."""
        method = getattr(self, f"_on_{kind}", None)
        return method(d) if method is not None else None

    # -- one method per event kind ------------------------------------------------------------------
    def _on_step(self, d: dict) -> tuple[str, str] | None:
        step = d.get("step")
        if step == self.step:
            return None  # e.g. "testing" again after a testing run: the run's own line said it
        self.step = step
        text = STEP_SENTENCES.get(step)
        return (INFO, text) if text else None

    def _on_setup(self, d: dict) -> tuple[str, str]:
        overrides = d.get("overrides") or {}
        changed = ", ".join(f"{k} = {v.get('to') if isinstance(v, dict) else v}" for k, v in overrides.items())
        shortened = f" with changed rules ({changed}): the result will not be compliant" if overrides else ""
        return INFO, (f"Setup: {d.get('operator')} measures {d.get('sut')} running {d.get('benchmark')} "
                      f"({d.get('scenario')}) under the {d.get('rules')} rules{shortened}.")

    def _on_connected(self, d: dict) -> tuple[str, str]:
        ident = d.get("identity") or {}
        who = " ".join(x for x in (ident.get("vendor"), ident.get("model")) if x)
        serial = f", serial {ident['serial']}" if ident.get("serial") else ""
        return INFO, f"Analyzer {d.get('instrument')} answers" + (f": {who}{serial}." if who else ".")

    def _on_clock_check(self, d: dict) -> tuple[str, str]:
        if d.get("error"):
            return WARN, f"The clock check against {d.get('server')} failed: {d['error']}."
        offset = float(d.get("offset_s") or 0.0) * 1000
        return INFO, f"Clock check: this computer is {offset:+.1f} ms off {d.get('server')}."

    def _on_ranges_set(self, d: dict) -> tuple[str, str]:
        req = d.get("requested") or {}
        inst, run = d.get("instrument"), d.get("run")
        if req.get("voltage") == "auto" and req.get("current") == "auto":
            return INFO, f"Analyzer {inst} measures on auto ranges for the {run} run."
        return INFO, f"Analyzer {inst} is set to the fixed ranges {ranges_text(req.get('voltage'), req.get('current'))} " \
                     f"for the {run} run."

    def _on_run_start(self, d: dict) -> tuple[str, str]:
        return INFO, f"{run_title(d.get('run'))} started."

    def _on_workload_started(self, d: dict) -> tuple[str, str]:
        return INFO, f"The workload started: {d.get('command')}"

    def _on_workload_ended(self, d: dict) -> tuple[str, str]:
        status = d.get("exit_status")
        if status == 0:
            return INFO, "The workload ended normally."
        return FAIL, f"The workload ended with exit status {status}: it failed, so this run does not count."

    def _on_mark(self, d: dict) -> tuple[str, str]:
        edge = "begins" if d.get("edge") == "begin" else "ends"
        who = f" ({d['operator']})" if d.get("operator") else ""
        return INFO, f"Operator mark: the workload {edge} now{who}."

    def _on_run_complete(self, d: dict) -> tuple[str, str]:
        failed = d.get("failed_checks") or []
        text = f"{run_title(d.get('run'))} is complete: {_window_text(d.get('windows') or [])}."
        if failed:
            return FAIL, text + f" Failed live checks: {', '.join(failed)}."
        return INFO, text

    def _on_run_discarded(self, d: dict) -> tuple[str, str]:
        return WARN, (f"{run_title(d.get('run'))} does not count ({d.get('reason')}); its files were moved to "
                      f"{d.get('moved_to')}.")

    def _on_loadgen_error(self, d: dict) -> tuple[str, str]:
        return FAIL, f"The LoadGen log {d.get('file')} cannot be read: {d.get('message')}"

    def _on_ranges_proposed(self, d: dict) -> tuple[str, str] | None:
        self.proposal = dict(d.get("proposal") or {})
        lines = []
        for inst, p in self.proposal.items():
            line = (f"{inst} {ranges_text(p.get('voltage'), p.get('current'))} (ranging maxima "
                    f"{units.si(p.get('max_volts'), 'V', 3)} / {units.si(p.get('max_amps'), 'A', 3)})")
            if p.get("problem"):
                line += f" — {p['problem']}"
            lines.append(line)
        if not lines:
            return INFO, "No ranges to choose: the analyzers have no settable ranges."
        problem = any(p.get("problem") for p in self.proposal.values())
        return (WARN if problem else INFO), "Proposed ranges: " + "; ".join(lines) + "."

    def _on_ranges_confirmed(self, d: dict) -> tuple[str, str]:
        inst = d.get("instrument")
        p = self.proposal.get(inst) or {}
        origin = (f" (proposed from the ranging maxima {units.si(p.get('max_volts'), 'V', 3)} / "
                  f"{units.si(p.get('max_amps'), 'A', 3)})") if p else ""
        return INFO, f"Ranges confirmed for {inst}: {ranges_text(d.get('voltage'), d.get('current'))}{origin}."

    def _on_ranges_override(self, d: dict) -> tuple[str, str]:
        proposed = ranges_text(d.get("proposed_voltage"), d.get("proposed_current"))
        return WARN, (f"Ranges overridden for {d.get('instrument')} by {d.get('operator')}: "
                      f"{ranges_text(d.get('voltage'), d.get('current'))} instead of the proposed {proposed}. "
                      f"Reason: {d.get('reason')}")

    def _on_review(self, d: dict) -> tuple[str, str]:
        m = d.get("metric") or {}
        value = m.get("value")
        metric = (f" The metric is {value:.6g} {m.get('unit', '')}".rstrip() + ".") if units.is_number(value) else ""
        if d.get("valid"):
            return INFO, "Review: every check passed, the result is valid." + metric
        failed = d.get("failed") or []
        return FAIL, (f"Review: the result is NOT valid; failed checks: {', '.join(failed) or 'none named'}."
                      + metric)

    def _on_done(self, d: dict) -> tuple[str, str]:
        return INFO, "The analyzers are released; export the bundle next."

    def _on_cancelled(self, d: dict) -> tuple[str, str]:
        return WARN, f"{str(d.get('action', 'the step')).capitalize()} was cancelled; nothing of it is used."

    def _on_step_failed(self, d: dict) -> tuple[str, str]:
        message = str(d.get("message") or f"{d.get('action')} failed")
        run = RUN_NAME.match(message)
        if run:  # "testing_1 failed: ..." -> "Testing run 1 failed: ..."
            message = run_title(run.group(1)) + message[run.end(1):]
        return FAIL, sentence(message)

    def _on_abandoned(self, d: dict) -> tuple[str, str]:
        reason = f": {d['reason']}" if d.get("reason") else ""
        return WARN, f"The session was abandoned{reason}."

    def _on_audit_error(self, d: dict) -> tuple[str, str]:
        return FAIL, f"The audit log could not be written during {d.get('run')}: {d.get('message')}"

    def _on_check(self, d: dict) -> tuple[str, str] | None:
        status = d.get("status")
        key = (str(d.get("run")), str(d.get("name")))
        before, self.check_status[key] = self.check_status.get(key), status
        if status not in (WARN, FAIL) or status == before:
            # The live checks list shows every state and its evidence as it changes (an average so
            # far, a count); the log says when a check turns to a warning or a failure.
            return None
        what = "Check failed" if status == FAIL else "Warning"
        evidence = str(d.get("evidence") or "").strip()  # as the rule wrote it: names keep their case
        if evidence and not evidence.endswith((".", "!", "?")):
            evidence += "."
        return status, f"{what} in {run_title(d.get('run')).lower()}: {d.get('name')} — {evidence}"
