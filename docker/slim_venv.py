"""Cut a built virtualenv down to what the prediction API runs (docker/api.Dockerfile's `slim`).

Removed: pip, setuptools and wheel (the image installs the package with the base's own pip),
test suites, C/C++/Cython sources and headers, all bytecode, pyarrow's Flight and S3 libraries
(never imported: the prediction log is on local disk or PostgreSQL), copies of one pyarrow
library under several names (symlinked), and the debug symbols of the packages' own shared
objects. The auditwheel-vendored libraries in `*.libs/` keep theirs: `strip` breaks those
patched ELF files. Then every shared object must still load, or this fails the build.

Bytecode is written again only for the modules the API imports at start and when it loads a
model (`WARM`); the few others compile in memory when first imported. All of it would add
~210 MB; the warm set is ~70 MB and saves ~15 s of compiling at every start.

    /opt/venv/bin/python3 slim_venv.py          # the interpreter of the venv to cut

Standard library only (it runs after pip is gone); prints what it removed, in MB.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

DIRS = {"tests", "__pycache__"}
SOURCES = {".pyx", ".pxd", ".pxi", ".h", ".hpp", ".c", ".cc", ".cpp"}
PYARROW_UNUSED = (
    "include",
    "src",
    "_pyarrow_cpp_tests*.so",
    "libarrow_flight.so*",
    "libarrow_python_flight.so*",
    "_flight*.so",
    "libarrow_s3.so*",
    "_s3fs*.so",
)
WARM = [
    "litestar",
    "uvicorn.main",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "typer",
    "rich.console",
    "httpx",
    "prometheus_client",
    "msgspec",
    "pydantic",
    "yaml",
    "redis.asyncio",
    "psycopg",
    "pandas",
    "pyarrow.parquet",
    "pyarrow.dataset",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.preprocessing",
    "sklearn.impute",
    "sklearn.linear_model",
    "sklearn.naive_bayes",
    "lightgbm",
    "mlflow.sklearn",
    "mlflow.artifacts",
    "mlflow.models",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
]
"""What `workbench serve` imports from the dependencies, model loading included (measured with a
real start + /predict of the demo's LightGBM and logistic-regression pipelines)."""


def _size(path: Path) -> int:
    files = [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def prune(site: Path) -> None:
    """Delete what serving never reads."""
    subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "-q", "-y", "pip", "setuptools", "wheel"],
        check=True,
    )
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.name in DIRS and path.is_dir() or path.suffix in SOURCES and path.is_file():
            _remove(path)
    for pattern in PYARROW_UNUSED:
        for path in (site / "pyarrow").glob(pattern):
            _remove(path)


def dedupe_pyarrow(site: Path) -> None:
    """Keep one of the identical copies of a pyarrow library (the wheel ships up to three)."""
    first: dict[bytes, Path] = {}
    for lib in sorted((site / "pyarrow").glob("lib*.so*"), key=lambda p: len(p.name)):
        digest = hashlib.sha256(lib.read_bytes()).digest()
        if digest in first:
            lib.unlink()
            lib.symlink_to(first[digest].name)
        else:
            first[digest] = lib


def strip(site: Path) -> int:
    """Strip the packages' own shared objects; every one must load afterwards.

    Returns:
        The number of shared objects checked.
    """
    own = [
        p
        for p in site.rglob("*.so*")
        if p.is_file() and not p.is_symlink() and not any(x.endswith(".libs") for x in p.parts)
    ]
    subprocess.run(["strip", "--strip-unneeded", *map(str, own)], check=True)
    every = [p for p in site.rglob("*.so*") if p.is_file()]
    for lib in every:
        ctypes.CDLL(str(lib))  # OSError (build fails) on a library strip broke
    return len(every)


def warm() -> None:
    """Write the bytecode of the modules the API imports."""
    code = "import " + ", ".join(WARM)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def main() -> None:
    """Cut the venv of this interpreter."""
    site = Path(sysconfig.get_path("purelib"))
    before = _size(site)
    prune(site)
    dedupe_pyarrow(site)
    count = strip(site)
    pruned = _size(site)
    warm()
    after = _size(site)
    print(
        f"site-packages: {before / 1e6:.0f} MB -> {pruned / 1e6:.0f} MB pruned "
        f"({count} shared objects load) -> {after / 1e6:.0f} MB with the warm bytecode"
    )


if __name__ == "__main__":
    main()
