"""Which energy monitor `station tiny --monitor` drives: the LPM01A on a serial port, or a Joulescope
(the one connected, one by serial number, or a JLS recording), each checked before anything opens."""

from __future__ import annotations

import pytest

from station.cli import main
from station.commands.grammar import ExitCode, UsageError
from station.commands.tiny import parse_monitor
from station.tiny.boards import BoardError, open_monitor

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(("text", "expected"), [
    ("lpm01a:/dev/ttyACM0", ("lpm01a", "/dev/ttyACM0", {})),
    ("lpm01a:/dev/ttyACM0,freq=1000", ("lpm01a", "/dev/ttyACM0", {"freq": "1000"})),
    ("joulescope", ("joulescope", "", {})),
    ("joulescope:002122,gpi_edge=ris", ("joulescope", "002122", {"gpi_edge": "ris"})),
    ("jls:/data/run.jls", ("joulescope", "jls:/data/run.jls", {})),
])
def test_the_monitor_flag_names_the_driver_where_it_is_and_its_options(text, expected):
    assert parse_monitor(text) == expected


@pytest.mark.parametrize("text", ["n6705:USB0::1", "lpm01a", "lpm01a:", "joulescope,gpi_edge", "jls:"])
def test_monitors_the_procedure_cannot_drive_or_cannot_place_are_refused(text):
    with pytest.raises(UsageError):
        parse_monitor(text)


def test_a_joulescope_monitor_takes_its_settings_converted_and_refuses_unknown_ones():
    monitor = open_monitor("joulescope", "002122", {"gpi_edge": "ris", "sample_rate_hz": "100000"}, 3.0)
    assert monitor.setting("gpi_edge") == "ris"
    assert float(monitor.setting("sample_rate_hz")) == 100000.0
    with pytest.raises(BoardError, match="nosuch"):
        open_monitor("joulescope", "", {"nosuch": "1"}, 3.0)


def test_an_lpm01a_monitor_refuses_a_supply_voltage_it_cannot_set():
    with pytest.raises(BoardError):
        open_monitor("lpm01a", "/dev/null", {}, 12.0)


def test_station_tiny_refuses_a_bad_joulescope_setting_before_touching_any_port(tmp_path, capsys):
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "tst_000000.bin").write_bytes(b"\0" * 16)
    code = main(["tiny", "--monitor", "joulescope,gpi_edge=sideways", "--interface", str(tmp_path / "no-port"),
                 "--dataset", str(dataset), "--out", str(tmp_path / "out")])
    assert code == ExitCode.USAGE
    assert "sideways" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
