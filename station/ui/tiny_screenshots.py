"""Grab the MLPerf Tiny energy run offscreen: ``python -m station.ui.tiny_screenshots docs/screenshots``.

Runs the window's Tiny energy run on the emulated boards (their clock ``--speed`` times the wall
clock, so five 12 s windows take seconds) and saves ``tiny-run.png`` (mid-run: two windows
measured, the third one open), ``tiny-result.png`` (the median, the verdict, where the files went
and what ``station verify`` says of the bundle), ``tiny-not-valid.png`` (a run whose DUT raised one
timestamp edge too few in trial 2: the verdict with its reason), ``tiny-streaming-run.png`` (the
streaming-wakeword window open, its time and average power so far) and ``tiny-streaming-result.png``
(its average power in mW); ``tiny-setup-streaming.png`` is the setup page with the streaming mode
and a Joulescope chosen. The run pictures say EMULATED, as the window does.
"""

from __future__ import annotations

import sys

from station.ui.shots import offscreen, parser, pump, save


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, 1400, 900)
    ap.add_argument("--speed", type=float, default=10.0, help="the emulated boards' clock, x real time")
    ap.add_argument("--streaming-speed", type=float, default=50.0,
                    help="the emulated boards' clock for the 20-minute streaming run, x real time")
    args = ap.parse_args(argv)
    home = offscreen("station-tiny-shots-")

    from station.ui.app import make_application
    from station.ui.tiny_guide import TinyGuideWindow

    app = make_application()
    args.out.mkdir(parents=True, exist_ok=True)
    w = TinyGuideWindow(home / "tiny" / "tiny-demo")
    w.resize(args.width, args.height)
    w.show()
    g = w.guide
    g.use_emulation(args.speed)
    g.operator.setText("A. Tester")
    pump(app, 0.3)

    def save_shot(name: str) -> None:
        save(app, w, args.out / f"{name}.png", settle_s=0.4)

    g.start()
    if not pump(app, 300, until=lambda: len(g.windows) >= 2 and g.trial == 2 and g.trial_edges >= 1
                 or not g.running):
        raise SystemExit(f"the third trial did not start: {g.failure} {g.log_lines}")
    pump(app, 0.5)  # a little of the open window
    save_shot("tiny-run")
    if not pump(app, 300, until=lambda: not g.running):
        raise SystemExit("the run did not finish")
    if g.failure:
        raise SystemExit(g.failure)
    save_shot("tiny-result")

    g.emulation_faults = {"missing_edge_trial": 2}
    g.inferences_spin.setValue(850)  # no calibration: the emulated DUT's third 'infer' is trial 2
    g.start()
    if not pump(app, 300, until=lambda: not g.running):
        raise SystemExit("the faulty run did not finish")
    if g.failure:
        raise SystemExit(g.failure)
    save_shot("tiny-not-valid")

    g.emulation_faults = {}
    g.show_setup()
    g.use_streaming()
    g.monitor.setCurrentIndex(g.monitor.findData("joulescope"))  # its note: it sets no voltage
    save_shot("tiny-setup-streaming")
    g.use_emulation(args.streaming_speed)
    g.start()

    def well_into_the_audio() -> bool:
        reading = g.meter.reading()
        return not g.running or (reading is not None and reading[0] >= 0.4 * (g.stream_length_s or 0))
    if not pump(app, 300, until=well_into_the_audio):
        raise SystemExit(f"the streaming run did not get going: {g.failure} {g.log_lines}")
    save_shot("tiny-streaming-run")
    if not pump(app, 600, until=lambda: not g.running):
        raise SystemExit("the streaming run did not finish")
    if g.failure:
        raise SystemExit(g.failure)
    save_shot("tiny-streaming-result")
    g.close_run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
