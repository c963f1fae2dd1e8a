"""The entry point proxy (`api.entry`) on loopback: switching, in-flight accounting, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time

import httpx
import pytest
import uvicorn
from servers import free_port

from api.entry import Entry, ctl


def upstream_app(name: str, ready: int = 200):
    """A tiny upstream: /ready answers `ready`, /slow waits 1 s, everything else says `name`."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/slow":
            await asyncio.sleep(1)
        status = ready if scope["path"] == "/ready" else 200
        body = json.dumps({"name": name, "path": scope["path"]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


@contextlib.contextmanager
def serving(app, port: int, control_port: int | None = None):
    """Run an ASGI app with uvicorn in a thread (and the entry's control listener)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)

    async def main():
        if control_port is None:
            await server.serve()
            return
        control = await asyncio.start_server(app.control, "127.0.0.1", control_port)
        async with control:
            await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def entry(tmp_path):
    ports = {n: free_port() for n in ("a", "b", "bad", "entry", "control")}
    with (
        serving(upstream_app("a"), ports["a"]) as a,
        serving(upstream_app("b"), ports["b"]) as b,
        serving(upstream_app("bad", ready=503), ports["bad"]) as bad,
    ):
        proxy = Entry(a, tmp_path / "upstream")
        with serving(proxy, ports["entry"], ports["control"]) as url:
            yield url, ports["control"], {"a": a, "b": b, "bad": bad}


def test_switch_sends_new_requests_to_the_new_upstream_and_lets_old_ones_finish(entry):
    url, control, up = entry
    assert httpx.get(f"{url}/x?q=1").json() == {"name": "a", "path": "/x"}
    slow: list[dict] = []
    started = threading.Thread(target=lambda: slow.append(httpx.get(f"{url}/slow").json()))
    started.start()
    time.sleep(0.3)
    assert ctl({"op": "status"}, control)["inflight"] == {up["a"]: 1}
    answer = ctl({"op": "switch", "url": up["b"]}, control)
    assert answer == {"ok": True, "previous": up["a"], "upstream": up["b"]}
    assert httpx.get(f"{url}/x").json()["name"] == "b"  # at once, while /slow is still on a
    started.join()
    assert slow == [{"name": "a", "path": "/slow"}]  # the old request finished where it began
    state = ctl({"op": "status"}, control)
    assert state["inflight"] == {} and state["bad_gateway"] == 0


def test_switch_is_refused_when_the_new_upstream_is_not_ready(entry, tmp_path):
    url, control, up = entry
    answer = ctl({"op": "switch", "url": up["bad"]}, control)
    assert answer["ok"] is False and "503" in answer["error"]
    assert httpx.get(f"{url}/x").json()["name"] == "a"
    assert not (tmp_path / "upstream").exists()  # nothing recorded


def test_an_unreachable_upstream_is_a_502_with_a_reason(entry):
    url, control, _ = entry
    dead = f"http://127.0.0.1:{free_port()}"
    assert ctl({"op": "switch", "url": dead, "check": False}, control)["ok"]
    resp = httpx.get(f"{url}/x")
    assert resp.status_code == 502 and "unreachable" in resp.json()["detail"]
    assert ctl({"op": "status"}, control)["bad_gateway"] == 1
