"""Cut a built virtualenv down to what the prediction API runs (docker/api.Dockerfile's `slim`).

Removed, each by a rule below:
- `UNUSED`: distributions that dependencies declare but serving never imports (checked before
  the cut: importing `WARM` must load none of their files, or the build fails);
- pip, setuptools and wheel (the package is installed into the venv in a build stage);
- test suites, C/C++/Cython sources and headers, type stubs (`.pyi`), all bytecode;
- pyarrow's libraries for Flight and the remote file systems (S3, GCS, Azure, HDFS):
  never imported (the prediction log is on local disk or PostgreSQL; `pyarrow.fs` imports the
  file-system modules optionally), and its C++ test library;
- the debug symbols of the packages' own shared objects. The auditwheel-vendored libraries in
  `*.libs/` keep theirs: `strip` breaks those patched ELF files;
- identical copies of one file (numpy and scipy vendor the same libgfortran, pyarrow ships a
  library under three names): later copies become symlinks to the first.
Then every shared object must still load, or this fails the build.

Bytecode is written again only for the modules the API imports at start and when it loads a
model (`WARM`); the others compile in memory when first imported. Those warm modules are kept
as bytecode only (`x.pyc` in place of `x.py`, which Python imports as it is): their source is in
the public wheel of the pinned version, tracebacks still name the file, line and function, and
each module is stored once (keeping both would add 56 MB; keeping neither makes every start
compile them: importing `WARM` took 10 s of CPU instead of 4, over 30 s on a loaded machine).

    /opt/venv/bin/python3 slim_venv.py          # the interpreter of the venv to cut

Standard library only (it runs after pip is gone); prints what it removed, in MB.
"""

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

UNUSED = {
    # databricks-sdk (an mlflow-skinny dependency) stays: mlflow imports its `databricks`
    # package to look for `databricks.agents`, and its registry imports cryptography. Only the
    # SDK's Google Cloud credentials are never loaded (the API reads a local or HTTP registry).
    "google-auth": "databricks-sdk's Google Cloud credentials",
    "pyasn1-modules": "google-auth's",
    "pyasn1": "google-auth's",
    # litestar's example generation for OpenAPI (`create_examples`, off) and test factories
    "polyfactory": "litestar's OpenAPI examples (off)",
    "faker": "polyfactory's",
}
"""Distribution → why serving never imports it."""
PACKAGING = ["pip", "setuptools", "wheel"]
DIRS = {"tests", "__pycache__"}
SUFFIXES = {".pyx", ".pxd", ".pxi", ".h", ".hpp", ".c", ".cc", ".cpp", ".pyi"}
PYARROW_UNUSED = (
    "include",
    "src",
    "_pyarrow_cpp_tests*.so",
    "libarrow_flight.so*",
    "libarrow_python_flight.so*",
    "_flight*.so",
    "libarrow_s3.so*",
    "_s3fs*.so",
    "_gcsfs*.so",
    "_azurefs*.so",
    "_hdfs*.so",
)
DEDUPE_MIN_BYTES = 64 << 10
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


def _imported_files() -> set[str]:
    """The files of the modules that importing `WARM` loads (in a fresh interpreter)."""
    code = (
        "import json, sys\n"
        f"import {', '.join(WARM)}\n"
        "print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"slim_venv.py: importing WARM failed:\n{done.stderr[-2000:]}")
    files = json.loads(done.stdout.strip().splitlines()[-1])
    return {os.path.realpath(f) for f in files if f}


def check_unused() -> None:
    """Fail if importing `WARM` loads a module of an `UNUSED` distribution."""
    imported = _imported_files()
    for name, why in UNUSED.items():
        try:
            files = metadata.distribution(name).files or []
        except metadata.PackageNotFoundError:
            continue
        used = sorted(f for f in (os.path.realpath(p.locate()) for p in files) if f in imported)
        if used:
            raise SystemExit(f"slim_venv.py: UNUSED[{name!r}] ({why}) is imported: {used[:3]}")


def prune(site: Path) -> None:
    """Delete what serving never reads."""
    subprocess.run(
        [sys.executable, "-m", "pip", "uninstall", "-q", "-y", *PACKAGING, *UNUSED], check=True
    )
    for path in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.name in DIRS and path.is_dir() or path.suffix in SUFFIXES and path.is_file():
            _remove(path)
    for pattern in PYARROW_UNUSED:
        for path in (site / "pyarrow").glob(pattern):
            _remove(path)


def strip(site: Path) -> None:
    """Strip the packages' own shared objects (not the auditwheel-patched `*.libs/`)."""
    own = [
        p
        for p in site.rglob("*.so*")
        if p.is_file() and not p.is_symlink() and not any(x.endswith(".libs") for x in p.parts)
    ]
    subprocess.run(["strip", "--strip-unneeded", *map(str, own)], check=True)


def dedupe(site: Path) -> int:
    """Replace later identical copies of a file by relative symlinks to the first.

    Returns:
        The bytes saved.
    """
    first: dict[bytes, Path] = {}
    saved = 0
    files = (p for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    for path in sorted(files, key=lambda p: (len(p.name), str(p))):
        size = path.stat().st_size
        if size < DEDUPE_MIN_BYTES:
            continue
        digest = hashlib.sha256(path.read_bytes()).digest()
        if digest in first:
            target = os.path.relpath(first[digest], path.parent)
            path.unlink()
            path.symlink_to(target)
            saved += size
        else:
            first[digest] = path
    return saved


def check_loads(site: Path) -> int:
    """Load every shared object (OSError fails the build); return how many."""
    every = [p for p in site.rglob("*.so*") if p.is_file()]
    for lib in every:
        ctypes.CDLL(str(lib))
    return len(every)


def warm() -> None:
    """Write the bytecode of the modules the API imports."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", "import " + ", ".join(WARM)], check=True, env=env)


def sourceless(site: Path) -> int:
    """Keep each compiled module as bytecode only (`x.pyc` beside, `x.py` removed).

    Returns:
        The bytes of source removed.
    """
    tag = sys.implementation.cache_tag
    removed = 0
    for pyc in list(site.rglob(f"__pycache__/*.{tag}.pyc")):
        source = pyc.parent.parent / (pyc.name.split(".")[0] + ".py")
        if source.is_file():
            removed += source.stat().st_size
            source.unlink()
            pyc.rename(source.with_suffix(".pyc"))
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache)  # left: bytecode of sources that are gone
    return removed


def main() -> None:
    """Cut the venv of this interpreter."""
    site = Path(sysconfig.get_path("purelib"))
    before = _size(site)
    check_unused()
    prune(site)
    strip(site)
    saved = dedupe(site)
    count = check_loads(site)
    pruned = _size(site)
    warm()
    sources = sourceless(site)
    after = _size(site)
    print(
        f"site-packages: {before / 1e6:.0f} MB -> {pruned / 1e6:.0f} MB pruned "
        f"({saved / 1e6:.1f} MB of copies linked; {count} shared objects load) -> "
        f"{after / 1e6:.0f} MB with the warm modules as bytecode only "
        f"({sources / 1e6:.0f} MB of their source dropped)"
    )


if __name__ == "__main__":
    main()
