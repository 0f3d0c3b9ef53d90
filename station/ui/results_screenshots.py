"""Grab the results tree and the fleet's Nodes dock offscreen (part of ``station.ui.screenshots``).

``results-tree-light.png``: the real published results of ``tests/data/published`` (a source
checkout only) opened as one tree. ``fleet-nodes-light.png``: the window on a fleet of eight
nodes behind a fake Prometheus (:mod:`instruments.fakes.prometheus`), one of which has stopped.
Run alone: ``python -m station.ui.results_screenshots docs/screenshots``.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

from station.ui.shots import offscreen, parser, pump, save

PUBLISHED = Path(__file__).resolve().parents[2] / "tests" / "data" / "published"






def grab_results_tree(app, window, out: Path, width: int = 1600, height: int = 560) -> Path | None:
    """The published fixtures as one results tree, sorted by round; None without tests/data (an install)."""
    zips = sorted(PUBLISHED.rglob("*.zip"))
    if not zips:
        return None
    from PySide6.QtCore import Qt

    from station.ui.results_tree import COL_ROUND, open_results_tree
    from station.verify import safe_extract

    tree = Path(tempfile.mkdtemp(prefix="station-shots-tree-")) / "inference_results"
    for z in zips:
        safe_extract(z, tree)
    tw = open_results_tree(window, tree)
    tw.resize(width, height)
    pump(app, 120, until=lambda: tw.view.finished)
    tw.view.table.sortByColumn(COL_ROUND, Qt.SortOrder.AscendingOrder)
    rows = tw.view.visible_rows()
    doubted = next((i for i, r in enumerate(rows) if r.category == "ACCEPTED OFFICIALLY"), 0)
    tw.view.table.selectRow(doubted)
    path = out / "results-tree-light.png"
    save(app, tw, path)
    tw.close()
    return path


def grab_fleet(app, window, out: Path, width: int = 1600, height: int = 880) -> Path:
    """The window reading eight nodes from Prometheus, the Nodes dock beside the total; node 6 has stopped.

    Taken wider than the other pictures: the instrument panel, the readout and plot, and the table
    side by side need it (a fleet is watched on a wide screen)."""
    from instruments.fakes.prometheus import FleetPrometheus

    def node(base: float, swing: float, period: float, phase: float):
        return lambda t: base + swing * math.sin(2 * math.pi * t / period + phase)

    fleet = FleetPrometheus({f"gpu-node-{k:02d}": node(2400 + 90 * k, 300 + 20 * k, 14 + k, k)
                             for k in range(1, 9)})
    try:
        window.resize(width, height)
        window.window_combo.setCurrentIndex(window.window_combo.findData(60.0))
        # through the instrument panel, as an operator sets it up (the panel then shows what is connected)
        panel = window.panel
        panel.select_driver("prometheus")
        panel.resource_combo.setEditText(fleet.url)
        for name, value in (("query", "node_power_watts"), ("update_interval_s", 0.5), ("stale_after_s", 1.0),
                            ("lookback_s", 10.0)):
            panel.form.set_value(name, value)
        window.connect_instrument(panel.request())
        pump(app, 20, until=lambda: window.link.state == "running")
        pump(app, 12)
        fleet.stop_node("gpu-node-06")
        dock = window.node_dock
        pump(app, 20, until=lambda: dock.tally is not None and any(r.stale for r in dock.tally.rows()))
        pump(app, 6)
        path = out / "fleet-nodes-light.png"
        save(app, window, path)
        window.disconnect_instrument()
        pump(app, 10, until=lambda: not window.link.connected and not window.link.pending)
        return path
    finally:
        fleet.close()


def grab_all(app, out: Path, settings, width: int = 1400, height: int = 880) -> None:
    """Both pictures, from a window of their own (as the program opens it)."""
    from station.ui.app import create_window

    w = create_window(settings=settings)
    w.resize(width, height)
    w.show()
    pump(app, 0.3)
    try:
        grab_results_tree(app, w, out)
        grab_fleet(app, w, out)
    finally:
        w.shutdown()
        w._close_ready = True
        w.close()


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, 1400, 880)
    args = ap.parse_args(argv)
    offscreen("station-shots-")

    from PySide6.QtCore import QSettings

    from station.ui.app import make_application

    app = make_application()
    args.out.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(Path(os.environ["STATION_HOME"]) / "shots.ini"), QSettings.Format.IniFormat)
    grab_all(app, args.out, settings, args.width, args.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
