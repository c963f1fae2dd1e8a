"""The Overview page's view: its tables and the cards of the loop at a glance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

from app import ui
from app.views import models as reg
from app.views.jobs import database
from core.jobs import jobs_overview
from core.registry.tracking import ALIAS_CHALLENGER, ALIAS_CHAMPION
from core.workspace import Workspace

Card = tuple[str, str, str | None]
"""(label, value, caption) of a metric card."""


AUDIT_COLUMNS = ("time", "actor", "action", "target", "outcome", "reason", "source")
AUDIT_LIMIT = 200


def audit_frame(events: list[dict]) -> pd.DataFrame:
    """Audit events (`core.audit`) as a table with readable times, newest first as given."""
    frame = pd.DataFrame(events, columns=list(AUDIT_COLUMNS))
    frame["time"] = frame["time"].map(ui.when)
    return frame


def alerts_frame(alerts: list[dict], columns: tuple[str, ...]) -> pd.DataFrame:
    """Alert events with readable times, the given columns (those present) only."""
    frame = pd.DataFrame(alerts)
    frame["time"] = frame["time"].map(ui.when)
    return frame[[c for c in columns if c in frame.columns]]


def incidents_frame(incidents: list[dict]) -> pd.DataFrame:
    """Incidents as stored (open first): status, kind, times, notifications sent, message."""
    return pd.DataFrame(
        [
            {
                "status": i["status"],
                "kind": i["kind"],
                "opened": ui.when(i["opened"]),
                "resolved": ui.when(i.get("resolved")) if i.get("resolved") else "",
                "notifications": f"{i['notifications']}"
                + (f" ({i['pending']['notice']} pending)" if i.get("pending") else ""),
                "message": i["message"],
                "resolution": i.get("resolution") or "",
            }
            for i in incidents
        ],
        columns=[
            "status",
            "kind",
            "opened",
            "resolved",
            "notifications",
            "message",
            "resolution",
        ],
    )


@st.cache_data(ttl=ui.TTL, show_spinner=False)
def _incidents(root: str, sig: int) -> list[dict]:
    from core.incidents import read_incidents

    return read_incidents(Workspace(Path(root))) if sig else []


def incidents(ws: Workspace) -> list[dict]:
    """The workspace's incidents, open first (cached until `incidents.json` changes)."""
    from core.incidents import incidents_path

    return _incidents(str(ws.root), ui.mtime(incidents_path(ws)))


def runs_frame(runs: list[dict]) -> pd.DataFrame:
    """Pipeline runs: start, status, batches, version, message."""
    return pd.DataFrame(
        [
            {
                "started": ui.when(r.get("started_at")),
                "status": r.get("status"),
                "batches": len(r.get("batches", [])),
                "version": (r.get("version") or {}).get("id", ""),
                "message": r.get("message", ""),
            }
            for r in runs
        ]
    )


@st.cache_data(ttl=ui.TTL, show_spinner=False)
def _check(root: str, sig: int) -> dict | None:
    from core.monitoring.history import latest_check

    return latest_check(Workspace(Path(root))) if sig else None


def _latest_check(ws: Workspace) -> dict | None:
    from core.monitoring.history import history_path

    return _check(str(ws.root), ui.mtime(history_path(ws)))


def _model_cards(ws: Workspace) -> list[Card]:

    rows, metric = reg.versions(ws), ws.config.metric
    by_alias = {a: r for r in rows for a in r["aliases"]}
    champion, challenger = by_alias.get(ALIAS_CHAMPION), by_alias.get(ALIAS_CHALLENGER)
    cards = [
        (
            f"Champion test {metric}",
            reg.show(champion["test_metric"]) if champion else "-",
            f"v{champion['version']} · data {champion['data_version']}" if champion else None,
        ),
        (
            "Challenger",
            f"v{challenger['version']}" if challenger else "none",
            f"{metric} {reg.show(challenger['test_metric'])} · gates {challenger['gates']}"
            if challenger
            else "no pending challenger",
        ),
    ]
    records = reg.audit(ws)
    last = records[0] if records else None
    cards.append(
        (
            "Last promotion",
            f"v{last['from_version'] or '-'} → v{last['to_version']}" if last else "none",
            f"{ui.when(last['time'])} · {last['action']}" if last else None,
        )
    )
    return cards


def _drift_card(ws: Workspace) -> Card:
    check = _latest_check(ws)
    if not check:
        return "Drift", "not checked", "no check yet"
    if check.get("skipped"):
        return "Drift", "skipped", f"{ui.when(check['time'])}: too few predictions"
    drift, perf = check.get("drift") or {}, check.get("performance") or {}
    value = "YES" if drift.get("dataset_drift") else "no"
    share = f"{drift['share']:.0%} drifted · " if drift.get("share") is not None else ""
    extra = f" · {perf['metric']} {perf['value']:.3f}" if perf.get("value") is not None else ""
    return "Drift", value, f"{share}checked {ui.when(check['time'])}{extra}"


def _schedule_card(ws: Workspace) -> Card:
    db = database(ws)
    holder = db.holder()
    upcoming = sorted(
        (r for r in jobs_overview(db, ws) if r["next_run"] and r["state"] == "active"),
        key=lambda r: r["next_run"],
    )
    state = "scheduler running" if holder and holder["live"] else "scheduler not running"
    if not upcoming:
        return "Next scheduled run", "-", state
    nxt, later = upcoming[0], upcoming[1:]
    then = "".join(f" · then {r['job']} {ui.when(r['next_run'])}" for r in later)
    return "Next scheduled run", nxt["job"], f"{ui.when(nxt['next_run'])}{then} · {state}"


def _incidents_card(ws: Workspace) -> Card:
    rows = incidents(ws)
    opened = [i for i in rows if i["status"] == "open"]
    errors = sum(1 for i in opened if i.get("severity") == "error")
    since = datetime.now(UTC) - timedelta(hours=24)
    resolved = sum(
        1 for i in rows if i.get("resolved") and datetime.fromisoformat(i["resolved"]) >= since
    )
    return "Open incidents", str(len(opened)), f"{errors} error(s) · {resolved} resolved (24 h)"


def loop_cards(ws: Workspace) -> list[Card]:
    """(label, value, caption) cards: models, last promotion, drift, next run, open incidents."""
    return [*_model_cards(ws), _drift_card(ws), _schedule_card(ws), _incidents_card(ws)]
