"""The prediction log: every answered prediction (and later feedback), written in batches.

The API appends records in O(1) on the hot path; a background thread writes the pending rows
every `flush_seconds` or once `flush_rows` are pending, and `close()` writes the rest on
shutdown. A failed write keeps the rows for the next flush. Where they go depends on the
destination given to `PredictionLog`:

* a directory (the workspace's `predictions_dir`, the default): Parquet parts in one folder
  per UTC day (hive-style). Part names carry the UTC flush time and a random suffix, so several
  API workers can share one directory::

      date=YYYY-MM-DD/part-<UTC time>-<uuid8>.parquet            predictions, by their time
      feedback/date=YYYY-MM-DD/part-<UTC time>-<uuid8>.parquet   actuals, by the day written

  A window reads only the days it spans (and the feedback written since it started); the
  `compaction` module merges a closed day's parts into one and deletes old days. Flat parts
  of a log from before date folders (`part-*.parquet` directly in the folder) still read.

* a SQLAlchemy URL (anything containing `://`, e.g. `postgresql+psycopg://user@host/db` or
  `sqlite:///log.db`): the tables `predictions` and `prediction_feedback` (created when missing,
  indexed on `request_id` and `time`), one insert transaction per table per flush. `time` is a
  timezone-aware timestamp there; `prediction` and `actual` are text.

What is where:

* `record`: `PredictionRecord` (one answered prediction), the log's columns and the row form of
  a record (`inputs_json`, UTC times).
* `writer`: `PredictionLog`, the batched, thread-safe writer with its background flush thread.
* `sinks`: the two destinations (Parquet parts in a folder, two tables in a SQL database) and
  `is_url`, which tells them apart.
* `readers`: `read_predictions`, `read_feedback` and `joined_with_feedback` (the same frames
  from either destination), and `prediction_log_source(ws)`, where a workspace's log lives.
* `compaction`: `compact_log` (one part per closed day, retention) and the scheduler's
  `prediction_log_compaction` step.
"""
