"""The MLCommons protocol client killed (kill -9) at random moments of its session.

`station serve` runs as its own process on the simulated analyzer; each client is a real
process speaking protocol v3 (tests/helpers/mlcommons_client.py) through ranging and into a testing
run, killed at a random moment: mid-phase, mid-command (during the settle time), or between
phases. After each kill the director must end that session itself: the phase in progress
stopped, its spl.txt and journal written with every second measured up to the kill, the session
marked ``abandoned`` with the reason, and the next client served. The last client then runs a
whole session on the same director.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from station.core.journal import JournalReader
from tests.helpers.director_files import director_state, spl_rows
from tests.helpers.mlcommons_client import run_session
from tests.helpers.processes import REPO_ROOT, Director
from tests.helpers.waiting import wait_until

KILLS = int(os.environ.get("STATION_FAULT_CLIENT_KILLS", "6"))
RATE = 100  # the director's sample rate (tests/helpers/processes.py's Director)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")]

CLIENT = """
import sys, time
from tests.helpers.mlcommons_client import PowerClient
c = PowerClient("127.0.0.1", int(sys.argv[1]))
c.handshake()
s, _ = c.new(sys.argv[2])
print("session", s, flush=True)
for mode in ("ranging", "testing"):
    c.ok(f"session,{s},start,{mode}")
    print("started", mode, time.monotonic(), flush=True)
    time.sleep(1.5)  # the workload: the phase runs this long
    c.ok(f"session,{s},stop,{mode}")
    print("stopped", mode, flush=True)
time.sleep(60)  # idle until the test kills this client
"""


@pytest.mark.timeout(max(300, 30 * KILLS))  # ~3 s a kill; the soak sets more
def test_client_killed_at_random_moments_every_session_ends_cleanly(tmp_path):
    rng = random.Random(20261129)
    d = Director(tmp_path / "out", tmp_path / "home")
    outcomes = []
    try:
        for k in range(KILLS):
            client = subprocess.Popen([sys.executable, "-c", CLIENT, str(d.port), f"kill{k}"], cwd=REPO_ROOT,
                                      stdout=subprocess.PIPE, text=True)
            first = client.stdout.readline().split()
            assert first[:1] == ["session"], first
            session = first[1]
            delay = rng.uniform(0.2, 4.5)  # ranging starts at once; testing after ~1.5 s + settle
            time.sleep(delay)  # the random kill moment is the stimulus, nothing is awaited
            client.send_signal(signal.SIGKILL)
            client.wait(10)
            said = client.stdout.read().split("\n")
            started = [line.split()[1] for line in said if line.startswith("started")]
            stopped = [line.split()[1] for line in said if line.startswith("stopped")]
            sdir = d.out / session
            state = wait_until(lambda s=sdir: (st := director_state(s)).get("state") == "abandoned" and st,
                               30, f"session {session} abandoned")
            assert "vanished" in state["reason"]
            log = sdir / "power" / "server.log"  # written after the session's state
            wait_until(lambda p=log: p.is_file() and "Client connection closed unexpectedly" in p.read_text(),
                       30, "server.log naming the closed connection")
            assert set(started) <= set(state["phases"]), (started, state["phases"])
            for mode, phase in state["phases"].items():
                # A phase the client stopped is complete; one it did not is stopped by the director
                # (complete if the kill came after the stop command was sent); either way its files
                # hold what was measured up to the end.
                assert phase["state"] in (("complete",) if mode in stopped else ("complete", "abandoned")), phase
                spl = sdir / ("ranging" if mode == "ranging" else "run_1") / "spl.txt"
                rows = [line for line in spl.read_text().splitlines() if line.startswith("Time,")]
                records = JournalReader(sdir / "journal" / mode).samples()
                assert len(records) == phase["records"]
                span = float(records["t"][-1] - records["t"][0]) if len(records) else 0.0
                assert abs(len(records) - span * RATE) <= 2  # no hole in the journal
                assert abs(len(rows) - span) <= 2  # one spl line per measured second
            outcomes.append((round(delay, 2), sorted(state["phases"]), {m: p["state"] for m, p in state["phases"].items()}))
        # The director is still healthy: a whole session on it.
        c = d.client()
        try:
            session = run_session(c, 1.2, tmp_path / "client", label="after")
        finally:
            c.close()
        final = director_state(d.out / session)
        assert final["state"] == "complete", final
        assert len(spl_rows(tmp_path / "client" / "run_1" / "spl.txt")) >= 1
    finally:
        rc = d.stop()
    assert rc == 0, d.log()
    print(f"client kills (delay s, phases, their end states): {outcomes}")
    assert len(outcomes) == KILLS
    landed = {"testing" if "testing" in phases else "ranging" if phases else "before" for _, phases, _ in outcomes}
    assert {"ranging", "testing"} <= landed, f"the kills did not land both in ranging and in testing: {outcomes}"
