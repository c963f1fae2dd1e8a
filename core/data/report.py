"""Validation results and reports: JSON-safe (de)serialisation, HTML rendering, atomic writes."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from core.files import atomic_write_text


def json_safe(value: Any) -> Any:
    """Convert a value to plain JSON types (numpy scalars, NaN/NaT -> None, timestamps -> ISO).

    Args:
        value: Any scalar or nested list/tuple/dict.

    Returns:
        An equivalent made only of None, bool, int, float (finite), str, list and dict.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic) and not isinstance(value, np.datetime64 | np.timedelta64):
        return json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


@dataclass
class RuleResult:
    """The outcome of one rule on one column (or on the whole table)."""

    rule: str
    column: str | None
    severity: str
    passed: bool
    observed: float | int | str | None
    threshold: str
    message: str
    failing_count: int = 0
    failing_rows: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        """`pass` if the rule held, else its severity (`fail` or `warn`)."""
        return "pass" if self.passed else self.severity


@dataclass
class ValidationReport:
    """Every rule result for one batch at one pipeline stage."""

    stage: str
    source: str
    n_rows: int
    n_columns: int
    results: list[RuleResult]
    created_at: str
    duration_s: float

    @property
    def status(self) -> str:
        """`fail` if any result fails, else `warn` if any warns, else `pass`."""
        statuses = {r.status for r in self.results}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"

    @property
    def failures(self) -> list[RuleResult]:
        """Results whose status is `fail`."""
        return [r for r in self.results if r.status == "fail"]

    @property
    def warnings(self) -> list[RuleResult]:
        """Results whose status is `warn`."""
        return [r for r in self.results if r.status == "warn"]

    def summary_line(self) -> str:
        """One line naming the batch, the stage and the first failure (or the warning count)."""
        failures = self.failures
        if not failures:
            n_warn = len(self.warnings)
            suffix = f" ({n_warn} warning{'s' if n_warn != 1 else ''})" if n_warn else ""
            return f"{self.source}: {self.stage} validation passed{suffix}"
        first = failures[0]
        where = f" on '{first.column}'" if first.column is not None else ""
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        return (
            f"{self.source}: {self.stage} validation failed: {first.rule}{where} "
            f"(observed {first.observed}, threshold {first.threshold}){more}"
        )

    def to_dict(self) -> dict:
        """Return a JSON-safe mapping, with the derived `status` of the report and each result."""
        data = asdict(self)
        data["status"] = self.status
        for item, result in zip(data["results"], self.results, strict=True):
            item["status"] = result.status
        return json_safe(data)

    @classmethod
    def from_dict(cls, d: dict) -> ValidationReport:
        """Rebuild a report from `to_dict` output (derived keys are ignored)."""
        names = {f.name for f in fields(RuleResult)}
        results = [RuleResult(**{k: v for k, v in r.items() if k in names}) for r in d["results"]]
        return cls(
            stage=d["stage"],
            source=d["source"],
            n_rows=int(d["n_rows"]),
            n_columns=int(d["n_columns"]),
            results=results,
            created_at=d["created_at"],
            duration_s=float(d["duration_s"]),
        )


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ report.stage }} validation: {{ report.source }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1f2328}
h1{font-size:1.3rem;margin:0 0 .3rem}h2{font-size:1.05rem;margin-top:2rem}
.meta{color:#57606a;font-size:.9rem;margin-bottom:1rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:1rem;font-weight:600;
color:#fff;font-size:.8rem;text-transform:uppercase}
.pass{background:#1a7f37}.warn{background:#9a6700}.fail{background:#cf222e}
.null{color:#8c959f;font-style:italic}
</style></head><body>
<h1>{{ report.stage }} validation: {{ report.source }}
 <span class="badge {{ report.status }}">{{ report.status }}</span></h1>
<div class="meta">{{ summary }}<br>{{ report.n_rows }} rows &times; {{ report.n_columns }}
 columns &middot; {{ report.results | length }} checks &middot; {{ report.failures | length }}
 failed &middot; {{ report.warnings | length }} warnings &middot; {{ report.created_at }}
 &middot; {{ "%.3f" | format(report.duration_s) }} s</div>
<table><thead><tr><th>rule</th><th>column</th><th>severity</th><th>status</th>
<th>observed</th><th>threshold</th><th>message</th></tr></thead><tbody>
{% for r in report.results %}<tr><td>{{ r.rule }}</td><td>{{ r.column if r.column is not none
 else "" }}</td><td>{{ r.severity }}</td><td><span class="badge {{ r.status }}">{{ r.status
 }}</span></td><td class="num">{{ r.observed if r.observed is not none else "" }}</td>
<td>{{ r.threshold }}</td><td>{{ r.message }}</td></tr>
{% endfor %}</tbody></table>
{% for r, columns in tables %}
<h2>{{ r.rule }}{% if r.column is not none %} on '{{ r.column }}'{% endif %}:
 first {{ r.failing_rows | length }} of {{ r.failing_count }} failing rows</h2>
<table><thead><tr>{% for c in columns %}<th>{{ "row" if c == "_row" else c }}</th>{% endfor
 %}</tr></thead><tbody>
{% for row in r.failing_rows %}<tr>{% for c in columns %}{% set v = row.get(c) %}
<td>{% if v is none %}<span class="null">null</span>{% else %}{{ v }}{% endif %}</td>
{% endfor %}</tr>
{% endfor %}</tbody></table>
{% endfor %}
</body></html>
"""
_HTML = jinja2.Environment(autoescape=True, keep_trailing_newline=True).from_string(_TEMPLATE)


def render_html(report: ValidationReport) -> str:
    """Render a self-contained HTML page (inline CSS, no scripts) for one report."""
    shown = [r for r in report.results if r.failing_rows]
    tables = []
    for result in shown:
        columns = list(dict.fromkeys(k for row in result.failing_rows for k in row))
        tables.append((result, columns))
    return _HTML.render(report=report, tables=tables, summary=report.summary_line())


def write_report(report: ValidationReport, directory: Path, stem: str) -> tuple[Path, Path]:
    """Write `stem.json` and `stem.html` into `directory` atomically.

    Args:
        report: The report to write.
        directory: Target folder; created if missing.
        stem: File name without extension.

    Returns:
        The paths of the JSON and the HTML file.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
    atomic_write_text(json_path, json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n")
    atomic_write_text(html_path, render_html(report))
    return json_path, html_path


def load_report(path: Path) -> ValidationReport:
    """Read a report written by `write_report` (given its `.json` or its `.html` path)."""
    path = Path(path)
    if path.suffix != ".json":
        path = path.with_suffix(".json")
    return ValidationReport.from_dict(json.loads(path.read_text(encoding="utf-8")))
