"""Experiments page speed: a full page render vs one bare `mlflow.search_runs` of the same runs.

Run it from the repository root:

    .venv/bin/python benchmarks/bench_experiments_page.py             # 1,000 candidate runs
    .venv/bin/python benchmarks/bench_experiments_page.py --runs 200
    .venv/bin/python benchmarks/bench_experiments_page.py --keep /tmp/bench-ws   # reuse the store

A flights demo workspace gets an embedded SQLite MLflow store holding N candidate runs (one
parent training run per 8 candidates, as `workbench train` logs them; 10 metrics, 6 params and
the workbench tags each, written with one `log_batch` per run). Filling 1,000 runs takes one to
three minutes (MLflow's SQL store writes each run in several transactions); `--keep DIR`
builds the workspace in DIR once and reuses it afterwards.

Timed, best of `--repeat` after one warm-up, all in this process:

- bare: `mlflow.search_runs(experiment_names=[project], filter_string=<candidate runs>)`, the
  pandas frame MLflow itself offers;
- page cold: `AppTest.from_file("pages/experiments.py").run()` with every Streamlit cache
  cleared first, so the page asks MLflow again (the goal: at most 2x the bare query);
- page warm: the same render with the runs frame cached (what every rerun of the page costs);
- page cold + 3 compared: cold render with `?runs=` selecting three runs (metric table,
  parameter diff, parallel coordinates, scatter, plots), for information;
- AppTest floor: a page holding one title, i.e. the harness's own cost per render.

Prints the times and ratios; exits 1 if the cold ratio is above 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

GOAL = 2.0
REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "pages" / "experiments.py"
CANDIDATES = [
    ("random_forest", {"n_estimators": [100, 200, 400], "max_depth": [4, 8, 16, "None"]}),
    (
        "lightgbm",
        {"n_estimators": [100, 300], "learning_rate": [0.03, 0.1], "num_leaves": [15, 31]},
    ),
    ("logistic_regression", {"C": [0.1, 1.0, 10.0], "penalty": ["l2"]}),
    ("knn", {"n_neighbors": [5, 15, 31], "weights": ["uniform", "distance"]}),
    ("extra_trees", {"n_estimators": [100, 300], "max_features": ["sqrt", 0.5]}),
    ("gradient_boosting", {"n_estimators": [100, 200], "learning_rate": [0.05, 0.1]}),
    ("svm", {"C": [0.5, 1.0, 2.0], "kernel": ["rbf", "linear"]}),
    ("naive_bayes", {"var_smoothing": [1e-9, 1e-8]}),
]
METRICS = [f"{s}_{m}" for s in ("train", "val", "test") for m in ("roc_auc", "f1")]
METRICS += ["test_log_loss", "fit_seconds", "predict_ms_per_row", "cv_best_score"]
ROLE_FILTER = "tags.`workbench.role` = 'candidate'"


def candidate_run(client, exp_id: str, parent: str, i: int, rng: random.Random) -> None:
    """One candidate run: 10 metrics, 6 params, the workbench tags, in one `log_batch`."""
    from mlflow.entities import Metric, Param, RunTag

    name, space = CANDIDATES[i % len(CANDIDATES)]
    version = f"{i // 200:08x}-{rng.getrandbits(32):08x}"[:17]
    run = client.create_run(exp_id, run_name=f"{name}-{i}").info.run_id
    now = int(time.time() * 1000)
    params = {"candidate": name} | {f"model__{k}": rng.choice(v) for k, v in space.items()}
    for extra in range(6 - len(params)):
        params[f"prep__option_{extra}"] = rng.choice(["a", "b"])
    tags = {
        "workbench.role": "candidate",
        "workbench.candidate": name,
        "mlflow.parentRunId": parent,
        "data_version": version,
        "task": "classification",
        "metric": "roc_auc",
        "diagnosis.overfit": str(rng.random() < 0.2).lower(),
        "diagnosis.underfit": "false",
        "diagnosis.summary": "train/test gap within bounds",
        "workbench.best": str(i % len(CANDIDATES) == 0).lower(),
    }
    client.log_batch(
        run,
        metrics=[Metric(m, rng.random(), now, 0) for m in METRICS],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    client.set_terminated(run)


def build(root: Path, n_runs: int) -> tuple[str, str]:
    """Create (or reuse) a workspace at `root` with `n_runs` candidate runs; (uri, project)."""
    import mlflow

    from core.workspace import Workspace
    from core.workspace.bootstrap import init_workspace

    marker = root / ".bench-runs"
    if not (root / "workbench.yaml").is_file():
        init_workspace(root, demo="flights", initial=1)
    ws = Workspace.open(root)
    uri, project = f"sqlite:///{root / 'mlflow.db'}", ws.config.project
    if marker.is_file() and marker.read_text() == str(n_runs):
        print(f"reusing {n_runs:,} runs in {root}")
        return uri, project
    (root / "mlflow.db").unlink(missing_ok=True)
    client = mlflow.MlflowClient(uri)
    exp_id = client.create_experiment(project, artifact_location=str(root / "mlartifacts"))
    rng, start, parent = random.Random(7), time.perf_counter(), ""
    for i in range(n_runs):
        if i % len(CANDIDATES) == 0:
            parent = client.create_run(exp_id, tags={"workbench.role": "training"}).info.run_id
        candidate_run(client, exp_id, parent, i, rng)
        if (i + 1) % 250 == 0:
            print(f"  logged {i + 1:,} runs ({time.perf_counter() - start:.0f} s)", flush=True)
    marker.write_text(str(n_runs))
    return uri, project


def best_of(repeat: int, fn, before=None) -> float:
    """Best wall time of `repeat` calls of `fn` after one warm-up; `before` runs untimed."""
    times = []
    for i in range(repeat + 1):
        if before:
            before()
        start = time.perf_counter()
        fn()
        if i:
            times.append(time.perf_counter() - start)
    return min(times)


_COMPONENTS: list = []
"""The custom-component registry of the first AppTest, handed to the later ones."""


def render(runs: str | None = None, expect_compare: bool = False, page: Path = PAGE):
    """One full render of a page in a fresh AppTest, checked to have shown the runs table.

    A fresh AppTest scans every installed distribution for custom components (about a
    second here) before its first run; a Streamlit server does that once at start-up, so
    the registry of the first AppTest is reused (`_bidi_component_manager`, a private
    attribute: without it every render is just that second slower).
    """
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(page), default_timeout=120)
    if _COMPONENTS and hasattr(at, "_bidi_component_manager"):
        at._bidi_component_manager = _COMPONENTS[0]
    if runs:
        at.query_params["runs"] = runs
    at.run()
    if not _COMPONENTS and getattr(at, "_bidi_component_manager", None) is not None:
        _COMPONENTS.append(at._bidi_component_manager)
    if page != PAGE:
        return at
    if at.exception or not at.dataframe:
        raise SystemExit(f"the page did not render the runs: {at.exception or at.error}")
    if expect_compare and not at.header:
        raise SystemExit("the page did not render the comparison")
    return at


def clear_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def main(argv: list[str] | None = None) -> int:
    """Build the store, time the bare query and the page, print ratios; 1 if cold > 2x."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="candidate runs in the store")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the workspace here and reuse it")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    with tempfile.TemporaryDirectory(prefix="bench-exp-") as tmp:
        root = (args.keep or Path(tmp) / "ws").resolve()
        print(f"building a workspace with {args.runs:,} candidate runs in {root}", flush=True)
        uri, project = build(root, args.runs)
        os.environ["WORKBENCH_HOME"] = str(root)
        os.environ.pop("WORKBENCH_TRACKING_URI", None)
        return measure(uri, project, args.runs, args.repeat)


def measure(uri: str, project: str, n_runs: int, repeat: int) -> int:
    import mlflow

    from core.registry.tracking import configure_mlflow

    configure_mlflow(uri)
    frame = mlflow.search_runs(experiment_names=[project], filter_string=ROLE_FILTER)
    if len(frame) != n_runs:
        raise SystemExit(f"expected {n_runs} candidate runs, the store has {len(frame)}")
    three = ",".join(frame["run_id"].iloc[[0, 1, 2]])

    def bare():
        mlflow.search_runs(experiment_names=[project], filter_string=ROLE_FILTER)

    t_bare = best_of(repeat, bare)
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        floor = Path(tmp) / "floor.py"
        floor.write_text("import streamlit as st\n\nst.title('floor')\n", encoding="utf-8")
        t_floor = best_of(repeat, lambda: render(page=floor))
    t_cold = best_of(repeat, render, before=clear_caches)
    t_warm = best_of(repeat, render)
    t_compare = best_of(repeat, lambda: render(three, True), before=clear_caches)
    print(f"{n_runs:,} candidate runs, best of {repeat} after one warm-up")
    print(f"{'measure':<32} {'seconds':>8} {'x bare':>7}")
    rows = [
        ("bare mlflow.search_runs", t_bare),
        ("page render, cold (no cache)", t_cold),
        ("page render, warm (cached)", t_warm),
        ("page render, cold, 3 compared", t_compare),
        ("AppTest floor (a one-line page)", t_floor),
    ]
    for label, t in rows:
        print(f"{label:<32} {t:>8.3f} {t / t_bare:>6.2f}x")
    ok = t_cold <= GOAL * t_bare
    print(f"cold ratio {t_cold / t_bare:.2f}x (goal <= {GOAL:.0f}x): {'ok' if ok else 'MISSED'}")
    print(f"warm ratio {t_warm / t_bare:.2f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
