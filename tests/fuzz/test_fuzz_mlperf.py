"""MLPerf files and result zips: any bytes give data or a clear error naming the file, never a crash."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from station.mlperf.errors import FormatError
from station.mlperf.loadgen import read_detail, read_summary
from station.mlperf.published import ptd_log_lines
from station.mlperf.spl import read_spl
from station.verify import Unusable, verify_path
from tests.helpers.fuzz_counts import tried

GOOD_SPL = ("Time,07-12-2025 23:21:34.443,Watts,15.280000,Volts,244.930000,Amps,0.143200,PF,0.435800,Mark,m_ranging\n"
            "Time,07-12-2025 23:21:35.443,Watts,-1.000000,Volts,244.940000,Amps,-1.000000,PF,-1.000000,Mark,m_ranging\n")
GOOD_DETAIL = (':::MLLOG {"key": "power_begin", "value": "07-12-2025 23:27:00.311"}\n'
               ':::MLLOG {"key": "power_end", "value": "07-12-2025 23:37:00.322"}\n')


def mutate(base: str):
    """Text near a valid file: cut, spliced with random text or bytes, or random altogether."""
    b = base.encode()
    return st.one_of(
        st.binary(max_size=300),
        st.tuples(st.integers(0, len(b)), st.binary(max_size=20), st.integers(0, len(b))).map(
            lambda x: b[:x[0]] + x[1] + b[x[2]:]),
        st.tuples(st.integers(0, len(b)), st.text(max_size=30)).map(lambda x: b[:x[0]] + x[1].encode() + b[x[0]:]),
    )


def _clear(exc: Exception, path) -> None:
    assert isinstance(exc, FormatError)
    assert str(exc).startswith(str(path))


@given(mutate(GOOD_SPL))
def test_spl(tmp_path_factory, data):
    tried("mlperf spl.txt")
    p = tmp_path_factory.mktemp("s") / "spl.txt"
    p.write_bytes(data)
    try:
        d = read_spl(p)
    except FormatError as exc:
        _clear(exc, p)
    else:
        assert len(d.t) == len(d.watts) == len(d.line_numbers) > 0


@given(mutate(GOOD_DETAIL))
def test_loadgen_detail_and_summary(tmp_path_factory, data):
    tried("mlperf LoadGen detail/summary")
    p = tmp_path_factory.mktemp("l") / "mlperf_log_detail.txt"
    p.write_bytes(data)
    try:
        d = read_detail(p)
    except FormatError as exc:
        _clear(exc, p)
    else:
        assert d.power_end > d.power_begin
    try:
        assert isinstance(read_summary(p), dict)
    except FormatError as exc:
        _clear(exc, p)


@given(mutate("Analyzer 1\n07-12-2025 23:21:34.375: Go with mark 'x_ranging'\n07-12-2025 23:26:46.379: Completed test\n"))
def test_ptd_log(tmp_path_factory, data):
    tried("mlperf ptd_logs.txt")
    p = tmp_path_factory.mktemp("p") / "ptd_logs.txt"
    p.write_bytes(data)
    try:
        lines = ptd_log_lines(p)
    except FormatError as exc:
        _clear(exc, p)
    else:
        assert all(isinstance(t, float) for _, t, _ in lines)


@pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")  # clashing members are made on purpose
@given(st.lists(st.tuples(st.text(min_size=1, max_size=30), st.binary(max_size=200)), max_size=6),
       st.binary(max_size=64))
def test_result_zips(tmp_path_factory, members, tail):
    tried("result zip")
    d = tmp_path_factory.mktemp("z")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in members:
            try:
                zf.writestr(name, content)
            except (ValueError, UnicodeEncodeError, IndexError):  # names zipfile itself cannot write
                continue
    p = d / "result.zip"
    p.write_bytes(buf.getvalue() + tail)
    try:
        r = verify_path(p)
    except Unusable as exc:
        assert str(p) in str(exc) or "neither" in str(exc) or "not" in str(exc)
    else:
        assert r["valid"] in (True, False)
    assert not (d.parent / "evil").exists()
