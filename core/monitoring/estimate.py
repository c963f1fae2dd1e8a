"""Performance before labels: confidence-based estimates (CBPE) and prediction shift.

A classifier's probabilities, calibrated on its holdout (the test split of its data version,
rows it never saw), say how often each prediction is expected to be right. Averaged over a
window they give the expected confusion matrix, and from it accuracy, precision, recall, F1,
log loss and the expected ROC AUC (NannyML's CBPE). The estimate holds under covariate shift
only: the inputs may drift, the relation of outcome to inputs (so the calibration) must not.

The calibration (isotonic from 1,000 holdout rows, Platt below) is fitted once per model
version and cached in `.workbench/monitoring/calibration/<model>/v<version>.json`. A
regressor gets no estimate: its prediction distribution against the holdout's is flagged
(`prediction_shift`: Kolmogorov-Smirnov and PSI).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from core.monitoring.reference import PREDICTION, PROBABILITY, ReferenceProfile, canonical

log = logging.getLogger(__name__)

ASSUMPTION = (
    "estimated from the model's own probabilities (CBPE): assumes covariate shift only "
    "(the inputs may drift, the relation of outcome to inputs may not) and probabilities "
    "calibrated on the holdout"
)
ISOTONIC_MIN_ROWS = 1000
MIN_ROWS = 30
SHIFT_P_VALUE = 0.05
SHIFT_PSI = 0.2
EPS = 1e-15


@dataclass
class Calibration:
    """A monotone map from a logged score to the probability the outcome is positive."""

    method: str
    """`isotonic` (points for `np.interp`) or `platt` (`sigmoid(a * logit(p) + b)`)."""
    kind: str
    """`binary`: the positive class's probability; `confidence`: the predicted class's."""
    rows: int
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    a: float = 1.0
    b: float = 0.0
    positive: str | None = None
    """The positive class's canonical key (binary)."""
    binary_average: bool = True
    """Labels are 0/1: precision, recall and F1 of class 1 (else macro, as the realized ones)."""
    source: str = "holdout"

    def apply(self, scores: np.ndarray) -> np.ndarray:
        s = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
        if self.method == "isotonic":
            return np.interp(s, self.x, self.y)
        z = np.log(np.clip(s, 1e-6, 1 - 1e-6) / np.clip(1 - s, 1e-6, 1))
        return 1.0 / (1.0 + np.exp(-(self.a * z + self.b)))

    def describe(self) -> str:
        return f"{self.method} on {self.rows:,} {self.source} rows"


def fit_calibration(
    actual: pd.Series, predicted: pd.Series, score: pd.Series, *, source: str = "holdout"
) -> Calibration | None:
    """Fit the calibration of logged scores against outcomes; None when it cannot be.

    Two classes: `score` is the positive class's probability, the positive class the larger
    label (scikit-learn's `classes_[1]`). More: `score` is the predicted class's probability,
    calibrated against whether the prediction was right.
    """
    from core.monitoring.performance import align_labels

    keep = actual.notna() & score.notna() & predicted.notna()
    if keep.sum() < MIN_ROWS:
        return None
    y, pred = align_labels(actual[keep], predicted[keep])
    s = score[keep].to_numpy(dtype=float)
    labels = np.unique(np.concatenate([y, pred]))
    if len(labels) < 2:
        return None
    binary = len(labels) == 2
    hit = (y == labels[1]) if binary else (y == pred)
    cal = Calibration("isotonic", "binary" if binary else "confidence", int(len(s)), source=source)
    if binary:
        cal.positive = canonical(labels[1])
        cal.binary_average = {canonical(v) for v in labels} == {"0", "1"}
    if len(s) >= ISOTONIC_MIN_ROWS:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(s, hit.astype(float))
        cal.x, cal.y = iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()
    else:
        from sklearn.linear_model import LogisticRegression

        z = np.log(np.clip(s, 1e-6, 1 - 1e-6) / np.clip(1 - s, 1e-6, 1)).reshape(-1, 1)
        lr = LogisticRegression(C=1e4).fit(z, hit.astype(int))
        cal.method, cal.a, cal.b = "platt", float(lr.coef_[0, 0]), float(lr.intercept_[0])
    return cal


def expected_metrics(
    calibrated: np.ndarray, score: np.ndarray, positive: np.ndarray, *, binary_average: bool = True
) -> dict[str, float]:
    """Expected accuracy, precision, recall, F1, log loss and ROC AUC of binary predictions.

    Args:
        calibrated: Each row's calibrated probability that its outcome is positive.
        score: The model's positive-class probability (ranks rows for the ROC curve).
        positive: Whether each row was predicted positive.
        binary_average: Precision, recall and F1 of the positive class (else their macro mean
            over both classes).
    """
    from sklearn.metrics import roc_auc_score

    pc, s, pos = (np.asarray(a, dtype=float) for a in (calibrated, score, positive))
    pos = pos.astype(bool)
    tp, fp = pc[pos].sum(), (1 - pc[pos]).sum()
    fn, tn = pc[~pos].sum(), (1 - pc[~pos]).sum()
    n = len(pc)

    def prf(tp_, fp_, fn_):
        p = tp_ / (tp_ + fp_) if tp_ + fp_ else 0.0
        r = tp_ / (tp_ + fn_) if tp_ + fn_ else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)

    scores = [prf(tp, fp, fn)] if binary_average else [prf(tp, fp, fn), prf(tn, fn, fp)]
    precision, recall, f1 = (float(np.mean(v)) for v in zip(*scores, strict=True))
    clipped = np.clip(s, EPS, 1 - EPS)
    out = {
        "accuracy": float((tp + tn) / n),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "log_loss": float(-np.mean(pc * np.log(clipped) + (1 - pc) * np.log(1 - clipped))),
        "roc_auc": float("nan"),
    }
    if 0 < pc.sum() < n:  # expected ROC: each row positive with weight pc, negative with 1 - pc
        out["roc_auc"] = float(
            roc_auc_score(
                np.r_[np.ones(n), np.zeros(n)], np.r_[s, s], sample_weight=np.r_[pc, 1 - pc]
            )
        )
    return out


def prediction_shift(reference: np.ndarray, current: np.ndarray) -> dict | None:
    """KS and PSI (10 reference-quantile bins) of current predictions against the holdout's."""
    from core.monitoring.stats import ks_pvalue, psi

    ref = reference[np.isfinite(reference)]
    cur = current[np.isfinite(current)]
    if len(ref) < MIN_ROWS or len(cur) < MIN_ROWS:
        return None
    from scipy.stats import ks_2samp

    edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)))
    edges[0], edges[-1] = -np.inf, np.inf
    r = np.histogram(ref, edges)[0] / len(ref)
    c = np.histogram(cur, edges)[0] / len(cur)
    p_value, value = ks_pvalue(ref, cur), psi(r, c)
    return {
        "ks": float(ks_2samp(ref, cur).statistic),
        "p_value": p_value,
        "psi": value,
        "reference_mean": float(ref.mean()),
        "current_mean": float(cur.mean()),
        "shifted": bool(p_value < SHIFT_P_VALUE and value >= SHIFT_PSI),
    }


@dataclass
class Estimate:
    """The label-free estimate of one window."""

    method: str
    """`cbpe` (classifiers) or `prediction_shift` (regressors, and classifiers without one)."""
    metric: str
    rows: int
    metrics: dict[str, float] = field(default_factory=dict)
    calibration: str | None = None
    assumption: str | None = None
    prediction_shift: dict | None = None
    note: str | None = None

    @property
    def value(self) -> float | None:
        return self.metrics.get(self.metric)

    def to_json(self) -> dict:
        out = asdict(self)
        out["metrics"] = {k: _finite(v) for k, v in self.metrics.items()}
        out["value"] = _finite(self.value)
        return out


def _finite(value):
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def _calibrated(frame: pd.DataFrame, calibration: Calibration):
    """(calibrated probability, score, predicted positive) of the rows with a probability."""
    rows = frame[frame[PROBABILITY].notna()] if PROBABILITY in frame else frame.iloc[0:0]
    s = rows[PROBABILITY].to_numpy(dtype=float) if len(rows) else np.empty(0)
    if PREDICTION in rows and rows[PREDICTION].notna().all():
        positive = _is_label(rows[PREDICTION], calibration.positive)
    else:
        positive = s > 0.5
    return calibration.apply(s), s, positive


def _is_label(predicted: pd.Series, key: str | None) -> np.ndarray:
    """Whether each prediction is the label with canonical key `key` (numbers compared as such)."""
    numeric = pd.to_numeric(predicted, errors="coerce")
    try:
        number = float(key)
    except (TypeError, ValueError):
        number = None
    if number is not None and numeric.notna().all() and predicted.dtype != object:
        return numeric.to_numpy(dtype=float) == number
    return predicted.map(canonical).to_numpy() == key


def estimate_groups(groups: list[tuple[Calibration, pd.DataFrame]]) -> dict[str, float]:
    """The expected metrics of logged predictions, each group calibrated by its own version.

    Each frame holds `probability` (and `prediction`); rows without a probability are left out.
    """
    parts = [(cal, *_calibrated(frame, cal)) for cal, frame in groups if cal is not None]
    parts = [p for p in parts if len(p[1])]
    if not parts:
        return {}
    pc = np.concatenate([p[1] for p in parts])
    if any(cal.kind == "confidence" for cal, *_ in parts):
        return {"accuracy": float(pc.mean())}
    s, positive = np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts])
    return expected_metrics(pc, s, positive, binary_average=parts[0][0].binary_average)


def estimate_rows(frame: pd.DataFrame, calibration: Calibration | None) -> dict[str, float]:
    """The expected metrics of a frame of logged predictions (`prediction`, `probability`)."""
    return estimate_groups([(calibration, frame)])


def estimate(
    frame: pd.DataFrame,
    profile: ReferenceProfile,
    calibration: Calibration | None,
    task: str,
    metric: str,
) -> Estimate:
    """The estimate of a window's performance (classifiers) or its prediction shift."""
    sample = profile.sample_frame()
    column = PREDICTION if task == "regression" else PROBABILITY
    est = Estimate("prediction_shift" if task == "regression" else "cbpe", metric, len(frame))
    if column in frame and column in sample:
        est.prediction_shift = prediction_shift(
            pd.to_numeric(sample[column], errors="coerce").to_numpy(dtype=float),
            pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float),
        )
    if task == "regression":
        est.note = "regression: no label-free estimate; the prediction shift is flagged"
        return est
    if calibration is None:
        est.method = "prediction_shift"
        est.note = "no calibration: the holdout has no probabilities and outcomes"
        return est
    est.metrics = estimate_rows(frame, calibration)
    est.calibration, est.assumption = calibration.describe(), ASSUMPTION
    if metric not in est.metrics:
        est.note = f"{metric} cannot be estimated from the logged probabilities"
    return est


# --------------------------------------------------------------------------- per model version
def _cache_path(ws, name: str, version: str):
    from core.monitoring.history import monitoring_dir

    return monitoring_dir(ws) / "calibration" / name / f"v{version}.json"


def _holdout_scores(ws, profile: ReferenceProfile) -> pd.DataFrame:
    """The model version's predictions on the test split of its data version, with outcomes."""
    from core.monitoring.profiles import predict_frame
    from core.registry import store
    from core.training.data import load_split

    source = profile.source
    store.registry_client(ws)
    model = store.load_model(source["model"], source["model_version"])
    split = load_split(ws, source.get("data_version"))
    frame, _ = predict_frame(model, split.X_test, ws.config.task)
    return frame.assign(actual=split.y_test.to_numpy())


def calibration_for(ws, profile: ReferenceProfile) -> Calibration | None:
    """The calibration of the profile's model version (fitted once, then cached).

    Fitted on the holdout (test split) of the version's data version; a file's profile, or a
    version whose holdout cannot be scored, falls back to the reference sample's outcomes.
    """
    from core.files import atomic_write_json

    if ws.config.task != "classification":
        return None
    name, version = profile.source.get("model"), profile.source.get("model_version")
    path = _cache_path(ws, name, version) if name and version else None
    if path is not None and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return Calibration(**data) if data else None
    cal = None
    if path is not None:
        try:
            rows = _holdout_scores(ws, profile)
            if PROBABILITY in rows:
                cal = fit_calibration(rows["actual"], rows[PREDICTION], rows[PROBABILITY])
        except Exception as exc:  # noqa: BLE001 - the reference sample is the fallback
            log.warning("holdout of %s v%s not scored for calibration: %s", name, version, exc)
    if cal is None:
        sample, target = profile.sample_frame(), profile.target_name
        if target in sample and PROBABILITY in sample and PREDICTION in sample:
            cal = fit_calibration(
                sample[target], sample[PREDICTION], sample[PROBABILITY], source="reference"
            )
    if path is not None:
        atomic_write_json(path, asdict(cal) if cal else {})
    return cal
