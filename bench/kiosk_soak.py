"""Kiosk soak: resident memory over an accelerated run of many demo cycles.

The demo loop runs unpaced (the simulated analyzer as fast as the machine goes) with short
ranging and testing runs, optionally with the kiosk window offscreen polling it. RSS after the
first cycle is the baseline; the figure of merit is the ratio of the last and the highest RSS
to it (flat memory: close to 1). Disk: what the rotated run directory holds at the end.

    python bench/kiosk_soak.py [--cycles 200] [--window] [--json]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figures import all_met, emit, figure  # noqa: E402  (bench/ is on sys.path)

from station.kiosk.config import parse_config  # noqa: E402
from station.kiosk.cycle import RUNS, DemoLoop  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=5.0, help="ranging and testing length (measuring time)")
    ap.add_argument("--rate", type=float, default=50.0, help="samples per second")
    ap.add_argument("--max-runs", type=int, default=8)
    ap.add_argument("--window", action="store_true", help="also run the kiosk window (offscreen)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kiosk-soak-"))
    os.environ.setdefault("STATION_HOME", str(tmp / "home"))
    config = parse_config({"data_dir": str(tmp / "kiosk"), "realtime": False, "ranging_s": args.seconds,
                           "testing_s": args.seconds, "result_s": 0, "rate_hz": args.rate,
                           "max_runs": args.max_runs, "fullscreen": False}, None)
    loop = DemoLoop(config)
    proc = psutil.Process()
    app = window = None
    if args.window:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from station.ui.app import make_application
        from station.ui.kiosk_window import KioskWindow

        app = make_application(["kiosk-soak"])
        window = KioskWindow(config, loop)
        window.resize(1920, 1080)
        window.show()

    samples: list[tuple[int, int]] = []  # (cycles done, rss)
    loop.max_cycles = args.cycles
    t0 = time.perf_counter()
    loop.start()
    last = -1
    while loop.running:
        if app is not None:
            app.processEvents()
        done = loop.status().cycles_done
        if done != last:
            samples.append((done, proc.memory_info().rss))
            last = done
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    samples.append((loop.status().cycles_done, proc.memory_info().rss))
    if window is not None:
        window.leave()
    base = next(rss for done, rss in samples if done >= 1)
    peak = max(rss for _, rss in samples)
    final = samples[-1][1]
    runs_dir = tmp / "kiosk" / RUNS
    disk = sum(p.stat().st_size for p in runs_dir.rglob("*") if p.is_file())
    result = {
        "cycles": loop.status().cycles_done,
        "window": bool(args.window),
        "seconds_per_run": args.seconds,
        "rate_hz": args.rate,
        "rss_first_cycle_mb": round(base / 1e6, 1),
        "rss_peak_mb": round(peak / 1e6, 1),
        "rss_final_mb": round(final / 1e6, 1),
        "final_over_first": round(final / base, 3),
        "peak_over_first": round(peak / base, 3),
        "cycle_dirs_kept": len(list(runs_dir.iterdir())),
        "disk_kept_kb": round(disk / 1e3, 1),
        "wall_s": round(elapsed, 1),
        "error": loop.status().error,
    }
    for k, v in result.items():
        print(f"{k:20} {v}", file=sys.stderr if args.json else sys.stdout)
    shown = "with the kiosk window" if args.window else "without a window"
    figures = {
        "rss_final": figure(final / 1e6, base / 1e6, 1.10, "lower", on="ratio", unit="MB",
                            what=f"kiosk RSS after {result['cycles']} accelerated demo cycles, {shown}",
                            baseline_is="RSS after the first cycle"),
        "rss_peak": figure(peak / 1e6, base / 1e6, None, "lower", on="ratio", unit="MB",
                           what=f"kiosk peak RSS, {shown}", baseline_is="RSS after the first cycle"),
        "runs_kept": figure(result["cycle_dirs_kept"], None, args.max_runs, "lower", unit="run directories",
                            what=f"runs kept on disk ({result['disk_kept_kb']:,.0f} kB)"),
        "cycles_done": figure(result["cycles"], args.cycles, 1.0, "higher", on="ratio", unit="cycles",
                              what="demo cycles completed without error" + (f" ({result['error']})" if result["error"] else ""),
                              baseline_is="cycles asked for"),
    }
    if result["error"]:
        figures["cycles_done"]["met"] = False
    if args.json:
        emit("kiosk_soak", figures, result=result)
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if all_met(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
