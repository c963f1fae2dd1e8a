"""The simulated days: the clock, the night's jobs, the day's traffic, and `simulate`."""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from core.jobs import JobsDB
from core.workspace import Workspace
from scheduler.app import FOLLOW_UPS, make_trigger
from scheduler.runner import JobRunner
from scheduler.settings import SchedulerSettings
from scheduler.simulate.summary import summarise
from scheduler.simulate.traffic import (
    Api,
    Traffic,
    api_process,
    day_records,
    send_feedback,
    send_traffic,
    wait_logged,
)
from scheduler.simulate.workspace import (
    Echo,
    SimulationError,
    apply_overrides,
    copy_workspace,
    prepare,
)


# --------------------------------------------------------------------------- the clock
def file_day(ws: Workspace, path: Path) -> date:
    """The calendar day of a held-back file: its earliest time-column value (else today)."""
    from core.data.readers import read_table

    column = ws.config.time_column
    if column:
        stamps = pd.to_datetime(read_table(path)[column], errors="coerce", utc=True).dropna()
        if len(stamps):
            return stamps.min().date()
    return datetime.now(UTC).date()


def fires_on(ws: Workspace, name: str, day: date) -> bool:
    """Whether a job's time trigger fires during `day` (an interval trigger always does)."""
    cfg = ws.config.schedules
    spec = cfg.job(name)
    trigger = make_trigger(name, spec, cfg.timezone)
    if trigger is None or not spec.enabled:
        return False
    if spec.interval_seconds:
        return True
    tz = ZoneInfo(cfg.timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    fire = trigger.get_next_fire_time(None, start)
    return fire is not None and fire < start + timedelta(days=1)


# --------------------------------------------------------------------------- the loop
class Simulation:
    """Runs simulated days on a workspace with a running API; collects what happened."""

    def __init__(self, root: Path, echo: Echo) -> None:
        from core.predictions.readers import prediction_log_source, read_feedback, read_predictions

        self.ws, self.echo = Workspace.open(root), echo
        self.api: Api | None = None
        """Set once the API serves the first champion (`bootstrap` comes before it)."""
        settings = SchedulerSettings.from_workspace(self.ws)
        self.db = JobsDB(settings.url).ensure()
        self.runner = JobRunner(settings, self.db, f"simulation:{os.getpid()}")
        self.concurrency = self.ws.config.schedules.simulation.concurrency
        source = prediction_log_source(self.ws)
        self.logged = [len(read_predictions(source)), len(read_feedback(source))]
        self.runs: list[dict] = []
        self.traffic: list[Traffic] = []
        self.today = ""
        self.seconds = Counter()
        """Wall time of the simulated traffic and labels (the jobs time themselves)."""

    def job(
        self, name: str, trigger: str, params: dict | None = None, follow_ups: bool = True
    ) -> dict:
        """Run a job as the scheduler would (recorded), then its follow-ups."""
        row = {**self.runner.run(name, trigger, params=params), "day": self.today}
        self.runs.append(row)
        if row["status"] == "failed":
            self.echo(f"  {name} failed: {row['error']}")
        for (job, flag), (follow, follow_trigger) in FOLLOW_UPS.items() if follow_ups else ():
            if name == job and row["status"] == "ok" and row["summary"].get(flag):
                self.job(follow, follow_trigger)
        return row

    def bootstrap(self) -> None:
        """A first data version and champion, as `workbench up` makes them."""
        from core.data.versioning import latest_version
        from core.lifecycle import model_versions

        self.today = "start"
        if latest_version(self.ws) is None:
            self.echo("first data pipeline run")
            self.job("data_pipeline", "simulation")
        if model_versions(self.ws)["champion"] is None:
            self.echo("first training")  # no deploy: the API loads it when it starts
            self.job("training_pipeline", "simulation", follow_ups=False)
        if model_versions(self.ws)["champion"] is None:
            raise SimulationError("no champion after the first training (`workbench jobs history`)")

    def night(self, previous: Traffic) -> None:
        """00:00-04:00 of the day after `previous`: labels, data, checks, training."""
        from core.workspace.demo import drip

        day = date.fromisoformat(previous.day) + timedelta(days=1)
        self.today = day.isoformat()
        started = time.perf_counter()
        self.logged[1] += send_feedback(self.api, previous, self.concurrency)
        self.seconds["labels"] += time.perf_counter() - started
        drip(self.ws.root, 1)  # yesterday's flights arrive, with their outcomes
        if fires_on(self.ws, "data_pipeline", day):
            self.job("data_pipeline", "schedule")
        wait_logged(self.ws, *self.logged)
        if previous.request_ids and fires_on(self.ws, "drift_check", day):
            window, clock = str(len(previous.request_ids)), f"{day.isoformat()}T03:00:00+00:00"
            self.job("drift_check", "schedule", {"window": window, "clock": clock})
        if fires_on(self.ws, "training_pipeline", day):
            self.job("training_pipeline", "schedule")

    def daytime(self, path: Path) -> Traffic:
        """The day's flights as prediction traffic."""
        self.today = file_day(self.ws, path).isoformat()
        started = time.perf_counter()
        records, actuals = day_records(self.ws, path, self.api.fields)
        traffic = send_traffic(self.api, self.today, records, actuals, self.concurrency)
        self.seconds["traffic"] += time.perf_counter() - started
        self.traffic.append(traffic)
        self.logged[0] += len(traffic.request_ids)
        return traffic

    def run(self, days: int) -> None:
        previous = None
        for number in range(1, days + 1):
            start = len(self.runs)
            if previous is not None:
                self.night(previous)
            files = sorted(self.ws.holdback.iterdir()) if self.ws.holdback.is_dir() else []
            if not files:
                self.echo("no held-back days left: the simulation ends early")
                previous = None
                break
            previous = self.daytime(files[0])
            self.echo(f"day {number:>2} {previous.day}: " + day_line(self.runs[start:], previous))
        if previous is not None:  # the morning after: the last day's labels and checks
            start = len(self.runs)
            self.night(previous)
            self.echo(f"morning after {previous.day}: " + day_line(self.runs[start:], None))


def day_line(runs: list[dict], traffic: Traffic | None) -> str:
    """What one simulated day did, in one line."""
    parts = []
    for r in runs:
        s = r["summary"]
        if r["status"] == "failed":
            parts.append(f"{r['job']} FAILED")
        elif r["job"] == "data_pipeline" and r["status"] == "ok":
            rejected = f", {len(s['rejected'])} quarantined" if s.get("rejected") else ""
            parts.append(f"data {s.get('version') or 'unchanged'}{rejected}")
        elif r["job"] == "drift_check" and r["status"] == "ok":
            perf = s.get("performance")
            perf_text = f", {s['performance_metric']} {perf:.3f}" if perf is not None else ""
            parts.append(f"drift {'YES' if s['dataset_drift'] else 'no'}{perf_text}")
        elif r["job"] == "training_pipeline" and r["status"] == "ok":
            outcome = "promoted" if s["promoted"] else f"gates {s['gates']}"
            parts.append(f"trained v{s['version']} ({r['trigger']}): {outcome}")
        elif r["job"] == "deploy" and r["status"] == "ok":
            parts.append(f"API reloaded v{s.get('version')}")
    if traffic is not None:
        served = "/".join(f"v{v}" for v in sorted(traffic.versions, key=int))
        parts.append(f"{len(traffic.request_ids)} predictions by {served or '-'}")
    return " · ".join(parts) or "nothing to do"


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block (the deploy step finds the API through them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run(sim: Simulation, days: int, echo: Echo) -> None:
    with (
        api_process(sim.ws.root) as api,
        _environment(WORKBENCH_API_URL=api.url, WORKBENCH_ADMIN_KEY=api.admin),
    ):
        echo(f"prediction API on {api.url}; simulating {days} day(s) on {sim.ws.root}")
        sim.api = api
        sim.run(days)


def simulate(
    days: int,
    workspace: Path | None = None,
    out: Path | None = None,
    in_place: bool = False,
    echo: Echo = print,
    compare: bool = False,
) -> dict:
    """Run `days` simulated days of the loop and return the summary (see `summarise`).

    Args:
        days: Simulated days (each needs one held-back demo file).
        workspace: Start from this workspace; None: a new flights demo.
        out: Where the simulated workspace goes (default: a new temp folder, kept).
        in_place: Run on `workspace` itself, with its own config.
        echo: Called with one line per simulated day.
        compare: Then run the same days again from the same first champion under
            `schedules.simulation.baseline` (retrain on every drift alert), in a copy at
            `<out>-baseline`; its summary is the result's `baseline`.
    """
    if days < 1:
        raise SimulationError("--days must be at least 1")
    if compare and in_place:
        raise SimulationError("--compare runs on copies: leave out --in-place")
    started = time.perf_counter()
    root = prepare(workspace, out, in_place, echo)
    baseline_root = root.with_name(f"{root.name}-baseline")
    if compare and baseline_root.exists():
        raise SimulationError(f"{baseline_root} exists: give --out a new folder")
    sim = Simulation(root, echo)
    sim.bootstrap()  # the API needs a champion to serve
    if compare:  # both policies start from the same data version and champion
        copy_workspace(root, baseline_root)
        apply_overrides(baseline_root, sim.ws.config.schedules.simulation.baseline)
    _run(sim, days, echo)
    summary = summarise(sim, time.perf_counter() - started)
    if compare:
        started = time.perf_counter()
        echo(f"baseline policy (retrain on every drift alert) on {baseline_root}")
        base = Simulation(baseline_root, echo)
        _run(base, days, echo)
        summary["baseline"] = summarise(base, time.perf_counter() - started)
    return summary
