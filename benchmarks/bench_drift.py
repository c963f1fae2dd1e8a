"""Drift check speed: the workbench's engine vs Evidently's `Report([DataDriftPreset()])`.

Run it from the repository root:

    .venv/bin/python benchmarks/bench_drift.py                      # 100k and 1M rows
    .venv/bin/python benchmarks/bench_drift.py --rows 20000 100000

Per size, a seeded reference and current frame of 20 columns (16 numeric: normal, log-normal,
uniform, integer-valued, one with missing values; 4 categorical with 4 to 40 categories) where
exactly 5 columns shift in the current frame (a mean shift, a variance change, a heavier tail,
an integer offset, a category mix change). Both engines judge every column with their default
method (above 1,000 reference rows: normed Wasserstein and Jensen-Shannon) in this process.

Ours is timed as `check_drift` against the reference profile built once beforehand (as at
model registration; the build is timed and printed too), best of `--repeat`; Evidently once
(it takes minutes at 1M rows). The script prints both times, the ratio, the largest score
difference, and each column's verdict from both; it exits 1 if any verdict differs.

Where the reference keeps a quantile sketch instead of exact values (continuous columns of a
large reference), our Wasserstein distance is within the sketch's stored error bound of the
exact one; the verdicts are compared, and the scores reported.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd

from core.monitoring.drift import check_drift
from core.monitoring.reference import build_profile

NUMERIC = [f"n{i:02d}" for i in range(16)]
CATEGORICAL = ["segment", "region", "channel", "product"]
SHIFTED = {"n00", "n01", "n02", "n03", "segment"}
EVIDENTLY_METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
}


def _categories(rng, n: int, k: int, shift: bool) -> np.ndarray:
    names = np.array([f"cat_{i:02d}" for i in range(k)], dtype=object)
    weights = np.linspace(1.0, 3.0, k)
    if shift:
        weights = weights[::-1] ** 2
    return rng.choice(names, n, p=weights / weights.sum())


def make_frame(n: int, seed: int, shift: bool) -> pd.DataFrame:
    """Build one frame; `shift` moves exactly the `SHIFTED` columns."""
    rng = np.random.default_rng(seed)
    s = 1.0 if shift else 0.0
    data = {
        "n00": rng.normal(0.5 * s, 1.0, n),  # mean shift
        "n01": rng.normal(0.0, 1.0 + 1.0 * s, n),  # variance change
        "n02": rng.lognormal(0.0, 0.5 + 0.5 * s, n),  # heavier tail
        "n03": rng.integers(0, 500, n) + int(120 * s),  # integer offset
    }
    for i in range(4, 16):
        kind = i % 4
        if kind == 0:
            data[f"n{i:02d}"] = rng.normal(10.0, 3.0, n)
        elif kind == 1:
            data[f"n{i:02d}"] = rng.lognormal(1.0, 0.7, n)
        elif kind == 2:
            data[f"n{i:02d}"] = rng.uniform(-5.0, 5.0, n)
        else:
            data[f"n{i:02d}"] = rng.integers(0, 2000, n).astype(float)
    data["n15"][rng.random(n) < 0.05] = np.nan  # missing values are dropped by both
    data["segment"] = _categories(rng, n, 6, shift)
    data["region"] = _categories(rng, n, 4, False)
    data["channel"] = _categories(rng, n, 12, False)
    data["product"] = _categories(rng, n, 40, False)
    return pd.DataFrame(data)


def run_ours(profile, current: pd.DataFrame) -> dict[str, tuple]:
    """Our verdict per column: (method, score, drifted)."""
    result = check_drift(profile, current)
    return {n: (c.method, c.score, c.drifted) for n, c in result.columns.items()}


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, tuple]:
    """Evidently's verdict per column: (method, score, drifted)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    out = snapshot.dict()
    drifted = {
        t["name"].removeprefix("Value Drift for column "): str(t["status"]).endswith("FAIL")
        for t in out["tests"]
        if t["name"].startswith("Value Drift for column ")
    }
    verdicts = {}
    for m in out["metrics"]:
        config = m["config"]
        if config.get("type", "").endswith("ValueDrift"):
            name = config["column"]
            method = EVIDENTLY_METHODS.get(config["method"], config["method"])
            verdicts[name] = (method, float(m["value"]), drifted[name])
    return verdicts


def best_of(repeat: int, fn, *args) -> tuple[float, object]:
    """Best wall time of `repeat` calls and the last call's result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def compare(rows: int, repeat: int) -> bool:
    """Run both engines on one size, print the comparison; True when the verdicts agree."""
    reference = make_frame(rows, seed=1, shift=False)
    current = make_frame(rows, seed=2, shift=True)
    t_profile, profile = best_of(1, build_profile, reference, list(reference.columns))
    t_ours, ours = best_of(repeat, run_ours, profile, current)
    start = time.perf_counter()
    theirs = run_evidently(reference, current)
    t_theirs = time.perf_counter() - start

    print(f"\n{rows:,} reference rows vs {rows:,} current rows x {reference.shape[1]} columns")
    print(f"{'engine':<28} {'seconds':>9}")
    print(f"{'workbench: check':<28} {t_ours:>9.3f}   (best of {repeat})")
    print(f"{'workbench: profile (once)':<28} {t_profile:>9.3f}")
    print(f"{'evidently: DataDriftPreset':<28} {t_theirs:>9.3f}")
    print(f"speed-up: {t_theirs / t_ours:.1f}x on the check, ")
    print(
        f"          {t_theirs / (t_ours + t_profile):.1f}x with the profile built in the same run"
    )
    print(f"{'column':<9} {'method':<14} {'ours':>11} {'evidently':>11} {'verdict':>16}")
    same, worst = True, 0.0
    for name in reference.columns:
        (m1, s1, d1), (m2, s2, d2) = ours[name], theirs[name]
        worst = max(worst, abs(s1 - s2))
        agree = m1 == m2 and d1 == d2
        same &= agree
        verdict = ("drift" if d1 else "-") + (" (same)" if agree else f" vs {d2} DIFFERS")
        print(f"{name:<9} {m1:<14} {s1:>11.5g} {s2:>11.5g} {verdict:>16}")
    flagged = {n for n, (_, _, d) in ours.items() if d}
    print(f"largest score difference: {worst:.2g}")
    print(f"flagged: {', '.join(sorted(flagged))} (expected {', '.join(sorted(SHIFTED))})")
    print(f"verdicts identical: {'yes' if same else 'NO'}")
    return same and flagged == SHIFTED


def main(argv: list[str] | None = None) -> int:
    """Compare at each requested size; exit 1 if a verdict differs anywhere."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    ok = [compare(rows, args.repeat) for rows in args.rows]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
