"""The BentoML peer of `bench_serving.py`: a BentoML 1.4 service over the same registered pipeline.

`bench_serving.py` runs it in BentoML's own virtualenv (its pins conflict with ours), from this
folder, with the repository root on `PYTHONPATH` (the pickled pipeline's steps live in `core`):

    BENCH_MODEL_DIR=<the champion's MLflow model folder> bentoml serve bentoml_service:Pipeline

It loads the pipeline the way `mlflow.sklearn` stores it (`model.pkl`, cloudpickle), takes the
same raw records as `/predict` (`{"records": [...]}`: the model's input fields, JSON values,
timestamps as ISO-8601 strings) and answers the label and the positive class's probability per
record. Adaptive batching is on: concurrent requests are merged into one pipeline call (up to
`MAX_BATCH` records, the wait chosen by BentoML's dispatcher), so single records are scored
together as our micro-batcher does. Access lines are off, as on our API.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import bentoml
import cloudpickle
import numpy as np
import pandas as pd

MAX_BATCH = 4096
"""Records per merged call (at least one 1,000-record request)."""
MAX_LATENCY_MS = 10_000
"""BentoML's latency bound: its dispatcher batches adaptively below it and answers 503 ("process
is overloaded") when it expects to exceed it. At 50 ms it refused most single records at c=32 on
this machine; our API refuses nothing under load, so neither may BentoML."""


def _inputs(model_dir: Path) -> list[str]:
    """The model's input field names, in signature order (the MLmodel file)."""
    import yaml

    meta = yaml.safe_load((model_dir / "MLmodel").read_text())
    return [field["name"] for field in json.loads(meta["signature"]["inputs"])]


@bentoml.service(workers=1, traffic={"timeout": 60}, logging={"access": {"enabled": False}})
class Pipeline:
    """The registered scikit-learn pipeline, raw record in, label and probability out."""

    def __init__(self) -> None:
        model_dir = Path(os.environ["BENCH_MODEL_DIR"])
        with (model_dir / "model.pkl").open("rb") as f:
            self.model = cloudpickle.load(f)
        self.columns = _inputs(model_dir)
        self.classes = getattr(self.model, "classes_", None)

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Label and probability of class 1 (binary) or of the top class, per record."""
        frame = pd.DataFrame.from_records(records, columns=self.columns)
        if self.classes is None:
            return [{"prediction": p} for p in np.asarray(self.model.predict(frame)).tolist()]
        proba = self.model.predict_proba(frame)
        labels = np.asarray(self.classes)[proba.argmax(axis=1)].tolist()
        top = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
        return [
            {"prediction": label, "probability": p}
            for label, p in zip(labels, top.tolist(), strict=True)
        ]
