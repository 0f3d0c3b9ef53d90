"""Plot benchmark: frame time of the station's plot path against plain pyqtgraph, and GUI latency.

    python bench/plot.py            # figures as text
    python bench/plot.py --json     # ... and one JSON object as the last line

Figures (each as {"value", "baseline", "ratio", "target", "met"}):

* ``frame_ms_1M`` / ``frame_ms_10M``: median time of one live frame (append a 33 ms block of
  a 100 kHz stream, then redraw the whole history) with 1 M and 10 M samples in the
  history, on a 1600 px wide plot: our path (LiveStore.summary at pixel resolution into the
  PowerPlot band + mean) against the baseline, plain pyqtgraph ``setData`` of the full arrays,
  measured in the same run on the same widget size. Both include a synchronous repaint.
  Target: <= 10 ms at 10 M.
* ``speedup_10M``: baseline / ours at 10 M samples. Target: >= 50x.
* ``timer_latency_ms``: worst lateness of the window's 30 Hz frame timer while the real
  window streams the simulated analyzer at 100 kHz (real time) for ``--latency-s`` seconds.
  Target: <= 50 ms.

Runs offscreen (CPU raster), so the figures are those of the worst case: no GPU help.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from _figures import all_met, emit, figure  # noqa: E402  (bench/ is on sys.path)

RATE_HZ = 100_000
FRAME_S = 1 / 30
WIDTH, HEIGHT = 1600, 500


def synthetic_history(n: int, t0: float = 1.7e9) -> np.ndarray:
    """n samples of a 100 kHz stream: an ML workload-like square wave with noise."""
    from station.core.samples import empty_block

    b = empty_block(n)
    i = np.arange(n)
    b["t"] = t0 + i / RATE_HZ
    rng = np.random.default_rng(0)
    w = 300.0 + 1200.0 * ((i // (RATE_HZ * 3)) % 2) + rng.normal(0, 20.0, n)
    b["w"] = w
    b["v"] = 230.0
    b["a"] = w / 230.0
    b["pf"] = 0.97
    b["v_range"] = 300.0
    b["a_range"] = 10.0
    b["uncert"] = 0.002
    return b


def frame_times(app, n: int, frames: int, baseline_frames: int, traces: bool = False) -> tuple[float, float]:
    """(ours, baseline) median frame time in seconds for a history of n samples. With
    ``traces``: volts, amps and power factor rows and a second instrument (same history) too."""
    import pyqtgraph as pg

    from station.core.live_store import LiveStore
    from station.ui.power_plot import PowerPlot

    block = int(RATE_HZ * FRAME_S)
    total = n + block * (frames + baseline_frames + 2)
    data = synthetic_history(total)
    store = LiveStore(interval_s=1.0 / RATE_HZ)
    for i in range(0, n, 65536):
        store.append(data[i:min(n, i + 65536)])
    pos = n

    plot = PowerPlot()
    plot.resize(WIDTH, HEIGHT)
    plot.show()
    app.processEvents()
    plot.set_store(store, live=True)
    if traces:
        for name in ("v", "a", "pf"):
            plot.set_trace(name, True)
        plot.add_source("b", "second analyzer", store)
        plot.set_show_total(True)
    plot.set_follow(False)
    ours = []
    for k in range(frames + 2):
        store.append(data[pos:pos + block])  # the acquisition thread's work, not the frame's
        pos += block
        plot.fit_all()  # the whole history in view, as it grows
        started = time.perf_counter()
        plot.refresh()
        plot.plot.viewport().repaint()
        if k >= 2:  # the first frames build caches
            ours.append(time.perf_counter() - started)
    plot.close()
    plot.deleteLater()
    app.processEvents()

    base = pg.PlotWidget()
    base.resize(WIDTH, HEIGHT)
    base.show()
    app.processEvents()
    curve = base.plot(pen=pg.mkPen("#0b4f9c", width=1))
    vb = base.getPlotItem().getViewBox()
    vb.disableAutoRange()
    baseline = []
    origin = float(data["t"][0])
    for k in range(baseline_frames + 1):
        pos += block
        started = time.perf_counter()
        x = data["t"][:pos] - origin
        y = data["w"][:pos]
        curve.setData(x, y)
        vb.setRange(xRange=(0, float(x[-1])), yRange=(0, 2000), padding=0)
        base.viewport().repaint()
        if k >= 1:
            baseline.append(time.perf_counter() - started)
    base.close()
    base.deleteLater()
    app.processEvents()
    return statistics.median(ours), statistics.median(baseline)


def timer_latency(app, seconds: float, warmup: float = 3.0) -> dict:
    """Worst and 99th-percentile lateness of the window's frame timer during a 100 kHz stream."""
    from PySide6.QtCore import QSettings, QTimer

    from station.ui.main_window import FRAME_MS, MainWindow

    home = Path(os.environ["STATION_HOME"])
    w = MainWindow(QSettings(str(home / "bench.ini"), QSettings.Format.IniFormat))
    w.resize(1600, 1000)
    w.show()
    w.window_combo.setCurrentIndex(w.window_combo.findData(30.0))
    w.panel.select_driver("sim")
    w.panel.form.set_value("update_interval_s", 1.0 / RATE_HZ)
    w.connect_instrument(w.panel.request())
    gaps: list[float] = []
    state = {"last": None, "start": None, "samples0": None}

    def tick():
        now = time.perf_counter()
        if w.link.state != "running":
            return
        if state["start"] is None:
            state["start"] = now
        elif now - state["start"] >= warmup:
            if state["samples0"] is None:
                state["samples0"] = (w.link.store.total_samples, now)
            else:
                gaps.append(now - state["last"])
        state["last"] = now
        if state["start"] is not None and now - state["start"] >= warmup + seconds:
            app.quit()

    w.timer.timeout.connect(tick)
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(app.quit)
    deadline.start(int((seconds + warmup + 30) * 1000))
    app.exec()
    samples = w.link.store.total_samples if w.link.store is not None else 0
    n0, t0 = state["samples0"] or (0, time.perf_counter())
    rate = (samples - n0) / max(1e-9, time.perf_counter() - t0)
    frame_ms = w.plot.last_frame_s * 1000
    w.shutdown()
    w._close_ready = True
    w.close()
    late = sorted(max(0.0, g - FRAME_MS / 1000) for g in gaps)
    return {
        "worst_ms": late[-1] * 1000 if late else None,
        "p99_ms": late[int(0.99 * (len(late) - 1))] * 1000 if late else None,
        "ticks": len(gaps),
        "stream_rate_hz": rate,
        "last_frame_ms": frame_ms,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="plot frame time and GUI latency")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ap.add_argument("--frames", type=int, default=30, help="frames measured on our path")
    ap.add_argument("--baseline-frames", type=int, default=3, help="frames measured on the baseline")
    ap.add_argument("--latency-s", type=float, default=10.0, help="seconds of 100 kHz streaming")
    ap.add_argument("--latency-only", action="store_true", help="skip the frame-time figures")
    ap.add_argument("--no-traces", action="store_true", help="skip the figure with V/A/PF and two instruments")
    args = ap.parse_args(argv)
    os.environ.setdefault("STATION_HOME", tempfile.mkdtemp(prefix="station-bench-"))

    from station.ui.app import make_application

    app = make_application()
    out: dict = {}
    sizes = () if args.latency_only else (("1M", 1_000_000), ("10M", 10_000_000))
    for label, n in sizes:
        ours, base = frame_times(app, n, args.frames, args.baseline_frames)
        out[f"frame_ms_{label}"] = figure(ours * 1000, base * 1000, 10.0 if label == "10M" else None, "lower",
                                          unit="ms", what=f"plot frame, {label} samples, 1600 px",
                                          baseline_is="plain pyqtgraph setData")
        print(f"frame, {label} samples, 1600 px: ours {ours * 1000:.2f} ms, plain pyqtgraph setData "
              f"{base * 1000:.1f} ms ({base / ours:.0f}x)")
    if not args.latency_only and not args.no_traces:
        ours, base = frame_times(app, 10_000_000, args.frames, args.baseline_frames, traces=True)
        out["frame_ms_10M_traces"] = figure(ours * 1000, base * 1000, None, "lower", unit="ms",
                                            what="plot frame, 10M samples, V/A/PF + 2nd instrument + total",
                                            baseline_is="plain setData of the power alone")
        print(f"frame, 10M samples, V/A/PF rows + second instrument + total: ours {ours * 1000:.2f} ms "
              f"(plain setData of the power alone {base * 1000:.1f} ms)")
    if "frame_ms_10M" in out:
        f10 = out["frame_ms_10M"]
        out["frame_speedup_10M"] = figure(f10["baseline"] / f10["value"], None, 50.0, "higher", unit="x",
                                          what="plot frame speedup at 10M samples",
                                          baseline_is="plain pyqtgraph setData")
    gc.collect()  # the frame figures' 10 M-sample arrays must not be freed during the latency run
    lat = timer_latency(app, args.latency_s)
    out["timer_latency_ms"] = figure(lat["worst_ms"], None, 50.0, "lower", unit="ms",
                                     what=f"worst GUI timer lateness, streaming {lat['stream_rate_hz']:,.0f} S/s "
                                          f"(p99 {lat['p99_ms']:.1f} ms, {lat['ticks']} ticks)")
    print(f"GUI frame timer while streaming {lat['stream_rate_hz']:.0f} S/s for {args.latency_s:g} s: worst "
          f"lateness {lat['worst_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms over {lat['ticks']} ticks")
    if args.json:
        emit("plot", out)
    return 0 if all_met(out) else 1


if __name__ == "__main__":
    sys.exit(main())
