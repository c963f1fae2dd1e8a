"""Challenger vs champion, live: each variant's rows, latency, agreement and realized metric.

The prediction log keeps the variants apart (`variant`): `champion` answered, `challenger`
answered a canary request, `shadow` is the challenger scoring a champion request in the
background (same request id, never returned); `smoke` rows (a rollout's smoke test) are not
traffic and are left out here too. Drift and performance windows look at the
champion's rows only (`core.monitoring.window.champion_rows`); `compare_variants` puts every
variant of a window side by side, per model version:

* latency p50 / p95 from the logged `latency_ms`;
* agreement with the champion where both scored the same record (a shadow row and the champion
  row of its request): the same label (classification), or within `AGREEMENT_TOLERANCE` of the
  larger absolute prediction (regression); a canary request has no champion answer;
* the realized metric on the rows whose actual has arrived (None until then, with the count).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from core.monitoring.window import (
    CHAMPION,
    SMOKE,
    describe,
    latest_actuals,
    parse_window,
    variants,
)
from core.workspace import Workspace

CHALLENGER = "challenger"
SHADOW = "shadow"
SERVED = (CHAMPION, CHALLENGER)
ORDER = (CHAMPION, CHALLENGER, SHADOW)
AGREEMENT_TOLERANCE = 0.05
"""Regression predictions agree within this share of the larger absolute prediction."""
ACTUAL = "actual"


@dataclass
class VariantStats:
    """One variant's answers of one model version in a window."""

    variant: str
    version: str
    rows: int
    labelled: int
    """Rows whose actual has arrived."""
    realized: float | None
    """The watched metric on the labelled rows (None without labels)."""
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    agreement: float | None
    """Share of `agreement_pairs` where it agrees with the champion (None without pairs)."""
    agreement_pairs: int
    """Records both it and the champion scored (shadow rows; 0 for the champion and canary)."""


@dataclass
class VariantComparison:
    """Every variant of a window of the prediction log, per model version."""

    window: str
    label: str
    metric: str
    task: str
    start: str | None = None
    end: str | None = None
    variants: list[VariantStats] = field(default_factory=list)

    @property
    def challenger_traffic(self) -> bool:
        """Whether anything but the champion answered or scored in the window."""
        return any(v.variant != CHAMPION for v in self.variants)

    def to_json(self) -> dict:
        """Plain data with stable keys (the `workbench variants --json` output)."""
        return {
            "window": self.window,
            "label": self.label,
            "metric": self.metric,
            "task": self.task,
            "start": self.start,
            "end": self.end,
            "variants": [asdict(v) for v in self.variants],
        }


# --- pairs of the same record ------------------------------------------------------------------


def shadow_pairs(log: pd.DataFrame) -> pd.DataFrame:
    """Each shadow prediction next to the served prediction of the same record.

    Rows of one request are logged in record order (served and shadow alike), so the n-th
    shadow row of a request scored the same record as its n-th served row. Pairs where the
    shadow scored the very version that answered (a canary request) are left out: a model
    always agrees with itself. A row without a variant (an old log) is a champion row.

    Args:
        log: The prediction log (`core.predictions.readers.read_predictions`).

    Returns:
        One row per pair: `request_id`, `record`, `time` (UTC), `variant`, `served_version`,
        `shadow_version`, `served`, `shadow` (predictions), `served_probability`,
        `shadow_probability`.
    """
    columns = ["request_id", "record", "time", "variant", "served_version", "shadow_version"]
    columns += ["served", "shadow", "served_probability", "shadow_probability"]
    if log.empty:
        return pd.DataFrame(columns=columns)
    log = log.assign(variant=variants(log))
    if not (log["variant"] == SHADOW).any():
        return pd.DataFrame(columns=columns)
    log = log.assign(record=log.groupby(["request_id", "variant"]).cumcount())
    keep = ["request_id", "record", "model_version", "prediction", "probability"]
    served = log[log["variant"].isin(SERVED)][[*keep, "time", "variant"]]
    shadow = log[log["variant"] == SHADOW][keep]
    pairs = served.merge(shadow, on=["request_id", "record"], suffixes=("_s", "_w"))
    pairs = pairs.rename(
        columns={
            "model_version_s": "served_version",
            "model_version_w": "shadow_version",
            "prediction_s": "served",
            "prediction_w": "shadow",
            "probability_s": "served_probability",
            "probability_w": "shadow_probability",
        }
    )
    pairs = pairs[pairs["served_version"].astype(str) != pairs["shadow_version"].astype(str)]
    pairs["time"] = pd.to_datetime(pairs["time"], utc=True, format="ISO8601")
    return pairs[columns].sort_values("time", kind="stable").reset_index(drop=True)


def agree(pairs: pd.DataFrame, task: str, rel_tol: float = AGREEMENT_TOLERANCE) -> pd.Series:
    """1.0 where a pair's `served` and `shadow` predictions agree, else 0.0.

    Classification pairs agree on the same label; regression pairs when they differ by at most
    `rel_tol` of the larger absolute prediction.
    """
    if task == "regression":
        a = pd.to_numeric(pairs["served"], errors="coerce")
        b = pd.to_numeric(pairs["shadow"], errors="coerce")
        scale = pd.concat([a.abs(), b.abs()], axis=1).max(axis=1).clip(lower=1e-12)
        return ((a - b).abs() <= rel_tol * scale).astype(float)
    return (pairs["served"].astype(str) == pairs["shadow"].astype(str)).astype(float)


def with_agreement(
    pairs: pd.DataFrame, task: str = "classification", rel_tol: float = AGREEMENT_TOLERANCE
) -> pd.DataFrame:
    """Add `agree` (1.0 / 0.0, see `agree`) and `probability_diff` (absolute) to pairs."""
    served = pd.to_numeric(pairs["served_probability"], errors="coerce")
    shadow = pd.to_numeric(pairs["shadow_probability"], errors="coerce")
    return pairs.assign(agree=agree(pairs, task, rel_tol), probability_diff=(served - shadow).abs())


# --- the comparison ----------------------------------------------------------------------------


def compare_variants(
    ws: Workspace, window: str | None = None, now: datetime | None = None
) -> VariantComparison:
    """Champion, challenger (canary) and shadow of a window of the prediction log, per version.

    Args:
        ws: The workspace (its prediction log, task and watched metric).
        window: `24h`, `7d`, `5000` (the last served predictions and their shadows) or `all`;
            default `monitoring.window`.
        now: The end of a duration window (default: now).

    Raises:
        WindowError: The window is not valid.
    """
    from core.predictions.readers import prediction_log_source, read_feedback, read_predictions

    text = window or ws.config.monitoring.window
    kind, value = parse_window(text)
    end = now or datetime.now(UTC)
    since = (end - timedelta(seconds=value)).isoformat() if kind == "duration" else None
    source = prediction_log_source(ws)
    logged = read_predictions(source, since=since, until=end)  # only the window's days
    log = _in_window(logged, end, value if kind == "rows" else None)
    cfg = ws.config
    metric = cfg.monitoring.performance.metric or cfg.metric
    out = VariantComparison(text, f"{describe(text)} of the prediction log", metric, cfg.task)
    if log.empty:
        return out
    out.start, out.end = log["_t"].iloc[0].isoformat(), log["_t"].iloc[-1].isoformat()
    actuals = latest_actuals(read_feedback(source, written_since=since))
    log[ACTUAL] = log["request_id"].astype(str).map(actuals) if len(actuals) else None
    pairs = with_agreement(shadow_pairs(log), cfg.task)
    pairs = pairs[pairs["variant"] == CHAMPION]
    for (variant, version), rows in log.groupby(["variant", "model_version"], sort=False):
        mine = pairs[pairs["shadow_version"].astype(str) == str(version)]
        mine = mine if variant == SHADOW else mine.iloc[0:0]
        out.variants.append(_stats(rows, str(variant), str(version), mine, cfg.task, metric))
    out.variants.sort(key=lambda v: (_rank(v.variant), _version_key(v.version)))
    return out


def _in_window(log: pd.DataFrame, end: datetime, rows: int | None) -> pd.DataFrame:
    """Rows up to `end`, oldest first, variants named; the last `rows` served and their shadows."""
    if log.empty:
        return log.assign(_t=pd.Series(dtype="datetime64[ns, UTC]"))
    log = log.assign(
        variant=variants(log),
        model_version=log["model_version"].astype(str),
        _t=pd.to_datetime(log["time"], utc=True, format="ISO8601"),
    )
    log = log[(log["_t"] <= pd.Timestamp(end)) & (log["variant"] != SMOKE)]
    log = log.sort_values("_t", kind="stable")
    if rows is not None:
        served = log[log["variant"].isin(SERVED)].tail(rows)
        shadows = log[(log["variant"] == SHADOW) & log["request_id"].isin(served["request_id"])]
        log = log.loc[log.index.isin(served.index.union(shadows.index))]
    return log.reset_index(drop=True)


def _stats(rows, variant: str, version: str, pairs, task: str, metric: str) -> VariantStats:
    from core.monitoring.performance import window_metrics

    latency = pd.to_numeric(rows["latency_ms"], errors="coerce").dropna()
    labelled = int((rows[ACTUAL].notna() & rows["prediction"].notna()).sum())
    realized = window_metrics(rows, ACTUAL, task).get(metric) if labelled else None
    return VariantStats(
        variant=variant,
        version=version,
        rows=len(rows),
        labelled=labelled,
        realized=_finite(realized),
        latency_p50_ms=_finite(latency.quantile(0.5)) if len(latency) else None,
        latency_p95_ms=_finite(latency.quantile(0.95)) if len(latency) else None,
        agreement=float(pairs["agree"].mean()) if len(pairs) else None,
        agreement_pairs=len(pairs),
    )


def _finite(value) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _rank(variant: str) -> int:
    return ORDER.index(variant) if variant in ORDER else len(ORDER)


def _version_key(version: str) -> tuple:
    return (0, int(version), "") if version.isdigit() else (1, 0, version)
