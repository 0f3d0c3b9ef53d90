"""SCPI reply parsers: any text gives a flagged reading or a clear ValueError, never a crash."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from instruments.scpi import (
    parse_bool,
    parse_error,
    parse_quantities,
    parse_quantity,
    parse_value,
    parse_values,
)
from station.core.samples import Flag
from tests.helpers.fuzz_counts import tried

NUMBERISH = st.one_of(
    st.text(max_size=40),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda x: f"{x:E}"),
    st.sampled_from(["NAN", "INF", "-INF", "9.91E+37", "-9.91E+37", "9.9E+37", "+9.9000E+37", "1E+38",
                     "  1.5E+00 ", "", ",", "--1", "1.2.3", "0x10", "1_000", "nan(0x1)", "\x00", "١٢"]),
)
BAD = int(Flag.INVALID | Flag.OVERRANGE)


@given(NUMBERISH)
@example("9.91E+37")
def test_parse_value_never_gives_a_number_for_special_values(token):
    tried("scpi.parse_value")
    value, flags = parse_value(token)
    assert flags in (0, int(Flag.INVALID), int(Flag.OVERRANGE))
    if flags:
        assert math.isnan(value)
    else:
        assert math.isfinite(value) and abs(value) < 9e37


@given(st.lists(NUMBERISH.filter(lambda s: "," not in s), max_size=12).map(",".join))
def test_parse_values_one_entry_per_token(reply):
    tried("scpi.parse_values")
    values, flags = parse_values(reply)
    assert len(values) == len(flags) == (len(reply.strip().split(",")) if reply.strip() else 0)
    good = flags == 0
    assert (~good | (abs(values) < 9e37)).all()
    assert ((flags | BAD) == BAD).all()  # no other flag bits
    assert np.isnan(values[~good]).all()


@given(st.text(max_size=40))
@example(":VOLT:RANG 300.0E+00")
@example("200MA")
def test_parse_quantity_number_or_clear_error(reply):
    tried("scpi.parse_quantity")
    try:
        x = parse_quantity(reply)
    except ValueError as exc:
        assert repr(reply) in str(exc)
    else:
        assert isinstance(x, float)


@given(st.text(max_size=60))
def test_parse_quantities_and_bool_and_error(reply):
    tried("scpi.parse_quantities/bool/error")
    try:
        out = parse_quantities(reply)
        assert all(isinstance(x, float) for x in out)
    except ValueError as exc:
        assert "not a number" in str(exc) or "unknown unit" in str(exc)
    try:
        assert parse_bool(reply) in (True, False)
    except ValueError as exc:
        assert "neither on nor off" in str(exc)
    code, message = parse_error(reply)
    assert code is None or isinstance(code, int)
    assert isinstance(message, str)
