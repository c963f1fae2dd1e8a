"""Training: data splits, candidates, tuning, evaluation, MLflow tracking, registration."""
