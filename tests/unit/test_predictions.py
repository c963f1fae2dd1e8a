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
    """Every part of a Parquet log's predictions (date partitions and flat parts)."""
    return sorted(directory.glob("part-*.parquet")) + sorted(directory.glob("date=*/part-*"))


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
    window = read_predictions(url, since="2024-01-01T00:00:00Z", until="2024-01-15T00:00:00Z")
    assert list(window["request_id"]) == ["old", "edge"]  # a window's end, also in SQL


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


# --- date partitions, compaction, retention ---------------------------------------------------


def _day_parts(directory, day: str) -> list:
    return sorted((directory / f"date={day}").glob("part-*.parquet"))


def _log_days(directory, days: dict[str, int], flushes: int = 3) -> list[str]:
    """`days[day]` predictions on each day (noon onwards), written in `flushes` flushes each."""
    ids = []
    with PredictionLog(directory) as log:
        for day, n in days.items():
            for f in range(flushes):
                batch = [
                    _record(f"{day}-{f}-{i}", at=f"{day}T12:{f:02d}:{i % 60:02d}+00:00")
                    for i in range(n // flushes)
                ]
                log.append(batch)
                log.flush()
                ids += [r.request_id for r in batch]
    return ids


def test_parts_land_in_the_partition_of_their_day_feedback_in_the_day_written(tmp_path):
    with PredictionLog(tmp_path) as log:
        log.append([_record("a", at="2024-01-01T23:59:59+00:00")])
        log.append([_record("b", at="2024-01-02T00:00:00Z"), _record("c", at="2024-01-02T01:00")])
        log.record_feedback("a", 1)

    assert [p.name for p in sorted(tmp_path.glob("date=*"))] == [
        "date=2024-01-01",
        "date=2024-01-02",
    ]
    assert len(_day_parts(tmp_path, "2024-01-01")) == len(_day_parts(tmp_path, "2024-01-02")) == 1
    assert list(pd.read_parquet(_day_parts(tmp_path, "2024-01-02")[0])["request_id"]) == ["b", "c"]
    today = pd.Timestamp.now(tz="UTC").date().isoformat()
    assert len(_day_parts(tmp_path / "feedback", today)) == 1
    assert list(tmp_path.glob("part-*.parquet")) == []  # nothing flat any more


def test_a_window_opens_only_its_partitions(tmp_path):
    from core.predictions.sinks import window_parts

    _log_days(tmp_path, {"2024-01-01": 3, "2024-01-02": 3, "2024-01-03": 3})
    for part in _day_parts(tmp_path, "2024-01-01"):
        part.write_bytes(b"not parquet")  # a read that opened it would fail

    since, until = "2024-01-02T00:00:00Z", "2024-01-02T23:59:59Z"
    window = read_predictions(tmp_path, since=since, until=until)
    assert sorted(window["request_id"]) == sorted(f"2024-01-02-{f}-0" for f in range(3))
    opened = window_parts(tmp_path, pd.Timestamp(since), pd.Timestamp(until))
    assert {p.parent.name for p in opened} == {"date=2024-01-02"}
    assert len(read_predictions(tmp_path, since="2024-01-03T12:00:00Z")) == 3
    with pytest.raises(Exception, match="(?i)parquet"):
        read_predictions(tmp_path)  # the whole log does open the corrupt day


def test_feedback_of_a_window_is_read_from_the_days_written_since(tmp_path):
    from core.predictions.sinks import _write_part, partition_dir

    old = partition_dir(tmp_path / "feedback", pd.Timestamp("2024-01-01").date())
    _write_part(
        [{"request_id": "x", "actual": 0, "time": "2024-01-01T00:00:00+00:00"}],
        old,
        FEEDBACK_COLUMNS,
    )
    with PredictionLog(tmp_path) as log:
        log.record_feedback("y", 1, time="2024-01-01T00:00:00+00:00")  # written today

    recent = read_feedback(tmp_path, written_since=pd.Timestamp.now(tz="UTC").isoformat())
    assert list(recent["request_id"]) == ["y"]  # a label's own time does not place it
    assert sorted(read_feedback(tmp_path)["request_id"]) == ["x", "y"]


def test_compaction_keeps_every_row_and_leaves_one_part_per_closed_day(tmp_path):
    from core.predictions.compaction import compact_log

    ids = _log_days(tmp_path, {"2024-01-01": 30, "2024-01-02": 30, "2024-01-03": 30}, flushes=5)
    with PredictionLog(tmp_path) as log:
        for i in range(4):
            log.record_feedback(ids[i], i % 2)
            log.flush()
    before = read_predictions(tmp_path)
    feedback_day = next((tmp_path / "feedback").glob("date=*")).name.split("=")[1]

    result = compact_log(tmp_path, today=pd.Timestamp("2024-01-03").date())

    assert [len(_day_parts(tmp_path, d)) for d in ("2024-01-01", "2024-01-02")] == [1, 1]
    assert len(_day_parts(tmp_path, "2024-01-03")) == 5  # the open day is left alone
    assert result["predictions"].parts_before == 10 and result["predictions"].parts_after == 2
    after = read_predictions(tmp_path)
    pd.testing.assert_frame_equal(after, before)  # same rows, same order
    assert len(read_feedback(tmp_path)) == 4  # its day is "today" here: not compacted
    compact_log(tmp_path, today=pd.Timestamp(feedback_day).date() + pd.Timedelta(days=1))
    assert len(_day_parts(tmp_path / "feedback", feedback_day)) == 1
    assert len(read_feedback(tmp_path)) == 4
    assert len(joined_with_feedback(tmp_path)["actual"].dropna()) == 4


def test_a_compaction_stopped_before_deleting_its_parts_counts_no_row_twice(tmp_path):
    import shutil

    from core.predictions.compaction import compact_log

    _log_days(tmp_path, {"2024-01-01": 9})
    day = tmp_path / "date=2024-01-01"
    saved = tmp_path / "saved"
    shutil.copytree(day, saved)
    compact_log(tmp_path, today=pd.Timestamp("2024-01-02").date())
    for part in saved.iterdir():  # as if the run had stopped before deleting them
        shutil.copy(part, day / part.name)

    assert len(list(day.glob("part-*"))) == 4
    assert len(read_predictions(tmp_path)) == 9
    compact_log(tmp_path, today=pd.Timestamp("2024-01-02").date())
    assert len(list(day.glob("part-*"))) == 1 and len(read_predictions(tmp_path)) == 9


def test_compaction_while_the_api_appends_to_that_day_loses_no_row(tmp_path):
    import threading

    from core.predictions.compaction import compact_log

    log = PredictionLog(tmp_path, flush_rows=40, flush_seconds=0.005)
    log.start()
    stop = threading.Event()
    appended = []

    def append() -> None:  # late rows of a closed day keep landing while it is compacted
        while not stop.is_set() or len(appended) < 2000:
            n = len(appended)
            log.append([_record(f"r{n}", at="2024-01-01T10:00:00+00:00")])
            appended.append(n)
            if n % 100 == 0:
                time.sleep(0.005)

    writer = threading.Thread(target=append)
    writer.start()
    seen, merges = [], 0
    while merges < 5:  # the day compacted again and again while rows keep landing
        result = compact_log(tmp_path, today=pd.Timestamp("2024-01-02").date())
        merges += result["predictions"].days_compacted
        frame = read_predictions(tmp_path)
        assert frame["request_id"].is_unique  # a reader never counts a row twice
        seen.append(len(frame))
    stop.set()
    writer.join()
    log.close()

    frame = read_predictions(tmp_path)
    assert len(frame) == len(appended) and frame["request_id"].is_unique
    assert seen == sorted(seen)  # rows only ever appear, none is lost on the way
    compact_log(tmp_path, today=pd.Timestamp("2024-01-02").date())
    assert len(_day_parts(tmp_path, "2024-01-01")) == 1
    assert len(read_predictions(tmp_path)) == len(appended)


def test_retention_removes_only_the_days_before_the_kept_ones(tmp_path):
    from core.predictions.compaction import compact_log
    from core.predictions.sinks import _write_part, part_name, partition_dir

    _log_days(tmp_path, {"2024-01-01": 3, "2024-01-20": 3, "2024-01-31": 3}, flushes=1)
    old = partition_dir(tmp_path / "feedback", pd.Timestamp("2024-01-05").date())
    _write_part(
        [{"request_id": "x", "actual": 0, "time": "2024-01-05T00:00:00+00:00"}],
        old,
        FEEDBACK_COLUMNS,
    )
    flat_old = tmp_path / part_name(pd.Timestamp("2024-01-02T00:00:00Z").to_pydatetime())
    flat_new = tmp_path / part_name(pd.Timestamp("2024-01-25T00:00:00Z").to_pydatetime())
    for path, rid in ((flat_old, "flat-old"), (flat_new, "flat-new")):
        pd.DataFrame([_record(rid, at="2024-01-01T00:00:00+00:00").to_row()]).to_parquet(path)

    result = compact_log(tmp_path, keep_days=20, today=pd.Timestamp("2024-02-01").date())

    assert [p.name for p in sorted(tmp_path.glob("date=*"))] == [
        "date=2024-01-20",
        "date=2024-01-31",
    ]
    assert result["predictions"].days_removed == ["2024-01-01"]
    assert result["feedback"].days_removed == ["2024-01-05"]
    assert not flat_old.exists() and flat_new.exists()  # flushed on or after the first kept day
    assert sorted(read_predictions(tmp_path)["request_id"].str[:7]) == ["2024-01"] * 6 + ["flat-ne"]
    with pytest.raises(ValueError, match="keep_days"):
        compact_log(tmp_path, keep_days=-1)


def test_a_flat_log_of_an_older_version_still_reads_beside_partitions(tmp_path):
    from core.predictions.compaction import compact_log
    from core.predictions.sinks import _write_part

    rows = [_record("flat-a", at="2024-01-01T00:00:00+00:00").to_row()]
    _write_part(rows, tmp_path, PREDICTION_COLUMNS)  # as the last version wrote: no date folder
    _write_part(
        [{"request_id": "flat-a", "actual": 1, "time": "2024-01-01T00:00:00+00:00"}],
        tmp_path / "feedback",
        FEEDBACK_COLUMNS,
    )
    with PredictionLog(tmp_path) as log:
        log.append([_record("new", at="2024-01-01T00:00:01+00:00")])

    joined = joined_with_feedback(tmp_path).set_index("request_id")
    assert sorted(joined.index) == ["flat-a", "new"] and joined.loc["flat-a", "actual"] == 1
    assert list(read_predictions(tmp_path, since="2024-01-01T00:00:00Z")["request_id"]) == [
        "flat-a",
        "new",
    ]  # flushed today, so a window from that day opens it
    compact_log(tmp_path, today=pd.Timestamp("2024-01-02").date())
    assert len(list(tmp_path.glob("part-*.parquet"))) == 1  # left as it is, still read
    assert sorted(read_predictions(tmp_path)["request_id"]) == ["flat-a", "new"]


def test_compaction_merges_parts_whose_prediction_types_differ(tmp_path):
    from core.predictions.compaction import compact_log

    with PredictionLog(tmp_path) as log:
        log.append([_record("a", prediction=1)])
        log.flush()
        log.append([_record("b", prediction="yes")])
    compact_log(tmp_path, today=pd.Timestamp("2024-01-02").date())
    assert len(_day_parts(tmp_path, "2024-01-01")) == 1
    assert list(read_predictions(tmp_path)["prediction"]) == ["1", "yes"]


def test_the_compaction_job_applies_the_configured_retention_and_skips_a_database(
    tmp_path, monkeypatch
):
    import yaml

    from core.config.schedules import JOB_NAMES
    from core.predictions.compaction import compaction_step
    from core.workspace import Workspace
    from scheduler.tasks import JOBS, JobContext

    monkeypatch.delenv("WORKBENCH_PREDICTION_LOG_URL", raising=False)
    config = {"task": "classification", "target": "y"}
    config["serving"] = {"prediction_log_keep_days": 1}
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(config))
    ws = Workspace.open(tmp_path)
    today = pd.Timestamp.now(tz="UTC").date()
    days = [(today - pd.Timedelta(days=d)).isoformat() for d in (3, 1, 0)]
    _log_days(ws.predictions_dir, dict.fromkeys(days, 3))

    assert "prediction_log_compaction" in JOB_NAMES
    summary = JOBS["prediction_log_compaction"](JobContext(ws, "manual"))

    assert summary["status"] == "ok" and summary["predictions"]["days_removed"] == [days[0]]
    assert "compacted 1 partition(s): 3 -> 1 part(s); 1 day(s) removed" in summary["message"]
    assert len(_day_parts(ws.predictions_dir, days[1])) == 1
    assert len(_day_parts(ws.predictions_dir, days[2])) == 3  # today: still open
    assert len(read_predictions(ws.predictions_dir)) == 6

    monkeypatch.setenv("WORKBENCH_PREDICTION_LOG_URL", _url(tmp_path / "log.db"))
    assert compaction_step(Workspace.open(tmp_path))["status"] == "skipped"
    config["serving"] = {"prediction_log_keep_days": -1}
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(Exception, match="prediction_log_keep_days"):
        _ = Workspace.open(tmp_path).config


def test_a_flush_failing_on_its_second_day_retries_only_that_days_rows(tmp_path, caplog):
    (tmp_path / "date=2024-01-02").write_text("not a folder")  # that day's part cannot land
    log = PredictionLog(tmp_path)
    log.append([_record("a", at="2024-01-01T23:00:00+00:00")])
    log.append([_record("b", at="2024-01-02T01:00:00+00:00")])

    assert log.flush() == 1 and log.pending == 1 and "failed" in caplog.text
    (tmp_path / "date=2024-01-02").unlink()
    assert log.flush() == 1
    assert list(read_predictions(tmp_path)["request_id"]) == ["a", "b"]  # each once


def test_a_drift_window_and_the_variants_read_only_their_days(tmp_path, monkeypatch):
    import yaml

    from core.monitoring.variants import compare_variants
    from core.monitoring.window import log_window
    from core.workspace import Workspace

    monkeypatch.delenv("WORKBENCH_PREDICTION_LOG_URL", raising=False)
    (tmp_path / "workbench.yaml").write_text(
        yaml.safe_dump({"task": "classification", "target": "y"})
    )
    ws = Workspace.open(tmp_path)
    ids = _log_days(ws.predictions_dir, {"2024-01-01": 3, "2024-01-02": 3})
    with PredictionLog(ws.predictions_dir) as log:
        for rid in ids:
            log.record_feedback(rid, 1)
    for part in _day_parts(ws.predictions_dir, "2024-01-01"):
        part.write_bytes(b"not parquet")  # opening the day before the window would fail

    window = log_window(ws, "24h", now=pd.Timestamp("2024-01-03T00:00:00Z").to_pydatetime())

    assert sorted(window.frame["request_id"]) == [r for r in sorted(ids) if "01-02" in r]
    assert window.labelled == 3 and list(window.frame["age"]) == [42] * 3
    variants = compare_variants(ws, "24h", now=pd.Timestamp("2024-01-03T00:00:00Z").to_pydatetime())
    assert [(v.variant, v.rows, v.labelled) for v in variants.variants] == [("champion", 3, 3)]
