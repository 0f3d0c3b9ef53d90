"""The ``station`` command: the window by default, and headless subcommands.

    station [--demo]                       open the station window (--demo: simulated analyzer)
    station --smoke                        self-test (window offscreen, stream, record), exit 0 if all worked
    station --kiosk [--kiosk-config FILE]  unattended demo stand (station.kiosk)
    station run --instrument NAME ...      record a run headless and print its summary
    station recover [DIR] [--json]         restore an interrupted run (all of them without DIR)
    station instruments [--json]           list drivers and the resources that can be found

Exit codes: 0 done, 1 the run failed (instrument or disk), 2 bad arguments or settings,
130 stopped by the operator (Ctrl-C / SIGTERM; what was recorded is kept).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import station

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad arguments or settings: exit code 2 with this message."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 already; keep its message, drop the noise
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"station: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _range_value(text: str):
    if text.lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor 'auto'") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"range {text!r} must be a positive number or 'auto'")
    return value


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"driver option {text!r} must look like key=value")
    return key.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="station", description="Measurement station for the energy efficiency of ML systems.")
    p.add_argument("--version", action="version", version=f"station {station.__version__}")
    p.add_argument("--demo", action="store_true", help="open the window connected to the simulated analyzer")
    p.add_argument("--smoke", action="store_true", help="self-test: window offscreen on the simulated analyzer, "
                   "stream, record; exit 0 only if every step worked")
    p.add_argument("--kiosk", action="store_true", help="unattended demo stand (fullscreen, PIN to leave)")
    p.add_argument("--kiosk-config", type=Path, metavar="FILE", help="kiosk settings (JSON or TOML)")
    p.add_argument("--kiosk-window", action="store_true", help=argparse.SUPPRESS)  # the supervisor's child
    p.add_argument("--kiosk-demo", action="store_true", help="a kiosk demo stand: allow the built-in PIN")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    r = sub.add_parser("run", help="record a run headless and print its summary")
    r.add_argument("--instrument", default="sim", help="driver name (see 'station instruments'); default sim")
    r.add_argument("--resource", help="where the instrument is: VISA resource, tcp://host:port, serial port")
    r.add_argument("--duration", type=_positive_float, default=30.0, help="seconds to record (default 30)")
    r.add_argument("--out", type=Path, help="run directory to create (default: a new one under the station home)")
    rate = r.add_mutually_exclusive_group()
    rate.add_argument("--rate", type=_positive_float, help="samples per second (update interval = 1/rate)")
    rate.add_argument("--interval", type=_positive_float, help="update interval in seconds")
    r.add_argument("--profile", help="simulated workload profile (sim only)")
    r.add_argument("--seed", type=int, help="random seed of the simulated analyzer (sim only)")
    r.add_argument("--voltage-range", type=_range_value, default="auto", help="volts or 'auto' (default)")
    r.add_argument("--current-range", type=_range_value, default="auto", help="amps or 'auto' (default)")
    r.add_argument("--crest-factor", type=float, default=3.0, choices=(3.0, 6.0), help="3 (default) or 6")
    r.add_argument("--mode", choices=("rms", "dc"), default="rms", help="measurement mode (default rms)")
    r.add_argument("--option", "-o", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="driver option, repeatable")
    r.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    rc = sub.add_parser("recover", help="restore an interrupted run and print its summary")
    rc.add_argument("dir", type=Path, nargs="?", help="run directory (default: every interrupted run)")
    rc.add_argument("--json", action="store_true", help="print the summary as JSON")

    i = sub.add_parser("instruments", help="list drivers and discoverable resources")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.add_argument("--no-discover", action="store_true", help="list drivers only, do not scan for resources")
    i.add_argument("--identify", action="store_true", help="ask each VISA resource for *IDN? and recognise it")

    for module in _command_modules():
        module.add_parser(sub)
    return p


# Further subcommands live in their own modules under station/commands. Each module has
# ``add_parser(subparsers)`` (which sets ``func=run`` as a default on its parser) and
# ``run(args) -> int`` (exit status). Add a module by naming it here.
COMMAND_MODULES: tuple[str, ...] = (
    "export",
    "serve",
    "measure",
    "verify",
)


def _command_modules():
    import importlib

    return [importlib.import_module(f"station.commands.{name}") for name in COMMAND_MODULES]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "recover":
            return cmd_recover(args)
        if args.command == "instruments":
            return cmd_instruments(args)
        if getattr(args, "func", None) is not None:
            return args.func(args)
        if args.smoke:
            from station.smoke import run_smoke

            return run_smoke()
        if args.kiosk or args.kiosk_window:
            from station.kiosk import run_kiosk

            return run_kiosk(args.kiosk_config, window=args.kiosk_window, demo=args.kiosk_demo)
        return cmd_gui(args)
    except UsageError as exc:
        print(f"station: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


# -- run -----------------------------------------------------------------------------------------
def _recover_pending(quiet: bool) -> None:
    from station.core.recovery import recover_interrupted

    for s in recover_interrupted():
        if not quiet:
            if s.get("state") == "unrecoverable":
                print(f"station: could not recover {s['run_dir']}: {s['error']}", file=sys.stderr)
            else:
                print(f"station: recovered interrupted run {s['run_dir']} ({s['samples']} samples)",
                      file=sys.stderr)


def make_session(args) -> object:
    """Driver and session from the run arguments; UsageError for anything wrong in them."""
    from instruments import registry
    from instruments.base import Config, ConfigurationError
    from station.core.acquisition import InstrumentSession

    try:
        cls = registry.driver_class(args.instrument)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    desc = cls.description
    options: dict = dict(args.option)
    setting_names = {s.name for s in desc.settings}
    for flag, name, value in (("--profile", "profile", args.profile), ("--seed", "seed", args.seed)):
        if value is None:
            continue
        if name not in setting_names:
            raise UsageError(f"{flag} applies to the simulated analyzer, not to {args.instrument}")
        options[name] = value
    for key in list(options):
        if key in setting_names:
            try:
                options[key] = desc.setting(key).validate(options[key])
            except ConfigurationError as exc:
                raise UsageError(str(exc)) from None
    if "none" not in desc.transports and not args.resource:
        raise UsageError(f"{args.instrument} needs --resource ({registry.resource_help(cls)})")
    interval = None
    if args.rate:
        interval = 1.0 / args.rate
    elif args.interval:
        interval = args.interval
    if interval is None:
        try:
            interval = float(desc.setting("update_interval_s").default)
        except KeyError:
            interval = max(desc.fastest_interval_s, min(1.0, desc.slowest_interval_s))
    if not desc.fastest_interval_s * (1 - 1e-9) <= interval <= desc.slowest_interval_s * (1 + 1e-9):
        raise UsageError(
            f"{args.instrument} updates every {desc.fastest_interval_s:g} s to {desc.slowest_interval_s:g} s; "
            f"{interval:g} s is outside that"
        )
    if interval > args.duration:
        raise UsageError(f"the duration ({args.duration:g} s) is shorter than one update interval ({interval:g} s)")
    try:
        driver = registry.create(args.instrument, args.resource, **options)
    except (ConfigurationError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    config = Config(update_interval_s=interval, crest_factor=args.crest_factor, mode=args.mode)
    return InstrumentSession("inst0", driver, config, args.voltage_range, args.current_range)


def connect_or_exit_code(session, instrument: str) -> int | None:
    """Connect ``session``; None when connected, else the exit code after saying what went wrong."""
    from instruments.base import ConfigurationError, InstrumentError

    try:
        session.connect()
    except ConfigurationError as exc:
        print(f"station: error: {exc}", file=sys.stderr)
        session.driver.close()
        return EXIT_USAGE
    except (InstrumentError, OSError) as exc:
        print(f"station: cannot connect to {instrument}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return None


def _default_out() -> Path:
    from station.core.run_index import station_home

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return station_home() / "runs" / f"run-{stamp}"


def cmd_run(args) -> int:
    from station.core.journal import HEADER, JournalError
    from station.core.recording import Recording
    from station.core.run_index import RunIndex
    from station.core.summary import format_summary

    out = args.out or _default_out()
    if (out / HEADER).exists():
        raise UsageError(f"{out} already holds a recorded run; choose another --out (nothing was overwritten)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")
    session = make_session(args)
    _recover_pending(args.json)
    failed = connect_or_exit_code(session, args.instrument)
    if failed is not None:
        return failed
    settings = {
        "command": "run",
        "argv": sys.argv[1:],
        "duration_s": args.duration,
        "instrument": args.instrument,
        "resource": args.resource,
    }
    try:
        recording = Recording(out, [session], settings=settings, duration_s=args.duration, index=RunIndex())
    except (JournalError, ValueError) as exc:
        session.close()
        raise UsageError(str(exc)) from None

    stop = threading.Event()

    def _on_signal(signum, frame):
        stop.set()

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    state = "complete"
    try:
        recording.start()
        session.start()
        progress = sys.stderr.isatty() and not args.json
        last_print = time.monotonic()
        while not recording.wait(timeout=0.5, should_stop=stop.is_set):
            if stop.is_set():
                state = "stopped"
                break
            if session.state == "failed":
                state = "failed"
                break
            if progress and time.monotonic() - last_print >= 2.0:
                snap = recording.monitors[session.inst_id].snapshot()
                avg = snap["avg_w"]
                print(f"  {snap['duration_s']:8.1f} s  {snap['samples']:>10d} samples  "
                      f"avg {avg if avg is not None else float('nan'):.4g} W", file=sys.stderr)
                last_print = time.monotonic()
        if recording.error:
            state = "failed"
    finally:
        session.stop()
        summary = recording.finish(state)
        try:
            session.close()
        except Exception:
            pass
        for s, h in old.items():
            signal.signal(s, h)
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    else:
        print(format_summary(summary))
    if state == "failed":
        print(f"station: the run failed: {recording.error or session.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_INTERRUPTED if state == "stopped" else EXIT_OK


# -- recover ---------------------------------------------------------------------------------------
def cmd_recover(args) -> int:
    from station.core.journal import JournalError
    from station.core.recovery import recover, recover_interrupted
    from station.core.summary import format_summary

    if args.dir is None:
        summaries = recover_interrupted()
        if args.json:
            print(json.dumps(summaries, sort_keys=True))
        elif not summaries:
            print("no interrupted runs")
        for s in summaries if not args.json else []:
            print(format_summary(s) if s.get("state") != "unrecoverable" else f"{s['run_dir']}: {s['error']}")
        return EXIT_OK
    if not args.dir.is_dir():
        raise UsageError(f"{args.dir} is not a directory")
    try:
        summary = recover(args.dir)
    except JournalError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(summary, sort_keys=True) if args.json else format_summary(summary))
    return EXIT_OK


# -- instruments -----------------------------------------------------------------------------------
def cmd_instruments(args) -> int:
    from instruments import registry

    drivers = []
    classes = registry.available()
    for name, cls in sorted(classes.items()):
        d = cls.description
        drivers.append({
            "name": name,
            "vendor": d.vendor,
            "models": list(d.models),
            "channels": d.channels,
            "transports": list(d.transports),
            "fastest_interval_s": d.fastest_interval_s,
            "resource_forms": list(cls.resource_forms),
            "summary": d.summary,
        })
    result: dict = {"drivers": drivers, "load_errors": registry.load_errors(), "resources": []}
    if not args.no_discover:
        result["discovery_errors"] = []
        result["resources"] = _discover(args.identify, result["discovery_errors"])
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return EXIT_OK
    print("Drivers:")
    for d in drivers:
        print(f"  {d['name']:<10} {d['vendor']}: {', '.join(d['models'])}  "
              f"({'/'.join(d['transports'])}, fastest {d['fastest_interval_s']:g} s)")
        print(f"  {'':<10} resource: {registry.resource_help(classes[d['name']])}")
    for name, err in result["load_errors"].items():
        print(f"  {name:<10} NOT LOADED: {err}")
    if not args.no_discover:
        print("Resources:")
        if not result["resources"]:
            print("  none found (no VISA instruments or serial ports)")
        for r in result["resources"]:
            extra = ""
            if r.get("recognised"):
                rec = r["recognised"]
                extra = f"  -> {rec['driver']} {rec['model']} serial {rec.get('serial', '')} fw {rec.get('firmware', '')}"
            elif r.get("idn"):
                extra = f"  ({r['idn']})"
            print(f"  {r['resource']:<40} {r.get('kind', '')} {r.get('description', '')}{extra}")
        for err in result.get("discovery_errors", []):
            print(f"  ({err})")
    return EXIT_OK


def _discover(identify: bool, problems: list[str]) -> list[dict]:
    try:
        from instruments import discovery
    except ImportError:
        return []
    found = discovery.discover(problems=problems)
    if identify:
        try:
            from instruments.scpi import recognise
        except ImportError:
            recognise = None
        for r in found:
            if r.get("kind") != "visa" or r["resource"].startswith("ASRL"):
                continue
            reply = discovery.identify_visa(r["resource"])
            if isinstance(reply, dict):
                r.update(reply)
            else:
                r["idn"] = reply
            idn = r.get("idn") if isinstance(r.get("idn"), str) else None
            if recognise and idn:
                match = recognise(idn)
                if match:
                    parts = [p.strip() for p in idn.split(",")]
                    r["recognised"] = {"driver": match[0], "model": match[1],
                                       "serial": parts[2] if len(parts) > 2 else "",
                                       "firmware": parts[3] if len(parts) > 3 else ""}
    return found


# -- GUI -------------------------------------------------------------------------------------------
def cmd_gui(args) -> int:
    _recover_pending(False)
    try:
        from station.ui.app import run_app
    except ImportError as exc:
        print(f"station: the window cannot start ({exc}); headless commands still work "
              "(station run, recover, instruments)", file=sys.stderr)
        return EXIT_FAILED
    return run_app(demo=args.demo)


if __name__ == "__main__":
    sys.exit(main())
