"""Read a batch file into a DataFrame, turning every way a file can be broken into one message."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pandas as pd

from core.errors import DataReadError

PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 64 * 1024


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; raise `DataReadError` naming the file and the problem."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet", ".pq"}:
        raise DataReadError(f"{path.name}: unsupported file type {suffix!r} (use .csv or .parquet)")
    head = _head(path)
    if not head.strip():
        raise DataReadError(f"{path.name}: file is empty")
    if suffix == ".csv":
        if head.startswith(PARQUET_MAGIC):
            raise DataReadError(f"{path.name}: is a Parquet file, not CSV despite its name")
        df = _read_csv(path, head)
    else:
        df = _read_parquet(path, head)
    if len(df.columns) == 0:
        raise DataReadError(f"{path.name}: no columns")
    if len(df) == 0:
        raise DataReadError(f"{path.name}: header only, no data rows")
    _check_duplicated_header(path, df)
    return df


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise DataReadError(f"{path.name}: cannot be read: {exc.strerror}") from None


def _read_csv(path: Path, head: bytes) -> pd.DataFrame:
    if b"\x00" in head:
        raise DataReadError(f"{path.name}: binary content (NUL bytes), not a CSV text file")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a cut multi-byte char at the end is not an error
            raise DataReadError(
                f"{path.name}: not UTF-8 text (invalid byte 0x{head[exc.start]:02x} "
                f"at offset {exc.start})"
            ) from None
    try:
        first_line = head.decode("utf-8", errors="replace").splitlines()[0]
        dialect = csv.Sniffer().sniff(first_line, delimiters=",;\t|")
        sep = dialect.delimiter
    except (csv.Error, IndexError):
        sep = ","
    try:
        return pd.read_csv(path, sep=sep, encoding="utf-8", low_memory=False)
    except UnicodeDecodeError as exc:
        raise DataReadError(f"{path.name}: not UTF-8 text ({exc.reason})") from None
    except pd.errors.EmptyDataError:
        raise DataReadError(f"{path.name}: file is empty") from None
    except pd.errors.ParserError as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise DataReadError(f"{path.name}: not a well-formed CSV: {reason}") from None


def _read_parquet(path: Path, head: bytes) -> pd.DataFrame:
    if not head.startswith(PARQUET_MAGIC):
        raise DataReadError(f"{path.name}: not a Parquet file (bad magic bytes)")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for corrupt files
        raise DataReadError(f"{path.name}: corrupt Parquet file: {exc}".splitlines()[0]) from None


def _check_duplicated_header(path: Path, df: pd.DataFrame) -> None:
    """A header line repeated inside the data (files concatenated naively)."""
    if len(df.columns) < 2:
        return
    header = [str(c) for c in df.columns]
    obj_cols = [c for c in df.columns if df[c].dtype == object]
    if len(obj_cols) < len(df.columns) // 2 + 1:
        return
    as_text = df.astype(str)
    hits = (as_text.values == header).all(axis=1)
    if hits.any():
        line = int(hits.argmax()) + 2  # 1-based, after the header line
        raise DataReadError(f"{path.name}: duplicated header row at line {line}")


def read_bytes_table(data: bytes, name: str) -> pd.DataFrame:
    """Read an uploaded file's bytes (from the UI) through the same checks."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / Path(name).name
        target.write_bytes(data)
        return read_table(target)


__all__ = ["read_bytes_table", "read_table"]
