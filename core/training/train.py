"""`workbench train`: tune every candidate on a data version, track it in MLflow, register the best.

One parent run per training, one child run per candidate. Logging is batched (`log_batch`), the
model signature is built once, and pip requirements are given explicitly so MLflow does not
infer them per model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from core import tracking as T
from core.training import plots
from core.training.candidates import Candidate, build_pipeline, search_space, select
from core.training.data import Split, load_split
from core.training.metrics import better, compute_metrics, diagnose
from core.training.tuning import make_cv, search
from core.workspace import Workspace

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


@dataclass
class CandidateResult:
    """One trained candidate: its tuned params, metrics per split and diagnosis.

    Also the refit of the winner (`refit=True`): the same tuned params fitted on train +
    validation, with metrics `train` (on those rows) and `test` (the holdout) but no `val` (the
    validation rows are in its training data).
    """

    name: str
    params: dict
    metrics: dict[str, dict[str, float]]  # split -> metric -> value
    diagnosis: dict
    cv_score: float
    trials: int
    fit_seconds: float
    predict_ms_per_row: float
    test_pred: object = field(default=None, repr=False)
    test_score: object = field(default=None, repr=False)
    run_id: str | None = None
    model_uri: str | None = None
    """`models:/m-...` of the logged model (MLflow 3 LoggedModel)."""
    model: object = field(default=None, repr=False)
    fit_rows: int = 0
    """Rows the model was fitted on (after the `max_rows` / `slow_max_rows` cap)."""
    refit: bool = False
    """True for the winner refit on train + validation (see `TrainingResult.refit`)."""


@dataclass
class TrainingResult:
    """What `train` did: the parent run, every candidate, the best one and its registration.

    `best` is the candidate chosen on the validation metric, as fitted on the training split
    (its metrics are comparable with the other candidates'). `refit` is that candidate refit on
    train + validation (`training.refit`, on by default), None when refit is off; `final` is
    the model that was registered (the refit, else `best`), and its `metrics["test"]` are the
    registered model's holdout metrics (the ones the gates see).
    """

    training_id: str
    parent_run_id: str | None
    data_version: str
    metric: str
    candidates: list[CandidateResult]
    best: CandidateResult
    duration_s: float
    registered: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    """Seconds per tracking step (set-up, each candidate's logging, registration)."""
    tracking_s: float = 0.0
    """Wall time the run spent waiting on MLflow (set-up, unfinished logging, registration)."""
    refit: CandidateResult | None = None
    """`best` refit on train + validation (None when `training.refit` is off)."""

    @property
    def final(self) -> CandidateResult:
        """The registered model: the refit of the winner, or the winner itself without refit."""
        return self.refit or self.best


def _quiet_progress(_: float, __: str) -> None:
    return None


def _sample(split: Split, max_rows: int, seed: int):
    X, y = split.X_train, split.y_train
    if len(X) <= max_rows:
        return X, y
    if split.time_ordered:
        return X.iloc[-max_rows:], y.iloc[-max_rows:]  # the newest rows
    idx = np.random.default_rng(seed).choice(len(X), max_rows, replace=False)
    return X.iloc[np.sort(idx)], y.iloc[np.sort(idx)]


def _evaluate(task: str, model, X, y) -> dict[str, float]:
    pred = model.predict(X)
    score = (
        model.predict_proba(X)
        if task == "classification" and hasattr(model, "predict_proba")
        else None
    )
    return compute_metrics(task, y, pred, score)


def fit_candidate(ws: Workspace, cand: Candidate, split: Split) -> CandidateResult:
    """Tune, refit on the (sampled) training rows and evaluate on train / val / test.

    OpenMP/BLAS run single-threaded: on a small, shared machine their spin-waiting made
    histogram boosting ~10x slower (23 s vs 2.4 s per fit measured on 2 loaded cores).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _fit_candidate(ws, cand, split)


def _fit_candidate(ws: Workspace, cand: Candidate, split: Split) -> CandidateResult:
    cfg, tc = ws.config, ws.config.training
    X, y = _sample(split, tc.slow_max_rows if cand.slow else tc.max_rows, tc.seed)
    pipe = build_pipeline(cand, X, cfg, tc.seed)
    cv = make_cv(cfg.task, split.time_ordered, tc.cv_folds, tc.seed)
    found = search(
        pipe,
        search_space(cand, tc.search_spaces),
        X,
        y,
        metric=cfg.metric,
        cv=cv,
        trials=tc.budget.trials,
        seconds=tc.budget.seconds,
        seed=tc.seed,
    )
    started = time.perf_counter()
    model = pipe.set_params(**found.params).fit(X, y)
    fit_s = time.perf_counter() - started
    metrics = {
        s: _evaluate(cfg.task, model, Xs, ys)
        for s, Xs, ys in (("train", X, y), ("val", split.X_val, split.y_val))
    }
    metrics["test"], test_pred, test_score, ms_row = _score_holdout(cfg.task, model, split)
    m = cfg.metric
    diag = diagnose(m, metrics["train"][m], metrics["test"][m], tc.overfit_gap, tc.underfit_floor)
    params = {k.removeprefix("model__"): v for k, v in found.params.items()}
    return CandidateResult(
        cand.name,
        params,
        metrics,
        diag,
        found.cv_score,
        found.trials,
        found.seconds + fit_s,
        ms_row,
        test_pred,
        test_score,
        model=model,
        fit_rows=len(X),
    )


def _score_holdout(task: str, model, split: Split):
    """Metrics on the test split, its predictions and scores, and the predict time per row."""
    started = time.perf_counter()
    pred = model.predict(split.X_test)
    ms_row = 1000 * (time.perf_counter() - started) / max(len(split.X_test), 1)
    proba = task == "classification" and hasattr(model, "predict_proba")
    score = model.predict_proba(split.X_test) if proba else None
    return compute_metrics(task, split.y_test, pred, score), pred, score, ms_row


def refit_rows(split: Split, max_rows: int, seed: int):
    """The refit's rows: train + validation (in time order), capped like `_sample`; never test.

    Time-ordered splits put validation right after train, so the cap keeps the newest rows;
    otherwise a seeded random sample of `max_rows` is taken.
    """
    X = pd.concat([split.X_train, split.X_val])
    y = pd.concat([split.y_train, split.y_val])
    return _sample(replace(split, X_train=X, y_train=y), max_rows, seed)


def refit_candidate(
    ws: Workspace, cand: Candidate, best: CandidateResult, split: Split
) -> CandidateResult:
    """Refit the validation winner with its tuned params on train + validation; score it on test.

    The estimator is `clone`d from the winner (same tuned params, unfitted) and fitted once on
    `refit_rows` (the same row cap as the winner's fit: `slow_max_rows` for slow learners); no
    tuning is repeated and no test row is seen. Single-threaded BLAS, as in `fit_candidate`.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _refit_candidate(ws, cand, best, split)


def _refit_candidate(
    ws: Workspace, cand: Candidate, best: CandidateResult, split: Split
) -> CandidateResult:
    from sklearn.base import clone

    cfg, tc = ws.config, ws.config.training
    X, y = refit_rows(split, tc.slow_max_rows if cand.slow else tc.max_rows, tc.seed)
    started = time.perf_counter()
    model = clone(best.model).fit(X, y)
    fit_s = time.perf_counter() - started
    metrics = {"train": _evaluate(cfg.task, model, X, y)}
    metrics["test"], test_pred, test_score, ms_row = _score_holdout(cfg.task, model, split)
    m = cfg.metric
    diag = diagnose(m, metrics["train"][m], metrics["test"][m], tc.overfit_gap, tc.underfit_floor)
    return CandidateResult(
        best.name,
        dict(best.params),
        metrics,
        diag,
        best.cv_score,
        best.trials,
        fit_s,
        ms_row,
        test_pred,
        test_score,
        model=model,
        fit_rows=len(X),
        refit=True,
    )


def train(
    ws: Workspace,
    data_version: str | None = None,
    progress: Progress | None = None,
    track: bool = True,
) -> TrainingResult:
    """Train every configured candidate on a data version (default: latest).

    Args:
        ws: the workspace.
        data_version: a version id, commit or md5 prefix; None for the latest.
        progress: called with (fraction done, message).
        track: log to MLflow and register the best model (False: fits only, for benchmarks).
    """
    progress = progress or _quiet_progress
    started = time.perf_counter()
    cfg = ws.config
    cands = select(cfg.task, cfg.training.candidates)
    progress(0.01, "loading data version")
    split = load_split(ws, data_version)
    t0 = time.perf_counter()
    tracker = _Tracker(ws, split) if track else None
    tracking_s = setup_s = time.perf_counter() - t0
    results = []
    refit = None
    try:
        for i, cand in enumerate(cands):
            progress(0.05 + 0.85 * i / len(cands), f"training {cand.name} ({i + 1}/{len(cands)})")
            result = fit_candidate(ws, cand, split)
            if tracker:
                tracker.submit(result, split)
            results.append(result)
            log.info(
                "candidate %s: val %s = %.4f",
                cand.name,
                cfg.metric,
                result.metrics["val"][cfg.metric],
            )
        best = results[0]  # chosen on validation only: the test split never picks a model
        for r in results[1:]:
            if better(cfg.metric, r.metrics["val"][cfg.metric], best.metrics["val"][cfg.metric]):
                best = r
        if cfg.training.refit:
            progress(0.9, f"refitting {best.name} on train + validation")
            cand = next(c for c in cands if c.name == best.name)
            refit = refit_candidate(ws, cand, best, split)
            if tracker:
                tracker.submit(refit, split, of=best)  # after best's logging: one FIFO worker
            log.info(
                "refit %s on %d rows: test %s = %.4f (fitted on train only: %.4f)",
                best.name,
                refit.fit_rows,
                cfg.metric,
                refit.metrics["test"][cfg.metric],
                best.metrics["test"][cfg.metric],
            )
    except BaseException:
        if tracker:
            tracker.abort()
        raise
    out = TrainingResult(
        uuid.uuid4().hex[:12], None, split.version.id, cfg.metric, results, best, 0.0, refit=refit
    )
    if tracker:
        progress(0.92, "finishing MLflow logging")
        t0 = time.perf_counter()
        tracker.wait()  # only the logging that did not overlap a fit counts as overhead
        tracking_s += time.perf_counter() - t0
        fitted = "refit on train + validation" if refit else "fitted on train"
        progress(0.95, f"registering {best.name} ({fitted})")
        out.parent_run_id = tracker.parent_id
        t0 = time.perf_counter()
        out.registered = tracker.finish(best, refit)
        out.training_id = tracker.training_id
        tracking_s += time.perf_counter() - t0
        out.timings = {
            "setup": round(setup_s, 2),
            **tracker.timings,
            "register+gates": round(time.perf_counter() - t0, 2),
        }
    out.tracking_s = round(tracking_s, 2)
    out.duration_s = round(time.perf_counter() - started, 2)
    note = f", refit test {refit.metrics['test'][cfg.metric]:.4f}" if refit else ""
    progress(
        1.0, f"best: {best.name} (val {cfg.metric} {best.metrics['val'][cfg.metric]:.4f}{note})"
    )
    return out


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


def code_version() -> str:
    """The installed workbench version (and git commit of the code when available)."""
    version = metadata.version("mlops-workbench")
    try:
        import subprocess

        root = Path(__file__).resolve().parents[2]
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        return f"{version}+{sha}"
    except (OSError, subprocess.CalledProcessError):
        return version


def pip_requirements() -> list[str]:
    """Pinned requirements of a logged model (given explicitly: inference costs seconds)."""
    pkgs = ["scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "mlflow"]
    return [f"{p}=={metadata.version(p)}" for p in pkgs]


class _Tracker:
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
