"""The Prometheus alerting rules: promtool accepts them and their unit tests pass; every alert
has a firing and a not-firing case; prometheus.yml loads them and sends alerts to Alertmanager."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "docker" / "prometheus"
RULES = sorted((PROMETHEUS / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))


def _promtool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: make system-deps (Debian prometheus)", pytrace=False)
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120)


def _alerts() -> set[str]:
    return {
        rule["alert"]
        for path in RULES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_promtool_accepts_the_rules():
    done = _promtool("check", "rules", *map(str, RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(_alerts())} rules found" in done.stdout


def test_the_rule_unit_tests_pass():
    done = _promtool("test", "rules", *map(str, RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAILED" not in done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_not_firing_case():
    cases: dict[str, set[str]] = {}
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                kind = "firing" if case.get("exp_alerts") else "quiet"
                cases.setdefault(case["alertname"], set()).add(kind)
    assert _alerts() == {
        "WorkbenchApiDown",
        "WorkbenchModelNotLoaded",
        "WorkbenchHighErrorRate",
        "WorkbenchHighLatencyP99",
        "WorkbenchNoPredictions",
        "WorkbenchDriftShareHigh",
        "WorkbenchJobFailed",
    }
    missing = {a: {"firing", "quiet"} - cases.get(a, set()) for a in _alerts()}
    assert not {a: m for a, m in missing.items() if m}, missing


def test_every_alert_has_a_severity_the_workbench_knows_and_a_summary():
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert rule["labels"]["severity"] in {"critical", "error", "warning"}, rule
                assert rule["annotations"]["summary"], rule


def test_prometheus_config_loads_the_rules_and_alerts_alertmanager():
    done = _promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(RULES)} rule files found" in done.stdout
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]
