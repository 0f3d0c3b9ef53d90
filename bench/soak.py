"""Soak: a simulated 24 h run at 1 kHz (86.4 M samples) with the window open.

    QT_QPA_PLATFORM=offscreen python bench/soak.py --json            # the full 24 h (86.4 M samples)
    QT_QPA_PLATFORM=offscreen python bench/soak.py --hours 2 --json  # shorter

The window connects the simulated analyzer at a 1 ms update interval, unpaced (it hands out
samples as fast as the data path takes them: 24 h of measuring time in minutes) and records to
a journal. Every simulated hour the script notes the process RSS, the plot's frame time and the
frame timer's lateness. Figures:

- RSS at the end against RSS after the first simulated hour (target: within 10 %);
- frame time at the end against frame time after the first hour (target: ≤ 1.5x: a frame's
  cost must not grow with the recording's length);
- journal completeness: samples on disk against samples the instrument produced (target 1.0);
- export completeness: the run exported as a bundle and verified (files, hashes, samples).

Accelerated, the GUI thread competes with an unpaced producer for the interpreter, so timer
lateness here is a stress figure, not the real-time one (bench/plot.py measures that).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _figures import all_met, emit, figure  # bench/ is on sys.path when a script in it runs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RATE_HZ = 1000


def soak(hours: float, work: Path) -> dict:
    import psutil
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from station.ui.main_window import FRAME_MS, MainWindow

    app = QApplication.instance() or QApplication([])
    proc = psutil.Process()
    w = MainWindow(QSettings(str(work / "soak.ini"), QSettings.Format.IniFormat))
    w.resize(1600, 1000)
    w.show()
    w.panel.select_driver("sim")
    w.panel.form.set_value("update_interval_s", 1.0 / RATE_HZ)
    w.panel.form.set_value("pace", False)
    w.panel.form.set_value("seed", 24)
    w.connect_instrument(w.panel.request())
    run_dir = work / "run"
    target = int(hours * 3600 * RATE_HZ)
    step = min(3600 * RATE_HZ, target // 4)  # checkpoints: every simulated hour (or quarter of a short run)
    state = {"recording": False, "hour": 0, "last_tick": None, "late": [], "frames": [],
             "t_start": time.perf_counter()}
    hourly: list[dict] = []

    def tick():
        now = time.perf_counter()
        if state["last_tick"] is not None and state["recording"]:
            state["late"].append(max(0.0, now - state["last_tick"] - FRAME_MS / 1000))
            state["frames"].append(w.plot.last_frame_s)
        state["last_tick"] = now
        if w.link.state != "running":
            return
        if not state["recording"]:
            if w.start_recording(run_dir, duration_s=hours * 3600):
                state["recording"] = True
            return
        if w.recorder.state == "idle":
            app.quit()  # the recording reached its duration (or failed) and was finished
            return
        rec = w.recorder.recording
        if rec is None:
            return  # still starting
        n = rec.monitors[w.link.session.inst_id].snapshot()["samples"]
        while n >= (state["hour"] + 1) * step and (state["hour"] + 1) * step <= target:
            state["hour"] += 1
            late = state["late"]
            hourly.append({
                "hour": state["hour"] * step / 3600 / RATE_HZ, "samples": n, "rss_mb": proc.memory_info().rss / 2**20,
                "frame_ms": w.plot.last_frame_s * 1000,
                "frame_median_ms": statistics.median(state["frames"]) * 1000 if state["frames"] else None,
                "frames": len(state["frames"]),
                "worst_late_ms": max(late) * 1000 if late else None,
                "wall_s": now - state["t_start"],
                "live_store_mb": w.link.store.memory_bytes() / 2**20,
            })
            state["late"] = []
            state["frames"] = []
            print(f"  hour {hourly[-1]['hour']:>6.2f}: {n:,} samples, RSS {hourly[-1]['rss_mb']:.0f} MB, "
                  f"frame median {hourly[-1]['frame_median_ms'] or 0:.1f} ms, worst timer lateness "
                  f"{hourly[-1]['worst_late_ms'] or 0:.0f} ms, wall {hourly[-1]['wall_s']:.0f} s", flush=True)

    w.timer.timeout.connect(tick)
    guard = QTimer()
    guard.setSingleShot(True)
    guard.timeout.connect(app.quit)
    guard.start(int((hours * 3600 * RATE_HZ / 20_000 + 600) * 1000))  # at least 20 kS/s, or give up
    app.exec()
    w.shutdown()
    w._close_ready = True
    w.close()
    return {"hourly": hourly, "run_dir": str(run_dir), "target_samples": target,
            "wall_s": time.perf_counter() - state["t_start"]}


def export_and_verify(run_dir: Path, work: Path) -> dict:
    from station.bundle.export import export_session
    from station.bundle.verify import verify_bundle

    session = work / "session"
    session.mkdir()
    shutil.move(str(run_dir), session / "testing_1")
    (session / "session.json").write_text(json.dumps({"session_id": "soak", "operator": "bench/soak.py",
                                                      "sut": "simulated analyzer", "benchmark": "soak"}))
    (session / "rules.json").write_text(json.dumps({"name": "lab"}))
    (session / "review.json").write_text(json.dumps({"valid": None, "checks": [], "metrics": {}}))
    peaks = {"RssAnon": 0, "RssFile": 0}
    done = threading.Event()

    def watch_memory() -> None:  # the export maps the journal: file pages are reclaimable, anonymous ones not
        while not done.wait(0.2):
            for line in Path("/proc/self/status").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in peaks:
                    peaks[key] = max(peaks[key], int(value.split()[0]) * 1024)

    watcher = threading.Thread(target=watch_memory, daemon=True)
    if Path("/proc/self/status").exists():
        watcher.start()
    t0 = time.perf_counter()
    try:
        res = export_session(session, work / "bundle", make_zip=False)
    finally:
        done.set()
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ver = verify_bundle(res.directory)
    import numpy as np

    n = len(np.load(res.directory / "samples/testing_1/inst0.npy", mmap_mode="r"))
    return {"export_s": export_s, "verify_s": time.perf_counter() - t0, "valid": ver["integrity"], "review_valid": ver["valid"],
            "export_peak_anon_mb": peaks["RssAnon"] / 2**20, "export_peak_file_mb": peaks["RssFile"] / 2**20,
            "exported_samples": n, "bundle_bytes": sum(p.stat().st_size for p in res.directory.rglob("*")
                                                       if p.is_file())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours at 1 kHz (default 24)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix="station-soak-"))
    os.environ["STATION_HOME"] = str(work / "home")
    try:
        out = soak(args.hours, work)
        from station.core.journal import JournalReader

        on_disk = len(JournalReader(out["run_dir"]).samples())
        exp = export_and_verify(Path(out["run_dir"]), work)
        hourly = out["hourly"]
        first, last = (hourly[0], hourly[-1]) if hourly else ({}, {})
        unit_h = "simulated hour" if args.hours >= 4 else "quarter of the run"
        figures = {
            "rss": figure(last.get("rss_mb"), first.get("rss_mb"), 1.10, "lower", on="ratio", unit="MB",
                          what=f"RSS at the end of {args.hours:g} h with the window open",
                          baseline_is=f"RSS after the first {unit_h}"),
            "frame_median": figure(last.get("frame_median_ms"), first.get("frame_median_ms"), 1.5, "lower",
                                   on="ratio", unit="ms", what=f"median plot frame over the last {unit_h}",
                                   baseline_is=f"median over the first {unit_h}"),
            "journal_samples": figure(on_disk, out["target_samples"], 1.0, "higher", on="ratio", unit="samples",
                                      what=f"samples in the journal ({args.hours:g} h at 1 kHz)",
                                      baseline_is="samples the analyzer produced"),
            "exported_samples": figure(exp["exported_samples"], on_disk, 1.0, "higher", on="ratio", unit="samples",
                                       what="samples in the exported bundle", baseline_is="samples in the journal"),
            # Integrity (hashes, audit chain): the soak's session has no review of its own to pass.
            "bundle_verifies": figure(1 if exp["valid"] else 0, None, 1, "higher", unit="(1 = intact)",
                                      what="exported bundle verifies (hashes, audit chain)"),
        }
        print(f"{args.hours:g} simulated hours: {on_disk:,} samples on disk of {out['target_samples']:,}, "
              f"wall {out['wall_s']:.0f} s; RSS {first.get('rss_mb', 0):.0f} MB after hour 1, "
              f"{last.get('rss_mb', 0):.0f} MB at the end; export {exp['export_s']:.0f} s, "
              f"verify {exp['verify_s']:.0f} s, bundle integrity intact: {exp['valid']}; export peak memory "
              f"{exp['export_peak_anon_mb']:.0f} MB anonymous + {exp['export_peak_file_mb']:.0f} MB mapped file pages")
        if args.json:
            emit("soak", figures, hourly=hourly, export=exp)
        return 0 if all_met(figures) else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
