"""Cached model-registry reads and the tables of the Models page.

Reads are keyed on the tracking URI plus the modification times of the audit log and of the
embedded MLflow store, so a promotion, a gate evaluation or a new training invalidates them; the
short TTL bounds staleness on a remote tracking server, whose writes no local file shows. Pages
also clear every cache after an action of their own (`app.ui.clear_caches`).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import streamlit as st

from app.ui import STATUS_COLOURS, mtime, when
from core.registry import store
from core.registry.audit import read_audit
from core.registry.gates import GateReport, GateResult, load_gate_report
from core.registry.promotion import list_models, previous_champion
from core.tracking import ALIAS_CHALLENGER, ALIAS_CHAMPION
from core.training.metrics import better
from core.workspace import Workspace

TTL = 30
"""Seconds a registry read may live (signatures invalidate it earlier on the embedded store)."""
ROW_COLOURS = {
    ALIAS_CHAMPION: "background-color: #dafbe1; font-weight: bold",
    ALIAS_CHALLENGER: "background-color: #ddf4ff",
}
BETTER_COLOURS = {
    "challenger": "color: #1a7f37; font-weight: bold",
    "champion": "color: #cf222e; font-weight: bold",
}


def _embedded_db(ws: Workspace) -> Path | None:
    """The workspace's SQLite store when it is the tracking store, else None (a server)."""
    db = ws.root / "mlflow.db"
    return db if ws.tracking_uri == f"sqlite:///{db}" else None


def _key(ws: Workspace) -> tuple:
    db = _embedded_db(ws)
    return (
        str(ws.root),
        ws.tracking_uri,
        ws.config.model_name,
        mtime(ws.audit_path),
        mtime(db) if db else 0,
    )


# --- cached reads ------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner="Reading the model registry")
def _versions(_ws: Workspace, key: tuple) -> list[dict]:
    return list_models(_ws)


def versions(ws: Workspace) -> list[dict]:
    """The model's versions, newest first (`core.registry.promotion.list_models`).

    An embedded store that does not exist yet means no versions (and is not created).
    """
    db = _embedded_db(ws)
    if db is not None and not db.is_file():
        return []
    return _versions(ws, _key(ws))


@st.cache_data(ttl=TTL, show_spinner=False)
def _audit(_ws: Workspace, key: tuple) -> list[dict]:
    return read_audit(_ws, _ws.config.model_name)


def audit(ws: Workspace) -> list[dict]:
    """The model's promotion history, newest first."""
    return _audit(ws, _key(ws))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=64)
def _gate_report(_ws: Workspace, key: tuple, version: str) -> GateReport | None:
    return load_gate_report(_ws, _ws.config.model_name, version)


def gate_report(ws: Workspace, version: str) -> GateReport | None:
    """The stored gate report of a version (None when its gates were never evaluated)."""
    return _gate_report(ws, _key(ws), str(version))


@st.cache_data(ttl=3600, show_spinner=False, max_entries=64)
def _test_metrics(_ws: Workspace, tracking_uri: str, run_id: str) -> dict[str, float]:
    _, metrics = store.run_data(store.registry_client(_ws), run_id)
    return {k.removeprefix("test_"): v for k, v in metrics.items() if k.startswith("test_")}


def test_metrics(ws: Workspace, run_id: str | None) -> dict[str, float]:
    """The test-split metrics of the run behind a version (a finished run never changes)."""
    return _test_metrics(ws, ws.tracking_uri, run_id) if run_id else {}


def rollback_target(ws: Workspace, champion: str | None) -> str | None:
    """The version a rollback would restore (what the champion replaced), or None."""
    return previous_champion(audit(ws), champion) if champion else None


# --- tables ------------------------------------------------------------------------------------


def show(value: object) -> str:
    """A compact cell text for numbers, dicts and lists (gate observations and thresholds)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, dict):
        shown = (f"{k}={show(v)}" for k, v in value.items() if v not in (None, [], {}))
        return ", ".join(shown) or "-"
    if isinstance(value, list):
        return ", ".join(show(v) for v in value)
    return str(value)


def alias_version(rows: list[dict], alias: str) -> str | None:
    """The version holding `alias` in `list_models` rows, or None."""
    return next((r["version"] for r in rows if alias in r["aliases"]), None)


def versions_frame(rows: list[dict], metric: str) -> pd.DataFrame:
    """One row per version, as the versions table shows it."""
    return pd.DataFrame(
        [
            {
                "version": r["version"],
                "aliases": ", ".join(r["aliases"]),
                "created": when(r["created"]),
                "data version": r["data_version"] or "",
                "candidate": r.get("candidate") or "",
                f"test {metric}": r["test_metric"],
                "gates": r["gates"],
                "promoted by": r["promoted_by"] or "",
            }
            for r in rows
        ]
    )


def _row_css(row: pd.Series) -> list[str]:
    aliases = str(row["aliases"]).split(", ")
    css = next((ROW_COLOURS[a] for a in (ALIAS_CHAMPION, ALIAS_CHALLENGER) if a in aliases), "")
    return [css] * len(row)


def style_versions(frame: pd.DataFrame):
    """The versions table with the champion and challenger rows and the gates status coloured."""
    if frame.empty:
        return frame
    return frame.style.apply(_row_css, axis=1).map(
        lambda v: STATUS_COLOURS.get(str(v), ""), subset=["gates"]
    )


def _verdict(metric: str, challenger: float, champion: float) -> str:
    if math.isnan(challenger) and math.isnan(champion):
        return ""
    if better(metric, challenger, champion):
        return "challenger"
    if better(metric, champion, challenger):
        return "champion"
    return "tie"


def comparison_frame(challenger: dict, champion: dict, first: str) -> pd.DataFrame:
    """Metrics side by side: champion, challenger, delta and which one is better.

    Args:
        challenger: metric → value of the version under review.
        champion: metric → value of the champion.
        first: the optimised metric, listed first.
    """
    names = sorted(set(challenger) | set(champion), key=lambda m: (m != first, m))
    rows = []
    for m in names:
        chal, champ = _float(challenger.get(m)), _float(champion.get(m))
        rows.append(
            {
                "metric": m,
                "champion": champ,
                "challenger": chal,
                "delta": chal - champ,
                "better": _verdict(m, chal, champ),
            }
        )
    return pd.DataFrame(rows).set_index("metric")


def _float(value: object) -> float:
    return float("nan") if value is None else float(value)


def style_comparison(frame: pd.DataFrame):
    """Deltas (and the verdict) green where the challenger is better, red where it is worse."""
    if frame.empty:
        return frame

    def colour(row: pd.Series) -> list[str]:
        css = BETTER_COLOURS.get(row["better"], "")
        return [css if c in ("delta", "better") else "" for c in row.index]

    return frame.style.apply(colour, axis=1).format(
        {"champion": "{:.4f}", "challenger": "{:.4f}", "delta": "{:+.4f}"}, na_rep="n/a"
    )


def gates_frame(gates: list[GateResult] | list[dict]) -> pd.DataFrame:
    """One row per gate: pass/fail, observed vs threshold, and the reason.

    Args:
        gates: a report's `GateResult`s, or gates stored as dicts (audit records, `GateFailed`).
    """
    results = [GateResult.from_dict(g) if isinstance(g, dict) else g for g in gates]
    return pd.DataFrame(
        [
            {
                "gate": g.name,
                "status": "pass" if g.passed else "fail",
                "observed": show(g.observed),
                "threshold": show(g.threshold),
                "reason": g.reason,
            }
            for g in results
        ],
        columns=["gate", "status", "observed", "threshold", "reason"],
    )


def _gates_status(gates: list[dict]) -> str:
    if not gates:
        return "-"
    return "pass" if all(g.get("passed") for g in gates) else "fail"


def audit_frame(records: list[dict]) -> pd.DataFrame:
    """One row per promotion or rollback, newest first."""
    return pd.DataFrame(
        [
            {
                "when": when(r.get("time")),
                "who": r.get("actor"),
                "action": r.get("action"),
                "change": change_text(r),
                "reason": r.get("reason"),
                "forced": "yes" if r.get("forced") else "",
                "gates": _gates_status(r.get("gates") or []),
            }
            for r in records
        ],
        columns=["when", "who", "action", "change", "reason", "forced", "gates"],
    )


def change_text(record: dict) -> str:
    """`v1 → v2` (or `→ v1` for the first champion)."""
    before = record.get("from_version")
    return f"{'v' + str(before) if before else ''} → v{record.get('to_version')}".strip()
