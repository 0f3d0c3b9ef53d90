"""Verification throughput: a 24 h, 1 s, 3-channel spl.txt, a 10-minute 100 kHz recording, and a
tree of real published MLPerf Inference power results.

    python bench/verify.py [--json] [--quick] [--tree-only] [--tree-results N] [--mirrors DIR]

1. ``spl.txt``: 86,400 multichannel lines (PTDaemon format, like the WT500 sample), parsed by
   ``station.mlperf.spl.read_spl`` plus the official window average, against a baseline of
   Python's csv module reading the same file and converting each line's time (``strptime``)
   and numbers — what a script would do. Each side: best of 3 runs. Target: ≥ 3x the
   baseline (lines/s).
2. Energy of a 10-minute 100 kHz full-resolution recording (60 M samples, station record
   type, as ``.npy`` memory-mapped), integrated in 1 M-sample chunks by
   ``station.mlperf.metric.integrate_energy``, against a per-sample Python loop over the same
   records. The loop runs on the first 2 M samples and its rate is scaled (stated in the
   output); both results are compared on that stretch. Target: ≥ 50x.
3. A results tree: ``--tree-results`` (default 35) published power result directories taken
   from the fetched results repositories in ``--mirrors`` (bare git snapshots of
   mlcommons/inference_results_v1.0 ... v4.1 and ntuhpc/inference_results_v5.1, as the
   ``fetch`` tool leaves them: ``<owner>+<name>/repo``), spread over rounds, submitters and
   scenarios, extracted as ``inference_results_vX.Y/<path>``. The station verifies the whole
   tree in one process (``python -m station verify TREE --json``); the baseline runs the
   official power compliance checker of each result's round (power-dev ``compliance/check.py``
   or its copy in mlcommons/inference ``tools/submission/power/power_checker.py``, at the commit
   ``station.mlperf.rounds`` names, extracted from the mirrors) once per directory, as a
   submitter does: ``python check.py DIR``. Each side: best of 3. Both must agree on which
   directories pass the official power checks. Target: ≥ 2x (directories/s). Without the
   mirrors this part says so and is skipped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _figures import all_met, emit, figure  # noqa: E402  (bench/ is on sys.path)

from station.core.samples import SAMPLE_DTYPE, Flag  # noqa: E402
from station.mlperf.metric import integrate_energy, window_average  # noqa: E402
from station.mlperf.published import OFFICIAL as OFFICIAL_SOURCE  # noqa: E402  (the official power checker's checks)
from station.mlperf.rounds import BY_NAME  # noqa: E402
from station.mlperf.spl import read_spl  # noqa: E402

MIRRORS = Path(os.environ.get("STATION_MIRRORS", "/work/.mirror"))
RESULTS_REPO = re.compile(r"\+inference_results_(v\d+\.\d+)$")
MAX_RESULT_BYTES = 20_000_000  # a few LLM directories hold 100 MB+ of logs: leave those out of the tree


def write_spl(path: Path, lines: int) -> None:
    rng = np.random.default_rng(1)
    t0 = 1_753_742_400.0
    w = rng.normal(787.0, 5.0, (lines, 3))
    with open(path, "w", encoding="ascii") as f:
        for i in range(lines):
            stamp = datetime.fromtimestamp(t0 + i + 0.106, UTC).strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]
            ch = ",".join(f"Ch{k + 1},Watts,{w[i, k]:.6f},Volts,238.090000,Amps,3.482000,PF,0.950000" for k in range(3))
            f.write(f"Time,{stamp},Watts,{w[i].sum():.6f},Volts,237.963333,Amps,10.300000,PF,0.963131,"
                    f"Mark,bench_testing,{ch}\n")


def baseline_csv(path: Path) -> tuple[float, int]:
    t, watts = [], []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0] != "Time":
                continue
            t.append(datetime.strptime(row[1], "%m-%d-%Y %H:%M:%S.%f").replace(tzinfo=UTC).timestamp())
            watts.append(float(row[3]))
    tt, ww = np.array(t), np.array(watts)
    avg, _ = window_average(tt, ww, tt[0] + 10, tt[-1] - 10)
    return avg, len(t)


def ours_spl(path: Path) -> tuple[float, int]:
    d = read_spl(path)
    avg, _ = window_average(d.t, d.watts, d.t[0] + 10, d.t[-1] - 10)
    return avg, len(d)


def write_recording(path: Path, n: int) -> None:
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=SAMPLE_DTYPE, shape=(n,))
    rng = np.random.default_rng(2)
    chunk = 1 << 22
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        block = np.zeros(m, SAMPLE_DTYPE)
        block["t"] = 1.7e9 + (i + np.arange(m)) * 1e-5
        block["w"] = 300.0 + rng.normal(0, 3, m)
        block["flags"][rng.random(m) < 1e-4] = int(Flag.INVALID)
        arr[i:i + m] = block
    arr.flush()
    del arr


def ours_energy(path: Path) -> tuple[float, int]:
    data = np.load(path, mmap_mode="r")
    total, used = 0.0, 0
    for i in range(0, len(data), 1 << 20):
        b = data[i:i + (1 << 20)]
        e, n = integrate_energy(b["t"], b["w"], 1e-5, (b["flags"] & int(Flag.INVALID | Flag.OVERRANGE)) == 0)
        total += e
        used += n
    return total, used


def baseline_energy(path: Path, n: int) -> tuple[float, int]:
    data = np.load(path, mmap_mode="r")[:n]
    bad = int(Flag.INVALID | Flag.OVERRANGE)
    total, used = 0.0, 0
    for rec in data.tolist():  # (t, w, v, a, pf, v_range, a_range, uncert, flags)
        if not rec[8] & bad:
            total += rec[1] * 1e-5
            used += 1
    return total, used


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def best_of(runs: int, fn, *args):
    """The fastest of ``runs`` runs (the machine is shared: the minimum is the least disturbed)."""
    results = [timed(fn, *args) for _ in range(runs)]
    return results[0][0], min(s for _, s in results)


# -- 3. a tree of real published results ------------------------------------------------------------------------
def results_repos(mirrors: Path) -> list[tuple[str, Path]]:
    """(round, bare git dir) of every fetched ``inference_results_vX.Y`` snapshot, oldest round first."""
    found = []
    for d in sorted(mirrors.glob("*+inference_results_v*")):
        m = RESULTS_REPO.search(d.name)
        if m and (d / "repo" / "HEAD").is_file():
            found.append((m.group(1), d / "repo"))
    return sorted(found, key=lambda x: tuple(int(p) for p in x[0][1:].split(".")))


def _git(gitdir: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(gitdir), *args], check=True, capture_output=True).stdout


def power_results(gitdir: Path) -> dict[str, int]:
    """``.../performance`` directory -> bytes, for every result at HEAD with ``power/server.json``."""
    sizes: dict[str, int] = {}
    powered = set()
    for line in _git(gitdir, "ls-tree", "-r", "-l", "HEAD").decode("utf-8", "replace").splitlines():
        meta, _, path = line.partition("\t")
        head, sep, rest = path.partition("/performance/")
        if not sep:
            continue
        perf = head + "/performance"
        size = meta.split()[-1]
        sizes[perf] = sizes.get(perf, 0) + (int(size) if size.isdigit() else 0)
        if rest == "power/server.json":
            powered.add(perf)
    return {p: sizes[p] for p in powered}


def _interleave(lists: list[list[str]]) -> list[str]:
    """The first of each list, then the second of each, ..."""
    out: list[str] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


def spread(perf_dirs: list[str], n: int) -> list[str]:
    """``n`` of ``perf_dirs`` (``division/submitter/results/system/benchmark/scenario/performance``)
    spread over submitters, and within each submitter over scenarios; deterministic."""
    by_submitter: dict[str, dict[str, list[str]]] = {}
    for p in sorted(perf_dirs):
        parts = p.split("/")
        by_submitter.setdefault(parts[1], {}).setdefault(parts[-2].lower(), []).append(p)
    per_submitter = [_interleave(list(scen.values())) for _, scen in sorted(by_submitter.items())]
    return _interleave(per_submitter)[:n]


def build_tree(mirrors: Path, dest: Path, total: int) -> list[tuple[str, str]]:
    """Extract ``total`` published power results, spread over rounds, into ``dest``; (round, path
    relative to ``dest``) of each."""
    repos = results_repos(mirrors)
    chosen: list[tuple[str, str]] = []
    for i, (rnd, gitdir) in enumerate(repos):
        share = (total - len(chosen)) // (len(repos) - i)
        dirs = [p for p, size in power_results(gitdir).items() if size <= MAX_RESULT_BYTES]
        paths = spread(dirs, share)
        if not paths:
            continue
        root = dest / f"inference_results_{rnd}"
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(_git(gitdir, "archive", "--format=tar", "HEAD", *paths))) as tar:
            tar.extractall(root, filter="data")
        chosen.extend((rnd, f"inference_results_{rnd}/{p}") for p in paths)
    return chosen


def checker_ref(rnd: str, mirrors: Path) -> tuple[str, str, str]:
    """(repository, commit or branch, script) of the power checker a submitter of round ``rnd`` ran.

    ``station.mlperf.rounds`` names a commit per round; two of those are not what ran: power-dev's
    master snapshots of v1.0/v1.1 refuse to run ("Check release version": only for master), the
    release branches ``rX.Y`` did not; and the copy in mlcommons/inference named for v4.0/v4.1
    (27ef43ae) crashes on the blank line that ends many spl.txt files, fixed the next day
    (523316e5). So: the inference copy as it was when the round was published; else power-dev's
    release branch of the round; else the named commit."""
    m = re.match(r"mlcommons/(power-dev|inference) (\S+) @([0-9a-f]+)", BY_NAME[rnd].checker)
    if not m:
        raise ValueError(f"cannot read the checker of {rnd}: {BY_NAME[rnd].checker!r}")
    repo, script, commit = m.groups()
    gitdir = mirrors / f"mlcommons+{repo}" / "repo"
    if repo == "inference":
        folder = script.rsplit("/", 1)[0]
        at = _git(gitdir, "rev-list", "-1", f"--before={BY_NAME[rnd].published}", "HEAD", "--", folder).decode().strip()
        return repo, at or commit, script
    branch = f"r{rnd[1:]}"
    if subprocess.run(["git", "-C", str(gitdir), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                      capture_output=True).returncode == 0:
        return repo, branch, script
    return repo, commit, script


def official_checker(rnd: str, mirrors: Path, dest: Path) -> Path:
    """The official power checker of round ``rnd`` (:func:`checker_ref`), extracted with its
    sources_checksums.json into ``dest``; its script."""
    repo, ref, script = checker_ref(rnd, mirrors)
    out = dest / f"checker-{repo}-{ref}"
    target = out / script
    if not target.is_file():
        gitdir = mirrors / f"mlcommons+{repo}" / "repo"
        names = [script, f"{script.rsplit('/', 1)[0]}/sources_checksums.json"]
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(_git(gitdir, "archive", "--format=tar", ref, *names))) as tar:
            tar.extractall(out, filter="data")
    return target


def run_official(checkers: dict[str, Path], tree: Path, results: list[tuple[str, str]]) -> dict[str, bool]:
    """Each directory through its round's official checker, one process each: path -> passed."""
    passed = {}
    for rnd, rel in results:
        done = subprocess.run([sys.executable, str(checkers[rnd]), str(tree / rel)], capture_output=True,
                              text=True, timeout=600)
        passed[rel] = done.returncode == 0
    return passed


def run_station(tree: Path) -> dict[str, dict]:
    """``station verify TREE --json`` in one process: path -> its result line."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "station", "verify", str(tree), "--json"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=3600)
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    if not lines or "summary" not in lines[-1]:
        raise RuntimeError(f"station verify gave no summary (exit {done.returncode}): {done.stderr[-800:]}")
    return {x["path"]: x for x in lines[:-1]}


def passes_official_checks(result: dict) -> bool:
    """What the station says the official power checker concludes on these bytes: none of its checks
    fails, and no result file differs from its recorded SHA-1 (the station only warns when line
    endings alone changed in publishing; the official checker compares the bytes)."""
    checks = [c for c in result.get("checks", []) if c.get("source") == OFFICIAL_SOURCE]
    return "error" not in result and not any(c["status"] == "fail" or (c["name"] == "result checksums"
                                                                       and c["status"] != "pass") for c in checks)


def tree_bench(mirrors: Path, total: int, runs: int) -> dict | None:
    """The tree figure and its details, or None (said) when the mirrors are absent."""
    if not results_repos(mirrors):
        print(f"tree: skipped: no fetched inference_results_vX.Y snapshot under {mirrors} "
              "(set STATION_MIRRORS or --mirrors)")
        return None
    with tempfile.TemporaryDirectory(prefix="station-bench-tree-") as tmp:
        tree = Path(tmp) / "tree"
        results = build_tree(mirrors, tree, total)
        checkers = {rnd: official_checker(rnd, mirrors, Path(tmp)) for rnd in sorted({r for r, _ in results})}
        official, o_s = best_of(runs, run_official, checkers, tree, results)
        station, s_s = best_of(runs, run_station, tree)
    ours = {rel: passes_official_checks(station[rel]) for _, rel in results}
    disagree = sorted(rel for _, rel in results if ours[rel] != official[rel])
    rounds: dict[str, int] = {}
    for rnd, _ in results:
        rounds[rnd] = rounds.get(rnd, 0) + 1
    n = len(results)
    print(f"tree of {n} published power results ({', '.join(f'{r}: {k}' for r, k in rounds.items())}; "
          f"{len({rel.split('/')[2] for _, rel in results})} submitters): station verify in one process "
          f"{s_s:.2f} s, official checker of each round once per directory {o_s:.2f} s = {o_s / s_s:.1f}x; "
          f"official checks pass: {sum(official.values())} by the checker, {sum(ours.values())} by the station; "
          f"{len(disagree)} disagree")
    for rel in disagree:
        print(f"  disagree: {rel}: official checker {'passes' if official[rel] else 'fails'}, station says "
              f"{'passes' if ours[rel] else 'fails'}")
    return {
        "figure": figure(n / s_s, n / o_s, 2.0, "higher", on="ratio", unit="results/s",
                         what=f"verify a tree of {n} published power results (v1.0–v5.1)",
                         baseline_is="official checker of each round, once per directory"),
        "results": [{"round": rnd, "path": rel, "official_passes": official[rel], "station_official_passes": ours[rel],
                     "station_verdict": station[rel].get("headline")} for rnd, rel in results],
        "disagree": disagree,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="1 h of spl lines, 1 minute of recording, 10 results")
    ap.add_argument("--tree-only", action="store_true", help="only the tree of published results")
    ap.add_argument("--tree-results", type=int, default=None, help="published results in the tree (default 35)")
    ap.add_argument("--runs", type=int, default=3, help="runs of each side of the tree figure (best is kept)")
    ap.add_argument("--mirrors", type=Path, default=MIRRORS,
                    help="folder of fetched snapshots (<owner>+<name>/repo); default $STATION_MIRRORS or /work/.mirror")
    args = ap.parse_args()
    total = args.tree_results or (10 if args.quick else 35)
    if args.tree_only:
        tree = tree_bench(args.mirrors, total, args.runs)
        figures = {"tree_results_per_s": tree["figure"]} if tree else {}
        if args.json:
            emit("verify", figures, **({"tree": tree["results"], "disagree": tree["disagree"]} if tree else
                                       {"skipped": f"no fetched results repositories under {args.mirrors}"}))
        return 0 if all_met(figures) else 1
    lines = 3600 if args.quick else 86_400
    samples = 6_000_000 if args.quick else 60_000_000
    loop_n = 2_000_000
    with tempfile.TemporaryDirectory() as tmp:
        spl = Path(tmp) / "spl.txt"
        write_spl(spl, lines)
        spl_bytes = spl.stat().st_size
        (b_avg, b_n), b_s = best_of(3, baseline_csv, spl)
        (o_avg, o_n), o_s = best_of(3, ours_spl, spl)
        assert o_n == b_n == lines and abs(o_avg - b_avg) < 1e-9 * abs(b_avg), (o_avg, b_avg)
        rec = Path(tmp) / "rec.npy"
        write_recording(rec, samples)
        (e_ours, n_ours), e_s = timed(ours_energy, rec)
        (e_loop, n_loop), l_s = timed(baseline_energy, rec, loop_n)
        (e_check, _), _ = timed(lambda: ours_energy_prefix(rec, loop_n))
        assert abs(e_check - e_loop) <= 1e-9 * abs(e_loop), (e_check, e_loop)
    spl_rate, base_rate = o_n / o_s, b_n / b_s
    ours_sps, loop_sps = samples / e_s, loop_n / l_s
    figures = {
        "spl_lines_per_s": figure(spl_rate, base_rate, 3.0, "higher", on="ratio", unit="lines/s",
                                  what=f"spl.txt read, {lines:,} 3-channel lines", baseline_is="csv module + strptime"),
        "energy_samples_per_s": figure(ours_sps, loop_sps, 50.0, "higher", on="ratio", unit="samples/s",
                                       what=f"energy of {samples:,} samples at 100 kHz",
                                       baseline_is="per-sample loop (first 2 M, scaled)"),
    }
    print(f"spl.txt, {lines:,} 3-channel lines ({spl_bytes:,} bytes): ours "
          f"{spl_rate:,.0f} lines/s, csv module + strptime {base_rate:,.0f} lines/s = {spl_rate / base_rate:.1f}x")
    print(f"energy of {samples:,} samples at 100 kHz: ours {ours_sps:,.0f} samples/s ({e_s:.2f} s, {e_ours:.1f} J "
          f"from {n_ours:,} valid samples); per-sample loop {loop_sps:,.0f} samples/s on the first {loop_n:,} "
          f"(scaled) = {ours_sps / loop_sps:.0f}x")
    tree = tree_bench(args.mirrors, total, args.runs)
    if tree:
        figures["tree_results_per_s"] = tree["figure"]
    if args.json:
        emit("verify", figures, **({"tree": tree["results"], "disagree": tree["disagree"]} if tree else {}))
    return 0 if all_met(figures) else 1


def ours_energy_prefix(path: Path, n: int) -> tuple[float, int]:
    data = np.load(path, mmap_mode="r")[:n]
    return integrate_energy(data["t"], data["w"], 1e-5, (data["flags"] & int(Flag.INVALID | Flag.OVERRANGE)) == 0)


if __name__ == "__main__":
    sys.exit(main())
