"""`sources.feedback`: the labels export's switch, delay and batch size in `workbench.yaml`."""

import pytest
import yaml

from core.config import load_config, parse_config
from core.errors import ConfigError
from core.workspace.demo import DATASETS, demo_config_text


def _load(tmp_path, feedback: dict):
    path = tmp_path / "workbench.yaml"
    data = {"task": "classification", "target": "y", "sources": {"feedback": feedback}}
    path.write_text(yaml.safe_dump(data))
    return load_config(path).sources.feedback


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_demos_leave_the_export_off_their_files_carry_labels(dataset):
    cfg = parse_config(yaml.safe_load(demo_config_text(dataset)), dataset)
    assert cfg.sources.feedback.enabled is False


@pytest.mark.parametrize(("delay", "seconds"), [("30m", 1800), ("1h", 3600), ("1.5d", 129600)])
def test_label_delay_reads_as_seconds(tmp_path, delay, seconds):
    feedback = _load(tmp_path, {"enabled": True, "label_delay": delay})
    assert feedback.enabled and feedback.delay_seconds == seconds


@pytest.mark.parametrize(
    ("feedback", "key"),
    [({"label_delay": "an hour"}, "label_delay"), ({"min_rows": 0}, "min_rows"), ({"on": 1}, "on")],
)
def test_a_bad_feedback_setting_names_its_key(tmp_path, feedback, key):
    with pytest.raises(ConfigError, match=rf"sources\.feedback\.{key}"):
        _load(tmp_path, feedback)
