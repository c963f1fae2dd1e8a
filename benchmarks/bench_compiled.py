"""Compiled trees: the LightGBM booster vs lleaves, treelite + tl2cgen and ONNX Runtime.

    .venv/bin/python benchmarks/bench_compiled.py [--rows 1,100,1000]

Builds a flights demo workspace in a temp folder, fits the demo's LightGBM pipeline (200 trees,
the catalogue's settings) and times the estimator alone on the matrix the model's front steps
make of held-out raw records: 1, 100 and 1,000 rows, one thread, best of 7 rounds of repeated
calls, the candidates taking turns. For each candidate it prints the time per call and the ratio
to the booster, the compile time, the largest probability difference against the booster on the
1,000 rows (the serving check wants 1e-9), and the size of the packages it adds to the API image
at run time (measured on the installed files). `lleaves` is lleaves' own runtime (host CPU,
llvmlite loaded); `lleaves .so` is what the API serves (`core.serving.compiled`: compiled for a
portable x86-64, linked into a shared library, called through ctypes, no package at run time).
ONNX Runtime gets float32 inputs: onnxmltools converts LightGBM for float32 only. A candidate
whose packages are not installed is listed as such; install them with
`pip install lleaves 'llvmlite<0.45' treelite tl2cgen onnxruntime onnxmltools skl2onnx`.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.data.pipeline import run_pipeline
from core.serving.inference import compile_model, signature_fields
from core.serving.records import json_records
from core.training.candidates import build_pipeline, catalogue
from core.training.data import load_split
from core.training.tracker import raw_signature
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

RUNTIME = {  # what the API image needs to load and run an already compiled model
    "booster": [],
    "lleaves": ["lleaves", "llvmlite"],
    "lleaves .so": [],  # what the API serves: the library, loaded with ctypes
    "tl2cgen": ["tl2cgen", "tl2cgen.libs", "treelite", "treelite.libs"],
    "onnxruntime": ["onnxruntime", "flatbuffers"],
}


def _package_mb(names: list[str]) -> float | None:
    """Installed size of the packages' folders (None when one is missing)."""
    total = 0
    for name in names:
        spec = importlib.util.find_spec(name.split(".")[0])
        if spec is None or not spec.submodule_search_locations:
            return None
        root = Path(next(iter(spec.submodule_search_locations))).parent / name
        if not root.exists():
            continue  # a `.libs` folder the wheel does not have on this platform
        total += sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return total / 1e6


def _model(root: Path):
    print(f"building a flights demo workspace in {root} ...", flush=True)
    init_workspace(root, demo="flights")
    ws = Workspace.open(root)
    assert run_pipeline(ws).status in {"ok", "partial"}
    split = load_split(ws)
    fields = signature_fields(raw_signature(split.X_train, split.y_train))
    pipe = build_pipeline(catalogue("classification")["lightgbm"], split.X_train, ws.config, 0)
    pipe.fit(split.X_train, split.y_train)
    front = compile_model(pipe, fields)
    assert front is not None, "the demo pipeline compiles to the array path"
    sample = split.X_test.sample(1000, replace=len(split.X_test) < 1000, random_state=0)
    X = front.transform_records(json_records(sample, fields))
    return pipe.steps[-1][1], np.ascontiguousarray(X, dtype="float64")


def _booster(est, tmp: Path):
    booster = est.booster_
    return lambda X: booster.predict(X, num_threads=1)


def _lleaves(est, tmp: Path):
    import lleaves

    path = tmp / "model.txt"
    est.booster_.save_model(path)
    model = lleaves.Model(model_file=str(path))
    model.compile(cache=str(tmp / "lleaves.o"))
    return lambda X: model.predict(X, n_jobs=1)


def _lleaves_so(est, tmp: Path):
    from core.serving.compiled import compile_trees, load_trees

    compile_trees(est, tmp)
    return load_trees(tmp, est).predict


def _tl2cgen(est, tmp: Path):
    import tl2cgen
    import treelite

    model = treelite.frontend.from_lightgbm(est.booster_)
    lib = tmp / "model.so"
    tl2cgen.export_lib(model, toolchain="gcc", libpath=str(lib), params={"parallel_comp": 8})
    predictor = tl2cgen.Predictor(str(lib), nthread=1)
    return lambda X: predictor.predict(tl2cgen.DMatrix(X, dtype="float64")).reshape(len(X), -1)[
        :, -1
    ]


def _onnx(est, tmp: Path):
    import onnxmltools
    import onnxruntime as ort
    from onnxmltools.convert.common.data_types import FloatTensorType

    n = est.n_features_in_
    onx = onnxmltools.convert_lightgbm(
        est, initial_types=[("X", FloatTensorType([None, n]))], zipmap=False, target_opset=15
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(onx.SerializeToString(), options)
    name = session.get_inputs()[0].name
    return lambda X: session.run(None, {name: X.astype("float32")})[1][:, 1]


CANDIDATES: dict[str, tuple[Callable, str]] = {
    "booster": (_booster, "lightgbm"),
    "lleaves": (_lleaves, "lleaves"),
    "lleaves .so": (_lleaves_so, "lleaves"),
    "tl2cgen": (_tl2cgen, "tl2cgen"),
    "onnxruntime": (_onnx, "onnxruntime"),
}


def _timings(predictors: dict[str, Callable], X: np.ndarray, sizes: list[int], rounds: int = 7):
    """Seconds per call of each predictor on the first n rows, for each n in `sizes`.

    The candidates take turns within each round (a shared machine's load hits them alike);
    each keeps its best round. A round repeats a call for about 20 ms.
    """
    best: dict[tuple[str, int], float] = {}
    reps: dict[tuple[str, int], int] = {}
    for name, predict in predictors.items():
        for n in sizes:
            t0, calls = time.perf_counter(), 0
            while time.perf_counter() - t0 < 0.02:
                predict(X[:n])
                calls += 1
            reps[name, n] = calls
    for _ in range(rounds):
        for n in sizes:
            for name, predict in predictors.items():
                rows, k = X[:n], reps[name, n]
                t0 = time.perf_counter()
                for _ in range(k):
                    predict(rows)
                spent = (time.perf_counter() - t0) / k
                best[name, n] = min(best.get((name, n), float("inf")), spent)
    return {name: [best[name, n] for n in sizes] for name in predictors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1,100,1000")
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        est, X = _model(Path(tmp) / "ws")
        print(f"LightGBM: {est.booster_.num_trees()} trees, {X.shape[1]} features\n", flush=True)
        reference = _booster(est, Path(tmp))(X)
        results, predictors = {}, {}
        for name, (build, package) in CANDIDATES.items():
            if importlib.util.find_spec(package) is None:
                results[name] = None
                continue
            work = Path(tmp) / name
            work.mkdir()
            t0 = time.perf_counter()
            try:
                predict = build(est, work)
            except Exception as exc:  # noqa: BLE001 - a candidate that fails is reported
                results[name] = f"failed: {exc!r}"[:200]
                continue
            compile_s = time.perf_counter() - t0
            diff = float(np.max(np.abs(predict(X) - reference)))
            predictors[name] = predict
            results[name] = (compile_s, diff, _package_mb(RUNTIME[name]))
        times = _timings(predictors, X, sizes)
    base = times["booster"]
    head = "".join(f"{f'{n} rows':>22}" for n in sizes)
    print(f"{'backend':<12}{head}{'compile s':>11}{'max |dp|':>10}{'runtime MB':>12}")
    for name, result in results.items():
        if result is None or isinstance(result, str):
            print(f"{name:<12}  {result or 'not installed'}")
            continue
        compile_s, diff, mb = result
        cells = "".join(
            f"{t * 1e6:>12.1f} us {b / t:>5.2f}x" for t, b in zip(times[name], base, strict=True)
        )
        size = "-" if mb is None else f"{mb:.0f}"
        print(f"{name:<12}{cells}{compile_s:>11.2f}{diff:>10.1e}{size:>12}")
    print("\nratio = booster time / backend time (higher is faster); max |dp| on 1,000 rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
