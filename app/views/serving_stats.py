"""Serving statistics without a web stack: the API's metrics and shadow agreement.

`MetricsSnapshot` is one scrape of the API's `/metrics` (the UI's client parses the text into
it). The functions derive what the Serving page shows: latency percentiles from the histogram
buckets (the way Prometheus' `histogram_quantile` does), rates between two scrapes, the split of
predictions by version and variant (smoke-test records apart, in `smoke`: they are not
traffic), and how often the shadow model agrees with the model that
answered, from the prediction log (the pairs and their agreement live in
`core.monitoring.variants`, shared with `workbench variants` and the Drift page), and the table
of a `VariantComparison`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from core.monitoring.variants import VariantComparison
from core.monitoring.variants import shadow_pairs as shadow_pairs  # one home: core (re-exported)
from core.monitoring.variants import with_agreement as with_agreement
from core.monitoring.window import SMOKE

QUANTILES = (0.5, 0.9, 0.95, 0.99)
Buckets = tuple[tuple[float, float], ...]
"""Histogram buckets as (upper bound, cumulative count), ascending, `inf` last."""


@dataclass(frozen=True)
class MetricsSnapshot:
    """One scrape of the prediction API's Prometheus metrics."""

    taken_at: float
    """Unix time of the scrape."""
    requests: dict[tuple[str, str], float] = field(default_factory=dict)
    """HTTP requests by (route, status)."""
    predictions: dict[tuple[str, str], float] = field(default_factory=dict)
    """Predicted records by (model version, variant), smoke-test records left out."""
    errors: dict[str, float] = field(default_factory=dict)
    """Errors by type (`server`: a 5xx answer, `shadow`: a failed shadow scoring)."""
    buckets: Buckets = ()
    """The predict latency histogram (seconds)."""
    latency_sum: float = 0.0
    latency_count: float = 0.0
    models: tuple[dict, ...] = ()
    """Loaded models: `{"name", "version", "alias"}`."""
    last_reload: float | None = None
    """Unix time of the last model swap."""
    smoke: dict[str, float] = field(default_factory=dict)
    """Records scored for smoke tests by model version (variant `smoke`: not traffic)."""

    def requests_total(self, route: str | None = None, status: str | None = None) -> float:
        """Requests of one route (all when None) whose status starts with `status` (e.g. "4")."""
        return sum(
            n
            for (r, s), n in self.requests.items()
            if (route is None or r == route) and (status is None or s.startswith(status))
        )


def histogram_quantile(q: float, buckets: Buckets) -> float | None:
    """The q-quantile of a cumulative histogram, interpolated linearly inside its bucket.

    As in Prometheus: the first bucket starts at 0, and a quantile in the `+Inf` bucket is the
    largest finite bound. None when the histogram is empty.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank and cumulative > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (cumulative - below)
        lower, below = (bound if not math.isinf(bound) else lower), cumulative
    return lower


def percentiles(buckets: Buckets, qs: tuple[float, ...] = QUANTILES) -> dict[str, float | None]:
    """Latency percentiles by name (`p50`, `p95`, ...), in the histogram's unit."""
    return {f"p{round(q * 100):d}": histogram_quantile(q, buckets) for q in qs}


def reset_between(prev: MetricsSnapshot, cur: MetricsSnapshot) -> bool:
    """Whether the counters went back (the API restarted) between two scrapes."""
    return cur.requests_total() < prev.requests_total() or cur.latency_count < prev.latency_count


def window_buckets(prev: MetricsSnapshot, cur: MetricsSnapshot) -> Buckets:
    """The histogram of the observations made between two scrapes (empty after a restart)."""
    if reset_between(prev, cur) or [b for b, _ in prev.buckets] != [b for b, _ in cur.buckets]:
        return ()
    return tuple((b, c - p) for (b, c), (_, p) in zip(cur.buckets, prev.buckets, strict=True))


def request_rate(
    prev: MetricsSnapshot, cur: MetricsSnapshot, route: str = "/predict"
) -> float | None:
    """Requests per second of `route` between two scrapes; None without a usable window."""
    seconds = cur.taken_at - prev.taken_at
    if seconds <= 0 or reset_between(prev, cur):
        return None
    return (cur.requests_total(route) - prev.requests_total(route)) / seconds


def variant_split(snapshot: MetricsSnapshot) -> pd.DataFrame:
    """Predicted records by version and variant with their share of all predicted records."""
    rows = [
        {"version": v, "variant": variant, "records": n}
        for (v, variant), n in sorted(snapshot.predictions.items())
    ]
    frame = pd.DataFrame(rows, columns=["version", "variant", "records"])
    total = frame["records"].sum()
    return frame.assign(share=frame["records"] / total if total else 0.0)


# --- challenger vs champion ---------------------------------------------------------------------

VARIANT_COLUMNS = ["variant", "version", "rows", "p50 ms", "p95 ms", "agreement", "labelled"]


def variants_frame(comparison: VariantComparison) -> pd.DataFrame:
    """One row per variant and version: rows, p50/p95 latency, agreement, the realized metric.

    The metric's column is named after it (`roc_auc`); it is empty until labels arrive, and
    `labelled` says on how many rows it stands.
    """
    rows = [
        {
            "variant": v.variant,
            "version": f"v{v.version}",
            "rows": v.rows,
            "p50 ms": v.latency_p50_ms,
            "p95 ms": v.latency_p95_ms,
            "agreement": v.agreement,
            "labelled": v.labelled,
            comparison.metric: v.realized,
        }
        for v in comparison.variants
    ]
    return pd.DataFrame(rows, columns=[*VARIANT_COLUMNS, comparison.metric])


# --- shadow vs served agreement --------------------------------------------------------------


def agreement_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Agreement per (served version, shadow version): pairs, rate, mean |probability diff|.

    Args:
        pairs: `with_agreement` output.
    """
    return (
        pairs.groupby(["served_version", "shadow_version"], sort=True)
        .agg(
            pairs=("agree", "size"),
            agreement=("agree", "mean"),
            mean_probability_diff=("probability_diff", "mean"),
            first=("time", "min"),
            last=("time", "max"),
        )
        .reset_index()
    )


_FREQUENCIES = ("1s", "10s", "1min", "5min", "15min", "1h", "6h", "1D", "7D", "30D")


def agreement_over_time(pairs: pd.DataFrame, max_points: int = 60) -> pd.DataFrame:
    """Agreement and mean |probability diff| per time bucket (at most about `max_points`).

    Args:
        pairs: `with_agreement` output.
        max_points: The bucket width is the smallest of 1 s ... 30 days giving at most this
            many buckets over the span of the pairs.

    Returns:
        `time` (bucket start), `pairs`, `agreement`, `mean_probability_diff`; empty buckets
        are dropped.
    """
    if pairs.empty:
        return pd.DataFrame(columns=["time", "pairs", "agreement", "mean_probability_diff"])
    span = pairs["time"].max() - pairs["time"].min()
    freq = next((f for f in _FREQUENCIES if span / pd.Timedelta(f) <= max_points), _FREQUENCIES[-1])
    grouped = pairs.groupby(pd.Grouper(key="time", freq=freq)).agg(
        pairs=("agree", "size"),
        agreement=("agree", "mean"),
        mean_probability_diff=("probability_diff", "mean"),
    )
    return grouped[grouped["pairs"] > 0].reset_index()


def scrape_history(scrapes: list[MetricsSnapshot]) -> pd.DataFrame:
    """Per scrape after the first: predict requests/s and the window's p95 latency (ms).

    Args:
        scrapes: Consecutive scrapes of one API, oldest first.
    """
    rows = []
    for prev, cur in zip(scrapes, scrapes[1:], strict=False):
        p95 = histogram_quantile(0.95, window_buckets(prev, cur))
        rows.append(
            {
                "time": pd.Timestamp(cur.taken_at, unit="s", tz="UTC"),
                "rate": request_rate(prev, cur),
                "p95_ms": None if p95 is None else 1000 * p95,
            }
        )
    return pd.DataFrame(rows, columns=["time", "rate", "p95_ms"])


def parse_metrics(text: str, taken_at: float) -> MetricsSnapshot:
    """The workbench metrics of a Prometheus text exposition (other families are ignored)."""
    requests, predictions, errors, models, smoke = {}, {}, {}, [], {}
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    last_reload = None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            name, labels, value = s.name, s.labels, s.value
            if name == "workbench_requests_total":
                requests[(labels["route"], labels["status"])] = value
            elif name == "workbench_predictions_total" and labels["variant"] == SMOKE:
                smoke[labels["version"]] = value
            elif name == "workbench_predictions_total":
                predictions[(labels["version"], labels["variant"])] = value
            elif name == "workbench_errors_total":
                errors[labels["type"]] = value
            elif name == "workbench_predict_latency_seconds_bucket":
                buckets.append((float(labels["le"]), value))
            elif name == "workbench_predict_latency_seconds_sum":
                total = value
            elif name == "workbench_predict_latency_seconds_count":
                count = value
            elif name == "workbench_model_info" and value:
                models.append({k: labels.get(k) for k in ("name", "version", "alias")})
            elif name == "workbench_last_reload_timestamp_seconds" and value:
                last_reload = value
    return MetricsSnapshot(
        taken_at,
        requests,
        predictions,
        errors,
        tuple(sorted(buckets)),
        total,
        count,
        tuple(models),
        last_reload,
        smoke,
    )
