"""The deployment step after a promotion: ask the running prediction API to load the champion.

The API polls the `champion` alias anyway (`serving.poll_seconds`); `POST /admin/reload` makes
the switch immediate. An API that cannot be reached is reported, not raised: it loads the new
champion when it starts or at its next poll. An API that answers with an error is a failure
(retried and alerted by the scheduler). (The Docker rollout joins this step with the
Docker issue.)
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from core.errors import WorkbenchError
from core.workspace import Workspace

DEFAULT_API_URL = "http://127.0.0.1:8000"


class ReloadFailed(WorkbenchError):
    """The API was reached but refused or failed the reload (the message says how)."""


def api_url(ws: Workspace) -> str:
    """`serving.url`, else `WORKBENCH_API_URL`, else the local default (as the UI finds it)."""
    serving = ws.config.serving or {}
    url = serving.get("url") or os.environ.get("WORKBENCH_API_URL") or DEFAULT_API_URL
    return str(url).rstrip("/")


def admin_key(ws: Workspace) -> str | None:
    """`WORKBENCH_ADMIN_KEY`, else `serving.admin_key` (the environment wins, as in the API)."""
    return os.environ.get("WORKBENCH_ADMIN_KEY") or (ws.config.serving or {}).get("admin_key")


def reload_api(ws: Workspace, timeout: float = 30.0) -> dict:
    """POST /admin/reload to the workspace's API and report what happened.

    Returns:
        `{"status": "ok", "url", "reachable", "reloaded", "version", "note"}`: `reloaded`
        is the API's `changed`, `version` the champion it serves afterwards.

    Raises:
        ReloadFailed: the API answered with an error (a wrong admin key, a server error).
    """
    url, key = api_url(ws), admin_key(ws)
    out = {"status": "ok", "url": url, "reachable": False, "reloaded": False, "version": None}
    if not key:
        out["note"] = (
            "no admin key (serving.admin_key or WORKBENCH_ADMIN_KEY): the API picks the new "
            "champion up at its next alias poll"
        )
        return out
    request = urllib.request.Request(
        f"{url}/admin/reload", data=b"", headers={"X-API-Key": key}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the operator's configured API URL
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        hint = " (wrong admin key?)" if exc.code in (401, 403) else ""
        raise ReloadFailed(
            f"the API at {url} answered HTTP {exc.code} to /admin/reload{hint}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        out["note"] = (
            f"API not reachable at {url} ({reason}); it loads the champion when it starts "
            "or at its next alias poll"
        )
        return out
    out.update(
        reachable=True,
        reloaded=bool(body.get("changed")),
        version=body.get("version"),
        note=None if body.get("version") else "the API has no champion loaded",
    )
    return out
