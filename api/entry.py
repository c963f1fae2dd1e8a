"""The entry point in front of the API containers: a small reverse proxy with a switchable upstream.

Traffic reaches the API through this one address. A blue/green rollout
(`core.deploy.rollout`) starts the new API container, waits until it is healthy, then switches
this proxy to it: a request keeps the upstream it started on, so requests already sent to the
old container finish there while new ones go to the new one; the rollout stops the old
container once the proxy counts no request in flight on it. Nothing is refused at any moment.

When the upstream's host name resolves to several addresses (compose `--scale api=N`), requests
are spread round-robin over them, resolved again every few seconds; a connection that cannot be
opened is retried on another address (nothing was sent yet, so even a POST is safe to retry).

Control: a second listener on the container's own loopback speaks one JSON line per request
(`{"op": "status"}`, `{"op": "switch", "url": ...}`); `python3 -m api.entry ctl ...` is its
client, run through `docker exec`, so only whoever holds the Docker API can switch traffic.
The current upstream is kept in a file, so a restarted container keeps serving the live one.

    python3 -m api.entry serve --upstream http://api:8000 [--listen 0.0.0.0:8000]
    python3 -m api.entry ctl status | ctl switch http://new-container:8000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import one_line

CONTROL_PORT = 8001
RESOLVE_SECONDS = 2.0
CONNECT_ATTEMPTS = 3
STATE_FILE = "/tmp/workbench-entry-upstream"
"""Default file of the current upstream (`WORKBENCH_ENTRY_STATE` overrides)."""
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"content-length",
}


class Upstream:
    """One upstream URL and the addresses its host resolves to (round-robin)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.addresses: list[str] = []
        self._resolved_at = 0.0
        self._next = 0

    async def resolve(self) -> None:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        self.addresses = sorted({info[4][0] for info in infos})
        self._resolved_at = time.monotonic()

    async def pick(self) -> str:
        """The base URL (an address, not the name) of the next request."""
        if not self.addresses or time.monotonic() - self._resolved_at > RESOLVE_SECONDS:
            with contextlib.suppress(OSError):
                await self.resolve()
        if not self.addresses:
            raise OSError(f"{self.host} does not resolve")
        self._next = (self._next + 1) % len(self.addresses)
        address = self.addresses[self._next]
        host = f"[{address}]" if ":" in address else address
        return f"{self.scheme}://{host}:{self.port}"


class Entry:
    """The proxy (an ASGI app) and its control handler."""

    def __init__(self, upstream: str, state_file: Path) -> None:
        self.upstream = Upstream(upstream)
        self.state_file = state_file
        self.inflight: Counter[str] = Counter()
        self.counts = Counter()
        self.switched_at: float | None = None
        self.client = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._proxy(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        import httpx

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient(
                    timeout=httpx.Timeout(60, connect=3, pool=30),
                    limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
                    follow_redirects=False,
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _proxy(self, scope, receive, send) -> None:
        body = await _read_body(receive)
        upstream = self.upstream  # this request stays on it, whatever a switch does meanwhile
        self.inflight[upstream.url] += 1
        try:
            status, headers, content = await self._forward(upstream, scope, body)
        finally:
            self.inflight[upstream.url] -= 1
        self.counts["requests"] += 1
        if status == 502:
            self.counts["bad_gateway"] += 1
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _forward(self, upstream: Upstream, scope, body: bytes):
        import httpx

        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        if scope.get("client"):
            headers.append((b"x-forwarded-for", scope["client"][0].encode()))
        path = scope.get("raw_path") or scope["path"].encode()
        query = b"?" + scope["query_string"] if scope.get("query_string") else b""
        error: Exception | None = None
        for _ in range(CONNECT_ATTEMPTS):
            try:
                base = await upstream.pick()
                request = self.client.build_request(
                    scope["method"],
                    base + (path + query).decode("latin-1"),
                    headers=headers,
                    content=body,
                )
                response = await self.client.send(request, stream=True)
                try:
                    content = b"".join([chunk async for chunk in response.aiter_raw()])
                finally:
                    await response.aclose()
            except (httpx.ConnectError, httpx.ConnectTimeout, OSError) as exc:
                error = exc  # nothing reached the upstream: another address may answer
                with contextlib.suppress(OSError):
                    await upstream.resolve()
                continue
            except httpx.HTTPError as exc:
                return _bad_gateway(upstream, exc)
            out = [(k.lower(), v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
            return response.status_code, out, content
        return _bad_gateway(upstream, error)

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One JSON request line in, one JSON answer line out."""
        try:
            request = json.loads(await reader.readline())
            answer = await self._control(request)
        except Exception as exc:  # noqa: BLE001 - the control client shows any failure
            answer = {"ok": False, "error": one_line(exc)}
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()
        writer.close()

    async def _control(self, request: dict) -> dict:
        if request.get("op") == "status":
            return {"ok": True, **self.status()}
        if request.get("op") == "switch":
            return await self.switch(request["url"], request.get("check", True))
        return {"ok": False, "error": f"unknown op {request.get('op')!r}"}

    def status(self) -> dict:
        return {
            "upstream": self.upstream.url,
            "addresses": self.upstream.addresses,
            "inflight": {k: v for k, v in self.inflight.items() if v},
            "switched_at": self.switched_at,
            "requests": self.counts["requests"],
            "bad_gateway": self.counts["bad_gateway"],
        }

    async def switch(self, url: str, check: bool = True) -> dict:
        """Point new requests at `url`; with `check`, only if its /ready answers 200 from here."""
        new = Upstream(url)
        await new.resolve()
        if check:
            response = await self.client.get(await new.pick() + "/ready", timeout=10)
            if response.status_code != 200:
                return {
                    "ok": False,
                    "error": f"{url}/ready answered {response.status_code}: {response.text[:200]}",
                }
        previous, self.upstream = self.upstream, new
        self.switched_at = time.time()
        self.state_file.write_text(url)
        return {"ok": True, "previous": previous.url, "upstream": url}


def _bad_gateway(upstream: Upstream, error: Exception | None):
    detail = f"upstream {upstream.url} unreachable: {type(error).__name__}: {error}"
    body = json.dumps({"status_code": 502, "detail": detail}).encode()
    return 502, [(b"content-type", b"application/json")], body


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def serve(upstream: str, host: str, port: int, control_port: int, state: Path) -> None:
    """Run the proxy on `host:port` and the control listener on 127.0.0.1:`control_port`."""
    import uvicorn

    if state.is_file() and state.read_text().strip():
        upstream = state.read_text().strip()  # a restarted container keeps the live upstream
    entry = Entry(upstream, state)
    control = await asyncio.start_server(entry.control, "127.0.0.1", control_port)
    config = uvicorn.Config(
        entry, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10
    )
    async with control:
        await uvicorn.Server(config).serve()


def ctl(request: dict, control_port: int = CONTROL_PORT) -> dict:
    """Send one control request to the local entry and return its answer."""
    with socket.create_connection(("127.0.0.1", control_port), timeout=30) as conn:
        conn.sendall(json.dumps(request).encode() + b"\n")
        return json.loads(conn.makefile().readline())


def main(argv: list[str] | None = None) -> int:
    """`serve` the proxy or talk to it (`ctl`); the exit code of `ctl` says if it agreed."""
    parser = argparse.ArgumentParser(
        prog="python3 -m api.entry", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run the proxy")
    run.add_argument("--upstream", default=os.environ.get("WORKBENCH_ENTRY_UPSTREAM"))
    run.add_argument("--listen", default="0.0.0.0:8000")
    run.add_argument("--control-port", type=int, default=CONTROL_PORT)
    control = sub.add_parser("ctl", help="talk to the running proxy")
    control.add_argument("op", choices=["status", "switch"])
    control.add_argument("url", nargs="?")
    control.add_argument("--no-check", action="store_true", help="switch without /ready")
    control.add_argument("--control-port", type=int, default=CONTROL_PORT)
    args = parser.parse_args(argv)
    if args.command == "serve":
        if not args.upstream:
            parser.error("--upstream (or WORKBENCH_ENTRY_UPSTREAM) is required")
        host, _, port = args.listen.rpartition(":")
        state = Path(os.environ.get("WORKBENCH_ENTRY_STATE", STATE_FILE))
        asyncio.run(serve(args.upstream, host, int(port), args.control_port, state))
        return 0
    answer = ctl({"op": args.op, "url": args.url, "check": not args.no_check}, args.control_port)
    print(json.dumps(answer))
    return 0 if answer.get("ok") else 1


if __name__ == "__main__":  # pragma: no cover - the container's command
    sys.exit(main())
