"""A real Prometheus over a backfilled fleet history, read by ``station run`` without waiting.

A synthetic history (four nodes, six series, one sample per second, profiles whose integral is
known exactly) is written as OpenMetrics, turned into TSDB blocks by ``promtool tsdb
create-blocks-from openmetrics``, and served by the Debian ``prometheus`` binary on 127.0.0.1.
``station run --instrument prometheus -o from_utc=T`` replays 60 s of it as fast as Prometheus
answers. One series goes stale for a while (its BMC stops updating, then recovers) and one node
stops for good (its exporter died): both are gaps, reported, bridged at their mean (they are
constant, so the bridge is exact), and the energy matches the exact integral. Skipped when
prometheus or promtool is absent.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from instruments.base import ConfigurationError
from instruments.fakes.clock import FakeClock
from instruments.fakes.prometheus_history import (
    PROMETHEUS,
    PROMTOOL,
    HistorySeries,
    PrometheusServer,
    backfill,
    exact_energy,
    history_end,
    write_openmetrics,
)
from instruments.prometheus import PrometheusSeries, ReplayClock
from station.core.journal import JournalReader

ROOT = Path(__file__).resolve().parents[1]
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None or PROMTOOL is None,
                                      reason="prometheus and promtool (Debian package prometheus) are not installed")

RUN_S = 60


def fleet_history(start: int) -> list[HistorySeries]:
    """Six series of four nodes; ``start`` is where the replayed run begins."""
    return [
        HistorySeries({"node": "n0", "psu": "0"}, lambda t: 300.0 + 5.0 * (t % 10)),
        HistorySeries({"node": "n0", "psu": "1"}, lambda t: 250.0 + 20.0 * math.sin(t / 5.0)),
        HistorySeries({"node": "n1", "psu": "0"}, lambda t: 200.0 + 3.0 * (t % 4)),
        # the BMC stops updating this reading for 25 s, then recovers
        HistorySeries({"node": "n1", "psu": "1"}, lambda t: 120.0, stops_at=start + 10, resumes_at=start + 35),
        # the exporter of node n2 dies
        HistorySeries({"node": "n2", "psu": "0"}, lambda t: 150.0, stops_at=start + 25),
        HistorySeries({"node": "n3", "psu": "0"}, lambda t: 180.0 + (t * 7 % 11)),
    ]


def true_energy(s: HistorySeries, a: float, b: float) -> float:
    """What the series really drew: the stopped ones are constant, so their gaps are known too."""
    if s.stops_at < math.inf:
        return s.power(0) * (b - a)
    return exact_energy(s, a, b)


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory):
    """(url, run start, series): the history in a data dir and a Prometheus serving it."""
    root = tmp_path_factory.mktemp("history")
    end = history_end()
    start = end - RUN_S - 30
    series = fleet_history(start)
    text = root / "fleet.om"
    write_openmetrics(text, series, start - 90, end)
    backfill(text, root / "tsdb")
    with PrometheusServer(root / "tsdb") as server:
        yield server.url, start, series


@needs_prometheus
@pytest.mark.timeout(120)
def test_station_run_replays_a_backfilled_fleet_with_the_exact_energy_and_both_gaps(tmp_path, station_home,
                                                                                     backfilled):
    url, start, series = backfilled
    out = tmp_path / "run"
    env = {**os.environ, "STATION_HOME": str(station_home),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    began = time.monotonic()
    # until_utc: one record past the duration, the one that tells the recording it has its 60 s
    done = subprocess.run([sys.executable, "-m", "station", "run", "--instrument", "prometheus", "--resource", url,
                           "-o", "query=node_power_watts", "-o", f"from_utc={start}",
                           "-o", f"until_utc={start + RUN_S + 1}", "--duration", str(RUN_S),
                           "--json", "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=100)
    took = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert took < RUN_S / 2, f"replaying {RUN_S} s of history took {took:.1f} s: it waited for real time"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["state"] == "complete"
    assert summary["duration_s"] == pytest.approx(RUN_S, abs=1.01)

    journal = JournalReader(out)
    records = journal.samples("inst0")
    a, b = float(records["t"][0]) - 1.0, float(records["t"][-1])
    assert a == pytest.approx(start)  # the records are the history's, not the present's
    exact = sum(true_energy(s, a, b) for s in series)
    assert summary["energy_j"] == pytest.approx(exact, rel=1e-6)

    names = journal.instruments["inst0"].info["driver_settings"]["channel_names"]
    assert sorted(names) == sorted(s.name() for s in series)
    gaps = [e for e in journal.events() if e["kind"] == "channel_gap"]
    began_gap = sorted(e["series"] for e in gaps if e.get("state") == "begin")
    assert began_gap == sorted([series[3].name(), series[4].name()])
    ended_gap = [e for e in gaps if e.get("state") == "end"]
    assert [e["series"] for e in ended_gap] == [series[3].name()]
    assert ended_gap[0]["length_s"] == pytest.approx(25.0, abs=2.0)
    assert summary["gaps"] >= 2
    # The other series went on: a measured power in every record.
    for k, name in enumerate(names):
        if name not in began_gap:
            assert not any(math.isnan(x) for x in records["ch_w"][:, k]), name


def test_the_replay_clock_runs_ahead_while_behind_and_waits_for_real_once_it_has_caught_up():
    real = FakeClock(start_utc=1_750_000_100.0)
    replay = ReplayClock(1_750_000_000.0, real)
    replay.sleep(60.0)
    assert replay.time() == 1_750_000_060.0 and real.slept == 0.0  # history: no waiting
    replay.sleep(60.0)  # 20 s of it lie in the future: those are waited for
    assert replay.time() == 1_750_000_120.0 and real.slept == pytest.approx(20.0)
    assert replay.behind_s() == pytest.approx(0.0)


def test_a_replay_window_that_ends_before_it_begins_is_refused():
    with pytest.raises(ConfigurationError, match="until_utc"):
        PrometheusSeries(None, url="http://127.0.0.1:9", query="x", from_utc=1_750_000_100.0,
                         until_utc=1_750_000_000.0)
