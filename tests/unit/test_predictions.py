"""The prediction log: batching, background flushes, failure retry and feedback joins."""

import json
import time

import pandas as pd
import pytest
from prediction_logs import log_from_threads, prediction_record

from core.predictions.readers import (
    joined_with_feedback,
    prediction_log_source,
    read_feedback,
    read_predictions,
)
from core.predictions.record import FEEDBACK_COLUMNS, PREDICTION_COLUMNS
from core.predictions.writer import PredictionLog

_record = prediction_record


def _parts(directory):
    return sorted(directory.glob("part-*.parquet"))


def _wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_concurrent_appends_are_all_written_once(tmp_path):
    log = PredictionLog(tmp_path, flush_rows=700, flush_seconds=0.05)
    log.start()

    log_from_threads(log, threads=8, per_thread=500)

    frame = read_predictions(tmp_path)
    assert len(frame) == 4000
    assert frame["request_id"].is_unique


def test_flush_rows_triggers_a_write_while_running(tmp_path):
    log = PredictionLog(tmp_path, flush_rows=10, flush_seconds=60)
    log.start()
    log.append([_record(str(i)) for i in range(10)])
    assert _wait_for(lambda: len(_parts(tmp_path)) == 1)
    assert len(read_predictions(tmp_path)) == 10
    log.close()


def test_flush_seconds_triggers_a_write(tmp_path):
    log = PredictionLog(tmp_path, flush_rows=1000, flush_seconds=0.1)
    log.start()
    log.append([_record("a")])
    assert _wait_for(lambda: len(_parts(tmp_path)) == 1)
    log.close()


def test_close_flushes_the_rest_and_is_idempotent(tmp_path):
    log = PredictionLog(tmp_path, flush_rows=1000, flush_seconds=60)
    log.start()
    log.append([_record("a"), _record("b")])
    assert _parts(tmp_path) == []
    log.close()
    log.close()
    assert len(_parts(tmp_path)) == 1
    assert list(read_predictions(tmp_path)["request_id"]) == ["a", "b"]


def test_inputs_are_stored_as_json(tmp_path):
    log = PredictionLog(tmp_path)
    log.append([_record("a")])
    assert log.flush() == 1
    frame = read_predictions(tmp_path)
    assert list(frame.columns) == PREDICTION_COLUMNS
    assert json.loads(frame.loc[0, "inputs_json"]) == {"age": 42, "plan": "pro"}


def test_feedback_joins_by_request_id_latest_actual_wins(tmp_path):
    log = PredictionLog(tmp_path)
    log.append([_record("a"), _record("b"), _record("c")])
    log.record_feedback("a", 0, time="2024-01-02T00:00:00+00:00")
    log.flush()
    log.record_feedback("a", 1, time="2024-01-03T00:00:00+00:00")
    log.record_feedback("b", 0, time="2024-01-02T00:00:00+00:00")
    log.close()

    assert len(read_feedback(tmp_path)) == 3
    joined = joined_with_feedback(tmp_path).set_index("request_id")
    assert len(joined) == 3
    assert joined.loc["a", "actual"] == 1
    assert joined.loc["b", "actual"] == 0
    assert joined.loc["c", "actual"] != joined.loc["c", "actual"]  # NaN: no feedback yet


def test_failed_flush_keeps_rows_for_the_next_flush(tmp_path, caplog):
    directory = tmp_path / "predictions"
    directory.write_text("not a directory")
    log = PredictionLog(directory)
    log.append([_record("a"), _record("b")])

    assert log.flush() == 0
    assert log.pending == 2
    assert "failed" in caplog.text

    directory.unlink()
    log.append([_record("c")])
    assert log.flush() == 3
    assert list(read_predictions(directory)["request_id"]) == ["a", "b", "c"]


def test_read_since_filters_by_time(tmp_path):
    log = PredictionLog(tmp_path)
    log.append(
        [
            _record("old", at="2024-01-01T00:00:00+00:00"),
            _record("new", at="2024-02-01T00:00:00+00:00"),
        ]
    )
    log.flush()
    assert list(read_predictions(tmp_path, since="2024-01-15T00:00:00Z")["request_id"]) == ["new"]


def test_mixed_prediction_types_still_write(tmp_path):
    log = PredictionLog(tmp_path)
    log.append([_record("a", prediction=1), _record("b", prediction="yes")])
    assert log.flush() == 2
    assert list(read_predictions(tmp_path)["prediction"]) == ["1", "yes"]


@pytest.mark.parametrize(
    ("reader", "columns"),
    [(read_predictions, PREDICTION_COLUMNS), (read_feedback, FEEDBACK_COLUMNS)],
)
def test_reading_an_empty_dir_gives_empty_frame_with_columns(tmp_path, reader, columns):
    frame = reader(tmp_path)
    assert frame.empty
    assert list(frame.columns) == columns


def test_joined_on_empty_dir_has_feedback_columns(tmp_path):
    frame = joined_with_feedback(tmp_path)
    assert frame.empty
    assert list(frame.columns) == [*PREDICTION_COLUMNS, "actual", "feedback_time"]


# --- the SQL backend, on SQLite files (PostgreSQL: tests/integration) ---


def _url(path) -> str:
    return f"sqlite:///{path}"


def test_sql_url_concurrent_appends_are_all_written_once(tmp_path):
    url = _url(tmp_path / "log.db")
    log = PredictionLog(url, flush_rows=300, flush_seconds=0.05)
    log.start()

    log_from_threads(log, threads=4, per_thread=250)

    frame = read_predictions(url)
    assert len(frame) == 1000
    assert frame["request_id"].is_unique


def test_sql_url_reads_the_same_frames_as_parquet(tmp_path):
    url = _url(tmp_path / "log.db")
    records = [_record("a", prediction=1), _record("b", prediction=0)]
    for dest in (tmp_path / "parts", url):
        with PredictionLog(dest) as log:
            log.append(records)
            log.record_feedback("a", 1, time="2024-01-02T00:00:00+00:00")

    for reader in (read_predictions, read_feedback, joined_with_feedback):
        pd.testing.assert_frame_equal(reader(url), reader(tmp_path / "parts"))
    frame = read_predictions(url)
    assert list(frame.columns) == PREDICTION_COLUMNS
    assert json.loads(frame.loc[0, "inputs_json"]) == {"age": 42, "plan": "pro"}


def test_sql_url_keeps_mixed_prediction_types_as_text(tmp_path):
    url = _url(tmp_path / "log.db")
    log = PredictionLog(url)
    log.append([_record("a", prediction=1), _record("b", prediction="yes")])
    assert log.flush() == 2
    assert list(read_predictions(url)["prediction"]) == ["1", "yes"]


def test_sql_url_since_filters_in_the_query(tmp_path):
    url = _url(tmp_path / "log.db")
    log = PredictionLog(url)
    log.append(
        [
            _record("old", at="2024-01-01T00:00:00+00:00"),
            _record("new", at="2024-02-01T00:00:00+01:00"),
            _record("edge", at="2024-01-15T00:00:00Z"),
        ]
    )
    log.close()
    since = read_predictions(url, since="2024-01-15T00:00:00Z")
    assert list(since["request_id"]) == ["new", "edge"]
    assert since.loc[0, "time"] == "2024-01-31T23:00:00+00:00"  # stored and read back as UTC
    assert list(read_predictions(url, since="2024-01-15T00:00:01")["request_id"]) == ["new"]


def test_sql_url_feedback_joins_by_request_id_latest_actual_wins(tmp_path):
    url = _url(tmp_path / "log.db")
    log = PredictionLog(url)
    log.append([_record("a"), _record("b"), _record("c")])
    log.record_feedback("a", 0, time="2024-01-02T00:00:00+00:00")
    log.flush()
    log.record_feedback("a", 1, time="2024-01-03T00:00:00+00:00")
    log.record_feedback("b", 0, time="2024-01-02T00:00:00+00:00")
    log.close()

    assert len(read_feedback(url)) == 3
    joined = joined_with_feedback(url).set_index("request_id")
    assert joined.loc["a", "actual"] == 1
    assert joined.loc["b", "actual"] == 0
    assert joined.loc["c", "actual"] != joined.loc["c", "actual"]  # NaN: no feedback yet


def test_sql_url_failed_flush_keeps_rows_for_the_next_flush(tmp_path, caplog):
    blocker = tmp_path / "db"
    blocker.write_text("a file where the database's folder should be")
    url = _url(blocker / "log.db")
    log = PredictionLog(url)
    log.append([_record("a"), _record("b")])
    log.record_feedback("a", 1)

    assert log.flush() == 0
    assert log.pending == 2
    assert "failed" in caplog.text and "will retry" in caplog.text

    blocker.unlink()
    blocker.mkdir()
    log.append([_record("c")])
    assert log.flush() == 3
    log.close()
    assert list(read_predictions(url)["request_id"]) == ["a", "b", "c"]
    assert list(read_feedback(url)["request_id"]) == ["a"]


def test_sql_url_tables_are_indexed_on_request_id(tmp_path):
    import sqlalchemy as sa

    url = _url(tmp_path / "log.db")
    with PredictionLog(url) as log:
        log.append([_record("a")])
        log.record_feedback("a", 1)
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    for table in ("predictions", "prediction_feedback"):
        indexed = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        assert ("request_id",) in indexed
    engine.dispose()


@pytest.mark.parametrize(
    ("reader", "columns"),
    [
        (read_predictions, PREDICTION_COLUMNS),
        (read_feedback, FEEDBACK_COLUMNS),
        (joined_with_feedback, [*PREDICTION_COLUMNS, "actual", "feedback_time"]),
    ],
)
def test_sql_url_without_tables_reads_empty_frames_with_columns(tmp_path, reader, columns):
    frame = reader(_url(tmp_path / "empty.db"))
    assert frame.empty
    assert list(frame.columns) == columns


def test_feedback_time_must_be_iso(tmp_path):
    log = PredictionLog(_url(tmp_path / "log.db"))
    with pytest.raises(ValueError):
        log.record_feedback("a", 1, time="yesterday")
    assert read_feedback(_url(tmp_path / "log.db")).empty


def test_prediction_log_source_url_from_env_then_config_else_folder(tmp_path, monkeypatch):
    import yaml

    from core.workspace import Workspace

    config = {"task": "classification", "target": "y"}
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.delenv("WORKBENCH_PREDICTION_LOG_URL", raising=False)
    assert prediction_log_source(Workspace.open(tmp_path)) == tmp_path / "predictions"

    config["serving"] = {"prediction_log_url": "sqlite:///config.db"}
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(config))
    assert prediction_log_source(Workspace.open(tmp_path)) == "sqlite:///config.db"

    monkeypatch.setenv("WORKBENCH_PREDICTION_LOG_URL", "sqlite:///env.db")
    assert prediction_log_source(Workspace.open(tmp_path)) == "sqlite:///env.db"


def test_serve_settings_prefer_the_log_url_over_the_folder(tmp_path, monkeypatch):
    import yaml

    from api.settings import ServeSettings
    from core.workspace import Workspace

    config = {"task": "classification", "target": "y"}
    config["serving"] = {"prediction_log_url": "sqlite:///config.db"}
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.delenv("WORKBENCH_PREDICTION_LOG_URL", raising=False)
    settings = ServeSettings.from_workspace(Workspace.open(tmp_path))
    assert settings.prediction_log_destination == "sqlite:///config.db"

    monkeypatch.setenv("WORKBENCH_PREDICTION_LOG_URL", "sqlite:///env.db")
    settings = ServeSettings.from_workspace(Workspace.open(tmp_path))
    assert settings.prediction_log_destination == "sqlite:///env.db"

    settings = ServeSettings.from_workspace(Workspace.open(tmp_path), prediction_log_url=None)
    assert settings.prediction_log_destination == tmp_path / "predictions"
    with pytest.raises(ValueError, match="SQLAlchemy URL"):
        ServeSettings(model_name="m", tracking_uri="x", prediction_log_url="predictions.db")


# --- the `client` column: the API key's name, added after logs already existed ---


def _with_client(request_id: str, client: str | None):
    record = _record(request_id)
    record.client = client
    return record


def test_client_is_logged_and_a_part_written_before_the_column_reads_as_null(tmp_path):
    from core.predictions.sinks import _write_part

    old_columns = [c for c in PREDICTION_COLUMNS if c != "client"]
    _write_part([_record("old").to_row()], tmp_path, old_columns)  # as the last version wrote
    only_old = read_predictions(tmp_path)
    assert list(only_old.columns) == PREDICTION_COLUMNS and only_old.loc[0, "client"] is None

    with PredictionLog(tmp_path) as log:
        log.append([_with_client("new", "mobile-app"), _with_client("open", None)])

    frame = read_predictions(tmp_path).set_index("request_id")
    assert frame["client"].to_dict() == {"old": None, "new": "mobile-app", "open": None}
    assert joined_with_feedback(tmp_path).set_index("request_id").loc["new", "client"] == (
        "mobile-app"
    )


def _drop_client_column(url: str) -> None:
    """Make the predictions table look like one of the last version (no `client`)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE predictions DROP COLUMN client"))
    engine.dispose()


def _table_columns(url: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        return [c["name"] for c in sa.inspect(engine).get_columns("predictions")]
    finally:
        engine.dispose()


def test_sql_url_adds_the_client_column_to_an_older_table_on_the_first_write(tmp_path):
    url = _url(tmp_path / "log.db")
    with PredictionLog(url) as log:
        log.append([_record("old")])
    _drop_client_column(url)

    frame = read_predictions(url)
    assert list(frame.columns) == PREDICTION_COLUMNS and frame.loc[0, "client"] is None
    assert "client" not in _table_columns(url)  # reading leaves the table alone

    with PredictionLog(url) as log:
        log.append([_with_client("new", "mobile-app")])
    assert _table_columns(url)[-1] == "client"
    frame = read_predictions(url)
    assert frame.set_index("request_id")["client"].to_dict() == {"old": None, "new": "mobile-app"}
