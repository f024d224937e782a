"""The package's layout: every module imports on its own, and stays one readable concept."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bias_sweep"
MAX_LINES = 400

# Run in one fresh interpreter: import the third-party libraries the package names, once (torch,
# transformers and Ray are most of each module's import time), then fork one child per module,
# one after another, each importing its module with no bias_sweep module loaded before it. Each
# child's outcome is one JSON line: the module, and its traceback when the import failed.
FORKED_IMPORTS = r"""
import importlib, json, os, sys, traceback
third_party, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for name, attrs in third_party:
    try:
        mod = importlib.import_module(name)
        for attr in attrs:  # transformers loads lazily: resolve the names the package uses
            try:
                getattr(mod, attr)
            except AttributeError:
                importlib.import_module(f"{name}.{attr}")
    except Exception:
        pass  # the child whose module needs it fails, and says why
assert not [m for m in sys.modules if m.split(".")[0] == "bias_sweep"]
for module in modules:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(module)
            error = None
        except BaseException:
            error = traceback.format_exc()
        print(json.dumps({"module": module, "error": error}), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
"""


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue  # running it is the command, not an import
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _third_party_imports() -> list[tuple[str, list[str]]]:
    """Every absolute import of a module outside the package and the standard library, with the
    names taken from it, as the package's sources write them."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.setdefault(alias.name, set())
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.setdefault(node.module, set()).update(a.name for a in node.names)
    local = {"bias_sweep", *sys.stdlib_module_names}
    return [
        (m, sorted(names)) for m, names in sorted(found.items()) if m.split(".")[0] not in local
    ]


def test_every_module_imports_alone() -> None:
    """A cycle or an import-order dependence between the package's modules fails here even when
    the test suite's own import order happens to hide it. The third-party libraries are loaded
    before each module (once, shared by fork): that hides no order between our modules."""
    modules = _modules()
    assert len(modules) > 30
    args = [json.dumps(_third_party_imports()), json.dumps(modules)]
    proc = subprocess.run(
        [sys.executable, "-c", FORKED_IMPORTS, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    outcomes = {o["module"]: o["error"] for o in map(json.loads, proc.stdout.splitlines())}
    assert sorted(outcomes) == sorted(modules), "a child died before it reported"
    failed = {m: err for m, err in outcomes.items() if err is not None}
    assert not failed, "\n\n".join(f"{m}:\n{err}" for m, err in failed.items())


def _import_alone(module: str) -> tuple[str, int, str]:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    return module, proc.returncode, proc.stderr


@pytest.mark.slow
def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    """As above with nothing loaded before: also fails where a module uses a third-party
    submodule that only another module's import loaded (one interpreter per module, ~6 min)."""
    modules = _modules()
    assert len(modules) > 30
    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [(m, err) for m, rc, err in pool.map(_import_alone, modules) if rc != 0]
    assert not failed, "\n\n".join(f"{m}:\n{err}" for m, err in failed)


def test_modules_stay_short() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in sorted(PACKAGE.rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split their concepts): {long}"


# report/ in layers (issue 19): a module imports only from its own layer and those below it.
REPORT_LAYERS = {
    "loader": 0,  # the modules directly in report/ that read and shape the runs
    "statistics": 1,
    "text": 2,
    "figures": 3,  # titles and labels are written as the text writes numbers
    "build": 4,  # build, compare, command and the package's __init__
}
REPORT_TOP = {"build", "compare", "command", "__init__"}
# The table loader checks a table for the columns the statistics engine requires, which the
# engine names (`statistics.effects.TABLE_COLUMNS`).
REPORT_ALLOWED = {("bias_sweep.report.table", "bias_sweep.report.statistics.effects")}


def _report_layer(module: str) -> int:
    parts = module.split(".")[2:]  # after bias_sweep.report
    if not parts or (len(parts) == 1 and parts[0] in REPORT_TOP):
        return REPORT_LAYERS["build"]
    return REPORT_LAYERS.get(parts[0], REPORT_LAYERS["loader"])


def _report_imports() -> list[tuple[str, str]]:
    """(module, imported module) for every import of one report module by another."""
    edges = []
    for path in sorted((PACKAGE / "report").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                target = node.module or ""
                if target.startswith("bias_sweep.report."):
                    edges.append((module, target))
    return edges


def test_report_layers_import_only_downwards() -> None:
    edges = _report_imports()
    assert len(edges) > 50
    upward = [
        f"{module} -> {target}"
        for module, target in edges
        if _report_layer(target) > _report_layer(module) and (module, target) not in REPORT_ALLOWED
    ]
    assert not upward, f"report/ imports upwards across its layers: {upward}"
