"""Headless use: no display gives one clear sentence, and `| head` never ends in a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from station.commands.display import display_problem

ROOT = Path(__file__).resolve().parents[1]


def test_no_display_is_one_sentence_that_points_to_the_headless_commands():
    text = display_problem({}, platform="linux")
    assert text.startswith("station: the window needs a display") and "station run" in text
    assert "\n" not in text


def test_missing_x_libraries_are_named_with_the_packages_to_install():
    text = display_problem({"DISPLAY": ":0"}, platform="linux",
                           libraries=(("libstation-test-missing.so.9", "libstation-test9"),
                                      ("libc.so.6", "libc6")))
    assert "sudo apt-get install libstation-test9'" in text
    assert "libc6" not in text


@pytest.mark.parametrize("env", [{"QT_QPA_PLATFORM": "offscreen"}, {"WAYLAND_DISPLAY": "wayland-0"}])
def test_a_chosen_platform_or_wayland_is_left_to_qt(env):
    assert display_problem(env, platform="linux") is None


@pytest.mark.timeout(60)
def test_the_window_without_a_display_exits_1_with_the_sentence_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["STATION_HOME"] = str(tmp_path)
    res = subprocess.run([sys.executable, "-m", "station"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().startswith("station: the window needs a display")
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(60)
def test_output_piped_into_a_reader_that_stops_ends_without_a_traceback(tmp_path):
    env = {**os.environ, "STATION_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "station", "instruments", "--no-discover"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -0`: the reader is gone before anything is written
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
