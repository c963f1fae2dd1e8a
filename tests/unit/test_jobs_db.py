"""The scheduler's database: several processes opening a fresh one at the same moment."""

from __future__ import annotations

import multiprocessing

import sqlalchemy as sa

from core.jobs import JobsDB
from core.jobs.tables import metadata


def _open_and_enqueue(url: str, start, errors) -> None:
    start.wait()
    try:
        JobsDB(url).enqueue("deploy", "run", by="racer")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_racing_to_create_a_fresh_database_all_succeed(tmp_path):
    # two schedulers and the CLI starting together used to lose the create-table race
    ctx = multiprocessing.get_context("fork")
    for round_ in range(8):
        url = f"sqlite:///{tmp_path / f'race{round_}.db'}"
        start, errors = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_open_and_enqueue, args=(url, start, errors)) for _ in range(4)]
        for p in procs:
            p.start()
        start.set()
        for p in procs:
            p.join(60)
        assert all(p.exitcode == 0 for p in procs)
        assert errors.empty(), errors.get()
        engine = sa.create_engine(url)
        assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM job_commands")).scalar() == 4
        engine.dispose()
