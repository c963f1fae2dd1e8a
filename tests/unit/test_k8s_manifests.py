"""docker/k8s/: the Kubernetes manifests validate, run locked down, and agree with the code.

Offline: `kubernetes-validate` ships the API schemas; the routes, the environment variables and
the compose services they are checked against are read from this repository's files.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from core.config.schedules import SchedulesConfig

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docker" / "k8s"
KUBERNETES = "1.30.0"
"""The oldest Kubernetes the manifests are written for (validated with the strict schemas)."""
SECRET = "workbench-secrets"
CONFIG = "workbench-config"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")
IMAGES = {"api": "workbench-api", "mlflow": "workbench-mlflow"}
"""Image repository per component; the others (ui, scheduler, init) run `workbench`."""
COMPOSE_SERVICE = {"api": "api", "ui": "ui", "scheduler": "scheduler", "init": "init"}
SECRET_VARIABLES = {
    "WORKBENCH_ADMIN_KEY",
    "WORKBENCH_API_KEYS",
    "WORKBENCH_ADMIN_PASSWORD_HASH",
    "WORKBENCH_PREDICTION_LOG_URL",
    "WORKBENCH_SCHEDULER_URL",
    "WORKBENCH_REDIS_URL",
    "MLFLOW_BACKEND_STORE_URI",
}
"""Variables holding a password or key: only ever from the Secret, never a literal value."""
PLACEHOLDER = "CHANGE-ME"


def _yaml_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def _applied_files() -> list[Path]:
    """Every file some kustomization lists (followed through directory resources)."""
    files: list[Path] = []
    for kustomization in _kustomizations():
        for entry in yaml.safe_load(kustomization.read_text()).get("resources", []):
            target = (kustomization.parent / entry).resolve()
            if target.is_file():
                files.append(target)
    return sorted(set(files))


APPLIED = [(path, doc) for path in _applied_files() for doc in _docs(path)]
"""(file, object) of everything `kubectl apply -k` creates."""


def _objects(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in APPLIED if d["kind"] == kind}


def _pod_templates() -> dict[str, dict]:
    """Workload name -> its pod template."""
    return {
        d["metadata"]["name"]: d["spec"]["template"] for _, d in APPLIED if d["kind"] in WORKLOADS
    }


def _containers(template: dict) -> list[dict]:
    spec = template["spec"]
    return spec["containers"] + spec.get("initContainers", [])


def _env(template: dict) -> dict[str, dict]:
    return {e["name"]: e for c in _containers(template) for e in c.get("env", [])}


def _component(template: dict) -> str:
    return template["metadata"]["labels"]["app.kubernetes.io/component"]


def _source_text(*folders: str) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8") for f in folders for p in sorted((ROOT / f).rglob("*.py"))
    )


def _readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Kubernetes\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no '## Kubernetes' section"
    return match.group(1)


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_validates_against_the_strict_kubernetes_schemas(path):
    docs = _docs(path)
    assert docs, f"{path} holds no object"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {e.message}")


def test_the_strict_validation_rejects_a_misspelt_field_and_a_missing_one():
    deployment = _objects("Deployment")["api"]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(misspelt, KUBERNETES, strict=True)
    headless = copy.deepcopy(deployment)
    del headless["spec"]["selector"]
    with pytest.raises(kubernetes_validate.ValidationError, match="selector"):
        kubernetes_validate.validate(headless, KUBERNETES, strict=True)


def test_every_kustomization_lists_every_manifest_of_its_folder():
    assert _kustomizations(), "no kustomization.yaml under docker/k8s"
    for kustomization in _kustomizations():
        folder = kustomization.parent
        listed = yaml.safe_load(kustomization.read_text()).get("resources", [])
        files = {e for e in listed if (folder / e).is_file()}
        for entry in set(listed) - files:
            assert (folder / entry / "kustomization.yaml").is_file(), (
                f"{kustomization}: {entry} is neither a file nor a kustomization"
            )
        present = {
            p.name
            for p in folder.glob("*.yaml")
            if p.name != "kustomization.yaml" and not p.name.endswith(".example.yaml")
        }
        assert files == present, f"{kustomization}: lists {sorted(files)}, has {sorted(present)}"


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (its built-in kustomize) is not installed"
)
def test_the_example_overlay_builds_into_valid_namespaced_objects_with_registry_images():
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / "example")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert len(docs) == len(APPLIED)
    images = set()
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "workbench", doc["metadata"]["name"]
        if doc["kind"] in WORKLOADS:
            images |= {c["image"] for c in _containers(doc["spec"]["template"])}
    assert images == {
        f"registry.example.com/workbench/{repo}:0.1.0"
        for repo in ("workbench-api", "workbench", "workbench-mlflow")
    }


# ------------------------------------------------------------------------------- pods
def test_every_pod_runs_as_the_images_user_read_only_without_capabilities():
    assert set(_pod_templates()) == {"api", "mlflow", "ui", "scheduler", "init"}
    for name, template in _pod_templates().items():
        pod = template["spec"]["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] == 10001, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert template["spec"]["automountServiceAccountToken"] is False, name
        for container in _containers(template):
            sc = container["securityContext"]
            where = f"{name}/{container['name']}"
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where


def test_every_path_a_process_writes_is_a_mounted_volume():
    claims = set(_objects("PersistentVolumeClaim"))
    for name, template in _pod_templates().items():
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        for container in _containers(template):
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert set(mounts.values()) <= set(volumes), f"{name}: mounts an undefined volume"
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp is not an emptyDir"
            if container["image"].split(":")[0] == "workbench":  # DVC's site cache
                assert "emptyDir" in volumes[mounts["/var/tmp"]], f"{name}: /var/tmp"
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name


def test_every_component_runs_its_image():
    for name, template in _pod_templates().items():
        repo = template["spec"]["containers"][0]["image"].split(":")[0]
        assert repo == IMAGES.get(_component(template), "workbench"), name


def test_the_scheduler_is_one_replica_replaced_after_it_released_the_lease():
    scheduler = _objects("Deployment")["scheduler"]
    spec = scheduler["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["containers"][0]["command"] == ["workbench", "scheduler"]
    assert pod["terminationGracePeriodSeconds"] > SchedulesConfig().stop_grace_seconds
    assert "WORKBENCH_SCHEDULER_URL" in _env(spec["template"])  # the lease's database


# ------------------------------------------------------------------------------- probes
def _api_get_routes() -> set[str]:
    text = _source_text("api/routes")
    return set(re.findall(r'@get\(\s*"([^"]+)"', text))


def _probe(container: dict, kind: str) -> tuple[str, int]:
    probe = container[kind]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    return probe["path"], ports[probe["port"]]


def test_api_probes_hit_the_routes_the_api_serves():
    routes = _api_get_routes()
    assert {"/health", "/ready", "/metrics"} <= routes  # the parse found the routes
    api = _objects("Deployment")["api"]["spec"]["template"]["spec"]["containers"][0]
    assert _probe(api, "readinessProbe") == ("/ready", 8000)  # 503 until a champion loads
    assert _probe(api, "livenessProbe") == ("/health", 8000)
    assert _probe(api, "startupProbe")[0] in routes
    annotations = _objects("Deployment")["api"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] in routes


def test_ui_and_mlflow_probes_are_the_health_endpoints_their_images_check():
    ui = _objects("Deployment")["ui"]["spec"]["template"]["spec"]["containers"][0]
    workbench_image = (ROOT / "docker" / "workbench.Dockerfile").read_text()
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert _probe(ui, kind) == ("/_stcore/health", 8501)
    assert "127.0.0.1:8501/_stcore/health" in workbench_image
    assert ui["command"][:2] == ["workbench", "ui"] and "8501" in ui["command"]

    mlflow = _objects("Deployment")["mlflow"]["spec"]["template"]["spec"]["containers"][0]
    server = Path(importlib.util.find_spec("mlflow").origin).parent / "server" / "__init__.py"
    assert '_add_static_prefix("/health")' in server.read_text()
    assert "127.0.0.1:5000/health" in (ROOT / "docker" / "mlflow.Dockerfile").read_text()
    for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert _probe(mlflow, kind) == ("/health", 5000)


# ------------------------------------------------------------------------------- wiring
def test_the_autoscaler_scales_the_api_deployment_on_cpu_and_owns_its_replicas():
    hpa = _objects("HorizontalPodAutoscaler")["api"]
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    deployment = _objects("Deployment")[target["name"]]
    assert "replicas" not in deployment["spec"]  # an apply would reset the autoscaler's count
    assert hpa["spec"]["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"]  # utilisation is relative to it


def test_every_selector_matches_exactly_one_pod_template():
    templates = _pod_templates()
    selectors = (
        {f"Service/{n}": s["spec"]["selector"] for n, s in _objects("Service").items()}
        | {
            f"PodDisruptionBudget/{n}": p["spec"]["selector"]["matchLabels"]
            for n, p in _objects("PodDisruptionBudget").items()
        }
        | {
            f"NetworkPolicy/{n}": p["spec"]["podSelector"]["matchLabels"]
            for n, p in _objects("NetworkPolicy").items()
        }
    )
    assert selectors
    for what, selector in selectors.items():
        matched = [
            n for n, t in templates.items() if selector.items() <= t["metadata"]["labels"].items()
        ]
        assert len(matched) == 1, f"{what} selects {matched}"
    for name, service in _objects("Service").items():
        (template,) = [t for t in templates.values() if _component(t) == _component_of(service)]
        ports = {p["name"] for c in _containers(template) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, f"Service/{name}: {port['targetPort']}"


def _component_of(service: dict) -> str:
    return service["spec"]["selector"]["app.kubernetes.io/component"]


def test_the_ingress_routes_to_services_and_their_ports():
    services = _objects("Service")
    (ingress,) = _objects("Ingress").values()
    backends = [
        path["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert {b["name"] for b in backends} == {"api", "ui"}  # MLflow is not exposed
    (policy,) = _objects("NetworkPolicy").values()  # and only the workbench's pods reach it
    assert [p["port"] for p in policy["spec"]["ingress"][0]["ports"]] == [5000]
    for backend in backends:
        ports = {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
        assert backend["port"]["name"] in ports


def test_every_config_and_secret_reference_is_defined_or_documented():
    config = _objects("ConfigMap")[CONFIG]["data"]
    (example,) = [d for p in _yaml_files() for d in _docs(p) if d["kind"] == "Secret"]
    documented = set(example["stringData"])
    readme = _readme_section()
    used = set()
    for name, template in _pod_templates().items():
        for var, entry in _env(template).items():
            ref = entry.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                assert ref["configMapKeyRef"]["name"] == CONFIG, f"{name}: {var}"
                assert ref["configMapKeyRef"]["key"] in config, f"{name}: {var}"
            if "secretKeyRef" in ref:
                key = ref["secretKeyRef"]["key"]
                assert ref["secretKeyRef"]["name"] == SECRET == example["metadata"]["name"]
                assert key in documented, f"{name}: {var} reads undocumented key {key}"
                assert f"--from-literal={key}=" in readme, f"README does not create {key}"
                used.add(key)
    assert used == documented, f"documented but unused keys: {sorted(documented - used)}"


def test_secrets_come_only_from_the_secret_and_none_is_committed_with_a_value():
    for name, template in _pod_templates().items():
        for var, entry in _env(template).items():
            if var in SECRET_VARIABLES:
                assert "secretKeyRef" in entry.get("valueFrom", {}), f"{name}: {var}"
    assert not [d for _, d in APPLIED if d["kind"] == "Secret"], "a Secret would be applied"
    secrets = [d for p in _yaml_files() for d in _docs(p) if d["kind"] == "Secret"]
    assert secrets
    for secret in secrets:
        values = list(secret.get("stringData", {}).values()) + [
            base64.b64decode(v).decode() for v in secret.get("data", {}).values()
        ]
        for value in values:
            assert PLACEHOLDER in value, f"{secret['metadata']['name']}: not a placeholder"


# ------------------------------------------------------------------------------- environment
def _variables_read_outside_the_workbench() -> str:
    """Files where the non-WORKBENCH_ variables are read: the MLflow image, uvicorn."""
    uvicorn = Path(importlib.util.find_spec("uvicorn").origin).parent / "config.py"
    return (ROOT / "docker" / "mlflow.Dockerfile").read_text() + uvicorn.read_text()


def test_every_environment_variable_set_is_one_the_code_reads():
    code = _source_text("core", "api", "app", "scheduler")
    outside = _variables_read_outside_the_workbench()
    names = set(_objects("ConfigMap")[CONFIG]["data"])
    for template in _pod_templates().values():
        names |= set(_env(template))
    assert "WORKBENCH_HOME" in names and "MLFLOW_BACKEND_STORE_URI" in names
    for name in sorted(names):
        if name.startswith("WORKBENCH_"):
            assert re.search(rf"\b{name}\b", code), f"{name}: no workbench code reads it"
        else:
            assert re.search(rf"\b{name}\b", outside), f"{name}: neither MLflow nor uvicorn"


def test_workloads_set_the_same_workbench_variables_as_their_compose_services():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, template in _pod_templates().items():
        component = _component(template)
        if component not in COMPOSE_SERVICE:
            continue
        service = compose[COMPOSE_SERVICE[component]]
        expected = {v for v in service["environment"] if v.startswith("WORKBENCH_")}
        actual = {v for v in _env(template) if v.startswith("WORKBENCH_")}
        assert actual == expected, f"{name}: {sorted(actual ^ expected)}"
