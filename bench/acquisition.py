"""Benchmark of the whole data path: simulated analyzer -> acquisition -> live store + journal.

Phases, each in its own process so that its peak RSS is its own:
  baseline  a naive recorder: a per-sample Python loop writing CSV rows (same sample stream)
  capacity  our path as fast as it goes (unpaced simulator at 10 µs), N samples
  realtime  our path at 100 kHz in real time for --seconds (default 60 s = 6 M samples):
            sustained samples/s, CPU seconds per wall second, peak RSS, dropped samples

    python bench/acquisition.py [--seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _figures import all_met, emit, figure  # bench/ is on sys.path when a script in it runs

RATE = 100_000


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_driver(pace: bool):
    from instruments.sim import SimulatedAnalyzer

    return SimulatedAnalyzer(None, profile="datacenter", seed=1, pace=pace)


def phase_baseline(samples: int, out: Path) -> dict:
    """Naive recorder: one Python call per sample, one CSV row per sample."""
    from instruments.base import Config

    drv = make_driver(pace=False)
    drv.open()
    drv.configure(Config(update_interval_s=1.0 / RATE))
    drv.set_ranges("auto", "auto")
    drv.start()
    n = 0
    t0, c0 = time.perf_counter(), cpu_s()
    with open(out / "baseline.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t", "w", "v", "a", "pf", "flags"])
        while n < samples:
            block = drv.read_block()
            for rec in block.samples[: samples - n]:
                w.writerow([float(rec["t"]), float(rec["w"]), float(rec["v"]), float(rec["a"]),
                            float(rec["pf"]), int(rec["flags"])])
                n += 1
            f.flush()
    wall = time.perf_counter() - t0
    drv.stop()
    return {"samples": n, "wall_s": wall, "samples_per_s": n / wall, "cpu_per_wall": (cpu_s() - c0) / wall,
            "peak_rss_mb": peak_rss_mb()}


def run_path(seconds: float, pace: bool, out: Path) -> dict:
    """Our data path: session -> live store + recording (journal + monitor)."""
    from instruments.base import Config
    from station.core.acquisition import InstrumentSession
    from station.core.live_store import LiveStore
    from station.core.recording import Recording

    session = InstrumentSession("inst0", make_driver(pace), Config(update_interval_s=1.0 / RATE))
    session.connect()
    store = LiveStore(dtype=session.dtype)
    session.add_sink(store.append)
    rec = Recording(out / "run", [session], duration_s=seconds)
    rec.start()
    t0, c0 = time.perf_counter(), cpu_s()
    session.start()
    rec.wait(timeout=seconds * 3 + 30)
    wall = time.perf_counter() - t0
    cpu = cpu_s() - c0
    session.stop()
    summary = rec.finish()
    expected = int(round(seconds * RATE))
    return {
        "samples": summary["samples"],
        "expected": expected,
        "dropped": expected - summary["samples"] + summary["gaps"],
        "gaps": summary["gaps"],
        "wall_s": wall,
        "samples_per_s": summary["samples"] / wall,
        "cpu_per_wall": cpu / wall,
        "peak_rss_mb": peak_rss_mb(),
        "journal_mb": sum(p.stat().st_size for p in (out / "run").iterdir()) / 1e6,
        "live_store_mb": store.memory_bytes() / 1e6,
    }


def run_phase(name: str, seconds: float) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--seconds", str(seconds)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="real-time run length (default 60)")
    ap.add_argument("--baseline-samples", type=int, default=300_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--phase", choices=("baseline", "capacity", "realtime"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    if args.phase:
        with tempfile.TemporaryDirectory() as tmp:
            if args.phase == "baseline":
                r = phase_baseline(args.baseline_samples, Path(tmp))
            else:
                r = run_path(args.seconds, args.phase == "realtime", Path(tmp))
        print(json.dumps(r))
        return 0

    base = run_phase("baseline", args.seconds)
    cap = run_phase("capacity", args.seconds)
    real = run_phase("realtime", args.seconds)
    figures = {
        "throughput": figure(cap["samples_per_s"], base["samples_per_s"], 20.0, "higher", on="ratio",
                             unit="samples/s", what=f"throughput, our path unpaced ({cap['samples']:,} samples)",
                             baseline_is="per-sample Python loop writing CSV rows"),
        "realtime_rate": figure(real["samples_per_s"], RATE, 0.99 * RATE, "higher", unit="samples/s",
                                what=f"real-time run at {RATE:,} Hz for {args.seconds:g} s",
                                baseline_is="the analyzer's rate"),
        "realtime_dropped": figure(real["dropped"] + real["gaps"], None, 0, "lower", unit="samples + gaps",
                                   what="dropped samples and gaps in the real-time run"),
        "realtime_cpu": figure(real["cpu_per_wall"], base["cpu_per_wall"], 0.5, "lower", unit="CPU s/s",
                               what="CPU seconds per wall second, real time", baseline_is="the baseline loop"),
        "realtime_peak_rss": figure(real["peak_rss_mb"], base["peak_rss_mb"], 200.0, "lower", unit="MB",
                                    what="peak RSS, real-time run", baseline_is="the baseline process"),
    }
    print(f"baseline (per-sample CSV loop): {base['samples_per_s']:,.0f} samples/s, "
          f"peak RSS {base['peak_rss_mb']:.0f} MB")
    print(f"capacity (our path, unpaced):   {cap['samples_per_s']:,.0f} samples/s "
          f"= {cap['samples_per_s'] / base['samples_per_s']:.1f}x baseline "
          f"({cap['samples']:,} samples, {cap['wall_s']:.2f} s)")
    print(f"real time at {RATE:,} Hz for {args.seconds:g} s: {real['samples']:,} samples "
          f"({real['dropped']} dropped, {real['gaps']} gaps), {real['samples_per_s']:,.0f} samples/s, "
          f"CPU {real['cpu_per_wall']:.3f} s per wall s, peak RSS {real['peak_rss_mb']:.0f} MB, "
          f"journal {real['journal_mb']:.0f} MB, live store {real['live_store_mb']:.1f} MB")
    if args.json:
        emit("acquisition", figures, phases={"baseline": base, "capacity": cap, "realtime": real})
    return 0 if all_met(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
