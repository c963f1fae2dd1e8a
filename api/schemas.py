"""Request and response schemas (msgspec) of the prediction API."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from msgspec import UNSET, UnsetType

from api.errors import ERROR_KINDS
from api.validation import INTEGER_TYPES, MAX_ABS_NUMBER, NUMERIC_TYPES
from core.config.serving import UnknownFields
from core.serving.explain import MAX_EXPLAIN_ROWS


class PredictRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Records to score: `records` (mappings of field to value), or `columns` + `rows`.

    The columnar form names the fields once and sends each record as a list of values in
    `columns` order; it is cheaper to parse for large batches. A key is either absent or holds
    its list (null is refused like any other wrong type), and no other key is allowed: the body
    is exactly what `predict_request_schema` describes.
    """

    records: list[dict[str, Any]] | UnsetType = UNSET
    columns: list[str] | UnsetType = UNSET
    rows: list[list[Any]] | UnsetType = UNSET
    explain: Any = False
    """`true`: also answer `explanations` (`api.explain`).

    Typed `Any` so that only JSON booleans pass (`api.explain.checked_explainer`): the lax
    decoding of a `bool` would take `0` or `"1"`.
    """


class ModelRef(msgspec.Struct):
    """Which model version produced a response."""

    name: str
    version: str
    alias: str


class Explanation(msgspec.Struct):
    """How each raw input field moved one prediction (`core.serving.explain`).

    `base_value + sum(contributions)` is the model's output in `space`: `log_odds` (its sigmoid
    is the probability of class 1) or `value` (a regressor's prediction).
    """

    base_value: float
    contributions: dict[str, float]
    space: str


class PredictResponse(msgspec.Struct):
    """Predictions in record order; probabilities for classification."""

    predictions: list[Any]
    model: ModelRef
    request_id: str
    variant: str
    probabilities: list[float] | None = None
    ignored_fields: list[str] | UnsetType = UNSET
    """Fields of the request the model does not take, dropped (`serving.unknown_fields:
    ignore`); absent when there were none."""
    explanations: list[Explanation] | UnsetType = UNSET
    """One per record when the request asked `"explain": true`; absent otherwise."""


class FeedbackRequest(msgspec.Struct):
    """The actual outcome of an earlier prediction."""

    request_id: str
    actual: Any


class ErrorResponse(msgspec.Struct):
    """The body of every 4xx/5xx answer; `extra` names the record index and field when known."""

    status_code: int
    detail: str
    extra: dict[str, Any] | list[Any] | None = None


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for a route's error answers (`ERROR_KINDS`), each an `ErrorResponse`."""
    return {
        code: ResponseSpec(
            ErrorResponse, description=ERROR_KINDS[code].description, generate_examples=False
        )
        for code in codes
    }


class ReadyStatus(msgspec.Struct):
    """Readiness: whether a champion is loaded, and why the registry is degraded if it is."""

    ready: bool
    degraded: str | None
    model: str | None
    challenger: str | None


class InputField(msgspec.Struct):
    """One input column of the served model (its MLflow signature); every record carries it."""

    name: str
    type: str
    """MLflow type: `datetime` (an ISO-8601 string), `string`, `long`, `double`, `boolean`..."""
    nullable: bool = True
    """Whether null is accepted (a missing value: the model imputes it)."""


class ModelInfo(msgspec.Struct):
    """The served model."""

    name: str
    version: str
    alias: str
    loaded_at: str
    inputs: list[InputField]
    challenger_version: str | None = None
    prediction_path: str = "pandas"
    """`array` when the pipeline runs on numpy arrays (`core.serving.inference`), else `pandas`."""
    backend: str = "sklearn"
    """What runs the estimator: `lleaves` (LightGBM compiled at registration), `lightgbm` (its
    booster) or `sklearn` (the estimator's own predict)."""
    backend_reason: str | None = None
    """Why compiled trees do not serve this model (None when they do)."""


def value_schema(kind: str, nullable: bool = True) -> dict:
    """The JSON Schema of one input of MLflow type `kind`, as `api.validation` checks it.

    `date-time` (RFC 3339) needs a zone; the API also takes zone-less ISO-8601 timestamps, so
    the schema is the stricter of the two.
    """
    if kind in NUMERIC_TYPES:
        kind_schema = {
            "type": "integer" if kind in INTEGER_TYPES else "number",
            "minimum": -MAX_ABS_NUMBER,
            "maximum": MAX_ABS_NUMBER,
        }
    elif kind == "boolean":
        kind_schema = {"type": "boolean"}
    elif kind == "datetime":
        kind_schema = {
            "type": "string",
            "format": "date-time",
            "description": "ISO-8601; the API also takes it without a zone (read as UTC)",
        }
    else:
        kind_schema = {"type": "string"}
    if nullable:
        kind_schema["type"] = [kind_schema["type"], "null"]
    return kind_schema


def predict_request_schema(
    fields: list[tuple[str, str]] | None, max_batch: int, unknown: UnknownFields = "reject"
) -> dict:
    """The /predict body as JSON Schema: `records`, or `columns` + `rows`, never both.

    `fields` are the served model's inputs ((name, MLflow type)); None (no model loaded) leaves
    records free-form. Every input is present in every record; null stands for a missing value
    (the model imputes it). Other properties are allowed only when `unknown` is `ignore`.
    The columnar form is described with `columns` in the model's order so each row can be
    typed by position; the API accepts them in any order.
    """
    batch, record, columns, row = _parts(fields, max_batch, unknown)

    def form(title: str, description: str, properties: dict) -> dict:
        body = {
            "title": title,
            "description": description,
            "type": "object",
            "properties": properties | {"explain": EXPLAIN_SCHEMA},
            "required": list(properties),
            "additionalProperties": False,
        }
        if max_batch > MAX_EXPLAIN_ROWS:  # explained requests have the smaller limit
            batch_key = "records" if "records" in properties else "rows"
            body["if"] = {"properties": {"explain": {"const": True}}, "required": ["explain"]}
            body["then"] = {"properties": {batch_key: {"maxItems": MAX_EXPLAIN_ROWS}}}
        return body

    records_form = {"records": batch | {"items": record}}
    columnar_form = {"columns": columns, "rows": batch | {"items": row}}
    return {
        "title": "PredictRequest",
        "description": "Raw records of the served model's inputs (GET /model): `records`, or "
        "`columns` + `rows` (cheaper to parse for large batches), not both.",
        "oneOf": [
            form("records", "one mapping of field to value per record", records_form),
            form("columns + rows", "field names once, one value list per record", columnar_form),
        ],
    }


EXPLAIN_SCHEMA = {
    "type": "boolean",
    "default": False,
    "description": f"also answer `explanations`, one per record (at most {MAX_EXPLAIN_ROWS} "
    "records): exact for LightGBM and linear models, 422 naming the model family otherwise",
}


def invocations_request_schema(
    fields: list[tuple[str, str]] | None, max_batch: int, unknown: UnknownFields = "reject"
) -> dict:
    """The JSON body of `POST /invocations` (MLflow's scoring protocol) as JSON Schema.

    Exactly one of `dataframe_split` (`columns` + `data`), `dataframe_records`, `instances` or
    `inputs` (records; `inputs` also takes a mapping of column to values, which JSON Schema
    cannot tie to equal lengths, so only the description names it), and optionally `params`
    (ignored). Records and rows are typed as `/predict`'s.
    """
    batch, record, columns, row = _parts(fields, max_batch, unknown)
    records = batch | {"items": record}
    split = {
        "type": "object",
        "properties": {"columns": columns, "data": batch | {"items": row}, "index": {}},
        "required": ["columns", "data"],
        "additionalProperties": False,
    }

    def form(name: str, value: dict) -> dict:
        return {
            "title": name,
            "type": "object",
            "properties": {name: value, "params": {"type": "object"}},
            "required": [name],
            "additionalProperties": False,
        }

    return {
        "title": "InvocationsRequest",
        "description": "MLflow's scoring protocol (`mlflow models serve`): one of "
        "`dataframe_split`, `dataframe_records`, `instances` or `inputs` (a list of records, "
        "or a mapping of column to its values); also `text/csv` with a header row. Answers "
        '`{"predictions": [...]}`.',
        "oneOf": [
            form("dataframe_split", split),
            form("dataframe_records", records),
            form("instances", records),
            form("inputs", records),
        ],
    }


def _parts(
    fields: list[tuple[str, str]] | None, max_batch: int, unknown: UnknownFields
) -> tuple[dict, dict, dict, dict]:
    """The schemas of a batch (array), a record, the `columns` list and a row."""
    batch = {"type": "array", "minItems": 1, "maxItems": max_batch}
    if fields is None:
        record: dict = {"type": "object"}
        columns: dict = {"type": "array", "items": {"type": "string"}, "minItems": 1}
        row: dict = {"type": "array", "minItems": 1}
    else:
        names = [name for name, _ in fields]
        values = [value_schema(kind) for _, kind in fields]
        record = {
            "type": "object",
            "properties": dict(zip(names, values, strict=True)),
            "required": names,
            "additionalProperties": unknown == "ignore",
        }
        columns = {
            "type": "array",
            "items": {"type": "string", "enum": names},
            "const": names,
            "description": "every input once; the API takes any order, this schema documents "
            "the model's (GET /model)",
        }
        row = {
            "type": "array",
            "prefixItems": values,
            "items": False,
            "minItems": len(names),
            "maxItems": len(names),
        }
    return batch, record, columns, row
