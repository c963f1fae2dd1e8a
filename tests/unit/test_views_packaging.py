"""A regular (not editable) install ships every page where `app/main.py` looks for it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py") if p.name != "__init__.py")

pytestmark = pytest.mark.slow  # builds a wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation"]
    shutil.rmtree(ROOT / "build", ignore_errors=True)  # setuptools reuses build/lib: no stale files
    try:
        subprocess.run([*cmd, "-w", str(out)], cwd=ROOT, check=True, capture_output=True)
    finally:
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    return next(out.glob("*.whl"))


def _navigation_pages() -> list[str]:
    """The file names `app/main.py` gives `st.Page` (`PAGES / "<name>.py"`)."""
    tree = ast.parse((ROOT / "app" / "main.py").read_text(encoding="utf-8"))
    return [
        node.args[0].right.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "Page"
        and isinstance(node.args[0], ast.BinOp)
    ]


def test_main_navigates_to_every_page_file():
    assert sorted(_navigation_pages()) == PAGES


def test_the_wheel_holds_every_page_and_every_view(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"pages/{p}" for p in PAGES} <= names
    assert "app/main.py" in names
    assert "app/views/models.py" in names


def test_an_installed_main_finds_the_installed_pages(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    main = target / "app" / "main.py"
    # The directory app/main.py computes (`PAGES`), evaluated against the installed file.
    tree = ast.parse(main.read_text(encoding="utf-8"))
    expr = next(
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "PAGES"
    )
    pages = eval(  # noqa: S307 - our own source's constant, evaluated against its own path
        compile(ast.Expression(expr), str(main), "eval"),
        {"Path": Path, "__file__": str(main)},
    )
    assert pages == (target / "pages").resolve()
    for name in _navigation_pages():
        assert (pages / name).is_file(), name
