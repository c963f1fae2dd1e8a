"""`workbench drift` and `workbench alerts`: monitoring from the command line."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from typer.core import TyperGroup

from app.cli.common import (
    JsonOpt,
    WorkspaceOpt,
    audit_cli,
    err,
    fail_cleanly,
    open_workspace,
    out,
    pick,
    print_json,
    print_table,
)
from core import access
from core.audit import EXPORT_LABELS

monitoring_app = typer.Typer(help="Monitoring: drift, performance, alerts.")
NO_CHALLENGER = (
    "only the champion answered: set serving.canary_fraction (the challenger answers that "
    "share) or serving.shadow_fraction (it also scores them in the background) and restart "
    "the API; a challenger is a gate-passing version with the `challenger` alias"
)


FileOpt = Annotated[Path | None, typer.Option(dir_okay=False, help="A CSV or Parquet file.")]
ALERT_KEYS = ("time", "severity", "kind", "message", "delivery")
INCIDENT_KEYS = (
    "id",
    "kind",
    "key",
    "severity",
    "status",
    "message",
    "opened",
    "resolved",
    "resolution",
    "notifications",
    "last_notified",
    "occurrences",
    "pending",
)


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.4g}"


def _verdict_table(result) -> Table:
    drift = result.drift
    table = Table("column", "method", "score", "threshold", "PSI", "drift")
    rows = [("", c) for c in drift.columns.values()]
    rows += [("prediction: ", c) for c in drift.prediction.values()]
    if drift.target is not None:
        rows.append(("target: ", drift.target))
    for role, c in rows:
        mark = "[red]DRIFT[/red]" if c.drifted else ("[green]ok[/green]" if c.checked else "-")
        table.add_row(
            f"{role}{c.column}",
            c.method or "skipped",
            _num(c.score),
            _num(c.threshold),
            _num(c.psi),
            mark,
        )
    return table


def _notes(result) -> list[str]:
    drift = result.drift
    verdicts = [*drift.columns.values(), *drift.prediction.values()]
    return [f"  {c.column}: {c.note}" for c in verdicts if c.note]


def _print_result(result) -> None:
    if result.skipped:
        out.print(result.skipped, highlight=False)
        return
    drift, perf = result.drift, result.performance
    out.print(_verdict_table(result))
    for line in _notes(result):
        out.print(line, highlight=False)
    verdict = "[red]YES[/red]" if drift.dataset_drift else "[green]no[/green]"
    out.print(
        f"{result.window.label}: {len(result.window.frame):,} rows vs reference of "
        f"{drift.reference_rows:,}. Dataset drift: {verdict} ({len(drift.drifted)} of "
        f"{len(drift.checked)} columns, share {drift.share:.0%}, "
        f"threshold {drift.drift_share:.0%})",
        highlight=False,
    )
    if perf is not None:
        state = "[red]DRIFT[/red]" if perf.drifted else "ok"
        drop = (
            ""
            if perf.drop is None
            else (
                f", {abs(perf.drop):.1%} {'worse' if perf.drop > 0 else 'better'} than the "
                f"baseline {_num(perf.baseline)}"
            )
        )
        note = f" ({perf.note})" if perf.note else ""
        out.print(
            f"performance: {perf.metric} {_num(perf.value)} on {perf.labelled} labelled "
            f"predictions{drop}: {state}{note}",
            highlight=False,
        )
    _print_estimate(result)
    if result.attribution is not None:
        state = "[red]DRIFT[/red]" if result.attribution.drifted else "ok"
        out.print(f"attribution: {result.attribution.describe()}: {state}", highlight=False)
    for alert in result.alerts:
        delivery = alert.get("delivery") or {}
        how = delivery.get("suppressed") or ", ".join(
            f"{k} {v}" for k, v in (delivery.get("sent") or {}).items()
        )
        out.print(f"alert {alert['kind']}: {how or 'recorded'}", highlight=False)
    for decision in result.retrain:
        state = "requested" if decision["requested"] else "not requested"
        out.print(f"retraining {state}: {decision['reason']}", highlight=False)
    if result.report:
        out.print(f"report: {result.report}", highlight=False)
    if result.performance_report:
        out.print(f"performance report: {result.performance_report}", highlight=False)
    if result.report_error:
        err.print(f"[yellow]report not written: {result.report_error}[/yellow]", highlight=False)


def _print_estimate(result) -> None:
    """Performance estimated before labels, beside the realized metric when labels arrived."""
    est = result.estimate
    if est is None:
        return
    if est.metrics:
        realized = result.performance.metrics if result.performance else {}
        table = Table("metric", "estimated", "realized")
        table.title = "Performance estimated before labels"
        for name, value in est.metrics.items():
            mark = " (watched)" if name == est.metric else ""
            table.add_row(f"{name}{mark}", _num(value), _num(realized.get(name)))
        out.print(table)
        out.print(f"  {est.calibration}; {est.assumption}", highlight=False)
    shift = est.prediction_shift
    if shift is not None:
        state = "[red]SHIFTED[/red]" if shift["shifted"] else "ok"
        out.print(
            f"prediction shift vs holdout: KS {_num(shift['ks'])} (p {_num(shift['p_value'])}), "
            f"PSI {_num(shift['psi'])}, mean {_num(shift['current_mean'])} vs "
            f"{_num(shift['reference_mean'])}: {state}",
            highlight=False,
        )
    if est.note:
        out.print(f"  estimate: {est.note}", highlight=False)


@monitoring_app.command("drift")
def drift_cmd(
    workspace: WorkspaceOpt = None,
    window: Annotated[
        str | None,
        typer.Option(help="Window of the prediction log: 24h, 7d, 90m, 5000 (rows), all."),
    ] = None,
    reference: FileOpt = None,
    current: FileOpt = None,
    labels: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="Labels file (request_id, actual) joined by id."),
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Model version whose reference is used [champion].")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", dir_okay=False, help="Write the result as JSON.")
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 1 when drift of any kind was found.")
    ] = False,
    report: Annotated[
        bool, typer.Option("--report", help="Also write the Evidently HTML report.")
    ] = False,
    notify: Annotated[
        bool | None,
        typer.Option(
            "--notify/--no-notify", help="Alert and request retraining [log windows: yes]."
        ),
    ] = None,
) -> None:
    """Check the prediction log (or a file) for drift and performance against the reference."""
    from core.files import atomic_write_json
    from core.monitoring.check import run_check

    with fail_cleanly():
        ws = open_workspace(workspace)
        with audit_cli(ws, access.RUN_DRIFT_CHECK, window or str(current or "")) as details:
            result = run_check(
                ws,
                window,
                reference=reference,
                current=current,
                labels=labels,
                version=version,
                notify=notify,
                report=report or None,
            )
            details["fired"] = list(result.fired)
    _print_result(result)
    if json_out is not None:
        atomic_write_json(json_out, result.to_json())
        out.print(f"JSON: {json_out}", highlight=False)
    if fail_on_drift and result.fired:
        err.print(f"drift found ({', '.join(result.fired)}): exit 1", highlight=False)
        raise typer.Exit(1)


@monitoring_app.command("drift-report")
def drift_report_cmd(
    check_id: Annotated[
        str | None, typer.Argument(help="A check id (none: list the recent checks).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the Evidently reports of an earlier check of the prediction log."""
    from core.monitoring.check import report_for
    from core.monitoring.history import read_history

    with fail_cleanly():
        ws = open_workspace(workspace)
        if check_id is None:
            _print_checks(list(reversed(read_history(ws, limit=10))), as_json)
            return
        result = report_for(ws, check_id)
    if as_json:
        print_json(
            {
                "check_id": check_id,
                "report": result.report,
                "performance_report": result.performance_report,
                "report_error": result.report_error,
            }
        )
        return
    for path in (result.report, result.performance_report):
        if path:
            out.print(f"report: {path}", highlight=False)
    if result.report_error:
        err.print(f"[yellow]not written: {result.report_error}[/yellow]", highlight=False)


def _print_checks(records: list[dict], as_json: bool) -> None:
    """The recent checks, newest first: a table, or JSON rows."""
    if as_json:
        print_json([_check_row(r) for r in records])
        return
    table = Table("check id", "time", "window", "rows", "drift share")
    for r in records:
        share = (r.get("drift") or {}).get("share")
        table.add_row(r["id"], r["time"], r.get("label") or "", str(r.get("rows")), _num(share))
    print_table(table)


def _check_row(record: dict) -> dict:
    drift = record.get("drift") or {}
    return {
        "id": record["id"],
        "time": record["time"],
        "window": record.get("label"),
        "rows": record.get("rows"),
        "skipped": record.get("skipped"),
        "dataset_drift": drift.get("dataset_drift"),
        "drift_share": drift.get("share"),
        "report": record.get("report"),
        "performance_report": record.get("performance_report"),
    }


@monitoring_app.command("variants")
def variants_cmd(
    workspace: WorkspaceOpt = None,
    window: Annotated[
        str | None,
        typer.Option(help="Window of the prediction log: 24h, 7d, 90m, 5000 (rows), all."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Challenger vs champion: rows, latency, agreement, realized metric per variant."""
    from core.monitoring.variants import compare_variants

    with fail_cleanly():
        comparison = compare_variants(open_workspace(workspace), window)
    if as_json:
        print_json(comparison.to_json())
        return
    if not comparison.variants:
        out.print(f"no predictions in the {comparison.label}", highlight=False)
        return
    table = Table("variant", "version", "rows", "p50 ms", "p95 ms", "agreement", comparison.metric)
    for v in comparison.variants:
        agreement = "-" if v.agreement is None else f"{v.agreement:.1%} of {v.agreement_pairs}"
        table.add_row(
            v.variant,
            f"v{v.version}",
            str(v.rows),
            _num(v.latency_p50_ms),
            _num(v.latency_p95_ms),
            agreement,
            f"{_num(v.realized)} ({v.labelled} labelled)",
        )
    print_table(table)
    out.print(f"{comparison.label}, {comparison.start} to {comparison.end}", highlight=False)
    if not comparison.challenger_traffic:
        out.print(NO_CHALLENGER, highlight=False)


class _ImportByDefault(TyperGroup):
    """`workbench labels FILE` imports (as before); `workbench labels export` exports."""

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["import", *args]
        return super().resolve_command(ctx, args)


labels_app = typer.Typer(
    cls=_ImportByDefault,
    help="Labels: `labels FILE` imports actuals; `labels export` turns them into a data batch.",
)
monitoring_app.add_typer(labels_app, name="labels")


@labels_app.command("import")
def labels_cmd(
    file: Annotated[
        Path, typer.Argument(dir_okay=False, help="CSV or Parquet: request_id, actual[, time].")
    ],
    workspace: WorkspaceOpt = None,
) -> None:
    """Import actual outcomes into the feedback log (as POST /feedback would record them)."""
    from core.monitoring.labels import import_labels

    with fail_cleanly():
        ws = open_workspace(workspace)
        with audit_cli(ws, access.IMPORT_LABELS, str(file)) as details:
            done = import_labels(ws, file)
            details["summary"] = done.summary()
    out.print(done.summary(), highlight=False)


@labels_app.command("export")
def labels_export_cmd(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Export labelled predictions (older than `sources.feedback.label_delay`) to landing/."""
    from core.data.feedback import export_labels

    with fail_cleanly():
        ws = open_workspace(workspace)
        with audit_cli(ws, EXPORT_LABELS) as details:
            summary = export_labels(ws)
            details["message"] = summary["message"]
    if as_json:
        print_json(summary)
        return
    out.print(summary["message"], highlight=False)
    if summary.get("waiting"):
        out.print(f"{summary['waiting']} label(s) wait for the label delay", highlight=False)


@monitoring_app.command("alerts")
def alerts_cmd(
    workspace: WorkspaceOpt = None,
    limit: Annotated[int, typer.Option(help="How many, open incidents first.")] = 20,
    events: Annotated[
        bool, typer.Option("--events", help="The raw alert event log instead, newest first.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List incidents (open first, then resolved) and their notifications; or the event log."""
    from core.alerts import read_alerts
    from core.incidents import read_incidents

    with fail_cleanly():
        ws = open_workspace(workspace)
        rows = read_alerts(ws.alerts_path, limit) if events else read_incidents(ws)[:limit]
    if events:
        _print_events(rows, as_json)
    elif as_json:
        print_json([pick(r, INCIDENT_KEYS) | {"pending": _pending(r)} for r in rows])
    elif not rows:
        out.print("no incidents yet")
    else:
        table = Table("status", "kind", "key", "opened", "resolved", "sent", "message")
        for r in rows:
            pending = r.get("pending")
            sent = str(r["notifications"]) + (f" ({pending['notice']} pending)" if pending else "")
            table.add_row(
                r["status"],
                r["kind"],
                r["key"],
                r["opened"],
                r.get("resolved") or "",
                sent,
                r.get("resolution") or r["message"],
            )
        print_table(table)


def _pending(incident: dict) -> dict | None:
    pending = incident.get("pending")
    return {k: v for k, v in pending.items() if k != "event"} if pending else None


def _print_events(alerts: list[dict], as_json: bool) -> None:
    if as_json:
        print_json([_alert_row(a) for a in alerts])
        return
    if not alerts:
        out.print("no alerts yet")
        return
    table = Table("time", "severity", "kind", "message", "delivery")
    for a in alerts:
        delivery = a.get("delivery") or {}
        sent = delivery.get("suppressed") or ", ".join(
            f"{k} {v}" for k, v in (delivery.get("sent") or {}).items()
        )
        table.add_row(a.get("time", ""), a.get("severity", ""), a["kind"], a["message"], sent)
    print_table(table)


def _alert_row(alert: dict) -> dict:
    details = {k: v for k, v in alert.items() if k not in ALERT_KEYS}
    return pick(alert, ALERT_KEYS) | {"details": details}
