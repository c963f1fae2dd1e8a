"""Shared Streamlit helpers: the workspace, cached reads of `core`, and small widgets.

Every cached read is keyed on the workspace path plus the modification time of what it
reads, so a page renders from cache until the pipeline writes something new; the TTL only
bounds how long a stale entry can live if a signature misses a change.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pandas as pd
import streamlit as st

from app import auth
from core import access
from core import audit as audit_log
from core.alerts import read_alerts
from core.data import profile
from core.data.pipeline import list_quarantine, list_runs
from core.data.validation import ValidationReport, load_report, render_html
from core.data.versioning import DataVersion, list_versions, read_version_file
from core.errors import WorkbenchError, one_line
from core.experiments import load_runs
from core.experiments import run_plots as _load_run_plots
from core.workspace import CONFIG_NAME, Workspace, resolve_workspace

log = logging.getLogger("workbench.ui")

TTL = 300
"""Seconds a cached read may live; signatures (mtimes) invalidate it earlier."""
RUNS_TTL = 30
"""Seconds the experiment's runs are cached (MLflow has no cheap change signature)."""
FLASH = "workbench_flash"
"""Session key of the message shown once after a page action reruns the script."""
INIT_HINT = (
    "Create one with `workbench init --demo --workspace DIR`, then open the UI with "
    "`workbench ui --workspace DIR` (or set `WORKBENCH_HOME`)."
)
STATUS_COLOURS = {
    "pass": "background-color: #dafbe1; color: #1a7f37",
    "ok": "background-color: #dafbe1; color: #1a7f37",
    "accepted": "background-color: #dafbe1; color: #1a7f37",
    "warn": "background-color: #fff8c5; color: #9a6700",
    "partial": "background-color: #fff8c5; color: #9a6700",
    "fail": "background-color: #ffebe9; color: #cf222e",
    "failed": "background-color: #ffebe9; color: #cf222e",
    "refused": "background-color: #ffebe9; color: #cf222e",
    "quarantined": "background-color: #ffebe9; color: #cf222e",
}


def mtime(path: Path) -> int:
    """A file's modification time in ns (0 when absent): part of cache keys."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


# --- errors and messages ---------------------------------------------------------------------


def show_error(exc: BaseException, action: str | None = None) -> None:
    """Show an exception as one error line, never a traceback.

    A `WorkbenchError` shows its message; anything else is logged with its traceback and
    shown as `<action> failed: <Type>: <message>` (without `action`: `<Type>: <message>`).
    """
    if isinstance(exc, WorkbenchError):
        st.error(one_line(exc))
        return
    log.error("%s failed", action or "a page action", exc_info=exc)
    st.error(f"{action} failed: {one_line(exc)}" if action else one_line(exc))


@contextmanager
def shown_errors(action: str | None = None, *, stop: bool = False) -> Iterator[None]:
    """Run a block; an exception in it becomes one error line (`show_error`).

    Args:
        action: what the block does, named in the line of an unexpected failure.
        stop: stop the script after the error (the rest of the page needs the block's result).
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the one place the UI turns any failure into a line
        show_error(exc, action)
        if stop:
            st.stop()


def flash(text: str, level: str = "success") -> None:
    """Keep a message to show once on the next run (call `st.rerun()` after)."""
    st.session_state[FLASH] = (level, text)


def show_flash() -> None:
    """Show the message a previous run kept with `flash`, once."""
    if kept := st.session_state.pop(FLASH, None):
        getattr(st, kept[0])(kept[1])


# --- the workspace ---------------------------------------------------------------------------


@st.cache_resource(ttl=TTL, show_spinner=False)
def _open_workspace(root: str, config_mtime: int) -> Workspace:
    ws = Workspace.open(root)
    ws.config  # noqa: B018 - load and validate now, so a bad config is reported here
    return ws


def open_workspace() -> Workspace:
    """Open the workspace from `WORKBENCH_HOME` (default `./workspace`), config validated.

    Raises:
        WorkbenchError: It is not a workspace, or its `workbench.yaml` is invalid.
    """
    root = resolve_workspace()
    return _open_workspace(str(root), mtime(root / CONFIG_NAME))


def start_page() -> tuple[Workspace, auth.User]:
    """Every page's first call: the sign-in in the sidebar, then the workspace (or stop).

    Returns:
        The workspace and the session's user (see `app.auth.current_user`).
    """
    user = auth.sign_in_sidebar()
    return workspace_or_stop(), user


def guard(action: str, *, disabled: bool = False, help: str | None = None) -> dict:  # noqa: A002 - the widget keyword
    """`disabled` and `help` keywords for a control doing `action` (a `core.access` action).

    The control is disabled, with the reason as its help, when the session's user lacks the
    role the action needs; otherwise the given `disabled` and `help` are kept.
    """
    reason = auth.why_not(auth.current_user(), action)
    return {"disabled": disabled or bool(reason), "help": reason or help}


@contextmanager
def audited(ws: Workspace, action: str, target: str = "", reason: str = "") -> Iterator[dict]:
    """Check the session user's role for `action`, run the block, record it in the audit log.

    The event (`core.audit`) names the user and says `ok`, `refused` (the role is missing:
    `core.access.PermissionDenied` is raised) or `failed` (the block raised). Yields a dict the
    block may fill with details.
    """
    user = auth.current_user()
    actor = user.name or "(not signed in)"
    with audit_log.audited(ws, actor, action, target, reason, source="ui") as details:
        access.require(user.roles if user.name else (), action, actor)
        yield details


def actor() -> str:
    """The session's user, for records that name who acted (the OS user without auth)."""
    return auth.current_user().name or "(not signed in)"


def workspace_or_stop() -> Workspace:
    """Return the workspace, or show the one-line reason and how to fix it, then stop."""
    try:
        return open_workspace()
    except WorkbenchError as exc:
        st.error(str(exc))
        st.info(INIT_HINT)
        st.stop()
        raise  # unreachable: st.stop() raises; keeps type checkers honest


def clear_caches() -> None:
    """Drop every cached read (after this session changed the workspace)."""
    st.cache_data.clear()


# --- cached reads ------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def _runs(root: str, sig: int) -> list[dict]:
    return list_runs(Workspace(Path(root)))


def runs(ws: Workspace) -> list[dict]:
    """Pipeline run records, newest first."""
    return _runs(str(ws.root), mtime(ws.runs_dir))


@st.cache_data(ttl=TTL, show_spinner=False)
def _quarantine(root: str, sig: tuple) -> list[dict]:
    return list_quarantine(Workspace(Path(root)))


def quarantine(ws: Workspace) -> list[dict]:
    """Quarantined batches with their reasons, newest first."""
    sig = tuple(sorted((p.parent.name, mtime(p)) for p in ws.quarantine.glob("*/reason.json")))
    return _quarantine(str(ws.root), sig)


@st.cache_data(ttl=TTL, show_spinner=False)
def _versions(root: str, sig: tuple) -> list[DataVersion]:
    return list_versions(Workspace(Path(root)))


def versions(ws: Workspace) -> list[DataVersion]:
    """List data versions, newest first (a new git commit invalidates the cache)."""
    return _versions(str(ws.root), (mtime(ws.root / ".git" / "logs" / "HEAD"), mtime(ws.meta_file)))


@st.cache_data(ttl=TTL, show_spinner=False)
def _alerts(path: str, sig: int, limit: int) -> list[dict]:
    return read_alerts(Path(path), limit=limit)


def alerts(ws: Workspace, limit: int = 20) -> list[dict]:
    """Read the newest alert events, newest first."""
    return _alerts(str(ws.alerts_path), mtime(ws.alerts_path), limit)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=512)
def _report(path: str, sig: int) -> ValidationReport:
    return load_report(Path(path))


def report(path: str | Path) -> ValidationReport:
    """Load a validation report from its JSON path."""
    return _report(str(path), mtime(Path(path)))


def report_html(json_path: str | Path, rep: ValidationReport) -> str:
    """Read the HTML written next to a report's JSON (render it if it is missing)."""
    html_path = Path(json_path).with_suffix(".html")
    if html_path.is_file():
        return html_path.read_text(encoding="utf-8")
    return render_html(rep)


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=6)
def _frame(root: str, commit: str, which: str, latest: bool, sig: int) -> pd.DataFrame:
    ws = Workspace(Path(root))
    if latest:
        return pd.read_parquet(ws.features_file if which == "features" else ws.processed_file)
    version = next(v for v in list_versions(ws) if v.commit == commit)
    return pd.read_parquet(io.BytesIO(read_version_file(ws, version, which)))


def _frame_key(ws: Workspace, version: DataVersion, which: str) -> tuple:
    """Cache key of a version's table: the latest is read from the workspace file."""
    path = ws.features_file if which == "features" else ws.processed_file
    latest = versions(ws)[0].commit == version.commit and path.is_file()
    return str(ws.root), version.commit, which, latest, mtime(path) if latest else 0


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=12)
def _profile(key: tuple) -> pd.DataFrame:
    return profile.profile_frame(_frame(*key))


def version_profile(ws: Workspace, version: DataVersion, which: str = "features") -> pd.DataFrame:
    """Per-column summary of a version's table (see `core.data.profile.profile_frame`)."""
    return _profile(_frame_key(ws, version, which))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=4)
def _plot_sample(key: tuple) -> pd.DataFrame:
    return profile.sample_rows(_frame(*key))


def plot_sample(ws: Workspace, version: DataVersion, which: str = "features") -> pd.DataFrame:
    """At most `PLOT_SAMPLE_ROWS` rows of a version's table, for charts."""
    return _plot_sample(_frame_key(ws, version, which))


@st.cache_data(ttl=TTL, show_spinner=False, max_entries=8)
def _compare(key_a: tuple, key_b: tuple) -> profile.FrameComparison:
    return profile.compare_frames(_frame(*key_a), _frame(*key_b))


def compare_versions(
    ws: Workspace, a: DataVersion, b: DataVersion, which: str = "features"
) -> profile.FrameComparison:
    """How version `b`'s table differs from version `a`'s."""
    return _compare(_frame_key(ws, a, which), _frame_key(ws, b, which))


def champion_text(champion: dict | None) -> str:
    """How the sidebar and the overview name the champion."""
    if not champion:
        return "no champion yet"
    return f"{champion['name']} v{champion['version']}"


@st.cache_data(ttl=30, show_spinner=False)
def _champion(root: str, sig: int) -> dict | None:
    from core.registry.store import champion

    try:
        mv = champion(Workspace.open(Path(root)))
    except Exception as exc:  # noqa: BLE001 - an unreadable store reads as "no champion" here
        log.debug("no champion in %s: %s", root, exc)
        return None
    return (
        None if mv is None else {"name": mv.name, "version": str(mv.version), "run_id": mv.run_id}
    )


def current_champion(ws: Workspace) -> dict | None:
    """Return the model version holding the `champion` alias, or None if there is none.

    The registered model name is the config's `project`. The store is only asked when the
    embedded `mlflow.db` exists, so an empty workspace never creates one.
    """
    if not ws.mlflow_db.is_file():
        return None
    return _champion(str(ws.root), mtime(ws.mlflow_db))


# --- experiments -----------------------------------------------------------------------------


@st.cache_data(ttl=RUNS_TTL, show_spinner="Reading runs from MLflow")
def _experiment_runs(tracking_uri: str, experiment: str) -> pd.DataFrame:
    return load_runs(tracking_uri, experiment)


def experiment_runs(ws: Workspace) -> pd.DataFrame:
    """The candidate runs of the project's experiment (see `core.experiments.load_runs`)."""
    return _experiment_runs(ws.tracking_uri, ws.config.project)


def refresh_experiment_runs() -> None:
    """Forget the cached runs, so the next read asks MLflow again."""
    _experiment_runs.clear()


@st.cache_data(ttl=3600, show_spinner=False, max_entries=64)
def run_plots(tracking_uri: str, run_id: str) -> list[tuple[str, bytes]]:
    """A run's logged PNG plots as (file name, bytes); a finished run's artifacts never change."""
    return _load_run_plots(tracking_uri, run_id)


def query_list(name: str) -> list[str]:
    """A comma-separated URL query parameter as a list (empty items and duplicates dropped)."""
    items = [v.strip() for v in st.query_params.get(name, "").split(",")]
    return list(dict.fromkeys(v for v in items if v))


def set_query_list(name: str, values: list[str]) -> None:
    """Write a list as a comma-separated URL query parameter; an empty list removes it."""
    if values:
        st.query_params[name] = ",".join(values)
    elif name in st.query_params:
        del st.query_params[name]


# --- small widgets -----------------------------------------------------------------------------


def when(iso: str | None) -> str:
    """Format an ISO timestamp as `YYYY-MM-DD HH:MM UTC` (the input if it does not parse)."""
    if not iso:
        return "-"
    try:
        stamp = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return stamp.strftime("%Y-%m-%d %H:%M") + (" UTC" if stamp.utcoffset() is not None else "")


def _status_css(value: object) -> str:
    return STATUS_COLOURS.get(str(value), "")


def status_table(df: pd.DataFrame, columns: tuple[str, ...] = ("status",), **kwargs) -> None:
    """`st.dataframe` with pass/warn/fail (and accepted/quarantined) cells coloured."""
    subset = [c for c in columns if c in df.columns]
    data = df.style.map(_status_css, subset=subset) if subset and not df.empty else df
    st.dataframe(data, hide_index=True, width="stretch", **kwargs)
