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


def _module_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports at module level (TYPE_CHECKING blocks aside)."""
    modules = {}
    for folder in ("core", "api", "app", "scheduler", "pages"):
        for p in (ROOT / folder).rglob("*.py"):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in modules:
                        targets.add(full)
                    elif node.module in modules:
                        targets.add(node.module)
        graph[name] = targets - {name}
    return graph


def test_no_import_cycle_between_project_modules():
    graph = _module_graph()
    assert len(graph) > 100  # the walk found the project
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError(" -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for module in sorted(graph):
        visit(module, [])


def test_streamlit_scripts_hold_no_bare_string_but_their_docstring():
    """Streamlit's magic writes a bare string statement of a script onto the page."""
    scripts = [ROOT / "app" / "main.py", *sorted((ROOT / "pages").glob("*.py"))]
    shown = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in scripts
        for node in ast.parse(path.read_text(encoding="utf-8")).body[1:]
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    ]
    assert shown == []
