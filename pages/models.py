"""Models: versions with aliases, challenger vs champion, gates, promote / roll back, audit."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from app import auth, ui
from app import registry_ui as reg
from core.config import LOWER_IS_BETTER
from core.errors import GateFailed, WorkbenchError
from core.registry.gates import evaluate_gates
from core.registry.promotion import promote, require_approver, rollback
from core.tracking import ALIAS_CHALLENGER, ALIAS_CHAMPION

log = logging.getLogger("workbench.ui")

PENDING = "models_pending"
FLASH = "models_flash"
REASON_KEYS = ("promote_reason", "rollback_reason")
AUDIT_DETAILS = 20


def version_label(rows: list[dict], version: str) -> str:
    row = next(r for r in rows if r["version"] == version)
    aliases = f" · {', '.join(row['aliases'])}" if row["aliases"] else ""
    return f"v{version}{aliases} · gates {row['gates']}"


def default_version(rows: list[dict], champion: str | None) -> str:
    """The challenger, else the newest version that is not the champion, else the champion."""
    challenger = reg.alias_version(rows, ALIAS_CHALLENGER)
    others = [r["version"] for r in rows if r["version"] != champion]
    return challenger or (others[0] if others else rows[0]["version"])


def versions_section(rows: list[dict], metric: str) -> None:
    st.subheader("Versions")
    frame = reg.versions_frame(rows, metric)
    st.dataframe(
        reg.style_versions(frame),
        hide_index=True,
        width="stretch",
        column_config={f"test {metric}": st.column_config.NumberColumn(format="%.4f")},
    )
    st.caption("Champion row in green, challenger in blue.")


def compare_section(ws, rows: list[dict], version: str, champion: str | None) -> None:
    st.subheader("Challenger vs champion")
    if champion is None or version == champion:
        st.info(
            f"v{version} is the champion: pick another version to compare with it."
            if champion
            else "No champion yet: nothing to compare with."
        )
        return
    metric = ws.config.metric
    report = reg.gate_report(ws, version)
    if report and report.champion_version == champion and report.metrics.get("champion"):
        chal, champ = report.metrics.get("challenger") or {}, report.metrics["champion"]
        source = (
            f"Both scored on the same holdout: data version `{report.data_version}`, "
            f"{report.holdout_rows:,} rows, when the gates ran ({ui.when(report.evaluated_at)})."
        )
    else:
        by_version = {r["version"]: r for r in rows}
        chal = reg.test_metrics(ws, by_version[version]["run_id"])
        champ = reg.test_metrics(ws, by_version[champion]["run_id"])
        source = (
            "Each run's own test split (no gate report against this champion: press "
            "**Evaluate gates** to score both on the same holdout)."
        )
    table = reg.comparison_frame(chal, champ, metric)
    st.markdown(f"**v{version}** (challenger) vs **v{champion}** (champion)")
    if metric in table.index:
        head = table.loc[metric]
        st.metric(
            f"{metric} of v{version}",
            reg.show(head["challenger"]),
            f"{head['delta']:+.4f} vs champion" if pd.notna(head["delta"]) else None,
            delta_color="inverse" if metric in LOWER_IS_BETTER else "normal",
            border=True,
        )
    st.dataframe(reg.style_comparison(table), width="stretch")
    st.caption(source + " Lower is better for " + ", ".join(sorted(LOWER_IS_BETTER)) + ".")


def gates_section(ws, version: str, champion: str | None) -> None:
    head, button = st.columns([5, 1], vertical_alignment="center")
    head.subheader(f"Gates of v{version}")
    if button.button("Evaluate gates", width="stretch", key="evaluate_gates"):
        run_evaluation(ws, version)
    report = reg.gate_report(ws, version)
    if report is None:
        st.info(f"v{version} has no gate results yet: press **Evaluate gates**.")
        return
    passed = len(report.gates) - len(report.failed)
    against = f"champion v{report.champion_version}" if report.champion_version else "no champion"
    show = st.success if report.passed else st.error
    show(
        f"**{report.status.upper()}**: {passed} of {len(report.gates)} gates passed "
        f"(evaluated {ui.when(report.evaluated_at)} against {against})."
    )
    if report.champion_version != champion and version != champion:
        st.warning(
            f"These results were made against v{report.champion_version or '-'}; the champion "
            f"now is v{champion or '-'}. Evaluate again (promotion will)."
        )
    ui.status_table(reg.gates_frame(report.gates))


def run_evaluation(ws, version: str) -> None:
    try:
        with st.spinner(f"Scoring v{version} and the champion on the holdout"):
            report = evaluate_gates(ws, ws.config.model_name, version)
    except WorkbenchError as exc:
        st.error(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - model loading/scoring failures: one line, no traceback
        log.exception("gate evaluation crashed")
        st.error(f"Gate evaluation failed: {type(exc).__name__}: {exc}")
        return
    st.session_state[FLASH] = f"Gates of v{version} evaluated: {report.status}."
    ui.clear_caches()
    st.rerun()


def actions_section(ws, user, version: str, champion: str | None) -> None:
    st.subheader("Promote or roll back")
    allowed = user.can_approve
    if not allowed:
        st.warning(auth.why_not_approver(user))
    target = reg.rollback_target(ws, champion)
    left, right = st.columns(2)
    with left:
        reason = st.text_input(f"Reason for promoting v{version}", key="promote_reason")
        if st.button(
            f"Promote v{version}",
            type="primary",
            disabled=not allowed or version == champion,
            help="Already the champion" if version == champion else None,
            key="promote",
        ):
            ask(reason, {"action": "promote", "version": version, "force": False})
    with right:
        back = st.text_input("Reason for rolling back", key="rollback_reason")
        if st.button(
            f"Roll back to v{target}" if target else "Roll back",
            disabled=not allowed or target is None,
            help=None if target else "The audit log has no earlier champion.",
            key="rollback",
        ):
            ask(back, {"action": "rollback", "version": target, "force": False})
    pending = st.session_state.get(PENDING)
    if pending:
        confirm(ws, user, pending, champion)


def ask(reason: str, pending: dict) -> None:
    """First click: check the reason, then ask for confirmation."""
    if not reason.strip():
        st.session_state.pop(PENDING, None)
        st.error("A reason is required: it is stored in the audit log.")
        return
    st.session_state[PENDING] = {**pending, "reason": reason.strip(), "failed": None}


def confirm(ws, user, pending: dict, champion: str | None) -> None:
    name, v = ws.config.model_name, pending["version"]
    verb = "Roll back" if pending["action"] == "rollback" else "Promote"
    with st.container(border=True):
        if pending["failed"]:
            st.error(f"v{v} failed {len(pending['failed'])} gate(s):")
            ui.status_table(reg.gates_frame(pending["failed"]))
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


def run_action(ws, user, pending: dict) -> None:
    """Second click: promote or roll back as the signed-in user; rerun on success."""
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
        st.session_state[PENDING] = {**pending, "failed": exc.failed}
        ui.clear_caches()  # promote may have re-evaluated the gates
        st.rerun()
    except WorkbenchError as exc:
        st.session_state.pop(PENDING, None)
        st.error(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - registry failures reach the user as one line
        log.exception("%s crashed", pending["action"])
        st.session_state.pop(PENDING, None)
        st.error(f"{pending['action']} failed: {type(exc).__name__}: {exc}")
        return
    forced = " (forced past failed gates)" if record.forced else ""
    st.session_state[FLASH] = (
        f"{record.model}: champion {reg.change_text(record.to_dict())}{forced} by {record.actor}."
    )
    st.session_state.pop(PENDING, None)
    st.session_state["models_clear_reasons"] = True
    ui.clear_caches()
    st.rerun()


def audit_section(records: list[dict]) -> None:
    st.subheader("Audit history")
    if not records:
        st.caption("No promotion or rollback recorded yet.")
        return
    ui.status_table(reg.audit_frame(records), columns=("gates",))
    for r in records[:AUDIT_DETAILS]:
        forced = " · forced" if r.get("forced") else ""
        label = (
            f"{ui.when(r.get('time'))} · {r.get('action')} {reg.change_text(r)} · "
            f"{r.get('actor')}{forced}"
        )
        with st.expander(label):
            st.markdown(f"**Reason:** {r.get('reason')}")
            if r.get("gates"):
                ui.status_table(reg.gates_frame(r["gates"]))
            if r.get("metrics"):
                metrics = pd.DataFrame({"value": r["metrics"]}).rename_axis("metric")
                st.dataframe(metrics, width="stretch")
    if len(records) > AUDIT_DETAILS:
        st.caption(f"Details of the newest {AUDIT_DETAILS} of {len(records)} records shown.")


st.title("Models")
ws = ui.workspace_or_stop()
user = auth.sign_in_sidebar()
if st.session_state.pop("models_clear_reasons", False):
    for key in REASON_KEYS:
        st.session_state[key] = ""
if flash := st.session_state.pop(FLASH, None):
    st.success(flash)
try:
    rows = reg.versions(ws)
    records = reg.audit(ws)
except WorkbenchError as exc:
    st.error(str(exc))
    st.stop()
except Exception as exc:  # noqa: BLE001 - an unreachable or broken store: one line, no traceback
    log.exception("reading the model registry failed")
    st.error(f"The model registry at {ws.tracking_uri} cannot be read: {type(exc).__name__}: {exc}")
    st.stop()
if not rows:
    st.info(
        f"No registered versions of **{ws.config.model_name}** yet. Train candidates with "
        "`workbench train` (on a data version: run the data pipeline first); the best one "
        "is registered and the first becomes champion."
    )
    st.stop()

champion = reg.alias_version(rows, ALIAS_CHAMPION)
st.caption(
    f"Registered model **{ws.config.model_name}** · champion "
    f"**{'v' + champion if champion else 'none'}** · challenger "
    f"**v{reg.alias_version(rows, ALIAS_CHALLENGER) or '-'}** · metric `{ws.config.metric}`"
)
versions_section(rows, ws.config.metric)
options = [r["version"] for r in rows]
version = st.selectbox(
    "Version to review",
    options,
    index=options.index(default_version(rows, champion)),
    format_func=lambda v: version_label(rows, v),
    key="models_version",
)
try:
    compare_section(ws, rows, version, champion)
    gates_section(ws, version, champion)
    actions_section(ws, user, version, champion)
except WorkbenchError as exc:
    st.error(str(exc))
except Exception as exc:  # noqa: BLE001 - registry reads failing mid-page: one line, no traceback
    log.exception("the Models page failed")
    st.error(f"{type(exc).__name__}: {exc}")
audit_section(records)
