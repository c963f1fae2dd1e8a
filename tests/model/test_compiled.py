"""Compiled trees (`core.serving.compiled`): a LightGBM champion is compiled once at
registration, loaded by the API without compiling, equal to its booster (1e-9), and replaced by
the booster, with the reason, when its library is missing, corrupt or disagrees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from servers import api_server
from workspaces import copy_workspace, set_training

from core.serving import compiled
from core.serving.inference import compile_model
from core.serving.records import json_records
from core.training.data import load_split
from core.training.train import train
from core.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lgbm_template(versioned_template, tmp_path_factory) -> Path:
    """The versioned demo after a LightGBM-only training: v1, compiled at registration."""
    root = tmp_path_factory.mktemp("lgbm") / "ws"
    shutil.copytree(versioned_template, root, symlinks=True)
    before = compiled.COMPILES
    train(set_training(root, candidates=["lightgbm"]))
    assert before + 1 == compiled.COMPILES  # the registered version, once
    return root


@pytest.fixture
def lgbm_ws(lgbm_template, tmp_path) -> Workspace:
    return Workspace.open(copy_workspace(lgbm_template, tmp_path / "ws"))


def _load(ws: Workspace):
    from api.model_store import ModelStore

    store = ModelStore(ws.config.model_name, ws.tracking_uri)
    store.check()
    return store.champion


def _records(ws: Workspace, fields, n: int = 500) -> list[dict]:
    X = load_split(ws).X_test
    return json_records(X.sample(min(n, len(X)), random_state=0), fields)


def _compiled_dir(ws: Workspace) -> Path:
    """The champion run's `compiled/` artifact folder in the workspace's store."""
    client = mlflow.MlflowClient(tracking_uri=ws.tracking_uri, registry_uri=ws.tracking_uri)
    mv = client.get_model_version_by_alias(ws.config.model_name, "champion")
    uri = client.get_run(mv.run_id).info.artifact_uri
    return Path(unquote(urlparse(uri).path)) / compiled.ARTIFACT_DIR


def _booster_matches(model, records: list[dict]) -> None:
    """The served predictions equal the booster's: probabilities within 1e-9, labels equal."""
    est = model.model[-1]
    features = model.features(None, records)
    labels, proba = model.estimate(features)
    assert np.abs(np.asarray(proba) - est.booster_.predict(features)).max() <= 1e-9
    assert labels == est.predict(features).tolist()
    frame = pd.DataFrame.from_records(records, columns=model.columns)
    assert labels == model.predict(frame)[0]  # the pandas path through the whole pipeline


def test_a_registered_lightgbm_is_served_by_compiled_trees_equal_to_its_booster(lgbm_ws):
    files = sorted(p.name for p in _compiled_dir(lgbm_ws).iterdir())
    assert files == [compiled.META, compiled.LIBRARY]
    model = _load(lgbm_ws)
    assert (model.path, model.backend, model.backend_reason) == ("array", "lleaves", None)
    records = _records(lgbm_ws, model.fields)
    _booster_matches(model, records)
    for record in records[:20]:  # one record per call: the single-record request
        labels, proba = model.predict_records([record])
        p = model.model[-1].booster_.predict(model.features(None, [record]))
        assert abs(proba[0] - p[0]) <= 1e-9


def test_loading_never_compiles(lgbm_ws):
    before = compiled.COMPILES
    assert _load(lgbm_ws).backend == "lleaves"
    assert _load(lgbm_ws).backend == "lleaves"  # a second load reads the same library
    assert before == compiled.COMPILES


def test_a_missing_library_falls_back_to_the_booster(lgbm_ws):
    shutil.rmtree(_compiled_dir(lgbm_ws))
    model = _load(lgbm_ws)
    assert model.backend == "lightgbm"
    assert "no compiled trees" in model.backend_reason
    _booster_matches(model, _records(lgbm_ws, model.fields, 100))


def test_a_corrupt_library_falls_back_to_the_booster(lgbm_ws):
    (_compiled_dir(lgbm_ws) / compiled.LIBRARY).write_bytes(b"\x7fELF not a library")
    model = _load(lgbm_ws)
    assert model.backend == "lightgbm"
    assert "does not load" in model.backend_reason
    _booster_matches(model, _records(lgbm_ws, model.fields, 100))


def test_trees_of_another_model_are_refused_by_their_hash(lgbm_ws):
    meta = _compiled_dir(lgbm_ws) / compiled.META
    meta.write_text(json.dumps(json.loads(meta.read_text()) | {"model_sha256": "0" * 64}))
    model = _load(lgbm_ws)
    assert model.backend == "lightgbm"
    assert "another model" in model.backend_reason


def test_trees_that_disagree_with_the_booster_are_not_served(lgbm_ws, tmp_path):
    """A library that loads but predicts otherwise (here: another model's, its hash forged)."""
    from lightgbm import LGBMClassifier

    model = _load(lgbm_ws)
    est = model.model[-1]
    X = model.features(None, _records(lgbm_ws, model.fields, 300))
    other = LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1, random_state=1)
    other.fit(X, np.arange(len(X)) % 2)  # same features, other trees
    compiled.compile_trees(other, tmp_path / "other")
    meta = tmp_path / "other" / compiled.META
    meta.write_text(
        json.dumps(json.loads(meta.read_text()) | {"model_sha256": compiled.model_hash(est)})
    )
    trees = compiled.load_trees(tmp_path / "other", est)  # opens: only its answers differ
    served = compile_model(model.model, model.fields, trees)
    assert served is not None and served.backend == "lightgbm"
    assert "differ from the booster" in served.backend_reason


def test_get_model_and_metrics_name_the_backend_on_a_real_server(lgbm_ws):
    with api_server(lgbm_ws.root, WORKBENCH_API_KEYS="k") as (url, proc):
        info = httpx.get(f"{url}/model", headers={"X-API-Key": "k"}, timeout=30).json()
        metrics = httpx.get(f"{url}/metrics", headers={"X-API-Key": "k"}, timeout=30).text
        mapped = Path(f"/proc/{proc.pid}/maps").read_text()
    assert "forest.so" in mapped  # the server runs the compiled library ...
    assert "llvmlite" not in mapped  # ... without LLVM: no compiler at run time
    assert (info["backend"], info["backend_reason"]) == ("lleaves", None)
    assert info["prediction_path"] == "array"
    assert 'workbench_model_backend_info{alias="champion",backend="lleaves",version="1"} 1.0' in (
        metrics
    )
