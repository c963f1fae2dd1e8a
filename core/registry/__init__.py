"""Model registry: promotion gates, champion/challenger aliases, rollback and the audit log.

- `store`: MLflow access (client, version and alias lookups, run data, model loading).
- `checks`: the gates as pure functions (observations in, `GateResult`s out).
- `gates`: `evaluate_gates` (challenger vs champion on the same holdout) and the stored report.
- `audit`: the append-only promotion history (`<ws>/audit/promotions.jsonl` + version tags).
- `promotion`: `list_models`, `promote`, `rollback`, `maybe_auto_promote`, `require_approver`.
"""
