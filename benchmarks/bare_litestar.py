"""The floor of `bench_serving.py`: a bare Litestar JSON endpoint on the same uvicorn.

It parses the JSON body and answers a small JSON object, with no model, guards or logging, so
it measures what the HTTP stack alone costs per request.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, post


@post("/predict", status_code=200)
async def predict(data: dict[str, Any]) -> dict[str, Any]:
    """Echo how many records were sent."""
    return {"predictions": [0] * len(data.get("records") or [None]), "model": "bare"}


app = Litestar([predict])
