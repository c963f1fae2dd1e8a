"""The prediction log's request path: one `LoggedRequest` per answer, rows made by the flusher."""

import asyncio
import json

from prediction_logs import prediction_record

from core.predictions.readers import read_predictions
from core.predictions.writer import LoggedRequest, PredictionLog


def _request(request_id: str, n: int = 2, columnar: bool = False, proba: bool = True):
    records = [{"age": 40 + i, "plan": f"p{i}"} for i in range(n)]
    columns = ["plan", "age"] if columnar else None
    inputs = [[r["plan"], r["age"]] for r in records] if columnar else records
    return LoggedRequest(
        request_id,
        "2024-01-01T00:00:00.000Z",
        "churn",
        "3",
        "champion",
        columns,
        inputs,
        [i % 2 for i in range(n)],
        [0.25 + i / 10 for i in range(n)] if proba else None,
        1.5,
        "client-a",
    )


def test_a_request_becomes_one_row_per_record_in_either_payload_form(tmp_path):
    log = PredictionLog(tmp_path)
    log.append_request(_request("rec", n=2))
    log.append_request(_request("col", n=3, columnar=True, proba=False))
    assert log.pending == 5  # rows, not requests

    assert log.flush() == 5
    frame = read_predictions(tmp_path)
    assert list(frame["request_id"]) == ["rec", "rec", "col", "col", "col"]
    inputs = [json.loads(s) for s in frame["inputs_json"]]
    assert inputs[1] == {"age": 41, "plan": "p1"}
    assert inputs[4] == {"age": 42, "plan": "p2"}  # columnar rows are logged as mappings
    assert list(frame["prediction"]) == [0, 1, 0, 1, 0]
    assert frame["probability"].iloc[:2].tolist() == [0.25, 0.35]
    assert frame["probability"].iloc[2:].isna().all()
    assert set(frame["client"]) == {"client-a"}
    assert set(frame["latency_ms"]) == {1.5}


def test_requests_and_records_keep_their_order(tmp_path):
    log = PredictionLog(tmp_path)
    log.append([prediction_record("first")])
    log.append_request(_request("second", n=1))
    log.append([prediction_record("third")])
    log.close()
    assert list(read_predictions(tmp_path)["request_id"]) == ["first", "second", "third"]


def test_a_failed_flush_keeps_the_requests_rows(tmp_path):
    directory = tmp_path / "predictions"
    directory.write_text("not a directory")
    log = PredictionLog(directory)
    log.append_request(_request("a", n=3))
    assert log.flush() == 0
    assert log.pending == 3

    directory.unlink()
    log.append_request(_request("b", n=1))
    assert log.flush() == 4
    assert list(read_predictions(directory)["request_id"]) == ["a"] * 3 + ["b"]


def test_a_burst_from_the_event_loop_is_all_written_by_a_graceful_stop(tmp_path):
    """Requests queued from an event loop while the flusher runs, then closed at once."""
    log = PredictionLog(tmp_path, flush_rows=250, flush_seconds=60)
    log.start()

    async def burst() -> None:
        async def answer(i: int) -> None:
            await asyncio.sleep(0)
            log.append_request(_request(f"r{i}", n=1 + i % 3, columnar=i % 2 == 1))

        await asyncio.gather(*(answer(i) for i in range(2000)))

    asyncio.run(burst())
    log.close()  # the API's shutdown: what the flusher has not written yet is written now

    frame = read_predictions(tmp_path)
    expected = sum(1 + i % 3 for i in range(2000))
    assert len(frame) == expected
    counts = frame["request_id"].value_counts()
    assert len(counts) == 2000
    assert all(counts[f"r{i}"] == 1 + i % 3 for i in range(2000))
    assert log.pending == 0


def test_a_unix_time_is_logged_as_the_utc_iso_time_with_milliseconds(tmp_path):
    request = _request("t", n=1)
    request.time = 1704067200.25  # 2024-01-01T00:00:00.250 UTC
    assert request.records()[0].time == "2024-01-01T00:00:00.250+00:00"
    log = PredictionLog(tmp_path)
    log.append_request(request)
    log.flush()
    frame = read_predictions(tmp_path, since="2024-01-01T00:00:00Z")
    assert list(frame["request_id"]) == ["t"]
