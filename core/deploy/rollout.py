"""Blue/green rollouts of the prediction API on one Docker engine, through HAProxy.

A deployment `NAME` is a user network `wb-NAME`, an entry container `wb-NAME-entry` (HAProxy,
`docker/haproxy.Dockerfile` with the blue/green backend `docker/haproxy/colors.cfg`, published
on `127.0.0.1:PORT`) and at most two API containers, `wb-NAME-api-blue` and `wb-NAME-api-green`,
reachable only on the network. HAProxy's backend has one server per colour, found by name
through Docker's DNS and checked on `/ready`; the live colour is the enabled one.

Rollout: start the idle colour from the new image and wait until Docker reports it healthy;
smoke-test it on its own address (`core.deploy.smoke`: `/ready`, holdout predictions equal to
the registered model's, p99 latency within the gate), so a failure leaves the old colour
serving alone; then, through HAProxy's runtime API (`docker exec` + `socat` on the admin
socket): enable the new colour's server, wait until HAProxy reports it UP, set the old one to
DRAIN (no new request; those in progress finish), wait until it holds no session, put it in
maintenance, save the servers' state (a restarted entry loads it) and stop the old container
(SIGTERM: uvicorn finishes, the prediction log is flushed). The old container is kept,
stopped: `rollback` starts it and walks back the same way. A request HAProxy could not deliver
(a refused connection, a connection closed without an answer) is retried on another server.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import tempfile
import time
from pathlib import Path

from core.deploy.engine import DeployError, connect
from core.deploy.spec import (
    API_PORT,
    BACKEND,
    COLORS,
    ENTRY_COMMAND,
    ENTRY_IMAGE,
    ENTRY_SOCKET,
    ENTRY_STATE,
    HEALTHCHECK,
    LABEL_COLOR,
    LABEL_DEPLOYMENT,
    LABEL_KIND,
    ApiSpec,
    Step,
    Switch,
)

__all__ = ["ApiSpec", "Deployment", "Switch"]

ENABLED = ("UP", "DOWN", "NOLB", "no check")
"""HAProxy server statuses of an enabled server (neither in maintenance nor draining)."""


class Deployment:
    """The containers of one deployment on an engine (see the module docstring)."""

    def __init__(
        self,
        name: str = "workbench",
        port: int = API_PORT,
        host: str = "127.0.0.1",
        client=None,
        entry_image: str = ENTRY_IMAGE,
    ) -> None:
        self.name, self.port, self.host = name, port, host
        self.client = client or connect()
        self.network = f"wb-{name}"
        self.entry_name = f"wb-{name}-entry"
        self.entry_image = entry_image

    @property
    def url(self) -> str:
        """Where clients reach the API: the entry's published address (else the one to come)."""
        entry = self._get(self.entry_name)
        bindings = (entry.attrs["HostConfig"].get("PortBindings") or {}) if entry else {}
        for binding in bindings.get(f"{API_PORT}/tcp") or []:
            return f"http://{binding.get('HostIp') or '0.0.0.0'}:{binding['HostPort']}"
        return f"http://{self.host}:{self.port}"

    def api_name(self, color: str) -> str:
        return f"wb-{self.name}-api-{color}"

    # --- reading ---------------------------------------------------------------------------------

    def _get(self, name: str):
        import docker

        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def apis(self) -> list:
        """The API containers of this deployment (running or not)."""
        labels = [f"{LABEL_DEPLOYMENT}={self.name}", f"{LABEL_KIND}=api"]
        return self.client.containers.list(all=True, filters={"label": labels})

    def entry_state(self) -> dict | None:
        """HAProxy's view, None when the entry is not running.

        `servers`: colour → `status` (UP, DOWN, DRAIN, MAINT...), `sessions` (current),
        `requests` (total), `responses_5xx`; `live`: the enabled colour; `responses_5xx`: 5xx
        answers clients got from the frontend (502/503/504 from HAProxy itself included);
        `retries`, `redispatches`: requests HAProxy delivered on a second try.
        """
        entry = self._get(self.entry_name)
        if entry is None or entry.status != "running":
            return None
        try:
            rows = self._stat(entry)
        except DeployError:
            return None
        servers = {
            r["svname"]: {
                "status": r["status"],
                "sessions": int(r["scur"] or 0),
                "requests": int(r["stot"] or 0),
                "responses_5xx": int(r["hrsp_5xx"] or 0),
            }
            for r in rows
            if r["pxname"] == BACKEND and r["svname"] in COLORS
        }
        backend = next((r for r in rows if r["pxname"] == BACKEND and r["svname"] == "BACKEND"), {})
        frontend = next(
            (r for r in rows if r["pxname"] == BACKEND and r["svname"] == "FRONTEND"), {}
        )
        enabled = [c for c in COLORS if servers.get(c, {}).get("status", "").startswith(ENABLED)]
        return {
            "servers": servers,
            "live": enabled[0] if len(enabled) == 1 else None,
            "responses_5xx": int(frontend.get("hrsp_5xx") or 0),
            "retries": int(backend.get("wretr") or 0),
            "redispatches": int(backend.get("wredis") or 0),
        }

    def live(self):
        """The API container HAProxy sends traffic to (None without a running entry)."""
        state = self.entry_state()
        if not state or not state["live"]:
            return None
        return self._get(self.api_name(state["live"]))

    def status(self) -> dict:
        """The entry and every API container: status, health, image, live / previous."""
        entry = self._get(self.entry_name)
        state = self.entry_state()
        live = self.api_name(state["live"]) if state and state["live"] else None
        rows = [self._row(c, live) for c in self.apis()]
        rows.sort(key=lambda r: (not r["live"], r["name"]))
        return {
            "name": self.name,
            "url": self.url,
            "entry": None if entry is None else self._row(entry, live) | {"state": state},
            "containers": rows,
        }

    @staticmethod
    def _row(container, live: str | None) -> dict:
        attrs = container.attrs
        state = attrs["State"]
        image = attrs["Config"]["Image"]
        return {
            "name": container.name,
            "kind": container.labels.get(LABEL_KIND),
            "color": container.labels.get(LABEL_COLOR, ""),
            "image": image,
            "status": state["Status"],
            "health": (state.get("Health") or {}).get("Status", ""),
            "started": state.get("StartedAt", "")[:19].replace("T", " "),
            "finished": ""
            if state["Status"] == "running"
            else state.get("FinishedAt", "")[:19].replace("T", " "),
            "live": container.name == live,
        }

    def logs(self, target: str = "live", tail: int = 100) -> str:
        """Recent log lines of `live`, `entry`, a colour or a container name."""
        if target == "live":
            container = self.live()
        elif target == "entry":
            container = self._get(self.entry_name)
        else:
            container = self._get(self.api_name(target) if target in COLORS else target)
        if container is None or container.labels.get(LABEL_DEPLOYMENT) != self.name:
            raise DeployError(f"no container {target!r} in deployment {self.name!r}")
        return container.logs(tail=tail, timestamps=True).decode(errors="replace")

    # --- changing --------------------------------------------------------------------------------

    def rollout(
        self,
        spec: ApiSpec,
        on_step: Step | None = None,
        timeout: float = 300,
        drain_timeout: float = 30,
        smoke=None,
    ) -> Switch:
        """Start `spec` as the idle colour, smoke-test it, move the traffic, stop the old colour.

        Args:
            spec: The new API container.
            on_step: Receives one line per step.
            timeout: Seconds the new container may take to become healthy (and UP).
            drain_timeout: Seconds the old colour may take to finish its sessions.
            smoke: A `core.deploy.smoke.SmokeTest` the new container must pass before it gets
                traffic (None: no smoke test).

        Raises:
            DeployError: The new container did not become healthy or failed the smoke test
                (`SmokeTestFailed`, naming the check; it is removed, the live one keeps
                serving), or the entry could not be started or switched.
        """
        say = on_step or (lambda _: None)
        started = time.monotonic()
        with self._lock():
            self._ensure_network()
            entry = self._ensure_entry(say)
            old = self.live()
            color = (
                COLORS[0]
                if old is None or old.labels.get(LABEL_COLOR) == COLORS[1]
                else (COLORS[1])
            )
            stale = self._get(self.api_name(color))
            if stale is not None:
                self._admin(entry, f"set server {BACKEND}/{color} state maint")
                say(f"removing {stale.name} (the container before the previous one)")
                stale.remove(force=True)
            say(f"starting {self.api_name(color)} from {spec.image}")
            new = self._start_api(spec, color)
            self._wait_healthy(new, timeout, say, remove_on_failure=True)
            report = None
            if smoke is not None:
                report = self._smoke(new, spec, smoke, old, say)
            try:
                self._move(entry, new, old, timeout, drain_timeout, say)
            except DeployError:
                self._admin(entry, f"set server {BACKEND}/{color} state maint", check=False)
                new.remove(force=True)  # the old one still has the traffic
                raise
        previous = None if old is None else old.name
        seconds = time.monotonic() - started
        smoke_dict = None if report is None else report.to_dict()
        return Switch(new.name, previous, spec.image, seconds, self.url, smoke_dict)

    def rollback(
        self, on_step: Step | None = None, timeout: float = 300, drain_timeout: float = 30
    ) -> Switch:
        """Start the previous (stopped) container again and move the traffic back to it.

        Raises:
            DeployError: Nothing to roll back to, or it did not become healthy (stopped again;
                the live one keeps serving).
        """
        say = on_step or (lambda _: None)
        started = time.monotonic()
        with self._lock():
            current = self.live()
            if current is None:
                raise DeployError(f"deployment {self.name!r} has no live API container")
            others = sorted(
                (c for c in self.apis() if c.name != current.name),
                key=lambda c: c.attrs["State"].get("FinishedAt", ""),
                reverse=True,
            )
            if not others:
                raise DeployError(
                    f"nothing to roll back to: {current.name} is the only API container"
                )
            previous = others[0]
            say(f"starting {previous.name} again ({previous.attrs['Config']['Image']})")
            previous.start()
            self._wait_healthy(previous, timeout, say, remove_on_failure=False)
            image = previous.attrs["Config"]["Image"]
            entry = self._ensure_entry(say)
            try:
                self._move(entry, previous, current, timeout, drain_timeout, say)
            except DeployError:
                color = previous.labels.get(LABEL_COLOR)
                self._admin(entry, f"set server {BACKEND}/{color} state maint", check=False)
                previous.stop(timeout=5)
                raise
        return Switch(previous.name, current.name, image, time.monotonic() - started, self.url)

    def remove(self) -> None:
        """Remove every container and the network of this deployment."""
        labels = [f"{LABEL_DEPLOYMENT}={self.name}"]
        for container in self.client.containers.list(all=True, filters={"label": labels}):
            container.remove(force=True)
        for network in self.client.networks.list(names=[self.network]):
            network.remove()

    # --- steps ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self):
        """One rollout or rollback at a time per deployment on this machine."""
        path = Path(tempfile.gettempdir()) / f"workbench-deploy-{self.name}.lock"
        with path.open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DeployError(
                    f"another rollout or rollback of {self.name!r} is running"
                ) from None
            yield

    def _labels(self, kind: str, color: str | None = None) -> dict[str, str]:
        labels = {LABEL_DEPLOYMENT: self.name, LABEL_KIND: kind}
        if color:
            labels[LABEL_COLOR] = color
        return labels

    def _ensure_network(self) -> None:
        if not self.client.networks.list(names=[self.network]):
            self.client.networks.create(
                self.network, driver="bridge", labels=self._labels("network")
            )

    def _ensure_entry(self, say: Step):
        """The running entry (HAProxy), started or created first when needed."""
        entry = self._get(self.entry_name)
        if entry is not None and (entry.attrs["Config"].get("Cmd") or [""])[0] != "haproxy":
            raise DeployError(
                f"{entry.name} is not an HAProxy entry point (made by an older workbench, whose "
                f"entry was `python3 -m api.entry`): remove the deployment with `workbench "
                f"deploy down --name {self.name}`, then roll out again"
            )
        if entry is not None and entry.status != "running":
            say(f"starting the stopped entry point {self.entry_name} again")
            entry.start()  # it keeps its port and loads the saved server state
        if entry is None:
            say(f"starting the entry point {self.entry_name} (HAProxy) on {self.url}")
            entry = self._run(
                self.entry_image,
                name=self.entry_name,
                command=ENTRY_COMMAND,
                environment={"DEPLOYMENT": self.name},
                ports={f"{API_PORT}/tcp": (self.host, self.port)},
                labels=self._labels("entry"),
                healthcheck=None,  # the image's: /healthz, 200 once a server is UP
                hint="`workbench deploy build --role haproxy`",
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                self._stat(entry)
                return entry
            except DeployError as exc:
                entry.reload()
                if entry.status != "running" or time.monotonic() > deadline:
                    tail = entry.logs(tail=15).decode(errors="replace").strip()
                    raise DeployError(
                        f"{entry.name} does not answer its runtime API ({exc}); "
                        f"its last lines:\n{tail}"
                    ) from None
                time.sleep(0.3)

    def _start_api(self, spec: ApiSpec, color: str):
        volumes = {}
        if spec.workspace is not None:
            volumes[str(spec.workspace)] = {"bind": str(spec.workspace), "mode": "rw"}
        return self._run(
            spec.image,
            name=self.api_name(color),
            environment=spec.container_env(),
            user=spec.run_as(),
            volumes=volumes,
            labels=self._labels("api", color),
            extra_hosts={"host.docker.internal": "host-gateway"},
        )

    def _run(self, image: str, hint: str = "`workbench deploy build`", **kwargs):
        import docker

        kwargs.setdefault("healthcheck", HEALTHCHECK)
        if kwargs["healthcheck"] is None:
            del kwargs["healthcheck"]
        try:
            return self.client.containers.run(
                image,
                detach=True,
                network=self.network,
                restart_policy={"Name": "unless-stopped"},
                init=True,
                **kwargs,
            )
        except docker.errors.ImageNotFound:
            raise DeployError(f"no image {image!r} on the engine: build it ({hint})") from None
        except docker.errors.APIError as exc:
            if stale := self._get(kwargs["name"]):
                stale.remove(force=True)
            raise DeployError(f"could not start {kwargs['name']}: {exc.explanation}") from None

    def _wait_healthy(self, container, timeout: float, say: Step, remove_on_failure: bool):
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            container.reload()
            state = container.attrs["State"]
            health = (state.get("Health") or {}).get("Status")
            if health == "healthy":
                say(f"{container.name} is healthy after {time.monotonic() - started:.1f} s")
                return
            if state["Status"] in ("exited", "dead") or health == "unhealthy":
                break
            time.sleep(0.5)
        tail = container.logs(tail=15).decode(errors="replace").strip()
        reason = f"{container.name} did not become healthy within {timeout:.0f} s"
        if state["Status"] != "running":
            reason = f"{container.name} exited with code {state.get('ExitCode')}"
        if remove_on_failure:
            container.remove(force=True)
        else:
            container.stop(timeout=5)
        raise DeployError(f"{reason}; the live container keeps serving. Its last lines:\n{tail}")

    def _address(self, container) -> str:
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        address = (networks.get(self.network) or {}).get("IPAddress")
        if not address:
            raise DeployError(f"{container.name} has no address on {self.network}")
        return address

    def _smoke(self, new, spec: ApiSpec, smoke, old, say: Step):
        from core.deploy.smoke import SmokeTestFailed

        url = f"http://{self._address(new)}:{API_PORT}"
        say(f"smoke-testing {new.name} at {url}")
        try:
            report = smoke.run(url, spec.container_env())
        except SmokeTestFailed as exc:
            new.remove(force=True)
            serving = f"{old.name} keeps serving" if old is not None else "nothing was serving"
            raise SmokeTestFailed(
                exc.check, f"{exc.detail}; {new.name} removed, {serving}"
            ) from None
        say(report.line())
        return report

    def _move(self, entry, new, old, timeout: float, drain: float, say: Step) -> None:
        """Enable `new` in HAProxy, wait until UP, drain and disable `old`, stop it."""
        color = new.labels[LABEL_COLOR]
        server = f"{BACKEND}/{color}"
        self._admin(entry, f"set server {server} addr {self._address(new)} port {API_PORT}")
        self._admin(entry, f"set server {server} state ready")
        self._wait_status(entry, color, timeout, say)
        if old is None:
            self._save_state(entry)
            return
        old_color = old.labels[LABEL_COLOR]
        self._admin(entry, f"set server {BACKEND}/{old_color} state drain")
        say(f"traffic moved to {new.name}; draining {old.name}")
        self._drain(entry, old_color, drain, say)
        self._admin(entry, f"set server {BACKEND}/{old_color} state maint")
        self._save_state(entry)
        old.stop(timeout=20)
        say(f"stopped {old.name} (kept for `workbench deploy rollback`)")

    def _wait_status(self, entry, color: str, timeout: float, say: Step) -> None:
        started = time.monotonic()
        status = "?"
        while time.monotonic() - started < min(timeout, 120):
            row = self._server(entry, color)
            status = row["status"]
            if status == "UP":
                say(f"HAProxy reports {color} UP after {time.monotonic() - started:.1f} s")
                return
            time.sleep(0.2)
        raise DeployError(
            f"HAProxy did not report {color} UP (last: {status}, check: {row['check_status']} "
            f"{row['check_desc']}); the live container keeps serving"
        )

    def _drain(self, entry, color: str, timeout: float, say: Step) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self._server(entry, color)
            if int(row["scur"] or 0) == 0 and int(row["qcur"] or 0) == 0:
                return
            time.sleep(0.1)
        say(f"{color} still held sessions after {timeout:.0f} s; stopping it gracefully")

    # --- HAProxy's runtime API -------------------------------------------------------------------

    @staticmethod
    def _socket(entry, command: str, redirect: str = "") -> tuple[int, str]:
        script = (
            f'echo "$HAPROXY_COMMAND" | socat -t 10 stdio UNIX-CONNECT:{ENTRY_SOCKET}{redirect}'
        )
        code, output = entry.exec_run(
            ["sh", "-c", script], environment={"HAPROXY_COMMAND": command}
        )
        return code, output.decode(errors="replace")

    def _admin(self, entry, command: str, check: bool = True) -> str:
        """Run one runtime API command; an answer other than an acknowledgement fails it."""
        code, text = self._socket(entry, command)
        text = text.strip()
        acknowledged = not text or text.startswith(("IP changed", "nothing changed", "no need"))
        if check and (code != 0 or not acknowledged):
            raise DeployError(f"HAProxy refused `{command}`: {text or f'exit code {code}'}")
        return text

    def _stat(self, entry, attempts: int = 5) -> list[dict]:
        """`show stat` as rows (frontends, backends, servers).

        An empty answer (seen on a loaded machine: the exec stream closed before HAProxy's
        answer came) is asked again, up to `attempts` times, before it fails the rollout.
        """
        for attempt in range(attempts):
            code, text = self._socket(entry, "show stat")
            if code == 0 and text.startswith("# "):
                return list(csv.DictReader(io.StringIO(text[2:])))
            if attempt < attempts - 1:
                time.sleep(0.5)
        raise DeployError(f"no answer on {ENTRY_SOCKET}: {text.strip()[:200] or code}")

    def _server(self, entry, color: str) -> dict:
        for row in self._stat(entry):
            if row["pxname"] == BACKEND and row["svname"] == color:
                return row
        raise DeployError(f"{entry.name} has no server {BACKEND}/{color}")

    def _save_state(self, entry) -> None:
        code, text = self._socket(entry, "show servers state", f" > {ENTRY_STATE}")
        if code != 0:
            raise DeployError(f"could not save HAProxy's server state: {text.strip()}")
