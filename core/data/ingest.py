"""Incremental, idempotent ingestion from the landing folder and SQL sources.

Each file (by name + content hash) or each new SQL slice is ingested once: the manifest in
`.workbench/manifest.json` records it. The raw copy under `data/raw/` is written once and made
read-only.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from core.config import SQLSource
from core.errors import DataReadError
from core.files import atomic_write, atomic_write_bytes, atomic_write_text
from core.workspace import Workspace

_READ_ONLY = 0o444
"""Raw copies are immutable."""


@dataclass
class Batch:
    """One unit of new data: a landing file or a slice of a SQL source."""

    batch_id: str
    name: str
    source: str
    sha256: str
    raw_path: str
    rows_hint: int | None = None
    watermark: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Manifest:
    """What has been ingested: `{key: record}` persisted atomically as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        if path.is_file():
            self.entries = json.loads(path.read_text(encoding="utf-8"))

    @staticmethod
    def key(source: str, name: str, sha: str) -> str:
        return f"{source}:{name}:{sha[:16]}"

    def seen(self, key: str) -> bool:
        return key in self.entries

    def record(self, key: str, **fields) -> None:
        self.entries.setdefault(key, {}).update(fields)

    def watermark(self, source: str) -> str | None:
        """The watermark of the newest accepted batch of `source` (None before the first)."""
        accepted = [
            e
            for e in self.entries.values()
            if e.get("source") == source
            and e.get("status") == "accepted"
            and e.get("watermark") is not None
        ]
        if not accepted:
            return None
        return max(accepted, key=lambda e: e.get("ingested_at", ""))["watermark"]

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.entries, indent=1, sort_keys=True))


def _freeze_copy(src: Path, dest: Path) -> None:
    """Copy to `dest` via a temp name, then make it read-only (raw copies are immutable)."""
    if not dest.exists():
        atomic_write(dest, lambda tmp: shutil.copyfile(src, tmp), mode=_READ_ONLY)


def _batch_id(sha: str) -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{sha[:8]}"


def discover_landing(ws: Workspace, manifest: Manifest) -> list[Batch]:
    """New files in the landing folder, copied to raw, in name order."""
    landing = ws.landing
    if not landing.is_dir():
        return []
    found: set[Path] = set()
    for pattern in ws.config.sources.landing.patterns:
        found.update(p for p in landing.glob(pattern) if p.is_file())
    batches = []
    for path in sorted(found):
        sha = sha256_file(path)
        key = Manifest.key("landing", path.name, sha)
        if manifest.seen(key):
            continue
        batch_id = _batch_id(sha)
        raw = ws.raw / f"{batch_id}__{path.name}"
        _freeze_copy(path, raw)
        batches.append(Batch(batch_id, path.name, "landing", sha, str(raw)))
    return batches


def discover_sql(ws: Workspace, manifest: Manifest) -> list[Batch]:
    """Run each SQL source; new rows (past the watermark, or a changed result) become a batch."""
    return [b for src in ws.config.sources.sql if (b := _sql_batch(ws, manifest, src))]


def _sql_batch(ws: Workspace, manifest: Manifest, src: SQLSource) -> Batch | None:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(src.url)
        with engine.connect() as conn:
            df = pd.read_sql_query(sa.text(src.query), conn)
    except Exception as exc:  # noqa: BLE001 - drivers raise their own types
        raise DataReadError(
            f"sql source '{src.name}': query failed: {exc}".splitlines()[0]
        ) from None
    mark = None
    if src.watermark_column:
        if src.watermark_column not in df.columns:
            raise DataReadError(
                f"sql source '{src.name}': watermark column '{src.watermark_column}' "
                "is not in the query result"
            )
        previous = manifest.watermark(f"sql:{src.name}")
        if previous is not None:
            df = df[_after(df[src.watermark_column], previous)]
        if df.empty:
            return None
        mark = str(df[src.watermark_column].max())
    payload = df.to_parquet(index=False)
    sha = hashlib.sha256(payload).hexdigest()
    name = f"{src.name}.parquet"
    if manifest.seen(Manifest.key(f"sql:{src.name}", name, sha)):
        return None
    batch_id = _batch_id(sha)
    raw = ws.raw / f"{batch_id}__{name}"
    atomic_write_bytes(raw, payload, mode=_READ_ONLY)
    return Batch(batch_id, name, f"sql:{src.name}", sha, str(raw), len(df), mark)


def _after(col: pd.Series, previous: str) -> pd.Series:
    """Mask of values past a stored watermark, compared in the column's own type."""
    if pd.api.types.is_numeric_dtype(col):
        return col > float(previous)
    if pd.api.types.is_datetime64_any_dtype(col):
        return col > pd.Timestamp(previous)
    return col.astype(str) > previous
