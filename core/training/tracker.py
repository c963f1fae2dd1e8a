"""Everything MLflow for one training: the parent run, a child run per candidate, registration.

One parent run per training, one child run per candidate (and one for the refit of the winner).
Logging is batched (`log_batch`) on one background worker that overlaps the next candidate's
fit, the model signature (`raw_signature`) is built once, and pip requirements are given
explicitly so MLflow does not infer them per model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np

from core.registry import tracking as T
from core.training import plots
from core.training.code_version import code_version
from core.training.data import Split
from core.training.results import CandidateResult
from core.workspace import Workspace


def raw_signature(X, y):  # noqa: N803 - sklearn naming
    """The model signature: the raw input schema (timestamps as `datetime`).

    A column is `required` only when the training rows never miss it; the model imputes the
    others, so a served record may carry null there (and `mlflow models serve` accepts it).
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types.schema import ColSpec, Schema

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # int columns hint: handled by `required` below
        sig = infer_signature(X.head(50), y.head(50).to_numpy())
    missing = X.isna().any()
    inputs = Schema(
        [ColSpec(c.type, c.name, required=not bool(missing[c.name])) for c in sig.inputs.inputs]
    )
    return ModelSignature(inputs=inputs, outputs=sig.outputs)


def config_hash(ws: Workspace) -> str:
    """Short hash of the workspace config: which settings a run was trained with."""
    return hashlib.sha256(ws.config_path.read_bytes()).hexdigest()[:12]


def pip_requirements() -> list[str]:
    """Pinned requirements of a logged model (given explicitly: inference costs seconds)."""
    pkgs = ["scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "mlflow"]
    return [f"{p}=={metadata.version(p)}" for p in pkgs]


class Tracker:
    """Everything MLflow for one training: parent run, children, registration."""

    def __init__(self, ws: Workspace, split: Split) -> None:
        import mlflow

        self.ws, self.cfg, self.split = ws, ws.config, split
        self.mlflow = mlflow
        T.configure_mlflow(ws.tracking_uri)
        # one warning per logged model about cloudpickle; the choice is explained at log_model
        logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
        self.client = mlflow.MlflowClient()
        self.experiment_id = _experiment(self.client, ws)
        self.training_id = uuid.uuid4().hex[:12]
        self.signature = raw_signature(split.X_train, split.y_train)
        self.requirements = pip_requirements()
        v = split.version
        self.tags = {
            T.TAG_DATA_VERSION: v.id,
            T.TAG_DATA_COMMIT: v.commit,
            T.TAG_DATA_MD5: v.md5,
            T.TAG_CODE_VERSION: code_version(),
            T.TAG_CONFIG_HASH: config_hash(ws),
            T.TAG_TASK: self.cfg.task,
            T.TAG_METRIC: self.cfg.metric,
            T.TAG_TRAINING_ID: self.training_id,
        }
        parent = self.client.create_run(
            self.experiment_id,
            run_name=f"train-{v.id}",
            tags=self.tags | {T.TAG_ROLE: T.ROLE_TRAINING},
        )
        self.parent_id = parent.info.run_id
        self._log_dataset()
        self.timings: dict[str, float] = {}
        # One worker: MLflow calls stay serialised (SQLite store), never concurrent with ours.
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlflow-log")
        self.pending: list = []

    def _log_dataset(self) -> None:
        s = self.split
        df = s.X_train.head(1000).assign(**{self.cfg.target: s.y_train.head(1000).to_numpy()})
        ds = self._dataset(
            df,
            source=str(self.ws.processed_file),
            targets=self.cfg.target,
            name=f"processed@{s.version.id}",
            digest=s.version.md5[:16],
        )
        with self.mlflow.start_run(run_id=self.parent_id):
            self.mlflow.log_input(ds, context="training")

    @staticmethod
    def _dataset(df, **kwargs):
        import mlflow.data

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "source can be interpreted in multiple ways"
            return mlflow.data.from_pandas(df, **kwargs)

    def submit(self, r: CandidateResult, split: Split, of: CandidateResult | None = None) -> None:
        """Log a candidate on the background thread (overlaps the next candidate's fit).

        `of`: for the refit, the chosen candidate it refits (submitted after that candidate,
        so the single FIFO worker has logged it and set its `run_id`).
        """
        self.pending.append(self.pool.submit(self.log_candidate, r, split, of))

    def wait(self) -> None:
        """Block until every submitted candidate is logged; re-raise the first failure."""
        try:
            for future in self.pending:
                future.result()
        finally:
            self.pool.shutdown(wait=True)

    def abort(self) -> None:
        """Stop logging after a failed fit and mark the parent run FAILED."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.client.set_terminated(self.parent_id, status="FAILED")

    def log_candidate(
        self, r: CandidateResult, split: Split, of: CandidateResult | None = None
    ) -> str:
        """Create the child run with params, metrics, tags, artifacts and the model."""
        started = time.perf_counter()
        try:
            return self._log_candidate(r, split, of)
        finally:
            key = f"{r.name}-refit" if of is not None else r.name
            self.timings[key] = round(time.perf_counter() - started, 2)

    def _log_candidate(
        self, r: CandidateResult, split: Split, of: CandidateResult | None = None
    ) -> str:
        """One child run; with `of` (the chosen candidate), the refit run `<name>-refit`.

        The refit run (role `refit`) holds the model that gets registered, its `train_`
        (train + validation rows) and `test_` metrics and `refit_rows`; the chosen candidate's
        run keeps its metrics and gets the refit's as `refit_test_*` plus the refit tags.
        """
        from mlflow.entities import Metric, Param, RunTag

        run_tags = {T.TAG_ROLE: T.ROLE_CANDIDATE}
        if of is not None:
            if of.run_id is None:
                raise RuntimeError(f"refit of {of.name}: the candidate run was not logged")
            m = self.cfg.metric
            run_tags = {
                T.TAG_ROLE: T.ROLE_REFIT,
                T.TAG_REFIT: T.REFIT_DATA,
                T.TAG_REFIT_OF: of.run_id,
                "workbench.selected_on": f"val_{m}={of.metrics['val'][m]:.6g}",
            }
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{r.name}-refit" if of is not None else r.name,
            tags=self.tags
            | run_tags
            | {T.TAG_CANDIDATE: r.name, "mlflow.parentRunId": self.parent_id},
        )
        rid, now = run.info.run_id, int(time.time() * 1000)
        metrics = [
            Metric(T.metric_key(s, k), v, now, 0)
            for s, ms in r.metrics.items()
            for k, v in ms.items()
            if np.isfinite(v)
        ]
        metrics += [
            Metric(k, float(v), now, 0)
            for k, v in (
                ("cv_best_score", r.cv_score),
                ("fit_seconds", r.fit_seconds),
                ("predict_ms_per_row", r.predict_ms_per_row),
                ("tuning_trials", r.trials),
                ("overfit_gap", r.diagnosis["gap"]),
                *((("refit_rows", r.fit_rows),) if of is not None else ()),
            )
            if np.isfinite(v)
        ]
        params = [Param("candidate", r.name), Param("fit_rows", str(r.fit_rows))] + [
            Param(k, str(v)[:500]) for k, v in r.params.items() if k != "fit_rows"
        ]
        diag = r.diagnosis
        tags = [
            RunTag(T.TAG_OVERFIT, str(diag["overfit"]).lower()),
            RunTag(T.TAG_UNDERFIT, str(diag["underfit"]).lower()),
            RunTag(T.TAG_DIAGNOSIS, " ".join(diag["recommendations"]) or "no issues"),
        ]
        self.client.log_batch(rid, metrics=metrics, params=params, tags=tags)
        self._log_artifacts(rid, r, split)
        with self.mlflow.start_run(run_id=rid):
            # cloudpickle, not skops: skops' trusted-type list is read from the model's own
            # MLmodel, so it adds no protection; loading is gated by MLflow's
            # MLFLOW_ALLOW_PICKLE_DESERIALIZATION for every format, and skops cost ~2 s a model.
            info = self.mlflow.sklearn.log_model(
                r.model,
                name=T.MODEL_ARTIFACT,
                signature=self.signature,
                pip_requirements=self.requirements,
                serialization_format="cloudpickle",
            )
        r.run_id, r.model_uri = rid, info.model_uri
        self.client.set_terminated(rid)
        if of is not None:  # the chosen candidate's run points at its refit
            self.client.log_batch(
                of.run_id,
                metrics=[
                    Metric(T.REFIT_PREFIX + T.metric_key("test", k), v, now, 0)
                    for k, v in r.metrics["test"].items()
                    if np.isfinite(v)
                ],
                tags=[RunTag(T.TAG_REFIT, T.REFIT_DATA), RunTag(T.TAG_REFIT_RUN, rid)],
            )
        return rid

    def _log_artifacts(self, rid: str, r: CandidateResult, split: Split) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            (out / "plots").mkdir()
            if self.cfg.task == "classification":
                plots.classification_plots(out / "plots", split.y_test, r.test_pred, r.test_score)
            else:
                plots.regression_plots(out / "plots", split.y_test, r.test_pred)
            importance = plots.feature_importance(r.model)
            plots.importance_plot(out / "plots", importance)
            evaluation = {
                "candidate": r.name,
                "params": r.params,
                "metrics": r.metrics,
                "diagnosis": r.diagnosis,
                "data_version": split.version.id,
                "fit_rows": r.fit_rows,
                "fitted_on": T.REFIT_DATA if r.refit else "train",
                "feature_importance": dict(sorted(importance.items(), key=lambda kv: -kv[1])[:30]),
            }
            (out / "evaluation.json").write_text(json.dumps(evaluation, indent=2, default=str))
            self.client.log_artifacts(rid, str(out))

    def finish(self, best: CandidateResult, refit: CandidateResult | None = None) -> dict:
        """Tag the winner chosen on validation; register its refit (when any), else itself."""
        from mlflow.entities import RunTag

        from core.training.register import register_best

        final = refit or best
        self.client.set_tag(best.run_id, T.TAG_BEST, "true")
        self.client.log_batch(
            self.parent_id,
            tags=[
                RunTag("best_candidate", best.name),
                RunTag("best_run_id", best.run_id),
                RunTag(T.TAG_REFIT, T.REFIT_DATA if refit else "off"),
                RunTag("registered_run_id", final.run_id),
            ],
        )
        self.client.set_terminated(self.parent_id)
        return register_best(self.ws, final.run_id, final.model_uri, self.split.version.id)


def _experiment(client, ws: Workspace) -> str:
    name = ws.config.project
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = ws.artifacts.as_uri() if ws.tracking_uri.startswith("sqlite:") else None
    return client.create_experiment(name, artifact_location=location)
