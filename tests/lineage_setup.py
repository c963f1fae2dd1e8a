"""A workspace with a full lineage to follow (imported by name: `tests` is on `sys.path`).

From the two-versions demo (v1 champion, v2 challenger, both trained on one data version of 3
landed days): an `up` started the API, v1 answered 3 predictions (the log writer), a drift
incident opened while v1 was champion, v2 was promoted, the API (a real `create_app`) answered
5 predictions with v2 and was reloaded by an admin, and an incident named v2.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
from litestar.testing import TestClient
from workspaces import copy_workspace

from core import access
from core.alerts import raise_alert
from core.audit import record_event
from core.files import utc_now_iso
from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog
from core.registry.promotion import promote
from core.workspace import Workspace

KEY, ADMIN = "lineage-key", "lineage-admin"
V1_PREDICTIONS, V2_PREDICTIONS = 3, 5
PROMOTION_REASON = "v2 is better on recent days"


def records(ws: Workspace, n: int) -> list[dict]:
    """Raw records of a held-back demo day, as a client sends them (no target, ISO times)."""
    path = sorted((ws.root / ".demo" / "holdback").glob("*.csv"))[0]
    frame = pd.read_csv(path, nrows=n).drop(columns=[ws.config.target])
    return [
        {k: None if pd.isna(v) else v for k, v in row.items()}
        for row in frame.astype(object).to_dict(orient="records")
    ]


def build(template: Path, dest: Path) -> Workspace:
    """A copy of `template` (the two-versions demo) with the history above."""
    from api.app import create_app
    from api.settings import ServeSettings

    ws = Workspace.open(copy_workspace(template, dest))
    model = ws.config.model_name
    record_event(ws, "alice", access.START_SERVICES, "api, scheduler, ui", source="cli")
    with PredictionLog(ws.predictions_dir) as log:
        log.append(
            [
                PredictionRecord(f"v1-{i}", utc_now_iso(), model, "1", "champion", row, 0, 0.3)
                for i, row in enumerate(records(ws, V1_PREDICTIONS))
            ]
        )
    raise_alert(
        ws, "monitoring.dataset_drift", "drift while v1 serves", "warning", key="drift:lineage"
    )
    promote(ws, "2", PROMOTION_REASON, "alice", force=True)
    settings = ServeSettings.from_workspace(ws, api_keys=[KEY], admin_key=ADMIN, poll_seconds=60)
    with TestClient(create_app(settings)) as client:
        answered = client.post(
            "/predict", json={"records": records(ws, V2_PREDICTIONS)}, headers={"X-API-Key": KEY}
        )
        assert answered.status_code == 200, answered.text
        reloaded = client.post("/admin/reload", headers={"X-API-Key": ADMIN})
        assert reloaded.status_code == 200, reloaded.text
    raise_alert(
        ws,
        "monitoring.performance_drop",
        "v2 lost accuracy",
        "error",
        key="perf:lineage",
        model_version="2",
    )
    return ws


def copy(src: Path, dest: Path) -> Path:
    """A private copy of a built lineage workspace."""
    shutil.rmtree(dest, ignore_errors=True)
    return copy_workspace(src, dest)
