"""Grab the guided measurement offscreen: ``python -m station.ui.guide_screenshots docs/screenshots``.

Drives the guide window on the simulated analyzer with a short LoadGen-like workload (the
station's stand-in ``station.demo.loadgen`` when it is there, else a workload that only sleeps,
judged by the lab rules) and saves ``guide-ranging.png`` and ``guide-testing.png`` (during the
runs, the workload running) and ``guide-result.png`` (after export). Used to look at what a
technician sees, and to keep the README's pictures current.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
import time

from station.ui.shots import offscreen, parser, pump, save


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its package is missing
        return False


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, 1280, 900)
    ap.add_argument("--workload-s", type=float, default=16.0, help="how long each run's workload lasts")
    args = ap.parse_args(argv)
    home = offscreen("station-guide-shots-")

    from station.procedure import Step
    from station.ui.app import make_application
    from station.ui.measure_menu import GuideWindow

    app = make_application()
    args.out.mkdir(parents=True, exist_ok=True)
    w = GuideWindow(home / "sessions" / "guide-demo")
    w.resize(args.width, args.height)
    w.show()
    g = w.guide
    # Shortened rules, so a picture takes seconds: the guide says so ("will not be compliant").
    g.rule_overrides = [f"min_testing_s={args.workload_s * 0.8:g}", "settle_s=2", "sample_interval_s=0.2"]
    python = shlex.quote(sys.executable)
    if _has_module("station.demo.loadgen"):
        g.rules.setCurrentText("mlperf-inference")
        g.workload.setText(f"{python} -m station.demo.loadgen {args.workload_s:g}")
    else:
        g.rules.setCurrentText("lab")
        g.rule_overrides += ["ranging_required=true", "fixed_ranges_required=true"]
        g.workload.setText(f"{python} -c \"import time; time.sleep({args.workload_s:g})\"")
    g.operator.setText("Ada")
    g.sut.setText("2x GPU server, 230 V supply")
    g.scenario.setCurrentText("Offline")
    g.select_driver("sim")
    g.options.setText("profile=datacenter seed=7")
    pump(app, 0.3)

    def save_shot(name: str) -> None:
        save(app, w, args.out / f"{name}.png", settle_s=0.3)

    def step(until: Step, shot: str | None = None) -> None:
        g.refresh()  # the button is enabled by the refresh after the last step
        g.primary.click()
        if shot is not None:
            # well into the workload: the plot shows settle and load, the checks have spoken
            if not pump(app, 120, until=lambda: g.workload_running and g.live_run is not None
                         and time.time() - g.live_run.workload_begin > args.workload_s * 0.6):
                raise SystemExit(f"the workload did not run: {g.proc.problem}")
            save_shot(shot)
        if not pump(app, 180, until=lambda: not g.busy and (g.proc.step == until or g.proc.problem)):
            raise SystemExit(f"step {until} did not come: {g.proc.problem} {g.problem.text()} {g.log_lines}")
        if g.proc.problem:
            raise SystemExit(g.proc.problem)

    step(Step.RANGING)
    step(Step.RANGE_SELECTION, "guide-ranging")
    step(Step.TESTING)
    step(Step.TESTING, "guide-testing")
    step(Step.REVIEW)
    step(Step.DONE)
    g.refresh()
    g.primary.click()
    if not pump(app, 180, until=lambda: g.export_result is not None):
        raise SystemExit("the export did not finish")
    g.refresh()
    save_shot("guide-result")
    g.close_procedure()
    pump(app, 60, until=lambda: g.closed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
