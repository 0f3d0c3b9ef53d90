"""Kiosk settings: a JSON or TOML file, checked completely before anything starts.

Every key is optional; a wrong one stops the kiosk at start with ``<file>: <key>: <what is
wrong>`` (exit 2). Example (TOML)::

    pin = "2468"                       # the only way out: 4 to 12 digits on the PIN pad; the
                                       # built-in 2468 is refused unless demo = true
    demo = false                       # true: a demo stand where the built-in PIN is good enough
    profiles = ["tiny", "edge", "datacenter", "training"]   # or tables, see PROFILE_KEYS
    ranging_s = "cycle"                # seconds, or "cycle": one workload cycle of the profile
    testing_s = "cycle"                # at most as long as ranging (ranging must see the peak)
    result_s = 20                      # how long the result stays on screen
    compare_s = 15                     # then the comparison board of all profiles (0: none)
    rate_hz = 50                       # samples per second of the simulated analyzer
    realtime = true                    # false: as fast as the machine goes (soak tests)
    screen_timeout_s = 45              # an untouched PIN pad closes after this long
    data_dir = "kiosk-data"            # relative to this file; default <station home>/kiosk
    max_runs = 8                       # demo cycles kept on disk; older ones are deleted
    fullscreen = true
    [instrument]                       # the analyzer, with the command line's keys (optional)
    driver = "sim"                     # a driver that plays workload profiles
    options = { channels = 1 }         # driver options, as -o key=value; not the ones the kiosk sets
    [strings]                          # any text on screen, see STRINGS
    title = "Wie viel Energie braucht KI?"

    [[profiles]]                       # a profile as a table instead of a name
    name = "edge"
    title = "Edge box"
    throughput_per_s = 2000.0          # the figure the efficiency numbers are computed from
    work = "images"

A **fleet kiosk** shows a fleet's own telemetry instead of a simulated analyzer: its
``[instrument]`` names a source without ranges or workload profiles (the prometheus driver).
Each cycle then measures the fleet as it is for ``testing_s`` seconds (default 60): no ranging,
no profiles (giving ``profiles`` or ``ranging_s`` is an error), ``rate_hz`` is the record rate
(default 1), and the result card says it is fleet telemetry, not an MLPerf analyzer measurement::

    pin = "8642"
    testing_s = 120
    [instrument]
    driver = "prometheus"
    resource = "http://127.0.0.1:9090"
    options = { query = "DCGM_FI_DEV_POWER_USAGE" }
"""

from __future__ import annotations

import json
import math
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.measurement.instruments import InstrumentSpec

# Plain-word texts on screen. {placeholders} are filled in by the window; a translation must
# use the same ones (checked at start).
STRINGS: dict[str, str] = {
    "title": "How much energy does AI use?",
    "subtitle": "A live power measurement, the way MLPerf Power measures it (simulated meter)",
    "step_ranging": "1  Ranging",
    "step_testing": "2  Testing",
    "step_result": "3  Result",
    "explain_ranging": (
        "The {title} is running its AI workload. The power meter switches its measuring ranges "
        "by itself to find the highest voltage and current. Like picking the right scale before "
        "weighing something."),
    "explain_testing": (
        "Now the meter is fixed to the ranges found in step 1 ({v_range} and {a_range}), so every "
        "reading counts. We measure the power while the workload runs again."),
    "explain_result": (
        "While it was working, the {title} drew {avg_power} on average. It handles about "
        "{throughput} {work} per second, so each one costs {energy_per}. That is {per_joule} "
        "{work} per joule: the higher, the more efficient. (A demo on a simulated meter with short "
        "runs: NOT COMPLIANT, not an official MLPerf result.)"),
    "explain_no_window": (
        "The workload of the {title} did not start during this test, so there is no efficiency "
        "figure this time. A real test runs long enough to cover the whole workload."),
    "explain_waiting": "Getting ready for the next system…",
    "glossary": (
        "W (watt): how fast energy is used right now.   J (joule): an amount of energy; "
        "1 W for 1 second is 1 J.   J per inference: energy for one answer of the AI, lower is "
        "better.   Inferences per joule: answers per unit of energy, higher is better."),
    "throughput_note": "Throughput: a typical figure for this class of system, set for this demo.",
    "label_power": "Power now",
    "label_average": "Average power",
    "label_energy_per": "Energy per {work_one}",
    "label_per_joule": "{work} per joule",
    "label_ranges": "Meter ranges",
    "auto_ranges": "automatic",
    "pin_title": "Staff only: enter the PIN to leave the demo",
    "pin_wrong": "Wrong PIN",
    "pin_locked": "Too many tries: wait {seconds} s",
    "pin_cancel": "Cancel",
    "pin_ok": "OK",
    "staff": "Staff",
    "compare_title": "Side by side: the energy one answer takes",
    "compare_note": (
        "Each system does its own kind of work: a microcontroller spots spoken keywords, the others "
        "classify or learn from images. Lower energy per answer and more answers per joule are better."),
    "compare_pending": "measured soon",
    "error": "The demo hit a problem and starts over: {message}",
    "fleet_title": "The fleet",
    "fleet_subtitle": "Live power of a fleet of computers, read from their own sensors through Prometheus",
    "step_measuring": "1  Measuring the fleet",
    "step_fleet_result": "2  Result",
    "explain_fleet": (
        "Every node reports its own power through its telemetry (the server's BMC, its GPUs or the "
        "power strip), and the station adds them up: the total is plotted, each node is in the table. "
        "Nothing to switch or to play: this measures the fleet as it is."),
    "explain_fleet_result": (
        "Over {duration} the {nodes} nodes drew {avg_power} on average: {energy} in all. {gaps}"
        "This is fleet telemetry from the nodes' own sensors, NOT an MLPerf-compliant measurement "
        "with a calibrated power analyzer."),
    "fleet_gaps": "{count} stopped reporting ({names}); their share is estimated from their average. ",
    "label_energy": "Energy",
    "label_nodes": "Nodes reporting",
    "label_source": "Source (no meter ranges)",
    "fleet_source": "telemetry",
}
PLACEHOLDERS = {
    "explain_ranging": {"title"},
    "explain_testing": {"title", "v_range", "a_range"},
    "explain_result": {"title", "avg_power", "throughput", "work", "energy_per", "per_joule"},
    "explain_no_window": {"title"},
    "label_energy_per": {"work_one"},
    "label_per_joule": {"work"},
    "pin_locked": {"seconds"},
    "error": {"message"},
    "explain_fleet_result": {"duration", "nodes", "avg_power", "energy", "gaps"},
    "fleet_gaps": {"count", "names"},
}

# What the shipped workload profiles stand for on screen. ``throughput_per_s`` is an
# illustrative figure for the class of system (the simulator produces power, not inferences).
DEFAULT_PROFILES: dict[str, dict[str, Any]] = {
    "tiny": {"title": "Microcontroller", "detail": "MLPerf Tiny keyword spotting, 3.3 V battery-class board",
             "throughput_per_s": 100.0, "work": "inferences", "work_one": "inference"},
    "edge": {"title": "Edge AI box", "detail": "MLPerf Inference edge, image classification",
             "throughput_per_s": 2000.0, "work": "images", "work_one": "image"},
    "datacenter": {"title": "GPU server", "detail": "MLPerf Inference datacenter, image classification",
                   "throughput_per_s": 120000.0, "work": "images", "work_one": "image"},
    "training": {"title": "Training node", "detail": "MLPerf Training, eight accelerators",
                 "throughput_per_s": 25000.0, "work": "training images", "work_one": "training image"},
}
PROFILE_KEYS = ("name", "title", "detail", "throughput_per_s", "work", "work_one")
TOP_KEYS = ("pin", "profiles", "ranging_s", "testing_s", "result_s", "rate_hz", "realtime",
            "screen_timeout_s", "data_dir", "max_runs", "fullscreen", "strings", "seed", "instrument", "demo",
            "compare_s")
# Driver options and spec keys the demo cycle sets itself, and the setting that does it instead.
KIOSK_SETS_OPTIONS = {"profile": "profiles", "seed": "seed", "pace": "realtime", "events": "(always on)",
                      "rate_hz": "rate_hz", "update_interval_s": "rate_hz"}
KIOSK_SETS_KEYS = {"interval_s": "rate_hz", "voltage_range": "(ranging)", "current_range": "(ranging)"}
# Printed in this file and the README, so anyone could leave a kiosk that keeps it.
DEFAULT_PIN = "2468"


class KioskConfigError(ValueError):
    """A bad kiosk setting: ``<file>: <key>: <what is wrong>``."""

    def __init__(self, path: Path | None, key: str, message: str) -> None:
        self.path, self.key, self.message = path, key, message
        where = str(path) if path is not None else "built-in settings (no --kiosk-config)"
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


@dataclass(frozen=True)
class KioskProfile:
    name: str  # the simulator's workload profile
    title: str
    detail: str
    throughput_per_s: float
    work: str
    work_one: str


@dataclass(frozen=True)
class KioskConfig:
    pin: str = DEFAULT_PIN
    demo: bool = False  # the built-in PIN is accepted only on a stand declared a demo
    profiles: tuple[KioskProfile, ...] = ()
    ranging_s: float | None = None  # None: one workload cycle of the profile
    testing_s: float | None = None
    result_s: float = 20.0
    compare_s: float = 15.0
    rate_hz: float = 50.0
    realtime: bool = True
    screen_timeout_s: float = 45.0
    data_dir: Path = Path("kiosk")
    max_runs: int = 8
    fullscreen: bool = True
    seed: int = 1
    instrument: InstrumentSpec = field(default_factory=lambda: InstrumentSpec("sim"))
    strings: dict[str, str] = field(default_factory=lambda: dict(STRINGS))
    source: Path | None = None
    fleet: bool = False  # the instrument is a fleet's telemetry: measured as it is, no ranging, no profiles

    def text(self, key: str, **values: Any) -> str:
        s = self.strings[key]
        return s.format(**values) if values else s


def _default_data_dir() -> Path:
    from station.core.run_index import station_home

    return station_home() / "kiosk"


def load_config(path: str | Path | None, demo: bool = False) -> KioskConfig:
    """The kiosk settings from ``path`` (None: the defaults); KioskConfigError for anything wrong.

    A kiosk that would keep the built-in PIN is refused unless it is a demo (``demo`` here, from
    ``--kiosk-demo``, or ``demo = true`` in the file).
    """
    config = _read_config(path)
    if config.pin == DEFAULT_PIN and not (demo or config.demo):
        raise KioskConfigError(config.source, "pin", (
            f"the built-in PIN {DEFAULT_PIN} is printed in the documentation, so any visitor could leave "
            f"the kiosk; set your own pin = \"...\" (4 to 12 digits) in the settings file, or declare a "
            f"demo stand with demo = true in the file or --kiosk-demo"))
    return config


def _read_config(path: str | Path | None) -> KioskConfig:
    if path is None:
        return parse_config({}, None)
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KioskConfigError(path, "", f"cannot read the file ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise KioskConfigError(path, "", f"not valid TOML: {exc}") from None
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(raw.decode("utf-8"))
        except json.JSONDecodeError as exc:
            raise KioskConfigError(path, "", f"line {exc.lineno}: not valid JSON: {exc.msg}") from None
        except UnicodeDecodeError as exc:
            raise KioskConfigError(path, "", f"not UTF-8 text: {exc}") from None
    else:
        raise KioskConfigError(path, "", "the file name must end in .json or .toml")
    if not isinstance(data, dict):
        raise KioskConfigError(path, "", "the settings must be a table / JSON object at the top level")
    return parse_config(data, path)


def parse_config(data: dict, path: Path | None) -> KioskConfig:
    def fail(key: str, message: str):
        raise KioskConfigError(path, key, message)

    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        fail(unknown[0], f"unknown setting; known settings: {', '.join(TOP_KEYS)}")

    def number(key: str, default: float, lo: float, hi: float, integer: bool = False) -> float:
        v = data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            fail(key, f"must be a number, not {v!r}")
        if integer and v != int(v):
            fail(key, f"must be a whole number, not {v!r}")
        if not lo <= v <= hi:
            fail(key, f"{v!r} is outside {lo:g} to {hi:g}")
        return int(v) if integer else float(v)

    def duration(key: str) -> float | None:
        v = data.get(key, "cycle")
        if v == "cycle":
            return None
        if isinstance(v, str):
            fail(key, f"must be a number of seconds or \"cycle\", not {v!r}")
        return number(key, 0, 0.05, 3600)

    def boolean(key: str, default: bool) -> bool:
        v = data.get(key, default)
        if not isinstance(v, bool):
            fail(key, f"must be true or false, not {v!r}")
        return v

    pin = data.get("pin", DEFAULT_PIN)
    if isinstance(pin, int) and not isinstance(pin, bool):
        fail("pin", "must be a string of digits in quotes (a number would lose leading zeros)")
    if not isinstance(pin, str) or not pin.isdigit() or not pin.isascii() or not 4 <= len(pin) <= 12:
        fail("pin", "must be 4 to 12 digits, e.g. \"2468\"")

    instrument, fleet = _instrument(data.get("instrument", {"driver": "sim"}), fail)
    given_strings = data.get("strings") if isinstance(data.get("strings"), dict) else {}
    if fleet:
        for key, why in (("profiles", "it plays no workload profiles"),
                         ("ranging_s", "there is no ranging (the source has no ranges to set)")):
            if key in data:
                fail(key, f"a fleet kiosk ({instrument.driver}) measures the fleet as it is: {why}; remove "
                          f"{key} (testing_s sets how long each cycle measures)")
        if data.get("testing_s") == "cycle":
            fail("testing_s", "a fleet has no workload cycle; give the seconds each cycle measures (default 60)")
        data = {"testing_s": 60.0, "rate_hz": 1.0, **data, "ranging_s": data.get("testing_s", 60.0), "profiles": []}
    from instruments.sim import profile_names

    known = profile_names()
    entries = data.get("profiles", ["tiny", "edge", "datacenter", "training"])
    if fleet:
        entries = [{"name": "fleet"}]
        known = ["fleet"]
    if not isinstance(entries, list) or not entries:
        fail("profiles", "must be a non-empty list of profile names or tables")
    profiles = []
    for i, entry in enumerate(entries):
        key = f"profiles[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            fail(key, f"must be a profile name or a table, not {entry!r}")
        bad = sorted(set(entry) - set(PROFILE_KEYS))
        if bad:
            fail(f"{key}.{bad[0]}", f"unknown key; known keys: {', '.join(PROFILE_KEYS)}")
        name = entry.get("name")
        if name not in known:
            fail(f"{key}.name", f"{name!r} is not a workload profile; known: {', '.join(known)}")
        merged = {"title": name, "detail": "", "throughput_per_s": None, "work": "inferences",
                  "work_one": "inference", **DEFAULT_PROFILES.get(name, {}), **entry}
        if fleet:  # throughput is not used: a fleet's result is power and energy, no per-item figures
            merged.update(title=given_strings.get("fleet_title", STRINGS["fleet_title"]),
                          detail=_fleet_detail(instrument), throughput_per_s=1.0)
        for k in ("title", "detail", "work", "work_one"):
            if not isinstance(merged[k], str):
                fail(f"{key}.{k}", f"must be text, not {merged[k]!r}")
        tp = merged["throughput_per_s"]
        if tp is None:
            fail(f"{key}.throughput_per_s", "needed for a profile the kiosk does not know")
        if isinstance(tp, bool) or not isinstance(tp, int | float) or not math.isfinite(tp) or tp <= 0:
            fail(f"{key}.throughput_per_s", f"must be a positive number, not {tp!r}")
        profiles.append(KioskProfile(name, merged["title"], merged["detail"], float(tp), merged["work"],
                                     merged["work_one"]))

    strings = dict(STRINGS)
    given = data.get("strings", {})
    if not isinstance(given, dict):
        fail("strings", "must be a table of texts")
    for k, v in given.items():
        if k not in STRINGS:
            fail(f"strings.{k}", f"unknown text; known texts: {', '.join(STRINGS)}")
        if not isinstance(v, str):
            fail(f"strings.{k}", f"must be text, not {v!r}")
        try:
            used = {name for _, name, _, _ in string.Formatter().parse(v) if name is not None}
        except ValueError as exc:
            fail(f"strings.{k}", f"bad {{placeholder}}: {exc}")
        extra = used - PLACEHOLDERS.get(k, set())
        if extra:
            allowed = ", ".join(sorted(PLACEHOLDERS.get(k, set()))) or "none"
            fail(f"strings.{k}", f"unknown placeholder {{{sorted(extra)[0]}}}; allowed: {allowed}")
        strings[k] = v

    ranging_s, testing_s = duration("ranging_s"), duration("testing_s")
    if (ranging_s is None) != (testing_s is None) or (ranging_s is not None and testing_s > ranging_s):
        fail("testing_s", "must not be longer than ranging_s (ranging has to see the peak the test meets); "
                          "give both as numbers or both as \"cycle\"")

    data_dir = data.get("data_dir")
    if data_dir is None:
        directory = _default_data_dir()
    elif not isinstance(data_dir, str) or not data_dir.strip():
        fail("data_dir", f"must be a directory path, not {data_dir!r}")
    else:
        directory = Path(data_dir).expanduser()
        if not directory.is_absolute() and path is not None:
            directory = path.resolve().parent / directory
    if directory.exists() and not directory.is_dir():
        fail("data_dir", f"{directory} exists and is not a directory")

    rate_hz = number("rate_hz", 50.0, 1.0, 10000.0) if not fleet else number("rate_hz", 1.0, 0.001, 100.0)
    if fleet:
        desc = _driver_description(instrument.driver)
        if not desc.fastest_interval_s <= 1.0 / rate_hz <= desc.slowest_interval_s:
            fail("rate_hz", f"{rate_hz:g} Hz is one record every {1 / rate_hz:g} s; {instrument.driver} takes "
                            f"{desc.fastest_interval_s:g} to {desc.slowest_interval_s:g} s")
        if "subtitle" not in given:  # the analyzer demo's says "simulated meter"
            strings["subtitle"] = strings["fleet_subtitle"]
    return KioskConfig(
        pin=pin,
        profiles=tuple(profiles),
        ranging_s=ranging_s,
        testing_s=testing_s,
        result_s=number("result_s", 20.0, 0.0, 3600),
        compare_s=number("compare_s", 15.0, 0.0, 3600),
        rate_hz=rate_hz,
        realtime=boolean("realtime", True),
        screen_timeout_s=number("screen_timeout_s", 45.0, 5.0, 86400.0),
        data_dir=directory,
        max_runs=number("max_runs", 8, 1, 10000, integer=True),
        fullscreen=boolean("fullscreen", True),
        demo=boolean("demo", False),
        seed=number("seed", 1, 0, 2**31, integer=True),
        instrument=instrument,
        strings=strings,
        source=path,
        fleet=fleet,
    )


def _driver_description(name: str):
    from station.measurement.instruments import driver_class

    return driver_class(name).description


def _fleet_detail(spec: InstrumentSpec) -> str:
    what = spec.options.get("query") or spec.options.get("preset") or ""
    return f"{spec.driver} at {spec.resource}" + (f": {what}" if what else "")


def _instrument(table: Any, fail) -> tuple[InstrumentSpec, bool]:
    """The ``instrument`` table: the command line's keys (station.commands.grammar), checked now;
    and whether it is a fleet source (no workload profiles and no ranges: measured as it is)."""
    from station.commands.grammar import UsageError, check_specs, spec_from_table
    from station.measurement.instruments import SpecError

    try:
        spec = spec_from_table(table, "instrument")
    except SpecError as exc:
        key, _, message = str(exc).partition(": ")
        fail(key, message)
    for key, instead in KIOSK_SETS_KEYS.items():
        if key in table:
            fail(f"instrument.{key}", f"the kiosk sets this itself; use {instead}")
    for key, instead in KIOSK_SETS_OPTIONS.items():
        if key in spec.options:
            fail(f"instrument.options.{key}", f"the kiosk sets this itself; use {instead}")
    try:
        check_specs([spec])
    except UsageError as exc:
        fail("instrument", str(exc))
    from station.measurement.instruments import driver_class

    cls = driver_class(spec.driver)
    if "profile" in {s.name for s in cls.description.settings}:
        return spec, False
    # A driver says it reads a fleet's telemetry (class attribute fleet_telemetry); a plug-in can too.
    if not getattr(cls, "fleet_telemetry", False) or cls.description.voltage_ranges or cls.description.current_ranges:
        fail("instrument.driver", f"the kiosk plays workload profiles on a simulated analyzer (sim) or shows a "
                                  f"fleet's telemetry (prometheus); {spec.driver} does neither")
    return spec, True
