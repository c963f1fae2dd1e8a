"""Helpers for monitoring tests: a prediction log written as the API writes it, with feedback.

Rows are raw records (the processed table's columns minus the target, as the model takes them);
they are logged as a client sends them: JSON values, timestamps as ISO-8601 strings.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pandas as pd
import yaml

from core.monitoring.profiles import predict_frame
from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog
from core.registry import store
from core.training.data import load_split
from core.workspace import Workspace

WEATHER = ("temp", "dewp", "humid", "pressure", "wind_speed", "visib", "wind_dir")


def forget_artifact_repos() -> None:
    """Drop MLflow's process-wide artifact repository cache (keyed by run id).

    A copied workspace's runs keep their template's ids, so a cached repository would send the
    copy's artifact reads and writes to the template.
    """
    from mlflow.tracking._tracking_service import utils

    utils._artifact_repos_cache.clear()


def edit_config(ws: Workspace, **sections) -> Workspace:
    """Replace whole sections of `workbench.yaml` and reopen the workspace."""
    cfg = yaml.safe_load(ws.config_path.read_text())
    cfg.update(sections)
    ws.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return Workspace.open(ws.root)


def holdout(ws: Workspace) -> tuple[pd.DataFrame, pd.Series]:
    """The validation + test rows of the latest data version (raw inputs): the reference rows."""
    split = load_split(ws)
    return pd.concat([split.X_val, split.X_test]), pd.concat([split.y_val, split.y_test])


def api_records(X: pd.DataFrame) -> list[dict]:
    """Rows as a client sends them: JSON values (null for missing), ISO-8601 timestamps."""
    return json.loads(
        X.to_json(orient="records", date_format="iso", date_unit="s", double_precision=15)
    )


def log_predictions(ws, X, *, degrade=False, hours_ago=1.0, version="1", model=None) -> list[str]:
    """Score raw rows with a version (inverted when `degrade`) and log them as the API does.

    The model (the registered `version`, or `model` logged as that version) gets the records
    as the API passes them on (JSON values, ISO timestamps).
    """
    if model is None:
        store.registry_client(ws)  # points MLflow's `models:/` resolution at this workspace
        model = store.load_model(ws.config.model_name, version)
    records_in = api_records(X)
    preds, _ = predict_frame(model, pd.DataFrame.from_records(records_in), ws.config.task)
    if degrade:
        preds["prediction"] = 1 - preds["prediction"]
        preds["probability"] = 1 - preds["probability"]
    start = datetime.now(UTC) - timedelta(hours=hours_ago)
    ids, records = [], []
    for i, (inputs, (_, p)) in enumerate(zip(records_in, preds.iterrows(), strict=True)):
        rid = uuid.uuid4().hex
        ids.append(rid)
        stamp = (start + timedelta(seconds=i)).isoformat()
        records.append(
            PredictionRecord(
                rid, stamp, ws.config.model_name, version, "champion", inputs,
                int(p["prediction"]), float(p["probability"]), 1.0,
            )
        )  # fmt: skip
    with PredictionLog(ws.predictions_dir) as log:
        log.append(records)
    return ids


def send_feedback(ws, ids, actuals) -> None:
    """The labels arrive later, in their own flush (as POST /feedback writes them)."""
    with PredictionLog(ws.predictions_dir) as log:
        for rid, actual in zip(ids, actuals, strict=True):
            log.record_feedback(rid, int(actual))


def shifted(X: pd.DataFrame) -> pd.DataFrame:
    """The raw rows with hotter, wetter weather, one airport and one carrier, longer flights."""
    X = X.copy()
    for col in WEATHER:
        X[col] = X[col] * 1.5 + 20
    X["origin"] = "JFK"
    X["carrier"] = "UA"
    X["distance"] = X["distance"] * 3
    X["sched_dep_time"] = 2300
    X["sched_arr_time"] = 2359
    return X


def shifted_traffic(ws, rows=600) -> list[str]:
    """Log `rows` shifted predictions of the reference rows."""
    X, _ = holdout(ws)
    return log_predictions(ws, shifted(X.iloc[:rows]))
