"""``station tiny`` end to end on emulated hardware: the DUT + interface board on a pty
(instruments.fakes.tiny_dut) and the fake LPM01A in energy mode, sharing a clock that runs ten
times faster than the wall clock, so five windows of 12 s take about a second each."""

from __future__ import annotations

import json
import re
import threading

import pytest

import station.commands.tiny as tiny_command
from instruments.fakes.lpm01a import Lpm01aDevice
from instruments.fakes.tiny_dut import ScaledClock, TinyRig
from station.cli import main
from station.tiny.procedure import choose_inferences
from station.tiny.verify import verify_tiny

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # each run drives emulated boards for seconds
SCALE = 10.0
VOLT = 3.0


@pytest.fixture
def hardware(monkeypatch, tmp_path):
    clock = ScaledClock(SCALE)
    monkeypatch.setattr(tiny_command, "clock", clock)
    made = []

    def build(**rig_options):
        rig = TinyRig(clock, **rig_options)
        board = Lpm01aDevice(seed=5, clock=clock)
        board.workload = rig.load_for(board)
        made.extend([rig, board])
        return rig, board

    dataset = tmp_path / "dataset"
    dataset.mkdir()
    for i in range(5):
        (dataset / f"tst_{i:06d}.bin").write_bytes(bytes((i * 7 + k) % 256 for k in range(80)))
    yield build, dataset
    for thing in made:
        thing.close()


def tiny(rig, board, dataset, out, *extra, capsys) -> tuple[int, dict | None]:
    code = main(["tiny", "--monitor", f"lpm01a:{board.port}", "--interface", rig.port, "--dut-baud", "9600",
                 "--dataset", str(dataset), "--out", str(out), "--voltage", str(VOLT), "--json", *extra])
    text = capsys.readouterr().out
    return code, (json.loads(text) if text.strip() else None)


def test_energy_run_writes_the_runner_layout_and_scores_the_median(hardware, tmp_path, capsys):
    build, dataset = hardware
    rig, board = build()
    out = tmp_path / "out"
    code, summary = tiny(rig, board, dataset, out, capsys=capsys)
    assert code == 0 and summary["valid"], [c["evidence"] for c in summary["checks"] if c["status"] != "pass"]
    assert summary["emulated"] is True and summary["dut"]["model"] == "kws01"
    # Each window's N was measured to last at least 10 s (with margin); every window did.
    windows = summary["windows"]
    assert len(windows) == 5 and all(w["duration_s"] >= 10.0 for w in windows)
    n = summary["inferences_per_window"]
    assert n * rig.inference_s >= 10.0 and all(w["inferences"] == n for w in windows)
    # The emulated DUT draws 9 mA at 3 V for 12.5 ms per inference: 337.5 uJ.
    assert summary["median_uj_per_inference"] == pytest.approx(busy_uj(rig), rel=0.01)
    assert all(w["uj_per_inference_uncertainty"] > 0 for w in windows)
    text = (out / "results.txt").read_text()
    median = re.search(r"Median energy cost is ([\d.]+) uJ/inf\.", text)
    assert median and float(median.group(1)) == pytest.approx(summary["median_uj_per_inference"], abs=1e-4)
    trials = json.loads((out / "results.json").read_text())
    assert len(trials) == 5 and [t["file"] for t in trials] == sorted(p.name for p in dataset.iterdir())
    assert all(len(t["power"]["timestamps"]) == 2 and t["infer"]["iterations"] == n for t in trials)
    assert "dut infer" in (out / "log.txt").read_text()
    # The files stand on their own: the published-result verifier agrees.
    assert verify_tiny(out)["valid"]
    # The DUT received every byte of the last input file through 'db' chunks.
    assert rig.loaded == (dataset / "tst_000004.bin").read_bytes()


def busy_uj(rig: TinyRig) -> float:
    return rig.busy_a * VOLT * rig.inference_s * 1e6


def test_windows_under_ten_seconds_make_the_run_not_valid(hardware, tmp_path, capsys):
    build, dataset = hardware
    rig, board = build()
    code, summary = tiny(rig, board, dataset, tmp_path / "out", "--inferences", "100", capsys=capsys)
    assert code == 1 and not summary["valid"]
    failed = {c["name"]: c["evidence"] for c in summary["checks"] if c["status"] == "fail"}
    assert "window length" in failed and "5 window(s) under 10 s" in failed["window length"]
    assert all(w["duration_s"] == pytest.approx(1.25, abs=0.0015) for w in summary["windows"])  # +/- 1 sample
    # Still scored: the runner's figures are written, with its warning mark.
    assert "<<<< below minimum duration" in (tmp_path / "out" / "results.txt").read_text()


@pytest.mark.parametrize("fault, reason", [({"missing_edge_trial": 2}, "trial 2: 1 events"),
                                           ({"extra_edge_trial": 1}, "trial 1: 3 events")])
def test_a_missing_or_extra_timestamp_edge_makes_the_run_not_valid(hardware, tmp_path, capsys, fault, reason):
    build, dataset = hardware
    rig, board = build(**fault)
    code, summary = tiny(rig, board, dataset, tmp_path / "out", "--inferences", "850", capsys=capsys)
    assert code == 1 and not summary["valid"]
    events = next(c for c in summary["checks"] if c["name"] == "timestamp events")
    assert events["status"] == "fail" and reason in events["evidence"], [
        c["name"] + ": " + c["evidence"] for c in summary["checks"] if c["status"] != "pass"]


def test_samples_dropped_inside_a_window_make_the_run_not_valid(hardware, tmp_path):
    from instruments.lpm01a import ENERGY_MODE_OPTIONS, LPM01A
    from instruments.transports.serial import SerialTransport
    from station.tiny.procedure import run_energy

    build, dataset = hardware
    rig, board = build()
    timers = []

    def progress(text: str) -> None:
        if text.startswith("trial 3/"):  # 0.5 wall s = 5 s into trial 3: inside its 12 s window
            timer = threading.Timer(0.5, board.overflow, args=(300,))
            timer.start()
            timers.append(timer)

    monitor = LPM01A(SerialTransport(board.port, baudrate=3_686_400, timeout=2.0), target_voltage_v=VOLT,
                     **ENERGY_MODE_OPTIONS)
    interface = SerialTransport(rig.port, baudrate=115_200, write_termination="%", timeout=2.0)
    result = run_energy(monitor=monitor, interface=interface, dataset=sorted(dataset.iterdir()),
                        out=tmp_path / "out", inferences=850, clock=tiny_command.clock, progress=progress)
    for timer in timers:
        timer.join()
    dropped = next(c for c in result.summary()["checks"] if c["name"] == "dropped samples")
    assert not result.valid and dropped["status"] == "fail" and "trial 2: 300" in dropped["evidence"]
    # The lost samples are NaN (null in results.json), never zeros that would lower the energy.
    trial = json.loads((tmp_path / "out" / "results.json").read_text())[2]
    assert trial["power"]["samples"].count(None) == 300


def test_a_dut_that_stops_answering_ends_the_run_with_a_clear_error(hardware, tmp_path, capsys):
    build, dataset = hardware
    rig, board = build()
    rig.stop_answering()
    code = main(["tiny", "--monitor", f"lpm01a:{board.port}", "--interface", rig.port, "--dataset", str(dataset),
                 "--out", str(tmp_path / "out"), "--json"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert "stopped answering" in captured.err and "'dut name'" in captured.err
    assert not (tmp_path / "out" / "results.txt").exists()


def test_n_is_chosen_from_the_calibration_window():
    # 10 inferences in 0.125 s: 12.5 ms each; 1.2 x 10 s needs 960.
    assert choose_inferences(0.125, 10, 10.0) == 960
    assert choose_inferences(0.125, 10, 10.0) * 0.0125 >= 10.0


def test_missing_boards_or_directories_are_a_usage_error(capsys):
    assert main(["tiny", "--out", "somewhere"]) == 2
    err = capsys.readouterr().err
    assert "--monitor, --interface, --dataset" in err
    assert main(["tiny", "--monitor", "n6705:USB0::INSTR", "--interface", "p", "--dataset", ".", "--out", "o"]) == 2
    assert "drives lpm01a" in capsys.readouterr().err
