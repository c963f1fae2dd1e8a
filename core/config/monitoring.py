"""Typed `monitoring:` and `alerts:` sections of `workbench.yaml`.

Imported by `core.config` (keep this module free of heavy imports). Method names and default
thresholds are Evidently's, so a configured method means the same thing in both.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from core.config.strict import Strict

Method = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]
Kind = Literal["numeric", "categorical"]
Condition = Literal[
    "dataset_drift", "prediction_drift", "target_drift", "performance", "attribution_drift"
]

NUMERIC_METHODS = ("ks", "wasserstein", "jensenshannon", "psi")
CATEGORICAL_METHODS = ("chisquare", "z", "jensenshannon", "psi")
METHODS_BY_KIND = {"numeric": NUMERIC_METHODS, "categorical": CATEGORICAL_METHODS}
WINDOW_PATTERN = re.compile(r"^(all|\d+|\d+(\.\d+)?[mhdw])$")


def check_window(value: str) -> str:
    """Validate a window: `24h`, `7d`, `90m`, `2w`, a row count (`5000`) or `all`."""
    text = str(value).strip().lower()
    if not WINDOW_PATTERN.match(text) or text in {"0"}:
        raise ValueError(
            f"window {value!r} is not valid: use a duration like 24h, 7d, 90m, 2w, "
            "a row count like 5000, or all"
        )
    return text


class MethodOverride(Strict):
    """A drift method and/or threshold replacing Evidently's default choice."""

    method: Method | None = None
    """ks, chisquare, z, wasserstein, jensenshannon or psi; None keeps the default choice."""
    threshold: float | None = Field(None, gt=0)
    """p-value (ks, chisquare, z) or distance (the others); None: the method's default."""


class DriftConfig(Strict):
    """Which method judges each column and when the whole dataset counts as drifted."""

    share: float = Field(0.5, gt=0, le=1)
    """Dataset drift when at least this share of the feature columns drifted."""
    numeric: MethodOverride = MethodOverride()
    """Override for every numeric column."""
    categorical: MethodOverride = MethodOverride()
    """Override for every categorical column."""
    columns: dict[str, MethodOverride] = {}
    """Per-column overrides (take precedence over the per-type ones)."""
    exclude: list[str] = []
    """Feature columns never checked (e.g. a month number that drifts by design)."""
    engineered: bool = False
    """Also watch the model's engineered columns (interactions, bins), computed from the logged
    records as the reference computes them. The raw inputs (timestamps through their date
    parts) and the prediction are always watched. Applies to profiles built from now on."""
    types: dict[str, Kind] = {}
    """Force a column's kind; by default float → numeric, integer with at most 10 distinct
    values → categorical (as Evidently infers), text / bool / category → categorical."""

    @model_validator(mode="after")
    def _methods_fit_kinds(self) -> DriftConfig:
        for kind in ("numeric", "categorical"):
            method = getattr(self, kind).method
            if method is not None and method not in METHODS_BY_KIND[kind]:
                raise ValueError(
                    f"{kind}.method {method!r} does not apply to {kind} columns "
                    f"(use one of {', '.join(METHODS_BY_KIND[kind])})"
                )
        return self


class PerformanceConfig(Strict):
    """Performance monitoring once labels arrive (POST /feedback or a labels file)."""

    metric: str | None = None
    """Metric to watch; default: the training metric (roc_auc / rmse)."""
    max_drop: float = Field(0.05, ge=0, le=1)
    """Performance drift when the metric is worse than the baseline by more than this share."""
    min_labels: int = Field(30, ge=1)
    """Fewer labelled predictions in a window than this: no verdict."""
    bucket: Literal["hour", "day", "week"] = "day"
    """Time bucket of the performance-over-time series."""
    label_delay: str = Field("0h", pattern=r"^\d+(\.\d+)?[smhdw]$")
    """How long labels take to arrive (e.g. `6h`, `2d`): a check's performance window ends this
    long before its end, so it judges predictions whose labels can have arrived."""
    auto_rollback: AutoRollbackConfig = Field(default_factory=lambda: AutoRollbackConfig())
    """Undo an automatic promotion whose realized metric is clearly worse."""

    @property
    def delay_seconds(self) -> float:
        """`label_delay` in seconds."""
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
        return float(self.label_delay[:-1]) * units[self.label_delay[-1]]


class AutoRollbackConfig(Strict):
    """`monitoring.performance.auto_rollback`: a bad automatic promotion rolls itself back.

    After an `auto_promote`, the new champion's realized metric over its first `min_labels`
    labelled predictions is compared with the previous champion's over its last `min_labels`
    before the promotion; worse by more than `margin` (relative) rolls back, with an alert.
    """

    enabled: bool = False
    """Check automatic promotions at every monitoring check."""
    margin: float = Field(0.05, ge=0, le=1)
    """Roll back when the new champion is worse by more than this share of the old one's."""
    min_labels: int = Field(50, ge=1)
    """Labelled predictions each version needs (its window) before a verdict."""


class ReferenceConfig(Strict):
    """How the reference profile is built when a model version is registered."""

    sample_rows: int = Field(10_000, ge=1001)
    """Rows kept for exact tests and the Evidently report (above 1,000 so the sample picks
    the same methods as the full reference)."""
    quantiles: int = Field(1000, ge=10, le=100_000)
    """Quantile points kept per numeric column with many distinct values."""
    exact_values: int = Field(5000, ge=0)
    """Numeric columns with at most this many distinct values are stored exactly."""


class AttributionConfig(Strict):
    """Attribution drift: does the model still rely on the same fields?

    The nDCG of each window's importance ranking against the reference's, as SageMaker Clarify
    judges it (`core.monitoring.attribution`).
    """

    enabled: bool = True
    """Rank the raw input fields by global importance on each checked window."""
    threshold: float = Field(0.9, gt=0, le=1)
    """Attribution drift when the nDCG of the window's ranking against the reference's
    importance is below this (Clarify's default 0.90)."""
    rows: int = Field(1000, ge=50, le=100_000)
    """Rows sampled from the window (and from the reference holdout) to rank the fields."""
    treeshap_rows: int = Field(300, ge=50, le=100_000)
    """At most this many of them for TreeSHAP (LightGBM), whose cost per row grows with the
    trees x leaves (~2-5 ms a row for a 200-tree model)."""
    min_rows: int = Field(100, ge=10)
    """A window with fewer rows gets no attribution verdict (too noisy to rank)."""


class RetrainConfig(Strict):
    """When monitoring asks for a training run (the scheduler runs it), on sustained evidence.

    `performance` (realized metric worse than the baseline by more than
    `performance.max_drop`, on labelled predictions) asks once it held in `performance_checks`
    checks in a row. Drift asks only when the columns the model relies on drifted
    (`min_weighted_share` of its importance) in `consecutive_checks` checks in a row: daily
    noise on columns it hardly uses never does. `on_new_data` / `max_versions_behind` say
    whether new data alone makes the scheduled training run.
    """

    triggers: list[Condition] = []
    """Conditions that can request a training run; empty: never."""
    consecutive_checks: int = Field(3, ge=1)
    """Drift conditions must hold in this many consecutive checks of the same champion (the
    count restarts after a request)."""
    min_weighted_share: float = Field(0.3, ge=0, le=1)
    """`dataset_drift` counts only when the drifted columns carry at least this share of the
    model's feature importance (0, or no importance known: the dataset drift verdict)."""
    performance_checks: int = Field(1, ge=1)
    """A realized performance drop asks for a training run when it held in this many
    consecutive checks of the same champion (1: at once)."""
    on_new_data: bool = True
    """The scheduled training (04:00, and after a data run that made a new version) trains
    whenever a data version is newer than the champion's. False: only on a retrain request
    (the evidence above, or someone asking), or once the champion is `max_versions_behind`
    data versions behind the latest."""
    max_versions_behind: int | None = Field(None, ge=1)
    """With `on_new_data: false`, the scheduled training still refreshes the champion once this
    many data versions came after the last training's (promoted or not; e.g. 7 with daily data:
    a weekly refresh, and a week before the next try when its candidate failed the gates);
    None: never."""


class MonitoringConfig(Strict):
    """The `monitoring:` section."""

    window: str = "24h"
    """Default window of the prediction log a check looks at."""
    drift: DriftConfig = DriftConfig()
    performance: PerformanceConfig = PerformanceConfig()
    reference: ReferenceConfig = ReferenceConfig()
    alert_on: list[Condition] = ["dataset_drift", "performance"]
    """Conditions that raise an alert (sent to the sinks of the `alerts:` section)."""
    alert_after_checks: int = Field(1, ge=1)
    """A condition raises its alert (opens its incident) once it held in this many checks of
    the prediction log in a row (like a Prometheus rule's `for:`); a clean check resolves it."""
    retrain: RetrainConfig = RetrainConfig()
    attribution: AttributionConfig = AttributionConfig()
    """Attribution drift (the importance ranking against the reference's)."""
    report: bool = False
    """Scheduled checks also write the full Evidently HTML report under reports/drift/."""
    min_rows: int = Field(30, ge=1)
    """A window with fewer rows is not checked."""

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        return check_window(value)


# --------------------------------------------------------------------------- alert sinks
class LogSink(Strict):
    """One human-readable line per alert in a log file."""

    type: Literal["log"]
    path: str = ".workbench/alerts.log"
    """Relative to the workspace unless absolute."""


class WebhookSink(Strict):
    """POST a Slack-compatible JSON body (`{"text": ...}`) to a URL."""

    type: Literal["webhook"]
    url: str | None = Field(None, pattern=r"^https?://")
    """The URL, when it holds no token; else `url_secret`."""
    url_secret: str | None = None
    """Name of the secret holding the URL (a Slack hook's URL is its token): read from
    `WORKBENCH_SECRET_<NAME>`, else `.workbench/secrets.json` (git-ignored), at each send."""
    timeout_seconds: float = Field(5.0, gt=0)
    headers: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSink:
        if (self.url is None) == (self.url_secret is None):
            raise ValueError("a webhook sink needs exactly one of url and url_secret")
        return self


class EmailSink(Strict):
    """Send a plain-text email through an SMTP server."""

    type: Literal["email"]
    host: str
    port: int = Field(25, gt=0, lt=65536)
    sender: str
    to: Annotated[list[str], Field(min_length=1)]
    username: str | None = None
    password_env: str | None = None
    """Name of the environment variable holding the SMTP password (never the password)."""
    password_secret: str | None = None
    """Name of the secret holding the SMTP password: `WORKBENCH_SECRET_<NAME>`, else
    `.workbench/secrets.json` (git-ignored), read at each send. At most one of the two."""
    starttls: bool = False
    ssl: bool = False
    timeout_seconds: float = Field(10.0, gt=0)
    subject_prefix: str = "[workbench]"

    @model_validator(mode="after")
    def _one_password_source(self) -> EmailSink:
        if self.password_env and self.password_secret:
            raise ValueError("an email sink takes password_env or password_secret, not both")
        return self


Sink = Annotated[LogSink | WebhookSink | EmailSink, Field(discriminator="type")]


class AlertsConfig(Strict):
    """The `alerts:` section: where alerts go and how often."""

    sinks: list[Sink] = []
    remind_after_minutes: float = Field(
        1440.0, ge=0, validation_alias=AliasChoices("remind_after_minutes", "cooldown_minutes")
    )
    """An open incident is notified again (a reminder) when its condition still holds this long
    after its last delivered notification (0: at every raise). `cooldown_minutes` is the old
    name, still accepted."""
    retry_minutes: float = Field(1.0, gt=0)
    """A notification some sink failed to take is retried (to those sinks) at the next alert
    activity at least this long after the failure, doubled after each failed retry (capped at
    `remind_after_minutes`, at least `retry_minutes`)."""
    min_severity: Literal["info", "warning", "error"] = "warning"
    """Alerts below this severity are only recorded."""
