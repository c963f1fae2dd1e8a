"""The `app.cli` package: imports go one way (package → command modules → common), no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import app.cli

PACKAGE = Path(app.cli.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))


def _cli_imports(module: str) -> set[str]:
    """The `app.cli...` modules that `module` imports (anywhere in its body)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app.cli"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("app.cli")}
    return found


def test_the_package_has_its_command_modules_and_the_shared_one():
    assert {"common", "data", "deploy", "jobs", "models", "monitoring", "servers"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_no_command_module_imports_the_package_back(module):
    imported = _cli_imports(module)
    assert "app.cli" not in imported, f"app/cli/{module}.py imports the package back"


def test_imports_between_the_modules_form_no_cycle():
    graph = {m: {i.removeprefix("app.cli.") for i in _cli_imports(m)} for m in MODULES}
    assert graph["common"] == set(), "common imports no other module of the package"
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module not in done:
            for target in graph[module]:
                visit(target, (*path, module))
            done.add(module)

    for module in MODULES:
        visit(module, ())


def test_each_module_imports_alone_in_a_fresh_interpreter():
    for module in MODULES:  # one interpreter per module: no import order can hide a cycle
        done = subprocess.run(
            [sys.executable, "-c", f"import app.cli.{module}"], capture_output=True, text=True
        )
        assert done.returncode == 0, f"app.cli.{module}: {done.stderr}"


def test_the_root_app_registers_every_command():
    from typer.main import get_command

    root = get_command(app.cli.app)
    assert {"init", "train", "serve", "ui", "up", "down", "data", "demo", "models", "drift"} <= set(
        root.commands
    )
    assert {"drift-report", "labels", "alerts", "scheduler", "simulate", "jobs", "deploy"} <= set(
        root.commands
    )
