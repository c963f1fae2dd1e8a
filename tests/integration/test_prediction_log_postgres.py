"""The prediction log on a real PostgreSQL (a throwaway cluster, see tests/postgres.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from prediction_logs import log_from_threads, prediction_record

from api.app import create_app
from api.settings import ServeSettings
from core.predictions.readers import joined_with_feedback, read_feedback, read_predictions
from core.predictions.record import PredictionRecord
from core.predictions.writer import PredictionLog
from core.serving import keys
from core.training.data import load_split

pytestmark = pytest.mark.postgres
START = datetime(2024, 1, 1, tzinfo=UTC)


def _record(request_id: str, at: datetime, prediction=1) -> PredictionRecord:
    return prediction_record(request_id, prediction, at.isoformat())


def _scalar(url: str, sql: str):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_threads_append_and_feedback_every_request_is_written_once(pg_url):
    log = PredictionLog(pg_url, flush_rows=700, flush_seconds=0.05)
    log.start()

    def each(n: int, i: int) -> None:
        log.append([_record(f"{n}-{i}", START + timedelta(minutes=i), prediction=i % 2)])
        if i % 10 == 0:
            log.record_feedback(f"{n}-{i}", i % 3, time=(START + timedelta(days=1)).isoformat())

    log_from_threads(log, threads=8, per_thread=500, each=each)
    assert log.pending == 0

    assert _scalar(pg_url, "SELECT count(*) FROM predictions") == 4000
    assert _scalar(pg_url, "SELECT count(DISTINCT request_id) FROM predictions") == 4000
    assert _scalar(pg_url, "SELECT count(*) FROM prediction_feedback") == 8 * 50
    kind = "SELECT data_type FROM information_schema.columns WHERE table_name = 'predictions' "
    assert _scalar(pg_url, kind + "AND column_name = 'time'") == "timestamp with time zone"
    engine = sa.create_engine(pg_url)
    indexed = {tuple(ix["column_names"]) for ix in sa.inspect(engine).get_indexes("predictions")}
    engine.dispose()
    assert ("request_id",) in indexed

    frame = read_predictions(pg_url)
    assert len(frame) == 4000 and frame["request_id"].is_unique
    assert set(frame["prediction"]) == {0, 1}

    joined = joined_with_feedback(pg_url).set_index("request_id")
    assert joined["actual"].notna().sum() == 400
    assert joined.loc["3-20", "actual"] == 20 % 3
    assert joined.loc["3-21", "actual"] != joined.loc["3-21", "actual"]  # NaN: no feedback
    assert joined.loc["3-20", "feedback_time"] == "2024-01-02T00:00:00+00:00"

    since = read_predictions(pg_url, since=(START + timedelta(minutes=490)).isoformat())
    assert len(since) == 8 * 10
    assert set(since["request_id"]) == {f"{n}-{i}" for n in range(8) for i in range(490, 500)}


def test_rows_wait_out_a_server_outage_and_are_written_once(pg_cluster, pg_url, caplog):
    log = PredictionLog(pg_url)
    log.append([_record("a", START)])
    assert log.flush() == 1  # the pool now holds a connection that the restart will kill

    pg_cluster.stop()
    try:
        log.append([_record("b", START), _record("c", START)])
        log.record_feedback("b", 1)
        assert log.flush() == 0
        assert log.pending == 2
        assert "will retry" in caplog.text
    finally:
        pg_cluster.start()

    log.append([_record("d", START)])
    assert log.flush() == 3
    log.close()
    assert list(read_predictions(pg_url)["request_id"]) == ["a", "b", "c", "d"]
    assert list(read_feedback(pg_url)["request_id"]) == ["b"]


@pytest.mark.slow
def test_api_logs_to_postgres_and_closes_the_log_on_shutdown(trained_ws, tmp_path, pg_url):
    keys.store_path(trained_ws.root).unlink(missing_ok=True)  # no stored key: this API needs none
    settings = ServeSettings.from_workspace(
        trained_ws,
        predictions_dir=tmp_path / "unused",
        prediction_log_url=pg_url,
        poll_seconds=60,
        api_keys=[],
    )
    X = load_split(trained_ws).X_test.head(7)
    records = json.loads(X.to_json(orient="records", date_format="iso", date_unit="s"))  # raw
    with TestClient(create_app(settings)) as client:
        resp = client.post("/predict", json={"records": records})
        assert resp.status_code == 200, resp.text
        request_id = resp.json()["request_id"]
        fb = client.post("/feedback", json={"request_id": request_id, "actual": 1})
        assert fb.status_code == 202, fb.text
    # leaving the client ran the lifespan's shutdown, which closed (flushed) the log

    logged = read_predictions(pg_url)
    assert len(logged) == 7 and set(logged["request_id"]) == {request_id}
    assert set(logged["model_version"]) == {"1"} and set(logged["variant"]) == {"champion"}
    assert list(read_feedback(pg_url)["request_id"]) == [request_id]
    assert not (tmp_path / "unused").exists()


def test_an_older_predictions_table_gets_the_client_column_on_the_first_write(pg_url):
    with PredictionLog(pg_url) as log:
        log.append([_record("old", START)])
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # the table as the last version made it
        conn.execute(sa.text("ALTER TABLE predictions DROP COLUMN client"))
    engine.dispose()
    assert read_predictions(pg_url).loc[0, "client"] is None  # reads before any write

    record = _record("new", START + timedelta(minutes=1))
    record.client = "mobile-app"
    with PredictionLog(pg_url) as log:
        log.append([record])
    kind = "SELECT data_type FROM information_schema.columns WHERE table_name = 'predictions' "
    assert _scalar(pg_url, kind + "AND column_name = 'client'") == "text"
    frame = read_predictions(pg_url).set_index("request_id")
    assert frame["client"].to_dict() == {"old": None, "new": "mobile-app"}
