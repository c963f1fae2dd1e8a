"""Retraining policy: the flights demo's careful loop vs retraining on every drift alert.

Run it from the repository root (needs the `api` and `scheduler` extras, like `simulate`):

    .venv/bin/python benchmarks/bench_retrain_policy.py              # 30 days
    .venv/bin/python benchmarks/bench_retrain_policy.py --days 14 --out /tmp/policy

`workbench simulate --days N --compare` in one run: a new flights demo gets its first data
version and champion, then is copied; the same N held-back days run on each copy, with a real
API, real labels a day later and the scheduler's own jobs. One copy keeps the demo's policy
(drift pages no one and retrains only when the important columns drifted for a week, a realized
drop held two checks, or the last training is 7 days of data old; incidents notify once and
remind daily); the other runs `schedules.simulation.baseline`: every drift or performance
alert notifies and retrains at once.

Prints trainings, promotions, rollbacks, incidents, notifications and the weekly realized
metric side by side with their ratios, and the target: the same or better weekly metric with
at most half the trainings and notifications. Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from scheduler.simulate import print_comparison, simulate, verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="simulated days (default 30)")
    parser.add_argument("--out", type=Path, help="folder of the simulated workspace (new)")
    args = parser.parse_args()
    console = Console()
    summary = simulate(
        args.days,
        out=args.out,
        echo=lambda line: console.print(line, highlight=False),
        compare=True,
    )
    print_comparison(summary, console)
    console.print(
        f"workspaces: {summary['workspace']} and {summary['baseline']['workspace']}",
        highlight=False,
    )
    return 0 if all(verdict(summary).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
