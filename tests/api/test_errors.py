"""One table of error kinds: the OpenAPI document and the error counter both read it."""

from __future__ import annotations

import json

import pytest

from api.app import create_app
from api.errors import ERROR_KINDS, ApiError, Invalid, LogDisabled, NotReady, error_label
from api.errors import error_response as respond
from api.settings import ServeSettings


@pytest.fixture(scope="module")
def document(tmp_path_factory) -> dict:
    """The OpenAPI document of an app with keys and nothing loaded (no lifespan runs)."""
    db = tmp_path_factory.mktemp("errors") / "mlflow.db"
    settings = ServeSettings(
        model_name="m", tracking_uri=f"sqlite:///{db}", api_keys=["k"], admin_key="a"
    )
    return create_app(settings).openapi_schema.to_schema()


def test_every_documented_error_answer_is_a_kind_of_the_table(document):
    documented = {
        (path, int(code)): answer["description"]
        for path, item in document["paths"].items()
        for operation in item.values()
        for code, answer in operation["responses"].items()
        if int(code) > 400  # 400: Litestar documents its own body-parsing answer
    }
    assert {code for _, code in documented} == {401, 403, 409, 413, 415, 422, 429, 503}
    for (_, code), description in documented.items():
        assert description == ERROR_KINDS[code].description


def test_error_labels_come_from_the_table_and_default_by_class():
    assert error_label(401) == error_label(403) == "auth"
    assert error_label(422) == "validation" and error_label(404) == "not_found"
    assert error_label(500) == error_label(502) == "server"
    assert error_label(418) == "client"


@pytest.mark.parametrize("kind", [ApiError, *ApiError.__subclasses__()])
def test_every_api_error_has_a_row_of_the_table(kind):
    if kind is ApiError:
        assert not hasattr(ApiError, "status")  # only the kinds answer
    else:
        assert kind("x").kind is ERROR_KINDS[kind.status]


def test_one_handler_answers_the_litestar_error_body():
    invalid = respond(None, Invalid("records[0]: missing field 'x'", {"index": 0, "field": "x"}))
    assert invalid.status_code == 422
    assert json.loads(invalid.render(invalid.content, "application/json")) == {
        "status_code": 422,
        "detail": "records[0]: missing field 'x'",
        "extra": {"index": 0, "field": "x"},
    }
    for error, status in ((NotReady("no model loaded yet"), 503), (LogDisabled("off"), 409)):
        answer = respond(None, error)
        assert answer.status_code == status and "extra" not in answer.content
