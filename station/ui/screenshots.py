"""Grab the window in typical states, offscreen: ``python -m station.ui.screenshots docs/screenshots``.

Used to look at what the window shows (and to keep the documentation's pictures current).
The simulated analyzer starts its workload a little in the past so that the plot already
shows idle, warm-up and the steady inference phase.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _pump(app, seconds: float, until=None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        if until is not None and until():
            return
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path, help="directory for the PNG files")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=880)
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("STATION_HOME", tempfile.mkdtemp(prefix="station-shots-"))

    from PySide6.QtCore import QSettings

    from station.ui.app import create_window, make_application

    app = make_application()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(Path(os.environ["STATION_HOME"]) / "shots.ini"), QSettings.Format.IniFormat)
    w = create_window(settings=settings)  # the window as the program opens it, every menu included
    w.resize(args.width, args.height)
    w.show()
    _pump(app, 0.3)

    def save(name: str) -> None:
        _pump(app, 0.4)
        path = args.out / f"{name}.png"
        w.grab().save(str(path), "PNG", 0)  # 0: strongest compression
        print(path, path.stat().st_size)

    w.window_combo.setCurrentIndex(w.window_combo.findData(60.0))
    w.panel.select_driver("sim")
    req = w.panel.request()
    req.options["start_time"] = time.time() - 40.0  # the workload is 40 s in: warm-up and steady
    w.connect_instrument(req)
    _pump(app, 20, until=lambda: w.link.state == "running")
    _pump(app, 4.0)
    w.mark()
    _pump(app, 1.5)
    save("live-light")

    w.panel.form.set_value("voltage_range", 300.0)
    w.panel.form.set_value("current_range", 0.5)
    w.apply_settings(w.panel.form.config(), 300.0, 0.5)
    _pump(app, 20, until=lambda: "overrange" in w.banners.active())
    _pump(app, 2.5)
    save("overrange-light")

    w.apply_settings(w.panel.form.config(), 300.0, 10.0)
    w.panel.form.set_value("current_range", 10.0)
    _pump(app, 20, until=lambda: not w.link.pending)
    w.set_theme("dark")
    _pump(app, 3.0)
    w.set_follow(False)
    x0, x1 = w.plot.visible_range()
    w.toggle_region(True)
    w.plot.set_region(x0 + 0.45 * (x1 - x0), x0 + 0.8 * (x1 - x0))
    _pump(app, 1.0)
    save("region-dark")

    # A recorded run, browsed like a live one, with the cursor readout.
    w.set_theme("light")
    w.toggle_region(False)
    run_dir = Path(os.environ["STATION_HOME"]) / "runs" / "run-demo"
    w.duration_spin.setValue(8)
    w.start_recording(run_dir)
    _pump(app, 5, until=lambda: w.recorder.state == "recording")
    _pump(app, 3.0)
    w.mark()
    _pump(app, 30, until=lambda: w.recorder.state == "idle")
    w.open_run(run_dir)
    _pump(app, 30, until=lambda: w.browse is not None)
    _pump(app, 0.5)
    x0, x1 = w.plot.visible_range()
    w.toggle_region(True)
    w.plot.set_region(x0 + 0.2 * (x1 - x0), x0 + 0.6 * (x1 - x0))
    _pump(app, 0.5)
    from PySide6.QtCore import QPoint
    from PySide6.QtTest import QTest

    view = w.plot.plot.viewport()
    QTest.mouseMove(view, QPoint(int(view.width() * 0.75), int(view.height() * 0.5)))
    save("recorded-run-light")

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
    _pump(app, 20, until=lambda: inst in w.plot.sources)
    for name in ("v", "a", "pf"):
        w.set_trace(name, True)
    w.set_show_total(True)
    w.set_follow(True)
    # Two meters, the totals and three rows need more height than one meter: the window would
    # scroll its plot column at the default size, so this picture is taken a little larger.
    w.resize(args.width + 200, args.height + 220)
    _pump(app, 4.0)
    save("multi-trace-light")

    w.shutdown()
    w._close_ready = True
    w.close()

    # A results tree, and a fleet read from Prometheus with its Nodes dock, in a fresh window.
    from station.ui import results_screenshots

    results_screenshots.grab_all(app, args.out, settings, args.width, args.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
