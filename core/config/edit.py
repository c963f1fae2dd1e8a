"""Change keys of one section of `workbench.yaml` in place, comments kept, written atomically.

A value line of the section (`  key: value  # comment`) is rewritten with the new value and
its comment kept; a key that is absent is added at the top of the section, and a section that
is absent is appended. The edited text is then parsed and compared with the intended mapping;
if the line edit did not produce exactly it (flow style, anchors, multi-line values), the file
is dumped from the mapping instead (comments lost, keys kept). The result is validated with the
config loader before the file is replaced, so an invalid value never reaches the disk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import yaml

from core.config import WorkbenchConfig, parse_config
from core.errors import ConfigError
from core.files import atomic_write_text


def _scalar(value: object) -> str:
    """A value as one YAML flow scalar (`0.25`, `true`, `"text"`)."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...")
    )


def _section_span(lines: list[str], section: str) -> tuple[int, int] | None:
    """Line indexes [start, end) of a block-style top-level section, the header included."""
    header = re.compile(rf"^{re.escape(section)}:\s*(#.*)?$")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1] in (" ", "\t", "#")):
        end += 1
    return start, end


def _edited_text(text: str, section: str, values: dict) -> str:
    lines = text.splitlines(keepends=True)
    span = _section_span(lines, section)
    if span is None:
        tail = "" if not text or text.endswith("\n") else "\n"
        body = "".join(f"  {k}: {_scalar(v)}\n" for k, v in values.items())
        return f"{text}{tail}{section}:\n{body}"
    start, end = span
    indent = "  "
    for key, value in values.items():
        pattern = re.compile(rf"^(\s+){re.escape(key)}:[ \t]*([^#\n]*?)([ \t]+#.*)?(\r?\n)?$")
        hit = next((i for i in range(start + 1, end) if pattern.match(lines[i])), None)
        if hit is None:
            lines.insert(start + 1, f"{indent}{key}: {_scalar(value)}\n")
            end += 1
            continue
        m = pattern.match(lines[hit])
        indent = m.group(1)
        lines[hit] = f"{indent}{key}: {_scalar(value)}{m.group(3) or ''}{m.group(4) or ''}"
    return "".join(lines)


def _read(path: Path, section: str) -> tuple[str, dict]:
    """The file's text and mapping; ConfigError unless it parses and `section` is a mapping."""
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(data, dict) or not isinstance(data.get(section) or {}, dict):
        raise ConfigError(f"{path}: key '{section}' must be a mapping")
    return text, data


def update_section(
    path: Path,
    section: str,
    values: dict,
    check: Callable[[dict], None] | None = None,
) -> WorkbenchConfig:
    """Set `values` in the `section` of the YAML config at `path`, keeping its other keys.

    Args:
        path: The workspace's `workbench.yaml`.
        section: A top-level key holding a mapping (e.g. `serving`).
        values: Keys of that section to set.
        check: Extra validation of the new section mapping; raises `ConfigError`.

    Returns:
        The validated new configuration.

    Raises:
        ConfigError: The file does not parse, or the new values are invalid (the message names
            the file and the key); the file is left unchanged.
    """
    text, data = _read(path, section)
    wanted = {**data, section: {**(data.get(section) or {}), **values}}
    config = parse_config(wanted, str(path))
    if check is not None:
        check(wanted[section])
    _write(path, _edited_text(text, section, values), wanted, section)
    return config


def _without_keys(text: str, section: str, keys: list[str]) -> str:
    lines = text.splitlines(keepends=True)
    span = _section_span(lines, section)
    if span is None:
        return text
    start, end = span
    for key in keys:
        pattern = re.compile(rf"^([ \t]+){re.escape(key)}:")
        hit = next((i for i in range(start + 1, end) if pattern.match(lines[i])), None)
        if hit is None:
            continue
        indent = pattern.match(lines[hit]).group(1)
        last = hit + 1  # the value's continuation lines are indented deeper
        while last < end and lines[last].strip() and _indent(lines[last]) > len(indent):
            last += 1
        first = hit  # the comment lines right above the key describe it
        while first - 1 > start and lines[first - 1].strip().startswith("#"):
            if _indent(lines[first - 1]) != len(indent):
                break
            first -= 1
        del lines[first:last]
        end -= last - first
    return "".join(lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def remove_keys(path: Path, section: str, keys: list[str]) -> WorkbenchConfig:
    """Delete `keys` from the `section` of the YAML config at `path`, other lines kept.

    A removed key goes with its value's lines and the comment lines right above it; every other
    line, comments included, stays. Like `update_section`, the result is checked against the
    intended mapping (else dumped from it) and validated before the file is replaced.

    Raises:
        ConfigError: The file does not parse, or the section is not a mapping.
    """
    text, data = _read(path, section)
    kept = {k: v for k, v in (data.get(section) or {}).items() if k not in keys}
    wanted = {**data, section: kept}
    config = parse_config(wanted, str(path))
    _write(path, _without_keys(text, section, keys), wanted, section)
    return config


def _write(path: Path, new_text: str, wanted: dict, section: str) -> None:
    """Replace the file with `new_text` when it reads as `wanted`, else with `wanted` dumped."""
    try:
        parsed = yaml.safe_load(new_text) or {}
        same = {**parsed, section: parsed.get(section) or {}} == wanted  # `serving:` empty
    except yaml.YAMLError:
        same = False
    atomic_write_text(path, new_text if same else yaml.safe_dump(wanted, sort_keys=False))
