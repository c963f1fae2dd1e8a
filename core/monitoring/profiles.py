"""Where reference profiles come from: the model version's MLflow run, a local cache, a rebuild.

At registration `log_reference_profile` profiles the model's held-out rows (validation + test
split of its data version: out-of-sample predictions, true labels, the period nearest to
production) and logs `monitoring/reference_profile.json` + `monitoring/reference_sample.parquet`
as artifacts of the version's run. The columns are what clients send: the model's raw inputs,
timestamps through the date parts its `FeatureBuilder` computes (`core.monitoring.inputs`), and
its predictions; a model that took engineered records (registered before the raw-record
boundary) gets its engineered inputs profiled, from its data version's features table.
`load_reference` reads them (cached under `.workbench/monitoring/reference/`), or rebuilds them
from the version's data version when a version predates monitoring.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ModelNotFound
from core.monitoring.reference import (
    PREDICTION,
    PROBABILITY,
    PROFILE_FILE,
    ReferenceProfile,
    build_profile,
)
from core.workspace import Workspace

log = logging.getLogger(__name__)

ARTIFACT_DIR = "monitoring"


def predict_frame(model, X: pd.DataFrame, task: str) -> tuple[pd.DataFrame, np.ndarray | None]:
    """`prediction` and `probability` as the API logs them, plus the full probability matrix.

    `probability` is the positive class's for a binary classifier, the predicted class's for
    more classes (as the API's log).
    """
    preds = np.asarray(model.predict(X))
    out = pd.DataFrame({PREDICTION: preds}, index=X.index)
    proba = None
    if task == "classification" and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X))
        out[PROBABILITY] = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
    return out, proba


def reference_from_version(
    ws: Workspace, data_version: str | None, model=None, source: dict | None = None
) -> ReferenceProfile:
    """Profile the held-out rows of a data version, scored by `model` when given.

    The profiled columns are the model's raw inputs (`core.monitoring.inputs.monitored_inputs`:
    timestamps through their date parts, engineered columns too with
    `monitoring.drift.engineered`), or its engineered inputs for a model that takes them.
    """
    from core.monitoring.inputs import monitored_inputs, takes_raw_records
    from core.training.data import load_split
    from core.training.metrics import compute_metrics

    cfg = ws.config
    legacy = model is not None and not takes_raw_records(model)
    split = _features_split(ws, data_version) if legacy else load_split(ws, data_version)
    X = pd.concat([split.X_val, split.X_test])
    y = pd.concat([split.y_val, split.y_test])
    columns, derive = monitored_inputs(
        X,
        model,
        cfg.features.model_dump(),
        drop=cfg.preprocessing.drop_columns,
        engineered=cfg.monitoring.drift.engineered,
    )
    predictions = performance = None
    if model is not None:
        predictions, proba = predict_frame(model, X, cfg.task)
        # The performance baseline on the test rows only: a model refit on train + validation
        # (`training.refit`) has seen the validation rows, so its metric there is in-sample.
        unseen = slice(len(split.X_val), None)
        performance = compute_metrics(
            cfg.task,
            split.y_test,
            predictions[PREDICTION].iloc[unseen],
            None if proba is None else proba[unseen],
        )
    profile = build_profile(
        X.assign(**{cfg.target: y}),
        columns,
        cfg.monitoring.reference,
        derive=derive,
        types=cfg.monitoring.drift.types,
        target=cfg.target,
        task=cfg.task,
        predictions=predictions,
        performance=performance,
        source={"data_version": split.version.id, "rows": "validation + test", **(source or {})},
        seed=cfg.training.seed,
    )
    if model is not None and not legacy:
        profile.importance = _importance(ws, model, X, y, list(profile.columns), derive)
    return profile


def _importance(ws: Workspace, model, X, y, columns, derive) -> dict[str, float] | None:
    """The watched columns' permutation importance (None, logged, when it cannot be computed)."""
    from core.monitoring.importance import column_weights, permutation_importance

    cfg = ws.config
    try:
        raw = permutation_importance(model, X, y, cfg.task, cfg.metric, cfg.training.seed)
    except Exception as exc:  # noqa: BLE001 - drift is then weighted equally, not lost
        log.warning("feature importance not computed: %s", exc)
        return None
    return column_weights(raw, columns, derive)


def _features_split(ws: Workspace, data_version: str | None):
    """The split of a data version's features table (for models that took engineered records).

    Inputs as models took them before the raw-record boundary: every column but the target and
    the time column.
    """
    import io

    from core.data import versioning
    from core.training.data import find_version, split_frame

    version = find_version(ws, data_version)
    current = versioning.current_meta(ws)
    if current.get("md5") == version.md5 and ws.features_file.exists():
        frame = pd.read_parquet(ws.features_file)
    else:
        frame = pd.read_parquet(io.BytesIO(versioning.read_version_file(ws, version, "features")))
    split = split_frame(frame, ws.config, version)
    time = ws.config.time_column
    for name in ("X_train", "X_val", "X_test"):
        part = getattr(split, name)
        setattr(split, name, part.drop(columns=[c for c in (time,) if c and c in part]))
    return split


def log_reference_profile(
    ws: Workspace, run_id: str, model_uri: str, data_version: str, source: dict | None = None
) -> ReferenceProfile:
    """Build the reference profile of a newly registered version and log it to its run."""
    import mlflow

    from core.monitoring.attribution import save_reference

    model = mlflow.sklearn.load_model(model_uri)
    profile = reference_from_version(ws, data_version, model, source)
    with tempfile.TemporaryDirectory() as tmp:
        profile.save(Path(tmp))
        save_reference(ws, model, data_version, Path(tmp))  # the attribution drift reference
        mlflow.MlflowClient().log_artifacts(run_id, tmp, ARTIFACT_DIR)
    return profile


def reference_dir(ws: Workspace, name: str, version: str) -> Path:
    """The local folder of a version's reference profile (and its reference importance)."""
    return ws.state / "monitoring" / "reference" / name / f"v{version}"


_cache_dir = reference_dir  # the name tests and older callers use


def _install(folder: Path, cache: Path) -> ReferenceProfile:
    """Move a downloaded or built profile folder into the cache atomically."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(folder, staging)
    try:
        os.replace(staging, cache)
    except OSError:  # another process installed it first: theirs is the same profile
        shutil.rmtree(staging, ignore_errors=True)
    return ReferenceProfile.load(cache)


def champion_version(ws: Workspace) -> str:
    """The champion's version number, or `ModelNotFound` saying how to get one."""
    from core.registry.store import champion

    mv = champion(ws)
    if mv is None:
        raise ModelNotFound(
            f"no champion of '{ws.config.model_name}' yet: run `workbench train`, "
            "or compare two files with --reference FILE --current FILE"
        )
    return str(mv.version)


def load_reference(ws: Workspace, version: str | None = None) -> ReferenceProfile:
    """The reference profile of a model version (default: the champion).

    Read from the local cache, else from the version run's artifacts, else rebuilt from the
    version's data version (and logged to its run for next time).
    """
    from mlflow.exceptions import MlflowException

    from core.registry import store

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    name = ws.config.model_name
    version = str(version or champion_version(ws))
    cache = reference_dir(ws, name, version)
    if (cache / PROFILE_FILE).is_file():
        return ReferenceProfile.load(cache)
    client = store.registry_client(ws)
    mv = store.get_version(client, name, version)
    run_id = store.version_run_id(mv)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(client.download_artifacts(run_id, ARTIFACT_DIR, tmp))
            if (local / PROFILE_FILE).is_file():
                return _install(local, cache)
        except (MlflowException, OSError) as exc:
            log.info("no reference profile logged for %s v%s: %s", name, version, exc)
        tags, _ = store.run_data(client, run_id)
        data_version = (mv.tags or {}).get("data_version") or tags.get("data_version")
        from core.monitoring.attribution import save_reference

        model = store.load_model(name, version)
        profile = reference_from_version(
            ws, data_version, model, {"model": name, "model_version": version, "rebuilt": True}
        )
        built = Path(tmp) / "built"
        profile.save(built)
        save_reference(ws, model, data_version, built)
        try:
            client.log_artifacts(run_id, str(built), ARTIFACT_DIR)
        except (MlflowException, OSError) as exc:
            log.warning("rebuilt reference of %s v%s not logged: %s", name, version, exc)
        return _install(built, cache)
