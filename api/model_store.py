"""Loaded models and their hot swap.

`ModelStore.check()` resolves the `champion` / `challenger` aliases; a new version is loaded and
warmed off the request path, then swapped in with one attribute assignment. A request keeps the
`LoadedModel` it started with, so in-flight requests finish on their model. Only a challenger
whose gates passed (version tag `gates.status` = `pass`) is loaded: canary and shadow traffic
never reach a version that failed its gates.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import one_line
from core.registry.tracking import ALIAS_CHALLENGER, ALIAS_CHAMPION, TAG_GATES_STATUS
from core.serving.compiled import BACKEND, fetch_trees, lightgbm_estimator
from core.serving.inference import CompiledModel, compile_model, signature_fields

log = logging.getLogger(__name__)
_TYPES = {
    "long": int,
    "integer": int,
    "double": float,
    "float": float,
    "string": str,
    "boolean": bool,
}


@dataclass(frozen=True)
class LoadedModel:
    """One model version ready to predict.

    `compiled` is the pandas-free array path (`core.serving.inference`) when the pipeline compiles,
    else None and predictions go through a DataFrame and the sklearn pipeline.
    """

    name: str
    version: str
    alias: str
    model: object
    fields: list[tuple[str, str]]  # (column, MLflow type) from the signature
    loaded_at: str
    classes: list | None = None
    compiled: CompiledModel | None = None
    trees_reason: str | None = None
    """Why compiled trees do not serve this version (None when they do)."""

    @property
    def columns(self) -> list[str]:
        return [c for c, _ in self.fields]

    @property
    def path(self) -> str:
        """Which prediction path serves this model: `array` or `pandas`."""
        return "array" if self.compiled is not None else "pandas"

    @property
    def backend(self) -> str:
        """What runs the estimator: `lleaves` (compiled trees), `lightgbm` or `sklearn`."""
        if self.compiled is not None:
            return self.compiled.backend
        return "lightgbm" if lightgbm_estimator(self.model[-1]) else "sklearn"

    @property
    def backend_reason(self) -> str | None:
        """Why compiled trees do not serve (None when they do)."""
        if self.compiled is not None and self.compiled.backend == BACKEND:
            return None
        if self.compiled is not None and self.compiled.backend_reason:
            return self.compiled.backend_reason
        return self.trees_reason or "the array path is unavailable: the pipeline serves"

    def predict_records(self, records: list[dict]) -> tuple[list, list | None]:
        """Predict a list of mappings (validated: every field present)."""
        return self.estimate(self.features(None, records))

    def predict_rows(self, columns: list[str], rows: list[list]) -> tuple[list, list | None]:
        """Predict rows of values given in `columns` order (the columnar payload)."""
        return self.estimate(self.features(columns, rows))

    def predict(self, frame: pd.DataFrame) -> tuple[list, list | None]:
        """The pandas path: the pipeline's transform once, then the estimator."""
        return self.estimate(self.model[:-1].transform(frame))

    def features(self, columns: list[str] | None, rows: list):
        """The estimator's input for records (`columns` None) or rows in `columns` order.

        The model's preprocessing: the compiled steps, or a DataFrame and the pipeline's
        transform. `estimate` is the rest (split so the API can time the two apart).
        """
        compiled = self.compiled
        if compiled is not None:
            if columns is None:
                return compiled.transform_records(rows)
            return compiled.transform_rows(columns, rows)
        if columns is None:
            frame = pd.DataFrame.from_records(rows, columns=self.columns)
        else:
            frame = pd.DataFrame.from_records(rows, columns=columns)[self.columns]
        return self.model[:-1].transform(frame)

    def estimate(self, features) -> tuple[list, list | None]:
        """Predictions and probabilities of the estimator for `features` (see `features`)."""
        if self.compiled is not None:
            return self._output(*self.compiled.estimator(features))
        est = self.model[-1]
        proba = None
        if self.classes is not None and hasattr(est, "predict_proba"):
            proba = est.predict_proba(features)
        return self._output(est.predict(features), proba)

    def _output(self, preds, proba) -> tuple[list, list | None]:
        """Plain lists: the prediction, and the probability of class 1 (binary) or the top one."""
        if proba is None or self.classes is None:
            return np.asarray(preds).tolist(), None
        p = np.asarray(proba)
        return np.asarray(preds).tolist(), (p[:, 1] if p.shape[1] == 2 else p.max(axis=1)).tolist()


def _load(client, tracking_uri: str, name: str, alias: str, version: str) -> LoadedModel:
    import mlflow
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    # Resolve through this store's own client: `models:/` URIs would go through MLflow's
    # process-global registry URI, which may point at another store.
    mv = client.get_model_version(name, version)
    source = mv.source
    if source.startswith("models:/m-"):  # an MLflow 3 LoggedModel
        source = client.get_logged_model(source.rsplit("/", 1)[-1]).artifact_location
    local = download_artifacts(artifact_uri=source, tracking_uri=tracking_uri)
    model = mlflow.sklearn.load_model(local)
    sig = Model.load(local).signature
    fields = signature_fields(sig)
    classes = getattr(model, "classes_", None)
    trees, why = fetch_trees(tracking_uri, mv.run_id, model[-1])  # compiled at registration
    loaded = LoadedModel(
        name,
        version,
        alias,
        model,
        fields,
        datetime.now(UTC).isoformat(timespec="seconds"),
        None if classes is None else np.asarray(classes).tolist(),
        compile_model(model, fields, trees),
        None if trees is not None else why,
    )
    log.info(
        "%s v%s predicts through the %s path, estimator run by %s%s",
        name,
        version,
        loaded.path,
        loaded.backend,
        "" if loaded.backend_reason is None else f" ({loaded.backend_reason})",
    )
    _warm(loaded)
    return loaded


_WARM = {"datetime": "2000-01-01T00:00:00Z"}  # timestamps warm up with a valid ISO-8601 value


def _warm(loaded: LoadedModel) -> None:
    """Run one prediction so the first real request does not pay lazy initialisation."""
    row = {c: _WARM.get(t, 0.0 if _TYPES.get(t) in (int, float) else "") for c, t in loaded.fields}
    try:
        loaded.predict_records([row])
    except Exception as exc:  # noqa: BLE001 - warming is best effort, serving decides
        log.warning("warm-up of %s v%s failed: %s", loaded.name, loaded.version, exc)


@dataclass
class ModelStore:
    """The champion (and challenger) in memory, refreshed from the registry."""

    name: str
    tracking_uri: str
    want_challenger: bool = False
    champion: LoadedModel | None = None
    challenger: LoadedModel | None = None
    degraded: str | None = None
    refused_challenger: str | None = None
    """The version `challenger` points at when it is not served (its gates did not pass)."""
    last_check: float = 0.0
    last_reload: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _client(self):
        import mlflow

        # A registry outage must surface in seconds (the API keeps serving and reports it),
        # not after MLflow's default minute of retries with backoff.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

        return mlflow.MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def check(self) -> bool:
        """Resolve the aliases and swap in any new version; True when something changed."""
        with self._lock:  # one refresh at a time; requests never take this lock
            if self._store_missing():
                self.last_check = time.time()
                return False
            try:
                changed = self._refresh(ALIAS_CHAMPION)
                if self.want_challenger:
                    changed = self._refresh(ALIAS_CHALLENGER) or changed
                self.degraded = None
            except Exception as exc:  # noqa: BLE001 - registry down: keep serving what we have
                self.degraded = f"registry unreachable: {one_line(exc)}"[:300]
                log.warning("model check failed: %s", self.degraded)
                changed = False
            self.last_check = time.time()
            return changed

    def _store_missing(self) -> bool:
        """Whether the embedded SQLite store does not exist yet.

        Then there is nothing to serve, and opening it would create its schema while a training
        process may be creating it too.
        """
        if not self.tracking_uri.startswith("sqlite:///"):
            return False
        return not Path(self.tracking_uri.removeprefix("sqlite:///")).exists()

    def _refresh(self, alias: str) -> bool:
        from mlflow.exceptions import MlflowException

        client = self._client()
        current = self.champion if alias == ALIAS_CHAMPION else self.challenger
        try:
            mv = client.get_model_version_by_alias(self.name, alias)
        except MlflowException as exc:
            if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code) or "not found" in str(exc):
                if alias == ALIAS_CHALLENGER:
                    self.challenger = None
                return False
            raise
        version = str(mv.version)
        if alias == ALIAS_CHALLENGER and not self._gates_passed(mv):
            return current is not None  # a served challenger whose gates now fail is dropped
        if current is not None and current.version == version:
            return False
        loaded = _load(client, self.tracking_uri, self.name, alias, version)  # off hot path
        if alias == ALIAS_CHAMPION:
            self.champion = loaded  # the swap: one reference assignment
        else:
            self.challenger = loaded
        self.last_reload = time.time()
        log.info("serving %s v%s as %s", self.name, version, alias)
        return True

    def _gates_passed(self, mv) -> bool:
        """Whether a challenger may take traffic; a refused one is dropped (logged once)."""
        status = (mv.tags or {}).get(TAG_GATES_STATUS, "not evaluated")
        version = str(mv.version)
        if status == "pass":
            self.refused_challenger = None
            return True
        if self.refused_challenger != version:
            log.warning(
                "challenger %s v%s not served: its gates are %s (canary and shadow off)",
                self.name,
                version,
                status,
            )
        self.refused_challenger = version
        self.challenger = None
        return False
