"""Tracking overhead: `workbench train` with MLflow vs the same fits without it, same run.

    .venv/bin/python benchmarks/bench_training.py [--trials N] [--candidates a,b] [--days N]

Builds a flights demo workspace in a temp folder, versions the first `--days` days, creates the
MLflow store once (its one-off schema set-up belongs to the workspace, not to each training),
then trains the same candidates with the same budget untracked and tracked, alternating the
order per round, and prints the best wall time of each, the ratio, and how long the run waited
on MLflow. Goal: tracked wall time at most 1.20x untracked. Exit 1 when it is above.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import yaml

from core.data.pipeline import run_pipeline
from core.training.train import train
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

GOAL = 0.20


def _workspace(root: Path, days: int, trials: int, candidates: list[str] | None) -> Workspace:
    init_workspace(root, demo="flights", initial=days)
    ws = Workspace.open(root)
    assert run_pipeline(ws).status in {"ok", "partial"}
    cfg = yaml.safe_load(ws.config_path.read_text())
    if trials:
        cfg["training"] = {"budget": {"trials": trials, "seconds": 600}}
    if candidates:
        cfg["training"]["candidates"] = candidates
    ws.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    import mlflow

    mlflow.MlflowClient(tracking_uri=ws.tracking_uri).search_experiments()  # create the store
    return Workspace.open(root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=0, help="0 = the config's default budget")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--candidates", default="")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    names = [c for c in args.candidates.split(",") if c] or None
    with tempfile.TemporaryDirectory() as tmp:
        ws = _workspace(Path(tmp) / "ws", args.days, args.trials, names)
        bare, tracked, in_calls, timings = [], [], [], []
        for i in range(args.rounds):
            order = (False, True) if i % 2 == 0 else (True, False)
            for track in order:
                result = train(ws, track=track, force=True)  # rounds repeat one training
                (tracked if track else bare).append(result.duration_s)
                if track:
                    in_calls.append(result.tracking_s)
                    timings.append(f"  logging per candidate (worker) {result.timings}")
                print(
                    f"round {i + 1}: {'tracked' if track else 'bare   '} "
                    f"{result.duration_s:7.1f} s  ({len(result.candidates)} candidates)"
                )
    b, t, c = min(bare), min(tracked), min(in_calls)
    wall = t / b - 1
    print(
        f"\nwithout MLflow  {b:7.1f} s\nwith MLflow     {t:7.1f} s   ratio {t / b:.2f}x "
        f"(overhead {wall:+.1%})"
    )
    print(f"the run waited on MLflow {c:.1f} s; the rest of the logging overlapped the fits")
    for line in timings:
        print(line)
    print(f"goal <= {GOAL:.0%}: {'met' if wall <= GOAL else 'NOT met'}")
    return 0 if wall <= GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
