"""The layering, checked on the source.

`core` is the domain and imports none of the other packages nor the UI, web or scheduler
libraries; `api`, `scheduler` and the UI (`app`, `pages`) build on `core` and not on one
another's internals (the UI reaches the API over HTTP, through `core.serving.client`).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "core": {"streamlit", "litestar", "apscheduler", "app", "api", "scheduler", "pages"},
    "api": {"streamlit", "evidently", "apscheduler", "app", "scheduler", "pages"},
    "scheduler": {"streamlit", "litestar", "app", "api", "pages"},
    "app": {"api", "litestar"},
    "pages": {"api", "litestar", "scheduler"},
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
