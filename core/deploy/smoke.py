"""The smoke test a new API container passes before a rollout sends it traffic.

The deployment workflow's integration, then performance tests, on the container itself (its
address on the deployment's network, not through the entry point):

1. `ready`: `/ready` answers 200 with a model loaded;
2. `holdout predictions`: a sample of the model's holdout (the test split of the data version
   it was trained on), sent as a client sends it, is scored exactly as the registered version
   scores it here (labels or values; probabilities up to 1e-9);
3. `p99 latency`: `requests` requests of `batch` holdout rows each; the 99th percentile of the
   time per row must stay within `gates.max_latency_ms_per_row` (the latency gate a version
   passed to become champion; skipped when the gate is off).

Smoke requests are not real traffic: each carries `X-Workbench-Traffic: smoke`, so the champion
answers it (no canary pick, no shadow copy) and the prediction log and
`workbench_predictions_total` name it variant `smoke`, which drift and performance windows,
variant comparisons, lineage counts and the Serving page leave out. The API honours that header
from a key with role admin only (`api.guards` says why), so the smoke test sends the admin key:
`WORKBENCH_ADMIN_KEY` given to the container, else the workspace's (`resolve_target`: the
environment, `serving.admin_key` or the `admin_key` secret); without one, the first of the
container's `WORKBENCH_API_KEYS`, else the workspace's own key, which a keyed API refuses with
403 naming the header (an API without keys takes it from anyone).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from core.deploy.engine import DeployError
from core.errors import one_line
from core.workspace import Workspace

SAMPLE_ROWS = 100
TRAFFIC_HEADER = "X-Workbench-Traffic"
"""Marks smoke requests (`api.guards.TRAFFIC_HEADER`; core does not import api)."""
SMOKE = "smoke"
LATENCY_REQUESTS = 50
LATENCY_BATCH = 25


class SmokeTestFailed(DeployError):
    """A check of the smoke test failed; `check` names it."""

    def __init__(self, check: str, detail: str) -> None:
        self.check, self.detail = check, detail
        super().__init__(f"smoke test failed at {check}: {detail}")


@dataclass
class SmokeReport:
    """What a passed smoke test measured."""

    version: str
    rows: int
    requests: int
    p99_ms_per_row: float
    gate_ms_per_row: float | None
    seconds: float

    def line(self) -> str:
        gate = (
            "no latency gate"
            if self.gate_ms_per_row is None
            else (f"gate {self.gate_ms_per_row:g} ms")
        )
        return (
            f"smoke test passed: /ready, {self.rows} holdout rows scored as v{self.version} "
            f"scores them here, p99 {self.p99_ms_per_row:.3f} ms per row over {self.requests} "
            f"requests ({gate})"
        )

    def to_dict(self) -> dict:
        return asdict(self)


class SmokeTest:
    """The checks of the module docstring against one workspace's registered model."""

    def __init__(
        self,
        ws: Workspace,
        rows: int = SAMPLE_ROWS,
        requests: int = LATENCY_REQUESTS,
        batch: int = LATENCY_BATCH,
        gate_ms_per_row: float | None | bool = True,
    ) -> None:
        """`gate_ms_per_row`: True reads `gates.max_latency_ms_per_row`; a number overrides it."""
        self.ws, self.rows, self.requests, self.batch = ws, rows, requests, batch
        self.gate = (
            ws.config.gates.max_latency_ms_per_row
            if gate_ms_per_row is True
            else (gate_ms_per_row or None)
        )

    def run(self, url: str, env: dict[str, str] | None = None, timeout: float = 60) -> SmokeReport:
        """Check the API at `url`; `env` is the container's (its API keys).

        Raises:
            SmokeTestFailed: The first failing check, named.
        """
        import httpx

        started = time.monotonic()
        headers = {TRAFFIC_HEADER: SMOKE}
        if key := self._key(env or {}):
            headers["X-API-Key"] = key
        with httpx.Client(base_url=url, headers=headers, timeout=timeout) as client:
            version = self._ready(client)
            rows, records = self._holdout(client, version)
            p99 = self._latency(client, records)
        return SmokeReport(version, rows, self.requests, p99, self.gate, time.monotonic() - started)

    def _key(self, env: dict[str, str]) -> str | None:
        """The admin key (the smoke mark needs it), else a predict key (module docstring)."""
        from core.serving.client import resolve_target

        target = resolve_target(self.ws)
        if admin := env.get("WORKBENCH_ADMIN_KEY", "").strip() or target.admin_key:
            return admin
        keys = [k.strip() for k in env.get("WORKBENCH_API_KEYS", "").split(",") if k.strip()]
        return keys[0] if keys else target.api_key

    @staticmethod
    def _post(client, records: list[dict], check: str) -> dict:
        import httpx

        try:
            resp = client.post("/predict", json={"records": records})
        except httpx.HTTPError as exc:
            raise SmokeTestFailed(check, f"POST /predict: {one_line(exc)}") from None
        if resp.status_code != 200:
            hint = (
                " (smoke requests need the admin key: WORKBENCH_ADMIN_KEY for the container, "
                "or the workspace's admin_key secret)"
                if resp.status_code == 403 and TRAFFIC_HEADER in resp.text
                else ""
            )
            raise SmokeTestFailed(
                check, f"POST /predict answered {resp.status_code}: {resp.text[:300]}{hint}"
            )
        answer = resp.json()
        if answer.get("variant") != SMOKE:  # an API older than the mark logs it as real traffic
            raise SmokeTestFailed(
                check,
                f"the API answered as variant {answer.get('variant')!r}, not {SMOKE!r}: it does "
                f"not know {TRAFFIC_HEADER} and would log the smoke test as real traffic",
            )
        return answer

    @staticmethod
    def _ready(client) -> str:
        import httpx

        try:
            resp = client.get("/ready")
        except httpx.HTTPError as exc:
            raise SmokeTestFailed("ready", f"GET /ready: {one_line(exc)}") from None
        body = (
            resp.json()
            if resp.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        if resp.status_code != 200 or not body.get("model"):
            raise SmokeTestFailed("ready", f"/ready answered {resp.status_code}: {resp.text[:300]}")
        return str(body["model"])

    def _sample(self, version: str):
        from core.registry import store
        from core.registry.tracking import TAG_DATA_VERSION
        from core.training.data import load_split

        client = store.registry_client(self.ws)
        mv = store.get_version(client, self.ws.config.model_name, version)
        tags, _ = store.run_data(client, store.version_run_id(mv))
        data_version = (mv.tags or {}).get(TAG_DATA_VERSION) or tags.get(TAG_DATA_VERSION)
        X = load_split(self.ws, data_version).X_test.head(self.rows)
        records = json.loads(X.to_json(orient="records", date_format="iso", date_unit="s"))
        return X, records

    def _holdout(self, client, version: str) -> tuple[int, list[dict]]:
        from core.registry import store
        from core.serving.inference import same_predictions

        check = "holdout predictions"
        try:
            X, records = self._sample(version)
        except Exception as exc:  # noqa: BLE001 - any reason the sample cannot be had, named
            raise SmokeTestFailed(
                check, f"no holdout sample of v{version}: {one_line(exc)}"
            ) from None
        answer = self._post(client, records, check)
        served = str(answer["model"]["version"])
        try:
            model = store.load_model(self.ws.config.model_name, served)
        except Exception as exc:  # noqa: BLE001
            raise SmokeTestFailed(check, f"cannot load v{served} here: {one_line(exc)}") from None
        classifier = self.ws.config.task == "classification"
        expected, got = np.asarray(model.predict(X)), np.asarray(answer["predictions"])
        if expected.shape != got.shape or not same_predictions(
            expected.astype(got.dtype) if classifier and got.dtype.kind in "iufb" else expected,
            got,
            classifier,
        ):
            wrong = (
                int(np.sum(expected.astype(str) != got.astype(str)))
                if expected.shape == got.shape
                else len(got)
            )
            raise SmokeTestFailed(
                check,
                f"{wrong} of {len(records)} holdout predictions differ from v{served} "
                "as registered (scored here)",
            )
        if (
            classifier
            and answer.get("probabilities") is not None
            and hasattr(model, "predict_proba")
        ):
            proba = np.asarray(model.predict_proba(X))
            local = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
            if not np.allclose(
                local, np.asarray(answer["probabilities"], float), rtol=0, atol=1e-9
            ):
                raise SmokeTestFailed(
                    check, f"holdout probabilities differ from v{served} as registered"
                )
        return len(records), records

    def _latency(self, client, records: list[dict]) -> float:
        per_row = []
        for i in range(self.requests):
            start = (i * self.batch) % max(len(records) - self.batch + 1, 1)
            chunk = records[start : start + self.batch]
            began = time.perf_counter()
            self._post(client, chunk, "p99 latency")
            per_row.append((time.perf_counter() - began) * 1000 / len(chunk))
        p99 = float(np.percentile(per_row, 99))
        if self.gate is not None and p99 > self.gate:
            raise SmokeTestFailed(
                "p99 latency",
                f"p99 {p99:.3f} ms per row over {self.requests} requests of {self.batch} rows "
                f"is above the latency gate {self.gate:g} ms "
                f"({self.ws.config_path}: gates.max_latency_ms_per_row)",
            )
        return p99
