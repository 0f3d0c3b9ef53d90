"""Transports against real peers, resource strings, and instrument discovery.

TCP runs against a loopback server thread, serial against a pty pair with a thread playing
the device on the master side, VISA against pyvisa-sim (a YAML written here) and against
pyvisa-py over loopback sockets and ptys. Nothing here needs hardware or files outside the
checkout.
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time

import pytest

from instruments import discovery
from instruments.transports import TransportError, TransportTimeout, open_transport
from instruments.transports import visa as visa_module
from instruments.transports.factory import transport_for
from instruments.transports.serial import SerialTransport
from instruments.transports.tcp import TcpTransport
from instruments.transports.visa import VisaTransport, backend_name, resource_manager

IDN = "YOKOGAWA,WT310E,C2PH13047V,F1.03"
BLOCK = bytes(range(256))  # every byte value, \r \n and NUL included


# -- devices ------------------------------------------------------------------------------------------
class Script:
    """What a fake instrument does with each command line; shared by the TCP and pty devices."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.half_sent = threading.Event()

    def respond(self, line: bytes, send) -> bool:
        """Act on one command; True to hang up."""
        self.received.append(line)
        if line == b"*IDN?":  # one reply in three pieces, the CR LF split between two of them
            send(IDN[:16].encode())
            time.sleep(0.03)  # the pieces arrive apart, as over a slow link
            send(IDN[16:].encode() + b"\r")
            time.sleep(0.03)  # (pacing the fake device)
            send(b"\n")
        elif line == b"TWO?":  # two replies in one packet
            send(b"1.5E+00\n2.5E+00\n")
        elif line == b"HALF?":  # half a reply; the rest only after REST
            send(b"12.5E+00,")
            self.half_sent.set()
        elif line == b"REST":
            send(b"230.1E+00\r\n")
        elif line == b"BIN?":  # a binary block in pieces
            for i in range(0, len(BLOCK), 100):
                send(BLOCK[i:i + 100])
                time.sleep(0.01)  # the pieces arrive apart, as over a slow link
        elif line == b"SHORT?":  # fewer bytes than the reader asks for
            send(b"abc")
        elif line == b"BYE":
            return True
        return False  # anything else (SILENT?) gets no answer


class Mute(Script):
    """An instrument that never answers (a wrong port, a device in another mode)."""

    def respond(self, line: bytes, send) -> bool:
        self.received.append(line)
        return False


class LoopbackInstrument:
    """A TCP instrument on 127.0.0.1 that accepts connection after connection."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script or Script()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buf = b""
                hang_up = False
                while not hang_up:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        break
                    if not data:
                        break
                    buf += data
                    while b"\n" in buf and not hang_up:
                        line, buf = buf.split(b"\n", 1)
                        hang_up = self.script.respond(line.rstrip(b"\r"), conn.sendall)

    def close(self) -> None:
        self.server.close()


class PtyInstrument:
    """A serial instrument behind a pty: the transport opens ``port``, a thread answers on the master."""

    def __init__(self, script: Script | None = None) -> None:
        import tty

        self.script = script or Script()
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo or newline translation before the transport configures it
        self.port = os.ttyname(self.slave)
        self.unplugged = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.rstrip(b"\r")
                if line == b"UNPLUG":
                    self.script.received.append(line)
                    os.close(self.master)
                    self.unplugged.set()
                    return
                self.script.respond(line, self._send)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for fd in (self.slave, *(() if self.unplugged.is_set() else (self.master,))):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def lan_device():
    dev = LoopbackInstrument()
    yield dev
    dev.close()


@pytest.fixture
def pty_device():
    if not hasattr(os, "openpty") or sys.platform == "win32":
        pytest.skip("needs a pty")
    dev = PtyInstrument()
    yield dev
    dev.close()


SIM_YAML = """\
spec: "1.1"
devices:
  WT310E:
    eom:
      USB INSTR:
        q: "\\n"
        r: "\\n"
      TCPIP INSTR:
        q: "\\n"
        r: "\\n"
      ASRL INSTR:
        q: "\\n"
        r: "\\r\\n"
    error:
      error_queue:
        - q: ':STAT:ERR?'
          default: '0,"No error"'
          command_error: '113,"Undefined header"'
    dialogues:
      - q: "*IDN?"
        r: "YOKOGAWA,WT310E,C2PH13047V,F1.03"
      - q: ":NUM:NORM:VAL?"
        r: "230.12E+00,0.43210E+00,98.765E+00,NAN,INF"
    properties:
      voltage_range:
        default: 300.0
        getter:
          q: ":INP:VOLT:RANG?"
          r: "{:.1E}"
        setter:
          q: ":INP:VOLT:RANG {:g}"
        specs:
          valid: [15, 30, 60, 150, 300, 600]
          type: float
resources:
  USB0::0x0B21::0x0025::C2PH13047V::INSTR:
    device: WT310E
  TCPIP0::192.0.2.10::inst0::INSTR:
    device: WT310E
  ASRL3::INSTR:
    device: WT310E
"""


@pytest.fixture
def sim_backend(tmp_path) -> str:
    pytest.importorskip("pyvisa_sim")
    path = tmp_path / "wt310e.yaml"
    path.write_text(SIM_YAML)
    return f"{path}@sim"


# -- TCP ----------------------------------------------------------------------------------------------
def test_tcp_reply_split_over_packets_and_crlf_comes_back_as_one_clean_line(lan_device):
    with TcpTransport("127.0.0.1", lan_device.port) as t:
        assert t.query("*IDN?") == IDN
        t.write("TWO?")
        assert [t.read_line(), t.read_line()] == ["1.5E+00", "2.5E+00"]
    assert lan_device.script.received[:2] == [b"*IDN?", b"TWO?"]


def test_tcp_timeout_keeps_the_partial_line_until_the_rest_arrives(lan_device):
    with TcpTransport("127.0.0.1", lan_device.port, timeout=2.0) as t:
        t.write("HALF?")
        assert lan_device.script.half_sent.wait(2)
        with pytest.raises(TransportTimeout, match=r"partial") as err:
            t.read_line(timeout=0.2)
        assert "tcp://127.0.0.1" in str(err.value)
        assert t.is_open  # a timeout is not a lost connection
        t.write("REST")
        assert t.read_line() == "12.5E+00,230.1E+00"  # nothing of the first half was lost


def test_tcp_binary_block_and_a_short_read(lan_device):
    with TcpTransport("127.0.0.1", lan_device.port) as t:
        t.write("BIN?")
        assert t.read_bytes(len(BLOCK)) == BLOCK
        t.write("SHORT?")
        assert t.read_bytes(10, timeout=0.3) == b"abc"  # fewer bytes when the timeout passes


def test_tcp_instrument_hanging_up_is_an_error_and_open_reconnects(lan_device):
    t = TcpTransport("127.0.0.1", lan_device.port)
    t.open()
    t.write("BYE")
    with pytest.raises(TransportError, match="closed by the instrument") as err:
        t.read_line()
    assert not isinstance(err.value, TransportTimeout)
    assert not t.is_open
    t.open()
    assert t.query("*IDN?") == IDN
    assert lan_device.connections == 2
    t.close()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    return port


def test_tcp_refused_connection_names_the_address():
    port = _free_port()
    t = TcpTransport("127.0.0.1", port, connect_timeout=2.0)
    with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
        t.open()
    assert not t.is_open


def test_tcp_options_from_the_url_are_used(lan_device):
    t = open_transport(f"tcp://127.0.0.1:{lan_device.port}?timeout=0.25&read_termination=%0A")
    assert isinstance(t, TcpTransport) and t.timeout == 0.25
    with t:
        t.write("SILENT?")
        with pytest.raises(TransportTimeout, match="0.25 s"):
            t.read_line()


# -- serial -------------------------------------------------------------------------------------------
def test_serial_split_crlf_reply_and_flushed_commands(pty_device):
    with SerialTransport(pty_device.port, read_termination="\r\n", timeout=2.0) as t:
        assert t.query("*IDN?") == IDN
        t.write("TWO?")
        assert [t.read_line(), t.read_line()] == ["1.5E+00", "2.5E+00"]
    assert pty_device.script.received[:2] == [b"*IDN?", b"TWO?"]


def test_serial_default_termination_also_strips_the_cr(pty_device):
    with SerialTransport(pty_device.port) as t:
        assert t.query("*IDN?") == IDN


def test_serial_timeout_keeps_the_partial_line(pty_device):
    with SerialTransport(pty_device.port, timeout=2.0) as t:
        t.write("HALF?")
        assert pty_device.script.half_sent.wait(2)
        with pytest.raises(TransportTimeout, match="partial"):
            t.read_line(timeout=0.2)
        assert t.is_open
        t.write("REST")
        assert t.read_line() == "12.5E+00,230.1E+00"


def test_serial_binary_reads(pty_device):
    with SerialTransport(pty_device.port) as t:
        t.write("BIN?")
        assert t.read_bytes(len(BLOCK)) == BLOCK
        t.write("SHORT?")
        assert t.read_bytes(10, timeout=0.3) == b"abc"


def test_serial_device_disappearing_is_a_disconnect(pty_device):
    t = SerialTransport(pty_device.port, timeout=2.0)
    t.open()
    with pytest.raises(TransportError, match="disconnected") as err:
        # The port may vanish while the write is still draining (the write fails) or after it.
        t.write("UNPLUG")
        assert pty_device.unplugged.wait(2)
        t.read_line()
    assert pty_device.unplugged.is_set()
    assert not isinstance(err.value, TransportTimeout)
    assert pty_device.port in str(err.value)
    assert not t.is_open


def test_serial_settings_reach_the_port(pty_device):
    import termios

    with SerialTransport(pty_device.port, baudrate=19200, stopbits=2, rtscts=True):
        attrs = termios.tcgetattr(pty_device.slave)
    assert attrs[4] == attrs[5] == termios.B19200  # output, input speed
    assert attrs[2] & termios.CSTOPB
    assert attrs[2] & termios.CRTSCTS


def test_serial_port_in_use_is_refused_and_a_missing_port_is_named(pty_device, tmp_path):
    first = SerialTransport(pty_device.port)
    first.open()
    try:
        with pytest.raises(TransportError, match="in use"):
            SerialTransport(pty_device.port).open()
    finally:
        first.close()
    missing = str(tmp_path / "ttyUSB9")
    with pytest.raises(TransportError, match="no such port") as err:
        SerialTransport(missing).open()
    assert missing in str(err.value)


@pytest.mark.parametrize("bad", [dict(baudrate="fast"), dict(parity="X"), dict(bytesize=9), dict(stopbits=3)])
def test_serial_rejects_impossible_settings_before_any_io(bad):
    with pytest.raises(ValueError):
        SerialTransport("/dev/ttyUSB0", **bad)


# -- VISA: backend choice -----------------------------------------------------------------------------
def test_without_a_vendor_visa_pyvisa_py_is_used(monkeypatch):
    monkeypatch.delenv(visa_module.ENV_BACKEND, raising=False)
    monkeypatch.setattr(visa_module, "_vendor_visa_present", lambda: False)
    assert backend_name(resource_manager()) == "@py"


def test_a_broken_vendor_visa_falls_back_to_pyvisa_py(monkeypatch):
    import pyvisa

    real = pyvisa.ResourceManager

    def fake(backend=""):
        if backend in ("", "@ivi"):
            raise OSError("libvisa.so: wrong ELF class")
        return real(backend)

    monkeypatch.delenv(visa_module.ENV_BACKEND, raising=False)
    monkeypatch.setattr(visa_module, "_vendor_visa_present", lambda: True)
    monkeypatch.setattr(pyvisa, "ResourceManager", fake)
    assert backend_name(resource_manager()) == "@py"


def test_the_environment_variable_chooses_the_backend(monkeypatch, sim_backend):
    monkeypatch.setenv(visa_module.ENV_BACKEND, sim_backend)
    t = VisaTransport("TCPIP0::192.0.2.10::inst0::INSTR")
    with t:
        assert t.query("*IDN?") == IDN
    assert t.backend_in_use == "@sim"


def test_an_unusable_backend_is_a_clear_error(tmp_path):
    t = VisaTransport("TCPIP::192.0.2.10::INSTR", backend=f"{tmp_path / 'missing.yaml'}@sim")
    with pytest.raises(TransportError, match="backend .* cannot be used"):
        t.open()


# -- VISA: pyvisa-sim ---------------------------------------------------------------------------------
@pytest.mark.parametrize("resource", ["TCPIP0::192.0.2.10::inst0::INSTR", "USB0::0x0B21::0x0025::C2PH13047V::INSTR",
                                      "ASRL3::INSTR"])
def test_visa_sim_identity_over_each_interface(sim_backend, resource):
    with open_transport(resource, backend=sim_backend) as t:
        assert t.query("*IDN?") == IDN  # ASRL replies end CR LF: the CR is gone too
        assert t.query(":NUM:NORM:VAL?").split(",")[-2:] == ["NAN", "INF"]


def test_visa_unknown_command_times_out_keeps_the_session_and_is_in_the_error_queue(sim_backend):
    with VisaTransport("TCPIP0::192.0.2.10::inst0::INSTR", backend=sim_backend, timeout=1.0) as t:
        with pytest.raises(TransportTimeout, match=r"TCPIP0::192.0.2.10::inst0::INSTR did not answer within 0.2 s"):
            t.query(":NOT:A:COMMAND?", timeout=0.2)
        assert t.is_open
        assert t.query(":STAT:ERR?") == '113,"Undefined header"'
        assert t.query(":STAT:ERR?") == '0,"No error"'
        t.write(":INP:VOLT:RANG 150")
        assert t.query(":INP:VOLT:RANG?") == "1.5E+02"


def test_visa_unreachable_instrument_is_an_error_naming_it():
    port = _free_port()
    resource = f"TCPIP::127.0.0.1::{port}::SOCKET"
    t = VisaTransport(resource, backend="@py")
    with pytest.raises(TransportError, match="refused") as err:
        t.open()
        t.query("*IDN?")  # pyvisa-py connects raw sockets lazily: the first exchange fails
    assert resource in str(err.value)
    assert not isinstance(err.value, TransportTimeout)
    assert not t.is_open


# -- VISA: pyvisa-py over a socket and a pty ----------------------------------------------------------
def test_visa_raw_socket_text_and_binary(lan_device):
    with open_transport(f"TCPIP::127.0.0.1::{lan_device.port}::SOCKET", backend="@py") as t:
        assert t.query("*IDN?") == IDN
        t.write("BIN?")
        assert t.read_bytes(len(BLOCK)) == BLOCK  # the \n inside the block does not end the read


def test_visa_serial_settings_crlf_and_binary_over_a_pty(pty_device):
    import termios

    t = open_transport(f"ASRL{pty_device.port}::INSTR?baudrate=19200&stopbits=2", backend="@py")
    with t:
        attrs = termios.tcgetattr(pty_device.slave)
        assert attrs[4] == termios.B19200 and attrs[2] & termios.CSTOPB
        assert t.query("*IDN?") == IDN
        t.write("BIN?")
        assert t.read_bytes(len(BLOCK)) == BLOCK
        t.write("SHORT?")
        assert t.read_bytes(10, timeout=0.3) == b"abc"  # kept, although the read timed out


def test_visa_serial_device_disappearing_is_an_error(pty_device):
    t = VisaTransport(f"ASRL{pty_device.port}::INSTR", backend="@py", timeout=2.0)
    t.open()
    with pytest.raises(TransportError, match="disconnected") as err:
        # The port may vanish while the write is still draining (the write fails) or after it.
        t.write("UNPLUG")
        assert pty_device.unplugged.wait(2)
        t.read_line()
    assert pty_device.unplugged.is_set()
    assert f"ASRL{pty_device.port}::INSTR" in str(err.value)
    assert not t.is_open


def test_visa_serial_options_only_for_serial_resources():
    with pytest.raises(ValueError, match="baudrate"):
        VisaTransport("TCPIP::192.0.2.10::INSTR", baudrate=9600)
    with pytest.raises(ValueError, match="parity"):
        VisaTransport("ASRL3::INSTR", parity="Q")


# -- resource strings ---------------------------------------------------------------------------------
@pytest.mark.parametrize("resource, kind, attrs", [
    ("tcp://192.0.2.7:8888", TcpTransport, {"host": "192.0.2.7", "port": 8888}),
    ("tcp://[::1]:5025?timeout=3", TcpTransport, {"host": "::1", "port": 5025, "timeout": 3.0}),
    ("serial:///dev/ttyUSB0?baudrate=19200&parity=E", SerialTransport, {"port": "/dev/ttyUSB0"}),
    ("serial://COM3?baudrate=115200", SerialTransport, {"port": "COM3"}),
    ("/dev/ttyACM0", SerialTransport, {"port": "/dev/ttyACM0"}),
    ("/dev/serial/by-id/usb-GW_Instek_GPM-8213-if00", SerialTransport,
     {"port": "/dev/serial/by-id/usb-GW_Instek_GPM-8213-if00"}),
    ("COM3", SerialTransport, {"port": "COM3"}),
    ("TCPIP::192.0.2.7::INSTR", VisaTransport, {"resource": "TCPIP::192.0.2.7::INSTR"}),
    ("TCPIP0::192.0.2.7::hislip0::INSTR", VisaTransport, {"resource": "TCPIP0::192.0.2.7::hislip0::INSTR"}),
    ("TCPIP::192.0.2.7::5025::SOCKET", VisaTransport, {"resource": "TCPIP::192.0.2.7::5025::SOCKET"}),
    ("USB0::0x0B21::0x0025::C2PH13047V::INSTR", VisaTransport,
     {"resource": "USB0::0x0B21::0x0025::C2PH13047V::INSTR"}),
    ("GPIB0::1::INSTR", VisaTransport, {"resource": "GPIB0::1::INSTR"}),
    ("ASRL/dev/ttyACM0::INSTR", VisaTransport, {"resource": "ASRL/dev/ttyACM0::INSTR"}),
    ("ASRL3::INSTR", VisaTransport, {"resource": "ASRL3::INSTR"}),
    ("visa://TCPIP::192.0.2.7::INSTR?backend=@py", VisaTransport,
     {"resource": "TCPIP::192.0.2.7::INSTR", "backend": "@py"}),
])
def test_each_resource_form_picks_its_transport_without_io(resource, kind, attrs):
    t = transport_for(resource)  # nothing at these addresses: construction must not touch them
    assert isinstance(t, kind)
    assert not t.is_open
    for name, value in attrs.items():
        assert getattr(t, name) == value


def test_url_options_become_serial_settings_and_explicit_options_win():
    t = transport_for("serial:///dev/ttyUSB0?baudrate=19200&parity=E&stopbits=2", baudrate=38400)
    assert t.settings["baudrate"] == 38400
    assert (t.settings["parity"], t.settings["stopbits"]) == ("E", 2)
    v = transport_for("ASRL/dev/ttyUSB0::INSTR?baudrate=19200&parity=E")
    assert v.visa_kwargs["baud_rate"] == 19200 and v.visa_kwargs["parity"].name == "even"


@pytest.mark.parametrize("junk", ["", "   ", "bananas", "http://example.com", "ftp://192.0.2.7", "visa://bananas",
                                  "tcp://nohostport", "tcp://192.0.2.7", "tcp://192.0.2.7:port",
                                  "tcp://192.0.2.7:99999", "serial://", "USB0::garbage", "COM"])
def test_junk_is_refused_with_what_would_be_accepted(junk):
    with pytest.raises(ValueError) as err:
        transport_for(junk)
    message = str(err.value)
    assert "accepted" in message or "e.g." in message or "syntax" in message


def test_options_a_transport_does_not_take_are_named():
    with pytest.raises(ValueError, match="baud") as err:
        transport_for("serial:///dev/ttyUSB0?baud=9600")
    assert "baudrate" in str(err.value)  # the option it does take is suggested
    with pytest.raises(ValueError, match="parity"):
        transport_for("tcp://192.0.2.7:8888", parity="E")


def test_a_usbtmc_device_node_is_pointed_to_its_visa_name():
    with pytest.raises(ValueError, match="USB0::"):
        transport_for("/dev/usbtmc0")


# -- discovery ----------------------------------------------------------------------------------------
def _port(device, description, vid=None, pid=None, serial_number=None):
    from serial.tools.list_ports_common import ListPortInfo

    info = ListPortInfo(device, skip_link_detection=True)
    info.description, info.vid, info.pid, info.serial_number = description, vid, pid, serial_number
    info.hwid = f"USB VID:PID={vid:04X}:{pid:04X} SER={serial_number}" if vid else "n/a"
    return info


def test_discovery_with_nothing_connected_is_an_empty_list(monkeypatch):
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [])
    monkeypatch.setattr(discovery, "_visa_resources", lambda deadline, lan: ([], []))
    problems: list[str] = []
    assert discovery.discover(problems=problems) == []
    assert problems == []


def test_discovery_lists_serial_ports_and_visa_instruments(monkeypatch, sim_backend):
    from serial.tools import list_ports

    monkeypatch.setenv(visa_module.ENV_BACKEND, sim_backend)
    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [
        _port("/dev/ttyACM0", "GPM-8213", 0x2184, 0x0052, "GES913349"), _port("/dev/ttyS0", "n/a")])
    found = discovery.discover()
    by_resource = {r["resource"]: r for r in found}
    assert [r["kind"] for r in found] == ["visa"] * 3 + ["serial"] * 2  # instruments first
    usb = next(r for r in found if r["resource"].startswith("USB"))
    assert (usb["vid"], usb["pid"], usb["serial_number"], usb["vendor"]) == (0x0B21, 0x0025, "C2PH13047V", "Yokogawa")
    assert "192.0.2.10" in by_resource["TCPIP0::192.0.2.10::inst0::INSTR"]["description"]
    gpm = by_resource["/dev/ttyACM0"]
    assert (gpm["vid"], gpm["pid"], gpm["serial_number"], gpm["vendor"]) == (0x2184, 0x0052, "GES913349", "GW Instek")
    assert gpm["description"] == "GPM-8213"
    assert by_resource["/dev/ttyS0"]["description"] == "serial port"  # not "n/a"
    for r in found:
        assert {"resource", "kind", "description"} <= r.keys()


def test_a_failing_visa_backend_still_lists_serial_ports_and_says_why(monkeypatch):
    from serial.tools import list_ports

    def broken(deadline, lan):
        raise OSError("libusb exploded")

    monkeypatch.setattr(list_ports, "comports", lambda *a, **k: [_port("/dev/ttyUSB0", "FT232R USB UART")])
    monkeypatch.setattr(discovery, "_visa_resources", broken)
    problems: list[str] = []
    found = discovery.discover(problems=problems)
    assert [r["resource"] for r in found] == ["/dev/ttyUSB0"]
    assert any("VISA" in p and "libusb exploded" in p for p in problems)


def test_a_hanging_listing_is_abandoned_at_the_timeout(monkeypatch):
    from serial.tools import list_ports

    release = threading.Event()

    def stuck(*a, **k):
        release.wait(10)
        return []

    monkeypatch.setattr(list_ports, "comports", stuck)
    try:
        result = discovery.scan(visa=False, timeout=0.2)
    finally:
        release.set()
    assert result["resources"] == []
    assert any("serial ports" in p and "did not finish" in p for p in result["problems"])


def test_real_discovery_here_returns_plain_entries_and_names_missing_packages(monkeypatch):
    import importlib.util

    monkeypatch.delenv(visa_module.ENV_BACKEND, raising=False)
    monkeypatch.setattr(visa_module, "_vendor_visa_present", lambda: False)
    problems: list[str] = []
    found = discovery.discover(lan=False, problems=problems)  # no LAN broadcast from a test
    assert isinstance(found, list)
    for r in found:
        assert r["kind"] in ("visa", "serial") and isinstance(r["resource"], str) and r["resource"]
        assert not r["resource"].upper().startswith("ASRL")  # serial ports appear once, by device name
    if importlib.util.find_spec("usb") is None:
        assert any("USB" in p and "PyUSB" in p for p in problems)


def test_identify_visa_parses_the_identity(sim_backend):
    reply = discovery.identify_visa("USB0::0x0B21::0x0025::C2PH13047V::INSTR", timeout=1.0, backend=sim_backend)
    assert reply == {"idn": IDN, "manufacturer": "YOKOGAWA", "model": "WT310E", "serial_number": "C2PH13047V",
                     "firmware": "F1.03"}


def test_identify_visa_reports_errors_as_text():
    port = _free_port()
    missing = discovery.identify_visa(f"TCPIP::127.0.0.1::{port}::SOCKET", timeout=0.5, backend="@py")
    assert isinstance(missing, str) and f"127.0.0.1::{port}" in missing and "refused" in missing
    silent = LoopbackInstrument(Mute())
    try:
        reply = discovery.identify_visa(f"TCPIP::127.0.0.1::{silent.port}::SOCKET", timeout=0.3, backend="@py")
    finally:
        silent.close()
    assert isinstance(reply, str) and "did not answer" in reply
    assert isinstance(discovery.identify_visa("bananas"), str)


def test_identify_visa_leaves_serial_ports_alone_unless_asked(pty_device):
    for resource in (f"ASRL{pty_device.port}::INSTR", pty_device.port):
        reply = discovery.identify_visa(resource, timeout=0.5, backend="@py")
        assert isinstance(reply, str) and reply.startswith("not probed")
    assert pty_device.script.received == []  # the device never saw a byte
    reply = discovery.identify_visa(f"ASRL{pty_device.port}::INSTR", timeout=1.0, backend="@py", allow_serial=True)
    assert isinstance(reply, dict) and reply["model"] == "WT310E"
    assert pty_device.script.received == [b"*IDN?"]

