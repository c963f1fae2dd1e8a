"""Serving: our `/predict` vs `mlflow models serve` vs BentoML 1.4 on the same registered model,
with a bare Litestar endpoint as the floor. Same machine, same load generator (wrk), one worker
each.

    .venv/bin/python benchmarks/bench_serving.py [--seconds 10] [--runs 2] [--workspace DIR]

Without `--workspace` it builds a flights demo workspace in a temp folder and trains a LightGBM
champion (the whole model: value cleaning, feature engineering, imputation, scaling, one-hot
encoding, then the estimator). Every server gets the same raw records (the model's input fields,
JSON values, as `workbench simulate` sends them); a zoned timestamp would reach `mlflow models
serve` as naive UTC (its schema enforcement refuses ISO-8601 strings with a zone; the model reads
naive timestamps as UTC, so the predictions are the same), the demo's are naive already.

- ours: `workbench serve` (its default ASGI server);
- `mlflow models serve --env-manager local` on the champion (`dataframe_records`, and
  `dataframe_split` as its columnar form);
- BentoML 1.4: `benchmarks/bentoml_service.py`, a service loading the same registered pipeline,
  adaptive batching on. BentoML pins other OpenTelemetry versions than MLflow, so it runs in its
  own virtualenv, made on first use under the git-ignored `benchmarks/.cache/` (bentoml plus the
  model's own `requirements.txt` pins, so the pipeline unpickles with the same libraries);
- the bare Litestar JSON endpoint (`bare_litestar.py`) on uvicorn: the HTTP stack's floor.

Each server runs alone while wrk loads it: single-record requests at concurrency 32 (req/s, p50,
p99) and 1,000-record batches at concurrency 4 (rows/s), as records and in the columnar form.
Prints a table and the ratios against the goals: single-record throughput >= 20x mlflow's and
>= 0.6x the bare floor with p99 <= 10 ms; batch rows/s >= 10x mlflow's; ahead of BentoML on
single-record req/s, batch rows/s and p99. When a goal is missed it prints where our time goes:
each phase of `workbench_request_phase_seconds` (from our /metrics, per scenario) beside wrk's
request p50. The machine's other load moves absolute numbers; run it more than once (`--runs`)
and read the ratios. Needs `wrk` (`make system-deps` installs it). Exit 1 when a server fails
or answers errors under load, or servers disagree on the probe record.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import yaml

from core.data.pipeline import run_pipeline
from core.serving.inference import signature_fields
from core.serving.records import json_records
from core.training.data import load_split
from core.training.train import train
from core.workspace import Workspace
from core.workspace.bootstrap import init_workspace

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
CACHE = HERE / ".cache"
"""Git-ignored: BentoML's virtualenv and home."""
BENTOML = "bentoml==1.4.*"
KEY = "bench-key"
CONCURRENCY, BATCH, BATCH_CONCURRENCY = 32, 1000, 4
SINGLE, RECORDS, COLUMNAR = "single record, c=32", "1000 records, c=4", "1000 columnar, c=4"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rows: int
    cpu_ms: float = float("nan")
    """The server's CPU time per request (all its processes): steadier than req/s when other
    work shares the machine."""

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.rows


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants so far."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:  # it ended meanwhile
            continue
        total += int(stat[11]) + int(stat[12])
        pending += [int(c) for c in children]
    return total / tick


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workspace(root: Path) -> Workspace:
    print(f"building a flights demo workspace with a LightGBM champion in {root} ...", flush=True)
    init_workspace(root, demo="flights")
    ws = Workspace.open(root)
    assert run_pipeline(ws).status in {"ok", "partial"}
    cfg = yaml.safe_load(ws.config_path.read_text())
    cfg["training"] = {"candidates": ["lightgbm"], "budget": {"trials": 1, "seconds": 120}}
    cfg.setdefault("serving", {})["api_keys"] = [KEY]
    ws.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    ws = Workspace.open(root)
    train(ws)
    return ws


def model_fields(ws: Workspace) -> list[tuple[str, str]]:
    """The champion's input fields (name, type) from its MLflow signature, as `GET /model`."""
    import mlflow

    mlflow.set_tracking_uri(ws.tracking_uri)
    info = mlflow.models.get_model_info(f"models:/{ws.config.model_name}@champion")
    return signature_fields(info.signature)


def _records(ws: Workspace, fields: list[tuple[str, str]], n: int) -> list[dict]:
    """`n` raw holdout records (drawn with replacement when the holdout is smaller)."""
    X = load_split(ws).X_test
    return json_records(X.sample(n, replace=len(X) < n, random_state=0), fields)


def naive_utc(records: list[dict], fields: list[tuple[str, str]]) -> list[dict]:
    """The records with each timestamp as naive UTC, the form `mlflow models serve` accepts."""
    stamps = [name for name, kind in fields if kind == "datetime"]

    def naive(value):
        if value is None:
            return None
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return stamp.isoformat()

    return [r | {name: naive(r[name]) for name in stamps} for r in records]


def _start(cmd: list[str], env: dict, ready_url: str, cwd: Path | None = None) -> subprocess.Popen:
    # stderr to a file: a pipe nobody reads fills up and blocks a chatty server
    log = Path(tempfile.mkstemp(suffix=".log")[1])
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 180
    try:
        while time.time() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{cmd[0]} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        proc.kill()
        raise SystemExit(f"{' '.join(cmd)} did not become ready: {log.read_text()[-2000:]}")
    finally:
        log.unlink()


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNIT[unit]


def _wrk(server, name: str, url: str, body: dict, headers: dict, conns, seconds, rows) -> Result:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines.append(f"wrk.body = [==[{json.dumps(body)}]==]")
    script.write_text("\n".join(lines) + "\n")
    try:
        threads = min(2, conns)
        warm = ["wrk", "-t1", f"-c{min(conns, 4)}", "-d2s", "-s", str(script), url]
        subprocess.run(warm, capture_output=True, check=True)
        # a 30 s timeout: a slow peer's answers are measured, not counted as errors (wrk's 2 s)
        cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s"]
        cmd += ["--latency", "-s"]
        cpu = _cpu_seconds(server.pid)
        out = subprocess.run(
            [*cmd, str(script), url], capture_output=True, text=True, check=True
        ).stdout
        cpu = _cpu_seconds(server.pid) - cpu
    finally:
        script.unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    done = int(re.search(r"(\d+) requests in", out).group(1))
    result = Result(name, rps, p50, p99, errors, rows, 1000 * cpu / max(done, 1))
    print(
        f"  {name:<22} {rps:>7.0f} req/s {result.rows_per_s:>8.0f} rows/s "
        f"p50 {p50:>7.2f} ms  p99 {p99:>8.2f} ms  cpu {result.cpu_ms:>6.2f} ms/req  "
        f"errors {errors}",
        flush=True,
    )
    return result


def _columnar(batch: list[dict]) -> tuple[list[str], list[list]]:
    columns = list(batch[0])
    return columns, [[r[c] for c in columns] for r in batch]


def _scenarios(server, url, single: dict, records: dict, columnar: dict | None, seconds):
    """wrk on the three loads; `columnar` None: the server has no columnar form."""
    results = {
        SINGLE: _wrk(server, SINGLE, url, single, {}, CONCURRENCY, seconds, 1),
        RECORDS: _wrk(server, RECORDS, url, records, {}, BATCH_CONCURRENCY, seconds, BATCH),
    }
    if columnar is not None:
        conns = BATCH_CONCURRENCY
        results[COLUMNAR] = _wrk(server, COLUMNAR, url, columnar, {}, conns, seconds, BATCH)
    return results


# -- where our time goes: workbench_request_phase_seconds from /metrics ------------------------

_SAMPLE = re.compile(r"^(workbench_request_phase_seconds_(?:bucket|sum|count))\{([^}]*)\} (\S+)$")


def phase_histograms(metrics_text: str) -> dict[str, dict]:
    """Per phase: `buckets` [(le, cumulative count)], `sum`, `count` from a /metrics text."""
    phases: dict[str, dict] = {}
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        name, labels, value = match.groups()
        label = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        h = phases.setdefault(label["phase"], {"buckets": [], "sum": 0.0, "count": 0.0})
        if name.endswith("_bucket"):
            h["buckets"].append((float(label["le"]), float(value)))
        else:
            h[name.rsplit("_", 1)[1]] = float(value)
    return phases


def phase_delta(before: dict, after: dict) -> dict[str, dict]:
    """What each phase observed between two `phase_histograms`."""
    out = {}
    for phase, h in after.items():
        b = before.get(phase, {"buckets": [(le, 0.0) for le, _ in h["buckets"]], "sum": 0.0,
                               "count": 0.0})  # fmt: skip
        buckets = [(le, n - m) for (le, n), (_, m) in zip(h["buckets"], b["buckets"], strict=True)]
        out[phase] = {"buckets": buckets, "sum": h["sum"] - b["sum"],
                      "count": h["count"] - b["count"]}  # fmt: skip
    return out


def quantile_ms(h: dict, q: float) -> float:
    """A quantile of a cumulative-bucket histogram (linear within the bucket), in ms."""
    total = h["count"]
    if not total:
        return float("nan")
    rank, lower, below = q * total, 0.0, 0.0
    for le, cumulative in h["buckets"]:
        if cumulative >= rank:
            if le == float("inf"):
                return 1000 * lower
            inside = cumulative - below
            share = (rank - below) / inside if inside else 1.0
            return 1000 * (lower + (le - lower) * share)
        lower, below = le, cumulative
    return 1000 * lower


def _metrics(base: str) -> dict:
    return phase_histograms(httpx.get(f"{base}/metrics", timeout=30).text)


def _run_ours(ws: Workspace, one: list, batch: list, seconds: int):
    port = _free_port()
    env = dict(os.environ, WORKBENCH_HOME=str(ws.root), WORKBENCH_API_KEYS=KEY)
    base = f"http://127.0.0.1:{port}"
    proc = _start([str(BIN / "workbench"), "serve", "--port", str(port)], env, f"{base}/ready")
    url, headers = f"{base}/predict", {"X-API-Key": KEY}
    try:
        path = httpx.get(f"{base}/model").json()["prediction_path"]
        print(f"ours (workbench serve, prediction path: {path}):", flush=True)
        check = httpx.post(url, json={"records": one}, headers=headers, timeout=30)
        assert check.status_code == 200, check.text
        columns, rows = _columnar(batch)
        bodies = {
            SINGLE: ({"records": one}, CONCURRENCY, 1),
            RECORDS: ({"records": batch}, BATCH_CONCURRENCY, BATCH),
            COLUMNAR: ({"columns": columns, "rows": rows}, BATCH_CONCURRENCY, BATCH),
        }
        results, phases = {}, {}
        for name, (body, conns, n) in bodies.items():
            before = _metrics(base)
            results[name] = _wrk(proc, name, url, body, headers, conns, seconds, n)
            phases[name] = phase_delta(before, _metrics(base))  # wrk's warm-up included
        return results, check.json()["predictions"], phases
    finally:
        _stop(proc)


def _run_mlflow(ws: Workspace, one: list, batch: list, seconds: int):
    port = _free_port()
    # mlflow starts `uvicorn` from PATH: the one of this environment.
    path = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    env = dict(os.environ, MLFLOW_TRACKING_URI=ws.tracking_uri, PATH=path)
    model = f"models:/{ws.config.model_name}@champion"
    cmd = [str(BIN / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local"]
    proc = _start(
        [*cmd, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env,
        f"http://127.0.0.1:{port}/ping",
    )
    url = f"http://127.0.0.1:{port}/invocations"
    try:
        print("mlflow models serve:", flush=True)
        check = httpx.post(url, json={"dataframe_records": one}, timeout=30)
        assert check.status_code == 200, check.text
        columns, rows = _columnar(batch)
        split = {"dataframe_split": {"columns": columns, "data": rows}}
        results = _scenarios(
            proc, url, {"dataframe_records": one}, {"dataframe_records": batch}, split, seconds
        )
        return results, check.json()["predictions"]
    finally:
        _stop(proc)


def bentoml_python() -> Path:
    """BentoML's interpreter: its own virtualenv under `CACHE`, made (once) when missing.

    It holds `BENTOML` and the libraries the pipeline unpickles with, at the versions of this
    environment (the model's `requirements.txt` pins the same).
    """
    from importlib.metadata import version

    venv = CACHE / "bentoml-venv"
    python = venv / "bin" / "python"
    libs = ["scikit-learn", "lightgbm", "pandas", "numpy", "scipy", "cloudpickle", "pydantic"]
    wanted = [BENTOML, *(f"{lib}=={version(lib)}" for lib in libs), "pyyaml"]
    marker = venv / "workbench-requirements.txt"
    if python.exists() and marker.exists() and marker.read_text().split() == wanted:
        return python
    print(f"making BentoML's virtualenv in {venv} (once) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *wanted], check=True)
    marker.write_text("\n".join(wanted) + "\n")
    return python


def _champion_dir(ws: Workspace) -> Path:
    """The champion's MLflow model folder (`model.pkl`, `MLmodel`), downloaded if remote."""
    import mlflow
    from mlflow.artifacts import download_artifacts

    client = mlflow.MlflowClient(tracking_uri=ws.tracking_uri)
    version = client.get_model_version_by_alias(ws.config.model_name, "champion")
    source = version.source
    if source.startswith("models:/m-"):  # an MLflow 3 LoggedModel
        source = client.get_logged_model(source.rsplit("/", 1)[-1]).artifact_location
    return Path(download_artifacts(artifact_uri=source, tracking_uri=ws.tracking_uri))


def _run_bentoml(ws: Workspace, one: list, batch: list, seconds: int):
    python = bentoml_python()
    port = _free_port()
    env = dict(
        os.environ,
        BENCH_MODEL_DIR=str(_champion_dir(ws)),
        PYTHONPATH=str(ROOT),  # the pipeline's steps (`core.data`)
        BENTOML_HOME=str(CACHE / "bentoml-home"),
        BENTOML_DO_NOT_TRACK="true",
    )
    env.pop("VIRTUAL_ENV", None)
    cmd = [str(python), "-m", "bentoml", "serve", "bentoml_service:Pipeline"]
    proc = _start(
        [*cmd, "--host", "127.0.0.1", "--port", str(port)],
        env,
        f"http://127.0.0.1:{port}/readyz",
        cwd=HERE,
    )
    url = f"http://127.0.0.1:{port}/predict"
    try:
        out = subprocess.run(
            [str(python), "-c", "import bentoml; print(bentoml.__version__)"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        print(f"BentoML {out} (adaptive batching on):", flush=True)
        check = httpx.post(url, json={"records": one}, timeout=30)
        assert check.status_code == 200, check.text
        results = _scenarios(proc, url, {"records": one}, {"records": batch}, None, seconds)
        return results, [r["prediction"] for r in check.json()]
    finally:
        _stop(proc)


def _run_bare(one: list, seconds: int) -> Result:
    port = _free_port()
    cmd = [str(BIN / "uvicorn"), "--app-dir", str(HERE), "bare_litestar:app"]
    proc = _start(
        [*cmd, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        dict(os.environ),
        f"http://127.0.0.1:{port}/schema/openapi.json",
    )
    try:
        print("bare Litestar JSON endpoint (the floor):", flush=True)
        url = f"http://127.0.0.1:{port}/predict"
        return _wrk(proc, SINGLE, url, {"records": one}, {}, CONCURRENCY, seconds, 1)
    finally:
        _stop(proc)


# -- the report ----------------------------------------------------------------------------------


def table(results: dict[str, dict[str, Result]]) -> str:
    """One line per server and load: req/s, rows/s, p50, p99, the server's CPU per request."""
    lines = [
        f"{'server':<10} {'load':<20} {'req/s':>8} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu ms/req':>10}"
    ]
    for server, by_load in results.items():
        for load, r in by_load.items():
            lines.append(
                f"{server:<10} {load:<20} {r.rps:>8.0f} {r.rows_per_s:>10.0f} "
                f"{r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.cpu_ms:>10.3f}"
            )
    return "\n".join(lines)


def goals(results: dict[str, dict[str, Result]]) -> list[tuple[str, float, str, bool]]:
    """(what, measured, goal, met) for each goal of the serving issue."""
    ours, mlflow, bento = results["ours"], results["mlflow"], results["bentoml"]
    bare = results["bare"][SINGLE]
    one = ours[SINGLE]
    best = max(ours[RECORDS].rows_per_s, ours[COLUMNAR].rows_per_s)
    mlflow_batch = max(mlflow[RECORDS].rows_per_s, mlflow[COLUMNAR].rows_per_s)
    checks = [
        ("single req/s, ours / mlflow", one.rps / mlflow[SINGLE].rps, ">= 20x", 20),
        ("single req/s, ours / bare Litestar", one.rps / bare.rps, ">= 0.6x", 0.6),
        ("single p99 ms, ours", one.p99_ms, "<= 10 ms", None),
        ("batch rows/s, ours / mlflow (best form each)", best / mlflow_batch, ">= 10x", 10),
        ("single req/s, ours / BentoML", one.rps / bento[SINGLE].rps, "> 1x", 1),
        ("batch rows/s, ours / BentoML", best / bento[RECORDS].rows_per_s, "> 1x", 1),
        ("single p99, BentoML / ours", bento[SINGLE].p99_ms / one.p99_ms, "> 1x", 1),
    ]
    out = []
    for what, value, goal, floor in checks:
        met = value <= 10 if floor is None else (value > 1 if goal == "> 1x" else value >= floor)
        out.append((what, value, goal, met))
    return out


def cpu_ratios(results: dict[str, dict[str, Result]]) -> list[tuple[str, float]]:
    """The same comparisons by the servers' CPU time per request or row (peer / ours).

    Throughput ratios move with whatever else runs on the machine while each server is
    measured; CPU per request moves much less, so these say how far apart the servers are.
    """
    ours, mlflow, bento = results["ours"], results["mlflow"], results["bentoml"]

    def per_row(*rs: Result) -> float:
        return min(r.cpu_ms / r.rows for r in rs)

    one = ours[SINGLE].cpu_ms
    best = per_row(ours[RECORDS], ours[COLUMNAR])
    return [
        ("single, bare Litestar / ours (CPU per request)", results["bare"][SINGLE].cpu_ms / one),
        ("single, mlflow / ours", mlflow[SINGLE].cpu_ms / one),
        ("single, BentoML / ours", bento[SINGLE].cpu_ms / one),
        (
            "batch, mlflow / ours (CPU per row, best form)",
            per_row(mlflow[RECORDS], mlflow[COLUMNAR]) / best,
        ),
        ("batch, BentoML / ours", per_row(bento[RECORDS]) / best),
    ]


def breakdown(phases: dict[str, dict[str, dict]], results: dict[str, Result]) -> str:
    """Per scenario, each phase's p50 / p99 / mean (ms) and wrk's request p50 beside their sum."""
    lines = []
    for load, by_phase in phases.items():
        lines.append(f"{load}: wrk request p50 {results[load].p50_ms:.2f} ms")
        total = 0.0
        for phase, h in by_phase.items():
            if not h["count"]:
                continue
            p50 = quantile_ms(h, 0.5)
            total += p50
            lines.append(
                f"  {phase:<10} p50 {p50:7.3f}  p99 {quantile_ms(h, 0.99):7.3f}  "
                f"mean {1000 * h['sum'] / h['count']:7.3f} ms  ({h['count']:.0f} observed)"
            )
        rest = results[load].p50_ms - total
        lines.append(
            f"  sum of phase p50s {total:.3f} ms; the rest of the request p50 ({rest:.2f} ms) is "
            "the HTTP server, Litestar, the guards, response encoding and waiting for the loop"
        )
    return "\n".join(lines)


def _measure(ws: Workspace, one: list, batch: list, fields, seconds: int):
    results: dict[str, dict[str, Result]] = {}
    results["ours"], ours_pred, phases = _run_ours(ws, one, batch, seconds)
    naive_one, naive_batch = naive_utc(one, fields), naive_utc(batch, fields)
    results["mlflow"], mlflow_pred = _run_mlflow(ws, naive_one, naive_batch, seconds)
    results["bentoml"], bento_pred = _run_bentoml(ws, one, batch, seconds)
    results["bare"] = {SINGLE: _run_bare(one, seconds)}
    same = ours_pred == mlflow_pred == bento_pred
    return results, phases, same


def report(results, phases, same: bool, seconds: int) -> bool:
    """Print the table, the goals and (when one is missed) the breakdown; whether all is well."""
    print(f"\n{table(results)}\n")
    print(f"same prediction from every server for the probe record: {same}")
    every = [r for by_load in results.values() for r in by_load.values()]
    silent = [r.name for r in every if r.rps == 0]
    if silent:  # wrk counted no answer in the window (e.g. every request timed out)
        print(f"no answer within {seconds} s: {', '.join(silent)}; no ratio to print")
        return False
    checked = goals(results)
    for what, value, goal, met in checked:
        print(f"  {what:<46} {value:>8.2f}  goal {goal:<9} {'met' if met else 'MISSED'}")
    missed = [what for what, _, _, met in checked if not met]
    print(f"goals {'met' if not missed else 'NOT met'}")
    print("by the servers' CPU time (steadier when the machine is shared):")
    for what, value in cpu_ratios(results):
        print(f"  {what:<46} {value:>8.2f}x")
    if missed:
        print("\nwhere our time goes (workbench_request_phase_seconds, per load):")
        print(breakdown(phases, results["ours"]))
    return same and not any(r.errors for r in every)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per scenario")
    parser.add_argument("--runs", type=int, default=1, help="measure and report this many times")
    parser.add_argument("--workspace", type=Path, help="a trained workspace (default: build one)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `make system-deps`", file=sys.stderr)
        return 1
    tmp = None
    if args.workspace:
        ws = Workspace.open(args.workspace)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-serving-")
        ws = _workspace(Path(tmp.name) / "ws")
    ok = True
    try:
        fields = model_fields(ws)
        one, batch = _records(ws, fields, 1), _records(ws, fields, BATCH)
        for run in range(1, args.runs + 1):
            print(f"\n== run {run} of {args.runs}", flush=True)
            results, phases, same = _measure(ws, one, batch, fields, args.seconds)
            ok = report(results, phases, same, args.seconds) and ok
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
