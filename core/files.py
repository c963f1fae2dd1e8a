"""Shared file I/O of the workspace: atomic writes, JSON-lines logs, and the UTC clock.

Every state file the workbench rewrites goes through `atomic_write_*`: the new content is
written to a temp file in the same folder and renamed over the target, so a reader sees the
old file or the new one, never half of one. Append-only logs (alerts, checks, decisions, audit)
are JSON lines written with `append_jsonl` and read back with `read_jsonl`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def utc_now_iso(timespec: str = "auto") -> str:
    """The current UTC time as ISO-8601 with its `+00:00` offset."""
    return utc_now().isoformat(timespec=timespec)


def atomic_write(path: Path, write: Callable[[Path], None], mode: int | None = None) -> None:
    """Make `path` by calling `write(tmp)` on a temp file beside it, then renaming it over.

    The folder is created when missing. `mode` sets the file's permissions before the rename
    (default: those of the file it replaces, else the process umask). On any error the temp
    file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        if mode is None and path.exists():
            mode = path.stat().st_mode & 0o777
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    """Write `text` (UTF-8) to `path` atomically (see `atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), mode)


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` atomically (see `atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data), mode)


def atomic_write_json(path: Path, data: object, indent: int | None = 2) -> None:
    """Write `data` as JSON to `path` atomically (values JSON does not know become strings)."""
    atomic_write_text(path, json.dumps(data, indent=indent, default=str) + "\n")


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


_UMASK = _read_umask()
"""Read once at import: `os.umask` can only be read by setting it, which races with threads."""


def append_jsonl(path: Path, record: dict, fsync: bool = False) -> None:
    """Append one JSON line (the file and its folder are created when missing).

    One `write` of one line in append mode, so concurrent writers never interleave inside a
    line; a last line cut short by a crash is ended first, so the new record stays readable.
    `fsync` forces it to disk before returning (the audit log).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=str, allow_nan=False) + "\n"
    with path.open("a", encoding="utf-8") as fh:
        if fh.tell() > 0 and not _ends_with_newline(path):
            line = "\n" + line
        fh.write(line)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _tail(path: Path, limit: int, block: int = 1 << 16) -> list[str]:
    """The last `limit` lines of a file, read backwards in blocks (the file may be large)."""
    with path.open("rb") as fh:
        end = fh.seek(0, 2)
        data, pos = b"", end
        while pos > 0 and data.count(b"\n") <= limit:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    return data.decode("utf-8", errors="replace").splitlines()[-limit:]


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    """The last `limit` records of a JSON-lines file (all when None), oldest first.

    A torn or blank line (one another process is writing) is skipped; a missing file is empty.
    """
    path = Path(path)
    if not path.is_file():
        return []
    lines = _tail(path, limit) if limit else path.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
