"""Evaluation plots written as PNG files for the MLflow run.

Drawn with matplotlib's object-oriented `Figure` (Agg canvas, no pyplot state): thread-safe on
the logging thread and drawn once per figure (no tight_layout pass), which took plotting from
~2.2 s to a few hundred ms per candidate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_DPI = 72


def _figure(width: float, height: float, **adjust):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    fig.subplots_adjust(**({"left": 0.15, "right": 0.95, "top": 0.9, "bottom": 0.13} | adjust))
    return fig


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=_DPI)
    return path


def _curve(out: Path, name: str, x, y, title: str, xlabel: str, ylabel: str, diagonal: bool):
    fig = _figure(4, 4)
    ax = fig.add_subplot()
    ax.plot(x, y, lw=1.5)
    if diagonal:
        ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.02))
    return _save(fig, out / name)


def classification_plots(out: Path, y_true, y_pred, y_score) -> list[Path]:
    """Confusion matrix, ROC and precision-recall curves."""
    from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_auc_score, roc_curve

    labels = np.unique(np.concatenate([np.asarray(y_true), np.asarray(y_pred)]))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    fig = _figure(4, 4)
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black"
        )
    ax.set(
        title="Confusion matrix",
        xlabel="predicted",
        ylabel="actual",
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
    )
    paths = [_save(fig, out / "confusion_matrix.png")]
    if y_score is not None and len(np.unique(y_true)) == 2:
        score = y_score[:, -1] if np.ndim(y_score) == 2 else y_score
        fpr, tpr, _ = roc_curve(y_true, score)
        auc = roc_auc_score(y_true, score)
        paths.append(
            _curve(
                out,
                "roc_curve.png",
                fpr,
                tpr,
                f"ROC (AUC {auc:.3f})",
                "false positive rate",
                "true positive rate",
                True,
            )
        )
        precision, recall, _ = precision_recall_curve(y_true, score)
        paths.append(
            _curve(
                out,
                "pr_curve.png",
                recall,
                precision,
                "Precision-recall",
                "recall",
                "precision",
                False,
            )
        )
    return paths


def regression_plots(out: Path, y_true, y_pred) -> list[Path]:
    """Residuals against predictions and predicted against actual."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    fig = _figure(8, 4, left=0.08, wspace=0.3)
    a, b = fig.subplots(1, 2)
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


def importance_plot(out: Path, importance: dict[str, float], top: int = 15) -> list[Path]:
    """Horizontal bar chart of the top features."""
    if not importance:
        return []
    items = sorted(importance.items(), key=lambda kv: kv[1])[-top:]
    fig = _figure(6, 0.28 * len(items) + 0.9, left=0.38, bottom=0.08, top=0.92)
    ax = fig.add_subplot()
    ax.barh(range(len(items)), [v for _, v in items])
    ax.set_yticks(range(len(items)), [k[:32] for k, _ in items], fontsize=8)
    ax.set_title("Feature importance")
    return [_save(fig, out / "feature_importance.png")]
