# MLOps workbench. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
WORKSPACE ?= workspace
export WORKBENCH_HOME ?= $(abspath $(WORKSPACE))

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(BIN)/workbench: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 'setuptools>=68' wheel  # the packaging test builds a wheel without isolation
	$(BIN)/pip install -q -e '.[all]'
	touch $(BIN)/workbench

install: $(BIN)/workbench ## Create .venv with everything (idempotent)

system-deps: ## Install what a fresh Debian machine lacks for the tests (chromium, git, postgresql, wrk, redis-server, docker.io, debootstrap, prometheus, prometheus-alertmanager, haproxy, binutils: ld links compiled trees)
	@missing=""; \
	command -v git >/dev/null || missing="$$missing git"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing="$$missing postgresql"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	test -x /usr/sbin/haproxy || missing="$$missing haproxy"; \
	test -x /usr/sbin/dockerd || command -v dockerd >/dev/null || missing="$$missing docker.io"; \
	test -x /usr/sbin/debootstrap || missing="$$missing debootstrap"; \
	command -v ld >/dev/null || missing="$$missing binutils"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	  case "$$missing" in *prometheus*) for unit in prometheus prometheus-alertmanager prometheus-node-exporter; do \
	    $$SUDO systemctl disable --now $$unit 2>/dev/null || $$SUDO service $$unit stop 2>/dev/null || true; done;; esac; \
	  case "$$missing" in *haproxy*) $$SUDO systemctl disable --now haproxy 2>/dev/null || $$SUDO service haproxy stop 2>/dev/null || true;; esac; \
	fi

up: install ## Seed the demo workspace if absent, run the data pipeline, start API + UI
	$(BIN)/workbench up --workspace $(WORKBENCH_HOME)

down: ## Stop what `make up` started (API, scheduler, UI, a first training)
	$(BIN)/workbench down --workspace $(WORKBENCH_HOME)

test: install system-deps ## Run the whole test suite (unit, integration, UI, browser)
	$(BIN)/python -m pytest

lint: install ## ruff check + format check + bandit (high severity fails)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/bandit -q -c pyproject.toml -r core api app scheduler --severity-level high

format: install ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install system-deps ## Benchmarks: ours vs the peer, side by side, with ratios
	$(BIN)/python benchmarks/bench_validation.py
	$(BIN)/python benchmarks/bench_experiments_page.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_serving.py
	$(BIN)/python benchmarks/bench_compiled.py
	$(BIN)/python benchmarks/bench_drift.py
	$(BIN)/python benchmarks/bench_retrain_policy.py
	$(BIN)/python benchmarks/bench_prediction_log.py

ui: install ## Start the Streamlit UI on $(WORKBENCH_HOME)
	$(BIN)/workbench ui --workspace $(WORKBENCH_HOME)

data: install ## Run the data pipeline once on $(WORKBENCH_HOME)
	$(BIN)/workbench data run --workspace $(WORKBENCH_HOME)

api: install ## Start the prediction API on $(WORKBENCH_HOME) (port 8000)
	$(BIN)/workbench serve --workspace $(WORKBENCH_HOME)

scheduler: install ## Start the scheduler on $(WORKBENCH_HOME) (data 02:00, training 04:00, hourly drift)
	$(BIN)/workbench scheduler --workspace $(WORKBENCH_HOME)

# Docker: a private engine where no Docker service runs, a local base image where no registry
# answers, the images, and the compose stack (.env from docker/compose.env.example).
DOCKER_SOCK := $(if $(DOCKER_HOST)$(wildcard /var/run/docker.sock),,unix:///run/workbench-docker/docker.sock)
COMPOSE := $(if $(DOCKER_SOCK),DOCKER_HOST=$(DOCKER_SOCK)) $(BIN)/docker-compose

docker-engine: install system-deps ## Start a private dockerd when no Docker engine answers (root)
	$(BIN)/workbench deploy engine

docker-base: install ## Build the local base image workbench-base:bookworm (debootstrap) unless it exists
	$(BIN)/workbench deploy base-image

docker-images: install ## Build the api, workbench, mlflow, haproxy, prometheus and alertmanager images (BASE_IMAGE=workbench-base:bookworm offline)
	for role in api workbench mlflow haproxy prometheus alertmanager; do \
	  $(BIN)/workbench deploy build --role $$role $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) -q || exit 1; \
	done

compose-up: install ## Start the compose stack (docker-compose.yml; needs .env)
	$(COMPOSE) up -d --wait

compose-down: install ## Stop the compose stack (volumes kept)
	$(COMPOSE) down

clean: ## Remove caches (keeps .venv and the workspace)
	rm -rf .pytest_cache .ruff_cache build *.egg-info

.PHONY: help install system-deps up down test lint format bench ui data api scheduler clean \
	docker-engine docker-base docker-images compose-up compose-down
