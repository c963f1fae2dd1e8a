"""The Data page's view: its tables, the validation results, the profile chart, the run flow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from app import ui
from core import access
from core.data import profile
from core.data.pipeline import PipelineResult, run_pipeline
from core.data.validation import ValidationReport
from core.data.versioning import DataVersion

RESULT_COLUMNS = [
    "batch",
    "rule",
    "column",
    "severity",
    "status",
    "observed",
    "threshold",
    "failing rows",
    "message",
]


def run_pipeline_now(ws) -> None:
    """Run the data pipeline with a progress bar; show its one-line result."""
    bar = st.progress(0.0, text="starting the data pipeline")
    try:
        with ui.shown_errors("Pipeline"):
            with ui.audited(ws, access.RUN_PIPELINE) as details:
                result = run_pipeline(
                    ws, progress=lambda frac, msg: bar.progress(min(frac, 1.0), msg)
                )
                details.update(status=result.status, message=result.message)
            show_run_result(result)
    finally:
        bar.empty()
        ui.clear_caches()


def stage_reports(run: dict, stage: str) -> list[tuple[str, ValidationReport, str]]:
    """(batch name, report, json path) for each batch of the run that reached `stage`."""
    out = []
    for batch in run["batches"]:
        path = batch.get("reports", {}).get(stage)
        if not path:
            continue
        try:
            out.append((batch["name"], ui.report(path), path))
        except (OSError, ValueError, KeyError) as exc:
            st.warning(f"{batch['name']}: the {stage} report cannot be read ({exc})")
    return out


def status_counts(reports: list[tuple[str, ValidationReport]]) -> dict[str, int]:
    """How many rule results pass, warn and fail across the reports."""
    return {
        s: sum(r.status == s for _, rep in reports for r in rep.results)
        for s in ("pass", "warn", "fail")
    }


def batches_frame(run: dict) -> pd.DataFrame:
    """One row per batch of a run: status, rows, warnings, where and why it was rejected."""
    return pd.DataFrame(
        [
            {
                "batch": b["name"],
                "status": b["status"],
                "rows": b.get("rows", 0),
                "warnings": b.get("warnings", 0),
                "rejected at": b.get("stage") or "",
                "reason": b.get("reason") or "",
            }
            for b in run["batches"]
        ]
    )


def quarantine_frame(items: list[dict]) -> pd.DataFrame:
    """One row per quarantined batch: when, file, stage, reason, batch id."""
    return pd.DataFrame(
        [
            {
                "quarantined": ui.when(q.get("quarantined_at")),
                "file": q.get("name"),
                "stage": q.get("stage"),
                "reason": q.get("reason"),
                "batch id": q.get("batch_id"),
            }
            for q in items
        ]
    )


def versions_frame(versions: list[DataVersion]) -> pd.DataFrame:
    """One row per data version: id, date, rows, batches, commit, message."""
    return pd.DataFrame(
        [
            {
                "version": v.id,
                "created": ui.when(v.date),
                "rows": v.rows,
                "batches": len(v.batches),
                "last batch": v.batches[-1] if v.batches else "",
                "commit": v.short,
                "message": v.message,
            }
            for v in versions
        ]
    )


def distribution_figure(sample: pd.DataFrame, column: str, categorical: bool):
    """Top values of a categorical column, else a histogram."""
    if categorical:
        counts = profile.category_counts(sample[column])
        return px.bar(counts, x="value", y="count", title=f"{column}: top values")
    return px.histogram(sample, x=column, nbins=50, title=column)


def report_file_name(path: str | Path) -> str:
    """The download name of a stored report: `<batch folder>_<stage>.html`."""
    return f"{Path(path).parent.name}_{Path(path).stem}.html"


def show_run_result(result: PipelineResult) -> None:
    """Show the run's one-line message: success, warning (partial), error or info (no-op)."""
    show = {"ok": st.success, "partial": st.warning, "failed": st.error}.get(result.status, st.info)
    show(result.message)


def results_frame(reports: list[tuple[str, ValidationReport]]) -> pd.DataFrame:
    """One row per rule result of the given (batch name, report) pairs."""
    rows = [
        {
            "batch": name,
            "rule": r.rule,
            "column": r.column or "",
            "severity": r.severity,
            "status": r.status,
            "observed": "" if r.observed is None else str(r.observed),
            "threshold": r.threshold,
            "failing rows": r.failing_count,
            "message": r.message,
        }
        for name, rep in reports
        for r in rep.results
    ]
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    order = frame["status"].map({"fail": 0, "warn": 1}).fillna(2)
    return frame.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def failing_rows_expanders(reports: list[tuple[str, ValidationReport]]) -> None:
    """One expander per failing or warning result, holding its sample of offending rows."""
    for name, rep in reports:
        for r in rep.results:
            if r.status == "pass":
                continue
            where = f" on `{r.column}`" if r.column else ""
            label = f"{r.status.upper()} · {name} · {r.rule}{where}: {r.failing_count} row(s)"
            with st.expander(label):
                st.caption(r.message)
                if r.failing_rows:
                    frame = pd.DataFrame(r.failing_rows).rename(columns={"_row": "row"})
                    st.dataframe(frame.astype(str), hide_index=True, width="stretch")
                else:
                    st.caption("No row sample (the rule is about the table as a whole).")


def version_label(version: DataVersion) -> str:
    """`<id> · <date> · <rows> rows` for selectboxes."""
    return f"{version.id} · {ui.when(version.date)} · {version.rows:,} rows"
