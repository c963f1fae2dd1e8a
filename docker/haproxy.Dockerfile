# The entry point of the prediction API: Debian's HAProxy 2.6 balancing the API containers.
#
#   workbench deploy build --role haproxy
#   docker build -f docker/haproxy.Dockerfile -t workbench-haproxy .
#
# docker/haproxy/haproxy.cfg holds the frontends (:8000 the API, :8404 the Prometheus exporter
# and the stats page) and the runtime API socket; the backend comes from a second file:
# replicas.cfg (the default: compose's `api` service, every replica found by Docker's DNS) or
# colors.cfg (a blue/green deployment of `workbench deploy rollout`, which drives the servers
# through the runtime API with `socat`).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="workbench-haproxy" \
      org.opencontainers.image.description="MLOps workbench entry point (HAProxy)" \
      workbench.role="haproxy"
# Not pinned (DL3008: the base image tag pins the release). policy-rc.d keeps the package from
# starting a service during the build. The fixed non-root user of the other images runs it.
# hadolint ignore=DL3008
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
    && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends haproxy socat \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin \
      workbench \
    && mkdir -p /run/haproxy /var/lib/haproxy \
    && chown workbench:workbench /run/haproxy /var/lib/haproxy
COPY docker/haproxy/ /etc/haproxy/
RUN haproxy -c -f /etc/haproxy/haproxy.cfg -f /etc/haproxy/replicas.cfg \
    && DEPLOYMENT=check haproxy -c -f /etc/haproxy/haproxy.cfg -f /etc/haproxy/colors.cfg
USER 10001:10001
WORKDIR /var/lib/haproxy
EXPOSE 8000 8404
# SIGUSR1: a soft stop, connections in progress finish (up to hard-stop-after).
STOPSIGNAL SIGUSR1
# Healthy = at least one API server is UP behind it (monitor-uri on the stats port).
HEALTHCHECK --interval=5s --timeout=4s --start-period=30s --retries=3 \
  CMD ["sh", "-c", "printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' | socat -t 3 - TCP:127.0.0.1:8404 | grep -q ' 200 '"]
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg", "-f", "/etc/haproxy/replicas.cfg"]
