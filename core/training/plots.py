"""Evaluation plots written as PNG files for the MLflow run (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    _plt().close(fig)
    return path


def classification_plots(out: Path, y_true, y_pred, y_score) -> list[Path]:
    """Confusion matrix, ROC and precision-recall curves."""
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    plt = _plt()
    paths = []
    fig, ax = plt.subplots(figsize=(4, 4))
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, ax=ax, colorbar=False)
    paths.append(_save(fig, out / "confusion_matrix.png"))
    if y_score is not None and len(np.unique(y_true)) == 2:
        score = y_score[:, -1] if np.ndim(y_score) == 2 else y_score
        fig, ax = plt.subplots(figsize=(4, 4))
        RocCurveDisplay.from_predictions(y_true, score, ax=ax)
        paths.append(_save(fig, out / "roc_curve.png"))
        fig, ax = plt.subplots(figsize=(4, 4))
        PrecisionRecallDisplay.from_predictions(y_true, score, ax=ax)
        paths.append(_save(fig, out / "pr_curve.png"))
    return paths


def regression_plots(out: Path, y_true, y_pred) -> list[Path]:
    """Residuals against predictions and predicted against actual."""
    plt = _plt()
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 4))
    a.scatter(y_pred, y_true - y_pred, s=4, alpha=0.4)
    a.axhline(0, color="k", lw=0.8)
    a.set(xlabel="predicted", ylabel="residual", title="Residuals")
    b.scatter(y_true, y_pred, s=4, alpha=0.4)
    lo, hi = float(np.nanmin(y_true)), float(np.nanmax(y_true))
    b.plot([lo, hi], [lo, hi], color="k", lw=0.8)
    b.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    return [_save(fig, out / "residuals.png")]


def feature_importance(pipeline) -> dict[str, float]:
    """Importances (trees) or absolute coefficients (linear) by transformed feature name."""
    model = pipeline.named_steps["model"]
    values = getattr(model, "feature_importances_", None)
    if values is None and hasattr(model, "coef_"):
        values = np.abs(np.atleast_2d(model.coef_)).mean(axis=0)
    if values is None:
        return {}
    try:
        names = pipeline.named_steps["preprocess"].get_feature_names_out()
    except (AttributeError, ValueError):
        names = [f"f{i}" for i in range(len(values))]
    return {str(n): float(v) for n, v in zip(names, values, strict=False)}


def importance_plot(out: Path, importance: dict[str, float], top: int = 20) -> list[Path]:
    """Horizontal bar chart of the top features."""
    if not importance:
        return []
    plt = _plt()
    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_title("Feature importance")
    return [_save(fig, out / "feature_importance.png")]
