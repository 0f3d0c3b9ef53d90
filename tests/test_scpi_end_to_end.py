"""`station run` records from a WT310E reached over the network exactly as from the simulator.

The instrument is the device-like fake of the WT300E family, running in real time behind a
raw TCP socket on loopback; the station reaches it with a VISA resource string through
pyvisa-py (``TCPIP::127.0.0.1::<port>::SOCKET``), in a separate process, unaware of the fake.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from instruments.fakes.yokogawa import Wt300eDevice
from station.core.journal import JournalReader

ROOT = Path(__file__).resolve().parents[1]


def station_run(port: int, out: Path, duration: float) -> list[str]:
    """`station run` on the WT310E at ``port``: 0.1 s updates, fixed 300 V / 5 A ranges."""
    return [sys.executable, "-m", "station", "run", "--instrument", "wt300e",
            "--resource", f"TCPIP::127.0.0.1::{port}::SOCKET", "--interval", "0.1",
            "--duration", str(duration), "--voltage-range", "300", "--current-range", "5",
            "--json", "--out", str(out)]


def station_env(home: Path) -> dict:
    return {**os.environ, "STATION_HOME": str(home), "STATION_VISA_BACKEND": "@py"}


class WallClock:
    """The fake device's clock, following real time (the station runs in another process)."""

    def time(self):
        return time.time()

    def monotonic(self):
        return time.monotonic()

    def sleep(self, seconds):
        time.sleep(max(0.0, seconds))

    def advance(self, seconds):
        pass


@pytest.fixture
def wt310e_on_lan():
    device = Wt300eDevice(clock=WallClock(), model="WT310E", serial="C2PH13047V", firmware="F1.03")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve_one(conn):
        buf = b""
        with conn:
            conn.settimeout(0.2)
            while not stop.is_set():
                if not device.present:
                    return  # cable pulled: the connection dies
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    for reply in device.handle(line.decode().strip()):
                        conn.sendall(reply.encode() + b"\n")

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            if not device.present:
                conn.close()
                continue
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    yield device, srv.getsockname()[1]
    stop.set()
    srv.close()


@pytest.mark.slow
def test_station_run_over_visa_socket_records_like_the_simulator(wt310e_on_lan, tmp_path, station_home):
    device, port = wt310e_on_lan
    out = tmp_path / "wt"
    res = subprocess.run(station_run(port, out, duration=2), cwd=ROOT, env=station_env(station_home),
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    for key in ("samples", "duration_s", "avg_w", "min_w", "max_w", "energy_j"):
        assert key in summary
    assert summary["samples"] == 20
    assert summary["avg_w"] and summary["avg_w"] > 0
    assert summary["uncertainty_known_samples"] == summary["good_samples"]  # fixed ranges: known
    reader = JournalReader(out)
    ident = reader.instruments["inst0"].info["identity"]
    assert (ident["model"], ident["serial"]) == ("WT310E", "C2PH13047V")
    data = reader.samples()
    assert len(data) == 20
    assert (data["a_range"] == 5.0).all() and (data["v_range"] == 300.0).all()
    assert any(cmd.upper().startswith(":INPUT:CURRENT:RANGE") or cmd.upper().startswith(":INP:CURR:RANG")
               for cmd in device.received)


@pytest.mark.slow
def test_unplugged_analyzer_is_a_gap_with_events_and_the_run_goes_on(wt310e_on_lan, tmp_path, station_home):
    device, port = wt310e_on_lan
    out = tmp_path / "wt"
    proc = subprocess.Popen(station_run(port, out, duration=8), cwd=ROOT, env=station_env(station_home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    data_file = out / "samples-inst0.bin"
    while time.monotonic() < deadline and not (data_file.exists() and data_file.stat().st_size > 20 * 40):
        time.sleep(0.05)
    unplugged_at = time.time()
    device.unplug()
    time.sleep(2.5)
    device.plug()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    events = JournalReader(out).events()
    kinds = [e["kind"] for e in events]
    assert "disconnected" in kinds and "reconnected" in kinds
    lost = next(e for e in events if e["kind"] == "disconnected")
    assert lost["t"] - unplugged_at <= 2.0  # noticed within two seconds
    assert summary["gaps"] >= 1
    t = JournalReader(out).samples()["t"]
    before = t[t < unplugged_at]
    assert len(before) >= 20 and (abs(before[1:] - before[:-1] - 0.1) < 0.05).all()  # nothing lost before
    assert t[-1] > unplugged_at + 2.5  # and it measured again after the instrument came back
