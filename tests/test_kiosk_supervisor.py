"""The kiosk supervisor backs off from a window that cannot start and gives up with a reason; a
window that ran fine and then died comes back at once. And the built-in PIN needs a demo."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from station.kiosk import run_kiosk
from station.kiosk.config import DEFAULT_PIN, KioskConfigError, load_config
from station.kiosk.supervisor import EXIT_GAVE_UP, backoff_delay, supervise

ROOT = Path(__file__).resolve().parents[1]

# A stand-in for the window: notes when it started, then does what the plan says for this start
# ("f": dies at once, "h": lives a while, then dies, "0": leaves through the PIN).
FAKE_WINDOW = """
import sys, time
starts, plan, healthy_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(starts, "a") as f:
    f.write(f"{time.monotonic()!r}\\n")
n = len(open(starts).read().split())
step = plan[n - 1] if n <= len(plan) else "f"
if step == "h":
    time.sleep(healthy_s * 1.5)
    sys.exit(3)
if step == "0":
    sys.exit(0)
print(f"qt.qpa.xcb: could not connect to display (start {n})", file=sys.stderr)
sys.exit(3)
"""


def _supervise_fake(tmp_path: Path, plan: str, base_s: float = 0.2, healthy_s: float = 1.5, **kw):
    starts = tmp_path / "starts.txt"
    script = tmp_path / "fake_window.py"
    script.write_text(FAKE_WINDOW, encoding="utf-8")
    data = tmp_path / "kiosk"
    t0 = time.monotonic()
    code = supervise(None, data, base_s, command=[sys.executable, str(script), str(starts), plan, str(healthy_s)],
                     healthy_after_s=healthy_s, **kw)
    took = time.monotonic() - t0
    times = [float(x) for x in starts.read_text().split()]
    return code, times, (data / "kiosk.log").read_text(encoding="utf-8"), took


def test_the_backoff_doubles_from_1_s_up_to_60_s():
    assert [backoff_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(3, base_s=0.1, max_s=0.3) == pytest.approx(0.3)


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_a_window_that_dies_at_start_is_restarted_later_and_later_then_given_up(tmp_path, capfd):
    code, times, log, took = _supervise_fake(tmp_path, "fffff", base_s=0.2)
    assert code == EXIT_GAVE_UP != 0
    assert len(times) == 5, "the supervisor must stop after 5 failed starts, not restart forever"
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    for gap, delay in zip(gaps, [0.2, 0.4, 0.8, 1.6], strict=True):
        assert gap >= delay, f"restarted after {gap:.2f} s, the backoff was {delay} s"
    assert gaps[3] > gaps[0] + 1.0, "the delays do not grow"
    assert "restarting in 0.2 s" in log and "restarting in 1.6 s" in log
    assert "giving up: the window failed to start 5 times in a row" in log
    # The reason the window gave is in the message, on the terminal and in the log.
    assert "could not connect to display (start 5)" in log
    assert "giving up" in capfd.readouterr().err


@pytest.mark.timeout(120)
@pytest.mark.slow
def test_a_window_that_ran_fine_comes_back_at_once_and_the_backoff_starts_over(tmp_path):
    # Two failed starts, a window that worked for a while, then failed starts until it gives up.
    code, times, log, _ = _supervise_fake(tmp_path, "ffh", base_s=0.4, healthy_s=1.5)
    assert code == EXIT_GAVE_UP
    assert len(times) == 2 + 1 + 5
    lines = [line for line in log.splitlines() if "window ended" in line]
    assert "restarting in 0.4 s" in lines[0] and "restarting in 0.8 s" in lines[1]
    assert "restarting now" in lines[2]
    # After the healthy run the first delay is the base again, not the 1.6 s the count had reached.
    assert "failed start 1 of 5" in lines[3] and "restarting in 0.4 s" in lines[3]
    healthy_end_to_next = times[3] - times[2]
    assert healthy_end_to_next < 1.5 * 1.5 + 1.0, "the restart after a healthy run was delayed"


@pytest.mark.timeout(60)
def test_leaving_through_the_pin_ends_the_supervisor_with_0(tmp_path):
    code, times, log, _ = _supervise_fake(tmp_path, "f0", base_s=0.1)
    assert code == 0 and len(times) == 2
    assert "left through the PIN pad" in log


# -- the built-in PIN ---------------------------------------------------------------------------------
def test_the_built_in_pin_is_refused_unless_the_kiosk_is_a_demo(tmp_path, capsys):
    path = tmp_path / "kiosk.toml"
    path.write_text(f'data_dir = "d"\npin = "{DEFAULT_PIN}"\n', encoding="utf-8")
    with pytest.raises(KioskConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: pin: the built-in PIN {DEFAULT_PIN}")
    assert "demo = true" in str(err.value) and "--kiosk-demo" in str(err.value)
    with pytest.raises(KioskConfigError):
        load_config(None)  # no file at all: the built-in PIN too
    assert load_config(path, demo=True).pin == DEFAULT_PIN
    path.write_text(f'data_dir = "d"\npin = "{DEFAULT_PIN}"\ndemo = true\n', encoding="utf-8")
    assert load_config(path).demo
    path.write_text('data_dir = "d"\npin = "9753"\n', encoding="utf-8")
    assert load_config(path).pin == "9753"


@pytest.mark.timeout(180)
def test_the_kiosk_command_with_the_built_in_pin_exits_2_and_says_why(tmp_path):
    cfg = tmp_path / "kiosk.json"
    cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d")}), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "station", "--kiosk", "--kiosk-config", str(cfg)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert f"{cfg}: pin: the built-in PIN {DEFAULT_PIN}" in out.stderr
    assert not (tmp_path / "d" / "kiosk.log").exists(), "the supervisor started a window anyway"


def test_run_kiosk_refuses_the_built_in_pin_before_starting_anything(tmp_path, capsys):
    cfg = tmp_path / "kiosk.json"
    cfg.write_text(json.dumps({"data_dir": str(tmp_path / "d")}), encoding="utf-8")
    assert run_kiosk(cfg) == 2
    assert "pin: the built-in PIN" in capsys.readouterr().err
    assert run_kiosk(cfg, window=True) == 2
