"""Helpers shared by the UI tests (imported by name: `tests/ui` is on `sys.path`)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "app" / "main.py"
PAGES = REPO / "pages"
BAD_FILE = "bad_flights.csv"
BAD_REASON = "missing_rate on 'carrier'"
FIRST_RUN_TIMEOUT = 60  # the first script run of a session imports pandas, sklearn, plotly
RUN_TIMEOUT = 30  # later reruns: generous, because CI machines are busy (3 s is the default)


def app(path: Path) -> AppTest:
    """An AppTest of a script, not yet run, with a CI-friendly default rerun timeout."""
    return AppTest.from_file(str(path), default_timeout=RUN_TIMEOUT)


def page(name: str) -> AppTest:
    """An AppTest of one page file, run once (generous timeout for the first, cold run)."""
    at = app(PAGES / f"{name}.py")
    at.run(timeout=FIRST_RUN_TIMEOUT)
    return at


def texts(elements) -> list[str]:
    """The `.value` of every element in an AppTest element list."""
    return [str(e.value) for e in elements]


CANDIDATES = [  # name, data version, test_roc_auc, test_log_loss, params, won its training
    ("random_forest", "v1", 0.91, 0.40, {"model__n_estimators": 100, "model__max_depth": 5}, True),
    ("knn", "v1", 0.80, 0.30, {"model__n_neighbors": 15}, False),
    ("random_forest", "v2", 0.88, 0.45, {"model__n_estimators": 300, "model__max_depth": 5}, True),
]


def png() -> bytes:
    """A tiny valid PNG, standing in for a logged plot."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), "blue").save(buf, format="PNG")
    return buf.getvalue()


def log_candidates(root: Path) -> dict[str, str]:
    """Candidate runs under one parent per data version, as `workbench train` lays them out.

    The first random forest also logs `plots/roc_curve.png`. Returns run ids by
    `<candidate>@<data version>`.
    """
    import mlflow  # heavy: only the tests that log runs pay for it
    from mlflow.entities import Metric, Param, RunTag

    ws = Workspace.open(root)
    client = mlflow.MlflowClient(ws.tracking_uri)
    exp = client.create_experiment(ws.config.project, artifact_location=str(root / "mlartifacts"))
    parents = {
        v: client.create_run(exp, tags={"workbench.role": "training"}).info.run_id
        for v in ("v1", "v2")
    }
    ids = {}
    for name, version, auc, loss, params, best in CANDIDATES:
        run = client.create_run(exp, run_name=f"{name}-{version}").info.run_id
        tags = {
            "workbench.role": "candidate",
            "workbench.candidate": name,
            "mlflow.parentRunId": parents[version],
            "data_version": version,
            "metric": "roc_auc",
            "workbench.best": str(best).lower(),
            "diagnosis.overfit": "false",
        }
        now = int(time.time() * 1000)
        metrics = {"test_roc_auc": auc, "test_log_loss": loss, "train_roc_auc": auc + 0.05}
        client.log_batch(
            run,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
            params=[Param(k, str(v)) for k, v in {"candidate": name, **params}.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        client.set_terminated(run)
        ids[f"{name}@{version}"] = run
    plots = root / "tmp-plots"
    plots.mkdir()
    (plots / "roc_curve.png").write_bytes(png())
    client.log_artifacts(ids["random_forest@v1"], str(plots), "plots")
    return ids
