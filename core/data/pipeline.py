"""`workbench data run`: the data pipeline over every new batch.

ingest → validate raw → clean the batch (casts, target-less rows, duplicates) → validate
processed → the model's own cleaning + feature steps (`model_front`) → validate features →
version. Bad batches are quarantined; the last good version is untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from core.alerts import raise_alert, resolve_alert
from core.data import versioning
from core.data.ingest import Batch, Manifest, discover_landing, discover_sql
from core.data.readers import read_table
from core.data.validation import ValidationReport, validate_frame, write_report
from core.errors import DataReadError, PipelineBusy, WorkbenchError
from core.files import atomic_write, atomic_write_json, utc_now_iso
from core.workspace import Workspace

log = logging.getLogger(__name__)
Progress = Callable[[float, str], None]
STAGES = ("raw", "processed", "features")


@dataclass
class BatchOutcome:
    """What happened to one batch."""

    batch_id: str
    name: str
    source: str
    status: str  # accepted | quarantined
    rows: int = 0
    stage: str | None = None  # the stage that rejected it
    reason: str | None = None
    reports: dict[str, str] = field(default_factory=dict)  # stage -> JSON report path
    warnings: int = 0


@dataclass
class PipelineResult:
    """The run record, also written to `.workbench/runs/<run_id>.json`."""

    run_id: str
    started_at: str
    status: str = "running"  # noop | ok | partial | failed
    message: str = ""
    finished_at: str | None = None
    duration_s: float = 0.0
    batches: list[BatchOutcome] = field(default_factory=list)
    version: dict | None = None

    @property
    def accepted(self) -> list[BatchOutcome]:
        return [b for b in self.batches if b.status == "accepted"]

    @property
    def rejected(self) -> list[BatchOutcome]:
        return [b for b in self.batches if b.status == "quarantined"]

    def to_dict(self) -> dict:
        return asdict(self)


def _noop(_: float, __: str) -> None:
    return None


@contextlib.contextmanager
def pipeline_lock(ws: Workspace):
    """Hold an exclusive lock so the UI, CLI and scheduler never run the pipeline at once."""
    ws.state.mkdir(parents=True, exist_ok=True)
    with (ws.state / "pipeline.lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PipelineBusy(
                f"another data pipeline run holds {ws.state / 'pipeline.lock'}; try again later"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_pipeline(ws: Workspace, progress: Progress | None = None) -> PipelineResult:
    """Run the whole data pipeline once over every new batch (one run at a time)."""
    with pipeline_lock(ws):
        return _run(ws, progress or _noop)


def validate_table(ws: Workspace, frame: pd.DataFrame, stage: str, source: str):
    """Validate a frame ad hoc against a stage's rules, as the pipeline would."""
    if stage not in STAGES:
        raise WorkbenchError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")
    return validate_frame(
        frame,
        getattr(ws.config.validation, stage),
        stage=stage,
        source=source,
        failing_rows=ws.config.validation.failing_rows,
        previous_max=_previous_max(versioning.current_meta(ws)),
    )


def _previous_max(meta: dict) -> dict[str, pd.Timestamp]:
    """Newest value per datetime column in the last good version (for freshness rules)."""
    return {k: pd.Timestamp(v) for k, v in meta.get("column_max", {}).items()}


def _run(ws: Workspace, progress: Progress) -> PipelineResult:
    started = time.perf_counter()
    result = PipelineResult(run_id=uuid.uuid4().hex[:12], started_at=utc_now_iso("seconds"))
    manifest = Manifest(ws.manifest_path)
    progress(0.02, "looking for new batches")
    batches = discover_landing(ws, manifest) + discover_sql(ws, manifest)
    if not batches:
        result.status, result.message = "noop", "no new data: nothing to ingest"
        return _finish(ws, result, started)
    meta = versioning.current_meta(ws)
    previous_max = _previous_max(meta)
    frames: list[tuple[pd.DataFrame, pd.DataFrame]] = []
    for i, batch in enumerate(batches):
        progress(0.05 + 0.75 * i / len(batches), f"validating {batch.name}")
        outcome, processed, features = _process_batch(ws, batch, previous_max)
        result.batches.append(outcome)
        manifest.record(
            Manifest.key(batch.source, batch.name, batch.sha256), **_manifest_fields(batch, outcome)
        )
        if outcome.status == "accepted":
            frames.append((processed, features))
    if frames:
        progress(0.85, f"versioning {len(frames)} batch(es) with DVC")
        result.version = _version(ws, result, frames, meta)
        for b in result.accepted:
            manifest.record(
                Manifest.key(b.source, b.name, _sha(batches, b)), version=result.version["id"]
            )
    manifest.save()
    _summarise(result)
    progress(1.0, result.message)
    return _finish(ws, result, started)


def _sha(batches: list[Batch], outcome: BatchOutcome) -> str:
    return next(b.sha256 for b in batches if b.batch_id == outcome.batch_id)


def _manifest_fields(batch: Batch, outcome: BatchOutcome) -> dict:
    return {
        "name": batch.name,
        "source": batch.source,
        "sha256": batch.sha256,
        "batch_id": batch.batch_id,
        "raw_path": batch.raw_path,
        "status": outcome.status,
        "reason": outcome.reason,
        "rows": outcome.rows,
        "ingested_at": utc_now_iso("seconds"),
        "watermark": batch.watermark,
    }


def _process_batch(ws: Workspace, batch: Batch, previous_max: dict):
    from core.data.preprocess import clean_batch, model_front  # sklearn: only when there is work

    cfg = ws.config
    outcome = BatchOutcome(batch.batch_id, batch.name, batch.source, "accepted")
    report_dir = ws.reports / "validation" / batch.batch_id
    try:
        frame = read_table(Path(batch.raw_path))
    except DataReadError as exc:
        reason = str(exc).replace(Path(batch.raw_path).name, batch.name)
        return _reject(ws, batch, outcome, "raw", reason, None), None, None
    outcome.rows = len(frame)
    processed = features = None
    for stage in STAGES:
        if stage == "processed":
            frame = processed = clean_batch(frame, cfg)
        elif stage == "features":
            try:
                # the model's own cleaning + feature steps (fences fitted on this batch here;
                # a model fits them on its training rows)
                frame = features = model_front(cfg).fit_transform(processed)
            except KeyError as exc:
                reason = f"{batch.name}: features: source column {exc} is missing"
                return _reject(ws, batch, outcome, stage, reason, None), None, None
        report = validate_frame(
            frame,
            getattr(cfg.validation, stage),
            stage=stage,
            source=batch.name,
            failing_rows=cfg.validation.failing_rows,
            previous_max=previous_max,
        )
        json_path, _ = write_report(report, report_dir, stage)
        outcome.reports[stage] = str(json_path)
        outcome.warnings += sum(r.status == "warn" for r in report.results)
        if report.status == "fail":
            return _reject(ws, batch, outcome, stage, report.summary_line(), report), None, None
    return outcome, processed, features


def _reject(
    ws: Workspace,
    batch: Batch,
    outcome: BatchOutcome,
    stage: str,
    reason: str,
    report: ValidationReport | None,
) -> BatchOutcome:
    """Quarantine a batch with its report and reason, record an alert event."""
    outcome.status, outcome.stage, outcome.reason = "quarantined", stage, reason
    target = ws.quarantine / batch.batch_id
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(batch.raw_path, target / batch.name)
    if report is not None:
        write_report(report, target, f"report_{stage}")
    atomic_write_json(
        target / "reason.json",
        {
            "batch_id": batch.batch_id,
            "name": batch.name,
            "source": batch.source,
            "stage": stage,
            "reason": reason,
            "quarantined_at": utc_now_iso("seconds"),
            "reports": outcome.reports,
        },
    )
    raise_alert(
        ws,
        "data.batch_rejected",
        reason,
        key=f"data.batch_rejected:{batch.name}",
        batch=batch.name,
        stage=stage,
        batch_id=batch.batch_id,
    )
    return outcome


def _atomic_parquet(df: pd.DataFrame, dest: Path) -> None:
    atomic_write(dest, lambda tmp: df.to_parquet(tmp, index=False))


def _version(ws: Workspace, result: PipelineResult, frames: list, meta: dict) -> dict:
    """Append accepted batches to processed/features and commit a new data version."""
    cfg = ws.config
    parts_p = [pd.read_parquet(ws.processed_file)] if ws.processed_file.exists() else []
    parts_f = [pd.read_parquet(ws.features_file)] if ws.features_file.exists() else []
    processed = pd.concat(parts_p + [p for p, _ in frames], ignore_index=True)
    features = pd.concat(parts_f + [f for _, f in frames], ignore_index=True)
    if cfg.time_column and cfg.time_column in features.columns:
        processed = processed.sort_values(cfg.time_column, kind="stable", ignore_index=True)
        features = features.sort_values(cfg.time_column, kind="stable", ignore_index=True)
    names = [b.name for b in result.accepted]
    new_meta = {
        "rows": len(features),
        "columns": len(features.columns),
        "run_id": result.run_id,
        "batches": list(meta.get("batches", [])) + names,
        "column_max": {
            c: str(features[c].max())
            for c in features.columns
            if pd.api.types.is_datetime64_any_dtype(features[c])
        },
        "created_at": utc_now_iso("seconds"),
    }
    listed = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
    try:
        _atomic_parquet(processed, ws.processed_file)
        _atomic_parquet(features, ws.features_file)
        version = versioning.commit_version(
            ws, new_meta, f"data: {len(names)} batch(es): {listed}", push=cfg.versioning.push
        )
    except (WorkbenchError, OSError) as exc:
        versioning.restore_last_version(ws)
        raise_alert(ws, "data.versioning_failed", str(exc))
        raise
    resolve_alert(ws, "data.versioning_failed", f"data version {version.id} committed")
    for name in names:  # a batch accepted under a name once rejected closes that incident
        resolve_alert(ws, f"data.batch_rejected:{name}", f"batch {name} accepted")
    return version.to_dict()


def _summarise(result: PipelineResult) -> None:
    acc, rej = result.accepted, result.rejected
    if rej and not acc:
        result.status = "failed"
    elif rej:
        result.status = "partial"
    else:
        result.status = "ok"
    parts = []
    if acc:
        parts.append(f"{len(acc)} batch(es) accepted as data version {result.version['id']}")
    if rej:
        parts.append(
            f"{len(rej)} quarantined: {rej[0].reason}"
            + (f" (+{len(rej) - 1} more)" if len(rej) > 1 else "")
        )
    result.message = "; ".join(parts)


def _finish(ws: Workspace, result: PipelineResult, started: float) -> PipelineResult:
    result.finished_at = utc_now_iso("seconds")
    result.duration_s = round(time.perf_counter() - started, 3)
    path = ws.runs_dir / f"{result.started_at.replace(':', '')}_{result.run_id}.json"
    atomic_write_json(path, result.to_dict())
    return result


def _read_records(paths: list[Path]) -> list[dict]:
    """Parse JSON records, skipping (and logging) any that are corrupt rather than failing."""
    records = []
    for path in paths:
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            log.warning("skipping unreadable record %s: %s", path, exc)
    return records


def list_runs(ws: Workspace, limit: int = 50) -> list[dict]:
    """Recent pipeline run records, newest first."""
    if not ws.runs_dir.is_dir():
        return []
    return _read_records(sorted(ws.runs_dir.glob("*.json"), reverse=True)[:limit])


def latest_batch_run(runs: list[dict]) -> dict | None:
    """The newest run that processed at least one batch (no-op runs have none)."""
    return next((r for r in runs if r.get("batches")), None)


def list_quarantine(ws: Workspace) -> list[dict]:
    """Quarantined batches with their reasons, newest first."""
    if not ws.quarantine.is_dir():
        return []
    items = _read_records(list(ws.quarantine.glob("*/reason.json")))
    return sorted(items, key=lambda d: d.get("quarantined_at", ""), reverse=True)
