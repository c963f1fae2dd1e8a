# The workbench image: the Streamlit UI and the scheduler, one image with role commands
# (`ui` by default; compose runs `workbench scheduler` from it). It carries the `api`, `ui`,
# `monitoring` and `scheduler` extras, git for the data pipeline's DVC commits, and runs as a
# fixed non-root user.
#
#   workbench deploy build --role workbench
#   docker build -f docker/workbench.Dockerfile -t workbench .
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- requirements: the list only, from pyproject.toml (see api.Dockerfile) -----------------------
FROM ${BASE_IMAGE} AS requirements
WORKDIR /build
COPY pyproject.toml docker/requirements.py ./
RUN python3 requirements.py workbench pyproject.toml > requirements.txt

# ---- deps: a virtualenv with the dependencies only -------------------------------------------------
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

# ---- package: the workbench itself as a wheel, pages included (rebuilt on source changes) ------
FROM deps AS package
COPY pyproject.toml README.md /src/
COPY core /src/core
COPY api /src/api
COPY app /src/app
COPY scheduler /src/scheduler
COPY pages /src/pages
RUN /opt/venv/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist /src

# ---- runtime ---------------------------------------------------------------------------------
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="workbench" \
      org.opencontainers.image.description="MLOps workbench UI and scheduler" \
      workbench.role="workbench"
# git: the data pipeline versions data with git + DVC; libgomp1: LightGBM's OpenMP runtime;
# binutils: `ld` links a LightGBM version's compiled trees at registration (core.serving.compiled)
# (not pinned, DL3008: Debian replaces exact versions with security updates; the base image tag
# pins the release).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils git libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/workbench \
      --shell /usr/sbin/nologin workbench \
    && mkdir /workspace \
    && chown workbench:workbench /workspace
# Dependencies and package in separate layers: a source change leaves the large one cached. The
# pages ship in the wheel (the UI finds them beside the installed `app`); the Streamlit settings
# are the user's global ones, so they apply whatever the working directory.
COPY --from=deps /opt/venv /opt/venv
COPY --from=package /dist/ /tmp/dist/
RUN /opt/venv/bin/pip install --no-deps --no-index --no-cache-dir /tmp/dist/*.whl \
    && rm -rf /tmp/dist
COPY --chown=workbench:workbench .streamlit/config.toml /home/workbench/.streamlit/config.toml
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WORKBENCH_HOME=/workspace \
    GIT_AUTHOR_NAME=workbench GIT_AUTHOR_EMAIL=workbench@localhost \
    GIT_COMMITTER_NAME=workbench GIT_COMMITTER_EMAIL=workbench@localhost
USER 10001:10001
WORKDIR /home/workbench
EXPOSE 8501
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["workbench", "ui", "--host", "0.0.0.0", "--port", "8501"]
