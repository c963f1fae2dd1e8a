from pathlib import Path

import pytest
import yaml

from core.config import load_config, parse_config
from core.errors import ConfigError, WorkspaceError
from core.workspace import Workspace
from core.workspace.demo import DATASETS, demo_config_text


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_demo_config_is_valid(dataset):
    cfg = parse_config(yaml.safe_load(demo_config_text(dataset)), dataset)
    assert cfg.validation.raw and cfg.target


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "workbench.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_unknown_key_error_names_file_and_dotted_key(tmp_path):
    path = _write(tmp_path, {"task": "regression", "target": "y", "preprocessing": {"scalling": 1}})
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(path) in str(exc.value)
    assert "preprocessing.scalling" in str(exc.value)


def test_bad_rule_field_error_points_into_the_rule_list(tmp_path):
    data = {
        "task": "classification",
        "target": "y",
        "validation": {"raw": [{"rule": "missing_rate", "max": 2}]},
    }
    with pytest.raises(ConfigError, match=r"validation\.raw\[0\]\.max"):
        load_config(_write(tmp_path, data))


def test_unknown_rule_type_is_rejected(tmp_path):
    data = {"task": "classification", "target": "y", "validation": {"raw": [{"rule": "sparkles"}]}}
    with pytest.raises(ConfigError, match=r"validation\.raw\[0\]"):
        load_config(_write(tmp_path, data))


def test_missing_required_key_and_bad_enum(tmp_path):
    with pytest.raises(ConfigError, match="key 'target'"):
        load_config(_write(tmp_path, {"task": "classification"}))
    with pytest.raises(ConfigError, match="key 'task'"):
        load_config(_write(tmp_path, {"task": "clustering", "target": "y"}))


def test_invalid_yaml_and_missing_file_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "task: [unclosed"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_target_cannot_be_dropped(tmp_path):
    data = {"task": "regression", "target": "y", "preprocessing": {"drop_columns": ["y"]}}
    with pytest.raises(ConfigError, match="target 'y'"):
        load_config(_write(tmp_path, data))


def test_workspace_open_explains_how_to_create_one(tmp_path):
    with pytest.raises(WorkspaceError, match="workbench init"):
        Workspace.open(tmp_path)


def test_workspace_resolves_from_env(tmp_path, monkeypatch):
    _write(tmp_path, {"task": "regression", "target": "y"})
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))
    assert Workspace.open().root == tmp_path.resolve()


def test_deploy_docker_section_defaults_off_and_names_a_bad_key(tmp_path):
    cfg = load_config(_write(tmp_path, {"task": "regression", "target": "y"}))
    assert not cfg.deploy.docker.enabled and cfg.deploy.docker.image == "workbench-api:latest"
    bad = {"task": "regression", "target": "y", "deploy": {"docker": {"port": 70000}}}
    with pytest.raises(ConfigError, match=r"deploy\.docker\.port"):
        load_config(_write(tmp_path, bad))
