"""The candidate catalogue: eight models per task, plus default search spaces.

Each candidate becomes one Pipeline from a raw record to a prediction: value cleaning, feature
engineering, imputation / encoding / scaling, then the estimator (see `build_pipeline`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from sklearn.pipeline import Pipeline

from core.config import WorkbenchConfig
from core.data.preprocess import build_transformer, model_front, split_columns
from core.errors import ConfigError


@dataclass(frozen=True)
class Candidate:
    """A named estimator factory and its default search space (estimator parameter names)."""

    name: str
    make: Callable[[int], object]
    space: dict[str, list] = field(default_factory=dict)
    slow: bool = False
    """Slow learners (k-NN, SVM) are trained on a capped row sample."""


# Default search spaces shared by the classification and regression variants of a learner.
TREE_SPACE = {
    "n_estimators": [100, 200],
    "max_depth": [None, 8, 16],
    "min_samples_leaf": [1, 5, 20],
}
HGB_SPACE = {
    "learning_rate": [0.05, 0.1, 0.2],
    "max_leaf_nodes": [15, 31, 63],
    "l2_regularization": [0.0, 1.0],
}
LGBM_SPACE = {
    "num_leaves": [15, 31, 63],
    "learning_rate": [0.03, 0.1],
    "min_child_samples": [10, 20, 50],
    "subsample": [0.8, 1.0],
}
KNN_SPACE = {"n_neighbors": [5, 15, 31], "weights": ["uniform", "distance"]}


def _classifiers() -> list[Candidate]:
    from lightgbm import LGBMClassifier
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import LinearSVC

    return [
        Candidate(
            "logistic_regression",
            lambda s: LogisticRegression(max_iter=2000, random_state=s),
            {"C": [0.01, 0.1, 1.0, 10.0]},
        ),
        Candidate(
            "random_forest",
            lambda s: RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=s),
            TREE_SPACE,
        ),
        Candidate(
            "extra_trees",
            lambda s: ExtraTreesClassifier(n_estimators=100, n_jobs=-1, random_state=s),
            TREE_SPACE,
        ),
        Candidate(
            "hist_gradient_boosting",
            lambda s: HistGradientBoostingClassifier(random_state=s),
            HGB_SPACE,
        ),
        Candidate(
            "lightgbm",
            lambda s: LGBMClassifier(n_estimators=200, random_state=s, verbose=-1, n_jobs=1),
            LGBM_SPACE,
        ),
        Candidate(
            "knn",
            lambda s: KNeighborsClassifier(n_jobs=-1),
            KNN_SPACE,
            slow=True,
        ),
        Candidate("naive_bayes", lambda s: GaussianNB(), {"var_smoothing": [1e-9, 1e-7, 1e-5]}),
        Candidate(
            "linear_svm",
            lambda s: CalibratedClassifierCV(LinearSVC(random_state=s), cv=3),
            {"estimator__C": [0.01, 0.1, 1.0]},
            slow=True,
        ),
    ]


def _regressors() -> list[Candidate]:
    from lightgbm import LGBMRegressor
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
    from sklearn.neighbors import KNeighborsRegressor

    alphas = [0.01, 0.1, 1.0, 10.0]
    return [
        Candidate("linear", lambda s: LinearRegression()),
        Candidate("ridge", lambda s: Ridge(random_state=s), {"alpha": alphas}),
        Candidate("lasso", lambda s: Lasso(random_state=s, max_iter=5000), {"alpha": alphas}),
        Candidate(
            "elastic_net",
            lambda s: ElasticNet(random_state=s, max_iter=5000),
            {"alpha": alphas, "l1_ratio": [0.2, 0.5, 0.8]},
        ),
        Candidate(
            "random_forest",
            lambda s: RandomForestRegressor(n_estimators=100, n_jobs=-1, random_state=s),
            TREE_SPACE,
        ),
        Candidate(
            "hist_gradient_boosting",
            lambda s: HistGradientBoostingRegressor(random_state=s),
            HGB_SPACE,
        ),
        Candidate(
            "lightgbm",
            lambda s: LGBMRegressor(n_estimators=200, random_state=s, verbose=-1, n_jobs=1),
            LGBM_SPACE,
        ),
        Candidate(
            "knn",
            lambda s: KNeighborsRegressor(n_jobs=-1),
            KNN_SPACE,
            slow=True,
        ),
    ]


def catalogue(task: str) -> dict[str, Candidate]:
    """Every candidate of a task by name."""
    items = _classifiers() if task == "classification" else _regressors()
    return {c.name: c for c in items}


def select(task: str, names: list[str] | None) -> list[Candidate]:
    """The configured candidates (all when `names` is None); unknown names are a ConfigError."""
    known = catalogue(task)
    if names is None:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"training.candidates: unknown {task} candidate(s) {', '.join(unknown)} "
            f"(known: {', '.join(known)})"
        )
    return [known[n] for n in names]


def build_pipeline(
    candidate: Candidate, X: pd.DataFrame, cfg: WorkbenchConfig, seed: int
) -> Pipeline:
    """The whole model, unfitted: raw record -> clean -> features -> preprocess -> estimator.

    `X` holds raw training records; the front (cleaning + feature engineering) is run once on a
    sample of it only to learn which of its output columns are numeric and which categorical.
    """
    front = model_front(cfg)
    sample = front.fit_transform(X.head(2000))
    numeric, categorical = split_columns(sample)
    return Pipeline(
        [
            *front.steps,
            ("preprocess", build_transformer(numeric, categorical, cfg.preprocessing)),
            ("model", candidate.make(seed)),
        ]
    )


def search_space(candidate: Candidate, overrides: dict[str, dict[str, list]]) -> dict[str, list]:
    """Pipeline-prefixed search space (`model__<param>`), config overriding the defaults."""
    space = dict(candidate.space) | dict(overrides.get(candidate.name, {}))
    return {f"model__{k}": v for k, v in space.items()}
