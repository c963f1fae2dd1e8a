"""The prediction log: every answered prediction (and later feedback), written in batches.

The API appends records in O(1) on the hot path; a background thread writes the pending rows
every `flush_seconds` or once `flush_rows` are pending, and `close()` writes the rest on
shutdown. A failed write keeps the rows for the next flush. Where they go depends on the
destination given to `PredictionLog`:

* a directory (the workspace's `predictions_dir`, the default): Parquet parts. Part names carry
  the UTC flush time and a random suffix, so several API workers can share one directory::

      part-<UTC time>-<uuid8>.parquet            predictions
      feedback/part-<UTC time>-<uuid8>.parquet   actuals, joined back by request id

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
"""
