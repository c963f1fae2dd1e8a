"""One monitoring check: drift + performance of a window, recorded, alerted, maybe retrained.

`run_check` is what `workbench drift`, the Drift page and the scheduler call. The reference is
the champion's profile (or a file); the current data a window of the prediction log (or a
file). Conditions that hold (dataset / prediction / target drift, performance drift) raise
alerts for those listed in `monitoring.alert_on` (a clean check resolves them); attribution
drift (the model's importance ranking on the window against the reference's, nDCG:
`core.monitoring.attribution`) is one of the conditions; whether the evidence asks for a
training run is `core.monitoring.trigger.decide_retrain` (sustained, importance-weighted drift,
attribution drift when configured, or a realized performance drop), and a recent automatic promotion
whose realized metric is clearly worse is rolled back (`core.monitoring.rollback_check`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.errors import one_line
from core.monitoring import performance as perf
from core.monitoring.attribution import AttributionDrift
from core.monitoring.drift import DriftInputError, DriftResult, check_drift
from core.monitoring.estimate import Estimate
from core.monitoring.history import conditions_held, read_history, record_check, streak
from core.monitoring.reference import PREDICTION, PROBABILITY, ReferenceProfile, build_profile
from core.monitoring.window import (
    META_COLUMNS,
    Window,
    file_window,
    log_window,
    parse_window,
    read_file,
    read_labels,
)
from core.workspace import Workspace

log = logging.getLogger(__name__)

SEVERITY = {
    "dataset_drift": "warning",
    "prediction_drift": "warning",
    "target_drift": "warning",
    "performance": "error",
    "attribution_drift": "warning",
}


@dataclass
class CheckResult:
    """What one check found and did."""

    id: str
    time: str
    window: Window
    reference: dict
    model: dict | None
    drift: DriftResult | None = None
    performance: perf.PerformanceResult | None = None
    skipped: str | None = None
    alerts: list[dict] = field(default_factory=list)
    retrain: list[dict] = field(default_factory=list)
    report: str | None = None
    report_error: str | None = None
    performance_report: str | None = None
    """The Evidently classification / regression report, when the window had labels."""
    performance_window: Window | None = None
    """The rows performance is judged on when labels arrive late
    (`monitoring.performance.label_delay`): the window ending that long earlier."""
    rollback: dict | None = None
    """The automatic-rollback verdict on a recent automatic promotion (`rollback_check`)."""
    estimate: Estimate | None = None
    """Performance estimated before labels (CBPE) or the prediction shift (`estimate`)."""
    attribution: AttributionDrift | None = None
    """The importance ranking on the window against the reference's (`attribution`)."""

    @property
    def estimated_performance(self) -> dict[str, float | None] | None:
        """Metric name -> value estimated from the window's probabilities (classifiers)."""
        return self.estimate.to_json()["metrics"] if self.estimate else None

    @property
    def attribution_json(self) -> dict | None:
        """`AttributionDrift.to_json` (nDCG, threshold, drifted, both importances, method)."""
        return self.attribution.to_json() if self.attribution else None

    @property
    def conditions(self) -> dict[str, bool]:
        """Which monitored conditions hold."""
        d, p = self.drift, self.performance
        return {
            "dataset_drift": bool(d and d.dataset_drift),
            "prediction_drift": bool(d and d.prediction_drift),
            "target_drift": bool(d and d.target_drift),
            "performance": bool(p and p.drifted),
            "attribution_drift": bool(self.attribution and self.attribution.drifted),
        }

    @property
    def fired(self) -> list[str]:
        return [name for name, held in self.conditions.items() if held]

    def to_json(self) -> dict:
        """The CLI's `--json`: the drift summary plus performance and what the check did."""
        drift = (
            self.drift.to_json()
            if self.drift
            else {
                "dataset_drift": False,
                "share": 0.0,
                "columns": {},
            }
        )
        return {
            **drift,
            "performance": self.performance.to_json() if self.performance else None,
            "estimated_performance": self.estimated_performance,
            "estimate": self.estimate.to_json() if self.estimate else None,
            "attribution_drift": self.attribution_json,
            "check_id": self.id,
            "time": self.time,
            "window": self.window.label,
            "skipped": self.skipped,
            "alerts": [a.get("kind") for a in self.alerts],
            "retrain_requested": any(r.get("requested") for r in self.retrain),
            "rollback": self.rollback,
            "report": self.report,
            "performance_report": self.performance_report,
        }

    def to_record(self) -> dict:
        """The history record."""
        notes = {}
        if self.drift:
            notes = {c.column: c.note for c in self.drift.columns.values() if c.note}
        return {
            "id": self.id,
            "time": self.time,
            "source": self.window.source,
            "label": self.window.label,
            "start": self.window.start,
            "end": self.window.end,
            "rows": len(self.window.frame),
            "model": self.model,
            "reference": self.reference,
            "skipped": self.skipped,
            "drift": self.drift.to_json() if self.drift else None,
            "notes": notes,
            "performance": self.performance.to_json() if self.performance else None,
            "performance_window": _span(self.performance_window),
            "estimated_performance": self.estimated_performance,
            "estimate": self.estimate.to_json() if self.estimate else None,
            "attribution_drift": self.attribution_json,
            "rollback": self.rollback,
            "alerts": [
                {"kind": a.get("kind"), "key": a.get("key"), "delivery": a.get("delivery")}
                for a in self.alerts
            ],
            "retrain": self.retrain,
            "report": self.report,
            "performance_report": self.performance_report,
        }


def _span(window: Window | None) -> dict | None:
    if window is None:
        return None
    return {"label": window.label, "start": window.start, "end": window.end}


def profile_from_file(ws: Workspace, path: Path) -> ReferenceProfile:
    """A reference profile of any file: every column but target, time and log columns.

    A timestamp column with configured date parts (`features.date_parts`) is profiled through
    them, computed from the file (and from the current rows the same way).
    """
    from core.monitoring.inputs import derive_spec

    cfg = ws.config
    frame = read_file(path, "reference file")
    stamps = {s.column for s in cfg.features.date_parts if s.column in frame}
    derive = derive_spec(cfg.features.model_dump(), stamps, cfg.monitoring.drift.engineered)
    skip = {cfg.target, cfg.time_column, PREDICTION, PROBABILITY, "inputs_json", *META_COLUMNS}
    skip |= stamps
    predictions = frame[[c for c in (PREDICTION, PROBABILITY) if c in frame]]
    return build_profile(
        frame,
        [c for c in frame.columns if c not in skip],
        cfg.monitoring.reference,
        derive=derive if any(derive.values()) else None,
        types=cfg.monitoring.drift.types,
        target=cfg.target,
        task=cfg.task,
        predictions=predictions if len(predictions.columns) else None,
        source={"file": str(path)},
    )


def _reference(ws: Workspace, reference: Path | None, version: str | None):
    if reference is not None:
        return profile_from_file(ws, reference), None
    from core.monitoring.profiles import load_reference

    profile = load_reference(ws, version)
    model = {"name": ws.config.model_name, "version": profile.source.get("model_version")}
    return profile, model


def run_check(
    ws: Workspace,
    window: str | None = None,
    *,
    reference: Path | None = None,
    current: Path | None = None,
    labels: Path | None = None,
    version: str | None = None,
    notify: bool | None = None,
    report: bool | None = None,
    record: bool | None = None,
    now: datetime | None = None,
    clock: datetime | None = None,
) -> CheckResult:
    """Check a window (or a file) for drift and performance, then record, alert and trigger.

    Args:
        ws: The workspace.
        window: Window of the prediction log (`24h`, `7d`, `5000`, `all`); default from config.
        reference: A reference file instead of the model version's profile.
        current: A current file instead of a window of the prediction log.
        labels: A labels file (`request_id`, `actual`) joined like feedback.
        version: Model version whose profile is the reference (default: the champion).
        notify: Raise alerts and retrain requests (default: for log windows only).
        report: Also write the Evidently HTML report (default: `monitoring.report`).
        record: Append to the check history (default: for log windows only).
        now: End of a duration window (default: now).
        clock: The time the check's incidents are kept in (opened, reminded, resolved);
            default now. `workbench simulate` passes the simulated day's time.

    Raises:
        WorkbenchError: A file cannot be read, columns do not match, or no reference exists.
    """
    cfg = ws.config.monitoring
    if current is None:
        parse_window(window or cfg.window)  # a bad window fails before the reference loads
    profile, model = _reference(ws, reference, version)
    if current is not None:
        win = file_window(current, ws.config.target)
    else:
        extra = read_labels(labels) if labels is not None else None
        win = log_window(ws, window, extra, now)
    win.frame = profile.prepare(win.frame, fill_missing=win.source == "log")
    delayed = None
    if current is None and cfg.performance.delay_seconds > 0:
        end = (now or datetime.now(UTC)) - timedelta(seconds=cfg.performance.delay_seconds)
        delayed = log_window(ws, window, extra, end)
        delayed.frame = profile.prepare(delayed.frame, fill_missing=True)
        delayed.label += f" ending {cfg.performance.label_delay} earlier (labels' delay)"
    stamp = datetime.now(UTC)
    result = CheckResult(
        f"{stamp.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}",
        stamp.isoformat(timespec="seconds"),
        win,
        profile.source,
        model,
        performance_window=delayed,
    )
    is_log = win.source == "log"
    if is_log and len(win.frame) < cfg.min_rows:
        result.skipped = (
            f"{len(win.frame)} prediction(s) in the {win.label}, fewer than "
            f"monitoring.min_rows ({cfg.min_rows}): not checked"
        )
    else:
        _evaluate(ws, profile, result)
        if report if report is not None else cfg.report:
            _write_report(ws, profile, result)
        if notify if notify is not None else is_log:
            _alert_and_trigger(ws, result, clock)
    if is_log and result.model is not None and (notify if notify is not None else True):
        from core.monitoring.rollback_check import check_auto_rollback

        result.rollback = check_auto_rollback(ws)
    if record if record is not None else is_log:
        record_check(ws, result.to_record())
    return result


def _evaluate(ws: Workspace, profile: ReferenceProfile, result: CheckResult) -> None:
    cfg = ws.config
    frame = result.window.frame
    if frame.empty:
        raise DriftInputError(f"{result.window.label}: no rows to check")
    try:
        result.drift = check_drift(profile, frame, cfg.monitoring.drift)
    except DriftInputError as exc:
        raise DriftInputError(f"{result.window.label}: {exc}") from None
    metric = cfg.monitoring.performance.metric or cfg.metric
    labelled = result.performance_window.frame if result.performance_window else frame
    result.performance = perf.evaluate(
        labelled, cfg.target, cfg.task, metric, profile.performance, cfg.monitoring.performance
    )
    result.estimate = _estimate(ws, profile, frame, metric)
    result.attribution = _attribution(ws, profile, frame)


def _attribution(ws: Workspace, profile: ReferenceProfile, frame) -> AttributionDrift | None:
    """The window's attribution drift (None, logged, when it cannot be measured)."""
    from core.monitoring.attribution import check_attribution

    try:
        return check_attribution(ws, profile, frame)
    except Exception as exc:  # noqa: BLE001 - attribution must not lose the check itself
        log.warning("attribution drift not measured: %s", one_line(exc))
        return None


def _estimate(ws: Workspace, profile: ReferenceProfile, frame, metric: str) -> Estimate | None:
    """The label-free estimate of the window (None, logged, when it cannot be made)."""
    from core.monitoring import estimate

    try:
        calibration = estimate.calibration_for(ws, profile)
        return estimate.estimate(frame, profile, calibration, ws.config.task, metric)
    except Exception as exc:  # noqa: BLE001 - an estimate must not lose the check itself
        log.warning("performance not estimated: %s", one_line(exc))
        return None


def message(result: CheckResult, condition: str) -> str:
    """One line describing a condition that holds."""
    d, p, label = result.drift, result.performance, result.window.label
    if condition == "dataset_drift":
        names = ", ".join(d.drifted[:8]) + (" ..." if len(d.drifted) > 8 else "")
        return (
            f"dataset drift in the {label}: {len(d.drifted)} of {len(d.checked)} columns "
            f"drifted ({d.share:.0%} >= {d.drift_share:.0%}): {names}"
        )
    if condition == "prediction_drift":
        return f"prediction drift in the {label}: " + ", ".join(
            f"{c.column} ({c.method} {c.score:.3g})" for c in d.prediction.values() if c.drifted
        )
    if condition == "target_drift":
        t = d.target
        return f"target drift in the {label}: {t.column} ({t.method} {t.score:.3g})"
    if condition == "attribution_drift":
        return f"attribution drift in the {label}: {result.attribution.describe()}"
    if result.performance_window is not None:
        label = result.performance_window.label
    return (
        f"performance drift in the {label}: {p.metric} {p.value:.4f} vs baseline "
        f"{p.baseline:.4f} ({p.drop:.1%} worse, more than {p.max_drop:.0%}; "
        f"{p.labelled} labelled predictions)"
    )


def _alert_and_trigger(ws: Workspace, result: CheckResult, clock: datetime | None) -> None:
    from core.alerts import raise_alert, resolve_alert
    from core.monitoring.trigger import decide_retrain

    cfg = ws.config.monitoring
    owner = (result.model or {}).get("name") or "file"
    previous = read_history(ws, limit=200) if cfg.alert_after_checks > 1 else None
    checked_by = {"performance": result.performance, "attribution_drift": result.attribution}
    for condition, held in result.conditions.items():
        checked = checked_by.get(condition, result.drift)
        if condition == "attribution_drift" and checked is not None and checked.ndcg is None:
            checked = None  # not compared (too few rows): no verdict either way
        if not held and checked is not None:  # clean: its incident, if open, resolves
            resolve_alert(
                ws,
                f"monitoring.{condition}:{owner}",
                f"no {condition.replace('_', ' ')} in check {result.id}",
                now=clock,
                check_id=result.id,
            )
    for condition in result.fired:
        if condition not in cfg.alert_on:
            continue
        if previous is not None and 1 + _held_streak(previous, condition) < cfg.alert_after_checks:
            continue  # not sustained yet (`monitoring.alert_after_checks`)
        event = raise_alert(
            ws,
            f"monitoring.{condition}",
            message(result, condition),
            SEVERITY[condition],
            key=f"monitoring.{condition}:{owner}",
            now=clock,
            check_id=result.id,
            model_version=(result.model or {}).get("version"),
        )
        result.alerts.append(event)
    result.retrain = decide_retrain(ws, result.to_record(), result.window.start, previous)


def held(record: dict) -> set[str]:
    """The conditions that held in a recorded check, attribution drift included."""
    found = conditions_held(record)
    if (record.get("attribution_drift") or {}).get("drifted"):
        found.add("attribution_drift")
    return found


def _held_streak(previous: list[dict], condition: str) -> int:
    """How many of the latest recorded log checks in a row had `condition`."""
    return streak(previous, lambda record: condition in held(record))


def report_folder(ws: Workspace, check_id: str) -> Path:
    """Where the Evidently reports of a check are written: `reports/drift/<check id>/`."""
    return ws.reports / "drift" / check_id


def report_for(ws: Workspace, check_id: str) -> CheckResult:
    """Write the Evidently reports of an earlier check of the prediction log, on demand.

    The rows are the ones the check saw (its first to its last prediction); the reference is
    the profile of the model version it checked. Nothing is alerted or added to the history.

    Raises:
        WorkbenchError: No such check, or it has no rows of the log to report on.
    """
    from core.monitoring.history import read_history
    from core.monitoring.profiles import load_reference
    from core.monitoring.window import log_between

    record = next((r for r in read_history(ws, limit=None) if r.get("id") == check_id), None)
    if record is None:
        raise DriftInputError(f"no check {check_id!r} in the history (see the Drift page)")
    if record.get("source") != "log" or record.get("skipped") or not record.get("start"):
        raise DriftInputError(
            f"check {check_id} has no rows of the prediction log to report on "
            f"({record.get('skipped') or 'a check of a file'}): run a new check instead"
        )
    version = (record.get("model") or {}).get("version")
    profile = load_reference(ws, version)
    window = log_between(ws, record["start"], record["end"], record.get("label") or check_id)
    window.frame = profile.prepare(window.frame, fill_missing=True)
    result = CheckResult(check_id, record["time"], window, profile.source, record.get("model"))
    _evaluate(ws, profile, result)
    _write_report(ws, profile, result)
    return result


def _write_report(ws: Workspace, profile: ReferenceProfile, result: CheckResult) -> None:
    """The drift report, and the performance report when the window has labels."""
    from core.monitoring.report import write_performance_report, write_report

    folder, frame, label = (
        ws.reports / "drift" / result.id,
        result.window.frame,
        result.window.label,
    )
    cfg = ws.config
    errors = []
    try:
        write_report(profile, frame, result.drift, folder / "report.html", label)
        result.report = str((folder / "report.html").relative_to(ws.root))
    except Exception as exc:  # noqa: BLE001 - a failed report must not lose the check itself
        errors.append(f"drift report: {one_line(exc)}")
    try:
        done = write_performance_report(
            profile, frame, cfg.target, cfg.task, folder / "performance.html", label
        )
        if done is not None:
            result.performance_report = str(done.relative_to(ws.root))
    except Exception as exc:  # noqa: BLE001 - as above
        errors.append(f"performance report: {one_line(exc)}")
    result.report_error = "; ".join(errors) or None
