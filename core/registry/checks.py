"""Promotion gate checks as pure functions: observations in, `GateResult`s out (no I/O).

`core.registry.gates` measures the observations (holdout metrics, schemas, latency) and stores
the results; these functions only decide and explain.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from core.config import LOWER_IS_BETTER, GatesConfig
from core.registry.tracking import TAG_OVERFIT


def json_safe(value: Any) -> Any:
    """`value` with NaN/inf as None and numpy scalars as Python numbers (valid strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _at_least(value: float, bound: float) -> bool:
    """`value >= bound`, tolerant of float round-off (0.84 - 0.80 counts as 0.04)."""
    return value >= bound or math.isclose(value, bound, rel_tol=1e-9, abs_tol=1e-12)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.4g}"


@dataclass
class GateResult:
    """One gate's outcome with what was observed, the threshold and a human reason."""

    name: str
    passed: bool
    observed: Any
    threshold: Any
    reason: str

    def to_dict(self) -> dict:
        """A strict-JSON-safe dict."""
        return json_safe(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> GateResult:
        return cls(
            **{k: data.get(k) for k in ("name", "passed", "observed", "threshold", "reason")}
        )


# --------------------------------------------------------------------------- pure gates
def gate_min_metrics(metrics: dict[str, float], minimums: dict[str, float]) -> GateResult:
    """Every configured metric at least its minimum (at most, for error metrics)."""
    observed, problems, checks = {}, [], []
    for name, bound in minimums.items():
        value = _num(metrics.get(name))
        observed[name] = value
        lower = name in LOWER_IS_BETTER
        op = "<=" if lower else ">="
        if math.isnan(value):
            problems.append(f"{name} is not available")
        elif not (_at_least(bound, value) if lower else _at_least(value, bound)):
            problems.append(f"{name} {_fmt(value)} is not {op} {bound:g}")
        else:
            checks.append(f"{name} {_fmt(value)} {op} {bound:g}")
    reason = "; ".join(problems) if problems else "; ".join(checks) or "no thresholds"
    return GateResult("min_metrics", not problems, observed, dict(minimums), reason)


def gate_beat_champion(
    metric: str,
    challenger: float | None,
    champion: float | None,
    min_delta: float = 0.0,
    relative: bool = False,
) -> GateResult:
    """The challenger beats the champion by `min_delta` (a fraction of it when `relative`).

    With `min_delta == 0` the challenger must be strictly better; a negative `min_delta`
    tolerates that much loss. No champion (None) passes.
    """
    if champion is None:
        return GateResult(
            "beat_champion", True, {"challenger": challenger}, None, "no champion yet"
        )
    chal, champ = _num(challenger), _num(champion)
    gain = champ - chal if metric in LOWER_IS_BETTER else chal - champ
    required = min_delta * abs(champ) if relative else min_delta
    observed = {"challenger": chal, "champion": champ, "gain": gain}
    how = f" ({min_delta:.2%} of the champion)" if relative else ""
    if math.isnan(gain):
        return GateResult(
            "beat_champion",
            False,
            observed,
            required,
            f"{metric} not available (challenger {_fmt(chal)}, champion {_fmt(champ)})",
        )
    passed = gain > 0 if required == 0 else _at_least(gain, required)
    op = ">" if required == 0 else ">="
    reason = (
        f"{metric} {_fmt(chal)} vs champion {_fmt(champ)}: gain {gain:+.4g}, "
        f"needs {op} {required:.4g}{how}"
    )
    return GateResult("beat_champion", passed, observed, required, reason)


def gate_no_overfitting(flag: str | None) -> GateResult:
    """The training run is not flagged as overfit (a missing diagnosis counts as not flagged)."""
    if flag is None:
        return GateResult(
            "no_overfitting", True, None, "false", "no overfitting diagnosis recorded on the run"
        )
    overfit = str(flag).strip().lower() == "true"
    reason = (
        f"the training run is flagged as overfit ({TAG_OVERFIT}=true)"
        if overfit
        else "not flagged as overfit"
    )
    return GateResult("no_overfitting", not overfit, str(flag).lower(), "false", reason)


def gate_schema_compatible(
    challenger: dict[str, str] | None, champion: dict[str, str] | None
) -> GateResult:
    """The challenger's inputs hold every champion input column with the same type.

    Args:
        challenger: input column → type of the challenger's signature (None: no signature).
        champion: the same for the champion; None when there is nothing to compare with.
    """
    threshold = "every champion input column with the same type"
    if champion is None:
        return GateResult(
            "schema_compatible", True, None, threshold, "no champion signature to compare with"
        )
    if challenger is None:
        return GateResult(
            "schema_compatible", False, None, threshold, "the challenger has no input signature"
        )
    missing = [c for c in champion if c not in challenger]
    changed = {
        c: f"{t} -> {challenger[c]}"
        for c, t in champion.items()
        if c in challenger and challenger[c] != t
    }
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + [
        f"{c} changed {t}" for c, t in changed.items()
    ]
    reason = "; ".join(problems) or f"all {len(champion)} champion inputs present, same types"
    return GateResult(
        "schema_compatible",
        not problems,
        {"missing": missing, "changed": changed},
        threshold,
        reason,
    )


def gate_latency(ms_per_row: float | None, budget_ms: float) -> GateResult:
    """Prediction latency per row within the budget."""
    value = _num(ms_per_row)
    passed = not math.isnan(value) and value <= budget_ms
    op = "<=" if passed else ">"
    reason = (
        f"{_fmt(value)} ms/row {op} budget {budget_ms:g} ms/row"
        if not math.isnan(value)
        else "latency not measured"
    )
    return GateResult("latency", passed, value, budget_ms, reason)


@dataclass
class Observations:
    """What the gates look at, measured by `evaluate_gates` (or given by a test)."""

    challenger: dict[str, float]
    champion: dict[str, float] | None = None
    champion_error: str | None = None
    overfit_flag: str | None = None
    challenger_schema: dict[str, str] | None = None
    champion_schema: dict[str, str] | None = None
    ms_per_row: float | None = None


def run_gates(cfg: GatesConfig, metric: str, obs: Observations) -> list[GateResult]:
    """Every configured gate (unconfigured ones are left out) on the observations."""
    out = []
    if cfg.min_metrics:
        out.append(gate_min_metrics(obs.challenger, cfg.min_metrics))
    if cfg.beat_champion is not None:
        if obs.champion_error:
            out.append(
                GateResult(
                    "beat_champion",
                    False,
                    None,
                    cfg.beat_champion.min_delta,
                    f"the champion could not score the holdout: {obs.champion_error}",
                )
            )
        else:
            champ = None if obs.champion is None else obs.champion.get(metric)
            out.append(
                gate_beat_champion(
                    metric,
                    obs.challenger.get(metric),
                    champ,
                    cfg.beat_champion.min_delta,
                    cfg.beat_champion.relative,
                )
            )
    if cfg.no_overfitting:
        out.append(gate_no_overfitting(obs.overfit_flag))
    if cfg.schema_compatible:
        out.append(gate_schema_compatible(obs.challenger_schema, obs.champion_schema))
    if cfg.max_latency_ms_per_row is not None:
        out.append(gate_latency(obs.ms_per_row, cfg.max_latency_ms_per_row))
    return out
