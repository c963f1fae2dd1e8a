"""`workbench drift` and `workbench alerts`: monitoring from the command line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

# Defined before importing app.cli: app.cli imports this module at its end (see cli_models).
monitoring_app = typer.Typer(help="Monitoring: drift, performance, alerts.")

from app.cli import WorkspaceOpt, _fail_cleanly, _open, err, out  # noqa: E402 - see above

FileOpt = Annotated[Path | None, typer.Option(dir_okay=False, help="A CSV or Parquet file.")]


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
    from core.monitoring.check import run_check

    with _fail_cleanly():
        ws = _open(workspace)
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
    _print_result(result)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_json(), indent=2, default=str) + "\n")
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
) -> None:
    """Write the Evidently reports of an earlier check of the prediction log."""
    from core.monitoring.check import report_for
    from core.monitoring.history import read_history

    with _fail_cleanly():
        ws = _open(workspace)
        if check_id is None:
            table = Table("check id", "time", "window", "rows", "drift share")
            for r in reversed(read_history(ws, limit=10)):
                share = (r.get("drift") or {}).get("share")
                table.add_row(
                    r["id"], r["time"], r.get("label") or "", str(r.get("rows")), _num(share)
                )
            out.print(table)
            return
        result = report_for(ws, check_id)
    for path in (result.report, result.performance_report):
        if path:
            out.print(f"report: {path}", highlight=False)
    if result.report_error:
        err.print(f"[yellow]not written: {result.report_error}[/yellow]", highlight=False)


@monitoring_app.command("labels")
def labels_cmd(
    file: Annotated[
        Path, typer.Argument(dir_okay=False, help="CSV or Parquet: request_id, actual[, time].")
    ],
    workspace: WorkspaceOpt = None,
) -> None:
    """Import actual outcomes into the feedback log (as POST /feedback would record them)."""
    from core.monitoring.labels import import_labels

    with _fail_cleanly():
        done = import_labels(_open(workspace), file)
    out.print(done.summary(), highlight=False)


@monitoring_app.command("alerts")
def alerts_cmd(
    workspace: WorkspaceOpt = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """List the newest alerts (data pipeline and monitoring) and where they were sent."""
    from core.alerts import read_alerts

    with _fail_cleanly():
        ws = _open(workspace)
        alerts = read_alerts(ws.alerts_path, limit)
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
    out.print(table)
