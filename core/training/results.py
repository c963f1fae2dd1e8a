"""What a training produced: one `CandidateResult` per fitted candidate, one `TrainingResult`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CandidateResult:
    """One trained candidate: its tuned params, metrics per split and diagnosis.

    Also the refit of the winner (`refit=True`): the same tuned params fitted on train +
    validation, with metrics `train` (on those rows) and `test` (the holdout) but no `val` (the
    validation rows are in its training data).
    """

    name: str
    params: dict
    metrics: dict[str, dict[str, float]]  # split -> metric -> value
    diagnosis: dict
    cv_score: float
    trials: int
    fit_seconds: float
    predict_ms_per_row: float
    test_pred: object = field(default=None, repr=False)
    test_score: object = field(default=None, repr=False)
    run_id: str | None = None
    model_uri: str | None = None
    """`models:/m-...` of the logged model (MLflow 3 LoggedModel)."""
    model: object = field(default=None, repr=False)
    fit_rows: int = 0
    """Rows the model was fitted on (after the `max_rows` / `slow_max_rows` cap)."""
    refit: bool = False
    """True for the winner refit on train + validation (see `TrainingResult.refit`)."""


@dataclass
class TrainingResult:
    """What `train` did: the parent run, every candidate, the best one and its registration.

    `best` is the candidate chosen on the validation metric, as fitted on the training split
    (its metrics are comparable with the other candidates'). `refit` is that candidate refit on
    train + validation (`training.refit`, on by default), None when refit is off; `final` is
    the model that was registered (the refit, else `best`), and its `metrics["test"]` are the
    registered model's holdout metrics (the ones the gates see).
    """

    training_id: str
    parent_run_id: str | None
    data_version: str
    metric: str
    candidates: list[CandidateResult]
    best: CandidateResult
    duration_s: float
    registered: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    """Seconds per tracking step (set-up, each candidate's logging, registration)."""
    tracking_s: float = 0.0
    """Wall time the run spent waiting on MLflow (set-up, unfinished logging, registration)."""
    refit: CandidateResult | None = None
    """`best` refit on train + validation (None when `training.refit` is off)."""

    @property
    def final(self) -> CandidateResult:
        """The registered model: the refit of the winner, or the winner itself without refit."""
        return self.refit or self.best
