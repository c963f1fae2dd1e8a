"""Model registry: promotion gates, champion/challenger aliases, rollback and the audit log.

- `store`: MLflow access (client, version and alias lookups, run data, model loading).
- `checks`: the gates as pure functions (observations in, `GateResult`s out).
- `gates`: `evaluate_gates` (challenger vs champion on the same holdout) and the stored report.
- `audit`: the promotion history, a view of the one audit log (`core.audit`) + version tags.
- `promotion`: `list_models`, `promote`, `rollback`, `maybe_auto_promote`, `require_approver`.
"""
