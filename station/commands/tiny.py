"""``station tiny``: an MLPerf Tiny energy run, headless.

    station tiny --monitor lpm01a:PORT[,key=value...] --interface PORT [--dut-baud 9600]
                 --dataset DIR --out DIR [--inferences N] [--warmups W] [--voltage V] [--json]
    station tiny --demo --out DIR [--fault NAME] [--json]
    station tiny --mode streaming ... (the same, streaming wakeword: one trial, average power in mW)

``--demo`` runs the whole procedure on EMULATED boards (an emulated DUT + interface board and an
emulated LPM01A on pseudo-terminals, :mod:`station.tiny.demo`), in real time, and says so in its
summary and files; ``--fault`` arms one of the emulation's faults, to see how the station judges it.

The interface board (STM32H573I-DK or Arduino IO manager) on ``--interface`` passes commands to
the DUT at ``--dut-baud``; the LPM01A on ``--monitor`` supplies the DUT and measures it in energy
mode. Five input files from ``--dataset`` (sorted by name) are the five trials. ``--out`` gets the
MLCommons runner's files (``results.txt``, ``results.json``, ``log.txt``). Exit 0 when the result
is valid, 1 when it is not (the checks say why) or the run failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from station.commands.grammar import ExitCode, UsageError, positive_float
from station.tiny.demo import FAULTS

# Energy monitors that also see the DUT's timestamp edges. The N6705 logs energy but has no timestamp
# input, so it cannot pair windows with inferences and is not offered here.
MONITORS = ("lpm01a", "joulescope")
INTERFACE_BAUD = 115_200
# The host's clock for the run's deadlines and the DUT's timing. Emulated hardware with a faster
# clock (instruments.fakes.tiny_dut.ScaledClock) is tested by replacing it; real boards use this one.
clock: Callable[[], float] = time.monotonic


def add_parser(sub) -> None:
    p = sub.add_parser("tiny", help="run the MLPerf Tiny energy procedure (interface board + DUT + LPM01A)")
    p.add_argument("--monitor", metavar="lpm01a:PORT",
                   help="energy monitor as DRIVER:PORT[,key=value...], e.g. lpm01a:/dev/ttyACM0, "
                        "joulescope (the one connected), joulescope:SERIAL or jls:FILE.jls (a recording replayed)")
    p.add_argument("--interface", metavar="PORT", help="serial port of the interface board")
    p.add_argument("--dut-baud", type=int, default=9600, help="DUT link speed in energy mode (default 9600)")
    p.add_argument("--dataset", type=Path, metavar="DIR",
                   help="directory of the model's input files (the first five by name are the trials)")
    p.add_argument("--out", type=Path, metavar="DIR", help="directory for the result files")
    p.add_argument("--inferences", type=int, metavar="N",
                   help="timed inferences per window (default: measured so each window lasts >= 10 s)")
    p.add_argument("--warmups", type=int, default=1, metavar="W", help="warm-up inferences per trial (default 1)")
    p.add_argument("--voltage", type=positive_float, default=3.0, metavar="V",
                   help="DUT supply voltage the LPM01A sets (1.8 to 3.3 V, default 3.0)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--mode", choices=("single-stream", "streaming"), default="single-stream",
                   help="single-stream: five trials, median uJ/inference (default); streaming: the streaming "
                        "wakeword run, one trial as long as the wav file the interface board plays, average power "
                        "in mW (--dataset holds the runner's truth file, e.g. sww_long_test.json)")
    p.add_argument("--operator", default="", help="who runs the measurement (recorded in the station bundle; "
                   "without it the bundle's verdict says it is not compliant)")
    p.add_argument("--sut", default="", help="description of the system under test (default: the DUT's name)")
    p.add_argument("--demo", action="store_true",
                   help="run on emulated boards (no hardware; labelled as emulation in every output)")
    p.add_argument("--fault", choices=sorted(FAULTS), metavar="NAME",
                   help="with --demo: arm one emulated fault: " + "; ".join(f"{k} ({v})" for k, v in FAULTS.items()))
    # Tests only: the emulated boards' clock runs this many times faster than the wall clock.
    p.add_argument("--time-scale", type=positive_float, default=1.0, help=argparse.SUPPRESS)
    # Tests only: the emulated streaming-wakeword audio's length (the demo plays 20 minutes).
    p.add_argument("--streaming-s", type=positive_float, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def parse_monitor(text: str) -> tuple[str, str, dict[str, str]]:
    """``lpm01a:/dev/ttyACM0,key=value`` -> (driver, port, options). ``joulescope`` alone is the one
    connected (port ""); ``jls:FILE`` is a Joulescope recording replayed (driver joulescope, port
    ``jls:FILE``)."""
    head, *items = text.split(",")
    if head == "joulescope":
        driver, port = "joulescope", ""
    elif head.startswith("jls:") and len(head) > 4:
        driver, port = "joulescope", head
    else:
        driver, sep, port = head.partition(":")
        if not sep or not port:
            raise UsageError(f"--monitor {text!r}: give DRIVER:PORT, e.g. lpm01a:/dev/ttyACM0")
    if driver not in MONITORS:
        raise UsageError(f"--monitor {text!r}: the Tiny procedure drives {', '.join(MONITORS)} for now")
    options: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--monitor {text!r}: {item!r} must look like key=value")
        options[key.strip()] = value.strip()
    return driver, port, options


def run(args: argparse.Namespace) -> int:
    from instruments.base import ConfigurationError
    from instruments.lpm01a import BAUDRATE, ENERGY_MODE_OPTIONS, LPM01A
    from instruments.transports.serial import SerialTransport
    from station.tiny.procedure import TinyRunError, run_energy

    if args.demo:
        return run_demo_command(args)
    if args.fault or args.time_scale != 1.0 or args.streaming_s is not None:
        raise UsageError("--fault works with --demo only: real boards have their own faults")
    # Checked here rather than by argparse: '--demo' runs without boards.
    missing = [flag for flag, value in (("--monitor", args.monitor), ("--interface", args.interface),
                                        ("--dataset", args.dataset), ("--out", args.out)) if value is None]
    if missing:
        raise UsageError(f"give {', '.join(missing)} (see station tiny --help)")
    monitor_driver, port, extra = parse_monitor(args.monitor)
    if not args.dataset.is_dir():
        raise UsageError(f"--dataset {args.dataset}: not a directory")
    files = sorted(p for p in args.dataset.iterdir() if p.is_file() and not p.name.startswith("."))
    if args.mode == "streaming" and not any(p.suffix.lower() == ".json" for p in files):
        raise UsageError(f"--dataset {args.dataset}: the streaming mode needs the runner's truth file "
                         "(sww_long_test.json) in it")
    if not files:
        raise UsageError(f"--dataset {args.dataset}: holds no input files")
    try:
        if monitor_driver == "joulescope":
            monitor = joulescope_monitor(port, extra)
        else:
            monitor = LPM01A(SerialTransport(port, baudrate=BAUDRATE, timeout=2.0),
                             **{**ENERGY_MODE_OPTIONS, "target_voltage_v": args.voltage, **extra})
    except ConfigurationError as exc:
        raise UsageError(f"--monitor: {exc}") from None
    interface = SerialTransport(args.interface, baudrate=INTERFACE_BAUD, write_termination="%", timeout=2.0)
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    try:
        result = run_energy(monitor=monitor, interface=interface, dataset=files, out=args.out,
                            dut_baud=args.dut_baud, inferences=args.inferences, warmups=args.warmups,
                            clock=clock, progress=say, streaming=args.mode == "streaming",
                            operator=args.operator.strip(), sut=args.sut.strip())
    except TinyRunError as exc:
        print(f"station tiny: the run failed: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    except Exception as exc:  # a port that cannot be opened, a monitor that refuses energy mode
        print(f"station tiny: the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    return report(result, args)


def joulescope_monitor(port: str, options: dict[str, str]):
    """The Joulescope as the Tiny monitor: ``port`` is a serial number, ``jls:FILE`` or "" (the one
    connected). It measures the DUT's supply it is wired into (it does not set the voltage, as the
    LPM01A does) and takes the timestamp edges on its GPI input; options as ``station run -o``."""
    from instruments.base import ConfigurationError
    from instruments.joulescope import Joulescope
    from station.measurement.instruments import InstrumentSpec, SpecError, validated_options

    resource = port if port.startswith("jls:") else (f"joulescope:{port}" if port else "joulescope")
    try:
        converted = validated_options(InstrumentSpec("joulescope", resource, dict(options)))
        return Joulescope.from_resource(resource, **converted)
    except (SpecError, ConfigurationError) as exc:
        raise UsageError(f"--monitor: {exc}") from None


def run_demo_command(args: argparse.Namespace) -> int:
    """``--demo``: the procedure on emulated boards, into ``--out``."""
    from station.tiny.demo import run_demo
    from station.tiny.procedure import TinyRunError

    if args.out is None:
        raise UsageError("give --out DIR for the demo's result files")
    given = [flag for flag, value in (("--monitor", args.monitor), ("--interface", args.interface),
                                      ("--dataset", args.dataset), ("--inferences", args.inferences))
             if value is not None]
    if given:
        raise UsageError(f"--demo emulates its boards and inputs: leave out {', '.join(given)}")
    streaming = args.mode == "streaming"
    if streaming and args.fault:
        raise UsageError("--fault arms faults of the single-stream demo (five trials); leave it out with "
                         "--mode streaming")
    say = (lambda text: print(text, file=sys.stderr)) if args.json else print
    options = {"streaming_s": args.streaming_s} if args.streaming_s else {}
    try:
        result = run_demo(args.out, fault=args.fault, time_scale=args.time_scale, progress=say,
                          streaming=streaming, **options)
    except TinyRunError as exc:
        print(f"station tiny --demo (EMULATION): the run failed: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    except Exception as exc:  # an emulated port that cannot be opened
        print(f"station tiny --demo (EMULATION): the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ExitCode.FAILED
    return report(result, args)


def report(result, args: argparse.Namespace) -> int:
    """Print the summary (JSON or lines); the exit code says valid (0) or not (1)."""
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, sort_keys=True, default=str))
    else:
        if result.emulation:
            print(result.emulation)
        median, power = summary["median_uj_per_inference"], summary["average_power_mw"]
        verdict = 'VALID' if result.valid else 'NOT VALID'
        if args.mode == "streaming":
            print(f"{args.out}: {verdict}; average power {'-' if power is None else f'{power:.4f}'} mW over "
                  f"{sum(w['duration_s'] for w in summary['windows']):.1f} s of streaming")
        else:
            print(f"{args.out}: {verdict}; median {'-' if median is None else f'{median:.4f}'} uJ/inf over "
                  f"{len(summary['windows'])} windows of {result.inferences} inferences")
        for c in summary["checks"]:
            print(f"  [{c['status']:<4}] {c['name']}: {c['evidence']}")
        if result.bundle is not None:
            print(f"station bundle: {result.bundle} (station verify {result.bundle})")
        for note in result.notes:
            print(f"  note: {note}")
    return ExitCode.OK if result.valid else ExitCode.FAILED
