"""A results tree in the window: the real published results of tests/data/published, one row each,
with the verdicts ``station verify TREE --json`` prints for them, filled in off the GUI thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from station.ui.results_tree import COL_METRIC, COL_PROBLEMS, COL_SUBMITTER, COL_VERDICT
from station.verify import safe_extract

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "tests" / "data" / "published").rglob("*.zip"))
GATE_OVERFLOW = ("open/GATEOverflow/results/TRIGKEY_Mini_PC_Ryzen_5_5560-ctuning_cpp_tflite-cpu-tflite_vmaster-"
                 "default_config/mobilenet-v1-precision_float-1.0-128/multistream/performance")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("results-tree")
    for z in FIXTURES:
        safe_extract(z, where)
    return where


@pytest.fixture(scope="module")
def cli_lines(tree) -> list[dict]:
    """What ``station verify TREE --json`` prints: one object per result, then the summary."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "station", "verify", str(tree), "--json"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def _open(qtbot, path: Path):
    from station.ui.results_tree import ResultsTreeView

    view = ResultsTreeView()
    qtbot.addWidget(view)
    view.resize(1280, 600)
    view.show()
    view.open(path)
    return view


def test_every_result_of_the_tree_is_a_row_with_the_verdicts_the_command_prints(qtbot, tree, cli_lines):
    n = len(FIXTURES)
    assert n >= 8
    results, summary = cli_lines[:-1], cli_lines[-1]["summary"]
    view = _open(qtbot, tree)
    qtbot.waitUntil(lambda: view.finished, timeout=120_000)
    assert view.error is None
    assert view.summary == summary
    assert view.progress.text() == f"{len(FIXTURES)} power results verified"
    rows = {r.path: r for r in view.rows}
    assert set(rows) == {r["path"] for r in results} and len(rows) == len(FIXTURES)
    for r in results:
        row = rows[r["path"]]
        assert row.headline == r["headline"], r["path"]
        assert row.round == r["round"]["name"]
        assert row.official.startswith("accepted" if r["official"]["accepted"] else "rejected")
        assert row.problems == len(r["station"]["failed"])
        value = r["metric"]["value"]
        assert row.metric_text == ("—" if value is None else f"{value:.6g} {r['metric']['unit']}")
    # the result the official checker accepts and the station doubts says so, in the table's words
    gate = rows[GATE_OVERFLOW]
    assert gate.headline == "ACCEPTED OFFICIALLY; station finds 2 problems" and gate.problems == 2
    assert gate.scenario == "MultiStream" and gate.official == "accepted, 1 warning"
    assert (gate.submitter, gate.benchmark) == ("GATEOverflow (open)", "mobilenet-v1-precision_float-1.0-128")
    assert gate.system.startswith("TRIGKEY_Mini_PC")
    shown = {view.model.data(view.model.index(i, COL_VERDICT)) for i in range(view.model.rowCount())}
    assert "ACCEPTED OFFICIALLY; station finds 2 problems" in shown

    # filter by verdict: the counts are those of the command's summary
    for category, n in summary["by_verdict"].items():
        view.set_filter(category.split(";")[0])
        assert {r.path for r in view.visible_rows()} == {r["path"] for r in results if r["headline"] == category}
        assert len(view.visible_rows()) == n
    view.set_filter(None)
    assert len(view.visible_rows()) == len(FIXTURES)

    # sorting by metric sorts numbers as numbers, results without a metric first
    view.table.sortByColumn(COL_METRIC, Qt.SortOrder.AscendingOrder)
    values = [r.metric_value for r in view.visible_rows()]
    known = [v for v in values if v is not None]
    assert known == sorted(known) and values[: values.count(None)] == [None] * values.count(None)
    view.table.sortByColumn(COL_PROBLEMS, Qt.SortOrder.DescendingOrder)
    assert view.visible_rows()[0].problems == max(r.problems for r in view.rows)
    view.close_walk()


def test_rows_fill_in_while_the_window_stays_responsive(qtbot, tree, monkeypatch):
    """The walk is held before its fourth result: three rows are shown, the count says so, the table
    sorts and filters meanwhile, and the rest arrive when it goes on."""
    import station.mlperf.tree as tree_module

    real = tree_module.verify_published
    calls, release = [], threading.Event()

    def held(perf, round_name=None):
        calls.append(perf)
        if len(calls) == 4:
            release.wait(60)
        return real(perf, round_name)

    monkeypatch.setattr(tree_module, "verify_published", held)
    view = _open(qtbot, tree)
    try:
        qtbot.waitUntil(lambda: len(view.rows) == 3, timeout=60_000)
        assert view.progress.text() == f"Verifying… 3 of {len(FIXTURES)} power results done"
        assert not view.finished
        view.table.sortByColumn(COL_SUBMITTER, Qt.SortOrder.DescendingOrder)  # the GUI thread is free to act
        names = [r.submitter.lower() for r in view.visible_rows()]
        assert names == sorted(names, reverse=True) and len(names) == 3
    finally:
        release.set()
    qtbot.waitUntil(lambda: view.finished, timeout=120_000)
    assert len(view.rows) == len(FIXTURES) and view.progress.text() == f"{len(FIXTURES)} power results verified"
    view.close_walk()


def test_a_zipped_tree_gives_the_same_rows_and_a_double_click_opens_the_result(qtbot, tree, cli_lines, tmp_path):
    from station.ui.result_view import ResultView

    zpath = tmp_path / "results.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(tree.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(tree).as_posix())
    view = _open(qtbot, zpath)
    qtbot.waitUntil(lambda: view.finished, timeout=120_000)
    assert sorted(r.path for r in view.rows) == sorted(r["path"] for r in cli_lines[:-1])
    view.table.sortByColumn(COL_SUBMITTER, Qt.SortOrder.AscendingOrder)
    target = next(i for i, r in enumerate(view.visible_rows()) if r.path == GATE_OVERFLOW)
    index = view.proxy.index(target, 0)
    view.table.scrollTo(index)
    rect = view.table.visualRect(index)
    # a double-click is a press and release, then the second press (QTest's DClick alone is only the latter)
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: len(view.result_windows) == 1, timeout=60_000)
    result_view = view.result_windows[0].centralWidget()
    assert isinstance(result_view, ResultView)
    assert result_view.verdict.text().startswith("ACCEPTED OFFICIALLY; station finds 2 problems")
    names = [result_view.checks_table.item(r, 0).text() for r in range(result_view.checks_table.rowCount())]
    assert "testing samples (not checked officially)" in names
    extracted = view.root
    assert extracted is not None and extracted.is_dir()
    view.close_walk()
    assert not extracted.exists()  # the zip's private copy goes with the window


def test_a_path_without_results_says_so(qtbot, tmp_path):
    view = _open(qtbot, tmp_path)
    qtbot.waitUntil(lambda: view.finished, timeout=60_000)
    assert view.rows == [] and view.progress.text() == "0 power results verified"
    bad = tmp_path / "not.zip"
    bad.write_bytes(b"not a zip")
    view2 = _open(qtbot, bad)
    qtbot.waitUntil(lambda: view2.finished, timeout=60_000)
    assert view2.error and "not a readable zip file" in view2.progress.text()
    view.close_walk()
    view2.close_walk()


def test_the_measure_menu_and_station_open_send_a_tree_to_the_table_and_one_result_to_its_view(qtbot, tree):
    from station.cli import build_parser
    from station.ui.app import create_window
    from station.ui.measure_menu import ResultWindow
    from station.ui.results_tree import ResultsTreeWindow, open_path

    assert build_parser().parse_args(["--open", str(tree)]).open_path == tree
    w = create_window(demo=False)
    qtbot.addWidget(w)
    assert w.results_zip_action.text() == "Open results &zip…"
    open_path(w, tree)
    qtbot.waitUntil(lambda: any(isinstance(x, ResultsTreeWindow) for x in w._measure_windows), timeout=60_000)
    tw = next(x for x in w._measure_windows if isinstance(x, ResultsTreeWindow))
    qtbot.waitUntil(lambda: tw.view.finished, timeout=120_000)
    assert len(tw.view.rows) == len(FIXTURES)
    tw.close()  # stops the walk and its threads
    open_path(w, tree / GATE_OVERFLOW)
    qtbot.waitUntil(lambda: any(isinstance(x, ResultWindow) for x in w._measure_windows), timeout=60_000)
    rw = next(x for x in w._measure_windows if isinstance(x, ResultWindow))
    assert rw.centralWidget().verdict.text().startswith("ACCEPTED OFFICIALLY; station finds 2 problems")
    w.shutdown()
    w._close_ready = True


def test_closing_the_window_stops_the_walk_and_removes_the_extracted_zip(qtbot, tree, tmp_path, monkeypatch):
    import station.mlperf.tree as tree_module
    from station.ui.results_tree import ResultsTreeWindow

    zpath = tmp_path / "results.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in sorted(tree.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(tree).as_posix())
    real = tree_module.verify_published
    calls, release = [], threading.Event()

    def held(perf, round_name=None):
        calls.append(perf)
        if len(calls) == 3:
            release.wait(60)
        return real(perf, round_name)

    monkeypatch.setattr(tree_module, "verify_published", held)
    tw = ResultsTreeWindow(zpath)
    qtbot.addWidget(tw)
    tw.show()
    qtbot.waitUntil(lambda: len(tw.view.rows) == 2 and len(calls) == 3, timeout=60_000)
    extracted = tw.view.root
    assert extracted is not None and extracted.is_dir()
    threading.Timer(0.3, release.set).start()  # the result under way finishes; none after it is begun
    tw.close()
    assert len(calls) == 3 and not extracted.exists()
    tw.view.drain()
    assert len(tw.view.rows) <= 3 and tw.view.summary is None
