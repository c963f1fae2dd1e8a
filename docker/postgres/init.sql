-- Run once by the postgres image on an empty data volume: the MLflow backend store gets its own
-- database next to `workbench` (prediction log, scheduler job store).
CREATE DATABASE mlflow;
