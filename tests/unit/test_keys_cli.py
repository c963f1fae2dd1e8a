"""`workbench keys`: create prints the key once, list never shows it, revoke, one-line errors."""

from __future__ import annotations

import json

import pytest
from cli_output import flat, wide_console
from typer.testing import CliRunner

from app.cli import app
from app.cli.keys import LIST_KEYS
from core.serving import keys
from core.workspace import CONFIG_NAME
from core.workspace.bootstrap import BLANK_CONFIG


@pytest.fixture
def root(tmp_path):
    (tmp_path / CONFIG_NAME).write_text(BLANK_CONFIG)
    return tmp_path


def _keys(root, *args):
    with wide_console():
        return CliRunner().invoke(app, ["keys", *args, "-w", str(root)])


def test_create_prints_the_key_once_and_says_it_is_not_stored(root):
    done = _keys(root, "create", "mobile-app", "--expires", "30d")
    assert done.exit_code == 0, done.output
    key = done.stdout.strip()
    assert keys.verify(root, key).name == "mobile-app"
    assert "It is not stored" in flat(done.stderr)
    listed = _keys(root, "list")
    assert "mobile-app" in listed.stdout and key not in listed.stdout


def test_list_json_has_the_stable_keys_and_never_the_hash(root):
    key = _keys(root, "create", "etl").stdout.strip()
    _keys(root, "create", "ops", "--role", "admin")
    _keys(root, "revoke", "etl")
    done = _keys(root, "list", "--json")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)
    assert [tuple(r) for r in rows] == [LIST_KEYS, LIST_KEYS]
    assert [(r["name"], r["role"], r["status"]) for r in rows] == [
        ("etl", "predict", "revoked"),
        ("ops", "admin", "active"),
    ]
    assert keys.hash_key(key) not in done.stdout and key not in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("create", "x", "--role", "root"), "unknown role 'root'"),
        (("create", "x", "--expires", "soon"), "not a duration: 'soon'"),
        (("revoke", "ghost"), "no active key named 'ghost'"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_1(root, args, message):
    done = _keys(root, *args)
    assert done.exit_code == 1
    assert message in flat(done.stderr) and "Traceback" not in done.output
    assert not keys.store_path(root).exists() or args[0] == "revoke"


def test_a_duplicate_name_is_refused(root):
    _keys(root, "create", "etl")
    done = _keys(root, "create", "etl")
    assert done.exit_code == 1 and "already named 'etl'" in flat(done.stderr)
    assert len(keys.load(keys.store_path(root))) == 1
