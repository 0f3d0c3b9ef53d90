"""Published MLPerf Tiny energy results, read into one shape (:class:`TinyResult`).

Two layouts exist (reference/tiny.md):

- **EnergyRunner** (rounds v0.5 to v1.3): ``trace1-energy.bin`` (byte 0 = 0xF1, float32 LE sample
  rate, then float32 LE µJ per sample), ``trace1-timestamps.json`` (edge times in seconds, rounded
  to 1 ms: a marker edge, then a start/stop pair per window), ``results.txt``, ``log.txt`` (the
  DUT's ``m-infer-start-N`` / ``m-infer-done`` and, from v1.2 on, the interface board's
  ``m-lap-us-`` at each edge), ``script.async`` (the commands, ``io dut infer N W`` per window).
- **MLCommons runner** (from v1.3): ``results.json`` (one entry per trial with its raw samples in
  J per 1 ms and its events ``[counter, sample index]``), ``results.txt``, ``log.txt``.

Readers never judge; :mod:`station.tiny.checks` does. They raise
:class:`station.mlperf.errors.FormatError` (file and line) for input that is not such a result.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from station.mlperf.errors import FormatError

ENERGYRUNNER, MLCOMMONS_RUNNER = "energyrunner", "mlcommons-runner"
SINGLE, STREAMING = "single-stream", "streaming-wakeword"
ER_TRACE, ER_TIMESTAMPS, RESULTS_JSON = "trace1-energy.bin", "trace1-timestamps.json", "results.json"
ER_MAGIC = 0xF1
DEFAULT_RATE_HZ = 1000.0  # the MLCommons runner's LPM01A and JS220 paths both deliver 1 ms samples

_ER_WINDOW = re.compile(r"Energy data for window (\d+) at time ([\d.]+) for ([\d.]+) sec")
_ER_ENERGY = re.compile(r"Energy\s*:\s*([\d.]+) uJ")
_ER_POWER = re.compile(r"Power\s*:\s*([\d.]+) uW")
_PER_INF = re.compile(r"Energy/Inf\.?\s*:\s*([\d.]+) uJ/inf")
_MEDIAN = re.compile(r"Median energy cost is\s+([\d.]+) uJ/inf")
_MLC_TRIAL = re.compile(r"Energy data for trial (\d+)")
_MLC_ELAPSED = re.compile(r"Elapsed time\s*:\s*([\d.]+)")
_MLC_INFERENCES = re.compile(r"Inferences\s*:\s*(\d+)")
_MLC_POWER = re.compile(r"Power\s*:\s*([\d.]+) mW")
_MLC_TOTAL = re.compile(r"Total Energy\s*:\s*([\d.]+) uJ")
_HOST_TIME = re.compile(r"^(\d+\.\d+)\s")
_INFER_START = re.compile(r"m-infer-start-(\d+)")
_LAP_US = re.compile(r"m-lap-us-(\d+)")
_MONITOR = re.compile(r"m-regfile-fn\[[^\]]*\]-type\[emon\]-name\[([\w-]+)\]")
_SCRIPT_INFER = re.compile(r"io dut infer (\d+)(?:\s+(\d+))?")
_MLC_RUNNING = re.compile(r"Running inference with (\d+)/(\d+) \(warmup/measured\)")


@dataclass
class PrintedWindow:
    """What ``results.txt`` says of one window (None where the layout does not print it)."""

    label: str
    energy_uj: float | None = None
    uj_per_inference: float | None = None
    duration_s: float | None = None
    power_mw: float | None = None
    inferences: int | None = None


@dataclass
class DutRun:
    """One ``infer N`` as the DUT side logged it: the count, and its timing when the log has it."""

    inferences: int
    host_start_s: float | None = None  # host clock of m-infer-start (EnergyRunner log)
    host_span_s: float | None = None  # m-infer-start -> m-infer-done on the host clock
    lap_s: float | None = None  # the interface board's own timing between the two edges (m-lap-us)


@dataclass
class TinyTrial:
    """One trial's raw data: its samples (J per sample) and the edges seen, ``(counter, index)``."""

    samples_j: np.ndarray
    events: list[tuple[int | None, int]]
    inferences: int | None
    file: str = ""


@dataclass
class TinyResult:
    layout: str
    directory: Path
    mode: str = SINGLE
    monitor: str = ""
    sample_interval_s: float = 1.0 / DEFAULT_RATE_HZ
    trials: list[TinyTrial] = field(default_factory=list)
    edge_times_s: list[float] | None = None  # EnergyRunner: every edge of the trace, marker included
    dut_runs: list[DutRun] = field(default_factory=list)
    printed: list[PrintedWindow] = field(default_factory=list)
    printed_median_uj: float | None = None
    printed_median_text: str = ""
    raw_missing: str = ""  # why there are no raw samples (empty when there are)
    files: list[str] = field(default_factory=list)


def is_tiny_energy_dir(path: Path) -> bool:
    """A directory holding one Tiny energy result: the EnergyRunner's trace files, or a
    ``results.txt`` with the runners' ``Median energy cost is`` line."""
    path = Path(path)
    if (path / ER_TRACE).is_file() and (path / ER_TIMESTAMPS).is_file():
        return True
    txt = path / "results.txt"
    if not txt.is_file():
        return False
    try:
        head = txt.read_bytes()[:1 << 20].decode("utf-8", errors="replace")
    except OSError:
        return False
    return bool(_MEDIAN.search(head))


def read_result(path: Path) -> TinyResult:
    """Either layout, chosen by its files."""
    path = Path(path)
    if (path / ER_TRACE).exists() or (path / "script.async").exists():
        return read_energyrunner(path)
    return read_mlcommons_runner(path)


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace").lstrip("\ufeff")
    except OSError as exc:
        raise FormatError(f"cannot be read: {exc.strerror or exc}", path) from None


def _float(pattern: re.Pattern, text: str) -> float | None:
    m = pattern.search(text)
    return float(m.group(1)) if m else None


def read_trace(path: Path) -> tuple[float, np.ndarray]:
    """``trace1-energy.bin``: (sample rate in Hz, J per sample)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot be read: {exc.strerror or exc}", path) from None
    if len(data) < 5 or data[0] != ER_MAGIC:
        raise FormatError(f"not an EnergyRunner energy trace (byte 0 is not 0x{ER_MAGIC:02X})", path)
    rate = struct.unpack("<f", data[1:5])[0]
    if not (math.isfinite(rate) and rate > 0):
        raise FormatError(f"sample rate {rate!r} Hz is not a positive number", path)
    body = data[5:]
    usable = len(body) - len(body) % 4  # a torn last value is left out (the checks see a short trace)
    uj = np.frombuffer(body[:usable], dtype="<f4").astype(np.float64)
    return float(rate), uj * 1e-6


def read_energyrunner(path: Path) -> TinyResult:
    path = Path(path)
    res = TinyResult(ENERGYRUNNER, path, files=sorted(p.name for p in path.iterdir() if p.is_file()))
    log = _text(path / "log.txt") if (path / "log.txt").is_file() else ""
    script = _text(path / "script.async") if (path / "script.async").is_file() else ""
    m = _MONITOR.search(log)
    res.monitor = m.group(1) if m else ""
    res.dut_runs = _er_dut_runs(log)
    if not res.dut_runs:  # no log: the commands of the script say how many inferences each window holds
        res.dut_runs = [DutRun(int(m.group(1))) for m in _SCRIPT_INFER.finditer(script)]
    if "sww01" in log or "strww01" in log:
        res.mode = STREAMING
    _read_printed_er(path, res)
    if not (path / ER_TRACE).is_file() or not (path / ER_TIMESTAMPS).is_file():
        res.raw_missing = f"{ER_TRACE} and {ER_TIMESTAMPS} are not both present"
        return res
    rate, samples = read_trace(path / ER_TRACE)
    res.sample_interval_s = 1.0 / rate
    try:
        edges = json.loads(_text(path / ER_TIMESTAMPS))
        if not isinstance(edges, list) or not all(isinstance(t, int | float) for t in edges):
            raise ValueError("not a list of numbers")
    except ValueError as exc:
        raise FormatError(f"not a list of edge times in seconds ({exc})", path / ER_TIMESTAMPS) from None
    res.edge_times_s = [float(t) for t in edges]
    # After the marker edge each window is a start/stop pair, as the EnergyRunner pairs them.
    pairs = list(zip(res.edge_times_s[1::2], res.edge_times_s[2::2], strict=False))
    for k, (t0, t1) in enumerate(pairs):
        n = res.dut_runs[k].inferences if k < len(res.dut_runs) else None
        res.trials.append(TinyTrial(samples, [(None, round(t0 * rate)), (None, round(t1 * rate))], n))
    return res


def _er_dut_runs(log: str) -> list[DutRun]:
    runs: list[DutRun] = []
    laps: list[int] = []
    current: DutRun | None = None
    for line in log.splitlines():
        t = _HOST_TIME.match(line)
        host = float(t.group(1)) if t else None
        if (m := _LAP_US.search(line)) and "[dut]" not in line:
            laps.append(int(m.group(1)))
        elif m := _INFER_START.search(line):
            current = DutRun(int(m.group(1)), host_start_s=host)
            runs.append(current)
            laps = laps[-1:]  # the lap taken at the first edge came just before m-infer-start
        elif "m-infer-done" in line and current is not None:
            if host is not None and current.host_start_s is not None:
                current.host_span_s = host - current.host_start_s
            if len(laps) >= 2:
                current.lap_s = (laps[-1] - laps[-2]) / 1e6
            current, laps = None, []
    return runs


def _blocks(text: str, header: re.Pattern) -> list[tuple[re.Match, str]]:
    starts = list(header.finditer(text))
    return [(m, text[m.end():starts[i + 1].start() if i + 1 < len(starts) else len(text)])
            for i, m in enumerate(starts)]


def _read_printed_er(path: Path, res: TinyResult) -> None:
    if not (path / "results.txt").is_file():
        return
    text = _text(path / "results.txt")
    cut = text.find("Median energy cost")
    for m, body in _blocks(text[:cut] if cut >= 0 else text, _ER_WINDOW):
        power_uw = _float(_ER_POWER, body)
        res.printed.append(PrintedWindow(f"window {m.group(1)}", _float(_ER_ENERGY, body), _float(_PER_INF, body),
                                         float(m.group(3)), None if power_uw is None else power_uw / 1e3))
    if m := _MEDIAN.search(text):
        res.printed_median_uj, res.printed_median_text = float(m.group(1)), m.group(1)


def read_mlcommons_runner(path: Path) -> TinyResult:
    path = Path(path)
    res = TinyResult(MLCOMMONS_RUNNER, path, files=sorted(p.name for p in path.iterdir() if p.is_file()))
    log = _text(path / "log.txt") if (path / "log.txt").is_file() else ""
    if "sww01" in log or "strww01" in log:
        res.mode = STREAMING
    res.dut_runs = [DutRun(int(m.group(2))) for m in _MLC_RUNNING.finditer(log)]
    if (path / "results.txt").is_file():
        text = _text(path / "results.txt")
        if re.search(r"True positives", text):
            res.mode = STREAMING
        cut = text.find("Median energy cost")
        for m, body in _blocks(text[:cut] if cut >= 0 else text, _MLC_TRIAL):
            n = _MLC_INFERENCES.search(body)
            res.printed.append(PrintedWindow(f"trial {m.group(1)}", _float(_MLC_TOTAL, body), _float(_PER_INF, body),
                                             _float(_MLC_ELAPSED, body), _float(_MLC_POWER, body),
                                             int(n.group(1)) if n else None))
        if m := _MEDIAN.search(text):
            res.printed_median_uj, res.printed_median_text = float(m.group(1)), m.group(1)
    if not (path / RESULTS_JSON).is_file():
        res.raw_missing = f"{RESULTS_JSON} (every trial's raw samples and events) is not present"
        return res
    where = path / RESULTS_JSON
    try:
        trials = json.loads(_text(where))
    except ValueError as exc:
        raise FormatError(f"not JSON ({exc})", where) from None
    if not isinstance(trials, list):
        raise FormatError("the top level is not a list of trials", where)
    for k, entry in enumerate(trials):
        try:
            power = entry["power"]
            samples = np.array([math.nan if s is None else s for s in power["samples"]], dtype=np.float64)
            events = [(int(c), int(i)) for c, i in power["timestamps"]]
            n = int(entry["infer"]["iterations"]) if entry.get("infer") else None
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"trial {k} is not a trial with power samples, timestamps and an inference "
                              f"count ({type(exc).__name__}: {exc})", where) from None
        res.trials.append(TinyTrial(samples, events, n, str(entry.get("file", ""))))
    if not res.dut_runs:
        res.dut_runs = [DutRun(t.inferences) for t in res.trials if t.inferences is not None]
    return res
