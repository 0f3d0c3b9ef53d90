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

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _pump(app, seconds: float, until=None) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.01)
    return until is None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path, help="directory for the PNG files")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--speed", type=float, default=10.0, help="the emulated boards' clock, x real time")
    ap.add_argument("--streaming-speed", type=float, default=50.0,
                    help="the emulated boards' clock for the 20-minute streaming run, x real time")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = Path(os.environ.setdefault("STATION_HOME", tempfile.mkdtemp(prefix="station-tiny-shots-")))

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
    _pump(app, 0.3)

    def save(name: str) -> None:
        _pump(app, 0.4)
        path = args.out / f"{name}.png"
        w.grab().save(str(path), "PNG", 0)
        print(path, path.stat().st_size)

    g.start()
    if not _pump(app, 300, until=lambda: len(g.windows) >= 2 and g.trial == 2 and g.trial_edges >= 1
                 or not g.running):
        raise SystemExit(f"the third trial did not start: {g.failure} {g.log_lines}")
    _pump(app, 0.5)  # a little of the open window
    save("tiny-run")
    if not _pump(app, 300, until=lambda: not g.running):
        raise SystemExit("the run did not finish")
    if g.failure:
        raise SystemExit(g.failure)
    save("tiny-result")

    g.emulation_faults = {"missing_edge_trial": 2}
    g.inferences_spin.setValue(850)  # no calibration: the emulated DUT's third 'infer' is trial 2
    g.start()
    if not _pump(app, 300, until=lambda: not g.running):
        raise SystemExit("the faulty run did not finish")
    if g.failure:
        raise SystemExit(g.failure)
    save("tiny-not-valid")

    g.emulation_faults = {}
    g.show_setup()
    g.use_streaming()
    g.monitor.setCurrentIndex(g.monitor.findData("joulescope"))  # its note: it sets no voltage
    save("tiny-setup-streaming")
    g.use_emulation(args.streaming_speed)
    g.start()

    def well_into_the_audio() -> bool:
        reading = g.meter.reading()
        return not g.running or (reading is not None and reading[0] >= 0.4 * (g.stream_length_s or 0))
    if not _pump(app, 300, until=well_into_the_audio):
        raise SystemExit(f"the streaming run did not get going: {g.failure} {g.log_lines}")
    save("tiny-streaming-run")
    if not _pump(app, 600, until=lambda: not g.running):
        raise SystemExit("the streaming run did not finish")
    if g.failure:
        raise SystemExit(g.failure)
    save("tiny-streaming-result")
    g.close_run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
