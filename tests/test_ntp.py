"""SNTP client against a local NTP server on UDP localhost whose clock is off by a set amount."""

from __future__ import annotations

import pytest

from station.core import ntp
from tests.helpers.fake_ntp import FakeNtpServer


@pytest.mark.parametrize("offset", [0.0, 0.25, -0.8, 3600.5])
def test_offset_of_a_server_ahead_or_behind(offset):
    with FakeNtpServer(offset) as server:
        res = ntp.query(server.address, timeout=10)
    # Loopback round trips are short; allow a generous margin for a loaded machine.
    assert res.offset_s == pytest.approx(offset, abs=0.05)
    assert 0 <= res.delay_s < 1.0
    assert res.stratum == 2 and res.server == server.address


def test_a_stray_answer_is_ignored_and_the_real_one_used():
    with FakeNtpServer(0.1, mode="stray") as server:
        res = ntp.query(server.address, timeout=10)
    assert res.offset_s == pytest.approx(0.1, abs=0.05)


def test_silent_server_times_out_with_its_name():
    with FakeNtpServer(mode="silent") as server:
        with pytest.raises(ntp.NtpError, match=rf"{server.address}: no answer within 0.3 s"):
            ntp.query(server.address, timeout=0.3)
        assert server.requests == 1


@pytest.mark.parametrize("mode, message", [("kiss", "refused the request .kiss code 'RATE'"),
                                           ("unsynced", "not synchronised")])
def test_refusals_are_errors(mode, message):
    with FakeNtpServer(mode=mode) as server, pytest.raises(ntp.NtpError, match=message):
        ntp.query(server.address, timeout=10)


def test_unresolvable_host_and_bad_addresses():
    with pytest.raises(ntp.NtpError, match="cannot resolve"):
        ntp.query("no-such-host.invalid", timeout=1)
    with pytest.raises(ValueError, match="port 'x' is not a number"):
        ntp.parse_server("host:x")
    assert ntp.parse_server("[::1]:1234") == ("::1", 1234)
    assert ntp.parse_server("time.example") == ("time.example", 123)


def test_timestamp_conversion_round_trips():
    t = 1752362469.8583584
    assert ntp.from_ntp(*ntp.to_ntp(t)) == pytest.approx(t, abs=1e-9)
