"""Grab the fleet kiosk offscreen: ``python -m station.ui.kiosk_screenshots docs/screenshots``.

``kiosk-fleet.png``: a fleet kiosk reading six nodes from a fake Prometheus
(:class:`instruments.fakes.prometheus.FleetPrometheus`), one of which stops reporting halfway
through the cycle, shown on its result card with the node table beside the total power.
"""

from __future__ import annotations

import math
import sys
import tempfile

from station.ui.shots import offscreen, parser, pump, save


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, 1600, 900)
    ap.add_argument("--seconds", type=float, default=16.0, help="length of the measured cycle")
    args = ap.parse_args(argv)
    offscreen(None)

    from instruments.fakes.prometheus import FleetPrometheus
    from station.kiosk.config import parse_config
    from station.ui.app import make_application
    from station.ui.kiosk_window import KioskWindow

    def gpu_node(base: float, phase: float):
        return lambda t: base + 0.18 * base * math.sin(2 * math.pi * (t + phase) / 9.0)

    fleet = FleetPrometheus({f"node{k:02d}": gpu_node(5200.0 + 350.0 * k, 1.3 * k) for k in range(1, 7)},
                            scrape_s=0.5)
    app = make_application(["station-kiosk"])
    config = parse_config({"pin": "8642", "fullscreen": False, "testing_s": args.seconds, "result_s": 600,
                           "data_dir": tempfile.mkdtemp(prefix="kiosk-shots-"),
                           "instrument": {"driver": "prometheus", "resource": fleet.url,
                                          "options": {"query": "node_power_watts", "lookback_s": 10}}}, None)
    window = KioskWindow(config)
    window.resize(args.width, args.height)
    window.show()
    window.loop.max_cycles = 1
    window.loop.start()
    try:
        pump(app, 30, until=lambda: window.loop.status().phase == "measuring")
        pump(app, args.seconds / 2)
        fleet.stop_node("node04")
        pump(app, args.seconds + 20, until=lambda: window.loop.status().phase == "result")
        args.out.mkdir(parents=True, exist_ok=True)
        save(app, window, args.out / "kiosk-fleet.png", settle_s=1.0)
    finally:
        window.leave()
        fleet.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
