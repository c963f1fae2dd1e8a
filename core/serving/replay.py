"""Demo days replayed as live traffic: raw records to `/predict`, their labels to `/feedback`.

`workbench demo traffic` (started by `workbench up` in a demo workspace) sends the records of
the next held-back day (the flights of "today", not yet in the landing zone), or of a landed
day once none is held back, one record per request at a modest rate, as a client would: the
source's values for the served model's inputs (`json_records`). Each request's actual target
follows by its request id after a delay, and a held-back day lands every few minutes (`drip`;
a data run is queued on the running scheduler at once), so drift, realized metrics and the
jobs all see the loop on real data.
`workbench simulate` shares `day_records`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import WorkbenchError, one_line
from core.serving.client import ApiRejected, ApiUnreachable, ServingClient
from core.serving.records import json_records, json_value
from core.workspace import Workspace

TABLE_SUFFIXES = (".csv", ".parquet")


class ReplayError(WorkbenchError):
    """A day's file cannot be replayed (unreadable, or lacking an input or the target)."""


def day_records(ws: Workspace, path: Path, fields: list[tuple[str, str]]):
    """A day's file as the API's raw input records, and the actual target of each.

    The records are the file's rows as the source has them, minus the target, holding exactly
    the model's input fields (no client-side cleaning or feature engineering: the model does
    that). Rows without a target, which the data pipeline drops, are skipped.

    Raises:
        ReplayError: The file is unreadable or lacks an input or the target (named).
    """
    from core.data.readers import read_table

    target = ws.config.target
    try:
        raw = read_table(path)
    except WorkbenchError as exc:
        raise ReplayError(str(exc)) from None
    fields = [(name, kind) for name, kind in fields if name != target]
    missing = [name for name, _ in fields if name not in raw.columns]
    if missing:
        raise ReplayError(f"{path.name} lacks the model input(s) {', '.join(missing)}")
    if target not in raw.columns:
        raise ReplayError(f"{path.name} lacks the target column {target}")
    raw = raw[raw[target].notna()]
    actuals = [json_value(v) for v in raw[target].tolist()]
    return json_records(raw, fields), actuals


def replay_sources(ws: Workspace) -> list[Path]:
    """The days to replay: the held-back ones in order, else the landed ones."""
    for folder in (ws.holdback, ws.landing):
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.suffix in TABLE_SUFFIXES)
            if files:
                return files
    return []


@dataclass(frozen=True)
class ReplaySettings:
    """The pace of a replay."""

    rate: float = 2.0
    """Prediction requests per second (one record each: a label belongs to one request id)."""
    label_delay: float = 60.0
    """Seconds between a prediction and its label."""
    drip_every: float = 600.0
    """Seconds between two held-back days landing; 0 = never."""
    poll: float = 2.0
    """Seconds between two checks while waiting for the API and its champion."""


@dataclass
class ReplayStats:
    """What a replay did."""

    predictions: int = 0
    rejected: int = 0
    labels: int = 0
    labels_dropped: int = 0
    landed: list[str] = field(default_factory=list)

    def line(self) -> str:
        """`sent 120 prediction(s) ...` for messages."""
        text = (
            f"sent {self.predictions} prediction(s) ({self.rejected} rejected), "
            f"{self.labels} label(s); {len(self.landed)} day(s) landed"
        )
        if self.labels_dropped:
            text += f"; {self.labels_dropped} label(s) not yet due were not sent"
        return text


class TrafficReplay:
    """The replay loop; `run` returns when `stop` is set.

    Args:
        ws: The demo workspace.
        client: The API client (its target holds the URL and API key).
        settings: Rate, label delay, drip interval.
        stop: Set it (e.g. from a signal handler) to end the replay.
        say: Where progress lines go.
        seed: Seed of the choice among landed days.
    """

    def __init__(
        self,
        ws: Workspace,
        client: ServingClient,
        settings: ReplaySettings,
        stop: threading.Event,
        say: Callable[[str], None] = print,
        seed: int | None = None,
    ) -> None:
        self.ws, self.client, self.settings, self.stop, self.say = ws, client, settings, stop, say
        self.stats = ReplayStats()
        self._rng = random.Random(seed)
        self._fields: list[tuple[str, str]] = []
        self._day: Path | None = None
        self._queue: deque[tuple[dict, object]] = deque()
        self._labels: deque[tuple[float, str, object]] = deque()
        self._skipped: set[Path] = set()
        self._said: set[str] = set()

    def run(self) -> ReplayStats:
        """Wait for a champion, then send traffic, labels and new days until stopped."""
        self.wait_for_model()
        every = self.settings.drip_every
        next_drip = time.monotonic() + every if every > 0 else float("inf")
        while not self.stop.is_set():
            try:
                self._send_due_labels()
                if time.monotonic() >= next_drip:
                    self._drip()
                    next_drip = time.monotonic() + every
                self._predict_one()
            except ApiUnreachable as exc:
                self.say(f"{one_line(exc)}; waiting")
                self.wait_for_model()
                continue
            self.stop.wait(1 / self.settings.rate)
        self.stats.labels_dropped = len(self._labels)
        return self.stats

    def wait_for_model(self) -> None:
        """Wait until the API answers and serves a model (saying what it waits for)."""
        url, shown = self.client.target.url, None
        while not self.stop.is_set():
            try:
                model = self.client.model()
                waiting = None if model else f"waiting for a champion at {url} (first training?)"
            except ApiUnreachable:
                model, waiting = None, f"waiting for the prediction API at {url}"
            except ApiRejected as exc:
                model, waiting = None, f"waiting for the prediction API at {url} ({one_line(exc)})"
            if model:
                self._fields = [(f["name"], f["type"]) for f in model["inputs"]]
                self.say(f"sending traffic to {model['name']} v{model['version']} at {url}")
                return
            if waiting != shown:
                self.say(waiting + " ...")
                shown = waiting
            self.stop.wait(self.settings.poll)

    def _predict_one(self) -> None:
        item = self._next_record()
        if item is None:
            return
        record, actual = item
        try:
            answer = self.client.predict([record])
        except ApiRejected as exc:
            self.stats.rejected += 1
            self._say_once(f"the API rejected a record: {one_line(exc)}")
            if exc.status == 422:  # the served model may have changed its inputs
                self._queue.clear()
                self._day = None
                self.wait_for_model()
            return
        self.stats.predictions += 1
        due = time.monotonic() + self.settings.label_delay
        self._labels.append((due, answer["request_id"], actual))

    def _send_due_labels(self) -> None:
        while self._labels and self._labels[0][0] <= time.monotonic():
            _, request_id, actual = self._labels[0]
            try:
                self.client.feedback(request_id, actual)
                self.stats.labels += 1
            except ApiRejected as exc:
                self._say_once(f"the API rejected a label: {one_line(exc)}")
            self._labels.popleft()  # ApiUnreachable leaves it queued

    def _drip(self) -> None:
        from core.workspace.demo import drip

        moved = drip(self.ws.root, 1)
        for path in moved:
            self.stats.landed.append(path.name)
            self.say(f"landed {path.name}; {self._ingest_now()}")

    def _ingest_now(self) -> str:
        """Queue a data run on the live scheduler, if one runs; says what happens next."""
        from core.jobs import JobsDB

        try:
            db = JobsDB.for_workspace(self.ws)
            holder = db.holder()
            if not (holder and holder["live"]):
                return "the next data run ingests it (no scheduler runs)"
            command_id = db.enqueue("data_pipeline", "run", None, by="demo traffic")
        except Exception as exc:  # noqa: BLE001 - the jobs store is optional to the replay
            return f"the next data run ingests it ({one_line(exc)})"
        return f"data run queued on the scheduler (command {command_id})"

    def _next_record(self) -> tuple[dict, object] | None:
        sources = [p for p in replay_sources(self.ws) if p not in self._skipped]
        if not sources:
            self._say_once("no demo days to replay (nothing held back or landed)")
            return None
        held_back = sources[0].parent == self.ws.holdback
        if not self._queue or (held_back and self._day != sources[0]):
            day = sources[0] if held_back else self._rng.choice(sources)
            try:
                records, actuals = day_records(self.ws, day, self._fields)
            except ReplayError as exc:
                self.say(f"skipping {day.name}: {one_line(exc)}")
                self._skipped.add(day)
                return None
            self._day, self._queue = day, deque(zip(records, actuals, strict=True))
            self.say(f"replaying {day.name} ({len(records)} records); {self.stats.line()}")
        return self._queue.popleft() if self._queue else None

    def _say_once(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self.say(message)
