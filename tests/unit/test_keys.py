"""The key store: hashed named keys, revocation, expiry, the API's re-reading ring."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta

import pytest

from core.serving import keys
from core.serving.keys import KeyRing, KeyStoreError


def test_a_created_key_verifies_and_only_its_hash_is_stored(tmp_path):
    key = keys.create(tmp_path, "mobile-app")
    entry = keys.verify(tmp_path, key)
    assert entry is not None and (entry.name, entry.role) == ("mobile-app", "predict")
    text = keys.store_path(tmp_path).read_text()
    assert key not in text and keys.hash_key(key) in text
    assert keys.verify(tmp_path, key + "x") is None


def test_the_store_file_is_readable_by_its_owner_only(tmp_path):
    keys.create(tmp_path, "a")
    keys.create(tmp_path, "b", role="admin")
    assert stat.S_IMODE(os.stat(keys.store_path(tmp_path)).st_mode) == 0o600


def test_a_duplicate_active_name_is_refused_naming_it(tmp_path):
    keys.create(tmp_path, "etl")
    with pytest.raises(KeyStoreError, match="already named 'etl'"):
        keys.create(tmp_path, "etl")
    keys.revoke(tmp_path, "etl")
    assert keys.create(tmp_path, "etl")  # the name is free again once revoked


def test_a_revoked_key_no_longer_verifies(tmp_path):
    key = keys.create(tmp_path, "etl")
    assert keys.revoke(tmp_path, "etl").status() == "revoked"
    assert keys.verify(tmp_path, key) is None


def test_revoking_an_unknown_name_lists_the_active_ones(tmp_path):
    keys.create(tmp_path, "etl")
    with pytest.raises(KeyStoreError, match=r"no active key named 'nope' \(active: etl\)"):
        keys.revoke(tmp_path, "nope")


def test_an_expired_key_is_refused(tmp_path):
    key = keys.create(tmp_path, "short", expires=timedelta(seconds=-1))
    assert keys.verify(tmp_path, key) is None
    assert keys.load(keys.store_path(tmp_path))[0].status() == "expired"
    assert keys.verify(tmp_path, keys.create(tmp_path, "long", expires=timedelta(days=30)))


def test_bad_role_and_bad_duration_are_clear_errors(tmp_path):
    with pytest.raises(KeyStoreError, match="unknown role 'root'"):
        keys.create(tmp_path, "x", role="root")
    assert keys.parse_duration("30d") == timedelta(days=30)
    assert keys.parse_duration("12h") == timedelta(hours=12)
    for bad in ("30", "d", "0d", "3y", "-1d"):
        with pytest.raises(KeyStoreError, match="not a duration"):
            keys.parse_duration(bad)


def test_a_corrupt_store_names_the_file(tmp_path):
    path = keys.store_path(tmp_path)
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(KeyStoreError, match="api_keys.json is not a key store"):
        keys.create(tmp_path, "x")


def test_the_ring_sees_a_revocation_on_refresh_and_flushes_last_used_once(tmp_path):
    key = keys.create(tmp_path, "etl")
    ring = KeyRing(keys.store_path(tmp_path))
    assert ring.configured and ring.verify(key).name == "etl"
    assert ring.verify(key) is not None
    assert keys.load(ring.path)[0].last_used is None  # in memory until the flush
    keys.create(tmp_path, "other")
    keys.revoke(tmp_path, "etl")
    assert ring.verify(key) is not None  # not re-read yet: takes effect on the next refresh
    assert ring.refresh() is True
    assert ring.verify(key) is None
    stored = {k.name: k for k in keys.load(ring.path)}
    assert stored["etl"].last_used is not None and stored["etl"].revoked is not None
    assert "other" in stored  # the flush kept the key created meanwhile
    assert ring.refresh() is False  # nothing changed, nothing written


def test_a_ring_without_a_store_is_not_configured(tmp_path):
    ring = KeyRing(keys.store_path(tmp_path))
    assert not ring.configured and ring.verify("anything") is None
    keys.create(tmp_path, "first")
    assert ring.refresh() and ring.configured


def test_a_revoked_only_store_still_counts_as_configured(tmp_path):
    keys.create(tmp_path, "only")
    keys.revoke(tmp_path, "only")
    assert KeyRing(keys.store_path(tmp_path)).configured
    assert json.loads(keys.store_path(tmp_path).read_text())["keys"][0]["revoked"]


def test_an_unreadable_store_fails_closed_and_is_read_once_it_can_be(tmp_path, caplog):
    path = keys.store_path(tmp_path)
    secret = keys.create(tmp_path, "etl")
    path.write_text("not json")  # e.g. another user's 0600 file in a mounted workspace

    ring = KeyRing(path)  # the API starts anyway

    assert ring.unreadable and "not readable" in caplog.text
    assert ring.configured and ring.verify(secret) is None  # a key is still required
    path.unlink()
    secret = keys.create(tmp_path, "etl")
    assert ring.refresh() and ring.unreadable is None and ring.verify(secret).name == "etl"
