"""Attribution drift: does the model still rely on the same input fields as on its holdout?

Each raw input field's global importance (its mean absolute contribution to the model's output
over a sample of rows) is ranked on the reference (the version's held-out rows, computed once
per version when its reference profile is built, `core.monitoring.profiles`) and on each checked
window. The two rankings are compared as SageMaker Clarify compares them: with the reference
importance `a(f)` as relevance, the reference ranking `f_1..f_n` and the window's `f'_1..f'_n`,

    nDCG = sum_i a(f'_i) / log2(i + 1)  /  sum_i a(f_i) / log2(i + 1)

1 when the window ranks the fields as the reference does; swapping two fields the model hardly
uses costs little, losing the top field a lot. Below `monitoring.attribution.threshold` (0.90,
Clarify's default) the check flags `attribution_drift`.

How importance is measured depends on the model family, the same way on both sides:

- `treeshap`: LightGBM's exact TreeSHAP contributions (`core.serving.explain`), log-odds/value,
  against the training expectation: a field stuck at one value keeps a large importance when
  the model's output there is far from its average (the model does lean on it for those rows);
- `linear`: linear models' exact `coef * (x - mean)` contributions, the mean of the same rows;
- `permutation`: every other family (random forests, naive Bayes, ...): the mean absolute change
  of the model's output (positive-class probability, class probabilities, or value) when the
  field's values are shuffled among the rows. Label-free, so it runs on unlabelled windows.

Both sides sample at most `monitoring.attribution.rows` rows (1,000; `treeshap_rows`, 300, for
TreeSHAP, whose cost per row grows with trees x leaves: ~2-5 ms a row for the demo's 200-tree
LightGBM), so a check costs well under a second (a permutation pass is one prediction of
fields x rows rows).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.monitoring.importance import normalise

log = logging.getLogger(__name__)

METHODS = {
    "treeshap": "mean |TreeSHAP contribution| per raw field (LightGBM, exact)",
    "linear": "mean |coefficient x (value - mean)| per raw field (linear model, exact)",
    "permutation": (
        "mean |change of the model's output| when the field is shuffled among the rows "
        "(label-free; the model family has no exact contributions)"
    ),
}
FILE = "attribution.json"
"""The reference importance, beside the version's reference profile (artifact and cache)."""


# --------------------------------------------------------------------------- nDCG
def reference_order(reference: dict[str, float]) -> list[str]:
    """The fields by reference importance, largest first (ties by name)."""
    return sorted(reference, key=lambda f: (-reference[f], f))


def current_order(reference: dict[str, float], current: dict[str, float]) -> list[str]:
    """The reference's fields by current importance, largest first.

    Ties keep the reference order (an equal importance is no evidence of a reordering); a field
    the window has no importance for counts as 0.
    """
    rank = {f: i for i, f in enumerate(reference_order(reference))}
    return sorted(reference, key=lambda f: (-current.get(f, 0.0), rank[f]))


def ndcg(reference: dict[str, float], current: dict[str, float]) -> float | None:
    """The nDCG of the current ranking with the reference importance as relevance (Clarify's).

    Returns:
        A value in [0, 1] (1: the same ranking), None when the reference gives no field any
        importance (nothing to rank).
    """
    ideal_order = reference_order(reference)
    discounts = 1.0 / np.log2(np.arange(2, len(ideal_order) + 2))
    relevance = np.array([max(reference[f], 0.0) for f in ideal_order])
    ideal = float(relevance @ discounts)
    if not ideal > 0:
        return None
    got = np.array([max(reference[f], 0.0) for f in current_order(reference, current)])
    return min(float(got @ discounts) / ideal, 1.0)


# --------------------------------------------------------------------------- importance
@dataclass
class Importance:
    """Global importance of a model's raw input fields on some rows."""

    values: dict[str, float]
    """Field -> its share of the total importance (summing to 1; all 0 when nothing moves)."""
    method: str
    """`treeshap`, `linear` or `permutation` (see `METHODS`)."""
    rows: int
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Importance:
        return cls(**data)


def input_fields(model) -> list[str]:
    """The raw input fields a fitted pipeline takes (in its order)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise ValueError(f"{type(model).__name__} does not name its input fields")
    return [str(n) for n in names]


def _outputs(model, X: pd.DataFrame, task: str) -> np.ndarray:  # noqa: N803 - sklearn naming
    """The model's output per row: positive-class / class probabilities, or the value."""
    if task == "classification" and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype="float64")
        return proba[:, 1:] if proba.shape[1] == 2 else proba
    predicted = np.asarray(model.predict(X))
    if task == "classification":  # no probabilities: whether the label is the first row's
        return (predicted == predicted[0]).astype("float64").reshape(-1, 1)
    return predicted.astype("float64").reshape(-1, 1)


def permutation_importance(model, X: pd.DataFrame, task: str, seed: int = 0) -> dict[str, float]:  # noqa: N803
    """Mean |change of the output| per field when its values are shuffled among `X`'s rows.

    Label-free. All shuffled copies are scored in one call (one pass through the pipeline).
    """
    rng = np.random.default_rng(seed)
    X = X.reset_index(drop=True)  # noqa: N806 - sklearn naming
    copies = []
    for field in X.columns:
        shuffled = X.copy()
        shuffled[field] = X[field].to_numpy()[rng.permutation(len(X))]
        copies.append(shuffled)
    outputs = _outputs(model, pd.concat([X, *copies], ignore_index=True), task)
    base, n = outputs[: len(X)], len(X)
    return {
        field: float(np.abs(outputs[(i + 1) * n : (i + 2) * n] - base).sum(axis=1).mean())
        for i, field in enumerate(X.columns)
    }


def _treeshap(model) -> bool:
    return type(model.steps[-1][1]).__name__.startswith("LGBM")


def _exact(model, X: pd.DataFrame, seed: int) -> tuple[dict[str, float], str]:  # noqa: N803
    """Mean |contribution| per field and the method name; `ExplainUnsupported` when none."""
    from core.serving.explain import global_importance

    means, _ = global_importance(model, X, rows=len(X), seed=seed)
    return means, "treeshap" if _treeshap(model) else "linear"


def importance(
    model,
    frame: pd.DataFrame,
    task: str,
    *,
    rows: int = 1000,
    treeshap_rows: int = 300,
    seed: int = 0,
    method: str | None = None,
) -> Importance:
    """Global importance of the model's raw input fields on (a sample of) `frame`.

    Args:
        model: The fitted pipeline (takes raw records).
        frame: Raw records (extra columns are ignored, absent fields are missing values).
        task: `classification` or `regression`.
        rows: Most rows used (a seeded sample).
        treeshap_rows: Most rows explained by TreeSHAP (its cost grows with trees x leaves).
        seed: Seed of the sample and the shuffles.
        method: `permutation` to force the label-free method; None: the exact method of the
            model's family, else permutation.
    """
    from core.serving.explain import ExplainUnsupported

    X = frame.reindex(columns=input_fields(model))  # noqa: N806 - sklearn naming
    if method != "permutation" and _treeshap(model):
        rows = min(rows, treeshap_rows)
    if len(X) > rows:
        X = X.sample(n=rows, random_state=seed)  # noqa: N806
    X = X.reset_index(drop=True)  # noqa: N806
    start = time.perf_counter()
    means = None
    if method != "permutation":
        try:
            means, method = _exact(model, X, seed)
        except ExplainUnsupported:
            means = None
    if means is None:
        means, method = permutation_importance(model, X, task, seed), "permutation"
    values = {f: (v if math.isfinite(v) else 0.0) for f, v in means.items()}
    return Importance(normalise(values), method, len(X), time.perf_counter() - start)


# --------------------------------------------------------------------------- the comparison
@dataclass
class AttributionDrift:
    """The window's importance ranking against the reference's."""

    ndcg: float | None
    threshold: float
    method: str
    reference: dict[str, float]
    current: dict[str, float]
    rows: int
    reference_rows: int
    seconds: float
    """Time to rank the window's fields (the reference's was computed once)."""
    note: str | None = None

    @property
    def drifted(self) -> bool:
        return self.ndcg is not None and self.ndcg < self.threshold

    def moves(self, top: int = 3) -> str:
        """`carrier #1 -> #4, origin #3 -> #1`: the reference's top fields that moved."""
        ref, cur = reference_order(self.reference), current_order(self.reference, self.current)
        where = {f: i + 1 for i, f in enumerate(cur)}
        moved = [f"{f} #{i} -> #{where[f]}" for i, f in enumerate(ref[:top], 1) if where[f] != i]
        return ", ".join(moved)

    def describe(self) -> str:
        """One line: the nDCG against the threshold and what moved."""
        if self.ndcg is None:
            return f"attribution not compared: {self.note}"
        sign = "<" if self.drifted else ">="
        moved = self.moves()
        return (
            f"importance ranking nDCG {self.ndcg:.3f} {sign} {self.threshold:.2f} "
            f"({self.method}, {self.rows:,} rows)" + (f": {moved}" if moved else "")
        )

    def to_json(self) -> dict:
        return {
            "ndcg": None if self.ndcg is None else round(self.ndcg, 6),
            "threshold": self.threshold,
            "drifted": self.drifted,
            "method": self.method,
            "method_description": METHODS.get(self.method, self.method),
            "reference_importance": {k: round(v, 6) for k, v in self.reference.items()},
            "current_importance": {k: round(v, 6) for k, v in self.current.items()},
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "ms": round(self.seconds * 1000, 1),
            "note": self.note,
        }


def compare(reference: Importance, current: Importance, threshold: float) -> AttributionDrift:
    """The nDCG of `current`'s ranking against `reference`'s importance, and its verdict."""
    note = None
    if reference.method != current.method:
        note = f"reference ranked by {reference.method}, the window by {current.method}"
    value = ndcg(reference.values, current.values)
    if value is None:
        note = "the reference gives no field any importance"
    return AttributionDrift(
        value,
        threshold,
        current.method,
        reference.values,
        current.values,
        current.rows,
        reference.rows,
        current.seconds,
        note,
    )


# --------------------------------------------------------------------------- per model version
def version_importance(ws, model, data_version: str | None) -> Importance:
    """The reference importance: on the held-out rows (validation + test) of a data version."""
    from core.training.data import load_split

    cfg = ws.config
    split = load_split(ws, data_version)
    holdout = pd.concat([split.X_val, split.X_test])
    found = cfg.monitoring.attribution
    return importance(
        model,
        holdout,
        cfg.task,
        rows=found.rows,
        treeshap_rows=found.treeshap_rows,
        seed=cfg.training.seed,
    )


def save_reference(ws, model, data_version: str | None, folder) -> None:
    """Write the version's reference importance into its profile folder (never fails the caller)."""
    from core.files import atomic_write_json
    from core.monitoring.inputs import takes_raw_records

    if not ws.config.monitoring.attribution.enabled or not takes_raw_records(model):
        return
    try:
        found = version_importance(ws, model, data_version)
    except Exception as exc:  # noqa: BLE001 - a check computes it later instead
        log.warning("reference attribution not computed: %s", exc)
        return
    atomic_write_json(folder / FILE, found.to_json())


def reference_importance(ws, profile, model) -> Importance:
    """The reference importance of the profile's model version (computed once, then cached).

    Read from the profile's folder (`attribution.json`, written when the profile was built);
    a profile built before attribution drift gets it computed now and cached beside it.
    """
    from core.files import atomic_write_json
    from core.monitoring.profiles import reference_dir

    source = profile.source
    path = reference_dir(ws, source["model"], str(source["model_version"])) / FILE
    if path.is_file():
        return Importance.from_json(json.loads(path.read_text(encoding="utf-8")))
    found = version_importance(ws, model, source.get("data_version"))
    atomic_write_json(path, found.to_json())
    return found


def check_attribution(ws, profile, frame: pd.DataFrame) -> AttributionDrift | None:
    """The attribution drift of a window against the profile's model version.

    None when attribution drift is off, or the profile is a file's (no model to ask).
    """
    from core.monitoring.inputs import takes_raw_records
    from core.registry import store

    cfg = ws.config.monitoring.attribution
    source = profile.source
    if not cfg.enabled or not source.get("model") or not source.get("model_version"):
        return None
    store.registry_client(ws)
    model = store.load_model(source["model"], source["model_version"])
    if not takes_raw_records(model):
        return None  # a model that took engineered records: its fields are not the raw ones
    reference = reference_importance(ws, profile, model)
    if len(frame) < cfg.min_rows:
        return AttributionDrift(
            None, cfg.threshold, reference.method, reference.values, {}, len(frame),
            reference.rows, 0.0,
            f"{len(frame)} rows, fewer than monitoring.attribution.min_rows ({cfg.min_rows})",
        )  # fmt: skip
    current = importance(
        model,
        frame,
        ws.config.task,
        rows=cfg.rows,
        treeshap_rows=cfg.treeshap_rows,
        seed=ws.config.training.seed,
        method=reference.method if reference.method == "permutation" else None,
    )
    return compare(reference, current, cfg.threshold)
