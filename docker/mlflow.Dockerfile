# The MLflow tracking server of the scale path: PostgreSQL backend store, artifacts proxied
# (`--serve-artifacts`) to a local volume or an S3-compatible store. Same MLflow version as the
# workbench (pyproject.toml), plus the PostgreSQL driver and boto3.
#
#   workbench deploy build --role mlflow
#   docker build -f docker/mlflow.Dockerfile -t workbench-mlflow .
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS requirements
WORKDIR /build
COPY pyproject.toml docker/requirements.py ./
RUN python3 requirements.py mlflow pyproject.toml > requirements.txt

FROM ${BASE_IMAGE} AS deps
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_TRUSTED_HOST=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_INDEX_URL=${PIP_INDEX_URL} \
    PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} \
    PIP_TRUSTED_HOST=${PIP_TRUSTED_HOST}
RUN python3 -m venv /opt/venv
COPY --from=requirements /build/requirements.txt /build/requirements.txt
COPY docker/wheelhouse/ /wheelhouse/
RUN if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install --no-index --find-links /wheelhouse \
        -c /wheelhouse/constraints.txt -r /build/requirements.txt; \
    else \
      /opt/venv/bin/pip install -r /build/requirements.txt; \
    fi

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="workbench-mlflow" \
      org.opencontainers.image.description="MLflow tracking server with an artifact proxy" \
      workbench.role="mlflow"
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/mlflow \
      --shell /usr/sbin/nologin mlflow \
    && mkdir /mlartifacts \
    && chown mlflow:mlflow /mlartifacts
COPY --from=deps /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    MLFLOW_BACKEND_STORE_URI=sqlite:////mlartifacts/mlflow.db \
    MLFLOW_ARTIFACTS_DESTINATION=/mlartifacts \
    MLFLOW_SERVER_ALLOWED_HOSTS="mlflow,mlflow:*,localhost,localhost:*,127.0.0.1,127.0.0.1:*"
USER 10001:10001
WORKDIR /home/mlflow
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
# Shell form on purpose: the stores come from the environment (compose sets them); MLflow reads
# MLFLOW_SERVER_ALLOWED_HOSTS (Host headers it accepts) itself.
# hadolint ignore=DL3025
CMD exec mlflow server --host 0.0.0.0 --port 5000 --workers "${MLFLOW_WORKERS:-2}" \
    --backend-store-uri "${MLFLOW_BACKEND_STORE_URI}" \
    --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION}" --serve-artifacts
