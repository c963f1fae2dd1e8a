"""The MLflow layout every part of the workbench relies on (names only, no I/O at import).

- Experiment: the project name. One parent run per `workbench train` (tag role=training), one
  child run per candidate (role=candidate) with params, metrics `{split}_{metric}` for split in
  train/val/test, diagnosis tags, artifacts and the model (artifact path `model`).
- Refit (`training.refit`, on by default): the candidate chosen on validation is refit on
  train + validation in one more child run (role=refit, `<candidate>-refit`, tags `workbench.refit`
  and `workbench.refit_of` = the candidate's run) with `train_`/`test_` metrics and `refit_rows`;
  its model is the one registered. The chosen candidate's run keeps its own metrics and gets the
  refit's holdout metrics as `refit_test_{metric}` plus the tags `workbench.refit` and
  `workbench.refit_run_id`.
- Registered model: the project name, aliases `champion` and `challenger`.
- Model version tags: data version, task, metric, gate results (`gates.status`, `gates.json`),
  and the audit tags written on promotion / rollback.
"""

from __future__ import annotations

import os

TAG_ROLE = "workbench.role"
ROLE_TRAINING = "training"
ROLE_CANDIDATE = "candidate"
TAG_CANDIDATE = "workbench.candidate"
TAG_TRAINING_ID = "workbench.training_id"
TAG_DATA_VERSION = "data_version"  # "<commit8>-<md5_8>"
TAG_DATA_COMMIT = "data_commit"
TAG_DATA_MD5 = "data_md5"
TAG_CODE_VERSION = "code_version"
TAG_CONFIG_HASH = "config_hash"
TAG_TASK = "task"
TAG_METRIC = "metric"
TAG_OVERFIT = "diagnosis.overfit"  # "true" | "false"
TAG_UNDERFIT = "diagnosis.underfit"
TAG_DIAGNOSIS = "diagnosis.summary"
TAG_BEST = "workbench.best"  # "true" on the winning candidate run
ROLE_REFIT = "refit"
TAG_REFIT = "workbench.refit"  # "train+val" on the refit run and on the winner it refits
TAG_REFIT_OF = "workbench.refit_of"  # on the refit run: the chosen candidate's run id
TAG_REFIT_RUN = "workbench.refit_run_id"  # on the chosen candidate's run: its refit run
REFIT_DATA = "train+val"
REFIT_PREFIX = "refit_"  # `refit_test_roc_auc` on the chosen candidate's run

TAG_GATES_STATUS = "gates.status"  # "pass" | "fail" on the model version
TAG_GATES_JSON = "gates.json"

ALIAS_CHAMPION = "champion"
ALIAS_CHALLENGER = "challenger"
MODEL_ARTIFACT = "model"
SPLITS = ("train", "val", "test")


def metric_key(split: str, metric: str) -> str:
    """The MLflow metric name of `metric` on `split`, e.g. `test_roc_auc`."""
    return f"{split}_{metric}"


def configure_mlflow(tracking_uri: str) -> None:
    """Point MLflow at the workspace store; called at the edges (CLI, jobs, pages), never import.

    The registry URI follows the tracking URI; the embedded SQLite store keeps its artifacts in
    the workspace's `mlartifacts/` (set when the experiment is created).
    """
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    # No usage telemetry from the workbench (like DVC analytics and Streamlit stats): it also
    # reaches for the network on every tracked call.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
