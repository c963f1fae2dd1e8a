"""Models: versions with aliases, challenger vs champion, gates, model card, promote / roll back,
audit."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import auth, ui
from app.views import models as view
from core import access
from core.config import LOWER_IS_BETTER
from core.registry.card import CardNotFound
from core.registry.tracking import ALIAS_CHALLENGER, ALIAS_CHAMPION
from core.serving.explain import ExplainUnsupported

AUDIT_DETAILS = 20


def versions_section(rows: list[dict], metric: str) -> None:
    st.subheader("Versions")
    st.dataframe(
        view.style_versions(view.versions_frame(rows, metric)),
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
    chal, champ, source = view.comparison_inputs(ws, rows, version, champion)
    table = view.comparison_frame(chal, champ, metric)
    st.markdown(f"**v{version}** (challenger) vs **v{champion}** (champion)")
    if metric in table.index:
        head = table.loc[metric]
        st.metric(
            f"{metric} of v{version}",
            view.show(head["challenger"]),
            f"{head['delta']:+.4f} vs champion" if pd.notna(head["delta"]) else None,
            delta_color="inverse" if metric in LOWER_IS_BETTER else "normal",
            border=True,
        )
    st.dataframe(view.style_comparison(table), width="stretch")
    st.caption(source + " Lower is better for " + ", ".join(sorted(LOWER_IS_BETTER)) + ".")


def importance_section(ws, version: str, champion: str | None) -> None:
    st.subheader("Global importance")
    versions = [version] + ([champion] if champion and champion != version else [])
    if not st.toggle(
        "Explain the holdout with " + " and ".join(f"v{v}" for v in versions),
        key="models_importance",
        help="Mean |contribution| of each raw field over up to 1,000 holdout rows: TreeSHAP "
        "for LightGBM, coefficient x (value - mean) for linear models (a few seconds).",
    ):
        return
    try:
        table = view.importance(ws, versions)
    except ExplainUnsupported as exc:
        st.info(f"No global importance: {exc}")
        return
    st.plotly_chart(view.importance_figure(table), width="stretch", key="models_importance_chart")
    st.caption(
        "In each model's explanation space (log-odds for classifiers): fields the models weigh "
        "differently stand out as bars of unequal length."
    )


def card_section(ws, version: str) -> None:
    head, button = st.columns([5, 1], vertical_alignment="center")
    head.subheader(f"Model card of v{version}")
    if button.button(
        "Write card",
        width="stretch",
        key="write_card",
        **ui.guard(access.WRITE_REPORTS, help="Score the holdout again and rewrite the card"),
    ):
        view.write_card(ws, version)
    try:
        markdown, page = view.card(ws, version)
    except CardNotFound as exc:
        st.info(
            str(exc).replace("`workbench models card", "**Write card** or `workbench models card")
        )
        return
    left, right, _ = st.columns([1, 1, 3])
    left.download_button(
        "Markdown",
        markdown,
        file_name=view.card_file_name(ws, version, "md"),
        mime="text/markdown",
        key="card_md",
        icon=":material/download:",
    )
    right.download_button(
        "HTML",
        page,
        file_name=view.card_file_name(ws, version, "html"),
        mime="text/html",
        key="card_html",
        icon=":material/download:",
    )
    with st.container(height=520, border=True, key="card_body"):
        st.markdown(markdown)


def gates_section(ws, version: str, champion: str | None) -> None:
    head, button = st.columns([5, 1], vertical_alignment="center")
    head.subheader(f"Gates of v{version}")
    if button.button(
        "Evaluate gates", width="stretch", key="evaluate_gates", **ui.guard(access.EVALUATE_GATES)
    ):
        view.run_evaluation(ws, version)
    report = view.gate_report(ws, version)
    if report is None:
        st.info(f"v{version} has no gate results yet: press **Evaluate gates**.")
        return
    (st.success if report.passed else st.error)(view.gates_summary(report))
    if report.champion_version != champion and version != champion:
        st.warning(
            f"These results were made against v{report.champion_version or '-'}; the champion "
            f"now is v{champion or '-'}. Evaluate again (promotion will)."
        )
    ui.status_table(view.gates_frame(report.gates))


def actions_section(ws, user, version: str, champion: str | None) -> None:
    st.subheader("Promote or roll back")
    if not user.can_approve:
        st.warning(auth.why_not_approver(user))
    target = view.rollback_target(ws, champion)
    left, right = st.columns(2)
    with left:
        reason = st.text_input(f"Reason for promoting v{version}", key="promote_reason")
        if st.button(
            f"Promote v{version}",
            type="primary",
            key="promote",
            **ui.guard(
                access.PROMOTE,
                disabled=version == champion,
                help="Already the champion" if version == champion else None,
            ),
        ):
            view.ask(reason, {"action": "promote", "version": version, "force": False})
    with right:
        back = st.text_input("Reason for rolling back", key="rollback_reason")
        if st.button(
            f"Roll back to v{target}" if target else "Roll back",
            key="rollback",
            **ui.guard(
                access.ROLLBACK,
                disabled=target is None,
                help=(
                    f"v{champion} -> v{target}: the champion before this one"
                    if target
                    else "The audit log has no earlier champion (a rollback never returns to a "
                    "version it rolled away from: promote it instead)."
                ),
            ),
        ):
            view.ask(back, {"action": "rollback", "version": target, "force": False})
    pending = st.session_state.get(view.PENDING)
    if pending:
        view.confirm(ws, user, pending, champion)


def audit_section(records: list[dict]) -> None:
    st.subheader("Audit history")
    if not records:
        st.caption("No promotion or rollback recorded yet.")
        return
    ui.status_table(view.audit_frame(records), columns=("gates",))
    for r in records[:AUDIT_DETAILS]:
        with st.expander(view.audit_label(r)):
            st.markdown(f"**Reason:** {r.get('reason')}")
            if r.get("gates"):
                ui.status_table(view.gates_frame(r["gates"]))
            if r.get("metrics"):
                metrics = pd.DataFrame({"value": r["metrics"]}).rename_axis("metric")
                st.dataframe(metrics, width="stretch")
    if len(records) > AUDIT_DETAILS:
        st.caption(f"Details of the newest {AUDIT_DETAILS} of {len(records)} records shown.")


st.title("Models")
ws, user = ui.start_page()
view.clear_reasons_after_action()
ui.show_flash()
with ui.shown_errors(f"Reading the model registry at {ws.tracking_uri}", stop=True):
    rows = view.versions(ws)
    records = view.audit(ws)
if not rows:
    st.info(
        f"No registered versions of **{ws.config.model_name}** yet. Train candidates with "
        "`workbench train` (on a data version: run the data pipeline first); the best one "
        "is registered and the first becomes champion."
    )
    st.stop()

champion = view.alias_version(rows, ALIAS_CHAMPION)
st.caption(
    f"Registered model **{ws.config.model_name}** · champion "
    f"**{'v' + champion if champion else 'none'}** · challenger "
    f"**v{view.alias_version(rows, ALIAS_CHALLENGER) or '-'}** · metric `{ws.config.metric}`"
)
versions_section(rows, ws.config.metric)
options = [r["version"] for r in rows]
version = st.selectbox(
    "Version to review",
    options,
    index=options.index(view.default_version(rows, champion)),
    format_func=lambda v: view.version_label(rows, v),
    key="models_version",
)
st.markdown(f"[Lineage of v{version}](lineage?version={version}): its run, data, batches, traffic")
with ui.shown_errors():
    compare_section(ws, rows, version, champion)
    importance_section(ws, version, champion)
    card_section(ws, version)
    gates_section(ws, version, champion)
    actions_section(ws, user, version, champion)
audit_section(records)
