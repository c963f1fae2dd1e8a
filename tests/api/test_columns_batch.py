"""Batches past the inline size are scored from the columns their validation built: records,
columns + rows and `/invocations` answer what the pipeline answers (TestClient, real MLflow)."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from litestar.testing import TestClient
from workspaces import copy_workspace

from api.app import create_app
from api.service import INLINE_ROWS
from api.settings import ServeSettings
from core.training.data import load_split
from core.workspace import Workspace

pytestmark = pytest.mark.slow
KEY = "columns-key"


def _json(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: None if pd.isna(v) else v.isoformat() if isinstance(v, pd.Timestamp) else v
         for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]  # fmt: skip


def test_large_batches_in_every_form_answer_what_the_pipeline_answers(
    two_versions_template, tmp_path
):
    ws = Workspace.open(copy_workspace(two_versions_template, tmp_path / "ws"))
    X = load_split(ws).X_test.head(5 * INLINE_ROWS)
    mlflow.set_tracking_uri(ws.tracking_uri)
    pipe = mlflow.sklearn.load_model(f"models:/{ws.config.model_name}@champion")
    records = _json(X)
    expected = pipe.predict(pd.DataFrame.from_records(records, columns=list(X.columns)))
    proba = pipe.predict_proba(pd.DataFrame.from_records(records, columns=list(X.columns)))
    columns = list(reversed(X.columns))  # any order
    rows = [[r[c] for c in columns] for r in records]
    settings = ServeSettings.from_workspace(
        ws, api_keys=[KEY], predictions_dir=tmp_path / "predictions", poll_seconds=60
    )
    headers = {"X-API-Key": KEY}
    with TestClient(create_app(settings)) as client:
        assert client.get("/model").json()["prediction_path"] == "array"
        by_records = client.post("/predict", json={"records": records}, headers=headers)
        by_rows = client.post("/predict", json={"columns": columns, "rows": rows}, headers=headers)
        split = {"dataframe_split": {"columns": columns, "data": rows}}
        by_mlflow = client.post("/invocations", json=split, headers=headers)
    for resp in (by_records, by_rows, by_mlflow):
        assert resp.status_code == 200, resp.text
        assert resp.json()["predictions"] == expected.tolist()
    assert np.allclose(by_records.json()["probabilities"], proba[:, 1], rtol=0, atol=1e-12)
    assert by_rows.json()["probabilities"] == by_records.json()["probabilities"]
