"""The Models page's view: cached registry reads, its tables, and the promotion flows.

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

from app import auth, ui
from app.ui import STATUS_COLOURS, mtime, when
from core import access
from core.audit import FAILED, REFUSED, audit_log_path, record_event
from core.errors import GateFailed, NotAnApprover, one_line
from core.registry import history, store
from core.registry.audit import read_audit
from core.registry.gates import GateReport, GateResult, evaluate_gates, load_gate_report
from core.registry.promotion import list_models, promote, require_approver, rollback
from core.registry.tracking import ALIAS_CHALLENGER, ALIAS_CHAMPION
from core.training.metrics import better
from core.workspace import Workspace

TTL = 30
"""Seconds a registry read may live (signatures invalidate it earlier on the embedded store)."""
ROW_COLOURS = {
    ALIAS_CHAMPION: "background-color: #dafbe1; font-weight: bold",
    ALIAS_CHALLENGER: "background-color: #ddf4ff",
}
PENDING = "models_pending"
"""Session key of the action waiting for its second click (the confirmation)."""
CLEAR_REASONS = "models_clear_reasons"
REASON_KEYS = ("promote_reason", "rollback_reason")
BETTER_COLOURS = {
    "challenger": "color: #1a7f37; font-weight: bold",
    "champion": "color: #cf222e; font-weight: bold",
}


def _embedded_db(ws: Workspace) -> Path | None:
    """The workspace's SQLite store when it is the tracking store, else None (a server)."""
    db = ws.mlflow_db
    return db if ws.tracking_uri == f"sqlite:///{db}" else None


def _key(ws: Workspace) -> tuple:
    db = _embedded_db(ws)
    return (
        str(ws.root),
        ws.tracking_uri,
        ws.config.model_name,
        mtime(audit_log_path(ws)),
        mtime(db) if db else 0,
    )


# --- cached reads ------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner="Explaining the holdout with each version")
def _importance(_ws: Workspace, root: str, versions: tuple[str, ...]) -> pd.DataFrame:
    from core.serving.explain import version_importance

    return version_importance(_ws, list(versions))


def importance(ws: Workspace, versions: list[str]) -> pd.DataFrame:
    """Mean |contribution| per raw field of each version on the latest holdout (cached)."""
    return _importance(ws, str(ws.root), tuple(dict.fromkeys(versions)))


def importance_figure(table: pd.DataFrame, top: int = 15):
    """Grouped horizontal bars of each version's mean |contribution|.

    The `top` fields of the first version, largest first.
    """
    import plotly.express as px

    first = [c for c in table.columns if c != "field"][0]
    rows = table.sort_values(first, ascending=False).head(top)
    long = rows.melt(id_vars="field", var_name="version", value_name="mean |contribution|")
    figure = px.bar(
        long,
        x="mean |contribution|",
        y="field",
        color="version",
        barmode="group",
        orientation="h",
        title="Global importance on the holdout (mean |contribution|)",
    )
    figure.update_layout(yaxis={"autorange": "reversed"}, height=160 + 26 * len(rows))
    return figure


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=64)
def _card(_ws: Workspace, key: tuple, version: str) -> tuple[str, str]:
    from core.registry.card import read_card

    return read_card(_ws, version, "md"), read_card(_ws, version, "html")


def card(ws: Workspace, version: str) -> tuple[str, str]:
    """The version's model card as Markdown and HTML (cached until the store changes).

    Raises:
        CardNotFound: the version has no card yet (the message says how to write one).
    """
    return _card(ws, _key(ws), str(version))


def card_file_name(ws: Workspace, version: str, suffix: str) -> str:
    """`<model>-v<version>-card.<suffix>` for the download buttons."""
    return f"{ws.config.model_name}-v{version}-card.{suffix}"


def write_card(ws: Workspace, version: str) -> None:
    """Write a version's card again (scores the holdout); flash and rerun."""
    from core.registry.card import write_card as write

    with ui.shown_errors("Writing the model card"):
        target = f"{ws.config.model_name} v{version} model card"
        with (
            ui.audited(ws, access.WRITE_REPORTS, target),
            st.spinner(f"Scoring v{version} on the holdout for its card"),
        ):
            written = write(ws, version)
        ui.flash(f"Model card of v{version} written in {written['built_ms'] / 1000:.1f} s.")
        ui.clear_caches()
        st.rerun()


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
    """The version a rollback would restore (the champion before this one), or None."""
    return history.rollback_target(audit(ws), champion)


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


def version_label(rows: list[dict], version: str) -> str:
    """`v3 · challenger · gates pass` for the version picker."""
    row = next(r for r in rows if r["version"] == version)
    aliases = f" · {', '.join(row['aliases'])}" if row["aliases"] else ""
    return f"v{version}{aliases} · gates {row['gates']}"


def default_version(rows: list[dict], champion: str | None) -> str:
    """The challenger, else the newest version that is not the champion, else the champion."""
    challenger = alias_version(rows, ALIAS_CHALLENGER)
    others = [r["version"] for r in rows if r["version"] != champion]
    return challenger or (others[0] if others else rows[0]["version"])


def comparison_inputs(
    ws: Workspace, rows: list[dict], version: str, champion: str
) -> tuple[dict, dict, str]:
    """Challenger and champion metrics to compare, and a sentence saying where they come from.

    Both scored on the same holdout when a gate report against this champion exists, else
    each run's own test split.
    """
    report = gate_report(ws, version)
    if report and report.champion_version == champion and report.metrics.get("champion"):
        source = (
            f"Both scored on the same holdout: data version `{report.data_version}`, "
            f"{report.holdout_rows:,} rows, when the gates ran ({when(report.evaluated_at)})."
        )
        return report.metrics.get("challenger") or {}, report.metrics["champion"], source
    by_version = {r["version"]: r for r in rows}
    source = (
        "Each run's own test split (no gate report against this champion: press "
        "**Evaluate gates** to score both on the same holdout)."
    )
    return (
        test_metrics(ws, by_version[version]["run_id"]),
        test_metrics(ws, by_version[champion]["run_id"]),
        source,
    )


def gates_summary(report: GateReport) -> str:
    """The verdict line of a gate report: status, gates passed, when, against what."""
    passed = len(report.gates) - len(report.failed)
    against = f"champion v{report.champion_version}" if report.champion_version else "no champion"
    return (
        f"**{report.status.upper()}**: {passed} of {len(report.gates)} gates passed "
        f"(evaluated {when(report.evaluated_at)} against {against})."
    )


def audit_label(record: dict) -> str:
    """The expander label of one audit record."""
    forced = " · forced" if record.get("forced") else ""
    return (
        f"{when(record.get('time'))} · {record.get('action')} {change_text(record)} · "
        f"{record.get('actor')}{forced}"
    )


# --- flows -------------------------------------------------------------------------------------


def run_evaluation(ws: Workspace, version: str) -> None:
    """Evaluate a version's gates against the champion; flash the status and rerun."""
    with ui.shown_errors("Gate evaluation"):
        with (
            ui.audited(ws, access.EVALUATE_GATES, f"{ws.config.model_name} v{version}") as details,
            st.spinner(f"Scoring v{version} and the champion on the holdout"),
        ):
            report = evaluate_gates(ws, ws.config.model_name, version)
            details.update(status=report.status)
        ui.flash(f"Gates of v{version} evaluated: {report.status}.")
        ui.clear_caches()
        st.rerun()


def ask(reason: str, pending: dict) -> None:
    """First click: check the reason, then ask for confirmation."""
    if not reason.strip():
        st.session_state.pop(PENDING, None)
        st.error("A reason is required: it is stored in the audit log.")
        return
    st.session_state[PENDING] = {**pending, "reason": reason.strip(), "failed": None}


def confirm(ws: Workspace, user: auth.User, pending: dict, champion: str | None) -> None:
    """The confirmation box of a pending action (or its failed gates, with a forced option)."""
    name, v = ws.config.model_name, pending["version"]
    verb = "Roll back" if pending["action"] == "rollback" else "Promote"
    with st.container(border=True):
        if pending["failed"]:
            st.error(f"v{v} failed {len(pending['failed'])} gate(s):")
            ui.status_table(gates_frame(pending["failed"]))
            label, force = "Promote anyway (forced, recorded)", True
        else:
            st.warning(
                f"{verb} **{name}** to champion **v{v}**"
                f"{f' (replacing v{champion})' if champion else ''}? "
                f"Reason: “{pending['reason']}”"
            )
            label, force = f"Confirm: {verb.lower()} to v{v}", pending["force"]
        yes, no = st.columns(2)
        if yes.button(label, type="primary", key="confirm", disabled=not user.can_approve):
            run_action(ws, user, {**pending, "force": force})
        if no.button("Cancel", key="cancel"):
            st.session_state.pop(PENDING, None)
            st.rerun()


def audit_failure(ws: Workspace, user: auth.User, pending: dict, exc: Exception) -> None:
    """Record a refused or failed promotion / rollback (a done one is recorded by the registry)."""
    record_event(
        ws,
        user.name or "(not signed in)",
        access.ROLLBACK if pending["action"] == "rollback" else access.PROMOTE,
        f"{ws.config.model_name} v{pending['version']}",
        REFUSED if isinstance(exc, NotAnApprover) else FAILED,
        f"{pending['reason']}: {one_line(exc)}",
        "ui",
        {"forced": bool(pending.get("force"))},
    )


def run_action(ws: Workspace, user: auth.User, pending: dict) -> None:
    """Second click: promote or roll back as the signed-in approver; rerun on success.

    Failed gates keep the action pending with them (the box then offers a forced promotion);
    any other failure drops it and shows one line.
    """
    try:
        require_approver(user.name, auth.roles_by_user())
        with st.spinner("Checking gates and moving the champion alias"):
            if pending["action"] == "rollback":
                record = rollback(ws, pending["reason"], user.name)
            else:
                record = promote(
                    ws, pending["version"], pending["reason"], user.name, force=pending["force"]
                )
    except GateFailed as exc:
        audit_failure(ws, user, pending, exc)
        st.session_state[PENDING] = {**pending, "failed": exc.failed}
        ui.clear_caches()  # promote may have re-evaluated the gates
        st.rerun()
    except Exception as exc:  # noqa: BLE001 - registry failures reach the user as one line
        audit_failure(ws, user, pending, exc)
        st.session_state.pop(PENDING, None)
        ui.show_error(exc, pending["action"])
        return
    forced = " (forced past failed gates)" if record.forced else ""
    ui.flash(f"{record.model}: champion {change_text(record.to_dict())}{forced} by {record.actor}.")
    st.session_state.pop(PENDING, None)
    st.session_state[CLEAR_REASONS] = True
    ui.clear_caches()
    st.rerun()


def clear_reasons_after_action() -> None:
    """Empty the reason inputs after a done action (before the widgets are drawn)."""
    if st.session_state.pop(CLEAR_REASONS, False):
        for key in REASON_KEYS:
            st.session_state[key] = ""
