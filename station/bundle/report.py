"""The human report of a bundle: one self-contained HTML page with SVG plots (no Qt, no network).

The PDF (``station.ui.pdf_report``) renders the same page and the same SVG plots with Qt's own
writer, so both say the same thing. Its headline is the verdict
(:mod:`station.measurement.verdict`) in the words ``station verify`` and the window use.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from station.core.samples import good_mask
from station.measurement.checks import Check
from station.measurement.verdict import bundle_verdict

PLOT_W, PLOT_H = 900, 260
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 70, 20, 26, 48
LABEL_ROW_H = 16  # px between the rows of workload-window labels (font 12)
CHAR_W = 7.0  # px: a generous width of one character at font 12, to keep labels apart


@dataclass
class RunPlot:
    """What one run's plot needs: decimated power envelope, windows, ranges."""

    title: str
    t0: float
    t: np.ndarray  # bin centres, seconds since t0
    w_mean: np.ndarray
    w_min: np.ndarray
    w_max: np.ndarray
    windows: list[tuple[float, float, str]] = field(default_factory=list)  # absolute UTC seconds
    notes: list[str] = field(default_factory=list)


_CHUNK = 1 << 20  # records per pass step: memory stays bounded however long the run


def envelope(samples: np.ndarray, bins: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin mean / min / max of good power readings; bins without good samples are NaN.

    ``samples`` may be a journal memmap of any length: it is read in chunks, twice (the span
    and count of good readings, then the bins), so a day-long run needs no more memory than a
    minute.
    """
    n_all = len(samples)
    n_good, t0, t1 = 0, math.nan, math.nan
    for a in range(0, n_all, _CHUNK):
        blk = np.asarray(samples[a:a + _CHUNK])
        good = good_mask(blk)
        k = int(np.count_nonzero(good))
        if k:
            idx = np.flatnonzero(good)
            if n_good == 0:
                t0 = float(blk["t"][idx[0]])
            t1 = float(blk["t"][idx[-1]])
            n_good += k
    if n_good == 0:
        empty = np.zeros(0)
        return empty, empty, empty, empty
    span = max(t1 - t0, 1e-9)
    n = int(min(bins, n_good))
    counts = np.zeros(n, np.int64)
    sums = np.zeros(n)
    mins = np.full(n, np.inf)
    maxs = np.full(n, -np.inf)
    for a in range(0, n_all, _CHUNK):
        blk = np.asarray(samples[a:a + _CHUNK])
        good = good_mask(blk)
        if not good.any():
            continue
        t = np.asarray(blk["t"][good], dtype=np.float64)
        w = np.asarray(blk["w"][good], dtype=np.float64)
        idx = np.clip(((t - t0) / span * n).astype(np.int64), 0, n - 1)
        counts += np.bincount(idx, minlength=n)
        sums += np.bincount(idx, weights=w, minlength=n)
        if len(idx) < 2 or np.all(idx[1:] >= idx[:-1]):  # time order: one reduction per bin
            starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
            at = idx[starts]
            mins[at] = np.minimum(mins[at], np.minimum.reduceat(w, starts))
            maxs[at] = np.maximum(maxs[at], np.maximum.reduceat(w, starts))
        else:
            np.minimum.at(mins, idx, w)
            np.maximum.at(maxs, idx, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    mins[counts == 0] = np.nan
    maxs[counts == 0] = np.nan
    centres = (np.arange(n) + 0.5) * span / n
    return centres, mean, mins, maxs


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        out.append(v)
        v += step
    return out


def _fmt_w(v: float) -> str:
    a = abs(v)
    if a >= 1000:
        return f"{v / 1000:.3g} kW"
    if a >= 1 or a == 0:
        return f"{v:.4g} W"
    if a >= 1e-3:
        return f"{v * 1e3:.4g} mW"
    return f"{v * 1e6:.4g} µW"


def svg_plot(plot: RunPlot) -> str:
    """An SVG line plot of the power envelope with the workload windows shaded."""
    iw, ih = PLOT_W - MARGIN_L - MARGIN_R, PLOT_H - MARGIN_T - MARGIN_B
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{PLOT_W}" height="{PLOT_H}" '
             f'viewBox="0 0 {PLOT_W} {PLOT_H}" font-family="sans-serif" font-size="12">',
             f'<rect width="{PLOT_W}" height="{PLOT_H}" fill="white"/>',
             f'<text x="{MARGIN_L}" y="16" font-size="14" font-weight="bold">{html.escape(plot.title)}</text>']
    finite = np.isfinite(plot.w_min) & np.isfinite(plot.w_max)
    if len(plot.t) == 0 or not finite.any():
        parts.append(f'<text x="{PLOT_W / 2}" y="{PLOT_H / 2}" text-anchor="middle">no valid samples</text>')
        parts.append("</svg>")
        return "".join(parts)
    x_hi = float(plot.t[-1] + (plot.t[1] - plot.t[0]) / 2) if len(plot.t) > 1 else 1.0
    y_lo, y_hi = float(np.min(plot.w_min[finite])), float(np.max(plot.w_max[finite]))
    pad = (y_hi - y_lo) * 0.08 or max(abs(y_hi) * 0.05, 1e-9)
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def sx(x: float) -> float:
        return MARGIN_L + (x / x_hi) * iw

    def sy(y: float) -> float:
        return MARGIN_T + ih - (y - y_lo) / (y_hi - y_lo) * ih

    row_ends: list[float] = []  # right end (px) of the last label in each row of labels
    for t_begin, t_end, label in sorted(plot.windows):
        a, b = max(0.0, t_begin - plot.t0), min(x_hi, t_end - plot.t0)
        if b > a:
            parts.append(f'<rect x="{sx(a):.1f}" y="{MARGIN_T}" width="{sx(b) - sx(a):.1f}" height="{ih}" '
                         f'fill="#2e7d32" fill-opacity="0.12"/>')
            # Labels of windows close together go on the next free row instead of over each other;
            # one that would run past the plot's right edge ends at it.
            width = len(label) * CHAR_W
            x = min(sx(a) + 4, MARGIN_L + iw - 4 - width)
            row = next((i for i, end in enumerate(row_ends) if x >= end + 6), len(row_ends))
            if row == len(row_ends):
                row_ends.append(0.0)
            row_ends[row] = x + width
            parts.append(f'<text x="{x:.1f}" y="{MARGIN_T + 14 + row * LABEL_ROW_H}" fill="#2e7d32">'
                         f'{html.escape(label)}</text>')
    for y in _nice_ticks(y_lo, y_hi):
        parts.append(f'<line x1="{MARGIN_L}" x2="{MARGIN_L + iw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
                     f'stroke="#ddd"/><text x="{MARGIN_L - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">'
                     f'{html.escape(_fmt_w(y))}</text>')
    for x in _nice_ticks(0.0, x_hi):
        parts.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{MARGIN_T + ih}" y2="{MARGIN_T + ih + 4}" '
                     f'stroke="#333"/><text x="{sx(x):.1f}" y="{MARGIN_T + ih + 17}" text-anchor="middle">'
                     f'{x:g}</text>')
    parts.append(f'<text x="{MARGIN_L + iw / 2}" y="{PLOT_H - 6}" text-anchor="middle">'
                 f'seconds since {html.escape(utc_text(plot.t0))}</text>')
    parts.append(f'<rect x="{MARGIN_L}" y="{MARGIN_T}" width="{iw}" height="{ih}" fill="none" stroke="#333"/>')
    band_top = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(plot.t[finite], plot.w_max[finite], strict=True))
    band_bot = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in
                        zip(plot.t[finite][::-1], plot.w_min[finite][::-1], strict=True))
    parts.append(f'<polygon points="{band_top} {band_bot}" fill="#1565c0" fill-opacity="0.18" stroke="none"/>')
    mean_ok = np.isfinite(plot.w_mean)
    line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(plot.t[mean_ok], plot.w_mean[mean_ok], strict=True))
    parts.append(f'<polyline points="{line}" fill="none" stroke="#0d47a1" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


_STATUS_COLOUR = {"pass": "#2e7d32", "warn": "#b26a00", "fail": "#c62828"}

# Metric keys whose numbers are moments (UTC seconds): shown as dates and times, never as 1.7e9.
TIME_KEYS = frozenset({"begin", "end", "start", "stop", "first_overrange", "t0", "t1", "time"})
# Names and units of the metrics the review writes; other keys are named from their spelling.
METRIC_LABELS = {
    "window_s": ("Workload window", "s"),
    "window_source": ("Window from", ""),
    "time_to_train_s": ("Time to train", "s"),
    "duration_s": ("Duration", "s"),
    "average_power_w": ("Average power", "W"),
    "average_w": ("Average power", "W"),
    "peak_power_w": ("Peak power", "W"),
    "peak_w": ("Peak power", "W"),
    "ranging_average_power_w": ("Ranging average power", "W"),
    "energy_j": ("Energy", "J"),
    "energy_sum_j": ("Energy (sum of samples)", "J"),
    "energy_uj": ("Energy", "µJ"),
    "uj_per_inference": ("Energy per inference", "µJ"),
    "interconnect_j": ("Interconnect energy", "J"),
    "kwh": ("Energy", "kWh"),
    "samples": ("Samples", "count"),
    "valid_samples": ("Valid samples", "count"),
    "missing_samples": ("Missing samples", "count"),
    "uncertainty_max": ("Uncertainty, largest", "%"),
    "uncertainty_avg": ("Uncertainty, mean", "%"),
    "uncertainty_known": ("Samples with a known uncertainty", "count"),
    "uncertainty_unknown": ("Samples without a known uncertainty", "count"),
    "conversion_efficiency": ("AC/DC conversion efficiency", "%"),
    "coverage": ("Coverage (time with good samples)", "%"),
    "first_overrange": ("First overrange", "utc"),
}
_SI = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))


def utc_text(t) -> str:
    """A moment (UTC seconds, or an ISO 8601 text) as '2026-12-07 13:36:41.250 UTC'."""
    try:
        if isinstance(t, str):
            moment = datetime.fromisoformat(t.replace("Z", "+00:00"))
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        else:
            moment = datetime.fromtimestamp(float(t), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return "—" if t is None else str(t)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + " UTC"


def _si(v: float, unit: str, digits: int = 5) -> str:
    a = abs(v)
    for factor, prefix in _SI:
        if a >= factor:
            return f"{v / factor:.{digits}g} {prefix}{unit}"
    return f"{v:.{digits}g} {unit}" if a == 0 else f"{v / 1e-9:.{digits}g} n{unit}"


def _label_and_kind(key: str) -> tuple[str, str]:
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    name = key.replace("_", " ")
    name = name[:1].upper() + name[1:]
    if key in TIME_KEYS:
        return name, "utc"
    for suffix, kind in (("_uj", "µJ"), ("_w", "W"), ("_j", "J"), ("_s", "s")):
        if key.endswith(suffix):
            return name[:-len(suffix)], kind
    if key.endswith("samples") or key == "gaps":
        return name, "count"
    if "coverage" in key or "uncertainty" in key:
        return name, "%"
    return name, ""


def metric_text(value, kind: str) -> str:
    """A metric's number in its unit: '98.000 W', '65.0 s', '2.5 %', '2026-12-07 13:36:41 UTC'."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, dict) and "value" in value and "unit" in value:
            return format_value(value)
        if isinstance(value, list) and kind == "count":
            return str(len(value))
        return format_value(value)
    if not math.isfinite(value):
        return "—"
    if kind == "utc":
        return utc_text(value)
    if kind == "count":
        return f"{value:,.0f}".replace(",", "\u202f")
    if kind == "%":
        return f"{value * 100:.4g} %"
    if kind == "s":
        return f"{value:.1f} s" if value < 120 else f"{value:.1f} s ({value / 60:.1f} min)"
    if kind == "J":
        text = _si(value, "J")
        return text + f" ({_si(value / 3600.0, 'Wh')})" if abs(value) >= 360 else text
    if kind in ("W", "µJ", "kWh"):
        return _si(value, kind) if kind == "W" else f"{value:.6g} {kind}"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _metric_rows(values: dict, prefix: str = "") -> list[tuple[str, str]]:
    """(quantity, value with unit) rows of one run's metrics; nested records become prefixed rows."""
    rows: list[tuple[str, str]] = []
    for key, value in values.items():
        if key in ("instruments", "gpio_windows"):
            continue  # tables of their own
        label, kind = _label_and_kind(str(key))
        if isinstance(value, dict) and not ("value" in value and "unit" in value):
            rows.extend(_metric_rows(value, f"{prefix}{label}: "))
        elif isinstance(value, dict) and len(value) > 2:  # a metric with its details
            rows.append((f"{prefix}{label}", format_value({"value": value["value"], "unit": value["unit"]})))
            rows.extend(_metric_rows({k: v for k, v in value.items() if k not in ("value", "unit")},
                                     f"{prefix}{label}: "))
        else:
            rows.append((f"{prefix}{label}", metric_text(value, kind)))
    return rows


def _grid(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><tr>{head}</tr>{body}</table>' if cls else f"<table><tr>{head}</tr>{body}</table>"


def metrics_html(metrics: dict) -> str:
    """The metrics of every run as readable tables: named quantities with units, one column per
    instrument, one row per GPIO window; moments as UTC date-times."""
    if not metrics:
        return "<p>none</p>"
    parts = []
    loose = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    if loose:
        parts.append(_grid(["Quantity", "Value"], [list(r) for r in _metric_rows(loose)], "metrics"))
    for run, values in metrics.items():
        if not isinstance(values, dict):
            continue
        parts.append(f"<h3>{html.escape(str(run))}</h3>")
        parts.append(_grid(["Quantity", "Value"], [list(r) for r in _metric_rows(values)], "metrics"))
        instruments = values.get("instruments")
        if isinstance(instruments, dict) and instruments:
            names = list(instruments)
            keys: list[str] = []
            for stats in instruments.values():
                keys += [k for k in (stats if isinstance(stats, dict) else {}) if k not in keys]
            rows = []
            for key in keys:
                label, kind = _label_and_kind(key)
                rows.append([label] + [metric_text((instruments[n] or {}).get(key), kind) for n in names])
            parts.append(_grid(["Per instrument", *names], rows, "metrics"))
        windows = values.get("gpio_windows")
        if isinstance(windows, list) and windows and all(isinstance(w, dict) for w in windows):
            keys = list(windows[0])
            kinds = [_label_and_kind(k) for k in keys]
            header = ["GPIO window"] + [label for label, _ in kinds]
            rows = [[str(i + 1)] + [metric_text(w.get(k), kind) for k, (_, kind) in zip(keys, kinds, strict=True)]
                    for i, w in enumerate(windows)]
            parts.append(_grid(header, rows, "metrics"))
    return "".join(parts)


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def format_value(v) -> str:
    """A value as a report shows it: floats to 6 digits, {value, unit} as '<value> <unit>'."""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict):
        if "value" in v and "unit" in v:
            return f"{format_value(v['value'])} {v['unit']}"
        return ", ".join(f"{k}: {format_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(format_value(x) for x in v)
    return "—" if v is None else str(v)


def build_html(manifest: dict, plots: list[RunPlot], svgs: list[str] | None = None) -> str:
    """The report page. ``svgs`` replaces the inline plots (the PDF writer passes image tags)."""
    svgs = svgs if svgs is not None else [svg_plot(p) for p in plots]
    session = manifest.get("session") or {}
    verdict = bundle_verdict([], manifest)  # written at export, so its files are intact by construction
    colour = _STATUS_COLOUR[verdict.tone]
    metric = manifest.get("metric") or {}
    head = [
        ("Bundle", str(manifest.get("bundle_id"))),
        ("Created", utc_text(manifest.get("created_utc"))),
        ("Operator", format_value(session.get("operator"))),
        ("System under test", format_value(session.get("sut"))),
        ("Benchmark / scenario", f"{format_value(session.get('benchmark'))} / {format_value(session.get('scenario'))}"),
        ("Rule set", format_value((manifest.get("rules") or {}).get("name"))),
        ("Station", format_value((manifest.get("station") or {}).get("version"))),
    ]
    instruments = []
    for inst in manifest.get("instruments") or []:
        ident = inst.get("identity") or {}
        instruments.append((
            str(inst.get("id") or inst.get("name") or inst.get("driver")),
            f"{format_value(ident.get('manufacturer'))} {format_value(ident.get('model'))}, serial "
            f"{format_value(ident.get('serial'))}, firmware {format_value(ident.get('firmware'))}; calibration due "
            f"{format_value(inst.get('calibration_due'))}",
        ))
    checks_rows = "".join(
        f'<tr><td>{html.escape(c.name)}</td>'
        f'<td style="color:{_STATUS_COLOUR.get(c.status, "#000")};font-weight:bold">'
        f'{html.escape(c.status.upper())}</td>'
        f'<td>{html.escape(c.evidence or "—")}</td>'
        f'<td>{html.escape(c.source or "—")}</td></tr>'
        for c in map(Check.from_dict, manifest.get("checks") or [])
    )
    runs_html = "".join(
        f'<h3>{html.escape(p.title)}</h3><div class="plot">{s}</div>'
        + "".join(f"<p>{html.escape(n)}</p>" for n in p.notes)
        for p, s in zip(plots, svgs, strict=True)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Station report {html.escape(str(manifest.get("bundle_id")))}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #111; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 18px; margin-top: 28px; }} h3 {{ font-size: 15px; }}
table {{ border-collapse: collapse; margin: 8px 0; }}
th, td {{ border: 1px solid #bbb; padding: 4px 8px; text-align: left; vertical-align: top; }}
table.kv th {{ background: #f2f2f2; }}
.verdict {{ font-size: 20px; font-weight: bold; color: {colour}; }}
</style></head><body>
<h1>Energy measurement report</h1>
<p class="verdict">{html.escape(verdict.headline)}</p>
{"".join(f"<p>{html.escape(r)}</p>" for r in verdict.reasons)}
<p>{html.escape(verdict.answers)}</p>
<p>Metric: <b>{html.escape(format_value(metric) if metric else "—")}</b></p>
{_table(head)}
<h2>Instruments</h2>
{_table(instruments) if instruments else "<p>none recorded</p>"}
<h2>Metrics</h2>
{metrics_html(manifest.get("metrics") or {})}
<h2>Checks</h2>
<table><tr><th>Check</th><th>Verdict</th><th>Evidence</th><th>Source</th></tr>{checks_rows}</table>
<h2>Runs</h2>
{runs_html or "<p>no runs</p>"}
</body></html>
"""
