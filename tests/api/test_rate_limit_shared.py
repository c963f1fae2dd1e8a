"""`serving.rate_limit_store: redis`: one budget per client across API processes, on a real
redis-server (`tests/redis_server.py`); a Redis outage fails open; `memory` stays per process."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
import redis
import yaml
from litestar.testing import TestClient
from redis_server import RedisUnavailable, throwaway_redis
from servers import api_server, free_port

from api import ratelimit
from api.app import create_app
from api.ratelimit import KEY_PREFIX, STORE_ERROR, WINDOW_SECONDS, RateLimitSetupError, RedisWindow
from api.settings import ServeSettings
from core.config.serving import ServingConfig

KEY = "a-secret-api-key"


@pytest.fixture(scope="module")
def redis_url():
    """A private redis-server for the module; fails, never skips, when it is not installed."""
    try:
        with throwaway_redis() as server:
            yield server.url
    except RedisUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def fresh_redis(redis_url):
    """The module's Redis, emptied before the test."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def _settings(ws, **kw) -> ServeSettings:
    return ServeSettings.from_workspace(ws, **({"api_keys": [], "poll_seconds": 60} | kw))


def _fresh_window(margin: float = 10) -> None:
    """Wait for the next one-minute window when this one ends within `margin` seconds, so
    a test's requests all fall in one fixed window."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < margin:
        time.sleep(left + 0.05)


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _codes(client, n: int, **headers) -> list[int]:
    return [client.get("/model", headers=headers).status_code for _ in range(n)]


@pytest.mark.redis
@pytest.mark.slow
def test_two_apps_on_one_redis_share_one_budget_and_memory_does_not(
    trained_ws, fresh_redis, redis_url
):
    shared = _settings(
        trained_ws, rate_limit_per_minute=3, rate_limit_store="redis", redis_url=redis_url
    )
    with TestClient(create_app(shared)) as a, TestClient(create_app(shared)) as b:
        _fresh_window()
        assert _codes(a, 2) + _codes(b, 1) == [200, 200, 200]
        refused = b.get("/model")
        assert refused.status_code == 429
        assert 0 < int(refused.headers["retry-after"]) <= WINDOW_SECONDS
        assert refused.json()["status_code"] == 429
        assert _codes(a, 1) == [429]
        assert _codes(a, 3, **{"X-API-Key": KEY}) == [200, 200, 200]  # another client
        assert a.get("/health").status_code == 200  # probes are never limited
    keys = [k.decode() for k in fresh_redis.keys("*")]
    assert len(keys) == 2 and all(k.startswith(KEY_PREFIX) for k in keys)
    assert not any(KEY in k for k in keys)  # a digest, never the API key itself

    per_process = _settings(trained_ws, rate_limit_per_minute=3)
    with TestClient(create_app(per_process)) as a, TestClient(create_app(per_process)) as b:
        _fresh_window()
        assert _codes(a, 4) == [200, 200, 200, 429]
        assert _codes(b, 4) == [200, 200, 200, 429]


@pytest.mark.slow
def test_unreachable_redis_serves_requests_logs_once_and_counts_them(trained_ws):
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = _settings(
        trained_ws, rate_limit_per_minute=2, rate_limit_store="redis", redis_url=down
    )
    seen = _Recorder()
    logging.getLogger("api.ratelimit").addHandler(seen)  # the app's logging config may not
    try:  # propagate to pytest's caplog handler
        with TestClient(create_app(settings)) as client:
            assert _codes(client, 4) == [200] * 4
            metrics = client.get("/metrics").text
    finally:
        logging.getLogger("api.ratelimit").removeHandler(seen)
    assert f'workbench_errors_total{{type="{STORE_ERROR}"}} 4.0' in metrics
    warnings = [r.getMessage() for r in seen.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable, serving requests unlimited" in warnings[0]


@pytest.mark.redis
def test_an_outage_fails_open_backs_off_and_limits_again_once_redis_is_back(monkeypatch):
    monkeypatch.setattr(ratelimit, "RETRY_SECONDS", 0.5)
    seen = _Recorder()
    logging.getLogger("api.ratelimit").addHandler(seen)

    async def scenario() -> list:
        with throwaway_redis() as first:
            limiter = RedisWindow(first.url, 1)
            spent = [await limiter.spend("addr:x")]
        spent.append(await limiter.spend("addr:x"))  # down: served, not counted
        with throwaway_redis(port=first.port):
            spent.append(await limiter.spend("addr:x"))  # back, but within the back-off
            await asyncio.sleep(0.6)
            spent.append(await limiter.spend("addr:x"))
            spent.append(await limiter.spend("addr:x"))
        return spent

    try:
        spent = asyncio.run(scenario())
    finally:
        logging.getLogger("api.ratelimit").removeHandler(seen)
    assert [s and s[0] for s in spent] == [1, None, None, 1, 2]
    lines = [r.getMessage() for r in seen.records]
    assert len(lines) == 2
    assert "unreachable" in lines[0] and "answers again" in lines[1]


def test_redis_store_without_a_url_is_refused_at_startup(tmp_path):
    settings = ServeSettings(
        model_name="m",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        rate_limit_per_minute=5,
        rate_limit_store="redis",
    )
    with pytest.raises(RateLimitSetupError, match="WORKBENCH_REDIS_URL"):
        create_app(settings)


def test_redis_url_from_the_environment_wins_over_the_config():
    config = ServingConfig(rate_limit_store="redis", redis_url="redis://config:6379/0")
    assert config.resolved({}).redis_url == "redis://config:6379/0"
    env = {"WORKBENCH_REDIS_URL": "redis://env:6379/1"}
    assert config.resolved(env).redis_url == "redis://env:6379/1"
    assert ServingConfig().resolved(env).rate_limit_store == "memory"


def _set_serving(root, **serving) -> None:
    path = root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["serving"] = {**(cfg.get("serving") or {}), **serving}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.mark.redis
@pytest.mark.slow
def test_two_server_processes_share_one_budget_per_client(trained_ws, fresh_redis, redis_url):
    """Two real `workbench serve` processes on one Redis: N requests spread over both pass,
    the next one is refused by either."""
    _set_serving(trained_ws.root, rate_limit_per_minute=5, rate_limit_store="redis")
    env = {"WORKBENCH_REDIS_URL": redis_url}
    with (
        api_server(trained_ws.root, **env) as (one, _),
        api_server(trained_ws.root, **env) as (
            two,
            _,
        ),
    ):
        _fresh_window()
        codes = [httpx.get(f"{u}/model", timeout=10).status_code for u in [one, two] * 2]
        codes.append(httpx.get(f"{two}/model", timeout=10).status_code)
        assert codes == [200] * 5
        assert httpx.get(f"{one}/model", timeout=10).status_code == 429
        assert httpx.get(f"{two}/model", timeout=10).status_code == 429
        assert httpx.get(f"{one}/health", timeout=10).status_code == 200
