"""`station serve` with one and with two analyzers (WT310E device fakes), run by the unmodified
official power-dev client and read by today's official compliance checker and by `station verify`.

The official tools come from a fetched mlcommons/power-dev snapshot (tests/helpers/power_dev.py,
extracted into the test's temporary folder, never committed); the test skips without one.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from instruments.fakes.serve import TcpDeviceServer, WallClock
from instruments.fakes.yokogawa import Wt300eDevice
from station.mlperf.published import verify_published
from tests.helpers.power_dev import FAKE_LOADGEN, FakeNtp, power_dev_checkout
from tests.helpers.processes import Director

# what the official checker can pass on a station session: everything but the checks that ask
# for the official server's own source files and PTDaemon (the station is neither, by design)
CONTENT_CHECKS = ("Check client sources checksum", "Check UUID", "Check session name", "Check time difference",
                  "Check client server messages", "Check results checksum", "Check debug is disabled on server-side")


def _run_session(tmp: Path, checkout: Path, analyzers: int) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """A session of the official client against `station serve` on ``analyzers`` WT310E fakes;
    (the client's result directory, the director's session directory, check.py's run on the first)."""
    pytest.importorskip("pyvisa_py")
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        ntp = FakeNtp()
    except OSError as exc:
        pytest.skip(f"cannot serve NTP on 127.0.0.1:123 for the official client: {exc}")
    # Yokogawa WT310E on the LAN (the station's device fakes), each one analyzer of the director
    meters = [TcpDeviceServer(Wt300eDevice(clock=WallClock(), serial=f"C2PH1304{i}V")) for i in range(analyzers)]
    args = [["--instrument", "wt300e", "--resource", m.visa_resource, "--interval", "0.1"] for m in meters]
    mp = pytest.MonkeyPatch()
    mp.setenv("STATION_VISA_BACKEND", "@py")
    d = Director(tmp / "out", tmp / "home", *[a for more in args[1:] for a in more], first=tuple(args[0]))
    mp.undo()
    try:
        indir, outdir = tmp / "loadgen", tmp / "result"
        indir.mkdir()
        (tmp / "fake_loadgen.py").write_text(FAKE_LOADGEN)
        workload = f"{sys.executable} {tmp / 'fake_loadgen.py'} {indir} 2.5"
        proc = subprocess.run(
            [sys.executable, str(checkout / "ptd_client_server" / "client.py"), "-a", "127.0.0.1", "-p", str(d.port),
             "-w", workload, "-L", str(indir), "-o", str(outdir), "-n", "127.0.0.1", "-l", f"a{analyzers}"],
            capture_output=True, text=True, timeout=300, cwd=tmp)
        assert proc.returncode == 0, proc.stderr[-4000:]
    finally:
        ntp.close()
        rc = d.stop()
        for m in meters:
            m.close()
        assert rc == 0, d.log()
    (client_dir,) = list(outdir.iterdir())
    return client_dir, d.out / client_dir.name, _official_check(checkout, client_dir)


def _official_check(checkout: Path, result: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(checkout / "compliance" / "check.py"), str(result)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    """``sessions(n)``: the session of ``n`` analyzers, run once per module; and the checkout."""
    tmp = tmp_path_factory.mktemp("analyzers")
    checkout = power_dev_checkout(tmp / "power-dev")
    if checkout is None:
        pytest.skip("no mlcommons/power-dev snapshot to take the official client and checker from")
    done: dict[int, tuple] = {}

    def get(n: int) -> tuple[Path, Path, subprocess.CompletedProcess]:
        if n not in done:
            done[n] = _run_session(tmp / f"n{n}", checkout, n)
        return done[n]

    get.checkout = checkout
    return get


@pytest.fixture(scope="module")
def two_analyzer_session(sessions):
    return sessions(2)


def _as_if_ptdaemon(result: Path, where: Path) -> Path:
    """A copy of ``result`` whose Identify replies carry PTDaemon 1.11.1's version string (the
    one thing of the PTD-messages check only PTDaemon itself can give): what else fails?"""
    shutil.copytree(result, where)
    summary = json.loads((where / "power/server.json").read_text())
    for m in summary["ptd_messages"]:
        if m["cmd"] == "Identify":
            m["reply"] = re.sub(r"version=[^-,]+-", "version=1.11.1-", m["reply"])
    (where / "power/server.json").write_text(json.dumps(summary, indent=4))
    return where


@pytest.mark.slow
def test_the_director_writes_each_analyzers_files_and_the_merged_ones_as_power_dev_does(two_analyzer_session):
    client_dir, director_dir, _ = two_analyzer_session
    for rel in ("power/ptd_logs_analyzer_1.txt", "power/ptd_logs_analyzer_2.txt", "ranging/spl_analyzer_1.csv",
                "ranging/spl_analyzer_2.csv", "run_1/spl_analyzer_1.txt", "run_1/spl_analyzer_2.txt"):
        assert (director_dir / rel).is_file(), rel
    server = json.loads((client_dir / "power/server.json").read_text())
    assert [a["device_port"] is not None for a in server["ptd_config"]] == [True, True]
    # analyzer 1's PTD messages, then analyzer 2's (power-dev appends them so); the SR values are
    # each analyzer's own, from its own ranging maxima
    cmds = [m["cmd"] for m in server["ptd_messages"]]
    half = len(cmds) // 2
    verbs = [c[:4] if c.startswith("SR,") else c.split(",")[0] for c in cmds]
    assert verbs[:half] == verbs[half:] and cmds.count("Identify") == 2
    gos = [c for c in cmds if c.startswith("Go,")]
    assert gos[:2] == gos[2:] and gos[0].endswith("_ranging") and gos[1].endswith("_testing")
    # ptd_logs.txt: for each analyzer, "Analyzer <i>" then its own log, byte for byte
    own = [(director_dir / f"power/ptd_logs_analyzer_{i}.txt").read_text() for i in (1, 2)]
    assert (client_dir / "power/ptd_logs.txt").read_text() == f"Analyzer 1\n{own[0]}Analyzer 2\n{own[1]}"
    # run_1/spl.txt: lines paired by position, the sum of both analyzers' watts, then each one's line
    a1, a2 = ([ln for ln in (director_dir / f"run_1/spl_analyzer_{i}.txt").read_text().split("\n") if ln]
              for i in (1, 2))
    merged = [ln for ln in (client_dir / "run_1/spl.txt").read_text().split("\n") if ln]
    assert len(merged) == min(len(a1), len(a2)) > 0
    for line, one, two in zip(merged, a1, a2, strict=False):
        head, rest = line.split(",Analyzer1,", 1)
        assert rest == f"{one},Analyzer2,{two}"
        f = head.split(",")
        w = [float(x.split(",")[3]) for x in (one, two)]
        assert float(f[3]) == pytest.approx(sum(abs(x) for x in w if x != -1), abs=2e-6)
        assert f[1] == one.split(",")[1] and f[5] == f[7] == f[9] == "-1.000000" and f[11] == one.split(",")[11]
    out = (client_dir / "run_1/ptd_out.txt").read_text()
    assert out.startswith("Analyzer 1:\nPower: Watts,") and "\nAnalyzer 2:\nPower: Watts," in out


@pytest.mark.slow
@pytest.mark.parametrize("analyzers", [1, 2])
def test_todays_official_checker_reads_station_sessions_of_one_and_two_analyzers(sessions, analyzers, tmp_path):
    client_dir, _, checked = sessions(analyzers)
    out = checked.stderr
    assert "Traceback" not in out, out
    for check in CONTENT_CHECKS:
        assert f"[x] {check}" in out, out
    # the PTD log of every analyzer: no error outside ranging, no uncertainty above 1 % in testing
    assert "[x] Check errors and warnings from PTD logs" in out, out
    # ptd_config as a list, one entry per analyzer, each with PTDaemon's device number (WT310E: 49)
    assert "[x] Check PTD configuration" in out, out
    # by design the station is neither the official server's pinned sources nor PTDaemon 1.11.1:
    # these two fail and nothing else does
    assert "[ ] Check server sources checksum" in out
    assert "[ ] Check PTD commands and replies" in out and "PTD version '" in out
    assert out.count("[ ] ") == 2, out
    # with PTDaemon's version string, one analyzer passes the PTD-messages check; with two, the
    # checker wants the 3rd Stop refused, and that is analyzer 2's first (power-dev's own fail so)
    again = _official_check(sessions.checkout, _as_if_ptdaemon(client_dir, tmp_path / "copy")).stderr
    if analyzers == 1:
        assert "[x] Check PTD commands and replies" in again, again
    else:
        assert "Wrong reply for 'Stop' command. Expected 'Error: no measurement to stop'" in again, again
    assert again.count("[ ] ") == 1 + (analyzers > 1), again


@pytest.mark.slow
def test_station_verify_reads_both_analyzers_of_the_session(two_analyzer_session):
    client_dir, _, _ = two_analyzer_session
    r = verify_published(client_dir)
    checks = {c["name"]: c for c in r["checks"]}
    later = checks["analyzers after the first (not checked officially)"]
    # analyzer 2 is read: its model and device type, runs over both LoadGen windows, its own
    # readings; the station is not PTDaemon 1.11.1, and the check says so for analyzer 2 too
    ev = later["evidence"]
    assert "analyzer 2 YokogawaWT310E PTDaemon " in ev and " device type 49, ranging power/ptd_logs.txt:" in ev
    assert ev.count("covers the LoadGen window") == 2 and "valid readings of its own in the window" in ev
    assert "analyzer 2: PTDaemon " in ev and "is not accepted in" in ev
    unc = checks["PTD uncertainty reply (not checked officially)"]
    assert "analyzer 1 average" in unc["evidence"] and "analyzer 2 average" in unc["evidence"], unc
    assert unc["evidence"].startswith("power/ptd_logs.txt:")
    assert r["metric"] is not None and r["metric"]["samples"] > 0
    for name in ("uuid client", "session name", "phase times", "client/server messages"):
        assert checks[name]["status"] == "pass", checks[name]
