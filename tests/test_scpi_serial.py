"""The WT210 over RS-232 and the GPM-8213 over its USB serial port, through the same drivers as over VISA.

Each meter is its family's device-like fake behind a pty (:class:`instruments.fakes.serve.PtyDeviceServer`),
set to its own serial settings, answering CR LF as the real ones do (reference notes 1.1 and 2.2).
`station run` reaches it in another process with a VISA ``ASRL<port>::INSTR`` resource (pyvisa-py,
pyserial underneath) or a plain serial resource (``/dev/...``, ``serial://...?baudrate=``).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from instruments.base import InstrumentDisconnected
from instruments.fakes.gwinstek import Gpm8213Device
from instruments.fakes.serve import PtyDeviceServer, SerialLine, WallClock
from instruments.fakes.yokogawa import Wt210Device
from instruments.gwinstek import GPM8213
from instruments.transports.factory import transport_for
from instruments.yokogawa import WT210
from station.core.journal import JournalReader

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs ptys (POSIX)")

ROOT = Path(__file__).resolve().parents[1]
RS232 = SerialLine(baudrate=9600, bytesize=8, parity="N", stopbits=1)  # the WT210's settings (notes 1.1)
USB_CDC = SerialLine(baudrate=None)  # a virtual COM port: the baud rate set on the host does not matter


def station_run(driver: str, resource: str, out: Path, home: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "station", "run", "--instrument", driver, "--resource", resource,
           "--interval", "0.1", "--duration", "1", "--voltage-range", "300", "--current-range", "5",
           "--json", "--out", str(out)]
    env = {**os.environ, "STATION_HOME": str(home), "STATION_VISA_BACKEND": "@py"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def meter(driver: str):
    if driver == "wt210":
        return Wt210Device(clock=WallClock(), serial="91K123456"), RS232, "WT210"
    return Gpm8213Device(clock=WallClock(), serial="GEX170031"), USB_CDC, "GPM-8213"


RESOURCES = {
    "visa": lambda port: f"ASRL{port}::INSTR",  # pyvisa's ASRL default: 9600 8N1
    "plain": lambda port: os.path.realpath(port),  # the pty itself: /dev/pts/N
    "url": lambda port: f"serial://{port}?baudrate=9600&parity=N",
}


@pytest.mark.slow
@pytest.mark.parametrize(("driver", "form"), [("gpm8213", "visa"), ("gpm8213", "plain"),
                                              ("wt210", "visa"), ("wt210", "url")])
def test_station_run_over_a_serial_port_records_like_over_the_network(driver, form, tmp_path, station_home):
    device, line, model = meter(driver)
    out = tmp_path / "run"
    with PtyDeviceServer(device, tmp_path / "ttyMETER", line=line, line_ending="\r\n") as server:
        res = station_run(driver, RESOURCES[form](server.path), out, station_home)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["samples"] == 10 and summary["good_samples"] == 10
    assert summary["avg_w"] == pytest.approx(230.0 * 0.5 * 0.95, rel=1e-3)
    reader = JournalReader(out)
    assert reader.instruments["inst0"].info["identity"]["model"] == model
    data = reader.samples()
    assert (data["v_range"] == 300.0).all() and (data["a_range"] == 5.0).all()
    assert server.garbled == 0
    # What went down the line: commands ending in LF, never a stray CR the meter would keep.
    assert b"\r" not in bytes(server.raw_received)


def open_driver(cls, resource: str):
    drv = cls(transport_for(resource, timeout=0.5))
    drv.open()
    return drv


def test_wt210_at_another_baud_rate_is_not_understood_and_the_error_says_so(tmp_path):
    """An RS-232 meter set to 19200 baud: a host at 9600 gets nothing sensible; at 19200 it works."""
    device = Wt210Device(clock=WallClock())
    with PtyDeviceServer(device, tmp_path / "ttyS0", line=SerialLine(baudrate=19200)) as server:
        drv = WT210(transport_for(f"serial://{server.path}?baudrate=9600", timeout=0.5))
        with pytest.raises(InstrumentDisconnected, match="baud rate") as err:
            drv.open()
            drv.identify()
        drv.close()
        assert server.garbled >= 1
        assert "does not answer" in str(err.value)
        drv = open_driver(WT210, f"serial://{server.path}?baudrate=19200")
        try:
            assert drv.identify().model == "WT210"
        finally:
            drv.close()


def test_wt210_not_in_488_2_mode_is_told_to_switch(tmp_path):
    """Over RS-232 too, a WT210 left in its other command mode is named as such."""
    device = Wt210Device(clock=WallClock(), mode_4882=False)
    with PtyDeviceServer(device, tmp_path / "ttyS0", line=RS232) as server:
        drv = WT210(transport_for(os.path.realpath(server.path), timeout=0.5))
        with pytest.raises(InstrumentDisconnected) as err:
            drv.open()
            drv.identify()
        drv.close()
    assert "488.2" in str(err.value)


def test_gpm8213_unplugged_from_usb_is_a_disconnect_and_it_comes_back(tmp_path):
    """The virtual COM port vanishes with the meter; the same path works once it is back."""
    device = Gpm8213Device(clock=WallClock())
    with PtyDeviceServer(device, tmp_path / "ttyACM0", line=USB_CDC) as server:
        drv = open_driver(GPM8213, f"serial://{server.path}")
        assert drv.identify().model == "GPM-8213"
        server.unplug()
        with pytest.raises(InstrumentDisconnected):
            drv.identify()
        drv.close()
        server.plug()
        drv = open_driver(GPM8213, f"serial://{server.path}")
        try:
            assert drv.identify().model == "GPM-8213"
        finally:
            drv.close()
