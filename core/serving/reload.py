"""The deployment step after a promotion: ask the running prediction API to load the champion.

The API polls the `champion` alias anyway (`serving.poll_seconds`); `POST /admin/reload` makes
the switch immediate. An API that cannot be reached is reported, not raised: it loads the new
champion when it starts or at its next poll. An API that answers with an error is a failure
(retried and alerted by the scheduler).
"""

from __future__ import annotations

from core.errors import WorkbenchError
from core.serving.client import ApiRejected, ApiUnreachable, ServingClient, resolve_target
from core.workspace import Workspace


class ReloadFailed(WorkbenchError):
    """The API was reached but refused or failed the reload (the message says how)."""


def reload_api(ws: Workspace, timeout: float = 30.0) -> dict:
    """POST /admin/reload to the workspace's API and report what happened.

    Returns:
        `{"status": "ok", "url", "reachable", "reloaded", "version", "note"}`: `reloaded`
        is the API's `changed`, `version` the champion it serves afterwards.

    Raises:
        ReloadFailed: the API answered with an error (a wrong admin key, a server error).
    """
    target = resolve_target(ws)
    url = target.url
    out = {"status": "ok", "url": url, "reachable": False, "reloaded": False, "version": None}
    if not target.admin_key:
        out["note"] = (
            "no admin key (the secret admin_key or WORKBENCH_ADMIN_KEY): the API picks the new "
            "champion up at its next alias poll"
        )
        return out
    try:
        body = ServingClient(target, timeout=timeout).reload()
    except ApiRejected as exc:
        hint = " (wrong admin key?)" if exc.status in (401, 403) else ""
        raise ReloadFailed(
            f"the API at {url} answered HTTP {exc.status} to /admin/reload{hint}"
        ) from None
    except ApiUnreachable as exc:
        out["note"] = (
            f"API not reachable at {url} ({exc}); it loads the champion when it starts "
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
