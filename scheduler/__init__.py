"""The scheduler: APScheduler jobs over `core` pipelines, run history, leader lock, simulation.

- `scheduler.app.build_scheduler(settings, runner)`: every trigger in one place.
- `scheduler.tasks`: the job functions (thin: each calls a `core.lifecycle` step).
- `scheduler.runner`: runs a job and records it (history, progress, retries, SLA, alerts).
- `scheduler.service.SchedulerService`: `workbench scheduler`: leader or standby, applies
  commands from the CLI and the UI, mirrors the schedule for readers.
- `scheduler.simulate`: `workbench simulate --days N`, the whole loop over demo days.

Importing the package is cheap; APScheduler is imported by the modules that use it.
"""
