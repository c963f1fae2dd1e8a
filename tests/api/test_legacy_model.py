"""A model registered before the raw-record boundary keeps being served with its own signature.

Before, models took the engineered columns of `data/features` (a `[ColumnTransformer,
estimator]` pipeline). Such a version, still champion in an existing workspace, is served as it
was: its inputs are its signature's, its clients' engineered records are answered, and it still
takes the array path.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from litestar.testing import TestClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from api.app import create_app
from api.settings import ServeSettings
from core.data.preprocess import build_transformer, split_columns
from core.registry.tracking import ALIAS_CHAMPION, configure_mlflow

pytestmark = pytest.mark.slow
KEY = "legacy-key"


def _register_engineered_model(ws) -> tuple[Pipeline, pd.DataFrame]:
    """Fit and register a model the way the workbench did before: on the features table."""
    cfg = ws.config
    features = pd.read_parquet(ws.features_file).sort_values(cfg.time_column)
    X = features.drop(columns=[cfg.target, cfg.time_column])
    y = features[cfg.target]
    numeric, categorical = split_columns(X)
    pipe = Pipeline(
        [
            ("preprocess", build_transformer(numeric, categorical, cfg.preprocessing)),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(X.iloc[:-200], y.iloc[:-200])
    configure_mlflow(ws.tracking_uri)
    exp = mlflow.get_experiment_by_name(cfg.model_name)
    with mlflow.start_run(experiment_id=exp.experiment_id) as run:
        mlflow.sklearn.log_model(
            pipe,
            name="model",
            signature=infer_signature(X.head(50), pipe.predict(X.head(50))),
            pip_requirements=["scikit-learn"],
            serialization_format="cloudpickle",
        )
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", cfg.model_name).version
    client = mlflow.MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)
    client.set_registered_model_alias(cfg.model_name, ALIAS_CHAMPION, str(version))
    return pipe, X.iloc[-200:]


def test_an_engineered_champion_from_before_is_served_with_its_own_signature(trained_ws, tmp_path):
    pipe, X = _register_engineered_model(trained_ws)
    settings = ServeSettings.from_workspace(
        trained_ws, api_keys=[KEY], predictions_dir=tmp_path / "log", poll_seconds=60
    )
    records = json.loads(X.to_json(orient="records"))

    with TestClient(create_app(settings)) as client:
        info = client.get("/model", headers={"X-API-Key": KEY}).json()
        resp = client.post("/predict", json={"records": records}, headers={"X-API-Key": KEY})
        raw = client.post(
            "/predict",
            json={"records": [{"time_hour": "2013-01-03T10:00:00", "carrier": "UA"}]},
            headers={"X-API-Key": KEY},
        )

    assert info["version"] == "2" and info["prediction_path"] == "array"
    inputs = {f["name"]: f["type"] for f in info["inputs"]}
    assert set(inputs) == set(X.columns) and "time_hour_month" in inputs
    assert resp.status_code == 200, resp.text
    assert resp.json()["predictions"] == pipe.predict(X).tolist()
    assert np.allclose(resp.json()["probabilities"], pipe.predict_proba(X)[:, 1], atol=1e-12)
    assert raw.status_code == 422  # its clients send engineered records, as they did
