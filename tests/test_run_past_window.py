"""``station run -o from_utc=T --duration D`` reads the past window [T, T + D] and nothing after it.

A real Prometheus serves a backfilled history (instruments/fakes/prometheus_history.py) in which
one node's exporter dies a few seconds after the window. Without ``-o until_utc``, the window
must end with the run: the records are the window's, the energy is its exact integral, and the
death that happens after it is no gap of this run. Skipped without prometheus/promtool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
from station.commands.run import past_window_ends_with_the_run
from station.core.journal import JournalReader
from station.measurement.instruments import InstrumentSpec

ROOT = Path(__file__).resolve().parents[1]
WINDOW_S = 20
DIES_AFTER_WINDOW_S = 6  # the second node's exporter dies this long after the window's end


@pytest.mark.skipif(PROMETHEUS is None or PROMTOOL is None,
                    reason="prometheus and promtool (Debian package prometheus) are not installed")
@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_past_window_ends_with_the_duration_when_until_utc_is_not_given(tmp_path, station_home):
    start = history_end() - 120
    series = [HistorySeries({"node": "n0"}, lambda t: 400.0 + 7.0 * (t % 5)),
              HistorySeries({"node": "n1"}, lambda t: 250.0, stops_at=start + WINDOW_S + DIES_AFTER_WINDOW_S)]
    text = tmp_path / "fleet.om"
    write_openmetrics(text, series, start - 60, start + 110)
    backfill(text, tmp_path / "tsdb")
    out = tmp_path / "run"
    env = {**os.environ, "STATION_HOME": str(station_home),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with PrometheusServer(tmp_path / "tsdb") as server:
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "station", "run", "--instrument", "prometheus",
                               "--resource", server.url, "-o", "query=node_power_watts", "-o", f"from_utc={start}",
                               "--duration", str(WINDOW_S), "--json", "--out", str(out)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        took = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert took < 60, f"replaying {WINDOW_S} s of history took {took:.1f} s"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["state"] == "complete"

    journal = JournalReader(out)
    options = journal.header["settings"]["instruments"][0]["options"]
    assert float(options["until_utc"]) == pytest.approx(start + WINDOW_S + 1)  # recorded with the run
    records = journal.samples("inst0")
    assert float(records["t"][0]) - 1.0 == pytest.approx(start)
    assert float(records["t"][-1]) == pytest.approx(start + WINDOW_S)
    assert summary["energy_j"] == pytest.approx(sum(exact_energy(s, start, start + WINDOW_S) for s in series),
                                                rel=1e-6)
    # n1 died after the window: not a gap of this run.
    assert [e for e in journal.events() if e["kind"] == "channel_gap"] == []
    assert summary["gaps"] == 0


def test_only_a_past_window_without_its_end_gets_one_and_an_explicit_end_is_kept():
    live = InstrumentSpec("prometheus", "http://127.0.0.1:9", {"query": "x"})
    past = InstrumentSpec("prometheus", "http://127.0.0.1:9", {"query": "x", "from_utc": "1750000000"},
                          interval_s=0.5)
    ended = InstrumentSpec("prometheus", "http://127.0.0.1:9", {"query": "x", "from_utc": "1750000000",
                                                                 "until_utc": "1750000100"})
    other = InstrumentSpec("sim")
    live2, past2, ended2, other2 = past_window_ends_with_the_run([live, past, ended, other], 30.0)
    assert live2 == live and ended2 == ended and other2 == other
    assert past2.options["until_utc"] == pytest.approx(1_750_000_030.5)
    assert past.options.get("until_utc") is None  # the caller's spec is not changed
