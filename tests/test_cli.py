"""The headless command line, as an operator or a script uses it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from station.cli import main
from station.core.journal import JournalReader
from station.core.samples import good_mask

ROOT = Path(__file__).resolve().parents[1]
SUMMARY_KEYS = {"samples", "duration_s", "avg_w", "min_w", "max_w", "energy_j"}


def run_json(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, json.loads(out.out.strip().splitlines()[-1]), out.err


def test_run_prints_a_json_summary_that_matches_the_journal(tmp_path, capsys):
    code, s, _ = run_json(capsys, "run", "--instrument", "sim", "--duration", "3", "--rate", "200",
                          "--seed", "3", "--out", str(tmp_path / "r"), "--json", "-o", "pace=false")
    assert code == 0
    assert SUMMARY_KEYS <= s.keys()
    assert s["samples"] == 600
    assert s["duration_s"] == pytest.approx(3.0)
    assert s["min_w"] <= s["avg_w"] <= s["max_w"]
    assert s["energy_j"] == pytest.approx(s["avg_w"] * s["good_samples"] / 200, rel=1e-9)
    data = JournalReader(tmp_path / "r").samples()
    assert len(data) == 600
    good = good_mask(np.asarray(data))
    assert s["avg_w"] == pytest.approx(float(np.mean(data["w"][good])))
    assert s["good_samples"] == int(good.sum())
    assert s["state"] == "complete"


def test_same_seed_same_summary(tmp_path, capsys):
    args = ["run", "--duration", "2", "--rate", "100", "--seed", "11", "--json", "-o", "pace=false",
            "-o", "start_time=1700000000"]
    _, a, _ = run_json(capsys, *args, "--out", str(tmp_path / "a"))
    _, b, _ = run_json(capsys, *args, "--out", str(tmp_path / "b"))
    for k in SUMMARY_KEYS:
        assert a[k] == b[k]


def test_profiles_span_milliwatts_to_kilowatts(tmp_path, capsys):
    _, tiny, _ = run_json(capsys, "run", "--profile", "tiny", "--duration", "2", "--rate", "100", "--json",
                          "-o", "pace=false", "--out", str(tmp_path / "t"))
    _, train, _ = run_json(capsys, "run", "--profile", "training", "--duration", "2", "--rate", "100", "--json",
                           "-o", "pace=false", "--out", str(tmp_path / "k"))
    assert tiny["avg_w"] < 1.0
    assert train["avg_w"] > 1000.0


def test_human_summary_lists_the_figures(tmp_path, capsys):
    assert main(["run", "--duration", "1", "--rate", "50", "-o", "pace=false", "--out", str(tmp_path / "h")]) == 0
    out = capsys.readouterr().out
    for word in ("samples", "duration", "average", "minimum", "maximum", "energy"):
        assert word in out


@pytest.mark.parametrize("argv, message", [
    (["run", "--duration", "-5"], "positive"),
    (["run", "--duration", "abc"], "not a number"),
    (["run", "--instrument", "nosuchmeter"], "no instrument driver named 'nosuchmeter'"),
    (["run", "--rate", "1e9"], "outside"),
    (["run", "--voltage-range", "fast"], "neither a number nor 'auto'"),
    (["run", "--voltage-range", "123"], "not one the instrument has"),
    (["run", "--profile", "nosuchprofile"], "nosuchprofile"),
    (["run", "-o", "novalue"], "key=value"),
    (["recover", "/nonexistent/run"], "not a directory"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_a_clear_message(tmp_path, capsys, argv, message):
    if argv[0] == "run":
        argv = [*argv, "--out", str(tmp_path / "bad")]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_a_usage_error_names_the_command_and_nothing_is_recorded(tmp_path, capsys):
    taken = tmp_path / "a-file"
    taken.write_text("x")
    assert main(["run", "--duration", "1", "-o", "pace=false", "--out", str(taken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"station run: error: --out {taken} exists and is not a directory")
    assert taken.read_text() == "x"


def test_run_refuses_to_overwrite(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["run", "--duration", "1", "--rate", "10", "-o", "pace=false", "--out", out]) == 0
    capsys.readouterr()
    assert main(["run", "--duration", "1", "--rate", "10", "-o", "pace=false", "--out", out]) == 2
    assert "already holds a recorded run" in capsys.readouterr().err


def test_recover_of_a_complete_run_prints_its_summary(tmp_path, capsys):
    out = str(tmp_path / "r")
    _, s, _ = run_json(capsys, "run", "--duration", "1", "--rate", "10", "-o", "pace=false", "--json", "--out", out)
    code, r, _ = run_json(capsys, "recover", out, "--json")
    assert code == 0
    assert {k: r[k] for k in SUMMARY_KEYS} == {k: s[k] for k in SUMMARY_KEYS}


def test_instruments_lists_the_simulated_analyzer(capsys):
    code, listing, _ = run_json(capsys, "instruments", "--json", "--no-discover")
    assert code == 0
    names = {d["name"] for d in listing["drivers"]}
    assert "sim" in names
    assert listing["resources"] == []


def test_python_dash_m_station_works():
    out = subprocess.run([sys.executable, "-m", "station", "instruments", "--no-discover"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert "sim" in out.stdout
