"""Events in words: what an operator reads in the event log (no Qt here).

Each event kind from sessions, monitors, recordings and the window itself becomes a level
(info, warning, error) and one sentence that says what happened and, for problems, what it
means for the run.
"""

from __future__ import annotations

from station.ui import units

INFO, WARNING, ERROR = "info", "warning", "error"


def _v(x) -> str:
    return units.range_label(x, "V") if x is not None else "?"


def _a(x) -> str:
    return units.range_label(x, "A") if x is not None else "?"


def describe(kind: str, detail: dict) -> tuple[str, str]:
    """(level, text) for an event."""
    d = detail
    msg = d.get("message", "")
    if kind == "connected":
        ident = d.get("identity") or {}
        rng = d.get("ranges") or {}
        cfg = d.get("config") or {}
        return INFO, (f"Connected to {ident.get('vendor', '')} {ident.get('model', '')} serial "
                      f"{ident.get('serial') or '?'} (firmware {ident.get('firmware') or '?'}); ranges "
                      f"{_v(rng.get('voltage'))}{' auto' if rng.get('voltage_auto') else ''}, "
                      f"{_a(rng.get('current'))}{' auto' if rng.get('current_auto') else ''}; update "
                      f"every {units.si(cfg.get('update_interval_s'), 's')}")
    if kind == "started":
        return INFO, "Streaming started"
    if kind == "stopped":
        return INFO, f"Streaming stopped after {d.get('samples', 0)} samples"
    if kind == "closed":
        return INFO, "Instrument released (disconnected)"
    if kind == "disconnected":
        return ERROR, f"Connection to the instrument lost ({msg}); reconnecting — the hole will be marked as a gap"
    if kind == "reconnecting":
        return WARNING, f"Reconnect attempt {d.get('attempt')} failed: {msg}"
    if kind == "reconnected":
        return INFO, f"Instrument back after {d.get('attempt')} attempt(s); the missing stretch is marked as a gap"
    if kind == "stall":
        return WARNING, f"No data: {msg}"
    if kind == "resumed":
        return INFO, "Data flows again"
    if kind == "error":
        return ERROR, msg or "error"
    if kind == "warning":
        return WARNING, msg or "warning"
    if kind == "clock_jump":
        return WARNING, f"Clock jump: {msg or 'the computer clock was stepped'} (an MLPerf testing run fails on this)"
    if kind == "range" and "quantity" in d:  # reported by the instrument itself
        fmt = _v if d.get("quantity") == "voltage" else _a
        how = "auto range" if d.get("auto") else "range"
        return INFO, f"Range change ({how}): {d.get('quantity')} {fmt(d.get('previous'))} → {fmt(d.get('range'))}"
    if kind == "range":
        parts = []
        if d.get("voltage") != d.get("previous_voltage"):
            parts.append(f"voltage {_v(d.get('previous_voltage'))} → {_v(d.get('voltage'))}")
        if d.get("current") != d.get("previous_current"):
            parts.append(f"current {_a(d.get('previous_current'))} → {_a(d.get('current'))}")
        return INFO, "Range change: " + (", ".join(parts) or "ranges changed")
    if kind == "overrange":
        if d.get("state") == "begin":
            return ERROR, ("OVERRANGE: the signal exceeds the range; these readings are not measurements "
                           "and enter no average. Choose a larger range.")
        return INFO, "Overrange ended"
    if kind == "invalid":
        if d.get("state") == "begin":
            return WARNING, "Invalid readings begin (range switching or meter error); they enter no average"
        return INFO, "Invalid readings ended"
    if kind == "gap":
        missing = d.get("missing_samples")
        extra = f", about {missing} samples missing" if missing else ""
        return WARNING, f"Gap in the data of {units.duration(d.get('length_s'))}{extra}"
    if kind == "uncertainty":
        if d.get("state") == "begin":
            return WARNING, (f"Uncertainty {units.percent(d.get('value'))} is above the "
                             f"{units.percent(d.get('limit'))} limit: a smaller range would measure better")
        return INFO, f"Uncertainty back within the limit ({units.percent(d.get('value'))})"
    if kind == "gpio":
        return INFO, f"GPIO line {d.get('line')} {d.get('edge', '')} edge"
    if kind == "settings_applied":
        rng = d.get("ranges") or {}
        cfg = d.get("config") or {}
        return INFO, (f"Settings applied: ranges {_v(rng.get('voltage'))}{' auto' if rng.get('voltage_auto') else ''}"
                      f", {_a(rng.get('current'))}{' auto' if rng.get('current_auto') else ''}; update every "
                      f"{units.si(cfg.get('update_interval_s'), 's')}, crest factor {cfg.get('crest_factor')}, "
                      f"mode {cfg.get('mode')}")
    if kind == "mark":
        where = "written to the journal" if d.get("recorded") else "not recorded (no recording running)"
        return INFO, f"Mark {d.get('label') or d.get('number', '')} by the operator — {where}"
    if kind == "recording_started":
        if d.get("directory"):
            return INFO, f"Recording started into {d['directory']}"
        length = f" for {units.duration(d['duration_s'])}" if d.get("duration_s") else " until stopped"
        return INFO, f"Recording started{length} (instruments: {', '.join(d.get('instruments') or []) or '?'})"
    if kind == "recording_finished":
        state = d.get("state") or "finished"
        return (ERROR if state == "failed" else INFO), (f"Recording {state}: {d['text']}" if d.get("text")
                                                       else f"Recording {state}")
    if kind == "calibration_expired":
        return ERROR, (f"Calibration of serial {d.get('serial')} expired on {d.get('due')}: results may not be "
                       "accepted; have the analyzer calibrated")
    if kind == "calibration_unknown":
        return WARNING, (f"No calibration due date is recorded for serial {d.get('serial')}; enter it from the "
                         "calibration certificate")
    text = msg or ", ".join(f"{k}={v}" for k, v in d.items() if k != "instrument")
    return INFO, f"{kind}: {text}" if text else kind
