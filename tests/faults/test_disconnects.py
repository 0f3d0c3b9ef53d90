"""100 random disconnects and reconnects during recorded runs, spread over every driver family.

Each family's device-like fake is unplugged at a random moment of a run and plugged back after
a random outage; the acquisition worker must notice, say so, reconnect and go on. The run is
recorded to a real journal on disk, which afterwards must hold every delivered sample in time
order, a GAP_BEFORE flag after every outage and a disconnected/reconnected event pair per cycle.
"""

from __future__ import annotations

import os
import random
import threading
import time

import numpy as np
import pytest

from instruments import registry
from instruments.base import AUTO, Config
from instruments.fakes import fake_for
from station.core.acquisition import InstrumentSession
from station.core.journal import JournalReader
from station.core.recording import Recording
from station.core.samples import Flag

TOTAL = int(os.environ.get("STATION_FAULT_DISCONNECTS", "100"))
DEADLINE = 60.0


def families() -> list[str]:
    out = []
    for name in sorted(registry.available()):
        bench = fake_for(name)
        if bench is not None and hasattr(bench, "unplug"):
            out.append(name)
        if bench is not None and hasattr(bench, "close"):
            bench.close()
    return out


FAMILIES = families()


def _interval(cls) -> float:
    desc = cls.description
    try:
        return float(desc.setting("update_interval_s").default)
    except KeyError:
        return max(desc.fastest_interval_s, min(1.0, desc.slowest_interval_s))


def _wait(cond, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not cond():
        assert time.monotonic() < deadline, f"{what} did not happen within {DEADLINE:g} s"
        time.sleep(0.005)


def _run_family(name: str, cycles: int, rng: random.Random, directory) -> None:
    cls = registry.available()[name]
    bench = fake_for(name)
    driver = cls(bench.transport, **bench.driver_kwargs)
    session = InstrumentSession("inst0", driver, Config(update_interval_s=_interval(cls)), AUTO, AUTO,
                                reconnect_interval_s=0.02)
    events: list[str] = []
    lock = threading.Lock()

    def listen(kind, t=None, **detail):
        with lock:
            events.append(kind)

    delivered = [0]

    def count(samples):
        delivered[0] += len(samples)

    session.add_listener(listen)
    session.add_sink(count)
    session.connect()
    rec = Recording(directory, [session], settings={"test": "disconnects"})
    rec.start()
    session.start()
    try:
        for k in range(cycles):
            before = delivered[0]
            _wait(lambda b=before: delivered[0] > b, f"{name}: samples before outage {k + 1}")
            time.sleep(rng.uniform(0.0, 0.05))  # a random moment to unplug: the stimulus
            bench.unplug()
            _wait(lambda k=k: events.count("disconnected") > k, f"{name}: outage {k + 1} noticed")
            time.sleep(rng.uniform(0.0, 0.05))  # a random outage length: the stimulus
            bench.plug(power_cycle=rng.random() < 0.3)
            _wait(lambda k=k: events.count("reconnected") > k, f"{name}: reconnection {k + 1}")
        before = delivered[0]
        _wait(lambda: delivered[0] > before, f"{name}: samples after the last outage")
    finally:
        session.stop()
        summary = rec.finish("complete")
        session.close()
        if hasattr(bench, "close"):
            bench.close()
    assert session.state != "failed", session.error
    data = np.asarray(JournalReader(directory).samples("inst0"))
    assert len(data) == summary["samples"] == delivered[0], name
    assert np.all(np.diff(data["t"]) > 0), f"{name}: sample times go back"
    gaps = int(np.count_nonzero(data["flags"] & int(Flag.GAP_BEFORE)))
    assert gaps >= cycles, f"{name}: {gaps} gap flags for {cycles} outages"
    assert events.count("disconnected") == events.count("reconnected") == cycles, (name, events[-6:])


@pytest.mark.slow
@pytest.mark.timeout(max(300, 3 * TOTAL))  # ~0.3 s an outage; the soak sets thousands
def test_random_disconnects_over_every_family_lose_nothing_delivered(tmp_path, station_home):
    assert len(FAMILIES) >= 5, FAMILIES  # the SCPI families, the LPM01A and PTDaemon at least
    rng = random.Random(1128)
    per = {name: TOTAL // len(FAMILIES) + (1 if i < TOTAL % len(FAMILIES) else 0)
           for i, name in enumerate(FAMILIES)}
    for name, cycles in per.items():
        _run_family(name, cycles, rng, tmp_path / name)
    assert sum(per.values()) == TOTAL
