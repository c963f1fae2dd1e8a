"""Model registry: promotion gates, champion/challenger aliases, rollback and the audit log.

- `store`: the only module that talks to the MLflow registry (client, versions, aliases).
- `gates`: pure gate checks and `evaluate_gates` (challenger vs champion on the same holdout).
- `audit`: the append-only promotion history (`<ws>/audit/promotions.jsonl` + version tags).
- `promotion`: `list_models`, `promote`, `rollback`, `maybe_auto_promote`, `require_approver`.
"""
