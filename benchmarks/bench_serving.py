"""Serving: our `/predict` vs `mlflow models serve` on the same registered model, with a bare
Litestar endpoint as the floor. Same machine, same load generator (wrk), one worker each.

    .venv/bin/python benchmarks/bench_serving.py [--seconds 10] [--workspace DIR]

Without `--workspace` it builds a flights demo workspace in a temp folder and trains a LightGBM
champion (the whole model: value cleaning, feature engineering, imputation, scaling, one-hot
encoding, then the estimator). Both servers get the same raw records (the model's input fields,
JSON values, as `workbench simulate` sends them); a zoned timestamp would reach `mlflow models
serve` as naive UTC (its schema enforcement refuses ISO-8601 strings with a zone; the model reads
naive timestamps as UTC, so the predictions are the same), the demo's are naive already.
Each server runs alone while wrk loads it:

- single-record requests at concurrency 32 (req/s, p50, p99);
- 1,000-record batches at concurrency 4 (rows/s), ours both as `records` and as the columnar
  `columns` + `rows` payload.

Prints a table and the ratios against the goals: single-record throughput >= 20x mlflow's with
p99 <= 10 ms and >= half the bare floor; batch rows/s >= 10x mlflow's. Needs `wrk`
(`make system-deps` installs it). Exit 1 when a server fails or answers errors under load.
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
BIN = Path(sys.executable).parent
KEY = "bench-key"
CONCURRENCY, BATCH, BATCH_CONCURRENCY = 32, 1000, 4


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rows: int

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.rows


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


def _start(cmd: list[str], env: dict, ready_url: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[0]} exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"{' '.join(cmd)} did not become ready")


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


def _wrk(name: str, url: str, body: dict, headers: dict, conns: int, seconds: int, rows: int):
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines.append(f"wrk.body = [==[{json.dumps(body)}]==]")
    script.write_text("\n".join(lines) + "\n")
    try:
        threads = min(2, conns)
        warm = ["wrk", "-t1", f"-c{min(conns, 4)}", "-d2s", "-s", str(script), url]
        subprocess.run(warm, capture_output=True, check=True)
        cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "-s"]
        out = subprocess.run(
            [*cmd, str(script), url], capture_output=True, text=True, check=True
        ).stdout
    finally:
        script.unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    result = Result(name, rps, p50, p99, errors, rows)
    print(
        f"  {name:<34} {rps:>9.0f} req/s {result.rows_per_s:>11.0f} rows/s "
        f"p50 {p50:>7.2f} ms  p99 {p99:>8.2f} ms  errors {errors}",
        flush=True,
    )
    return result


def _run_ours(ws: Workspace, one: list, batch: list, seconds: int) -> list[Result]:
    port = _free_port()
    env = dict(os.environ, WORKBENCH_HOME=str(ws.root), WORKBENCH_API_KEYS=KEY)
    proc = _start(
        [str(BIN / "workbench"), "serve", "--port", str(port)],
        env,
        f"http://127.0.0.1:{port}/ready",
    )
    url, headers = f"http://127.0.0.1:{port}/predict", {"X-API-Key": KEY}
    try:
        path = httpx.get(f"http://127.0.0.1:{port}/model").json()["prediction_path"]
        print(f"ours (workbench serve, prediction path: {path}):", flush=True)
        check = httpx.post(url, json={"records": one}, headers=headers, timeout=30)
        assert check.status_code == 200, check.text
        columns = list(batch[0])
        columnar = {"columns": columns, "rows": [[r[c] for c in columns] for r in batch]}
        return [
            _wrk("single record, c=32", url, {"records": one}, headers, CONCURRENCY, seconds, 1),
            _wrk(
                "1000-record batch (records), c=4",
                url,
                {"records": batch},
                headers,
                BATCH_CONCURRENCY,
                seconds,
                BATCH,
            ),
            _wrk(
                "1000-record batch (columnar), c=4",
                url,
                columnar,
                headers,
                BATCH_CONCURRENCY,
                seconds,
                BATCH,
            ),
        ], check.json()["predictions"]
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
        return [
            _wrk("single record, c=32", url, {"dataframe_records": one}, {}, 32, seconds, 1),
            _wrk(
                "1000-record batch, c=4",
                url,
                {"dataframe_records": batch},
                {},
                BATCH_CONCURRENCY,
                seconds,
                BATCH,
            ),
        ], check.json()["predictions"]
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
        return _wrk("single record, c=32", url, {"records": one}, {}, 32, seconds, 1)
    finally:
        _stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per scenario")
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
    try:
        fields = model_fields(ws)
        one, batch = _records(ws, fields, 1), _records(ws, fields, BATCH)
        (o_one, o_rec, o_col), ours_pred = _run_ours(ws, one, batch, args.seconds)
        (m_one, m_batch), mlflow_pred = _run_mlflow(
            ws, naive_utc(one, fields), naive_utc(batch, fields), args.seconds
        )
        bare = _run_bare(one, args.seconds)
    finally:
        if tmp is not None:
            tmp.cleanup()
    same = ours_pred == mlflow_pred
    print(f"\nsame prediction from both servers for the probe record: {same}")
    silent = [r.name for r in (o_one, o_rec, o_col, m_one, m_batch, bare) if r.rps == 0]
    if silent:  # wrk counted no answer in the window (e.g. every request timed out)
        print(f"no answer within {args.seconds} s: {', '.join(silent)}; no ratio to print")
        return 1
    single = o_one.rps / m_one.rps
    floor = o_one.rps / bare.rps
    batch_ratio = max(o_rec.rows_per_s, o_col.rows_per_s) / m_batch.rows_per_s
    print(f"single record: ours / mlflow = {single:.1f}x (goal >= 20x)")
    print(f"single record: ours p99 = {o_one.p99_ms:.2f} ms (goal <= 10 ms)")
    print(f"single record: ours / bare Litestar = {floor:.2f} (goal >= 0.5)")
    print(
        f"1000-record batches: ours / mlflow = {o_rec.rows_per_s / m_batch.rows_per_s:.1f}x "
        f"(records), {o_col.rows_per_s / m_batch.rows_per_s:.1f}x (columnar) (goal >= 10x)"
    )
    met = single >= 20 and o_one.p99_ms <= 10 and floor >= 0.5 and batch_ratio >= 10
    print(f"goals {'met' if met else 'NOT met'}")
    failed = any(r.errors for r in (o_one, o_rec, o_col, m_one, m_batch, bare)) or not same
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
