"""Named API keys: `.workbench/api_keys.json`, holding each key's hash, never the key.

`create` makes a key and returns it once; only its SHA-256 is stored (mode 0600, written
atomically). `revoke` and expiry take effect in a running API within its poll interval: the
API holds a `KeyRing`, which re-reads the file when it changed and keeps `last_used` in memory
until the next flush (one write per poll, not one per request).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, get_args

from core.errors import WorkbenchError, one_line
from core.files import atomic_write_text, utc_now

log = logging.getLogger("workbench.keys")

Role = Literal["predict", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
KEYS_FILE = "api_keys.json"
"""The store's name inside the workspace's `.workbench/` folder (git-ignored)."""
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


class KeyStoreError(WorkbenchError):
    """A key operation was refused (duplicate or unknown name, bad role, bad duration)."""


@dataclass(frozen=True)
class ApiKey:
    """One stored key: its name, role, hash and lifetimes (ISO-8601 UTC strings or None)."""

    name: str
    role: str
    hash: str
    created: str
    expires: str | None = None
    revoked: str | None = None
    last_used: str | None = None

    def status(self, now: datetime | None = None) -> str:
        """`active`, `expired` or `revoked` at `now` (default: the current time)."""
        if self.revoked:
            return "revoked"
        if self.expires and datetime.fromisoformat(self.expires) <= (now or utc_now()):
            return "expired"
        return "active"


def parse_duration(text: str) -> timedelta:
    """`30d`, `12h`, `90m`, `2w`, `45s` as a timedelta (the units of `label_delay`)."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise KeyStoreError(
            f"not a duration: {text!r} (a positive number and one of s, m, h, d, w, e.g. 30d)"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def hash_key(key: str) -> str:
    """The stored form of a key.

    Plain SHA-256 is right here (no slow password hash): every key is 32 random bytes from
    `secrets.token_urlsafe`, so there is nothing to brute-force, and the API hashes each
    request's key on the hot path.
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def store_path(root: Path) -> Path:
    """The key store of the workspace at `root`."""
    return Path(root) / ".workbench" / KEYS_FILE


def load(path: Path) -> list[ApiKey]:
    """Every key in the store at `path` (none when the file does not exist)."""
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [ApiKey(**row) for row in rows["keys"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyStoreError(f"{path} is not a key store: {exc}") from None


def _save(path: Path, keys: list[ApiKey]) -> None:
    text = json.dumps({"keys": [asdict(k) for k in keys]}, indent=2) + "\n"
    atomic_write_text(path, text, mode=0o600)


def create(
    root: Path,
    name: str,
    role: str = "predict",
    expires: timedelta | None = None,
    key: str | None = None,
) -> str:
    """Add a key named `name` and return it: the only time the key itself is seen.

    `key` stores an existing key (a literal moved out of `workbench.yaml`) instead of a new one.

    Raises:
        KeyStoreError: the role is unknown, the name is empty, or an active key has the name.
    """
    if role not in ROLES:
        raise KeyStoreError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    if not name.strip():
        raise KeyStoreError("a key needs a name")
    path = store_path(root)
    keys = load(path)
    if any(k.name == name and k.status() == "active" for k in keys):
        raise KeyStoreError(f"an active key is already named {name!r}: revoke it first")
    key = key or secrets.token_urlsafe(32)
    now = utc_now()
    keys.append(
        ApiKey(
            name=name,
            role=role,
            hash=hash_key(key),
            created=now.isoformat(timespec="seconds"),
            expires=None if expires is None else (now + expires).isoformat(timespec="seconds"),
        )
    )
    _save(path, keys)
    return key


def revoke(root: Path, name: str) -> ApiKey:
    """Revoke the active key named `name`; the revoked entry.

    Raises:
        KeyStoreError: no active key has that name (the message lists the active ones).
    """
    path = store_path(root)
    keys = load(path)
    for i, key in enumerate(keys):
        if key.name == name and key.status() == "active":
            keys[i] = replace(key, revoked=utc_now().isoformat(timespec="seconds"))
            _save(path, keys)
            return keys[i]
    active = sorted(k.name for k in keys if k.status() == "active")
    raise KeyStoreError(
        f"no active key named {name!r} (active: {', '.join(active) if active else 'none'})"
    )


def verify(root: Path, key: str) -> ApiKey | None:
    """The active entry `key` belongs to, or None (unknown, expired or revoked)."""
    digest = hash_key(key)
    found = next((k for k in load(store_path(root)) if k.hash == digest), None)
    return found if found is not None and found.status() == "active" else None


class KeyRing:
    """The API's view of the store: re-read when the file changed, `last_used` kept in memory.

    `refresh` (the API's poller calls it every `serving.poll_seconds`) re-reads the file when
    its mtime or size changed and writes the pending `last_used` times back.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._stamp: tuple[int, int, int] | None = None
        self._by_hash: dict[str, ApiKey] = {}
        self._used: dict[str, str] = {}
        self.unreadable: str | None = None
        """Why the store could not be read (None once it was): until then no stored key is
        accepted, and the API still requires a key (fail closed)."""
        try:
            self.refresh()
        except (OSError, WorkbenchError) as exc:  # e.g. a mounted workspace of another user
            self.unreadable = f"API key store {self.path} not readable: {one_line(exc)}"
            log.error(
                "%s; only the keys of the config and environment are accepted", self.unreadable
            )

    @property
    def configured(self) -> bool:
        """Whether the store makes keys required: it holds any, revoked ones too, or is unread."""
        return bool(self._by_hash) or self.unreadable is not None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size  # every write is a rename: a new inode

    def refresh(self) -> bool:
        """Write pending `last_used` times, then re-read the file if it changed; whether it did."""
        self.flush()
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._by_hash = {k.hash: k for k in load(self.path)}
        self._stamp, self.unreadable = stamp, None
        return True

    def lookup(self, key: str) -> ApiKey | None:
        """The entry of `key` whatever its status (revoked, expired), or None."""
        return self._by_hash.get(hash_key(key))

    def note_use(self, entry: ApiKey) -> None:
        """Remember that `entry` was used now (written by the next `flush`)."""
        self._used[entry.hash] = utc_now().isoformat(timespec="seconds")

    def verify(self, key: str) -> ApiKey | None:
        """The active entry of `key` (noting its use), or None."""
        found = self.lookup(key)
        if found is None or found.status() != "active":
            return None
        self.note_use(found)
        return found

    def flush(self) -> None:
        """Write the `last_used` times noted since the last flush (one atomic write)."""
        if not self._used:
            return
        used, self._used = self._used, {}
        keys = load(self.path)  # fresh: a `keys create` or `revoke` since must survive
        _save(self.path, [replace(k, last_used=used.get(k.hash, k.last_used)) for k in keys])
