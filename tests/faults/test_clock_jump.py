"""The computer's clock jumps an hour forward and back during `station run`: recorded, not absorbed.

The fault is injected from outside the station: ``clock_shim.c`` (next to this file), compiled
here and loaded into the `station run` process only with LD_PRELOAD, adds an offset to
CLOCK_REALTIME as the C library hands it out (clock_gettime, gettimeofday, time); the test
changes that offset while the run records by writing 8 bytes to a file the shim has mapped.
The monotonic clocks are untouched, exactly as when NTP steps the clock or someone sets it. No
code of the station is patched and nothing needs root.

The jumps: +3600 s half a second into the recording, then back to -30 s (a step of -3630 s)
once the first one is in the journal. Three analyzers:

* an analyzer with its own time base in another process (the LPM01A fake on a pty; its clock
  does not jump, as a real analyzer's does not when the station computer's clock is set):
  both jumps are in the journal with their size, and the run keeps every sample on one time
  base, in order, without a hole, for its whole duration;
* the simulated analyzer, inside the station process;
* a Yokogawa WT310E on a LAN socket (SCPI: the driver stamps each reading with the station's
  clock when it arrives).

Every one keeps its samples on one time base for the whole requested duration (the drivers
anchor their time base to the wall clock when they start and run on the monotonic clock or the
meter's own), both jumps are in the journal with their size, and the run summary lists them.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from station.core.journal import JournalReader, samples_file
from tests.helpers.processes import wait_for_bytes_on_disk
from tests.helpers.sample_blocks import missed_updates

ROOT = Path(__file__).resolve().parents[2]
SHIM_SOURCE = Path(__file__).with_name("clock_shim.c")
FORWARD_S = 3600.0  # first the clock is set an hour ahead,
BACK_TO_S = -30.0  # then to half a minute behind the true time: a step of -3630 s
TOLERANCE_S = 0.05  # a jump is measured as the change of (wall - monotonic) between two checks

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LD_PRELOAD clock shim: Linux only")]


# -- the shim ------------------------------------------------------------------------------------
class ClockOffset:
    """The offset file the shim maps: ``set(s)`` moves the wall clock of every process using it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_bytes(struct.pack("=q", 0))
        self._file = open(path, "r+b")  # noqa: SIM115 - kept open with the map
        self._map = mmap.mmap(self._file.fileno(), 8)

    def set(self, seconds: float) -> None:
        self._map[0:8] = struct.pack("=q", int(round(seconds * 1e9)))  # one 8-byte store

    def close(self) -> None:
        self._map.close()
        self._file.close()


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    """The compiled shim, after checking it really moves time.time() in a child Python."""
    cc = next((c for c in (os.environ.get("CC"), "cc", "gcc", "clang") if c and shutil.which(c)), None)
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang) to build the clock shim")
    d = tmp_path_factory.mktemp("clock-shim")
    so = d / "shim.so"
    res = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(so), str(SHIM_SOURCE), "-ldl"],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        pytest.skip(f"the clock shim does not compile here ({cc}): {res.stderr.strip()[-500:]}")
    offset = ClockOffset(d / "sanity-offset")
    offset.set(FORWARD_S)
    probe = "import time; print(time.time(), time.monotonic())"
    env = {**os.environ, "LD_PRELOAD": str(so), "STATION_FAULT_CLOCK_FILE": str(offset.path)}
    mono_before, wall = time.monotonic(), time.time()
    res = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    mono_after = time.monotonic()
    offset.close()
    assert res.returncode == 0, res.stderr
    child_wall, child_mono = map(float, res.stdout.split())
    if abs(child_wall - wall - FORWARD_S) > 30.0:
        pytest.skip(f"the LD_PRELOAD clock shim has no effect on {sys.executable} (statically linked clock "
                    f"functions?): the child's time.time() is {child_wall - wall:+.1f} s off, not {FORWARD_S:+g} s")
    assert mono_before <= child_mono <= mono_after, "the shim must leave the monotonic clock alone"
    return so


# -- a run with two jumps ------------------------------------------------------------------------
@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    out: Path
    launched_wall: float  # true UTC when the station was started
    elapsed_s: float  # true seconds from the start to the station's exit
    recording_after_s: float  # when the first samples were on disk
    injected: list[tuple[float, float]] = field(default_factory=list)  # (seconds after start, relative step)

    @property
    def summary(self) -> dict:
        return json.loads(self.stdout)

    @property
    def events(self) -> list[dict]:
        return JournalReader(self.out).events()

    @property
    def jumps(self) -> list[dict]:
        return [e for e in self.events if e["kind"] == "clock_jump"]

    @property
    def samples(self) -> np.ndarray:
        return np.asarray(JournalReader(self.out).samples("inst0"))


def _jumps_on_disk(out: Path) -> int:
    return sum(1 for e in JournalReader(out).events() if e.get("kind") == "clock_jump")


def run_with_jumps(shim: Path, args: list[str], out: Path, home: Path, env: dict | None = None) -> Outcome:
    """`station run ARGS --out OUT --json` under the shim: +3600 s, then back to -30 s, then to the end."""
    offset = ClockOffset(out.parent / f"{out.name}.clock-offset")
    env = {**os.environ, **(env or {}), "STATION_HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
           "LD_PRELOAD": str(shim), "STATION_FAULT_CLOCK_FILE": str(offset.path)}
    launched_wall, start = time.time(), time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "station", "run", *args, "--out", str(out), "--json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_bytes_on_disk(out / samples_file("inst0"), 0, proc, timeout=60)
        outcome = Outcome(0, "", "", out, launched_wall, 0.0, time.monotonic() - start)
        time.sleep(0.5)  # the run records a while before the first jump: part of the stimulus
        for target, step in ((FORWARD_S, FORWARD_S), (BACK_TO_S, BACK_TO_S - FORWARD_S)):
            if proc.poll() is not None:
                break  # the run is over: nothing left to jump in
            seen = _jumps_on_disk(out)
            offset.set(target)
            outcome.injected.append((time.monotonic() - start, step))
            until = time.monotonic() + 10
            while _jumps_on_disk(out) == seen and proc.poll() is None and time.monotonic() < until:
                time.sleep(0.02)  # wait for the station to record it before the next one
            time.sleep(1.0)  # the run goes on a while on each clock: the spacing of the jumps is the stimulus
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        offset.close()
    outcome.elapsed_s = time.monotonic() - start
    outcome.returncode, outcome.stdout, outcome.stderr = proc.returncode, stdout, stderr
    return outcome


def assert_jumps_recorded(outcome: Outcome, expected: list[float]) -> None:
    got = [e["jump_s"] for e in outcome.jumps]
    assert got == pytest.approx(expected, abs=TOLERANCE_S), (got, outcome.injected)
    for e, step in zip(outcome.jumps, expected, strict=True):
        said = re.search(r"jumped (forward|back) by ([\d.]+) s", e["message"])
        assert said and said[1] == ("forward" if step > 0 else "back"), e["message"]
        assert float(said[2]) == pytest.approx(abs(step), abs=TOLERANCE_S)
        assert e["t"] - e["before"] == pytest.approx(step, abs=2.0)  # the clock's reading, before and after


# -- an analyzer on its own time base, in another process ----------------------------------------
RATE = 1000
DURATION = 6.0


@pytest.fixture(scope="module")
def external_analyzer_run(shim, tmp_path_factory) -> Outcome:
    pytest.importorskip("serial")
    d = tmp_path_factory.mktemp("lpm01a")
    fake = subprocess.Popen([sys.executable, "-c", "from instruments.fakes.lpm01a import main; main()",
                             "--link", str(d / "ttyACM0")], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        port = fake.stdout.readline().strip()
        assert port, "the LPM01A fake did not start"
        return run_with_jumps(shim, ["--instrument", "lpm01a", "--resource", f"serial://{port}", "--rate",
                                     str(RATE), "--duration", str(DURATION)], d / "run", d / "home")
    finally:
        fake.stdin.close()
        fake.wait(30)


def test_both_jumps_are_recorded_and_the_timeline_holds(external_analyzer_run):
    o = external_analyzer_run
    assert o.returncode == 0, o.stderr
    assert len(o.injected) == 2, "the run ended before both jumps were injected"
    assert_jumps_recorded(o, [FORWARD_S, BACK_TO_S - FORWARD_S])
    summary = o.summary
    assert summary["state"] == "complete" and summary["error"] is None
    # No sample lost: the whole duration at the rate, each sample once, in order, no hole.
    data = o.samples
    t = data["t"]
    assert len(data) == summary["samples"] == int(DURATION * RATE)
    steps = np.diff(t)
    assert steps.min() > 0.5 / RATE and steps.max() < 1.5 / RATE, (steps.min(), steps.max())
    assert summary["gaps"] == 0 and summary["instruments"]["inst0"]["missing_samples"] == 0
    assert summary["duration_s"] == pytest.approx(DURATION, abs=1e-6)
    # One time base: the analyzer's, anchored at the true time of the start; no sample carries
    # the jumped clock (+1 h or -30 s), so the sample timeline is not torn.
    assert o.launched_wall < t[0] < o.launched_wall + 30
    assert t[-1] - t[0] == pytest.approx(DURATION - 1 / RATE, abs=1e-6)
    # And it took the real time it says: the jump did not shorten or stretch the run.
    assert o.elapsed_s >= DURATION


def test_the_run_summary_mentions_the_clock_jumps(external_analyzer_run):
    o = external_analyzer_run
    summary = {k: v for k, v in o.summary.items() if k != "run_dir"}
    text = json.dumps(summary).lower()
    assert "jump" in text
    assert "3600" in text and "3630" in text


# -- the simulated analyzer, inside the station process -------------------------------------------
def test_simulated_analyzer_across_clock_jumps(shim, tmp_path):
    o = run_with_jumps(shim, ["--rate", str(RATE), "--duration", str(DURATION), "--seed", "5"],
                       tmp_path / "run", tmp_path / "home")
    assert o.returncode == 0, o.stderr
    assert o.jumps and o.jumps[0]["jump_s"] == pytest.approx(FORWARD_S, abs=TOLERANCE_S)  # recorded
    data = o.samples
    assert len(data) == o.summary["samples"] and np.all(np.diff(data["t"]) > 0)  # in order
    # The simulator keeps its own time base (monotonic pacing): the jump neither rushes nor stalls it.
    assert_jumps_recorded(o, [FORWARD_S, BACK_TO_S - FORWARD_S])
    assert len(data) == int(DURATION * RATE) and o.elapsed_s >= DURATION


# -- an SCPI analyzer on the LAN: readings stamped with the station's clock --------------------------
def test_scpi_analyzer_across_clock_jumps(shim, tmp_path):
    pytest.importorskip("pyvisa_py")
    from instruments.fakes.serve import TcpDeviceServer, WallClock
    from instruments.fakes.yokogawa import Wt300eDevice

    interval, duration = 0.1, DURATION
    with TcpDeviceServer(Wt300eDevice(clock=WallClock(), serial="C1234567")) as server:
        o = run_with_jumps(shim, ["--instrument", "wt300e", "--resource", server.visa_resource, "--interval",
                                  str(interval), "--duration", str(duration), "--voltage-range", "300",
                                  "--current-range", "5"], tmp_path / "run", tmp_path / "home",
                           env={"STATION_VISA_BACKEND": "@py"})
    assert o.returncode == 0, o.stderr
    summary = o.summary
    # Readings are stamped on the run's steady time base: the jump does not end the run early.
    assert summary["state"] == "complete" and summary["duration_s"] == pytest.approx(duration, abs=2 * interval)
    assert_jumps_recorded(o, [FORWARD_S, BACK_TO_S - FORWARD_S])
    data = o.samples
    steps = np.diff(data["t"])
    assert np.all(steps > 0), "sample times went back with the clock"
    # On a loaded machine the poll loop may miss one of the meter's 0.1 s updates: a missed update
    # shows as a longer step (a gap on the steady time base), never as lost time, so the readings
    # plus the updates missed between them account for the whole duration.
    missed = missed_updates(data, interval)
    assert abs(len(data) + missed - duration / interval) <= 2 and o.elapsed_s >= duration
    assert missed <= 0.1 * duration / interval, f"{missed} updates missed"


# -- the MLCommons director: a jump mid-phase ---------------------------------------------------------
def test_director_phase_records_the_jump_in_its_journal_and_logs(shim, tmp_path, monkeypatch):
    from tests.helpers.processes import Director

    offset = ClockOffset(tmp_path / "director.clock-offset")
    monkeypatch.setenv("LD_PRELOAD", str(shim))  # inherited by `station serve` only: the client is in here
    monkeypatch.setenv("STATION_FAULT_CLOCK_FILE", str(offset.path))
    d = Director(tmp_path / "out", tmp_path / "home")
    monkeypatch.delenv("LD_PRELOAD")
    try:
        c = d.client()
        try:
            c.handshake()
            session, _ = c.new("jump")
            c.ok(f"session,{session},start,ranging")
            time.sleep(1.0)  # the phase measures a while, jumps, and measures on: the stimulus
            offset.set(FORWARD_S)
            time.sleep(1.5)  # and measures on across the jump
            c.ok(f"session,{session},stop,ranging")  # measured: the protocol has no "not comparable"
            c.ok(f"session,{session},done")
        finally:
            c.close()
    finally:
        rc = d.stop()
        offset.close()
    assert rc == 0, d.log()
    sdir = d.out / session
    jumps = [e for e in JournalReader(sdir / "journal" / "ranging").events() if e["kind"] == "clock_jump"]
    assert [e["jump_s"] for e in jumps] == [pytest.approx(FORWARD_S, abs=TOLERANCE_S)]
    ptd_log = (sdir / "power" / "ptd_logs.txt").read_text()
    assert "WARNING: the computer's clock jumped forward by 3600.0" in ptd_log
    assert "Clock jump during ranging" in (sdir / "power" / "server.log").read_text()
    data = JournalReader(sdir / "journal" / "ranging").samples()
    assert np.all(np.diff(data["t"]) > 0) and data["t"][-1] - data["t"][0] < 10  # one time base, no +1 h
