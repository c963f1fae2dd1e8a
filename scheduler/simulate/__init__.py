"""`workbench simulate --days N`: the whole loop, unattended, over held-back demo days.

Each simulated day D (the calendar day of the next held-back file):

1. 00:00 yesterday's actual outcomes arrive as labels (`POST /feedback`, one per request);
2. 02:00 yesterday's flights land in `landing/` and `data_pipeline` runs (when its trigger
   fires on D);
3. 03:00 `drift_check` looks at yesterday's predictions, now labelled (drift + performance);
   a retrain request runs `training_pipeline` at once, as the scheduler's follow-up does;
4. 04:00 `training_pipeline` (when its trigger fires on D): trains only on newer data or a
   request; a promotion is followed by `deploy`, which reloads the running API;
5. during the day, D's flights are sent to the API as prediction traffic.

The jobs are the scheduler's own (`scheduler.tasks`), run by its `JobRunner`, so every run is in
the workspace's job history; the triggers come from the same `schedules:` config, evaluated on
the simulated date. The API is a real `workbench serve` process on a free loopback port.
The simulation runs on a copy of the workspace (or a new flights demo) with
`schedules.simulation.overrides` merged into its config (quick training, auto-promotion,
retraining on drift), unless `--in-place`, which uses the workspace and its config as they are.

Modules: `workspace` (the copy and its config), `traffic` (the API process, predictions,
labels), `loop` (the simulated days and `simulate`), `summary` (the result and its tables).
"""

from scheduler.simulate.loop import Simulation, fires_on, simulate
from scheduler.simulate.summary import print_comparison, print_summary, summarise, verdict
from scheduler.simulate.workspace import SimulationError, copy_workspace, prepare

__all__ = [
    "Simulation",
    "SimulationError",
    "copy_workspace",
    "fires_on",
    "prepare",
    "print_comparison",
    "print_summary",
    "simulate",
    "summarise",
    "verdict",
]
