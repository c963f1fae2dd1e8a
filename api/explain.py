"""`"explain": true` on `POST /predict`: per-record explanations of the model that answered.

The work is `core.serving.explain`'s; here a request is checked before it is scored (at most
`MAX_EXPLAIN_ROWS` records: 413, a model family without an exact method: 422, both naming the
field `explain`) and explained in a worker thread after it is.
"""

from __future__ import annotations

import anyio

from api.errors import Invalid, TooLarge
from api.schemas import Explanation
from core.serving.explain import MAX_EXPLAIN_ROWS, Explainer, ExplainUnsupported, explainer


def checked_explainer(model, n_records: int, explain: object) -> Explainer | None:
    """The explainer of a `LoadedModel` for a request, or None when `explain` is false.

    413 naming `explain` past `MAX_EXPLAIN_ROWS` records; 422 naming it for a model family
    without an exact method, or a value other than a JSON boolean.
    """
    if explain is not True and explain is not False:
        raise Invalid("explain must be true or false", {"index": None, "field": "explain"})
    if not explain:
        return None
    if n_records > MAX_EXPLAIN_ROWS:
        raise TooLarge(
            f"explain: {n_records} records exceed the {MAX_EXPLAIN_ROWS} explained per request "
            "(send fewer, or explain false)",
            {"field": "explain"},
        )
    try:
        return explainer(model.model, model.columns)
    except ExplainUnsupported as exc:
        raise Invalid(f"explain: {exc}", {"index": None, "field": "explain"}) from exc


async def explanations(model, found: Explainer, batch) -> list[Explanation]:
    """One `Explanation` per record of a validated `Batch`, computed off the event loop.

    `model` is the `LoadedModel` that scored it, `found` its `checked_explainer`.
    """
    parts = await anyio.to_thread.run_sync(_explain, model, found, batch.records())
    return [Explanation(p.base_value, p.contributions, p.space) for p in parts]


def _explain(model, found: Explainer, records: list[dict]):
    if model.compiled is not None:  # the array path's matrix: the pipeline's, ~1000x faster
        return found.explain_matrix(model.compiled.transform_records(records))
    return found.explain_records(records)
