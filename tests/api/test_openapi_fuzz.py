"""Schemathesis with every check against a real `workbench serve`: nothing valid refused, no 5xx.

The served `/schema/openapi.json` types /predict's body from the served model's inputs
(`api.routes.probes.served_openapi`), so one run of the Schemathesis CLI over the document as
served, `--checks all`, covers every operation: schema-valid bodies are accepted (records and
columns + rows reach the model), schema-invalid ones are refused, no 5xx, responses match the
document, a missing or wrong key is not ignored. Its coverage, fuzzing and stateful phases send
~750 cases (`MAX_EXAMPLES` per operation and phase) in about half a minute; its JSON report,
HAR archive and the server's /metrics are read back to check what was reached.

The same command reproduces a run by hand (`--seed` from the printed output):

    st --config-file schemathesis.toml run http://127.0.0.1:PORT/schema/openapi.json \
        --checks all --max-examples 40 --workers 1
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml
from servers import api_server
from workspaces import copy_workspace

from core.predictions.readers import prediction_log_source, read_feedback, read_predictions
from core.workspace import Workspace

pytestmark = pytest.mark.slow

KEY, ADMIN = "fuzz-key", "fuzz-admin"
MAX_BATCH = 50  # the server's batch limit, so oversized batches are part of the fuzzing
MAX_EXAMPLES = 40
MIN_CASES = 500
CONFIG = f"""
headers = {{ "X-API-Key" = "{KEY}" }}

[checks.negative_data_rejection]
# A batch over the limit is refused with 413, which is a rejection too.
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

[[operations]]
include-path = "/admin/reload"
headers = {{ "X-API-Key" = "{ADMIN}" }}

[[operations]]
include-path = "/admin/alerts"
headers = {{ "X-API-Key" = "{ADMIN}" }}
"""


@pytest.fixture(scope="module")
def server(trained_template, tmp_path_factory):
    root = copy_workspace(trained_template, tmp_path_factory.mktemp("fuzz") / "ws")
    path = root / "workbench.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg["serving"] = {**(cfg.get("serving") or {}), "max_batch": MAX_BATCH}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {"WORKBENCH_API_KEYS": KEY, "WORKBENCH_ADMIN_KEY": ADMIN}
    with api_server(Path(root), poll_seconds=60, **env) as (url, proc):
        lines: list[str] = []  # read in the background so the server's pipe never fills up
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        yield url, root, lines


def _schemathesis(url: str, workdir: Path) -> tuple[subprocess.CompletedProcess, dict, dict]:
    """Run the CLI (from a clean directory) with every check; its output and two reports."""
    (workdir / "schemathesis.toml").write_text(CONFIG)
    reports = workdir / "reports"
    command = [
        *[sys.executable, "-m", "schemathesis.cli", "--config-file", "schemathesis.toml"],
        *["run", f"{url}/schema/openapi.json", "--checks", "all"],
        *["--max-examples", str(MAX_EXAMPLES), "--workers", "1"],
        *["--report", "json,har", "--report-dir", str(reports)],
    ]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=900)
    report = json.loads(next(reports.glob("json-*.json")).read_text())
    har = json.loads(next(reports.glob("har-*.json")).read_text())
    return done, report, har


def _scored(har: dict) -> Counter:
    """/predict answers by body form and status, from the HAR archive of the run."""
    out: Counter = Counter()
    for entry in har["log"]["entries"]:
        request = entry["request"]
        if request["method"] != "POST" or not request["url"].endswith("/predict"):
            continue
        try:
            body = json.loads(request.get("postData", {}).get("text") or "null")
        except json.JSONDecodeError:
            body = None
        form = next((k for k in ("records", "columns") if isinstance(body, dict) and k in body), "")
        out[(form or "other", entry["response"]["status"])] += 1
    return out


def _metric(text: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus counter's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"{name}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_schemathesis_all_checks_find_no_refused_valid_body_and_no_server_error(server, tmp_path):
    url, root, output = server
    done, report, har = _schemathesis(url, tmp_path)
    print(done.stdout[-3000:])
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert report["failures"] == [] and report["errors"] == [], report
    assert report["test_cases"]["generated"] >= MIN_CASES, report["test_cases"]
    phases = {name: p["status"] for name, p in report["phases"].items() if name != "examples"}
    assert phases == {"coverage": "success", "fuzzing": "success", "stateful": "success"}
    scored = _scored(har)
    print(f"/predict answers by form and status: {sorted(scored.items())}")
    assert scored[("records", 200)] >= 20 and scored[("columns", 200)] >= 20  # model reached
    statuses = [e["response"]["status"] for e in har["log"]["entries"]]
    assert not [s for s in statuses if s >= 500]
    metrics = httpx.get(f"{url}/metrics").text
    assert 'workbench_errors_total{type="server"}' not in metrics
    # Whatever was fuzzed in, the background prediction log wrote every answered record and
    # every accepted feedback (a row it cannot write would fail each later flush too).
    predicted = _metric(metrics, "workbench_predictions_total")
    feedback = _metric(metrics, "workbench_requests_total", route="/feedback", status="202")
    assert predicted >= scored[("records", 200)] + scored[("columns", 200)]
    source = prediction_log_source(Workspace.open(root))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logged = (len(read_predictions(source)), len(read_feedback(source)))
        if logged == (predicted, feedback):
            break
        time.sleep(0.5)
    server_output = "".join(output)
    assert logged == (predicted, feedback), server_output[-3000:]
    assert "Traceback" not in server_output, server_output[-3000:]
