"""`workbench train`: tune every candidate on a data version, track it in MLflow, register the best.

The orchestration: fit and score each candidate, choose the winner on validation, refit it on
train + validation; the MLflow side (runs, artifacts, models, registration) is
`core.training.tracker.Tracker`, fed each result as soon as it is fitted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd

from core.training.candidates import Candidate, build_pipeline, search_space, select
from core.training.data import Split, find_version, load_split
from core.training.duplicates import refuse_duplicate
from core.training.metrics import better, compute_metrics, diagnose
from core.training.results import CandidateResult, TrainingResult
from core.training.tracker import Tracker
from core.training.tuning import make_cv, search
from core.workspace import Workspace

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]


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
    force: bool = False,
) -> TrainingResult:
    """Train every configured candidate on a data version (default: latest).

    Args:
        ws: the workspace.
        data_version: a version id, commit or md5 prefix; None for the latest.
        progress: called with (fraction done, message).
        track: log to MLflow and register the best model (False: fits only, for benchmarks).
        force: train even when a registered version was trained on the same data version,
            config and code (otherwise `NothingNewToTrain` is raised before any fit).

    Raises:
        NothingNewToTrain: (tracked, not forced) an existing version is the same training.
    """
    progress = progress or _quiet_progress
    started = time.perf_counter()
    cfg = ws.config
    cands = select(cfg.task, cfg.training.candidates)
    progress(0.01, "loading data version")
    version = find_version(ws, data_version)
    if track and not force:
        refuse_duplicate(ws, version.id)
    split = load_split(ws, version.id)
    t0 = time.perf_counter()
    tracker = Tracker(ws, split) if track else None
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
