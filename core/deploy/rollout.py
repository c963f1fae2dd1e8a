"""Blue/green rollouts of the prediction API on one Docker engine.

A deployment `NAME` is a user network `wb-NAME`, an entry container `wb-NAME-entry` (the API
image running `api.entry`, a small reverse proxy, published on `127.0.0.1:PORT`) and at most two
API containers, `wb-NAME-api-blue` and `wb-NAME-api-green`, reachable only on the network.

Rollout: start the idle colour from the new image, wait until Docker reports it healthy (its
`/ready` answers: a model is loaded), switch the entry to it (the entry checks `/ready` itself
before switching), wait until the entry has no request in flight on the old colour, stop the old
one (SIGTERM: uvicorn finishes what it holds and the prediction log is flushed). The old
container is kept, stopped: `rollback` starts it, waits, switches back and stops the other.
Requests never see a gap: until the switch the old colour answers everything, after it the new
one, and each request finishes on the container it started on.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import tempfile
import time
from pathlib import Path

from core.deploy.engine import DeployError, connect
from core.deploy.spec import (
    API_PORT,
    COLORS,
    HEALTHCHECK,
    LABEL_COLOR,
    LABEL_DEPLOYMENT,
    LABEL_KIND,
    ApiSpec,
    Step,
    Switch,
)

__all__ = ["ApiSpec", "Deployment", "Switch"]


class Deployment:
    """The containers of one deployment on an engine (see the module docstring)."""

    def __init__(
        self, name: str = "workbench", port: int = API_PORT, host: str = "127.0.0.1", client=None
    ) -> None:
        self.name, self.port, self.host = name, port, host
        self.client = client or connect()
        self.network = f"wb-{name}"
        self.entry_name = f"wb-{name}-entry"

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
        """The entry's control status (upstream, in-flight counts), None when it is not running."""
        entry = self._get(self.entry_name)
        if entry is None or entry.status != "running":
            return None
        state = self._ctl(entry, "status")
        return state if state.get("ok") else None

    def live(self):
        """The API container the entry sends traffic to (None without a running entry)."""
        state = self.entry_state()
        if not state:
            return None
        host = state["upstream"].split("//", 1)[-1].split(":", 1)[0]
        return self._get(host)

    def status(self) -> dict:
        """The entry and every API container: status, health, image, live / previous."""
        entry = self._get(self.entry_name)
        state = self.entry_state()
        live = state["upstream"].split("//", 1)[-1].split(":", 1)[0] if state else None
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
    ) -> Switch:
        """Start `spec` as the idle colour, wait until healthy, switch, stop the old colour.

        Raises:
            DeployError: The new container did not become healthy (it is removed, the live
                one keeps serving) or the entry could not be started or switched.
        """
        say = on_step or (lambda _: None)
        started = time.monotonic()
        with self._lock():
            self._ensure_network()
            old = self.live()
            color = (
                COLORS[0]
                if old is None or old.labels.get(LABEL_COLOR) == COLORS[1]
                else (COLORS[1])
            )
            stale = self._get(self.api_name(color))
            if stale is not None:
                say(f"removing {stale.name} (the container before the previous one)")
                stale.remove(force=True)
            say(f"starting {self.api_name(color)} from {spec.image}")
            new = self._start_api(spec, color)
            self._wait_healthy(new, timeout, say, remove_on_failure=True)
            try:
                self._route_to(new, old, spec.image, timeout, drain_timeout, say)
            except DeployError:
                new.remove(force=True)  # never got traffic; the old one still has it
                raise
        previous = None if old is None else old.name
        return Switch(new.name, previous, spec.image, time.monotonic() - started, self.url)

    def rollback(
        self, on_step: Step | None = None, timeout: float = 300, drain_timeout: float = 30
    ) -> Switch:
        """Start the previous (stopped) container again and switch back to it.

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
            self._route_to(previous, current, image, timeout, drain_timeout, say)
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

    def _run(self, image: str, **kwargs):
        import docker

        try:
            return self.client.containers.run(
                image,
                detach=True,
                network=self.network,
                healthcheck=HEALTHCHECK,
                restart_policy={"Name": "unless-stopped"},
                init=True,
                **kwargs,
            )
        except docker.errors.ImageNotFound:
            raise DeployError(
                f"no image {image!r} on the engine: build it (`workbench deploy build`)"
            ) from None
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

    def _route_to(self, new, old, image: str, timeout: float, drain: float, say: Step) -> None:
        url = f"http://{new.name}:{API_PORT}"
        entry = self._get(self.entry_name)
        if entry is not None and entry.status != "running":
            say(f"starting the stopped entry point {self.entry_name} again")
            entry.start()  # it keeps its port; the switch below checks the new upstream
            self._wait_control(entry)
        if entry is None:
            say(f"starting the entry point {self.entry_name} on http://{self.host}:{self.port}")
            entry = self._run(
                image,
                name=self.entry_name,
                command=["python3", "-m", "api.entry", "serve", "--upstream", url],
                ports={f"{API_PORT}/tcp": (self.host, self.port)},
                labels=self._labels("entry"),
            )
            self._wait_healthy(entry, timeout, say, remove_on_failure=True)
        else:
            answer = self._ctl(entry, "switch", url)
            if not answer.get("ok"):
                raise DeployError(f"the entry refused to switch to {new.name}: {answer['error']}")
            say(f"traffic switched from {answer['previous']} to {url}")
        if old is not None:
            self._drain(entry, f"http://{old.name}:{API_PORT}", drain, say)
            old.stop(timeout=20)
            say(f"stopped {old.name} (kept for `workbench deploy rollback`)")

    def _wait_control(self, entry, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self._ctl(entry, "status").get("ok"):
            if time.monotonic() > deadline:
                raise DeployError(f"{entry.name} does not answer its control port")
            time.sleep(0.5)

    def _drain(self, entry, url: str, timeout: float, say: Step) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._ctl(entry, "status").get("inflight", {}).get(url):
                return
            time.sleep(0.2)
        say(f"{url} still had requests in flight after {timeout:.0f} s; stopping it gracefully")

    @staticmethod
    def _ctl(entry, op: str, url: str | None = None) -> dict:
        cmd = ["python3", "-m", "api.entry", "ctl", op] + ([url] if url else [])
        _, output = entry.exec_run(cmd)
        lines = output.decode(errors="replace").strip().splitlines()
        try:
            return json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            return {"ok": False, "error": "\n".join(lines[-5:]) or "no answer"}
