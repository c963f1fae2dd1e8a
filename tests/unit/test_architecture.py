"""Layering rules from DESIGN.md, checked on the source."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "core": {"streamlit", "litestar", "apscheduler"},
    "api": {"streamlit", "evidently", "apscheduler"},
    "scheduler": {"streamlit", "litestar"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_forbidden_runtimes(package):
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN[package])
        for p in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_edits_sys_path():
    for folder in ("core", "api", "scheduler", "app", "pages"):
        for p in (ROOT / folder).rglob("*.py"):
            assert "sys.path" not in p.read_text(encoding="utf-8"), p
