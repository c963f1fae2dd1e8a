"""Typed pipeline configuration: the workspace's `workbench.yaml`.

One pydantic model per section. `load_config` validates the file and raises
`ConfigError` naming the file and the dotted key that is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    model_validator,
)

from core.config.monitoring import AlertsConfig, MonitoringConfig
from core.config.schedules import SchedulesConfig
from core.config.serving import ServingConfig
from core.config.strict import Strict
from core.errors import ConfigError

Severity = Literal["fail", "warn"]
DType = Literal["numeric", "integer", "float", "string", "bool", "datetime", "category"]
BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}
"""What the `bool` cast reads (lower-cased text): the data pipeline, the model's cleaning, the
array path and the simulated clients share it."""


# --------------------------------------------------------------------------- rules
class _Rule(Strict):
    severity: Severity = "fail"
    """`fail` rejects the batch; `warn` only reports."""


class RequiredColumnsRule(_Rule):
    """Every listed column must be present."""

    rule: Literal["required_columns"]
    columns: list[str]


class DTypeRule(_Rule):
    """A column must hold values of the given kind (strings that parse count for numerics)."""

    rule: Literal["dtype"]
    column: str
    dtype: DType


class MissingRateRule(_Rule):
    """Share of nulls per column at most `max`; `columns: ["*"]` means every column."""

    rule: Literal["missing_rate"]
    columns: list[str] = ["*"]
    max: float = Field(0.10, ge=0, le=1)


class RangeRule(_Rule):
    """Non-null values must lie in [min, max]; `max_rate` tolerates a share outside."""

    rule: Literal["range"]
    column: str
    min: float | None = None
    max: float | None = None
    max_rate: float = Field(0.0, ge=0, le=1)


class AllowedValuesRule(_Rule):
    """Non-null values must be one of `values`."""

    rule: Literal["allowed_values"]
    column: str
    values: list[str | int | float | bool]
    max_rate: float = Field(0.0, ge=0, le=1)


class DuplicatesRule(_Rule):
    """Share of fully duplicated rows (or on `columns`) at most `max`."""

    rule: Literal["duplicates"]
    columns: list[str] | None = None
    max: float = Field(0.05, ge=0, le=1)


class RowCountRule(_Rule):
    """Number of rows within [min, max]."""

    rule: Literal["row_count"]
    min: int | None = Field(1, ge=0)
    max: int | None = None


class OutliersRule(_Rule):
    """Share of outliers (|z| > threshold, or beyond `threshold` IQRs) at most `max_rate`."""

    rule: Literal["outliers"]
    column: str
    method: Literal["zscore", "iqr"] = "iqr"
    threshold: float = Field(3.0, gt=0)
    max_rate: float = Field(0.01, ge=0, le=1)


class ClassBalanceRule(_Rule):
    """Every class of `column` holds at least `min_share` of the rows."""

    rule: Literal["class_balance"]
    column: str
    min_share: float = Field(0.05, ge=0, le=1)


class FreshnessRule(_Rule):
    """The newest value of a date column is at most `max_age_days` older than the reference.

    `reference: now` compares with the wall clock; `reference: previous` with the newest value
    already in the last good data version (catches a stale or re-sent batch).
    """

    rule: Literal["freshness"]
    column: str
    max_age_days: float = Field(1.0, ge=0)
    reference: Literal["now", "previous"] = "now"


Rule = Annotated[
    RequiredColumnsRule
    | DTypeRule
    | MissingRateRule
    | RangeRule
    | AllowedValuesRule
    | DuplicatesRule
    | RowCountRule
    | OutliersRule
    | ClassBalanceRule
    | FreshnessRule,
    Field(discriminator="rule"),
]


class ValidationConfig(Strict):
    """Rules per stage of the data pipeline."""

    raw: list[Rule] = []
    processed: list[Rule] = []
    features: list[Rule] = []
    failing_rows: int = Field(5, ge=0, le=100)
    """How many failing rows a report shows per rule."""


# --------------------------------------------------------------------------- sources
class LandingSource(Strict):
    """A folder where new data files arrive."""

    path: str = "landing"
    """Relative to the workspace unless absolute."""
    patterns: list[str] = ["*.csv", "*.parquet"]


class SQLSource(Strict):
    """A SQL query run on each pipeline run; only new rows become a batch."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    url: str
    """SQLAlchemy URL, e.g. `sqlite:///data.db` or `postgresql+psycopg://...`."""
    query: str
    watermark_column: str | None = None
    """Rows with a value above the last seen maximum are new; without it, a changed result is."""


class FeedbackSource(Strict):
    """Labelled predictions exported as batches into the landing folder (`feedback_export`).

    Turn it on when the source files do not carry the target: the logged raw inputs of each
    labelled prediction plus its actual become training rows. Leave it off when they do (the
    flights demo's files carry their labels): never both, or a row would count twice.
    """

    enabled: bool = False
    """Export labelled predictions (scheduled `feedback_export`, `workbench labels export`)."""
    label_delay: str = Field("1h", pattern=r"^\d+(\.\d+)?[smhdw]$")
    """A label is exported once it is at least this old (e.g. `30m`, `1h`, `2d`), so a
    corrected label sent soon after the first one is the one that becomes data."""
    min_rows: int = Field(1, ge=1)
    """Export only once this many labelled rows are ready (match the raw `row_count` rule:
    a smaller batch would be quarantined, and its rows are not exported again)."""

    @property
    def delay_seconds(self) -> float:
        """`label_delay` in seconds."""
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
        return float(self.label_delay[:-1]) * units[self.label_delay[-1]]


class SourcesConfig(Strict):
    """Where batches come from."""

    landing: LandingSource = LandingSource()
    sql: list[SQLSource] = []
    feedback: FeedbackSource = FeedbackSource()


# --------------------------------------------------------------------------- preprocessing
class ClipConfig(Strict):
    """Clip numeric outliers to fences computed per batch."""

    method: Literal["iqr", "zscore"] = "iqr"
    threshold: float = Field(3.0, gt=0)
    columns: list[str] | None = None
    """Default: every numeric feature column."""


class PreprocessConfig(Strict):
    """Cleaning in the data pipeline and the serving-time transformer."""

    drop_columns: list[str] = []
    """Columns dropped before anything else (leaky or irrelevant)."""
    dedupe: bool = True
    drop_missing_target: bool = True
    cast: dict[str, DType] = {}
    impute_numeric: Literal["median", "mean", "none"] = "median"
    impute_categorical: Literal["mode", "constant", "none"] = "mode"
    clip: ClipConfig | None = ClipConfig()
    scaling: Literal["standard", "robust", "minmax", "none"] = "standard"
    """Applied by the serving-time transformer inside the model pipeline."""
    encoding: Literal["onehot", "ordinal"] = "onehot"
    max_categories: int = Field(30, ge=2)


class DatePartsFeature(Strict):
    """Calendar parts of a datetime column."""

    column: str
    parts: list[Literal["year", "month", "day", "dayofweek", "hour", "dayofyear", "is_weekend"]]

    def output(self, part: str) -> str:
        """The engineered column of one part (`time_hour_month`)."""
        return f"{self.column}_{part}"


class InteractionFeature(Strict):
    """A product, ratio, sum or difference of two numeric columns."""

    columns: Annotated[list[str], Field(min_length=2, max_length=2)]
    op: Literal["multiply", "divide", "add", "subtract"] = "multiply"
    name: str | None = None

    @property
    def output(self) -> str:
        """The engineered column: `name`, else `<a>_<x|per|plus|minus>_<b>`."""
        a, b = self.columns
        return self.name or f"{a}_{_OP_SIGN[self.op]}_{b}"


_OP_SIGN = {"multiply": "x", "divide": "per", "add": "plus", "subtract": "minus"}


class BinningFeature(Strict):
    """A numeric column cut at fixed edges into an ordinal bin number."""

    column: str
    edges: Annotated[list[float], Field(min_length=1)]
    name: str | None = None

    @property
    def output(self) -> str:
        """The engineered column: `name`, else `<column>_bin`."""
        return self.name or f"{self.column}_bin"


class FeaturesConfig(Strict):
    """Feature engineering from processed data."""

    date_parts: list[DatePartsFeature] = []
    interactions: list[InteractionFeature] = []
    bins: list[BinningFeature] = []
    drop: list[str] = []
    """Columns dropped after engineering (e.g. the raw timestamp)."""


class VersioningConfig(Strict):
    """Where DVC pushes data versions."""

    remote: str = "dvc-remote"
    """A folder (relative to the workspace unless absolute) or any DVC remote URL."""
    push: bool = True


# --------------------------------------------------------------------------- training
ClassificationMetric = Literal["roc_auc", "f1", "accuracy", "precision", "recall", "log_loss"]
RegressionMetric = Literal["rmse", "mae", "r2", "mape"]


class BudgetConfig(Strict):
    """How much tuning each candidate gets: whichever limit is hit first."""

    trials: int = Field(4, ge=1)
    """Randomized-search parameter settings per candidate (1 = defaults only)."""
    seconds: float = Field(60.0, gt=0)
    """Wall-clock cap per candidate; no new trial starts after it."""


class TrainingConfig(Strict):
    """Candidates, tuning, evaluation and diagnosis."""

    metric: ClassificationMetric | RegressionMetric | None = None
    """Metric to optimise; default roc_auc (classification) or rmse (regression)."""
    holdout: float = Field(0.2, gt=0, lt=0.9)
    """Share of rows held out for the test set: the latest period when a time column is set."""
    validation: float = Field(0.2, gt=0, lt=0.9)
    """Share of the remaining rows for the validation metrics (again the latest period)."""
    cv_folds: int = Field(3, ge=2, le=10)
    """Time-aware (TimeSeriesSplit) or stratified folds for tuning."""
    budget: BudgetConfig = BudgetConfig()
    candidates: list[str] | None = None
    """Candidate names from the catalogue; default: all eight for the task."""
    search_spaces: dict[str, dict[str, list]] = {}
    """Per candidate, parameter name (of the estimator) → values; overrides the defaults."""
    max_rows: int = Field(50_000, ge=100)
    """Training rows are sampled down to this many (the newest kept when time-ordered)."""
    slow_max_rows: int = Field(5_000, ge=100)
    """Row cap for slow learners (k-NN, SVM)."""
    overfit_gap: float = Field(0.10, ge=0)
    """Relative train-vs-test gap of the metric above which a model is flagged as overfit."""
    underfit_floor: float | None = None
    """Test metric below this (above, for error metrics) flags underfitting; default per task."""
    refit: bool = True
    """After the winner is chosen on validation, refit it with its tuned parameters on train +
    validation (time order and the `max_rows` cap kept) and register that model, scored on the
    untouched test holdout. False: register the winner as fitted on the training split only."""
    auto_promote: bool = False
    """A challenger that passes every gate becomes champion without a click."""
    seed: int = 42


class BeatChampionGate(Strict):
    """The challenger must beat the champion on the holdout by a margin."""

    min_delta: float = 0.0
    relative: bool = False
    """When true, `min_delta` is a fraction of the champion's value."""


class GatesConfig(Strict):
    """Checks a challenger must pass before it may become champion."""

    min_metrics: dict[str, float] = {}
    """Metric name → minimum (for error metrics rmse/mae/mape/log_loss: maximum)."""
    beat_champion: BeatChampionGate | None = BeatChampionGate()
    no_overfitting: bool = True
    schema_compatible: bool = True
    max_latency_ms_per_row: float | None = Field(5.0, gt=0)


class DockerDeployConfig(Strict):
    """`deploy.docker`: the deploy step rolls out a new API container on each promotion."""

    enabled: bool = False
    """Off: the deploy step asks the running API to reload (`POST /admin/reload`). On: it
    starts a new API container from `image` (which loads the new champion), waits until it is
    healthy, switches the deployment's entry to it and stops the old one (kept for rollback)."""
    name: str = Field("workbench", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
    """The deployment (`workbench deploy --name`)."""
    port: int = Field(8000, ge=1, le=65535)
    """Where the deployment's entry is published on 127.0.0.1 (used when it is first created)."""
    image: str = "workbench-api:latest"
    """The API image to run (`workbench deploy build` tags the newest build `latest`)."""
    mount_workspace: bool = True
    """Mount the workspace into the container (the embedded MLflow store); off when the
    container reaches MLflow and the prediction log by URL (`env`)."""
    env: dict[str, str] = {}
    """Extra environment for the container (e.g. `WORKBENCH_TRACKING_URI`)."""
    timeout_seconds: float = Field(300, gt=0)
    """How long the new container may take to become healthy."""


class DeployConfig(Strict):
    """`deploy`: how a promotion reaches the serving API."""

    docker: DockerDeployConfig = DockerDeployConfig()


class CardConfig(Strict):
    """`card`: what each model version's card says and how it measures (`core.registry.card`)."""

    intended_use: str | None = None
    """What the model is for, for whom, and what it must not be used for (shown first)."""
    min_slice_rows: int = Field(50, ge=1)
    """A value of a categorical field is a slice only with at least this many holdout rows."""
    slice_fields: list[str] | None = None
    """Input fields to slice the holdout by; default: every categorical (text or bool) field."""
    worst_slices: int = Field(3, ge=1, le=50)
    """Worst slices listed per field."""
    confidence: float = Field(0.95, gt=0.5, lt=1)
    """Level of the holdout metrics' bootstrap confidence intervals."""
    resamples: int = Field(1000, ge=100, le=100_000)
    """Bootstrap resamples of the holdout (seeded with `training.seed`)."""


_METRICS = {
    "classification": ClassificationMetric.__args__,
    "regression": RegressionMetric.__args__,
}
LOWER_IS_BETTER = frozenset({"rmse", "mae", "mape", "log_loss"})


# --------------------------------------------------------------------------- root
class WorkbenchConfig(Strict):
    """The whole `workbench.yaml`."""

    project: str = "workbench"
    task: Literal["classification", "regression"]
    target: str
    time_column: str | None = None
    """Orders the data; the training split holds out the latest period."""
    sources: SourcesConfig = SourcesConfig()
    validation: ValidationConfig = ValidationConfig()
    preprocessing: PreprocessConfig = PreprocessConfig()
    features: FeaturesConfig = FeaturesConfig()
    versioning: VersioningConfig = VersioningConfig()
    training: TrainingConfig = TrainingConfig()
    gates: GatesConfig = GatesConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    schedules: SchedulesConfig = SchedulesConfig()
    alerts: AlertsConfig = AlertsConfig()
    serving: ServingConfig = ServingConfig()
    deploy: DeployConfig = DeployConfig()
    card: CardConfig = CardConfig()

    @model_validator(mode="after")
    def _consistent(self) -> WorkbenchConfig:
        if self.target in self.preprocessing.drop_columns:
            raise ValueError(f"target {self.target!r} is listed in preprocessing.drop_columns")
        allowed = _METRICS[self.task]
        if self.training.metric is not None and self.training.metric not in allowed:
            raise ValueError(
                f"training.metric {self.training.metric!r} does not fit a {self.task} task "
                f"(use one of {', '.join(allowed)})"
            )
        watched = self.monitoring.performance.metric
        if watched is not None and watched not in allowed:
            raise ValueError(
                f"monitoring.performance.metric {watched!r} does not fit a {self.task} task "
                f"(use one of {', '.join(allowed)})"
            )
        return self

    @property
    def metric(self) -> str:
        """The metric to optimise (configured or the task's default)."""
        return self.training.metric or ("roc_auc" if self.task == "classification" else "rmse")

    @property
    def model_name(self) -> str:
        """The registered model name in MLflow: the project name."""
        return self.project


def _dotted(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in {
            "required_columns",
            "dtype",
            "missing_rate",
            "range",
            "allowed_values",
            "duplicates",
            "row_count",
            "outliers",
            "class_balance",
            "freshness",
            "log",
            "webhook",
            "email",
        } and (parts and parts[-1].startswith("[")):
            continue  # the discriminator tag pydantic inserts for union members
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def parse_config(data: object, source: str = "<config>") -> WorkbenchConfig:
    """Validate a mapping as a `WorkbenchConfig`; errors name `source` and the dotted key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return WorkbenchConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _dotted(first["loc"]) or "<root>"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: key '{key}': {first['msg']}{more}") from None


def load_config(path: Path) -> WorkbenchConfig:
    """Read and validate a `workbench.yaml`."""
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found (run `workbench init`)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from None
    return parse_config(data, str(path))
