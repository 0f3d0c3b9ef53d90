"""One command-line grammar: the instrument group, exit codes and usage errors of every subcommand."""

from __future__ import annotations

import json
import time

import pytest

from station.cli import COMMAND_MODULES, build_parser, main
from station.commands.grammar import ExitCode, instrument_specs, spec_from_table
from station.measurement.instruments import InstrumentSpec, SpecError

pytestmark = pytest.mark.timeout(120)

# What each command needs besides its instruments, so its parser accepts the line.
REQUIRED = {
    "run": ["--out", "r"],
    "measure": ["--workload", "true", "--out", "s"],
    "serve": ["--out", "d"],
}


def specs_of(command: str, *group: str) -> list[InstrumentSpec]:
    args = build_parser().parse_args([command, *group, *REQUIRED[command]])
    return instrument_specs(args)


def exit_code_and_stderr(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    return code, capsys.readouterr().err


GROUP = ["--instrument", "sim", "--id", "psu", "--resource", "TCPIP::10.0.0.5::INSTR", "-o", "pace=false",
         "--profile", "tiny", "--seed", "7", "--crest-factor", "6", "--mode", "dc",
         "--instrument", "ptd,resource=tcp://127.0.0.1:8888,id=ptd1", "-o", "model=WT310E"]
EXPECTED = [
    InstrumentSpec("sim", "TCPIP::10.0.0.5::INSTR", {"pace": "false", "profile": "tiny", "seed": 7}, "psu",
                   crest_factor=6.0, mode="dc"),
    InstrumentSpec("ptd", "tcp://127.0.0.1:8888", {"model": "WT310E"}, "ptd1"),
]


@pytest.mark.parametrize("command", ["run", "measure", "serve"])
def test_the_same_instrument_groups_mean_the_same_in_run_measure_and_serve(command):
    assert specs_of(command, *GROUP) == EXPECTED


@pytest.mark.parametrize("command", ["run", "measure", "serve"])
def test_no_instrument_means_one_simulated_analyzer(command):
    assert specs_of(command) == [InstrumentSpec("sim")]


def test_options_before_the_first_instrument_belong_to_it_and_each_repeat_starts_a_new_one():
    specs = specs_of("run", "-o", "pace=false", "--rate", "50", "--instrument", "sim", "--seed", "1",
                     "--instrument", "sim", "--interval", "0.5", "--voltage-range", "300", "--instrument", "sim")
    assert [s.options for s in specs] == [{"pace": "false", "seed": 1}, {}, {}]
    assert [s.interval_s for s in specs] == [pytest.approx(0.02), 0.5, None]
    assert [s.voltage_range for s in specs] == ["auto", 300.0, "auto"]


def test_the_compact_form_and_the_long_form_are_the_same_spec():
    compact = specs_of("measure", "--instrument", "sim,profile=training,seed=5,resource=ASRL1::INSTR,id=a")
    long = specs_of("measure", "--instrument", "sim", "-o", "profile=training", "-o", "seed=5",
                    "--resource", "ASRL1::INSTR", "--id", "a")
    assert compact == long


@pytest.mark.parametrize("argv, message", [
    (["run", "--instrument", "sim", "--rate", "10", "--interval", "0.1"], "not both"),
    (["run", "--instrument", "sim", "--resource", "a", "--resource", "b"], "--resource given twice for sim"),
    (["run", "--instrument", "sim,seed=1", "--seed", "2"], "option 'seed' given twice"),
    (["run", "--instrument", "sim,resource=x", "--resource", "y"], "resource given both"),
    (["run", "--instrument", "sim", "--instrument", "sim,id=inst0"], "two instruments have the id 'inst0'"),
    (["serve", "--instrument", "sim", "--instrument", "sim,id=inst0", "--port", "0"], "two instruments have the id"),
    (["measure", "--rate", "10", "--workload", "true"], "unrecognized arguments: --rate"),
])
def test_contradictory_instrument_groups_exit_2_and_say_why(tmp_path, capsys, argv, message):
    code, err = exit_code_and_stderr(capsys, [*argv, "--out", str(tmp_path / "out")])
    assert code == ExitCode.USAGE
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command, extra", [
    ("run", ["--duration", "1"]),
    ("serve", ["--port", "0"]),
    ("measure", ["--workload", "true", "--yes"]),
])
def test_a_bad_driver_option_exits_2_naming_the_option(tmp_path, capsys, command, extra):
    code, err = exit_code_and_stderr(capsys, [command, "--instrument", "sim", "-o", "wattage=9", *extra,
                                              "--out", str(tmp_path / "out")])
    assert code == ExitCode.USAGE
    assert f"station {command}: error:" in err
    assert "no option wattage" in err and "its options are" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command, extra", [
    ("run", ["--duration", "1"]),
    ("serve", ["--port", "0"]),
    ("measure", ["--workload", "true", "--yes"]),
])
def test_an_unknown_driver_exits_2_naming_the_known_drivers(tmp_path, capsys, command, extra):
    code, err = exit_code_and_stderr(capsys, [command, "--instrument", "wt9000", *extra,
                                              "--out", str(tmp_path / "out")])
    assert code == ExitCode.USAGE
    assert "no instrument driver named 'wt9000'" in err
    assert "known drivers:" in err and "sim" in err.split("known drivers:")[1]
    assert not (tmp_path / "out").exists()


def test_profile_sugar_is_refused_for_a_driver_without_profiles(tmp_path, capsys):
    code, err = exit_code_and_stderr(capsys, ["run", "--instrument", "wt300e", "--resource", "ASRL9::INSTR",
                                              "--profile", "tiny", "--out", str(tmp_path / "out")])
    assert code == ExitCode.USAGE
    assert "--profile applies to the simulated analyzer, not to wt300e" in err


def test_run_records_every_instrument_group(tmp_path, capsys):
    out = tmp_path / "two"
    code = main(["run", "--duration", "1", "--json", "--out", str(out),
                 "--instrument", "sim", "--id", "left", "--rate", "50", "--profile", "tiny", "-o", "pace=false",
                 "--instrument", "sim", "--id", "right", "--rate", "20", "--profile", "training", "-o", "pace=false"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == ExitCode.OK
    assert set(summary["instruments"]) == {"left", "right"}
    assert summary["instruments"]["left"]["samples"] == 50
    assert summary["instruments"]["right"]["samples"] == 20
    assert summary["instruments"]["left"]["avg_w"] < 1.0 < 1000.0 < summary["instruments"]["right"]["avg_w"]


def test_every_subcommand_is_a_module_dispatched_to_its_own_run():
    import importlib

    minimal = {**REQUIRED, "export": ["somewhere"], "verify": ["somewhere"]}
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"station.commands.{name}")
        args = build_parser().parse_args([name, *minimal.get(name, [])])
        assert args.func is module.run, name
    assert build_parser().parse_args([]).func.__module__ == "station.commands.window"


def test_exit_codes_are_the_documented_numbers():
    assert [int(c) for c in (ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE, ExitCode.INTERRUPTED)] == [0, 1, 2, 130]


def test_a_settings_file_writes_the_spec_with_the_command_line_keys():
    from_file = spec_from_table({"driver": "sim", "resource": "ASRL3::INSTR", "id": "a", "options": {"seed": "4"},
                                 "interval_s": 0.5, "crest_factor": 6, "mode": "dc", "voltage_range": 300})
    from_line = specs_of("run", "--instrument", "sim", "--resource", "ASRL3::INSTR", "--id", "a", "-o", "seed=4",
                         "--interval", "0.5", "--crest-factor", "6", "--mode", "dc", "--voltage-range", "300")
    assert [from_file] == from_line
    assert spec_from_table({"instrument": "sim"}) == InstrumentSpec("sim")


@pytest.mark.parametrize("table, message", [
    ({"resource": "x"}, "instrument.driver: must name a driver"),
    ({"driver": "sim", "instrument": "sim"}, "not both"),
    ({"driver": "sim", "rate": 3}, "instrument.rate: unknown key"),
    ({"driver": "sim", "options": ["seed=1"]}, "instrument.options: must be a table"),
    ({"driver": "sim", "interval_s": -1}, "instrument.interval_s: must be a positive number"),
    ({"driver": "sim", "voltage_range": "big"}, "instrument.voltage_range:"),
])
def test_a_bad_settings_table_names_the_key(table, message):
    with pytest.raises(SpecError, match=message.replace(".", r"\.")):
        spec_from_table(table)


# -- the kiosk's settings file -------------------------------------------------------------------------
def test_the_kiosk_settings_take_the_instrument_with_the_command_line_keys(tmp_path):
    from station.kiosk.config import load_config

    path = tmp_path / "kiosk.toml"
    path.write_text('data_dir = "d"\ndemo = true\n[instrument]\ndriver = "sim"\noptions = { channels = 2 }\n')
    assert load_config(path).instrument == InstrumentSpec("sim", options={"channels": 2})
    assert load_config(None, demo=True).instrument == InstrumentSpec("sim")


@pytest.mark.parametrize("table, key, message", [
    ({"driver": "wt9000"}, "instrument", "known drivers:"),
    ({"driver": "sim", "options": {"wattage": 9}}, "instrument", "no option wattage"),
    ({"driver": "sim", "options": {"seed": 3}}, "instrument.options.seed", "use seed"),
    ({"driver": "sim", "interval_s": 0.1}, "instrument.interval_s", "use rate_hz"),
    ({"driver": "wt300e", "resource": "ASRL1::INSTR"}, "instrument.driver", "plays workload profiles"),
    ({"resource": "x"}, "instrument.driver", "must name a driver"),
])
def test_a_bad_kiosk_instrument_names_the_key(table, key, message):
    from station.kiosk.config import KioskConfigError, parse_config

    with pytest.raises(KioskConfigError) as exc:
        parse_config({"instrument": table}, None)
    assert exc.value.key == key
    assert message in exc.value.message


def test_the_kiosk_cycle_opens_the_configured_instrument(tmp_path):
    import numpy as np

    from station.core.journal import JournalReader
    from station.kiosk.config import parse_config
    from station.kiosk.cycle import DemoLoop

    config = parse_config({"data_dir": str(tmp_path / "k"), "profiles": ["tiny"], "ranging_s": 0.4,
                           "testing_s": 0.4, "result_s": 0, "rate_hz": 50, "realtime": False,
                           "instrument": {"driver": "sim", "options": {"channels": 2}}}, None)
    loop = DemoLoop(config)
    loop.max_cycles = 1
    loop.start()
    deadline = time.monotonic() + 60  # the loop ends by itself after max_cycles
    while loop.running and time.monotonic() < deadline:
        time.sleep(0.05)
    status = loop.status()
    assert not loop.running and status.error is None, status.error
    assert status.cycles_done == 1
    samples = np.asarray(JournalReader(next((tmp_path / "k").rglob("testing"))).samples())
    assert len(samples) > 0
    assert samples["ch_w"].shape[1] == 2  # the configured option reached the analyzer
