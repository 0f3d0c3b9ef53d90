"""``station --smoke`` from the source tree: every step passes and says what it saw."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from station import smoke

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_passes_from_source(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", STATION_HOME=str(tmp_path / "home"))
    out = subprocess.run([sys.executable, "-m", "station", "--smoke"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    for name, _ in smoke.STEPS:
        line = next((ln for ln in lines if ln.split()[1:2] == [name]), None)
        assert line is not None and line.split()[0] == "ok", f"step {name}: {line}"
    assert "smoke test passed" in lines[-1]
    assert "samples" in next(ln for ln in lines if " journal " in ln)
    # The self-test works in a temporary home: nothing lands in the user's.
    assert not (tmp_path / "home" / "runs").exists()


def test_a_failing_step_fails_the_smoke_test_and_skips_the_rest(capsys):
    def broken(ctx):
        raise smoke.SmokeFailure("the instrument is on fire")

    steps = [("resources", smoke.step_resources), ("broken", broken), ("drivers", smoke.step_drivers)]
    assert smoke.run_smoke(steps=steps) == 1
    out = capsys.readouterr().out
    assert "FAIL  broken" in out and "the instrument is on fire" in out
    assert "not run" in next(ln for ln in out.splitlines() if " drivers " in ln)
    assert "FAILED at step 'broken'" in out
