"""Instrument streams and replies: LPM01A text and binary streams, PTDaemon replies.

Any bytes from a serial line or socket give flagged readings or a ValueError with a message,
never another exception and never a number where the input held none.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from instruments.lpm01a import AsciiStream, BinaryStream
from instruments.ptd import parse_identify, parse_ranges, parse_sample_line, parse_uncertainty, parse_watts
from tests.helpers.fuzz_counts import tried

ASCII_GOOD = b"6409-07\r\n6410-07\r\nTimeStamp: 001s 000ms, buff: 12%\r\n6411-07\r\nevent 1 ris\r\n"
PTD_REPLIES = [
    "Time,07-12-2025 23:21:34.443,Watts,15.280000,Volts,244.930000,Amps,0.143200,PF,0.435800,Mark,m",
    "Ranges,0,0.500000,0,300.000000",
    "Watts,33.226102,15.140000,35.450000,312,76,236",
    "Uncertainty,0.012,0.034,0.009,312,12,300,0",
]


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    out, prev = [], 0
    for p in points + [len(data)]:
        out.append(data[prev:p])
        prev = p
    return out


def _check_items(items) -> int:
    n = 0
    for it in items:
        if hasattr(it, "values"):
            v, bad = np.asarray(it.values), np.asarray(it.bad, dtype=bool)
            assert len(v) == len(bad)
            assert np.all(np.isnan(v[bad])), "a bad entry carries a number"
            assert np.all(np.isfinite(v[~bad])), "a good entry is not a number"
            n += len(v)
    return n


@given(st.one_of(st.binary(max_size=400), st.tuples(st.integers(0, len(ASCII_GOOD)), st.binary(max_size=30)).map(
    lambda x: ASCII_GOOD[:x[0]] + x[1] + ASCII_GOOD[x[0]:])), st.lists(st.integers(0, 400), max_size=6))
def test_lpm01a_ascii_stream(data, cuts):
    tried("lpm01a ascii_dec stream")
    s = AsciiStream()
    for part in chunks(data, cuts):
        _check_items(s.feed(part))


@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=6))
def test_lpm01a_binary_stream(data, cuts):
    tried("lpm01a bin_hexa stream")
    s = BinaryStream()
    for part in chunks(data, cuts):
        _check_items(s.feed(part))
    _check_items(s.flush())


def _mutations():
    return st.one_of(
        st.text(max_size=120),
        st.tuples(st.sampled_from(PTD_REPLIES), st.integers(0, 100), st.text(max_size=12)).map(
            lambda x: x[0][:x[1]] + x[2] + x[0][x[1]:]),
        st.tuples(st.sampled_from(PTD_REPLIES), st.integers(0, 100)).map(lambda x: x[0][:x[1]]),
    )


@given(_mutations())
def test_ptdaemon_replies(reply):
    tried("ptdaemon replies")
    for parse in (parse_identify, lambda r: parse_ranges(r, 1), parse_watts, parse_uncertainty):
        try:
            parse(reply)
        except ValueError as exc:
            assert str(exc)
    try:
        line = parse_sample_line(reply)
    except ValueError as exc:
        assert str(exc)
    else:
        assert math.isfinite(line.t)
