"""Who may import whom, read from the source (ast): no module is imported to check the rules.

- Nothing outside station/ui imports Qt, so the CLI, benchmarks of the core and the tests run
  on machines with no display (one test also imports every such module and looks for Qt).
- The core, the guided procedure and the measurement service import no station.ui: front ends
  drive them, never the other way round (one named exception, inside a function: the PDF writer).
- Drivers (instruments/) import from the station only the record type of the driver contract.
- A test module imports shared code from tests/helpers/, never from another test module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6")
NO_UI_PACKAGES = ("station.core", "station.procedure", "station.measurement")
# What a driver may still take from the station. The record type is moving into `instruments`;
# once it has, this set is empty and drivers import nothing from the station at all.
DRIVER_STATION_IMPORTS_ALLOWED = frozenset({"station.core.samples"})
# (module, ui module) pairs where a service module may reach into station.ui inside a function,
# never at import time: the exporter picks the PDF writer, which lays out the page with Qt. Once
# the front ends hand the writer in (or the PDF layout leaves station/ui), this set is empty.
UI_IMPORTS_IN_FUNCTIONS_ALLOWED = frozenset({("station.measurement.export", "station.ui.pdf_report")})


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imported_names(path: Path) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of every import in the file, in functions too, relative ones made absolute.

    ``from a.b import c`` gives both ``a.b`` and ``a.b.c``: c may be a module.
    """
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def sources(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def core_modules():
    """Every module of the station and the drivers outside station/ui, as (name, path)."""
    for path in sources("station", "instruments"):
        if not is_within(module_name(path), "station.ui"):
            yield module_name(path), path


def test_no_module_outside_the_ui_imports_qt():
    offenders = [f"{name}:{line} imports {imp}" for name, path in core_modules()
                 for line, imp in imported_names(path) if imp.split(".")[0] in QT_MODULES]
    assert offenders == []


def test_importing_every_module_outside_the_ui_loads_no_qt():
    names = [n for n, _ in core_modules()]
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}:\n"
        "    importlib.import_module(n)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def imports_in_functions(path: Path) -> set[int]:
    """Lines of the import statements that run only when a function is called."""
    lines = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines.update(n.lineno for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom))
    return lines


def test_core_procedure_and_measurement_service_import_no_ui():
    offenders = []
    for path in sources(*NO_UI_PACKAGES):
        name, lazy = module_name(path), imports_in_functions(path)
        for line, imp in imported_names(path):
            if not is_within(imp, "station.ui"):
                continue
            if line in lazy and any(name == m and is_within(imp, ui) for m, ui in UI_IMPORTS_IN_FUNCTIONS_ALLOWED):
                continue
            offenders.append(f"{name}:{line} imports {imp}")
    assert offenders == []


def test_drivers_take_from_the_station_only_the_record_type():
    offenders = []
    for path in sources("instruments"):
        for line, imp in imported_names(path):
            if not is_within(imp, "station"):
                continue
            # `from station.core.samples import Block` also names station.core.samples.Block
            if any(is_within(imp, allowed) for allowed in DRIVER_STATION_IMPORTS_ALLOWED):
                continue
            if any(is_within(allowed, imp) for allowed in DRIVER_STATION_IMPORTS_ALLOWED):
                continue  # the parents of an allowed module (`station`, `station.core`) are on its way
            offenders.append(f"{module_name(path)}:{line} imports {imp}")
    assert offenders == []


def test_test_modules_share_code_only_through_tests_helpers():
    offenders = []
    for path in sources("tests"):
        if is_within(module_name(path), "tests.helpers"):
            continue
        for line, imp in imported_names(path):
            if is_within(imp, "tests") and not is_within(imp, "tests.helpers") and imp != "tests":
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {imp}")
    assert offenders == [], "move the shared code to a module under tests/helpers/"


def test_the_rules_see_what_they_forbid(tmp_path, monkeypatch):
    """The ast reading catches each way of writing a forbidden import: a rule that sees nothing passes vacuously."""
    pkg = tmp_path / "station" / "core"
    pkg.mkdir(parents=True)
    (tmp_path / "station" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_text(
        "import PySide6.QtCore\n"
        "from ..ui import window\n"
        "from station import ui\n"
        "def f():\n"
        "    from pyqtgraph import PlotWidget\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = [imp for _, imp in imported_names(pkg / "m.py")]
    assert "PySide6.QtCore" in found and "pyqtgraph" in found
    assert "station.ui" in found and "station.ui.window" in found
    assert sum(is_within(imp, "station.ui") for imp in found) == 3
    assert imports_in_functions(pkg / "m.py") == {5}  # only the pyqtgraph import waits for a call
