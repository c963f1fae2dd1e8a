"""Compiled trees: a LightGBM model as native code, built once at registration.

`benchmarks/bench_compiled.py` measured the candidates on the flights demo model (200 trees):
lleaves (LightGBM's trees as LLVM IR, compiled by llvmlite) was the fastest and reproduced the
booster's probabilities to ~1e-16; treelite + tl2cgen was a third as fast on batches and no
faster on one row; ONNX Runtime computes in float32 (probabilities off by ~1e-2). lleaves needs
llvmlite (~130 MB) to compile, but its output is an ordinary object file: linked into a shared
library, the API loads it with `ctypes` and needs neither llvmlite nor a compiler.

- `log_compiled` (registration): compiles the version's LightGBM estimator for a portable CPU
  (`x86-64` without host extensions, so a replica on another machine runs it), links it with
  the system `cc` (or `ld`) and logs `forest.so` + `compiled.json` (the model's hash, the
  feature count, the machine) as the run's `compiled/` artifacts, beside the model. It never
  fails a registration: without lleaves or a linker the version is served by its booster.
- `fetch_trees` (load): downloads them and opens the library when it was built for this very
  booster (hash) on this kind of machine; the caller verifies it against the booster on probe
  rows (`core.serving.inference.compile_model`) before it serves, and falls back otherwise.

Nothing compiles on load nor on the request path: `COMPILES` counts compilations in this
process.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import one_line

log = logging.getLogger(__name__)

BACKEND = "lleaves"
ARTIFACT_DIR = "compiled"
LIBRARY, META = "forest.so", "compiled.json"
_ENTRY = "forest_root"  # void forest_root(double *rows, double *out, int32 start, int32 end)
_NO_LLEAVES = "lleaves is not installed: pip install '.[trees]'"
COMPILES = 0
"""How many models this process compiled (registration only; tests check loads add none)."""


class TreesUnavailable(Exception):
    """The compiled trees cannot serve this model; the message says why."""


@dataclass
class CompiledTrees:
    """A LightGBM model compiled to a shared library, called through ctypes.

    `predict` returns what the booster's `predict` returns: the probability of class 1
    (binary), one column per class (multiclass) or the value (regression).
    """

    path: Path
    n_features: int
    outputs: int
    _entry: ctypes._CFuncPtr = field(repr=False)
    _library: ctypes.CDLL = field(repr=False)  # kept: the entry point lives in it

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803 - array naming
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected (rows, {self.n_features}) features, got {X.shape}")
        n = X.shape[0]
        out = np.zeros((n, self.outputs) if self.outputs > 1 else n, dtype=np.float64)
        self._entry(X.ctypes.data, out.ctypes.data, 0, n)  # ctypes releases the GIL
        return out


def lightgbm_estimator(est) -> bool:
    """Whether `est` is a fitted LightGBM scikit-learn model with a built-in objective."""
    try:
        from lightgbm import LGBMModel
    except ImportError:  # pragma: no cover - lightgbm is a core dependency
        return False
    return isinstance(est, LGBMModel) and not callable(getattr(est, "objective_", None))


def model_hash(est) -> str:
    """sha256 of the booster's text form: which model a compiled library belongs to."""
    return hashlib.sha256(est.booster_.model_to_string().encode()).hexdigest()


def _target_cpu() -> str:
    return "x86-64" if platform.machine() in {"x86_64", "AMD64"} else "generic"


def _link(obj: Path, lib: Path) -> None:
    """Link lleaves' position-independent object file into a shared library."""
    cc, ld = shutil.which("cc") or shutil.which("gcc"), shutil.which("ld")
    if cc:
        cmd = [cc, "-shared", "-o", str(lib), str(obj), "-lm"]
    elif ld:
        cmd = [ld, "-shared", "-o", str(lib), str(obj)]
    else:
        raise TreesUnavailable("no linker (cc, gcc or ld) to build the shared library")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603 - a found linker, fixed arguments
    if done.returncode != 0:
        raise TreesUnavailable(f"linking failed: {done.stderr.strip()[:300]}")


def compile_trees(est, out: Path) -> dict:
    """Compile a fitted LightGBM estimator into `out/forest.so` and `out/compiled.json`.

    Returns:
        The metadata written to `compiled.json`.

    Raises:
        TreesUnavailable: not a LightGBM model, lleaves missing, or compiling/linking failed.
    """
    global COMPILES
    if not lightgbm_estimator(est):
        raise TreesUnavailable(f"compiled trees serve LightGBM models, not {type(est).__name__}")
    try:
        import lleaves
    except ImportError as exc:
        raise TreesUnavailable(f"{_NO_LLEAVES} ({exc})") from exc
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        text, obj = Path(tmp) / "model.txt", Path(tmp) / "forest.o"
        est.booster_.save_model(str(text))
        model = lleaves.Model(model_file=str(text))
        # inlined (without it: a third of the compile time, 3-4x slower on 100 rows here)
        model.compile(cache=str(obj), target_cpu=_target_cpu(), target_cpu_features="")
        COMPILES += 1
        _link(obj, out / LIBRARY)
    meta = {
        "backend": BACKEND,
        "model_sha256": model_hash(est),
        "n_features": int(est.booster_.num_feature()),
        "outputs": int(est.booster_.num_model_per_iteration()),
        "machine": platform.machine(),
        "target_cpu": _target_cpu(),
        "lleaves": getattr(lleaves, "__version__", "unknown"),
        "compile_seconds": round(time.perf_counter() - start, 2),
    }
    (out / META).write_text(json.dumps(meta, indent=2))
    return meta


def load_trees(folder: Path, est) -> CompiledTrees:
    """Open the compiled library in `folder` for `est`.

    Raises:
        TreesUnavailable: files missing or unreadable, built for another model or machine, or
            the library does not load.
    """
    meta_path, lib = folder / META, folder / LIBRARY
    if not meta_path.is_file() or not lib.is_file():
        raise TreesUnavailable(f"no {META} and {LIBRARY} in {folder}")
    try:
        meta = json.loads(meta_path.read_text())
        n_features, outputs = int(meta["n_features"]), int(meta["outputs"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TreesUnavailable(f"{meta_path} is not valid compiled-trees metadata: {exc}") from exc
    if meta.get("machine") != platform.machine():
        raise TreesUnavailable(f"built for {meta.get('machine')}, this is {platform.machine()}")
    if meta.get("model_sha256") != model_hash(est):
        raise TreesUnavailable(f"{lib.name} was built for another model (hash differs)")
    try:
        library = ctypes.CDLL(str(lib.resolve()))
        entry = getattr(library, _ENTRY)
    except (OSError, AttributeError) as exc:
        raise TreesUnavailable(f"{lib} does not load: {one_line(exc)}") from exc
    entry.restype = None
    entry.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32]
    return CompiledTrees(lib, n_features, outputs, entry, library)


def log_compiled(client, run_id: str, model) -> dict | None:
    """Compile a registered pipeline's LightGBM estimator and log it beside the model.

    Returns:
        The metadata, or None (reason logged) when the model is not compiled: registration
        goes on and the version is served by its own estimator.
    """
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    if not lightgbm_estimator(est):
        return None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            meta = compile_trees(est, Path(tmp))
            client.log_artifacts(run_id, tmp, ARTIFACT_DIR)
    except Exception as exc:  # noqa: BLE001 - never fail a registration: the booster serves
        level = logging.INFO if str(exc).startswith(_NO_LLEAVES) else logging.WARNING
        log.log(level, "trees not compiled, the booster will serve: %s", one_line(exc))
        return None
    log.info("compiled %d-feature trees in %.1f s", meta["n_features"], meta["compile_seconds"])
    return meta


def fetch_trees(tracking_uri: str, run_id: str | None, est) -> tuple[CompiledTrees | None, str]:
    """The compiled trees logged with a model version's run, or (None, why not).

    The second item is `lleaves` on success, else the reason the estimator itself serves.
    """
    if not lightgbm_estimator(est):
        return None, f"compiled trees serve LightGBM models, not {type(est).__name__}"
    if not run_id:
        return None, "the model version has no run to hold compiled trees"
    from mlflow.artifacts import download_artifacts

    try:
        local = download_artifacts(
            run_id=run_id, artifact_path=ARTIFACT_DIR, tracking_uri=tracking_uri
        )
    except Exception as exc:  # noqa: BLE001 - absent or unreachable: the booster serves
        return None, f"no compiled trees logged with run {run_id}: {one_line(exc)}"[:300]
    try:
        return load_trees(Path(local), est), BACKEND
    except TreesUnavailable as exc:
        return None, str(exc)
