"""Transports against real peers: a loopback TCP server, a pty serial device, pyvisa-sim."""

import os
import socket
import threading
import time

import pytest

from instruments.transports import TransportError, TransportTimeout, open_transport
from instruments.transports.serial import SerialTransport
from instruments.transports.tcp import TcpTransport
from instruments.transports.visa import VisaTransport


@pytest.fixture
def tcp_device():
    """A device on loopback that answers '*IDN?' in two packets and closes on 'BYE'."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve():
        conn, _ = srv.accept()
        buf = b""
        with conn:
            while True:
                data = conn.recv(1024)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line == b"*IDN?":
                        conn.sendall(b"YOKOGAWA,WT310E,C2PH")
                        time.sleep(0.05)  # the reply arrives in two pieces, as over a slow link
                        conn.sendall(b"13047V,F1.03\n")
                    elif line == b"HALF":
                        conn.sendall(b"12.5E+00,")
                    elif line == b"BYE":
                        return

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    yield port
    srv.close()


def test_tcp_assembles_a_reply_split_over_packets(tcp_device):
    t = TcpTransport("127.0.0.1", tcp_device, timeout=2.0)
    t.open()
    assert t.query("*IDN?") == "YOKOGAWA,WT310E,C2PH13047V,F1.03"
    t.close()


def test_tcp_timeout_keeps_the_partial_line_and_peer_close_is_an_error(tcp_device):
    t = TcpTransport("127.0.0.1", tcp_device, timeout=0.2)
    t.open()
    t.write("HALF")
    with pytest.raises(TransportTimeout, match="partial"):
        t.read_line()
    assert bytes(t._lines.buffer) == b"12.5E+00,"
    t.write("BYE")
    with pytest.raises(TransportError, match="closed by the instrument"):
        t.read_line(timeout=2.0)
    assert not t.is_open


def test_tcp_connection_refused_says_where():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
        TcpTransport("127.0.0.1", port, connect_timeout=1.0).open()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pty")
def test_serial_over_a_pty_crlf_lines_binary_reads_and_disappearance():
    master, slave = os.openpty()
    port = os.ttyname(slave)
    t = SerialTransport(port, baudrate=9600, read_termination="\r\n", timeout=1.0)
    t.open()
    os.write(master, b"12.50E+00,229.9")
    os.write(master, b"E+00\r\n")
    assert t.read_line() == "12.50E+00,229.9E+00"
    os.write(master, bytes(range(16)))
    assert t.read_bytes(16) == bytes(range(16))
    t.write(":NUM:VAL?")
    assert os.read(master, 64) == b":NUM:VAL?\n"
    os.close(master)
    os.close(slave)
    with pytest.raises(TransportError, match="disconnected"):
        t.read_line(timeout=0.5)


def test_visa_against_pyvisa_sim(tmp_path):
    pytest.importorskip("pyvisa_sim")
    yaml = tmp_path / "meter.yaml"
    yaml.write_text(
        'spec: "1.1"\n'
        "devices:\n"
        "  meter:\n"
        "    eom:\n"
        "      TCPIP INSTR:\n"
        '        q: "\\n"\n'
        '        r: "\\n"\n'
        '    error: "ERROR"\n'
        "    dialogues:\n"
        '      - q: "*IDN?"\n'
        '        r: "YOKOGAWA,WT310E,C2PH13047V,F1.03"\n'
        "resources:\n"
        "  TCPIP::192.0.2.7::INSTR:\n"
        "    device: meter\n"
    )
    t = VisaTransport("TCPIP::192.0.2.7::INSTR", backend=f"{yaml}@sim")
    t.open()
    assert t.query("*IDN?") == "YOKOGAWA,WT310E,C2PH13047V,F1.03"
    assert t.query("NOT:A:COMMAND?") == "ERROR"
    t.close()


@pytest.mark.parametrize("resource, kind", [
    ("tcp://192.0.2.7:8888", TcpTransport),
    ("serial:///dev/ttyUSB0?baudrate=19200", SerialTransport),
    ("/dev/ttyACM0", SerialTransport),
    ("COM3", SerialTransport),
    ("TCPIP::192.0.2.7::INSTR", VisaTransport),
    ("TCPIP0::192.0.2.7::hislip0::INSTR", VisaTransport),
    ("TCPIP::192.0.2.7::5025::SOCKET", VisaTransport),
    ("USB0::0x0B21::0x0025::C2PH13047V::INSTR", VisaTransport),
    ("GPIB0::1::INSTR", VisaTransport),
    ("ASRL/dev/ttyACM0::INSTR", VisaTransport),
])
def test_resource_strings_pick_the_right_transport_without_io(resource, kind):
    t = open_transport(resource)
    assert isinstance(t, kind)
    assert not t.is_open


def test_serial_query_parameters_become_settings():
    t = open_transport("serial:///dev/ttyUSB0?baudrate=19200&parity=E")
    assert t.settings["baudrate"] == 19200 and t.settings["parity"] == "E"


@pytest.mark.parametrize("junk", ["", "http://example", "tcp://nohostport", "bananas"])
def test_junk_resources_are_refused_with_the_accepted_forms(junk):
    with pytest.raises(ValueError, match="accepted|needs"):
        open_transport(junk)


def test_discovery_never_raises_and_lists_plain_dicts():
    from instruments.discovery import discover

    found = discover()
    assert isinstance(found, list)
    for r in found:
        assert {"resource", "kind"} <= r.keys()
