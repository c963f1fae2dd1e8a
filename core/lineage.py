"""Lineage of one model version: a graph of where it came from and where it went.

Back: the MLflow run that produced it (params, metrics), the data version it was trained on
(the workspace repo's git commit and the DVC md5s of the processed and features files), the
raw batches that data version was built from and their validation reports. Forward: its
promotions and rollbacks (the audit log), the API instances that served it, its predictions
per day (the prediction log) and the incidents that name it or opened while it was champion.

What each hop is read from, and its limits:

- run: the version's `run_id`; the data version from the run's `data_commit` / `data_md5` tags.
- batches: the data version's `data/version.json` (git) lists the batch names in it; the
  ingestion manifest (`.workbench/manifest.json`) gives each accepted batch's id, rows and raw
  copy, and `reports/validation/<batch id>/<stage>.json` its reports (local, not in git).
- serving: the prediction log records no instance or host, so the API instances are what the
  audit log says: the `start services` (API), `roll out a deployment` and `roll back a
  deployment` events in force while the version was champion (the last one before a window
  started and every one inside it), and the `reload the served model` events that loaded it.
  The log's variants (champion / challenger / shadow) and client names are on the day nodes;
  smoke-test rows (variant `smoke`) are not traffic: not counted, only their number noted.
- incidents: those whose alert events carry `model_version` = the version, and those naming no
  version that opened while it was champion. Champion windows come from the promotion records;
  audit events are placed in them by their position in the audit log (exact within one
  second), incidents by time (to the second).

`build_lineage` returns a `Lineage` (nodes and edges, JSON-safe); `text_lines` renders one hop
per line with its kind first. Nodes carry a `link`: `{"url": ...}` for MLflow, or `{"page":
..., "query": {...}}` for a workbench page; the UI maps pages to its files.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from core.errors import ModelNotFound, VersioningError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from core.workspace import Workspace

KINDS = (
    "model_version",
    "run",
    "data_version",
    "data_file",
    "batch",
    "report",
    "promotion",
    "serving",
    "predictions",
    "incident",
)
"""Node kinds, in the order they are listed (back from the version, then forward)."""
MLFLOW_UI_ENV = "WORKBENCH_MLFLOW_UI_URL"
DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"
"""Where `mlflow ui --backend-store-uri sqlite:///<ws>/mlflow.db` serves by default."""
SERVING_ACTIONS = ("start services", "roll out a deployment", "roll back a deployment")
RELOAD_ACTION = "reload the served model"


@dataclass
class Node:
    """One hop: `kind`, a one-line `label` for humans, its facts, and where it links to."""

    id: str
    kind: str
    label: str
    attrs: dict = field(default_factory=dict)
    link: dict | None = None


@dataclass
class Edge:
    """`source` → `target` in the direction data flows (batch → data version → run → ...)."""

    source: str
    target: str
    relation: str


@dataclass
class Lineage:
    """The lineage graph of one model version."""

    model: str
    version: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Hops that could not be followed, and why (one line each)."""

    @property
    def root(self) -> str:
        return f"model_version:{self.model}/{self.version}"

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    def add(self, node: Node, source: str | None = None, relation: str = "", target=None) -> Node:
        """Add `node` (once) with an edge from `source` (or to `target`) when given."""
        if all(n.id != node.id for n in self.nodes):
            self.nodes.append(node)
        if source is not None:
            self.edges.append(Edge(source, node.id, relation))
        if target is not None:
            self.edges.append(Edge(node.id, target, relation))
        return node

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "version": self.version,
            "root": self.root,
            "nodes": [asdict(n) for n in self.ordered()],
            "edges": [asdict(e) for e in self.edges],
            "notes": list(self.notes),
        }

    def ordered(self) -> list[Node]:
        """Nodes by kind (`KINDS` order), each kind in the order it was added."""
        return sorted(self.nodes, key=lambda n: KINDS.index(n.kind))


def text_lines(lineage: Lineage) -> list[str]:
    """One line per hop, `<kind> <label>` (the kind padded), then `note` lines."""
    width = max(len(k) for k in KINDS)
    lines = [f"{n.kind:<{width}}  {n.label}" for n in lineage.ordered()]
    return lines + [f"{'note':<{width}}  {note}" for note in lineage.notes]


def mlflow_ui_url(ws: Workspace) -> str:
    """The MLflow UI to link to: `WORKBENCH_MLFLOW_UI_URL`, an HTTP tracking URI, or the default."""
    explicit = os.environ.get(MLFLOW_UI_ENV, "").strip()
    if explicit:
        return explicit.rstrip("/")
    uri = ws.tracking_uri
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else DEFAULT_MLFLOW_UI


def resolve_version(ws: Workspace, name: str, version: str | None) -> str:
    """The version to follow: `version` checked in the registry, else the champion.

    Raises:
        ModelNotFound: `name` is not the workspace's model, the version does not exist, or no
            version was named and there is no champion.
    """
    from core.registry import store

    expected = ws.config.model_name
    if name != expected:
        raise ModelNotFound(f"unknown model '{name}': this workspace's model is '{expected}'")
    if ws.tracking_uri.startswith("sqlite:") and not ws.mlflow_db.is_file():
        raise ModelNotFound(f"no registered model '{name}' yet: run `workbench train` first")
    client = store.registry_client(ws)
    if version is not None:
        return str(store.get_version(client, name, version).version)
    champion = store.champion_version(client, name)
    if champion is None:
        if not client.search_registered_models(filter_string=f"name = '{name}'"):
            raise ModelNotFound(f"no registered model '{name}' yet: run `workbench train` first")
        raise ModelNotFound(f"model '{name}' has no champion: name a version")
    return champion


def version_choices(ws: Workspace) -> tuple[list[str], str | None]:
    """The model's version numbers, newest first, and the champion (([], None): none yet)."""
    from core.registry import store

    if ws.tracking_uri.startswith("sqlite:") and not ws.mlflow_db.is_file():
        return [], None
    client = store.registry_client(ws)
    name = ws.config.model_name
    found = client.search_model_versions(f"name = '{name}'")
    versions = sorted((str(mv.version) for mv in found), key=int, reverse=True)
    return versions, store.champion_version(client, name) if versions else None


def build_lineage(ws: Workspace, name: str, version: str | None = None) -> Lineage:
    """Follow `name` `version` (the champion when None) back and forward; see the module doc."""
    from core.audit import read_events
    from core.registry import store

    v = resolve_version(ws, name, version)
    client = store.registry_client(ws)
    mv = store.get_version(client, name, v)
    lineage = Lineage(name, v)
    ui = mlflow_ui_url(ws)
    created = _iso_ms(mv.creation_timestamp)
    aliases = sorted(store.aliases(client, name).items())
    tags = dict(mv.tags or {})
    lineage.add(
        Node(
            lineage.root,
            "model_version",
            f"{name} v{v}"
            + "".join(f" @{a}" for a, av in aliases if av == v)
            + f" registered {created} gates={tags.get('gates.status', 'not evaluated')}",
            {
                "name": name,
                "version": v,
                "aliases": [a for a, av in aliases if av == v],
                "created": created,
                "gates": tags.get("gates.status"),
                "data_version": tags.get("data_version"),
                "run_id": store.version_run_id(mv),
            },
            {"url": f"{ui}/#/models/{quote(name, safe='')}/versions/{v}"},
        )
    )
    run_tags = _run(lineage, client, store.version_run_id(mv), ui)
    _data(ws, lineage, run_tags or tags)
    log = list(reversed(read_events(ws)))  # the audit log, oldest first
    windows = _promotions(ws, lineage, log)
    _serving(ws, lineage, log, windows)
    _predictions(ws, lineage, mv.creation_timestamp)
    _incidents(ws, lineage, windows)
    return lineage


# --- back: run, data version, batches --------------------------------------------------------


def _run(lineage: Lineage, client, run_id: str | None, ui: str) -> dict:
    """The training run node; returns its tags (the data version is read from them)."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        lineage.notes.append("the version names no run: its training run cannot be followed")
        return {}
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        lineage.notes.append(f"run {run_id} is not in the tracking store: {exc.message}")
        return {}
    data, info = run.data, run.info
    tags = dict(data.tags)
    metrics = {k: round(val, 6) for k, val in sorted(data.metrics.items())}
    shown = {k: val for k, val in metrics.items() if k.startswith("test_")}
    lineage.add(
        Node(
            f"run:{run_id}",
            "run",
            f"{run_id} {info.run_name or ''} "
            + " ".join(f"{k}={val:.4g}" for k, val in shown.items())
            + f" {ui}/#/experiments/{info.experiment_id}/runs/{run_id}",
            {
                "run_id": run_id,
                "run_name": info.run_name,
                "experiment_id": info.experiment_id,
                "status": info.status,
                "start": _iso_ms(info.start_time),
                "params": dict(sorted(data.params.items())),
                "metrics": metrics,
                "candidate": tags.get("workbench.candidate"),
                "parent_run_id": tags.get("mlflow.parentRunId"),
                "refit_of": tags.get("workbench.refit_of"),
                "code_version": tags.get("code_version"),
            },
            {"url": f"{ui}/#/experiments/{info.experiment_id}/runs/{run_id}"},
        ),
        target=lineage.root,
        relation="produced",
    )
    return tags


def _data(ws: Workspace, lineage: Lineage, tags: dict) -> None:
    """The data version (git commit + DVC md5s) and the batches it was built from."""
    from core.data import versioning

    version_id, commit = tags.get("data_version"), tags.get("data_commit")
    run_node = next((n.id for n in lineage.of_kind("run")), lineage.root)
    if not version_id and not commit:
        lineage.notes.append("neither the run nor the version names a data version")
        return
    meta, date, subject = {}, None, ""
    try:
        if not commit:  # older runs: only `<commit8>-<md5_8>`; git expands the prefix
            commit = versioning.run(
                ["git", "rev-parse", version_id.split("-", 1)[0]], ws.root
            ).strip()
        meta = json.loads(versioning.run(["git", "show", f"{commit}:data/version.json"], ws.root))
        date, subject = (
            versioning.run(["git", "show", "-s", "--format=%cI%x09%s", commit], ws.root)
            .strip()
            .split("\t", 1)
        )
    except (VersioningError, ValueError) as exc:
        lineage.notes.append(
            f"data version {version_id or commit} is not in the workspace's git history: {exc}"
        )
    md5 = meta.get("md5") or tags.get("data_md5") or ""
    data_id = f"data:{commit or version_id}"
    lineage.add(
        Node(
            data_id,
            "data_version",
            f"{version_id or (commit or '')[:8]} commit={commit} rows={meta.get('rows', '?')}"
            f" batches={len(meta.get('batches', []))} committed={date or '?'}",
            {
                "id": version_id,
                "commit": commit,
                "date": date,
                "message": subject,
                "rows": meta.get("rows"),
                "md5": md5,
                "processed_md5": meta.get("processed_md5"),
                "batches": list(meta.get("batches", [])),
                "pipeline_run": meta.get("run_id"),
            },
            {"page": "data", "query": {"tab": "Versions"}},
        ),
        target=run_node,
        relation="trained",
    )
    files = {
        ws.processed_file.relative_to(ws.root).as_posix(): meta.get("processed_md5"),
        ws.features_file.relative_to(ws.root).as_posix(): md5,
    }
    for path, digest in files.items():
        if digest:
            lineage.add(
                Node(
                    f"file:{path}@{digest}",
                    "data_file",
                    f"{path} md5={digest} (DVC)",
                    {"path": path, "md5": digest, "dvc_file": f"{path}.dvc", "commit": commit},
                    {"page": "data", "query": {"tab": "Profile"}},
                ),
                target=data_id,
                relation="part_of",
            )
    _batches(ws, lineage, meta.get("batches", []), date, data_id)


def _batches(ws: Workspace, lineage: Lineage, names: list[str], until, data_id: str) -> None:
    """Each batch of the data version with its validation reports (from the manifest)."""
    from core.data.ingest import Manifest

    accepted: dict[str, list[dict]] = {}
    for entry in Manifest(ws.manifest_path).entries.values():
        if entry.get("status") == "accepted":
            accepted.setdefault(entry.get("name"), []).append(entry)
    missing = []
    for name in names:
        entries = sorted(accepted.get(name, []), key=lambda e: e.get("ingested_at") or "")
        # a name accepted twice (a file re-landed with new content): the newest before the commit
        before = [e for e in entries if not until or (e.get("ingested_at") or "") <= until]
        entry = (before or entries or [None])[-1]
        if entry is None:
            missing.append(name)
            continue
        batch_id = entry.get("batch_id") or name
        node = lineage.add(
            Node(
                f"batch:{batch_id}",
                "batch",
                f"{name} id={batch_id} source={entry.get('source')} rows={entry.get('rows')}"
                f" ingested={entry.get('ingested_at')} first_version={entry.get('version')}",
                {
                    "batch_id": batch_id,
                    "name": name,
                    "source": entry.get("source"),
                    "rows": entry.get("rows"),
                    "sha256": entry.get("sha256"),
                    "raw_path": entry.get("raw_path"),
                    "ingested_at": entry.get("ingested_at"),
                    "first_version": entry.get("version"),
                },
                {"page": "data", "query": {"tab": "Validation", "batch": batch_id}},
            ),
            target=data_id,
            relation="built",
        )
        reports = (ws.reports / "validation" / batch_id).glob("*.json")
        for path in sorted(reports, key=lambda p: _stage_order(p.stem)):
            status, summary = _report_status(path)
            stage = path.stem
            lineage.add(
                Node(
                    f"report:{batch_id}/{stage}",
                    "report",
                    f"{name} {stage} {status} {path.relative_to(ws.root).as_posix()}",
                    {"batch_id": batch_id, "stage": stage, "status": status, "path": str(path)}
                    | summary,
                    {"page": "data", "query": {"tab": "Validation", "batch": batch_id}},
                ),
                target=node.id,
                relation="validated",
            )
    if missing:
        lineage.notes.append(
            f"{len(missing)} batch(es) of the data version are not in this workspace's ingestion "
            f"manifest (ingested elsewhere): {', '.join(missing[:5])}"
        )


def _stage_order(stage: str) -> tuple[int, str]:
    """Reports in pipeline order (raw, processed, features), any other stage after them."""
    from core.data.pipeline import STAGES

    return (STAGES.index(stage) if stage in STAGES else len(STAGES), stage)


def _report_status(path: Path) -> tuple[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unreadable", {}
    results = data.get("results", [])
    return str(data.get("status", "?")), {
        "rows": data.get("n_rows"),
        "failed": sum(r.get("status") == "fail" for r in results),
        "warned": sum(r.get("status") == "warn" for r in results),
    }


# --- forward: promotions, serving, predictions, incidents -------------------------------------


@dataclass
class Window:
    """A stretch of time the version was champion: from `start` to `end` (None: still is).

    `start_at` / `end_at`: the positions of the promotion events in the audit log (None for a
    legacy record), which order the log's other events exactly even within one second.
    """

    start: str
    end: str | None = None
    start_at: int | None = None
    end_at: int | None = None

    def holds(self, time: str | None) -> bool:
        """True when `time` falls in the window (by time; `start` inclusive)."""
        if not time:
            return False
        moment = _utc(time)
        return _utc(self.start) <= moment and (self.end is None or moment < _utc(self.end))

    def before(self, position: int, time: str) -> bool:
        """True when an audit event came before the window opened."""
        if self.start_at is not None:
            return position < self.start_at
        return _utc(time) <= _utc(self.start)

    def inside(self, position: int, time: str) -> bool:
        """True when an audit event came while the window was open."""
        after = position > self.start_at if self.start_at is not None else not self.before(0, time)
        if self.end is None:
            return after
        if self.end_at is not None:
            return after and position < self.end_at
        return after and _utc(time) < _utc(self.end)


def _promotions(ws: Workspace, lineage: Lineage, log: list[dict]) -> list[Window]:
    """Promotion records naming the version; returns the windows it was champion."""
    from core.registry.audit import read_audit
    from core.registry.history import PUSHES, ROLLBACK

    v = lineage.version
    records = read_audit(ws, lineage.model)
    at = {
        (e.get("details") or {}).get("audit_id"): i
        for i, e in enumerate(log)
        if e.get("source") == "registry"
    }
    windows: list[Window] = []
    champion = None
    for r in reversed(records):  # oldest first: who is champion after each record
        to = str(r.get("to_version"))
        if r.get("action") in PUSHES or r.get("action") == ROLLBACK:
            if champion == v and to != v:
                windows[-1].end, windows[-1].end_at = _record_time(r), at.get(r.get("id"))
            if to == v and champion != v:
                windows.append(Window(_record_time(r), start_at=at.get(r.get("id"))))
            champion = to
    for r in reversed(records):
        to, frm = str(r.get("to_version")), str(r.get("from_version") or "")
        if v not in (to, frm):
            continue
        action = r.get("action")
        lineage.add(
            Node(
                f"promotion:{r.get('id')}",
                "promotion",
                f"{r.get('time')} {action} v{frm or '-'} -> v{to} by {r.get('actor')}"
                + (" (forced)" if r.get("forced") else "")
                + f": {r.get('reason')}",
                {
                    "id": r.get("id"),
                    "time": r.get("time"),
                    "action": action,
                    "from_version": r.get("from_version"),
                    "to_version": r.get("to_version"),
                    "actor": r.get("actor"),
                    "forced": bool(r.get("forced")),
                    "reason": r.get("reason"),
                },
                {"page": "models", "query": {}},
            ),
            source=lineage.root,
            relation="promoted" if to == v else "replaced",
        )
    return windows


def _serving(ws: Workspace, lineage: Lineage, log: list[dict], windows: list[Window]) -> None:
    """API instances from the audit log: starts/rollouts in force while champion, reloads to it."""
    from core.audit import OK

    events = [
        (i, e)
        for i, e in enumerate(log)
        if e.get("outcome") == OK and e.get("action") in (*SERVING_ACTIONS, RELOAD_ACTION)
    ]
    starts = [
        (i, e)
        for i, e in events
        if e.get("action") != RELOAD_ACTION
        and (e.get("action") != "start services" or "api" in str(e.get("target", "")).split(", "))
    ]
    chosen: dict[int, str] = {}
    for window in windows:
        before = [i for i, e in starts if window.before(i, e["time"])]
        if before:
            chosen[before[-1]] = "running when it became champion"
        chosen |= {i: "started while champion" for i, e in starts if window.inside(i, e["time"])}
    chosen |= {
        i: "loaded it"
        for i, e in events
        if e.get("action") == RELOAD_ACTION
        and str((e.get("details") or {}).get("version")) == lineage.version
    }
    for position, why in sorted(chosen.items()):
        event = log[position]
        details = event.get("details") or {}
        where = ", ".join(
            f"{k}={details[k]}" for k in ("image", "port", "live") if details.get(k) is not None
        )
        lineage.add(
            Node(
                f"serving:{position}",
                "serving",
                f"{event['time']} {event['action']} {event.get('target') or ''}"
                f" ({event.get('source')}, {event.get('actor')}{', ' + where if where else ''})"
                f": {why}",
                {
                    "time": event["time"],
                    "action": event["action"],
                    "target": event.get("target"),
                    "actor": event.get("actor"),
                    "source": event.get("source"),
                    "why": why,
                    "details": details,
                    "audit_position": position,
                },
                {"page": "serving", "query": {}},
            ),
            source=lineage.root,
            relation="served_by",
        )


def _predictions(ws: Workspace, lineage: Lineage, created_ms: int | None) -> None:
    """One node per UTC day with the version's prediction count (by variant, by client)."""
    from core.monitoring.window import SMOKE
    from core.predictions.readers import prediction_log_source, read_predictions

    since = _iso_ms(created_ms) if created_ms else None
    try:
        frame = read_predictions(prediction_log_source(ws), since=since)
    except Exception as exc:  # noqa: BLE001 - an unreadable log is a note, not a failed lineage
        lineage.notes.append(f"the prediction log cannot be read: {exc}")
        return
    if frame.empty:
        return
    mine = frame[
        (frame["model_name"] == lineage.model)
        & (frame["model_version"].astype(str) == lineage.version)
    ]
    if mine.empty:
        return
    days = mine["time"].astype(str).str.slice(0, 10)
    for day, logged in mine.groupby(days, sort=True):
        smoke = logged["variant"].astype(str) == SMOKE  # a smoke test's rows: not traffic
        rows = logged[~smoke]
        if rows.empty:
            continue
        variants = rows["variant"].astype(str).value_counts().sort_index().to_dict()
        clients = rows["client"].dropna().astype(str).value_counts().sort_index().to_dict()
        lineage.add(
            Node(
                f"predictions:{day}",
                "predictions",
                f"{day} count={len(rows)} "
                + " ".join(f"{k}={n}" for k, n in variants.items())
                + (" clients=" + ",".join(clients) if clients else "")
                + (f" (smoke test: {int(smoke.sum())}, not counted)" if smoke.any() else ""),
                {
                    "day": day,
                    "count": int(len(rows)),
                    "variants": {k: int(n) for k, n in variants.items()},
                    "clients": {k: int(n) for k, n in clients.items()},
                    "smoke": int(smoke.sum()),
                    "first": str(rows["time"].min()),
                    "last": str(rows["time"].max()),
                },
                {"page": "serving", "query": {}},
            ),
            source=lineage.root,
            relation="answered",
        )


def _incidents(ws: Workspace, lineage: Lineage, windows: list[Window]) -> None:
    """Incidents whose alerts name the version, and those opened while it was champion.

    An incident whose alerts name other versions only is theirs, whenever it opened.
    """
    from core.files import read_jsonl
    from core.incidents import read_incidents

    named: dict[str, set[str]] = {}
    for event in read_jsonl(ws.alerts_path):
        if event.get("incident") and event.get("model_version") is not None:
            named.setdefault(str(event["incident"]), set()).add(str(event["model_version"]))
    for incident in sorted(read_incidents(ws), key=lambda r: r["opened"]):
        versions = named.get(incident["id"], set())
        if lineage.version in versions:
            why = "names it"
        elif not versions and any(w.holds(incident["opened"]) for w in windows):
            why = "opened while champion"
        else:
            continue
        lineage.add(
            Node(
                f"incident:{incident['id']}",
                "incident",
                f"{incident['id']} {incident['kind']} {incident['status']}"
                f" opened={incident['opened']} ({why}): {incident['message']}",
                {
                    "id": incident["id"],
                    "kind": incident["kind"],
                    "key": incident["key"],
                    "severity": incident["severity"],
                    "status": incident["status"],
                    "opened": incident["opened"],
                    "resolved": incident.get("resolved"),
                    "message": incident["message"],
                    "why": why,
                },
                {
                    "page": "drift" if incident["kind"].startswith("monitoring.") else "overview",
                    "query": {},
                },
            ),
            source=lineage.root,
            relation="raised",
        )


def _record_time(record: dict) -> str:
    """A promotion record's time to the microsecond (from its id), else its `time`."""
    try:
        moment = datetime.strptime(str(record.get("id")).split("-", 1)[0], "%Y%m%dT%H%M%S%fZ")
    except ValueError:
        return str(record.get("time"))
    return moment.replace(tzinfo=UTC).isoformat()


def _iso_ms(millis: int | None) -> str | None:
    if not millis:
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat(timespec="seconds")


def _utc(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
