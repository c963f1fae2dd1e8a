"""The MLflow scoring protocol, so clients of `mlflow models serve` switch by changing the URL.

`POST /invocations` takes what MLflow's scoring server takes for a DataFrame model: a JSON body
with exactly one of `dataframe_split` (`columns` + `data`), `dataframe_records` (a list of
records), `instances` or `inputs` (a list of records, or a mapping of column to values), or a
CSV body (`text/csv`, a header row) and answers `{"predictions": [...]}` as it does. Behind it
is the same service as `/predict`: the same keys, the same model (canary and shadow included),
the same validation (a 422 naming the field), the same prediction log and metrics. `/ping` and
`/version` answer as MLflow's do (200 once a model is loaded; the MLflow version).
"""

from __future__ import annotations

import io
from typing import Any

import msgspec
from litestar import MediaType, Request, Response, get, post

from api.errors import BadRequest, Unsupported
from api.guards import API_KEY, api_key_required
from api.metrics import parse_clock
from api.schemas import PredictRequest, error_responses
from api.service import PredictionService
from api.validation import invalid

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
"""The JSON input formats of MLflow's scoring protocol."""
IGNORED_KEYS = frozenset({"params"})
"""Keys MLflow also accepts: `params` (inference parameters) is ignored, the pipeline has none."""


def _records_or_columns(name: str, value: Any) -> PredictRequest:
    """`instances` / `inputs`: a list of records, or a mapping of column name to its values."""
    if isinstance(value, list) and all(isinstance(r, dict) for r in value):
        return PredictRequest(records=value)
    if isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        columns = list(value)
        lengths = {len(v) for v in value.values()}
        if len(lengths) > 1:
            raise invalid(f"`{name}`: every column needs as many values", field=name)
        return PredictRequest(
            columns=columns, rows=[list(r) for r in zip(*value.values(), strict=True)]
        )
    raise invalid(
        f"`{name}` must be a list of records or a mapping of column to a list of values",
        field=name,
    )


def from_json(body: bytes) -> PredictRequest:
    """The `/predict` request a JSON `/invocations` body stands for (4xx naming the key)."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise invalid("the body must be a JSON object with one of " + ", ".join(FORMATS))
    given = [k for k in FORMATS if k in data]
    unknown = [k for k in data if k not in FORMATS and k not in IGNORED_KEYS]
    if len(given) != 1 or unknown:
        what = f"unknown key `{unknown[0]}`" if unknown else f"got {given or 'none'}"
        field = unknown[0] if unknown else (given[1] if given else "dataframe_split")
        raise invalid(f"send exactly one of {', '.join(FORMATS)} ({what})", field=field)
    if "params" in data and not isinstance(data["params"], dict):
        raise invalid("`params` must be an object (it is ignored)", field="params")
    name = given[0]
    value = data[name]
    if name == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise invalid("`dataframe_records` must be a list of records", field=name)
        return PredictRequest(records=value)
    if name == "dataframe_split":
        columns = value.get("columns") if isinstance(value, dict) else None
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise invalid("`dataframe_split` needs `columns` (a list of names)", field=name)
        extra = [k for k in value if k not in ("columns", "data", "index")]
        if extra:
            raise invalid(f"`dataframe_split`: unknown key `{extra[0]}`", field=extra[0])
        rows = value.get("data")
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise invalid("`dataframe_split.data` must be a list of rows (lists)", field=name)
        return PredictRequest(columns=value["columns"], rows=rows)
    return _records_or_columns(name, value)


def from_csv(body: bytes, fields: list[tuple[str, str]]) -> PredictRequest:
    """The `/predict` request of a CSV body (a header row; empty cells are missing values).

    String and timestamp fields are read as text, numbers as pandas infers them (as MLflow
    does), so a value's type is checked by the same validation as JSON's.
    """
    import pandas as pd

    text_fields = {name: "string" for name, kind in fields if kind in ("string", "datetime")}
    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=text_fields, encoding="utf-8")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise BadRequest(f"the body is not a CSV with a header row: {exc}") from None
    frame = frame.astype(object).where(frame.notna(), None)
    return PredictRequest(columns=[str(c) for c in frame.columns], rows=frame.values.tolist())


@post(
    "/invocations",
    middleware=[api_key_required, parse_clock],
    status_code=200,
    security=API_KEY,
    responses=error_responses(400, 401, 403, 413, 415, 422, 429, 503),
)
async def invocations(request: Request) -> dict:
    """Score as `mlflow models serve` does: JSON or CSV in, `{"predictions": [...]}` out.

    JSON takes one of `dataframe_split`, `dataframe_records`, `instances` or `inputs`.
    """
    mime = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if mime not in ("application/json", "text/csv"):
        raise Unsupported(
            f"content type {mime or '(none)'!r}: send application/json or text/csv",
            {"field": "content-type"},
        )
    service: PredictionService = request.app.state.service
    client = request.state.get("client")
    service.metrics.count_client(client)
    model, variant = service.pick(request.state.get("traffic"))  # smoke: the champion's
    body = await request.body()
    data = from_json(body) if mime == "application/json" else from_csv(body, model.fields)
    service.metrics.parsed(request.state)
    batch = service.validate(data, model)
    preds, _, _ = await service.predict(model, variant, batch, client)
    return {"predictions": preds}


@get("/ping", media_type=MediaType.TEXT)
async def ping(request: Request) -> Response[str]:
    """MLflow's health check: 200 once a model is loaded (503 before)."""
    loaded = request.app.state.store.champion is not None
    return Response("\n", status_code=200 if loaded else 503, media_type=MediaType.TEXT)


@get("/version", media_type=MediaType.TEXT)
async def version() -> str:
    """The MLflow version the models are loaded with (what MLflow's server answers)."""
    from mlflow.version import VERSION

    return VERSION
