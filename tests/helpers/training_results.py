"""Published MLPerf Training power results (tests/data/training) and mlcommons/logging's own
energy computation, run from the fetched snapshot of the logging repository (never committed here)."""

from __future__ import annotations

import ast
import glob
import importlib.util
import subprocess
import tarfile
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data" / "training"
FIXTURES = sorted(DATA.glob("*/*.zip"))
LOGGING_MIRROR = Path("/work/.mirror/mlcommons+logging/repo")
SUMMARIZER_FILE = "mlperf_logging/result_summarizer/result_summarizer.py"
PARSER_FILE = "mlperf_logging/compliance_checker/mlp_parser/ruleset_400.py"
POWER_FUNCTIONS = ("_compute_total_power", "_compute_power_node", "_compute_power_sw")


def extract(zip_path: Path, target: Path) -> Path:
    """Unzip a fixture into ``target`` and return ``target``."""
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(target)
    return target


def official_summarizer(commit: str, workdir: Path) -> dict:
    """The summarizer's power functions of mlcommons/logging at ``commit``, from ``git archive`` into
    ``workdir``: ``{"_compute_total_power": f, ...}``. Skips the test when the snapshot is absent."""
    if not (LOGGING_MIRROR / "HEAD").exists():
        pytest.skip("the mlcommons/logging snapshot is not on this machine")
    try:
        blob = subprocess.run(["git", "-C", str(LOGGING_MIRROR), "archive", commit, SUMMARIZER_FILE, PARSER_FILE],
                              check=True, capture_output=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot archive mlcommons/logging {commit}: {exc}")
    with tarfile.open(fileobj=BytesIO(blob)) as tf:
        tf.extractall(workdir, filter="data")
    spec = importlib.util.spec_from_file_location("official_mlp_parser", workdir / PARSER_FILE)
    parser = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parser)
    # Only the power functions: the module's imports (pandas, the compliance checker) are not needed.
    tree = ast.parse((workdir / SUMMARIZER_FILE).read_text(encoding="utf-8"))
    body = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in POWER_FUNCTIONS]
    namespace = {"glob": glob, "parse_file": lambda path, ruleset=None: parser.parse_file(path)}
    exec(compile(ast.Module(body, []), f"{commit}:{SUMMARIZER_FILE}", "exec"), namespace)
    return {name: namespace[name] for name in POWER_FUNCTIONS}
