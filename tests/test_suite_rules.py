"""The rules the test suite keeps about itself: every test can time out, and no fixed sleep waits for a result."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SLEEPS = {("time", "sleep"), ("qtbot", "wait"), ("QTest", "qWait")}


def test_every_test_has_a_timeout_in_force(pytestconfig):
    assert pytestconfig.pluginmanager.hasplugin("timeout"), "pytest-timeout is not installed (the test extras)"
    assert 0 < float(pytestconfig.getini("timeout")) <= 600
    # the thread method ends a test stuck where no Python signal handler would run (Qt, C calls)
    assert pytestconfig.getini("timeout_method") == "thread"


def test_the_fast_lane_can_leave_out_slow_tests(pytestconfig):
    assert any(m.startswith("slow:") for m in pytestconfig.getini("markers"))


def fixed_sleeps(path: Path) -> list[str]:
    """Calls of time.sleep / qtbot.wait / QTest.qWait that are neither polling in a loop nor explained.

    A sleep in a ``while`` loop polls a condition; anywhere else it must say, in a comment on its
    line or the line above, why it is not waiting for a result (pacing a fake device, a workload's
    length, a random kill moment: the stimulus itself).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines), str(path))
    in_loop: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.While):
            in_loop.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and (node.func.value.id, node.func.attr) in SLEEPS):
            continue
        if id(node) in in_loop:
            continue
        here = lines[node.lineno - 1]
        above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
        if "#" in here or above.startswith("#"):
            continue
        shown = path.relative_to(TESTS.parent) if path.is_relative_to(TESTS.parent) else path
        found.append(f"{shown}:{node.lineno}: {here.strip()}")
    return found


def test_no_fixed_sleep_waits_for_a_result():
    found = [hit for path in sorted(TESTS.rglob("*.py")) for hit in fixed_sleeps(path)]
    assert found == [], ("wait on the condition with tests.helpers.waiting.wait_until (or qtbot.waitUntil); "
                         "if the sleep is the stimulus, say so in a comment")


def test_the_sleep_rule_sees_an_unexplained_sleep(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import time\n"
        "def test_x(qtbot):\n"
        "    time.sleep(0.5)\n"
        "    qtbot.wait(100)\n"
        "    time.sleep(0.1)  # pacing the fake device\n"
        "    while not done():\n"
        "        time.sleep(0.01)\n"
    )
    found = fixed_sleeps(sample)
    assert [f.removeprefix(f"{sample}:").split(":")[0] for f in found] == ["3", "4"]
