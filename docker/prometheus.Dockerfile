# The Prometheus of docker-compose.yml: Debian's prometheus 2.42 (with promtool) on the local
# base, with the scrape config, the alerting rules and their unit tests baked in.
#
#   workbench deploy build --role prometheus
#   docker build -f docker/prometheus.Dockerfile -t workbench-prometheus .
#
# The build fails when the config or a rule does not load (`promtool check config`) or a rule
# unit test fails (`promtool test rules`).
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="workbench-prometheus" \
      org.opencontainers.image.description="MLOps workbench Prometheus with its alerting rules" \
      workbench.role="prometheus"
# Not pinned (DL3008: the base image tag pins the release). policy-rc.d keeps the package from
# starting a service during the build. moment-timezone's per-zone data (~210 MB) is not what the
# web UI loads (its bundled *-with-data*.js are kept). The fixed non-root user of the other
# images runs it.
# hadolint ignore=DL3008
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d \
    && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d /etc/prometheus/* \
      /usr/share/javascript/moment-timezone/data \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin \
      workbench \
    && mkdir -p /prometheus \
    && chown workbench:workbench /prometheus
COPY docker/prometheus/ /etc/prometheus/
RUN promtool check config /etc/prometheus/prometheus.yml \
    && promtool test rules /etc/prometheus/tests/*.yml
USER 10001:10001
WORKDIR /prometheus
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/-/ready', timeout=4)"]
ENTRYPOINT ["prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", \
     "--web.listen-address=0.0.0.0:9090"]
