"""`station run` records from every SCPI analyzer family reached over the network as from the simulator.

Each instrument is its family's device-like fake, running in real time behind a raw TCP socket
on loopback (:class:`instruments.fakes.serve.TcpDeviceServer`); the station reaches it with a
VISA resource string through pyvisa-py (``TCPIP::127.0.0.1::<port>::SOCKET``) or as a bare
``host:port``, in a separate process, unaware of the fake.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from instruments.fakes.gwinstek import Gpm8213Device
from instruments.fakes.rohde_schwarz import Hmc8015Device
from instruments.fakes.serve import TcpDeviceServer, WallClock
from instruments.fakes.yokogawa import Wt210Device, Wt300eDevice, Wt500Device
from station.core.journal import JournalReader
from tests.helpers.sample_blocks import missed_updates

ROOT = Path(__file__).resolve().parents[1]

# driver name -> (fake device factory, model as identified, serial in *IDN?)
FAMILIES = {
    "wt300e": (lambda clock: Wt300eDevice(clock=clock, model="WT310E", serial="C2PH13047V", firmware="F1.03"),
               "WT310E", "C2PH13047V"),
    "wt210": (lambda clock: Wt210Device(clock=clock, serial="91K123456"), "WT210", "91K123456"),
    "wt500": (lambda clock: Wt500Device(clock=clock, model="760201", serial="91M223344"), "WT500", "91M223344"),
    "hmc8015": (lambda clock: Hmc8015Device(clock=clock, serial="023456"), "HMC8015", "023456"),
    "gpm8213": (lambda clock: Gpm8213Device(clock=clock, serial="GEX170031"), "GPM-8213", "GEX170031"),
}
# The command each family uses to fix the current range (its own dialect, as the device parses it).
CURRENT_RANGE_HEADERS = {"wt300e": ":INP:CURR:RANG", "wt210": ":CONF:CURR:RANG", "wt500": ":INP:CURR:RANG",
                         "hmc8015": "CHAN1:CURR:RANG", "gpm8213": ":INP:CURR:RANG"}


def station_run(driver: str, resource: str, out: Path, duration: float) -> list[str]:
    """`station run` on ``driver`` at ``resource``: 0.1 s updates, fixed 300 V / 5 A ranges."""
    return [sys.executable, "-m", "station", "run", "--instrument", driver, "--resource", resource,
            "--interval", "0.1", "--duration", str(duration), "--voltage-range", "300",
            "--current-range", "5", "--json", "--out", str(out)]


def station_env(home: Path) -> dict:
    return {**os.environ, "STATION_HOME": str(home), "STATION_VISA_BACKEND": "@py"}


def on_lan(driver: str):
    make, model, serial = FAMILIES[driver]
    device = make(WallClock())
    return device, TcpDeviceServer(device), model, serial


@pytest.mark.slow
@pytest.mark.parametrize("driver", sorted(FAMILIES))
def test_station_run_over_visa_socket_records_like_the_simulator(driver, tmp_path, station_home):
    device, server, model, serial = on_lan(driver)
    out = tmp_path / driver
    with server:
        res = subprocess.run(station_run(driver, server.visa_resource, out, duration=1), cwd=ROOT,
                             env=station_env(station_home), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    for key in ("samples", "duration_s", "avg_w", "min_w", "max_w", "energy_j"):
        assert key in summary
    # ten 0.1 s updates in 1 s; a loaded machine's poll loop may miss one, which then shows as a
    # longer step between samples (time is never lost): readings + missed updates = 10
    data = JournalReader(out).samples()
    assert summary["samples"] == len(data) and len(data) + missed_updates(data, 0.1) == 10
    load_w = 230.0 * 0.5 * 0.95  # the fake's default load
    assert summary["avg_w"] == pytest.approx(load_w, rel=1e-3)
    assert summary["uncertainty_known_samples"] == summary["good_samples"] == len(data)  # fixed ranges: known
    reader = JournalReader(out)
    ident = reader.instruments["inst0"].info["identity"]
    assert (ident["model"], ident["serial"]) == (model, serial)
    data = reader.samples()
    assert (data["a_range"] == 5.0).all() and (data["v_range"] == 300.0).all()
    assert (abs(data["v"] - 230.0) < 0.1).all() and (abs(data["a"] - 0.5) < 1e-3).all()
    header = CURRENT_RANGE_HEADERS[driver]
    assert any(cmd.upper().startswith(header) for msg in device.received for cmd in msg.split(";"))


@pytest.mark.slow
def test_bare_host_port_reaches_a_gpm8213_on_its_lan_port(tmp_path, station_home):
    """The GPM-8213's LAN port is a raw socket whose replies end CR LF; `host:port` reaches it."""
    device = Gpm8213Device(clock=WallClock(), serial="GEX170031")
    out = tmp_path / "gpm"
    with TcpDeviceServer(device, line_ending="\r\n") as server:
        res = subprocess.run(station_run("gpm8213", f"{server.host}:{server.port}", out, duration=1), cwd=ROOT,
                             env=station_env(station_home), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    data = JournalReader(out).samples()
    assert json.loads(res.stdout)["samples"] == len(data) and len(data) + missed_updates(data, 0.1) == 10
    assert JournalReader(out).instruments["inst0"].info["identity"]["model"] == "GPM-8213"


def wait_for_samples(out: Path, count: int, proc: subprocess.Popen) -> None:
    data_file = out / "samples-inst0.bin"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if data_file.exists() and data_file.stat().st_size > count * 40:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {count} samples recorded: {proc.poll()=}")


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["wt300e", "hmc8015"])
def test_unplugged_analyzer_is_a_gap_with_events_and_the_run_goes_on(driver, tmp_path, station_home):
    device, server, _, _ = on_lan(driver)
    out = tmp_path / driver
    with server:
        proc = subprocess.Popen(station_run(driver, server.visa_resource, out, duration=6), cwd=ROOT,
                                env=station_env(station_home), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            wait_for_samples(out, 10, proc)
            unplugged_at = time.time()
            server.unplug()
            time.sleep(2.5)  # the outage lasts a while: the stimulus
            server.plug()
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    events = JournalReader(out).events()
    kinds = [e["kind"] for e in events]
    assert "disconnected" in kinds and "reconnected" in kinds
    lost = next(e for e in events if e["kind"] == "disconnected")
    assert lost["t"] - unplugged_at <= 2.0  # noticed within two seconds
    assert summary["gaps"] >= 1
    assert server.connections >= 2  # it connected again after the device came back
    t = JournalReader(out).samples()["t"]
    before = t[t < unplugged_at]
    assert len(before) >= 10 and (abs(before[1:] - before[:-1] - 0.1) < 0.05).all()  # nothing lost before
    assert t[-1] > unplugged_at + 2.5  # and it measured again after the instrument came back
