"""Grab the window in typical states, offscreen: ``python -m station.ui.screenshots docs/screenshots``.

Used to look at what the window shows (and to keep the documentation's pictures current).
The simulated analyzer starts its workload a little in the past so that the plot already
shows idle, warm-up and the steady inference phase.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from station.ui.shots import offscreen, parser, pump, save


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, 1400, 880)
    args = ap.parse_args(argv)
    offscreen("station-shots-")

    from PySide6.QtCore import QSettings

    from station.ui.app import create_window, make_application

    app = make_application()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(Path(os.environ["STATION_HOME"]) / "shots.ini"), QSettings.Format.IniFormat)
    w = create_window(settings=settings)  # the window as the program opens it, every menu included
    w.resize(args.width, args.height)
    w.show()
    pump(app, 0.3)

    def save_shot(name: str) -> None:
        save(app, w, args.out / f"{name}.png", settle_s=0.4)

    w.window_combo.setCurrentIndex(w.window_combo.findData(60.0))
    w.panel.select_driver("sim")
    req = w.panel.request()
    req.options["start_time"] = time.time() - 40.0  # the workload is 40 s in: warm-up and steady
    w.connect_instrument(req)
    pump(app, 20, until=lambda: w.link.state == "running")
    pump(app, 4.0)
    w.mark()
    pump(app, 1.5)
    save_shot("live-light")

    w.panel.form.set_value("voltage_range", 300.0)
    w.panel.form.set_value("current_range", 0.5)
    w.apply_settings(w.panel.form.config(), 300.0, 0.5)
    pump(app, 20, until=lambda: "overrange" in w.banners.active())
    pump(app, 2.5)
    save_shot("overrange-light")

    w.apply_settings(w.panel.form.config(), 300.0, 10.0)
    w.panel.form.set_value("current_range", 10.0)
    pump(app, 20, until=lambda: not w.link.pending)
    w.set_theme("dark")
    pump(app, 3.0)
    w.set_follow(False)
    x0, x1 = w.plot.visible_range()
    w.toggle_region(True)
    w.plot.set_region(x0 + 0.45 * (x1 - x0), x0 + 0.8 * (x1 - x0))
    pump(app, 1.0)
    save_shot("region-dark")

    # A recorded run, browsed like a live one, with the cursor readout.
    w.set_theme("light")
    w.toggle_region(False)
    run_dir = Path(os.environ["STATION_HOME"]) / "runs" / "run-demo"
    w.duration_spin.setValue(8)
    w.start_recording(run_dir)
    pump(app, 5, until=lambda: w.recorder.state == "recording")
    pump(app, 3.0)
    w.mark()
    pump(app, 30, until=lambda: w.recorder.state == "idle")
    w.open_run(run_dir)
    pump(app, 30, until=lambda: w.browse is not None)
    pump(app, 0.5)
    x0, x1 = w.plot.visible_range()
    w.toggle_region(True)
    w.plot.set_region(x0 + 0.2 * (x1 - x0), x0 + 0.6 * (x1 - x0))
    pump(app, 0.5)
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    view = w.plot.plot.viewport()
    QTest.mouseMove(view, QPoint(int(view.width() * 0.75), int(view.height() * 0.5)))
    save_shot("recorded-run-light")

    # Two analyzers at once with volts, amps and power factor on demand, and the system total.
    w.close_run()
    w.set_theme("light")
    w.toggle_region(False)
    w.window_combo.setCurrentIndex(w.window_combo.findData(30.0))
    w.panel.form.set_value("profile", "edge")
    w.panel.form.set_value("seed", 7)
    req2 = w.panel.request()
    req2.options["start_time"] = time.time() - 25.0
    inst = w.add_instrument(req2)
    pump(app, 20, until=lambda: inst in w.plot.sources)
    for name in ("v", "a", "pf"):
        w.set_trace(name, True)
    w.set_show_total(True)
    w.set_follow(True)
    # Two meters, the totals and three rows need more height than one meter: the window would
    # scroll its plot column at the default size, so this picture is taken a little larger.
    w.resize(args.width + 200, args.height + 220)
    pump(app, 4.0)
    save_shot("multi-trace-light")

    w.shutdown()
    w._close_ready = True
    w.close()

    # A results tree, and a fleet read from Prometheus with its Nodes dock, in a fresh window.
    from station.ui import results_screenshots

    results_screenshots.grab_all(app, args.out, settings, args.width, args.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
