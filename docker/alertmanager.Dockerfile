# The Alertmanager of docker-compose.yml: Debian's prometheus-alertmanager 0.25 on the local
# base, routing Prometheus's alerts to the workbench (docker/alertmanager/alertmanager.yml).
#
#   workbench deploy build --role alertmanager
#   docker build -f docker/alertmanager.Dockerfile -t workbench-alertmanager .
#
# The entrypoint writes WORKBENCH_ADMIN_KEY (the API's admin key, from the environment) to the
# file the webhook's `Authorization: Bearer` reads, readable by its user only.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="workbench-alertmanager" \
      org.opencontainers.image.description="MLOps workbench Alertmanager (webhook to the API)" \
      workbench.role="alertmanager"
# Not pinned (DL3008: the base image tag pins the release). policy-rc.d keeps the package from
# starting a service during the build. The fixed non-root user of the other images runs it.
# hadolint ignore=DL3008
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
    && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends prometheus-alertmanager \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /etc/prometheus/* \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin \
      workbench \
    && mkdir -p /alertmanager /run/alertmanager /etc/alertmanager \
    && chown workbench:workbench /alertmanager /run/alertmanager
COPY docker/alertmanager/alertmanager.yml /etc/alertmanager/alertmanager.yml
COPY docker/alertmanager/entrypoint.sh /usr/local/bin/alertmanager-entrypoint
RUN amtool check-config /etc/alertmanager/alertmanager.yml
USER 10001:10001
WORKDIR /alertmanager
EXPOSE 9093
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9093/-/ready', timeout=4)"]
ENTRYPOINT ["/usr/local/bin/alertmanager-entrypoint"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager", \
     "--web.listen-address=0.0.0.0:9093", "--cluster.listen-address="]
