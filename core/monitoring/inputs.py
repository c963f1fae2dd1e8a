"""Which columns monitoring watches, and how a window's raw records get them.

A model takes raw records (see the README, "The model boundary"), and the prediction log holds the
records clients sent. Drift is checked on those raw inputs: every input field of the model but
the ones it drops, with each timestamp replaced by its date parts (a timestamp's raw values
always move forward, its hour or weekday need not), plus the prediction. The date parts are the
ones the model's own `FeatureBuilder` computes (its `features` config, kept in the reference
profile as `derive`), and a window computes them from the logged ISO-8601 strings with the same
function (`core.data.features.build_features`, the same parser as the model's `RecordCleaner`),
so the reference and the window agree on what an hour is.

With `monitoring.drift.engineered: true` the model's engineered columns (interactions, bins)
are watched too, computed the same way on both sides.

Models registered before the raw-record boundary took engineered records: their profiles have
no `derive` and their windows are used as logged.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from pandas.api import types as pdt


def _model_steps(model) -> dict:
    return dict(getattr(model, "named_steps", None) or {})


def takes_raw_records(model) -> bool:
    """Whether a model starts with the feature step (a raw-record model), not its transformer."""
    return "features" in _model_steps(model)


def _datetime_inputs(frame: pd.DataFrame, cleaner) -> set[str]:
    kinds = getattr(cleaner, "kinds_", None) or {}
    out = {c for c, k in kinds.items() if k == "datetime"}
    return out | {c for c in frame.columns if pdt.is_datetime64_any_dtype(frame[c])}


def derive_spec(features: dict | None, datetimes: Iterable[str], engineered: bool) -> dict:
    """The part of a `features` section monitoring computes, as a plain dict.

    The date parts of the timestamps (and the interactions and bins when `engineered`); nothing
    is dropped.
    """
    from core.config import FeaturesConfig

    cfg = FeaturesConfig.model_validate(features or {})
    datetimes = set(datetimes)
    out = {"date_parts": [s.model_dump() for s in cfg.date_parts if s.column in datetimes]}
    if engineered:
        out["interactions"] = [s.model_dump() for s in cfg.interactions]
        out["bins"] = [s.model_dump() for s in cfg.bins]
    return out


def monitored_inputs(
    frame: pd.DataFrame,
    model=None,
    features: dict | None = None,
    *,
    drop: Iterable[str] = (),
    engineered: bool = False,
) -> tuple[list[str], dict | None]:
    """The raw columns a reference profiles and how the derived ones are computed.

    Args:
        frame: The reference rows as the model takes them (raw records, typed).
        model: The fitted model; its `clean` step names the dropped columns and the timestamps,
            its `features` step the date parts. None: `features` and the frame's dtypes.
        features: A `features` section (used without a model, e.g. for a file).
        drop: Columns the model drops (used without a model).
        engineered: Also derive the engineered columns (interactions, bins).

    Returns:
        `(columns, derive)`: the raw columns to profile (timestamps and dropped columns left
        out) and the `features` dict the derived columns come from; derive is None for a model
        that takes engineered records (its inputs are profiled as they are).
    """
    steps = _model_steps(model)
    names = getattr(model, "feature_names_in_", None)
    inputs = [c for c in (list(names) if names is not None else frame.columns) if c in frame]
    if model is not None and "features" not in steps:
        datetimes = _datetime_inputs(frame, None)
        return [c for c in inputs if c not in datetimes], None
    cleaner = steps.get("clean")
    if "features" in steps:
        features = steps["features"].config
    dropped = set(getattr(cleaner, "drop", None) or ()) if cleaner is not None else set(drop)
    datetimes = _datetime_inputs(frame, cleaner)
    columns = [c for c in inputs if c not in dropped and c not in datetimes]
    return columns, derive_spec(features, datetimes & set(inputs), engineered)


def derived_names(derive: dict | None) -> list[str]:
    """The names of the columns `derive` adds (date parts, then interactions and bins)."""
    if not derive:
        return []
    cfg = _config(derive)
    parts = [s.output(p) for s in cfg.date_parts for p in s.parts]
    sources = {s.column for s in cfg.date_parts} | {s.column for s in cfg.bins}
    sources = (sources | {c for s in cfg.interactions for c in s.columns}) - set(parts)
    names = parts + [s.output for s in cfg.interactions] + [s.output for s in cfg.bins]
    return [c for c in dict.fromkeys(names) if c not in sources]


def derive_columns(
    frame: pd.DataFrame, derive: dict | None, *, overwrite: bool = True
) -> pd.DataFrame:
    """`frame` plus the derived columns whose source columns it has.

    Timestamps may be datetimes or ISO-8601 strings (as logged); both give the same parts.
    A spec whose source is missing is skipped (a file of engineered rows already has them).

    Args:
        frame: The rows (raw records, decoded).
        derive: A `features` dict (see `derive_spec`); None or empty: `frame` unchanged.
        overwrite: Recompute columns `frame` already has (False: only add missing ones).
    """
    if not derive or frame.empty and not len(frame.columns):
        return frame
    from core.config import FeaturesConfig

    cfg = _config(derive)
    have = set(frame.columns)
    wanted = {"date_parts": [], "interactions": [], "bins": []}
    needed: set[str] = set()
    available = set(have)
    for spec in cfg.date_parts:
        if spec.column in available:
            wanted["date_parts"].append(spec.model_dump())
            needed.add(spec.column)
            available |= {spec.output(p) for p in spec.parts}
    for spec in cfg.interactions:
        if set(spec.columns) <= available:
            wanted["interactions"].append(spec.model_dump())
            needed |= {c for c in spec.columns if c in have}
    for spec in cfg.bins:
        if spec.column in available:
            wanted["bins"].append(spec.model_dump())
            needed |= {spec.column} & have
    if not any(wanted.values()):
        return frame
    sub = FeaturesConfig.model_validate(wanted)
    built = _build(frame[sorted(needed)], sub)
    new = [c for c in built.columns if c not in needed and (overwrite or c not in have)]
    if not new:
        return frame
    out = frame.copy()
    for name in new:
        out[name] = built[name].to_numpy()
    out.attrs = dict(frame.attrs)
    return out


def _config(derive: dict):
    from core.config import FeaturesConfig

    return FeaturesConfig.model_validate({k: v for k, v in derive.items() if k != "drop"})


def _build(frame: pd.DataFrame, cfg) -> pd.DataFrame:
    from core.data.features import build_features

    with np.errstate(all="ignore"):
        return build_features(frame, cfg)
