"""Exact per-record explanations of a registered pipeline, in raw input fields.

An explanation says how much each raw input field moved one prediction away from a base value:
`base_value + sum(contributions.values())` equals the model's output in `space`:

- LightGBM: TreeSHAP (`booster.predict(X, pred_contrib=True)`) on the transformed matrix; the
  base is the model's expected raw score. Binary classifiers answer in `log_odds` (the sigmoid
  of the sum is the probability of class 1), regressors with an identity link in `value`.
- Linear models (`LogisticRegression` for two classes: `log_odds`; `LinearRegression`, `Ridge`,
  `Lasso`, `ElasticNet`...: `value`): column j contributes `coef_j * (x_j - m_j)` and the base is
  `intercept + coef . m`. `m` is the mean of transformed background rows when given (e.g. the
  holdout); without them it is the reference the fitted preprocessing itself records: 0 for
  each column, which for standard-scaled numerics is their training mean, and for a one-hot
  column "not this category" (the base is then the intercept).

Every other family (random forests, k-NN, naive Bayes, calibrated SVMs, multiclass models) has
no exact method here and raises `ExplainUnsupported` naming it.

Contributions are keyed by the model's raw input fields (every one, 0 for a field the model
drops). Each column the estimator sees is traced back through the pipeline's steps
(`feature_sources`): an imputed / scaled column to its input, each one-hot column to the field
it encodes, a date part to its timestamp, a bin to its numeric field. A feature engineered from
several fields (an interaction such as `dewpoint_spread = temp - dewp`) has its contribution
split equally between them, so the sum, and so the additivity, is kept.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import WorkbenchError

MAX_EXPLAIN_ROWS = 100
"""Most records explained in one request (an explanation costs more than a prediction)."""
_LINEAR_REGRESSORS = frozenset(
    {
        "LinearRegression",
        "Ridge",
        "RidgeCV",
        "Lasso",
        "LassoCV",
        "ElasticNet",
        "ElasticNetCV",
        "Lars",
        "LassoLars",
        "BayesianRidge",
        "ARDRegression",
        "HuberRegressor",
        "SGDRegressor",
    }
)
_IDENTITY_OBJECTIVES = frozenset(
    {"regression", "regression_l2", "l2", "mse", "mean_squared_error", "rmse", "regression_l1",
     "l1", "mae", "huber", "fair", "quantile", "mape"}
)  # fmt: skip


class ExplainUnsupported(WorkbenchError):
    """The model has no exact explanation here; the message names its family."""


@dataclass(frozen=True)
class Explanation:
    """One record's explanation: `base_value + sum(contributions)` is the output in `space`."""

    base_value: float
    contributions: dict[str, float]
    """Raw input field -> its share of the output."""
    space: str
    """`log_odds` (binary classifiers), `value` (regressors) or `probability`."""

    def output(self) -> float:
        """The model's output in `space` rebuilt from the parts."""
        return self.base_value + float(sum(self.contributions.values()))


# --------------------------------------------------------------------------- column sources
def _front_sources(front_steps, fields: Sequence[str]) -> dict[str, frozenset[str]]:
    """Column -> the raw fields it is computed from, after the cleaning + feature steps."""
    sources = {name: frozenset({name}) for name in fields}
    for _, step in front_steps:
        config = getattr(step, "config", None)
        if type(step).__name__ == "FeatureBuilder":
            sources = _feature_sources(sources, config or {})
        elif hasattr(step, "get_feature_names_out"):
            kept = set(step.get_feature_names_out())
            sources = {c: s for c, s in sources.items() if c in kept}
        else:
            raise ExplainUnsupported(
                f"the pipeline step {type(step).__name__} has no known outputs"
            )
    return sources


def _feature_sources(sources: dict, config: dict) -> dict[str, frozenset[str]]:
    """`core.data.features.build_features`, column by column: which inputs make each output."""
    from core.config import FeaturesConfig

    cfg = FeaturesConfig.model_validate(config)
    out = dict(sources)
    for spec in cfg.date_parts:
        for part in spec.parts:
            out[spec.output(part)] = out[spec.column]
    for spec in cfg.interactions:
        out[spec.output] = frozenset().union(*(out[c] for c in spec.columns))
    for spec in cfg.bins:
        out[spec.output] = out[spec.column]
    for name in cfg.drop:
        out.pop(name, None)
    return out


def _encoder_widths(encoder) -> list[int]:
    """How many output columns a fitted `OneHotEncoder` gives each of its inputs."""
    widths = []
    infrequent = getattr(encoder, "infrequent_categories_", None)
    drop_idx = getattr(encoder, "drop_idx_", None)
    for i, cats in enumerate(encoder.categories_):
        n = len(cats)
        if infrequent is not None and infrequent[i] is not None:
            n = n - len(infrequent[i]) + 1
        if drop_idx is not None and drop_idx[i] is not None:
            n -= 1
        widths.append(n)
    return widths


def _traced_names(step, names: list[str]) -> list[str]:
    """A fitted step's output names for input columns `names` (unsupported when it has none)."""
    try:
        return [str(c) for c in step.get_feature_names_out(np.asarray(names, dtype=object))]
    except (AttributeError, ValueError, TypeError) as exc:
        raise ExplainUnsupported(
            f"cannot trace the outputs of the pipeline step {type(step).__name__}: {exc}"
        ) from exc


def _part_sources(transformer, columns: list[str]) -> list[list[str]]:
    """Output columns of one ColumnTransformer part (a Pipeline or one step) -> input columns."""
    from sklearn.preprocessing import OneHotEncoder

    steps = [s for _, s in transformer.steps] if hasattr(transformer, "steps") else [transformer]
    names = list(columns)
    parents = {c: [c] for c in columns}  # current column name -> the part's input columns
    for step in steps:
        if step is None or isinstance(step, str):  # "passthrough"
            continue
        out = _traced_names(step, names)
        if isinstance(step, OneHotEncoder):
            owners = [
                n for n, w in zip(names, _encoder_widths(step), strict=True) for _ in range(w)
            ]
        else:
            owners = out
            mixed = [c for c in out if c not in parents]
            if mixed:  # not one-to-one (a PCA, polynomial features): no field owns the column
                raise ExplainUnsupported(
                    f"the pipeline step {type(step).__name__} mixes its inputs ({mixed[0]})"
                )
        if len(owners) != len(out):
            raise ExplainUnsupported(f"cannot trace the outputs of {type(step).__name__}")
        parents = {name: parents[owner] for name, owner in zip(out, owners, strict=True)}
        names = out
    return [parents[n] for n in names]


def feature_sources(pipeline, fields: Sequence[str]) -> list[frozenset[str]]:
    """For each column the estimator sees, the raw input fields it is computed from.

    `pipeline` is a fitted workbench model: front steps (`RecordCleaner`, `FeatureBuilder`), a
    `preprocess` ColumnTransformer, then the estimator.
    """
    steps = pipeline.steps[:-1]
    if not steps or not hasattr(steps[-1][1], "transformers_"):
        raise ExplainUnsupported("the pipeline has no fitted `preprocess` ColumnTransformer")
    front = _front_sources(steps[:-1], fields)
    out: list[frozenset[str]] = []
    for _, transformer, columns in steps[-1][1].transformers_:
        if transformer == "drop" or not len(columns):
            continue
        columns = [str(c) for c in columns]
        for parents in _part_sources(transformer, columns):
            out.append(frozenset().union(*(front[c] for c in parents)))
    return out


# --------------------------------------------------------------------------- estimators
def _family(est) -> str:
    return type(est).__name__


def _lightgbm(est):
    """(contributions per column + base as the last column, space) from a LightGBM model."""
    booster = est.booster_
    objective = str(est.objective_) if not callable(est.objective_) else "custom"
    classes = getattr(est, "classes_", None)
    if classes is not None:
        if len(classes) != 2:
            raise ExplainUnsupported(
                f"{_family(est)} with {len(classes)} classes: only binary classifiers are explained"
            )
        space = "log_odds"
    elif objective in _IDENTITY_OBJECTIVES:
        space = "value"
    else:
        raise ExplainUnsupported(f"{_family(est)} with objective {objective}: not explained")

    def contrib(X: np.ndarray) -> np.ndarray:  # noqa: N803 - array naming
        return np.asarray(booster.predict(X, pred_contrib=True, num_threads=1), dtype="float64")

    return contrib, space


def _linear(est, background: np.ndarray | None):
    """(contributions per column + base as the last column, space) from a linear model."""
    name = _family(est)
    classes = getattr(est, "classes_", None)
    coef = np.asarray(est.coef_, dtype="float64")
    intercept = np.asarray(est.intercept_, dtype="float64").reshape(-1)
    if name == "LogisticRegression" and classes is not None and len(classes) == 2:
        space = "log_odds"
    elif name in _LINEAR_REGRESSORS and classes is None and (coef.ndim == 1 or len(coef) == 1):
        space = "value"
    else:
        raise ExplainUnsupported(f"{name} is not explained (no exact method for this model)")
    coef, intercept = coef.reshape(-1), float(intercept[0]) if intercept.size else 0.0
    mean = np.zeros_like(coef) if background is None else np.nanmean(background, axis=0)

    def contrib(X: np.ndarray) -> np.ndarray:  # noqa: N803 - array naming
        parts = coef * (np.asarray(X, dtype="float64") - mean)
        base = np.full((parts.shape[0], 1), intercept + float(coef @ mean))
        return np.hstack((parts, base))

    return contrib, space


def _method(est, background: np.ndarray | None):
    """The exact method of an estimator, or `ExplainUnsupported` naming its family."""
    try:
        from lightgbm import LGBMModel
    except ImportError:  # pragma: no cover - lightgbm is a core dependency
        LGBMModel = ()  # noqa: N806 - a type placeholder
    if isinstance(est, LGBMModel):
        return _lightgbm(est)
    name = _family(est)
    if name == "LogisticRegression" or name in _LINEAR_REGRESSORS:
        return _linear(est, background)
    raise ExplainUnsupported(
        f"{name} models are not explained: exact contributions exist for LightGBM (TreeSHAP) "
        "and linear models (LogisticRegression, Ridge, ...)"
    )


# --------------------------------------------------------------------------- the explainer
class Explainer:
    """Explains records of one fitted pipeline (build it once per model; see `explainer`).

    Args:
        pipeline: the registered model (front steps, `preprocess`, estimator).
        fields: its raw input fields, in the order of the served signature.
        background: raw records whose transformed mean is the linear models' reference point
            (None: the preprocessing's own reference, see the module docstring).
    """

    def __init__(
        self, pipeline, fields: Sequence[str], background: pd.DataFrame | None = None
    ) -> None:
        self.pipeline = pipeline
        self.fields = list(fields)
        est = pipeline.steps[-1][1]
        self.family = _family(est)
        reference = None
        if background is not None:
            reference = np.asarray(pipeline[:-1].transform(background[self.fields]), "float64")
        self._contrib, self.space = _method(est, reference)
        sources = feature_sources(pipeline, self.fields)
        expected = getattr(est, "n_features_in_", len(sources))
        if len(sources) != expected:
            raise ExplainUnsupported(
                f"traced {len(sources)} columns but {self.family} takes {expected}"
            )
        # one matrix from transformed columns to raw fields: equal shares of a shared column
        index = {f: i for i, f in enumerate(self.fields)}
        self._to_fields = np.zeros((len(sources), len(self.fields)))
        for j, owners in enumerate(sources):
            for owner in owners:
                self._to_fields[j, index[owner]] = 1.0 / len(owners)

    def explain_frame(self, frame: pd.DataFrame) -> list[Explanation]:
        """Explanations of raw records given as a frame with every input field."""
        return self.explain_matrix(self.pipeline[:-1].transform(frame[self.fields]))

    def explain_matrix(self, X) -> list[Explanation]:  # noqa: N803 - sklearn naming
        """Explanations from the estimator's input matrix.

        `X` is the pipeline's transform of raw records, or the same matrix from
        `core.serving.inference.CompiledModel.transform_records` (much faster).
        """
        parts = self._contrib(np.asarray(X, dtype="float64"))
        per_field = parts[:, :-1] @ self._to_fields
        return [
            Explanation(
                float(parts[i, -1]),
                {f: float(v) for f, v in zip(self.fields, per_field[i], strict=True)},
                self.space,
            )
            for i in range(len(parts))
        ]

    def explain_records(self, records: Sequence[dict]) -> list[Explanation]:
        """Explanations of raw records (mappings of field to value, as `POST /predict` takes)."""
        return self.explain_frame(pd.DataFrame.from_records(list(records), columns=self.fields))


_EXPLAINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def explainer(pipeline, fields: Sequence[str]) -> Explainer:
    """The `Explainer` of a loaded pipeline, built on first use and kept while it lives.

    A model whose family has no exact method raises `ExplainUnsupported` every time.
    """
    cached = _EXPLAINERS.get(pipeline)
    if cached is None or cached.fields != list(fields):
        cached = Explainer(pipeline, fields)
        _EXPLAINERS[pipeline] = cached
    return cached


# --------------------------------------------------------------------------- global importance
IMPORTANCE_ROWS = 1000
"""Holdout rows sampled for a model's global importance (TreeSHAP costs ~1.5 ms a row)."""


def global_importance(
    pipeline, frame: pd.DataFrame, rows: int = IMPORTANCE_ROWS, seed: int = 0
) -> tuple[dict[str, float], str]:
    """Mean |contribution| of each raw field over (a sample of) `frame`, and the space.

    `frame` holds raw records with every input field (e.g. the holdout); for linear models the
    same rows are the background, so contributions are relative to their mean.
    """
    sample = frame.sample(n=rows, random_state=seed) if len(frame) > rows else frame
    found = Explainer(pipeline, list(frame.columns), background=sample)
    parts = found.explain_frame(sample)
    values = np.asarray([list(p.contributions.values()) for p in parts])
    means = np.abs(values).mean(axis=0) if len(parts) else np.zeros(len(found.fields))
    return dict(zip(found.fields, means.tolist(), strict=True)), found.space


def version_importance(ws, versions: Sequence[str], rows: int = IMPORTANCE_ROWS) -> pd.DataFrame:
    """Global importance of registered versions on the latest holdout, one row per field.

    Columns: `field`, then one per version (`v2`, ...) holding its mean |contribution|; a
    version without an exact method raises `ExplainUnsupported` naming it and its family.
    """
    from core.registry.store import load_model, registry_client
    from core.training.data import load_split

    registry_client(ws)  # points `models:/` URIs at the workspace's registry
    holdout = load_split(ws).X_test
    table = pd.DataFrame({"field": list(holdout.columns)})
    for version in versions:
        pipeline = load_model(ws.config.model_name, version)
        try:
            means, _ = global_importance(pipeline, holdout, rows)
        except ExplainUnsupported as exc:
            raise ExplainUnsupported(f"v{version}: {exc}") from exc
        table[f"v{version}"] = table["field"].map(means)
    return table
