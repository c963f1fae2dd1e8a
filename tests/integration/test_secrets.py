"""Secrets out of git: the demo's keys live in the key store and `.workbench/secrets.json`,
never in `workbench.yaml` or the workspace's history; literal keys in an old config move out."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from cli_output import flat, wide_console
from litestar.testing import TestClient
from servers import free_port
from typer.testing import CliRunner

from api.app import create_app
from api.settings import ServeSettings
from app.cli import app
from core.secrets import ADMIN_KEY, CLIENT_KEY, SecretsError, read_secret, read_secrets
from core.serving import keys
from core.serving.client import resolve_target
from core.workspace import CONFIG_NAME, Workspace
from core.workspace.bootstrap import BLANK_CONFIG

OLD_SERVING = """
serving:
  # X-API-Key values accepted by the prediction API
  api_keys: ["lit-a", "lit-b"]
  # key for POST /admin/reload
  admin_key: "lit-admin"
  poll_seconds: 5          # how often the API checks the champion alias
"""
ENV = ("WORKBENCH_API_KEYS", "WORKBENCH_ADMIN_KEY", "WORKBENCH_SECRET_ADMIN_KEY")


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch):
    for var in (*ENV, "WORKBENCH_SECRET_API_KEY", "WORKBENCH_API_URL"):
        monkeypatch.delenv(var, raising=False)


def _git(root, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def test_a_new_demo_workspace_has_no_key_in_its_config_or_git_history(demo_ws):
    root = demo_ws.root
    secrets = read_secrets(root)
    client, admin = secrets[CLIENT_KEY], secrets[ADMIN_KEY]
    assert keys.verify(root, client).name == "demo-client"
    assert keys.verify(root, client).role == "predict"
    assert keys.verify(root, admin).role == "admin"
    history = _git(root, "log", "-p", "--all").stdout
    assert "workbench.yaml" in history  # the config is committed: it must hold no key
    config = (root / CONFIG_NAME).read_text()
    for key in (client, admin):
        assert key not in history and key not in config
    assert demo_ws.config.serving.api_keys == [] and demo_ws.config.serving.admin_key is None
    for name in ("secrets.json", "api_keys.json"):
        path = root / ".workbench" / name
        assert path.stat().st_mode & 0o777 == 0o600
        assert _git(root, "check-ignore", "-q", str(path)).returncode == 0


def test_clients_read_the_secrets_and_the_api_only_the_store(demo_ws, monkeypatch):
    root = demo_ws.root
    secrets = read_secrets(root)
    target = resolve_target(demo_ws)
    assert (target.api_key, target.admin_key) == (secrets[CLIENT_KEY], secrets[ADMIN_KEY])
    monkeypatch.setenv("WORKBENCH_SECRET_ADMIN_KEY", "from-env")
    assert resolve_target(demo_ws).admin_key == "from-env"
    monkeypatch.setenv("WORKBENCH_ADMIN_KEY", "legacy-env")  # the older name still wins
    assert resolve_target(demo_ws).admin_key == "legacy-env"
    # the API holds no plaintext: a key revoked in the store is refused
    settings = ServeSettings.from_workspace(demo_ws)
    assert secrets[ADMIN_KEY] not in [*settings.api_keys, settings.admin_key]


def test_a_broken_secrets_file_is_one_error_naming_it(tmp_path):
    (tmp_path / ".workbench").mkdir()
    (tmp_path / ".workbench" / "secrets.json").write_text("[1, 2]")
    with pytest.raises(SecretsError, match="secrets.json must be a JSON object"):
        read_secret(tmp_path, ADMIN_KEY)
    with pytest.raises(SecretsError, match="not a secret name"):
        read_secret(tmp_path, "../x")


@pytest.fixture
def old_root(tmp_path):
    """A workspace whose committed config still holds literal keys (before issue 13)."""
    (tmp_path / CONFIG_NAME).write_text(BLANK_CONFIG + OLD_SERVING)
    return tmp_path


def _cli(root, *args):
    with wide_console():
        return CliRunner().invoke(app, [*args, "-w", str(root)])


def test_the_cli_moves_literal_keys_to_the_store_and_says_to_rotate_them(old_root):
    done = _cli(old_root, "keys", "list", "--json")
    assert done.exit_code == 0, done.output
    note = flat(done.stderr)
    assert "moved 3 API key(s)" in note and "legacy-1, legacy-2, legacy-admin" in note
    assert "must be rotated" in note and "workbench keys revoke" in note
    config = (old_root / CONFIG_NAME).read_text()
    assert "lit-" not in config and "api_keys" not in config and "admin_key" not in config
    assert "poll_seconds: 5          # how often the API checks the champion alias" in config
    assert "X-API-Key values" not in config  # the removed keys' own comments go with them
    assert keys.verify(old_root, "lit-a").name == "legacy-1"
    assert keys.verify(old_root, "lit-b").role == "predict"
    assert keys.verify(old_root, "lit-admin").name == "legacy-admin"
    assert keys.verify(old_root, "lit-admin").role == "admin"
    assert read_secrets(old_root) == {CLIENT_KEY: "lit-a", ADMIN_KEY: "lit-admin"}
    again = _cli(old_root, "keys", "list", "--json")
    assert again.exit_code == 0 and "moved" not in again.stderr  # once only


def _app(root):
    ws = Workspace.open(root)
    settings = ServeSettings.from_workspace(ws, poll_seconds=60, predictions_dir=None)
    return create_app(settings)  # no lifespan: nothing loaded, the keys are checked first


def _predict(client, key: str) -> int:
    return client.post("/predict", json={"records": [{}]}, headers={"X-API-Key": key})


def test_migrated_keys_work_through_the_store_and_revoking_one_stops_it(old_root):
    assert _cli(old_root, "keys", "list").exit_code == 0
    client = TestClient(_app(old_root))
    assert _predict(client, "lit-a").status_code == 503  # past the key check: no model yet
    assert _predict(client, "nope").status_code == 403
    assert _cli(old_root, "keys", "revoke", "legacy-1").exit_code == 0
    client = TestClient(_app(old_root))
    refused = _predict(client, "lit-a")
    assert refused.status_code == 401 and "'legacy-1' is revoked" in refused.text


def test_workbench_serve_accepts_the_literals_of_an_unmigrated_config_and_rewrites_nothing(
    old_root,
):
    before = (old_root / CONFIG_NAME).read_text()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "-w", str(old_root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"{url}/health"):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.3)
        body = {"records": [{}]}
        assert (
            httpx.post(f"{url}/predict", json=body, headers={"X-API-Key": "lit-b"}).status_code
            == 503
        )
        assert (
            httpx.post(f"{url}/predict", json=body, headers={"X-API-Key": "x"}).status_code == 403
        )
    finally:
        proc.kill()
        proc.wait()
    assert (old_root / CONFIG_NAME).read_text() == before
    assert not (old_root / ".workbench" / "secrets.json").exists()
    assert "moved" not in proc.stdout.read()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
