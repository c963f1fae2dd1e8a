"""The prediction log: batching, background flushes, failure retry and feedback joins."""

import threading
import time

import pytest

from core.predictions import (
    FEEDBACK_COLUMNS,
    PREDICTION_COLUMNS,
    PredictionLog,
    PredictionRecord,
    joined_with_feedback,
    read_feedback,
    read_predictions,
)


def _record(
    request_id: str, prediction=1, at: str = "2024-01-01T00:00:00+00:00"
) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id,
        time=at,
        model_name="churn",
        model_version="3",
        variant="champion",
        inputs={"age": 42, "plan": "pro"},
        prediction=prediction,
        probability=0.8,
        latency_ms=1.5,
    )


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

    def worker(n: int) -> None:
        for i in range(500):
            log.append([_record(f"{n}-{i}")])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()

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
    assert frame.loc[0, "inputs_json"] == '{"age": 42, "plan": "pro"}'


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
