"""`workbench lineage` on a real git + DVC workspace, MLflow store, prediction log and API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from lineage_setup import PROMOTION_REASON, V1_PREDICTIONS, V2_PREDICTIONS, build
from typer.testing import CliRunner

from app.cli import app
from core.data import versioning
from core.lineage import build_lineage, text_lines
from core.registry import store
from core.workspace import Workspace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ws(two_versions_template, tmp_path_factory) -> Workspace:
    """The lineage workspace (read-only for these tests)."""
    return build(two_versions_template, tmp_path_factory.mktemp("lineage") / "ws")


def _cli(ws: Workspace, *args: str):
    return CliRunner().invoke(app, ["lineage", *args, "--workspace", str(ws.root)])


def _git(ws: Workspace, *args: str) -> str:
    return versioning.run(["git", *args], ws.root)


def test_the_champion_goes_back_to_its_run_data_commit_md5s_batches_and_reports(ws):
    lineage = build_lineage(ws, ws.config.model_name)  # no version: the champion, v2

    assert lineage.version == "2"
    [root] = lineage.of_kind("model_version")
    assert root.attrs["aliases"] == ["champion"]
    mv = store.get_version(store.registry_client(ws), ws.config.model_name, "2")
    [run] = lineage.of_kind("run")
    assert run.attrs["run_id"] == mv.run_id
    assert run.attrs["params"] and any(k.startswith("test_") for k in run.attrs["metrics"])
    assert run.link["url"].endswith(f"/#/experiments/{run.attrs['experiment_id']}/runs/{mv.run_id}")
    # the data version is the workspace repo's commit of data/version.json, md5s from its .dvc
    [data] = lineage.of_kind("data_version")
    commit = _git(ws, "log", "-n1", "--format=%H", "--", "data/version.json").strip()
    assert data.attrs["commit"] == commit
    dvc = {
        which: yaml.safe_load(_git(ws, "show", f"{commit}:data/{which}/{which}.parquet.dvc"))
        for which in ("processed", "features")
    }
    md5s = {n.attrs["path"]: n.attrs["md5"] for n in lineage.of_kind("data_file")}
    assert md5s == {f"data/{w}/{w}.parquet": dvc[w]["outs"][0]["md5"] for w in dvc}
    # every batch named in the version, with its three stage reports
    names = json.loads(_git(ws, "show", f"{commit}:data/version.json"))["batches"]
    batches = lineage.of_kind("batch")
    assert [b.attrs["name"] for b in batches] == names and len(names) == 3
    reports = lineage.of_kind("report")
    assert [r.attrs["stage"] for r in reports[:3]] == ["raw", "processed", "features"]
    assert sorted((r.attrs["batch_id"], r.attrs["stage"]) for r in reports) == sorted(
        (b.attrs["batch_id"], s) for b in batches for s in ("raw", "processed", "features")
    )
    assert all(  # accepted batches: each report's own status, none failed
        r.attrs["status"] == json.loads(Path(r.attrs["path"]).read_text())["status"] != "fail"
        for r in reports
    )
    assert all(
        b.link == {"page": "data", "query": {"tab": "Validation", "batch": b.attrs["batch_id"]}}
        for b in batches
    )
    assert lineage.notes == []


def test_the_champion_goes_forward_to_its_promotion_api_predictions_and_incidents(ws):
    lineage = build_lineage(ws, ws.config.model_name, "2")

    [promotion] = lineage.of_kind("promotion")
    assert (promotion.attrs["action"], promotion.attrs["from_version"]) == ("promote", "1")
    assert (promotion.attrs["actor"], promotion.attrs["reason"]) == ("alice", PROMOTION_REASON)
    serving = {n.attrs["action"]: n.attrs["why"] for n in lineage.of_kind("serving")}
    assert serving == {
        "start services": "running when it became champion",
        "reload the served model": "loaded it",
    }
    [day] = lineage.of_kind("predictions")
    assert day.attrs["count"] == V2_PREDICTIONS
    assert day.attrs["variants"] == {"champion": V2_PREDICTIONS}
    assert day.attrs["clients"] == {"config": V2_PREDICTIONS}
    [incident] = lineage.of_kind("incident")
    assert (incident.attrs["kind"], incident.attrs["why"]) == (
        "monitoring.performance_drop",
        "names it",
    )
    assert incident.link["page"] == "drift"


def test_the_replaced_version_shows_both_promotions_and_only_its_own_traffic(ws):
    lineage = build_lineage(ws, ws.config.model_name, "1")

    actions = [(n.attrs["action"], n.attrs["to_version"]) for n in lineage.of_kind("promotion")]
    assert actions == [("initial_champion", "1"), ("promote", "2")]
    relations = {e.target: e.relation for e in lineage.edges if e.source == lineage.root}
    assert [relations[n.id] for n in lineage.of_kind("promotion")] == ["promoted", "replaced"]
    [day] = lineage.of_kind("predictions")
    assert day.attrs["count"] == V1_PREDICTIONS
    [incident] = lineage.of_kind("incident")
    assert (incident.attrs["message"], incident.attrs["why"]) == (
        "drift while v1 serves",
        "opened while champion",
    )
    assert [n.attrs["why"] for n in lineage.of_kind("serving")] == [
        "started while champion"  # `up` ran after v1 became champion at its registration
    ]


def test_cli_text_is_one_hop_per_line_and_json_is_the_same_graph(ws):
    text = _cli(ws, ws.config.model_name)
    as_json = _cli(ws, ws.config.model_name, "--json")

    assert text.exit_code == 0, text.output
    assert as_json.exit_code == 0, as_json.output
    graph = json.loads(as_json.stdout)
    lines = text.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [n["kind"] for n in graph["nodes"]]
    assert [" ".join(line.split()[1:]) for line in lines] == [
        " ".join(n["label"].split()) for n in graph["nodes"]
    ]
    ids = {n["id"] for n in graph["nodes"]}
    assert len(ids) == len(graph["nodes"]) and graph["root"] in ids
    assert all(e["source"] in ids and e["target"] in ids for e in graph["edges"])
    assert {n["kind"] for n in graph["nodes"]} == {
        "model_version", "run", "data_version", "data_file", "batch", "report",
        "promotion", "serving", "predictions", "incident",
    }  # fmt: skip
    # greppable: the batch lines name each batch, the run line its MLflow page
    assert len([line for line in lines if line.startswith("batch ")]) == 3
    run = next(n for n in graph["nodes"] if n["kind"] == "run")
    assert run["link"]["url"] in next(line for line in lines if line.startswith("run "))
    assert text_lines(build_lineage(ws, ws.config.model_name, "2")) == lines


def test_unknown_version_or_model_is_named_and_exits_non_zero(ws):
    missing = _cli(ws, ws.config.model_name, "9")
    other = _cli(ws, "no-such-model")
    word = _cli(ws, ws.config.model_name, "latest")

    assert missing.exit_code == 1 and f"model '{ws.config.model_name}' has no version 9" in (
        " ".join(missing.output.split())
    )
    assert other.exit_code == 1 and "unknown model 'no-such-model'" in other.output
    assert word.exit_code == 1 and "must be a number" in word.output


def test_a_workspace_without_a_registered_model_says_to_train_first(versioned_ws):
    result = _cli(versioned_ws, versioned_ws.config.model_name)

    assert result.exit_code == 1
    assert "no registered model 'flights-delay' yet: run `workbench train` first" in " ".join(
        result.output.split()
    )
