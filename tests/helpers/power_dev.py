"""The unmodified official power-dev tools in tests: a copy of mlcommons/power-dev taken from a
fetched snapshot (never committed here), an NTP server its client can ask, and a stand-in LoadGen
that writes the two log files the client collects."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

POWER_DEV_MIRROR = Path(os.environ.get("STATION_POWER_DEV_MIRROR", "/work/.mirror/mlcommons+power-dev/repo"))


def power_dev_checkout(where: Path) -> Path | None:
    """mlcommons/power-dev's tree at the snapshot's HEAD, extracted into ``where`` with
    ``git archive``; None when no snapshot (or no git) is there."""
    if not (POWER_DEV_MIRROR / "HEAD").is_file():
        return None
    where.mkdir(parents=True, exist_ok=True)
    archive = where / "power-dev.tar"
    try:
        subprocess.run(["git", "--git-dir", str(POWER_DEV_MIRROR), "archive", "--format=tar", "-o", str(archive),
                        "HEAD"], check=True, capture_output=True, timeout=120)
        subprocess.run(["tar", "-xf", str(archive), "-C", str(where)], check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    archive.unlink()
    return where if (where / "ptd_client_server" / "client.py").is_file() else None


FAKE_LOADGEN = r'''
import json, os, sys, time
from datetime import datetime, timezone
indir, seconds = sys.argv[1], float(sys.argv[2])
def stamp(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%m-%d-%Y %H:%M:%S.%f")[:-3]
def line(key, value):
    return ":::MLLOG " + json.dumps({"key": key, "value": value, "time_ms": 0.0, "namespace": "mlperf::logging",
        "event_type": "POINT_IN_TIME", "metadata": {"is_error": False, "is_warning": False, "file": "fake",
        "line_no": 1, "pid": os.getpid(), "tid": 1}}) + "\n"
time.sleep(0.2)
begin = time.time()
time.sleep(seconds)  # the fake benchmark's run: its length is the stimulus, nothing is awaited
end = time.time()
out = os.path.join(indir, str(time.time_ns()))
os.makedirs(out)
with open(os.path.join(out, "mlperf_log_detail.txt"), "w") as f:
    f.write(line("effective_scenario", "Offline") + line("power_begin", stamp(begin))
            + line("power_end", stamp(end)) + line("result_query_count", 100))
with open(os.path.join(out, "mlperf_log_summary.txt"), "w") as f:
    f.write("Scenario : Offline\nSamples per second: 42.0\nResult is : VALID\n")
time.sleep(0.2)
'''


class FakeNtp:
    """An NTP server on 127.0.0.1:123 answering with this machine's clock (offset ~0)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 123))
        self.sock.settimeout(0.2)
        self.running = True
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        def ntp(t: float) -> tuple[int, int]:
            t += 2208988800
            return int(t), int((t % 1) * 2**32)

        while self.running:
            try:
                data, addr = self.sock.recvfrom(512)
            except OSError:
                continue
            if len(data) < 48:
                continue
            recv = ntp(time.time())
            orig = struct.unpack("!II", data[40:48])
            tx = ntp(time.time())
            reply = struct.pack("!BBbb11I", (0 << 6) | (4 << 3) | 4, 1, 0, -20, 0, 0, 0x4C4F434C,
                                *recv, *orig, *recv, *tx)
            self.sock.sendto(reply, addr)

    def close(self) -> None:
        self.running = False
        self.sock.close()
