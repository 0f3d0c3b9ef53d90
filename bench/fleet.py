"""Fleet scale: the energy of a 1,024-node, 1-hour, 1 Hz training run, from Prometheus and from MLLOG files.

    python bench/fleet.py [--json] [--quick] [--nodes N] [--seconds S]

1. A synthetic history (one ``node_power_watts`` series per node, one sample per second, a
   piecewise-linear profile per node, so the exact energy is the trapezoid of its samples) is
   backfilled with ``promtool tsdb create-blocks-from openmetrics`` and served by the Debian
   ``prometheus``. The prometheus driver replays the hour (``from_utc``/``until_utc``: raw
   samples by range-vector instant queries, energy integrated by the station) in a child
   process; its energy must equal the exact one and its time is reported.
2. The same run as MLLOG node files (``power/result_0/node_<i>.txt``, what ``station training``
   writes): the energy by ``station.training.energy`` against mlcommons/logging's own
   ``_compute_total_power`` (the snapshot in /work/.mirror/mlcommons+logging, extracted to a
   temporary folder, never kept) on the same files. Same value; target >= 10x its speed.
3. Peak RSS of each child (its own ``ru_maxrss``) as the fleet grows (64, 256, 1,024 nodes,
   selected by label from the same history / the first N files): target <= 1 GB at 1,024 nodes
   and linear growth (at 1,024 nodes no more than 1.2x the straight line through 64 and 256).

Skips (exit 0, saying why) without prometheus/promtool; the official comparison is left out
without the logging snapshot. ``--quick``: 128 nodes (16, 32, 128), 10 minutes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _figures import all_met, emit, figure  # noqa: E402  (bench/ is on sys.path)

from instruments.fakes.prometheus_history import (  # noqa: E402
    PROMETHEUS,
    PROMTOOL,
    HistorySeries,
    PrometheusServer,
    backfill,
    history_end,
    write_openmetrics,
)

LEAD_S = 60  # history before the run: the driver finds the series and their spacing there
GROUP_SIZES = (64, 256)  # label g<N>="1" on the first N nodes selects a smaller fleet from the same history


def profile(k: int):
    """Node k's power at whole second t: a sawtooth of period 20 s around a node-specific base."""
    base = 400.0 + 5.0 * (k % 17)
    return lambda t: base + 10.0 * ((t + k) % 20)


def profile_array(k: int, t: np.ndarray) -> np.ndarray:
    return 400.0 + 5.0 * (k % 17) + 10.0 * ((t + k) % 20)


def exact_energy(nodes: int, a: int, b: int) -> float:
    """The trapezoid of every node's samples over [a, b] (whole seconds): the exact integral."""
    t = np.arange(a, b + 1, dtype=np.float64)
    return float(sum(np.trapezoid(profile_array(k, t), t) for k in range(nodes)))


def fleet(nodes: int, groups: tuple[int, ...]) -> list[HistorySeries]:
    out = []
    for k in range(nodes):
        labels = {"node": f"n{k}", **{f"g{g}": "1" for g in groups if k < g}}
        out.append(HistorySeries(labels, profile(k)))
    return out


# -- children: each measures its own time and peak RSS ----------------------------------------------
def child_prometheus(url: str, query: str, a: float, b: float) -> dict:
    from instruments.base import Config
    from instruments.prometheus import PrometheusSeries

    t0 = time.perf_counter()
    driver = PrometheusSeries.from_resource(url, query=query, from_utc=a, until_utc=b, lookback_s=LEAD_S,
                                            timeout_s=120.0)
    driver.identify()
    driver.configure(Config(update_interval_s=1.0))
    driver.start()
    energy, records, gaps = 0.0, 0, 0
    while True:
        block = driver.read_block(timeout=0.5)
        if block is not None and len(block.samples):
            energy += float(np.sum(block.samples["w"])) * 1.0
            records += len(block.samples)
            gaps += sum(1 for e in block.events if e.kind == "channel_gap")
        if driver._next_end > b + 1e-9:
            break
    return {"energy_j": energy, "records": records, "series": len(driver.tracks), "gaps": gaps,
            "seconds": time.perf_counter() - t0, "rss_mb": _peak_rss_mb()}


def child_mllog(power_dir: str, perf_log: str, nodes: int) -> dict:
    from station.training.energy import run_energy
    from station.training.mllog import read_power_file, read_run_window

    t0 = time.perf_counter()
    window = read_run_window(perf_log)
    files = [Path(power_dir) / f"node_{i}.txt" for i in range(nodes)]
    result = run_energy((read_power_file(p) for p in files), (), window.time_to_train_ms)
    return {"energy_j": result.total_j, "seconds": time.perf_counter() - t0, "rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the official summarizer -------------------------------------------------------------------------
def official_energy(benchmark_dir: Path, result_file: str, ttt_ms: float, workdir: Path) -> tuple[float, float] | None:
    """(energy J, seconds) of mlcommons/logging's _compute_total_power on the files; None without the snapshot."""
    try:
        from tests.helpers.training_results import LOGGING_MIRROR, official_summarizer
    except ImportError:
        return None
    if not (LOGGING_MIRROR / "HEAD").exists():
        return None
    from station.training.energy import CURRENT

    functions = official_summarizer(CURRENT.commit, workdir)
    t0 = time.perf_counter()
    value = functions["_compute_total_power"](str(benchmark_dir), result_file, ttt_ms, None)
    return value, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="128 nodes (16, 32, 128), 10 minutes")
    ap.add_argument("--nodes", type=int, help="the largest fleet (default 1024)")
    ap.add_argument("--seconds", type=int, help="length of the run (default 3600)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        out = (child_prometheus(rest[0], rest[1], float(rest[2]), float(rest[3])) if kind == "prometheus"
               else child_mllog(rest[0], rest[1], int(rest[2])))
        print(json.dumps(out))
        return 0
    if PROMETHEUS is None or PROMTOOL is None:
        print("skipped: prometheus and promtool (Debian package prometheus) are not installed")
        if args.json:
            emit("fleet", {}, skipped="prometheus/promtool not installed")
        return 0
    nodes = args.nodes or (128 if args.quick else 1024)
    seconds = args.seconds or (600 if args.quick else 3600)
    groups = (16, 32) if args.quick else GROUP_SIZES
    sizes = (*groups, nodes)
    end = history_end()
    a = end - seconds  # the run: [a, end]
    figures: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # -- Prometheus ---------------------------------------------------------------------------------
        t0 = time.perf_counter()
        samples = write_openmetrics(tmp / "fleet.om", fleet(nodes, groups), a - LEAD_S, end)
        written_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        backfill(tmp / "fleet.om", tmp / "tsdb", timeout_s=3600)
        backfill_s = time.perf_counter() - t0
        (tmp / "fleet.om").unlink()
        print(f"history: {nodes:,} nodes x {seconds + LEAD_S:,} s = {samples:,} samples; OpenMetrics written in "
              f"{written_s:.1f} s, promtool backfill {backfill_s:.1f} s")
        prom: dict[int, dict] = {}
        with PrometheusServer(tmp / "tsdb") as server:
            for n in sizes:
                query = "node_power_watts" if n == nodes else f'node_power_watts{{g{n}="1"}}'
                prom[n] = run_child("prometheus", server.url, query, str(a), str(end))
                exact = exact_energy(n, a, end)
                ok = abs(prom[n]["energy_j"] - exact) <= 1e-9 * exact and prom[n]["series"] == n
                print(f"prometheus, {n:>5} nodes: {prom[n]['records']:,} records of {prom[n]['series']} series in "
                      f"{prom[n]['seconds']:.1f} s, peak RSS {prom[n]['rss_mb']:.0f} MB, energy "
                      f"{prom[n]['energy_j']:.6e} J (exact {exact:.6e} J{'' if ok else ', MISMATCH'})")
                if not ok:
                    raise SystemExit(f"the energy from Prometheus is not the exact integral at {n} nodes")
        big = prom[nodes]
        run_samples = nodes * seconds
        figures["prometheus_pull_s"] = figure(
            big["seconds"], float(seconds), 0.1, "lower", on="ratio", unit="s",
            what=f"energy of {nodes:,} nodes x {seconds:,} s at 1 Hz ({run_samples / 1e6:.1f} M samples) pulled "
                 "from Prometheus and integrated", baseline_is="the run's own length")
        # -- MLLOG node files ---------------------------------------------------------------------------
        from station.training.mllog import write_power_file

        bench_dir = tmp / "results" / "sys" / "bench"
        power_dir = bench_dir / "power" / "result_0"
        power_dir.mkdir(parents=True)
        t = np.arange(a + 1, end + 1, dtype=np.float64)
        t0 = time.perf_counter()
        for k in range(nodes):
            mean_w = (profile_array(k, t - 1) + profile_array(k, t)) / 2.0  # each second's mean power
            write_power_file(power_dir / f"node_{k}.txt", t * 1000.0, mean_w, a * 1000.0, end * 1000.0,
                             host=f"n{k}")
        perf_log = bench_dir / "result_0.txt"
        perf_log.write_text("".join(
            f':::MLLOG {{"namespace": "", "time_ms": {ms}, "event_type": "{kind}", "key": "{key}", "value": null, '
            f'"metadata": {{}}}}\n' for ms, kind, key in ((a * 1000, "INTERVAL_START", "run_start"),
                                                      (end * 1000, "INTERVAL_END", "run_stop"))))
        print(f"MLLOG: {nodes:,} node files written in {time.perf_counter() - t0:.1f} s")
        ours: dict[int, dict] = {n: run_child("mllog", str(power_dir), str(perf_log), str(n)) for n in sizes}
        exact = exact_energy(nodes, a, end)
        assert abs(ours[nodes]["energy_j"] - exact) <= 1e-9 * exact, (ours[nodes]["energy_j"], exact)
        for n in sizes:
            print(f"MLLOG, {n:>5} nodes: energy in {ours[n]['seconds']:.2f} s, peak RSS {ours[n]['rss_mb']:.0f} MB")
        official = official_energy(bench_dir, str(perf_log), (end - a) * 1000.0, tmp / "logging")
        if official is None:
            print("official summarizer: the mlcommons/logging snapshot is not here; no comparison")
        else:
            value, official_s = official
            same = abs(value - ours[nodes]["energy_j"]) <= 1e-9 * abs(value)
            print(f"official summarizer on the same {nodes:,} files: {official_s:.1f} s, {value:.9e} J "
                  f"({'equal' if same else 'DIFFERENT'}); ours {ours[nodes]['seconds']:.2f} s = "
                  f"{official_s / ours[nodes]['seconds']:.1f}x")
            if not same:
                raise SystemExit("the station's energy differs from the official summarizer's")
            figures["mllog_energy_s"] = figure(
                ours[nodes]["seconds"], official_s, 0.1, "lower", on="ratio", unit="s",
                what=f"energy from {nodes:,} MLLOG node files of {seconds:,} readings (same value)",
                baseline_is="mlcommons/logging _compute_total_power")
    for label, runs in (("prometheus", prom), ("MLLOG", ours)):
        small, mid = groups
        slope = (runs[mid]["rss_mb"] - runs[small]["rss_mb"]) / (mid - small)
        linear = runs[mid]["rss_mb"] + slope * (nodes - mid)  # where a straight line through the two lands
        print(f"{label} peak RSS by nodes: " + ", ".join(f"{n}: {runs[n]['rss_mb']:.0f} MB" for n in sizes)
              + f"; {slope:.3f} MB per node from {small} to {mid}, so {linear:.0f} MB at {nodes} if linear")
        key = label.lower()
        figures[f"{key}_rss_mb"] = figure(runs[nodes]["rss_mb"], runs[small]["rss_mb"], 1000.0, "lower", unit="MB",
                                          what=f"peak RSS, {label} energy of {nodes:,} nodes",
                                          baseline_is=f"the same at {small} nodes")
        figures[f"{key}_rss_linear"] = figure(runs[nodes]["rss_mb"], linear, 1.2, "lower", on="ratio", unit="MB",
                                              what=f"peak RSS, {label}, {nodes:,} nodes, against a straight line",
                                              baseline_is=f"extrapolated from {small} and {mid} nodes")
    if args.json:
        emit("fleet", figures)
    return 0 if all_met(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
