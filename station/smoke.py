"""``station --smoke``: a self-test of an installed or frozen station, step by step.

It opens the real window offscreen on the simulated analyzer, streams for a few seconds,
checks that samples arrived and the plot drew them, records a short run into a temporary
directory and reads its journal back. Each step prints one line (ok / FAIL, seconds, what it
saw); the first failure stops the test. Exit status 0 only when every step passed, 1 otherwise.

Everything lands in a temporary station home (settings, runs), removed at the end, so the
test never reads or writes the user's own files.

Adding a step: write ``def step_x(ctx: SmokeContext) -> str`` that raises :class:`SmokeFailure`
with a sentence for the operator when something is wrong and returns what it saw, and put it
into :data:`STEPS` in its place. After the window steps, a short guided session (ranging,
range selection, testing, review with a shortened lab rule set) is exported as a signed bundle
and checked with ``station verify``.

This module imports no Qt itself: it drives the window through ``station.ui``'s own objects.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STREAM_S = 3.0  # how long the stream is watched
RECORD_S = 2.0  # length of the recorded run
WAIT_S = 60.0  # bound on any one wait: a loaded machine is slow, a broken one never gets there
PROFILES = ("tiny", "edge", "datacenter", "training")


class SmokeFailure(Exception):
    """A step saw something wrong; the message says what."""


@dataclass
class SmokeContext:
    home: Path
    app: Any = None
    window: Any = None
    run_dir: Path | None = None
    notes: dict = field(default_factory=dict)

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        """Run the Qt event loop until ``condition()`` holds; SmokeFailure naming ``what`` if it never does."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SmokeFailure(f"{what} did not happen within {timeout:g} s")
            self.pump(0.02)

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            if self.app is not None:
                self.app.processEvents()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.01, left))


# -- steps ------------------------------------------------------------------------------------------
def step_resources(ctx: SmokeContext) -> str:
    from instruments.sim import load_profile, profile_names

    names = profile_names()
    missing = [p for p in PROFILES if p not in names]
    if missing:
        raise SmokeFailure(f"workload profiles missing from the resources: {', '.join(missing)} "
                           f"(found: {', '.join(names) or 'none'})")
    for p in names:
        load_profile(p)
    return f"{len(names)} workload profiles ({', '.join(names)})"


def step_drivers(ctx: SmokeContext) -> str:
    from instruments import registry

    drivers = registry.available()
    missing = [n for n in registry.BUILTIN if n not in drivers]
    if missing:
        errors = registry.load_errors()
        raise SmokeFailure("built-in drivers did not load: "
                           + "; ".join(f"{n}: {errors.get(n, 'not found')}" for n in missing))
    import pyvisa_py  # noqa: F401  (the VISA backend the SCPI drivers use by default)
    import serial  # noqa: F401

    return f"{len(drivers)} drivers ({', '.join(sorted(drivers))}), pyvisa-py and pyserial present"


def step_window(ctx: SmokeContext) -> str:
    from station.ui.app import create_window, make_application

    ctx.app = make_application(["station"])
    ctx.window = create_window(demo=True)
    ctx.window.resize(1280, 800)
    ctx.window.show()
    ctx.wait_until(lambda: ctx.window.isVisible(), "showing the window")
    return f"window open on the {ctx.app.platformName()} platform"


def step_connect(ctx: SmokeContext) -> str:
    w = ctx.window
    ctx.wait_until(lambda: w.link.state == "running" or (not w.link.pending and not w.link.connected),
                   "connecting the simulated analyzer")
    if w.link.state != "running":
        raise SmokeFailure(f"the simulated analyzer did not connect (state {w.link.state}): "
                           f"{w.panel.message.text()}")
    ident = w.link.session.identity
    return f"{ident.vendor} {ident.model} serial {ident.serial}, every {w.link.session.interval_s:g} s"


def step_stream(ctx: SmokeContext) -> str:
    w = ctx.window
    ctx.wait_until(lambda: w.link.store is not None and w.link.store.total_samples > 0, "the first samples")
    store = w.link.store
    n0, t0 = store.total_samples, time.monotonic()
    frames0 = w.plot.frames
    ctx.pump(STREAM_S)
    n1, elapsed = store.total_samples, time.monotonic() - t0
    interval = w.link.session.interval_s
    expected = elapsed / interval
    if n1 - n0 < expected / 3:
        raise SmokeFailure(f"only {n1 - n0} samples arrived in {elapsed:.1f} s (about {expected:.0f} expected)")
    ctx.notes["frames"] = (frames0, w.plot.frames)
    r = w.readings
    if r is None or r.w is None:
        raise SmokeFailure("the readout shows no power reading")
    return f"{n1 - n0} samples in {elapsed:.1f} s ({(n1 - n0) / elapsed:.0f}/s), reading {r.w:.4g} W"


def step_plot(ctx: SmokeContext) -> str:
    w = ctx.window
    frames0, frames1 = ctx.notes["frames"]
    if frames1 <= frames0:
        raise SmokeFailure(f"the plot did not redraw while data streamed ({frames1 - frames0} frames)")
    x, y = w.plot.mean.getData()
    if x is None or len(x) == 0:
        raise SmokeFailure("the plot's power line holds no points")
    image = w.plot.grab().toImage()
    width, height = image.width(), image.height()
    colors = {image.pixel(int(width * i / 48), int(height * j / 32)) for i in range(48) for j in range(32)}
    if len(colors) < 3:
        raise SmokeFailure(f"the plot looks blank ({len(colors)} colours on a {width}x{height} grab)")
    return f"{frames1 - frames0} frames while streaming, {len(x)} points on the power line, " \
           f"{len(colors)} colours in a grab"


def step_record(ctx: SmokeContext) -> str:
    w = ctx.window
    ctx.run_dir = ctx.home / "runs" / "smoke-run"
    if not w.start_recording(ctx.run_dir, duration_s=RECORD_S):
        raise SmokeFailure("the window refused to start a recording")
    ctx.wait_until(lambda: w.recorder.state == "recording" or (ctx.run_dir / "summary.json").exists(),
                   "starting the recording")
    ctx.wait_until(lambda: w.recorder.state == "idle" and (ctx.run_dir / "summary.json").exists(),
                   f"finishing the {RECORD_S:g} s recording")
    return f"recorded {RECORD_S:g} s into {ctx.run_dir.name}"


def step_journal(ctx: SmokeContext) -> str:
    import numpy as np

    from station.core.journal import JournalReader
    from station.core.samples import good_mask

    reader = JournalReader(ctx.run_dir)
    summary = reader.summary_file()
    if summary is None or summary.get("state") != "complete":
        raise SmokeFailure(f"the run's summary says {summary and summary.get('state')!r}, not 'complete'")
    records = reader.samples()
    interval = ctx.window.link.session.interval_s
    if len(records) == 0:
        raise SmokeFailure("the journal holds no samples")
    if summary["samples"] != len(records):
        raise SmokeFailure(f"the summary counts {summary['samples']} samples, the journal holds {len(records)}")
    if np.any(np.diff(records["t"]) <= 0):
        raise SmokeFailure("sample times in the journal do not increase")
    span = float(records["t"][-1] - records["t"][0]) + interval
    if abs(span - RECORD_S) > max(2 * interval, 0.05 * RECORD_S):
        raise SmokeFailure(f"the journal covers {span:.3f} s, not the {RECORD_S:g} s asked for")
    kinds = {e.get("kind") for e in reader.events()}
    for needed in ("recording_started", "recording_finished"):
        if needed not in kinds:
            raise SmokeFailure(f"the journal's events lack {needed}")
    good = records[good_mask(records)]
    avg = float(np.mean(good["w"])) if len(good) else float("nan")
    return f"{len(records)} samples over {span:.2f} s, mean {avg:.4g} W, summary complete"


def step_close(ctx: SmokeContext) -> str:
    w = ctx.window
    w.shutdown()
    if w.link.connected:
        raise SmokeFailure("the instrument was still connected after shutting the window down")
    w._close_ready = True  # shutdown() finished the work closeEvent would wait for
    w.close()
    ctx.pump(0.1)
    ctx.window = None
    return "instrument released, window closed"


SMOKE_RULES = ["ranging_required=true", "fixed_ranges_required=true", "settle_s=0.2", "sample_interval_s=0.01"]


def step_procedure(ctx: SmokeContext) -> str:
    """A short guided session: ranging on auto ranges, ranges chosen, testing on fixed ranges, review."""
    from station import rules
    from station.procedure import InstrumentSpec, Procedure, SetupInfo, Step

    session = ctx.home / "sessions" / "smoke-session"
    proc = Procedure(session)
    ctx.notes["session"] = session

    def act(what: str, action, run_s: float | None = None) -> None:
        action()
        if run_s is not None:  # no workload command: the operator marks its begin and end
            ctx.wait_until(lambda: proc._recording is not None, f"{what} to record")
            ctx.pump(0.3)
            proc.mark("begin")
            ctx.pump(run_s)
            proc.mark("end")
            ctx.pump(0.3)
            proc.end_run()
        ctx.wait_until(lambda: not proc.busy, what)
        if proc.problem:
            raise SmokeFailure(f"{what}: {proc.problem}")

    try:
        info = SetupInfo("smoke test", "simulated analyzer", "smoke", "Offline",
                         rules.load("lab", SMOKE_RULES), [InstrumentSpec("sim", options={"seed": 1})])
        act("setup", lambda: proc.start_setup(info))
        if proc.step != Step.RANGING:
            raise SmokeFailure(f"after setup the procedure is at {proc.step}, not ranging")
        act("the ranging run", proc.start_ranging, 1.0)
        act("range selection", proc.select_ranges)
        act("the testing run", proc.start_testing, 1.5)
        act("the review", proc.start_review)
        review = proc.review or {}
        proc.finish()
    finally:
        proc.close()
    if not (session / "ranging" / "summary.json").is_file() or not (session / "testing_1" / "summary.json").is_file():
        raise SmokeFailure("the session lacks its ranging or testing run")
    sel = next(iter(proc.selection.values()), {})
    metric = review.get("metric") or {}
    return (f"ranging, ranges {sel.get('voltage')} V / {sel.get('current')} A, testing, review "
            f"{'valid' if review.get('valid') else 'NOT valid'}, metric {metric.get('value', 0):.4g} "
            f"{metric.get('unit', '')}")


def step_export(ctx: SmokeContext) -> str:
    from station.measurement.export import ExportOptions, export_bundle

    session = ctx.notes.get("session")
    if session is None:
        raise SmokeFailure("there is no session to export")
    res = export_bundle(session, ctx.home / "bundles" / "smoke", ExportOptions(sign=True))
    ctx.notes["bundle"] = res.zip_path
    for rel in ("report.pdf", "report.html", "run_1/spl.txt", "audit.jsonl", "samples/testing_1"):
        if not (res.directory / rel).exists():
            raise SmokeFailure(f"the bundle lacks {rel}")
    return f"{len(res.manifest['files'])} files, zip {res.zip_path.stat().st_size / 1e3:.0f} kB, signed"


def step_verify(ctx: SmokeContext) -> str:
    import io
    from contextlib import redirect_stdout

    from station.cli import main as station_main

    bundle = ctx.notes.get("bundle")
    if bundle is None:
        raise SmokeFailure("there is no bundle to verify")
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = station_main(["verify", str(bundle), "--json"])
    import json

    result = json.loads(buf.getvalue().strip().splitlines()[-1])
    if code != 0 or not result.get("valid"):
        bad = [c["name"] for c in result.get("checks", []) if c.get("status") == "fail"]
        raise SmokeFailure(f"station verify says the bundle is not valid (exit {code}): {', '.join(bad)}")
    return f"station verify: valid, {len(result['checks'])} checks"


Step = tuple[str, Callable[[SmokeContext], str]]
STEPS: list[Step] = [
    ("resources", step_resources),
    ("drivers", step_drivers),
    ("window", step_window),
    ("connect", step_connect),
    ("stream", step_stream),
    ("plot", step_plot),
    ("record", step_record),
    ("journal", step_journal),
    ("close", step_close),
    ("procedure", step_procedure),
    ("export", step_export),
    ("verify", step_verify),
]


def run_smoke(out=None, steps: list[Step] | None = None) -> int:
    """Run the steps, print one line each to ``out`` (stdout); 0 if all passed, 1 otherwise."""
    out = out or sys.stdout
    steps = STEPS if steps is None else steps
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(tempfile.mkdtemp(prefix="station-smoke-"))
    previous_home = os.environ.get("STATION_HOME")
    os.environ["STATION_HOME"] = str(home)
    ctx = SmokeContext(home=home)
    frozen = " (frozen)" if getattr(sys, "frozen", False) else ""
    import station

    print(f"station {station.__version__} smoke test{frozen}", file=out, flush=True)
    failed: str | None = None
    try:
        for name, fn in steps:
            if failed is not None:
                print(f"  --    {name:<10}        not run", file=out, flush=True)
                continue
            t0 = time.monotonic()
            try:
                detail = fn(ctx)
                status = "ok"
            except SmokeFailure as exc:
                detail, status = str(exc), "FAIL"
            except Exception as exc:  # anything unexpected is a failure of this step, with its type
                detail, status = f"{type(exc).__name__}: {exc}", "FAIL"
            if status == "FAIL":
                failed = name
            print(f"  {status:<5} {name:<10} {time.monotonic() - t0:5.1f} s  {detail}", file=out, flush=True)
    finally:
        if ctx.window is not None:
            try:
                ctx.window.shutdown(5.0)
                ctx.window._close_ready = True
                ctx.window.close()
            except Exception:
                pass
        if previous_home is None:
            os.environ.pop("STATION_HOME", None)
        else:
            os.environ["STATION_HOME"] = previous_home
        shutil.rmtree(home, ignore_errors=True)
    if failed is None:
        print(f"smoke test passed ({len(steps)} steps)", file=out, flush=True)
        return 0
    print(f"smoke test FAILED at step {failed!r}", file=out, flush=True)
    return 1
