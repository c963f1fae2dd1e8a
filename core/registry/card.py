"""The model card of a registered version: what it is for, what it learned from, how good it is.

Written when a version is registered and refreshed whenever the champion moves (promotion,
rollback, automatic rollback), as artifacts of the version's MLflow run:

- `model_card/card.md` and `model_card/card.html`: the card for people (the Models page, the
  CLI, the MLflow UI);
- `model_card/card.json`: every section as data, so a refresh after a promotion only re-reads
  what a promotion changes (aliases, gates, promotion history) instead of scoring again.

Sections: intended use (`card.intended_use` in `workbench.yaml`), data (version, rows), the
training window (min/max of the time column over the rows the model was fitted on), the
candidates tried in the same training, holdout metrics with percentile bootstrap confidence
intervals, gates, global importance (exact contributions where the family has them, else
permutation importance), the worst slices of each categorical input field, and the promotion
history from the audit log.

Writing a card never fails a registration or a promotion: `record_card` logs the failure and
tags the version (`model_card.status` = `failed`, `model_card.error`); `workbench models card
NAME VERSION --refresh` writes it again.
"""

from __future__ import annotations

import html
import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import WorkbenchError, one_line
from core.files import utc_now_iso
from core.registry import store
from core.registry import tracking as T
from core.workspace import Workspace

log = logging.getLogger(__name__)

ARTIFACT_DIR = "model_card"
FILES = {"md": "card.md", "html": "card.html", "json": "card.json"}
TAG_STATUS = "model_card.status"  # "ok" | "failed"
TAG_UPDATED = "model_card.updated_at"
TAG_ERROR = "model_card.error"
NOT_SET = (
    "Not set. Say what this model is for, who uses its predictions and what it must not be "
    "used for under `card.intended_use` in `workbench.yaml`."
)
IMPORTANCE_ROWS = 1000
TOP_FIELDS = 15
MAX_SLICE_VALUES = 1000
"""A field with more distinct holdout values than this is not sliced (an identifier)."""


class CardNotFound(WorkbenchError):
    """A version has no model card (yet), or its run is gone."""


# --------------------------------------------------------------------------- bootstrap
def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """`num / den`, 0 where `den` is 0 (sklearn's `zero_division=0`)."""
    return np.where(den > 0, num / np.maximum(den, 1), 0.0)


def _classification_stats(y, pred, pos, idx, macro: bool = False) -> dict[str, np.ndarray]:
    """Binary metrics of each resample (one row of `idx` each), vectorised.

    `y` and `pred` are booleans (is the positive class, the larger label); `macro` averages
    precision, recall and F1 over both classes, as `classification_metrics` does for labels
    other than 0/1.
    """
    from scipy.stats import rankdata

    yy, pp = y[idx], pred[idx]
    n = idx.shape[1]
    tp = (yy & pp).sum(axis=1)
    fp = (~yy & pp).sum(axis=1)
    fn = (yy & ~pp).sum(axis=1)
    tn = n - tp - fp - fn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    if macro:
        precision = (precision + _ratio(tn, tn + fn)) / 2
        recall = (recall + _ratio(tn, tn + fp)) / 2
        f1 = (f1 + _ratio(2 * tn, 2 * tn + fn + fp)) / 2
    out = {"accuracy": (yy == pp).mean(axis=1), "precision": precision, "recall": recall, "f1": f1}
    if pos is not None:
        ss = pos[idx]
        positives = yy.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = ((rankdata(ss, axis=1) * yy).sum(axis=1) - positives * (positives + 1) / 2) / (
                positives * (n - positives)
            )
        out["roc_auc"] = np.where((positives > 0) & (positives < n), auc, np.nan)
        clipped = np.clip(ss, 1e-15, 1 - 1e-15)
        out["log_loss"] = -np.where(yy, np.log(clipped), np.log(1 - clipped)).mean(axis=1)
    return out


def _regression_stats(y, pred, idx) -> dict[str, np.ndarray]:
    """RMSE, MAE, R² and MAPE of each resample, vectorised (as `regression_metrics`)."""
    yy, pp = y[idx], pred[idx]
    err = yy - pp
    eps = np.finfo(np.float64).eps
    with np.errstate(divide="ignore", invalid="ignore"):
        ss_tot = ((yy - yy.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        ss_res = (err**2).sum(axis=1)
        return {
            "rmse": np.sqrt((err**2).mean(axis=1)),
            "mae": np.abs(err).mean(axis=1),
            "r2": np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.nan),
            "mape": (np.abs(err) / np.maximum(np.abs(yy), eps)).mean(axis=1),
        }


def bootstrap_intervals(
    task: str,
    y_true,
    y_pred,
    y_score=None,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Each holdout metric with its percentile bootstrap confidence interval.

    The point estimate is `core.training.metrics.compute_metrics` on every row; the interval
    is the `(1 - confidence) / 2` and `1 - (1 - confidence) / 2` percentiles of the metric over
    `resamples` resamples of the rows with replacement (seeded; a resample where the metric is
    undefined, e.g. ROC AUC with one class, is left out). Binary classifiers and regressors are
    resampled in vectorised chunks; more classes call `compute_metrics` per resample.

    Returns:
        metric → `{"value", "low", "high"}` (NaN bounds when no resample defines the metric).
    """
    from core.training.metrics import compute_metrics

    y = np.asarray(y_true)
    pred = np.asarray(y_pred)
    score = None if y_score is None else np.asarray(y_score, dtype=float)
    point = compute_metrics(task, y, pred, score)
    n = len(y)
    rng = np.random.default_rng(seed)
    stats: dict[str, list[np.ndarray]] = {m: [] for m in point}
    fast, macro, pos = task == "regression", False, None
    if task == "regression":
        y, pred = y.astype(float), pred.astype(float)
    else:
        classes = np.unique(np.concatenate([y, pred]))
        if len(classes) == 2 and (score is None or score.ndim == 1 or score.shape[1] == 2):
            fast, macro = True, not set(classes.tolist()) <= {0, 1}
            y, pred = y == classes[-1], pred == classes[-1]
            pos = None if score is None else (score[:, -1] if score.ndim == 2 else score)
    chunk = max(1, min(resamples, 2_000_000 // max(n, 1)))
    done = 0
    while done < resamples:
        size = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        if task == "regression":
            part = _regression_stats(y, pred, idx)
        elif fast:
            part = _classification_stats(y, pred, pos, idx, macro)
        else:
            rows = [
                compute_metrics(task, y[i], pred[i], None if score is None else score[i])
                for i in idx
            ]
            part = {m: np.array([r[m] for r in rows]) for m in point}
        for m, values in part.items():
            if m in stats:
                stats[m].append(np.asarray(values, dtype=float))
        done += size
    tail = 100 * (1 - confidence) / 2
    out = {}
    for m, value in point.items():
        values = np.concatenate(stats[m]) if stats[m] else np.array([])
        values = values[np.isfinite(values)]
        low, high = (
            np.percentile(values, [tail, 100 - tail]) if len(values) else (math.nan, math.nan)
        )
        out[m] = {"value": float(value), "low": float(low), "high": float(high)}
    return out


# --------------------------------------------------------------------------- slices
def slice_fields(X: pd.DataFrame, configured: list[str] | None, skip: set[str]) -> list[str]:
    """The input fields to slice by: the configured ones, else every text, category or bool one.

    Raises:
        WorkbenchError: a configured field is not a model input (named, with the key).
    """
    if configured is not None:
        unknown = [f for f in configured if f not in X.columns]
        if unknown:
            raise WorkbenchError(
                f"card.slice_fields: {', '.join(unknown)} not among the model's input fields "
                f"({', '.join(map(str, X.columns))})"
            )
        return list(configured)
    return [
        c
        for c in X.columns
        if c not in skip
        and (
            pd.api.types.is_object_dtype(X[c])
            or isinstance(X[c].dtype, pd.CategoricalDtype)
            or pd.api.types.is_bool_dtype(X[c])
            or pd.api.types.is_string_dtype(X[c])
        )
    ]


def worst_slices(
    task: str,
    metric: str,
    X: pd.DataFrame,
    y,
    pred,
    score,
    fields: list[str],
    min_rows: int,
    top: int,
) -> dict:
    """Per field, the values (with at least `min_rows` holdout rows) where `metric` is worst.

    Returns:
        `{"overall": value, "fields": {field: [{"value", "rows", "metric", "delta"}, ...]},
        "skipped": {field: why}}`, each list worst first; `delta` is the slice's metric minus
        the overall one. A slice where the metric is undefined (one class) is left out.
    """
    from core.config import LOWER_IS_BETTER
    from core.training.metrics import compute_metrics

    y, pred = np.asarray(y), np.asarray(pred)
    score = None if score is None else np.asarray(score)
    overall = compute_metrics(task, y, pred, score)[metric]
    lower = metric in LOWER_IS_BETTER
    out: dict = {"overall": overall, "fields": {}, "skipped": {}}
    for field in fields:
        values = X[field].astype("object").where(X[field].notna(), "(missing)").to_numpy()
        groups = pd.Series(np.arange(len(values))).groupby(values, sort=False)
        if groups.ngroups > MAX_SLICE_VALUES:
            out["skipped"][field] = f"{groups.ngroups} distinct values (an identifier?)"
            continue
        if groups.ngroups < 2:
            out["skipped"][field] = "one value on the whole holdout"
            continue
        rows = []
        for value, index in groups.indices.items():
            if len(index) < min_rows:
                continue
            sliced = None if score is None else score[index]
            m = compute_metrics(task, y[index], pred[index], sliced)[metric]
            if m is None or not math.isfinite(m):
                continue
            rows.append(
                {"value": str(value), "rows": len(index), "metric": m, "delta": m - overall}
            )
        if not rows:
            out["skipped"][field] = f"no value with {min_rows}+ holdout rows and a defined metric"
            continue
        rows.sort(key=lambda r: -r["metric"] if lower else r["metric"])
        out["fields"][field] = rows[:top]
    return out


# --------------------------------------------------------------------------- sections
def _training_window(ws: Workspace, split, fitted_on: str, fit_rows: int) -> dict | None:
    """Min/max of the time column over the rows the model was fitted on (None: no such column)."""
    X = split.X_train if fitted_on == "train" else pd.concat([split.X_train, split.X_val])
    column = ws.config.time_column
    if not column or column not in X.columns:
        dated = [c for c in X.columns if pd.api.types.is_datetime64_any_dtype(X[c])]
        column = dated[0] if dated else None
    if column is None:
        return None
    if split.time_ordered and 0 < fit_rows < len(X):
        X = X.iloc[-fit_rows:]  # a capped time-ordered fit keeps the newest rows
    times = pd.to_datetime(X[column], errors="coerce")
    return {
        "column": column,
        "start": None if times.isna().all() else times.min().isoformat(),
        "end": None if times.isna().all() else times.max().isoformat(),
    }


def _candidates(client, ws: Workspace, run, registered_run: str) -> list[dict]:
    """Every run of the training that produced the version: candidate, role, metrics."""
    training_id = run.data.tags.get(T.TAG_TRAINING_ID)
    if not training_id:
        return []
    metric = ws.config.metric
    runs = client.search_runs(
        [run.info.experiment_id],
        filter_string=f"tags.`{T.TAG_TRAINING_ID}` = '{training_id}'",
        max_results=200,
    )
    rows = []
    for r in runs:
        role = r.data.tags.get(T.TAG_ROLE)
        if role == T.ROLE_TRAINING:
            continue
        m = r.data.metrics
        rows.append(
            {
                "candidate": r.data.tags.get(T.TAG_CANDIDATE) or r.info.run_name,
                "run": r.info.run_name,
                "role": role,
                "run_id": r.info.run_id,
                f"val_{metric}": m.get(T.metric_key("val", metric)),
                f"test_{metric}": m.get(T.metric_key("test", metric)),
                "cv_best_score": m.get("cv_best_score"),
                "fit_seconds": m.get("fit_seconds"),
                "chosen": r.data.tags.get(T.TAG_BEST) == "true",
                "registered": r.info.run_id == registered_run,
            }
        )
    rows.sort(key=lambda r: (r["role"] == T.ROLE_REFIT, r["candidate"] or ""))
    return rows


def _importance(pipeline, ws: Workspace, X: pd.DataFrame, y) -> dict:
    """Global importance: mean |contribution| where exact, else permutation importance."""
    from core.serving.explain import ExplainUnsupported, global_importance

    try:
        means, space = global_importance(pipeline, X, IMPORTANCE_ROWS, seed=ws.config.training.seed)
        method = f"mean |contribution| ({space}) on {min(len(X), IMPORTANCE_ROWS):,} holdout rows"
    except ExplainUnsupported as exc:
        from core.monitoring.importance import MAX_ROWS, permutation_importance

        means = permutation_importance(
            pipeline, X, y, ws.config.task, ws.config.metric, seed=ws.config.training.seed
        )
        method = (
            f"permutation importance (share of the {ws.config.metric} drop) on "
            f"{min(len(X), MAX_ROWS):,} holdout rows; no exact contributions: {exc}"
        )
    fields = sorted(means.items(), key=lambda kv: -kv[1])
    return {
        "method": method,
        "fields": [{"field": f, "importance": float(v)} for f, v in fields[:TOP_FIELDS]],
    }


def _gates(ws: Workspace, version: str) -> dict | None:
    from core.registry.gates import load_gate_report

    report = load_gate_report(ws, ws.config.model_name, version)
    if report is None:
        return None
    return {
        "status": report.status,
        "champion_version": report.champion_version,
        "evaluated_at": report.evaluated_at,
        "holdout_rows": report.holdout_rows,
        "gates": [g.to_dict() for g in report.gates],
    }


def _history(ws: Workspace, version: str) -> list[dict]:
    """The promotion records that moved the champion to or away from this version, newest first."""
    from core.registry.audit import read_audit

    return [
        {k: r.get(k) for k in ("time", "action", "from_version", "to_version", "actor", "reason")}
        | {"forced": bool(r.get("forced"))}
        for r in read_audit(ws, ws.config.model_name)
        if version in (str(r.get("to_version")), str(r.get("from_version")))
    ]


def _live(ws: Workspace, client, version: str) -> dict:
    """What a promotion changes: aliases, gates, history."""
    by_version: dict[str, list[str]] = {}
    for alias, v in store.aliases(client, ws.config.model_name).items():
        by_version.setdefault(v, []).append(alias)
    return {
        "aliases": sorted(by_version.get(version, [])),
        "gates": _gates(ws, version),
        "history": _history(ws, version),
    }


def build_card(ws: Workspace, version: str | int) -> dict:
    """Every section of a version's card, as JSON-safe data (scores the holdout: seconds).

    Raises:
        ModelNotFound: no such version.
        CardNotFound: the version's run is gone.
    """
    from core.training.data import load_split

    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(1000 * (now - since), 1)
        return now

    cfg, name = ws.config, ws.config.model_name
    client = store.registry_client(ws)
    mv = store.get_version(client, name, version)
    v = str(mv.version)
    run_id = store.version_run_id(mv)
    if not run_id:
        raise CardNotFound(f"{name} v{v} has no run: nothing to write a card from")
    run = client.get_run(run_id)
    tags, params = run.data.tags, run.data.params
    data_version = (mv.tags or {}).get(T.TAG_DATA_VERSION) or tags.get(T.TAG_DATA_VERSION)
    t = lap("registry", started)
    split = load_split(ws, data_version)
    t = lap("data", t)
    pipeline = store.load_model(name, v)
    t = lap("load model", t)
    X, y = split.X_test, split.y_test
    pred = np.asarray(pipeline.predict(X))
    proba = None
    if cfg.task == "classification" and hasattr(pipeline, "predict_proba"):
        proba = np.asarray(pipeline.predict_proba(X))
    t = lap("predict", t)
    cc = cfg.card
    metrics = bootstrap_intervals(
        cfg.task,
        y,
        pred,
        proba,
        resamples=cc.resamples,
        confidence=cc.confidence,
        seed=cfg.training.seed,
    )
    t = lap("bootstrap", t)
    importance = _importance(pipeline, ws, X, y)
    t = lap("importance", t)
    skip = {cfg.time_column} if cfg.time_column else set()
    fields = slice_fields(X, cc.slice_fields, skip)
    slices = worst_slices(
        cfg.task, cfg.metric, X, y, pred, proba, fields, cc.min_slice_rows, cc.worst_slices
    )
    t = lap("slices", t)
    fitted_on = tags.get(T.TAG_REFIT) if tags.get(T.TAG_ROLE) == T.ROLE_REFIT else "train"
    fit_rows = int(params.get("fit_rows") or 0)
    card = {
        "model": name,
        "version": v,
        "run_id": run_id,
        "candidate": tags.get(T.TAG_CANDIDATE),
        "created": pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC").isoformat(),
        "task": cfg.task,
        "target": cfg.target,
        "metric": cfg.metric,
        "intended_use": cc.intended_use,
        "data": {
            "version": split.version.id,
            "commit": split.version.commit,
            "md5": split.version.md5,
            "rows": split.version.rows,
            "batches": len(split.version.batches),
            "train_rows": len(split.X_train),
            "validation_rows": len(split.X_val),
            "holdout_rows": len(X),
            "fitted_on": fitted_on or "train",
            "fit_rows": fit_rows,
            "split": "by time (latest rows held out)" if split.time_ordered else "stratified",
        },
        "training_window": _training_window(ws, split, fitted_on or "train", fit_rows),
        "candidates": _candidates(client, ws, run, run_id),
        "holdout": {
            "rows": len(X),
            "confidence": cc.confidence,
            "resamples": cc.resamples,
            "seed": cfg.training.seed,
            "metrics": metrics,
        },
        "importance": importance,
        "slices": {"metric": cfg.metric, "min_rows": cc.min_slice_rows, **slices},
    }
    card.update(_live(ws, client, v))
    lap("candidates, gates, history", t)
    card["built_ms"] = round(1000 * (time.perf_counter() - started), 1)
    card["timings_ms"] = timings
    return _json_safe(card)


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# --------------------------------------------------------------------------- rendering
@dataclass
class _Block:
    """One piece of a section: a paragraph (`text`) or a table (`columns` + `rows`)."""

    text: str | None = None
    columns: list[str] | None = None
    rows: list[list] | None = None


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items() if v not in (None, [], {}))
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _sections(card: dict) -> list[tuple[str, list[_Block]]]:
    """The card as titled sections of paragraphs and tables (both renderers walk this)."""
    d, m = card["data"], card["metric"]
    sections = [
        ("Intended use", [_Block(card.get("intended_use") or NOT_SET)]),
        (
            "Model",
            [
                _Block(
                    f"{card['task']} of `{card['target']}`, candidate `{card['candidate']}`, "
                    f"run `{card['run_id']}`, registered {card['created']}. Aliases: "
                    f"{', '.join(card.get('aliases') or []) or 'none'}."
                )
            ],
        ),
        (
            "Data",
            [
                _Block(
                    f"Data version `{d['version']}` (git commit `{d['commit'][:12]}`, DVC md5 "
                    f"`{d['md5']}`): {d['rows']:,} rows from {d['batches']} batch(es), split "
                    f"{d['split']}: {d['train_rows']:,} train, {d['validation_rows']:,} "
                    f"validation, {d['holdout_rows']:,} holdout. Fitted on {d['fitted_on']} "
                    f"({d['fit_rows']:,} rows)."
                )
            ],
        ),
    ]
    w = card.get("training_window")
    sections.append(
        (
            "Training window",
            [
                _Block(
                    f"`{w['column']}` from {w['start']} to {w['end']} (the rows the model was "
                    "fitted on)."
                    if w
                    else "No timestamp column: the data has no time order."
                )
            ],
        )
    )
    cands = card.get("candidates") or []
    sections.append(
        (
            "Candidates tried",
            [
                _Block(
                    columns=[
                        "candidate",
                        "run",
                        f"val {m}",
                        f"test {m}",
                        "fit s",
                        "chosen",
                        "registered",
                    ],
                    rows=[
                        [
                            c["candidate"],
                            c["run"],
                            c.get(f"val_{m}"),
                            c.get(f"test_{m}"),
                            c.get("fit_seconds"),
                            c["chosen"],
                            c["registered"],
                        ]
                        for c in cands
                    ],
                )
            ]
            if cands
            else [_Block("The training's runs are not in the tracking store.")],
        )
    )
    h = card["holdout"]
    pct = f"{100 * h['confidence']:g}%"
    sections.append(
        (
            "Holdout metrics",
            [
                _Block(
                    f"On the {h['rows']:,} holdout rows, with {pct} percentile bootstrap "
                    f"intervals ({h['resamples']:,} resamples, seed {h['seed']})."
                ),
                _Block(
                    columns=["metric", "value", f"{pct} low", f"{pct} high"],
                    rows=[
                        [k, v["value"], v["low"], v["high"]]
                        for k, v in sorted(h["metrics"].items(), key=lambda kv: kv[0] != m)
                    ],
                ),
            ],
        )
    )
    g = card.get("gates")
    if g:
        against = f"champion v{g['champion_version']}" if g["champion_version"] else "no champion"
        gate_blocks = [
            _Block(f"**{g['status'].upper()}**, evaluated {g['evaluated_at']} against {against}."),
            _Block(
                columns=["gate", "result", "observed", "threshold", "reason"],
                rows=[
                    [
                        x["name"],
                        "pass" if x["passed"] else "fail",
                        x.get("observed"),
                        x.get("threshold"),
                        x.get("reason"),
                    ]
                    for x in g["gates"]
                ],
            ),
        ]
    else:
        gate_blocks = [_Block("Not evaluated (`workbench models gates NAME VERSION`).")]
    sections.append(("Gates", gate_blocks))
    imp = card["importance"]
    sections.append(
        (
            "Global importance",
            [
                _Block(imp["method"] + "."),
                _Block(
                    columns=["field", "importance"],
                    rows=[[f["field"], f["importance"]] for f in imp["fields"]],
                ),
            ],
        )
    )
    s = card["slices"]
    slice_blocks = [
        _Block(
            f"Where `{s['metric']}` is worst, per categorical field (values with at least "
            f"{s['min_rows']} holdout rows); overall {_fmt(s['overall'])}."
        )
    ]
    rows = [
        [field, r["value"], r["rows"], r["metric"], r["delta"]]
        for field, values in s["fields"].items()
        for r in values
    ]
    if rows:
        slice_blocks.append(
            _Block(columns=["field", "value", "rows", s["metric"], "vs overall"], rows=rows)
        )
    else:
        slice_blocks.append(_Block("No slice: no categorical field with enough rows."))
    for field, why in (s.get("skipped") or {}).items():
        slice_blocks.append(_Block(f"`{field}` not sliced: {why}."))
    sections.append(("Worst slices", slice_blocks))
    history = card.get("history") or []
    sections.append(
        (
            "Promotion history",
            [
                _Block(
                    columns=["time", "action", "change", "actor", "forced", "reason"],
                    rows=[
                        [
                            r["time"],
                            r["action"],
                            _change(r),
                            r["actor"],
                            r["forced"],
                            r["reason"],
                        ]
                        for r in history
                    ],
                )
            ]
            if history
            else [_Block("Never champion.")],
        )
    )
    return sections


def _change(record: dict) -> str:
    before = record.get("from_version")
    return f"{'v' + str(before) + ' ' if before else ''}-> v{record.get('to_version')}"


def _written(card: dict) -> str:
    built, updated = card.get("generated_at"), card.get("updated_at")
    if built and updated and built != updated:
        return f"Built {built}, refreshed {updated}."
    return f"Built {built or updated}."


def _md_cell(value) -> str:
    return _fmt(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(card: dict) -> str:
    """The card as Markdown (GitHub-flavoured tables)."""
    lines = [
        f"# Model card: {card['model']} v{card['version']}",
        "",
        f"_{_written(card)}_",
    ]
    for title, blocks in _sections(card):
        lines += ["", f"## {title}"]
        for b in blocks:
            lines.append("")
            if b.columns is None:
                lines.append(b.text or "")
                continue
            lines.append("| " + " | ".join(b.columns) + " |")
            lines.append("|" + "---|" * len(b.columns))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows or []]
    return "\n".join(lines) + "\n"


def _inline_html(text: str) -> str:
    """Escaped text with Markdown's `code` and **bold** as tags."""
    import re

    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "color:#1f2328}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d0d7de;"
    "padding:.25rem .6rem;text-align:left}th{background:#f6f8fa}code{background:#f6f8fa;"
    "padding:0 .2rem}"
)


def render_html(card: dict) -> str:
    """The card as one self-contained HTML page (no script, no external resource)."""
    title = f"Model card: {card['model']} v{card['version']}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p><em>{html.escape(_written(card))}</em></p>",
    ]
    for name, blocks in _sections(card):
        parts.append(f"<h2>{html.escape(name)}</h2>")
        for b in blocks:
            if b.columns is None:
                parts.append(f"<p>{_inline_html(b.text or '')}</p>")
                continue
            head = "".join(f"<th>{html.escape(c)}</th>" for c in b.columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>"
                for row in b.rows or []
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- storage
def _log(ws: Workspace, client, card: dict) -> None:
    """Log the card's three files under `model_card/` of the version's run (overwriting)."""
    card["updated_at"] = utc_now_iso("seconds")
    card.setdefault("generated_at", card["updated_at"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ARTIFACT_DIR
        folder.mkdir()
        (folder / FILES["json"]).write_text(json.dumps(card, indent=2, sort_keys=True))
        (folder / FILES["md"]).write_text(render_markdown(card), encoding="utf-8")
        (folder / FILES["html"]).write_text(render_html(card), encoding="utf-8")
        _repository(client, card["run_id"]).log_artifacts(str(folder), ARTIFACT_DIR)
    name = ws.config.model_name
    client.set_model_version_tag(name, card["version"], TAG_STATUS, "ok")
    client.set_model_version_tag(name, card["version"], TAG_UPDATED, card["updated_at"])
    client.set_model_version_tag(name, card["version"], TAG_ERROR, "")


def write_card(ws: Workspace, version: str | int) -> dict:
    """Build the whole card (scoring the holdout) and log it; returns the card's data."""
    card = build_card(ws, version)
    _log(ws, store.registry_client(ws), card)
    return card


def refresh_card(ws: Workspace, version: str | int) -> dict:
    """Re-read what a promotion changes (aliases, gates, history) into the stored card.

    A version without a stored card (or one whose card cannot be read) gets a whole new one.
    """
    client = store.registry_client(ws)
    mv = store.get_version(client, ws.config.model_name, version)
    try:
        card = json.loads(_download(client, mv, "json"))
    except CardNotFound:
        return write_card(ws, version)
    card.update(_json_safe(_live(ws, client, str(mv.version))))
    _log(ws, client, card)
    return card


def record_card(ws: Workspace, version: str | int, rebuild: bool = False) -> dict | None:
    """Write (`rebuild`) or refresh a version's card; a failure is logged and tagged, not raised.

    Returns:
        The card's data, or None when it could not be written (the version's
        `model_card.status` tag then says `failed` and `model_card.error` why).
    """
    try:
        return write_card(ws, version) if rebuild else refresh_card(ws, version)
    except Exception as exc:  # noqa: BLE001 - a card never fails a registration or promotion
        reason = one_line(exc)
        log.warning("model card of %s v%s not written: %s", ws.config.model_name, version, reason)
        try:
            client = store.registry_client(ws)
            client.set_model_version_tag(ws.config.model_name, str(version), TAG_STATUS, "failed")
            client.set_model_version_tag(
                ws.config.model_name, str(version), TAG_ERROR, reason[:4000]
            )
            client.set_model_version_tag(
                ws.config.model_name, str(version), TAG_UPDATED, utc_now_iso("seconds")
            )
        except Exception as tag_exc:  # noqa: BLE001 - the registry itself may be what failed
            log.warning("could not tag the failed card: %s", one_line(tag_exc))
        return None


def refresh_cards(ws: Workspace, versions: list[str | None]) -> None:
    """Refresh the cards of the versions a champion move concerns (never raises)."""
    for version in dict.fromkeys(v for v in versions if v):
        record_card(ws, version)


def _repository(client, run_id: str):
    """The artifact repository of a run, from the run's artifact URI as stored now.

    Not MLflow's per-run-id repository cache: a copied workspace (a backup restored elsewhere,
    a test's copy) keeps its run ids, and the cache would send its cards to the original.
    """
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    return get_artifact_repository(client.get_run(run_id).info.artifact_uri)


def _download(client, mv, kind: str) -> str:
    import os

    from mlflow.exceptions import MlflowException

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bar on stderr

    name, v = mv.name, str(mv.version)
    run_id = store.version_run_id(mv)
    why = (mv.tags or {}).get(TAG_ERROR)
    hint = f" (its writing failed: {why})" if why else ""
    missing = CardNotFound(
        f"{name} v{v} has no model card yet{hint}: write it with "
        f"`workbench models card {name} {v} --refresh`"
    )
    if not run_id:
        raise missing
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = _repository(client, run_id).download_artifacts(
                f"{ARTIFACT_DIR}/{FILES[kind]}", tmp
            )
        except (MlflowException, OSError) as exc:
            raise missing from exc
        return Path(path).read_text(encoding="utf-8")


def read_card(ws: Workspace, version: str | int, kind: str = "md") -> str:
    """The stored card of a version: `md`, `html` or `json` text.

    Raises:
        ModelNotFound: no such version.
        CardNotFound: the version has no card (says how to write one).
    """
    client = store.registry_client(ws)
    mv = store.get_version(client, ws.config.model_name, version)
    return _download(client, mv, kind)


def card_status(ws: Workspace, version: str | int) -> dict:
    """`{"status": "ok"|"failed"|None, "updated_at", "error"}` from the version's tags."""
    client = store.registry_client(ws)
    tags = store.get_version(client, ws.config.model_name, version).tags or {}
    return {
        "status": tags.get(TAG_STATUS),
        "updated_at": tags.get(TAG_UPDATED),
        "error": tags.get(TAG_ERROR) or None,
    }
