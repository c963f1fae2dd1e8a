"""Print the pip requirements of an image role, read from pyproject.toml (one source of truth).

Used by the Dockerfiles (a `requirements` stage copies only pyproject.toml and this script, so
the dependency layer is rebuilt only when the requirement list changes) and by
`workbench deploy build` (which prepares a wheelhouse for the same list). Standard library only.

    python3 docker/requirements.py api|workbench|mlflow [pyproject.toml]
"""

import re
import sys
import tomllib

ROLES = {
    # the prediction API: the base (mlflow-skinny) + `api`; no streamlit, evidently, DVC nor
    # MLflow server
    "api": ["api"],
    # the UI and the scheduler (one image); `api` brings the PostgreSQL driver of the log,
    # `data` DVC for the scheduled pipeline runs, `trees` lleaves to compile LightGBM versions
    # at registration (the API image loads the compiled library without it)
    "workbench": ["api", "ui", "data", "monitoring", "scheduler", "trees"],
}
SYSTEM_LIBPQ = {"api"}
"""Roles that use Debian's libpq5 (installed by their Dockerfile, 1.8 MB with the libraries it
links) through pure-Python psycopg instead of psycopg-binary's vendored copy (10.8 MB)."""
MLFLOW_SERVER = {"mlflow", "psycopg"}  # pyproject's own lines for these names
MLFLOW_EXTRA = ["boto3>=1.34"]  # the S3-compatible artifact store of the scale path


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def requirements(role: str, pyproject: dict) -> list[str]:
    """Build requirements, then the runtime requirements of `role`."""
    project = pyproject["project"]
    build = list(pyproject["build-system"]["requires"])  # the package is installed offline
    every = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    if role == "mlflow":
        return [r for r in every if _name(r) in MLFLOW_SERVER] + MLFLOW_EXTRA
    if role not in ROLES:
        raise SystemExit(f"unknown role {role!r}: api, workbench or mlflow")
    extras = [r for e in ROLES[role] for r in project["optional-dependencies"][e]]
    if role in SYSTEM_LIBPQ:
        extras = [re.sub(r"^psycopg\[binary\]", "psycopg", r) for r in extras]
    return build + project["dependencies"] + extras


if __name__ == "__main__":
    path = sys.argv[2] if len(sys.argv) > 2 else "pyproject.toml"
    with open(path, "rb") as f:
        print("\n".join(dict.fromkeys(requirements(sys.argv[1], tomllib.load(f)))))
