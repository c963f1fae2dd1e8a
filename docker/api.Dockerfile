# The prediction API image: `workbench serve` (Litestar on uvicorn) with the `api` extra only,
# so neither streamlit nor evidently is inside. The entry point in front of it is HAProxy
# (docker/haproxy.Dockerfile).
#
#   workbench deploy build                                # wheels from this machine's pip setup
#   docker build -f docker/api.Dockerfile -t workbench-api .   # plain build, from the index
#
# Build context: the repository root (.dockerignore keeps it small).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---- requirements: the list only, from pyproject.toml --------------------------------------------
# Its output is copied by checksum, so the dependency layer below is rebuilt only when the
# `api` requirements change, not on every pyproject.toml edit.
FROM ${BASE_IMAGE} AS requirements
WORKDIR /build
COPY pyproject.toml docker/requirements.py ./
RUN python3 requirements.py api pyproject.toml > requirements.txt

# ---- deps: a virtualenv with the dependencies only (the layer that takes minutes) --------------
FROM ${BASE_IMAGE} AS deps
# Package index settings for this stage only (a mirror or a private index); the final image
# copies the virtualenv and never sees them, nor the wheelhouse.
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
# docker/wheelhouse/: wheels + constraints.txt prepared on the host by `workbench deploy build`
# (pinned to the versions the tests ran with); only a README in a plain checkout, and then pip
# resolves from the index.
COPY docker/wheelhouse/ /wheelhouse/
RUN if ls /wheelhouse/*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install --no-index --find-links /wheelhouse \
        -c /wheelhouse/constraints.txt -r /build/requirements.txt; \
    else \
      /opt/venv/bin/pip install -r /build/requirements.txt; \
    fi

# ---- package: the workbench itself, installed into the venv's layout under /pkg (rebuilt on
# every source change, in seconds; the runtime copies it over the slim venv)
FROM deps AS package
COPY pyproject.toml README.md /src/
COPY core /src/core
COPY api /src/api
COPY app /src/app
COPY scheduler /src/scheduler
RUN /opt/venv/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist /src \
    && /opt/venv/bin/pip install --no-deps --no-index --root /pkg /dist/*.whl

# ---- slim: the virtualenv as served (built from `deps` only, so it stays cached too) -----------
# docker/slim_venv.py drops what serving never reads (pip, unused distributions, test suites,
# pyarrow's Flight and remote file systems, debug symbols, duplicate files; every shared object
# must still load) and keeps the modules the API imports as bytecode only.
FROM deps AS slim
# binutils: `strip`; libgomp1, libpq5: LightGBM and psycopg load them (as below). Only the venv
# leaves this stage.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils libgomp1 libpq5 \
    && rm -rf /var/lib/apt/lists/*
COPY docker/slim_venv.py /build/slim_venv.py
RUN /opt/venv/bin/python3 /build/slim_venv.py

# ---- root: the base system as served, flattened below into one layer --------------------------
# A later layer cannot shrink an earlier one, so what serving never reads is removed here and
# only the result is copied: Debian's pip, setuptools, venv, distutils and lib2to3 (the venv is
# built in `deps`), message translations (LANG=C.UTF-8), documentation, and glibc's iconv
# modules for legacy character sets (`gconv`: nothing here calls iconv(3); Python decodes with
# its own codecs). dpkg excludes these paths from later installs too.
# libgomp1: LightGBM's OpenMP runtime; libpq5: PostgreSQL's client library, which psycopg loads
# for a prediction log on PostgreSQL (docker/requirements.py leaves psycopg-binary's own copy
# out). Not pinned (DL3008): Debian replaces exact versions with security updates; the base
# image tag pins the release. A fixed non-root user; /workspace belongs to it so a named volume
# mounted there is writable.
FROM ${BASE_IMAGE} AS root
# hadolint ignore=DL3008
RUN printf 'path-exclude=%s\n' '/usr/share/locale/*' '/usr/share/doc/*' '/usr/share/man/*' \
      '/usr/share/info/*' '/usr/lib/*/gconv/*' > /etc/dpkg/dpkg.cfg.d/workbench-slim \
    && apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libpq5 \
    && apt-get purge -y python3-pip python3-setuptools python3-wheel python3-pkg-resources \
      python3-venv python3.11-venv python3-pip-whl python3-setuptools-whl python3-distutils \
      python3-lib2to3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
      /var/lib/dpkg/*-old /var/log/* /usr/share/locale/* /usr/share/doc/* /usr/share/man/* \
      /usr/share/info/* /usr/lib/*/gconv \
    && useradd --system --uid 10001 --user-group --create-home --home-dir /home/workbench \
      --shell /usr/sbin/nologin workbench \
    && mkdir /workspace \
    && chown workbench:workbench /workspace

# ---- runtime ---------------------------------------------------------------------------------
FROM scratch
# DL3067: copying the whole root is the point, the files `root` deleted leave no lower layer.
# hadolint ignore=DL3067
COPY --from=root / /
LABEL org.opencontainers.image.title="workbench-api" \
      org.opencontainers.image.description="MLOps workbench prediction API" \
      workbench.role="api"
# Dependencies and package in separate layers: a source change leaves the large one cached.
COPY --from=slim /opt/venv /opt/venv
COPY --from=package /pkg/opt/venv /opt/venv
ENV LANG=C.UTF-8 \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WORKBENCH_HOME=/workspace
USER 10001:10001
WORKDIR /home/workbench
EXPOSE 8000
# Healthy = ready to predict (a champion is loaded), not merely listening.
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4)"]
CMD ["workbench", "serve", "--host", "0.0.0.0", "--port", "8000"]
