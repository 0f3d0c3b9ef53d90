"""Dropped samples: invalid samples and gaps are left out of the average; ``max_dropped_fraction``
(MLPerf Tiny: 0.1 %) bounds how many of the expected samples may be lost.

Live: the first invalid sample of a stretch, every gap in the timestamps (a failure when the
rule set allows none), every channel of a fleet source (one node's series) that stops updating.
Final, per testing run and instrument: invalid plus missing samples against the samples expected
inside the window, and each channel gap inside the window with the series it hit (the driver
bridged its share of the total, so the records stay in the average).
"""

from __future__ import annotations

from station.measurement.checks import FAIL, PASS, WARN, Check
from station.measurement.checks.final import Review
from station.measurement.checks.live import LiveRule, clock_text
from station.rules import ParamSpec

PARAMETERS = {"max_dropped_fraction": ParamSpec("float", 0.0, 1.0)}


class Live(LiveRule):
    def __init__(self, live) -> None:
        super().__init__(live)
        live.set("invalid", PASS, "no invalid sample so far", "max_dropped_fraction")
        live.set("gaps", PASS, "no gap in the data so far", "max_dropped_fraction")
        self.channel_gap_at: dict[str, float | None] = {}  # instrument -> when its last channel gap began

    def on_event(self, kind: str, t: float | None, detail: dict) -> None:
        live, inst = self.live, detail.get("instrument", "")
        if kind == "channel_gap" and detail.get("state") == "begin":
            self.channel_gap_at[inst] = t
            live.set("gaps", WARN, f"{inst}: {detail.get('series', 'a channel')} stopped updating at "
                     f"{clock_text(t)}; the other channels go on and its share of the total is bridged at its "
                     "mean power (an estimate)", "max_dropped_fraction", t)
            return
        if kind == "gap" and not detail.get("missing_samples") and inst in self.channel_gap_at:
            return  # the record that starts a channel gap: said above, no record is missing
        if kind == "invalid" and detail.get("state") == "begin":
            live.set("invalid", WARN, f"{inst} delivered invalid samples from {clock_text(t)}: they are left out of "
                     "the average (as the MLCommons tools do); many of them make the result less certain",
                     "max_dropped_fraction", t)
        elif kind == "gap":
            limit = live.rules.get("max_dropped_fraction")
            live.set("gaps", FAIL if limit is not None and limit == 0 else WARN,
                     f"{inst}: {detail.get('missing_samples', 0)} samples missing before {clock_text(t)} "
                     f"({detail.get('length_s', 0):.3g} s); energy in the gap is not measured",
                     "max_dropped_fraction", t)


def final(review: Review) -> list[Check]:
    limit = review.rules.get("max_dropped_fraction")
    out = []
    for run in review.testing:
        for inst, s in run.per.items():
            name = f"{run.name} {inst}: dropped samples"
            dropped = s["invalid_samples"] + s["missing_samples"]
            expected = s["samples"] + s["missing_samples"]
            gaps = channel_gaps(review, run, inst)
            if gaps:
                out.append(review.check(f"{run.name} {inst}: channel gaps", WARN, "; ".join(
                    gap_text(g) for g in gaps) + "; the other channels were measured, the total is an estimate "
                    "while a channel is in a gap", "max_dropped_fraction"))
            if limit is not None and expected:
                frac = dropped / expected
                out.append(review.check(name, PASS if frac <= limit else FAIL,
                                        f"{s['invalid_samples']} invalid and {s['missing_samples']} missing of "
                                        f"{expected} ({frac * 100:.3g} %, at most {limit * 100:g} %)",
                                        "max_dropped_fraction"))
            elif dropped or (s["gaps"] and not gaps):  # a channel gap's record is bridged, not dropped
                out.append(review.check(name, WARN, f"{s['invalid_samples']} invalid samples and {s['gaps']} gaps "
                                        f"({s['missing_samples']} samples missing) inside the window; they are left "
                                        "out of the average"))
    return out


def channel_gaps(review: Review, run, inst: str) -> list[dict]:
    """The channel gaps (one series of a fleet source not updating) that overlap the run's window.

    Each is ``{series, channel, from, to, bridged_at_w}``; ``to`` is None when the series was not
    back before the run ended.
    """
    win = run.window
    if win is None:
        return []
    open_gaps: dict[int, dict] = {}
    found: list[dict] = []
    for e in review.events(run):
        if e.get("kind") != "channel_gap" or e.get("instrument") != inst:
            continue
        if e.get("state") == "begin":
            open_gaps[e.get("channel")] = {"series": e.get("series", ""), "channel": e.get("channel"),
                                           "from": e.get("t"), "to": None, "bridged_at_w": e.get("bridged_at_w")}
        elif e.get("state") == "end" and e.get("channel") in open_gaps:
            gap = open_gaps.pop(e.get("channel"))
            gap["to"] = e.get("t")
            found.append(gap)
    found += open_gaps.values()
    return sorted((g for g in found if (g["to"] is None or g["to"] > win.begin) and (g["from"] or 0) < win.end),
                  key=lambda g: g["from"] or 0)


def gap_text(gap: dict) -> str:
    until = "not back by the end of the run" if gap["to"] is None else f"back at {clock_text(gap['to'])}"
    bridged = "" if gap["bridged_at_w"] is None else f", bridged at {gap['bridged_at_w']:.6g} W"
    return f"{gap['series']} stopped updating at {clock_text(gap['from'])}, {until}{bridged}"
