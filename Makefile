# Two commands on a fresh machine (Python 3.11+ and make): `make run` and `make test`.
# Everything else is per project: run-01, test-01, cov-01, migrate-01, ...

SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
export LITELLM_LOCAL_MODEL_COST_MAP ?= True
export UV_PYTHON_DOWNLOADS ?= never

# The main job: the most advanced project in the repo.
MAIN := 05

PROJECT_01 := projects/01_chat_api_with_db
PACKAGE_01 := chat-api-with-db
MODULE_01 := chat_api_with_db

PROJECT_02 := projects/02_multi_provider_chat
PACKAGE_02 := multi-provider-chat
MODULE_02 := multi_provider_chat

PROJECT_03 := projects/03_secure_chat_api
PACKAGE_03 := secure-chat-api
MODULE_03 := secure_chat_api

PROJECT_04 := projects/04_agentic_rag
PACKAGE_04 := agentic-rag
MODULE_04 := agentic_rag

PROJECT_05 := projects/05_production_deployment
PACKAGE_05 := production-deployment
MODULE_05 := production_deployment

PYTEST := $(UV) run --frozen pytest

.PHONY: help install run test tools test-integration services lint format bench bench-gateway \
        bench-auth check-topic \
        run-01 test-01 cov-01 migrate-01 run-02 test-02 cov-02 migrate-02 \
        run-03 test-03 cov-03 migrate-03 run-04 test-04 cov-04 migrate-04 \
        run-05 test-05 cov-05 migrate-05 worker-05 tests-01 tests-02 tests-03 tests-04 tests-05 load

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.installed: uv.lock pyproject.toml shared/pyproject.toml $(wildcard projects/*/pyproject.toml) | $(UV)
	$(UV) sync --locked --all-packages
	@touch $@

install: .venv/.installed ## Install uv (if missing) and the locked dependencies

run: run-$(MAIN) ## Serve the main project on 127.0.0.1:8000 with embedded defaults

test: install tools ## Run every test (integration tests too when GENAI_INTEGRATION=1)
	$(PYTEST)

tools: ## Install nginx and promtool (project 05's deployment tests run them) if missing
	@bash scripts/ensure_tools.sh || [ "$${CI:-}" != "true" ]

test-integration: install services ## Every test, against the real PostgreSQL and Redis
	GENAI_INTEGRATION=1 $(PYTEST)

services: ## Start the local PostgreSQL and Redis if they are down
	bash scripts/ensure_services.sh

lint: install ## ruff (lint and format) and mypy
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy shared/src $(wildcard projects/*/src)

format: install ## Format the code with ruff
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

bench: bench-gateway bench-auth bench-rag bench-hot-path ## Every benchmark, each against its targets

bench-gateway: install ## Gateway overhead: direct vs through project 02 (loopback, bounded)
	$(UV) run --frozen python benchmarks/gateway_overhead.py $(BENCH_ARGS)

bench-auth: install ## Project 03 rejects SQL-injection credentials as fast as junk ones
	$(UV) run --frozen python benchmarks/auth_rejection.py $(BENCH_AUTH_ARGS)

.PHONY: bench-rag bench-hot-path
bench-hot-path: install services ## Project 05's metered gateway vs project 03's (PostgreSQL, Redis), RSS over 20k streams
	$(UV) run --frozen python benchmarks/hot_path.py --memory-calls 20000 $(BENCH_HOT_ARGS)

bench-rag: install ## Project 04 search p50/p99 on 10k chunks per store and mode, API vs direct
	$(UV) run --frozen python benchmarks/rag_bench.py $(BENCH_RAG_ARGS)

.PHONY: eval-rag
eval-rag: install ## Project 04 retrieval quality per mode (recall@5, nDCG@10); EVAL_ARGS="--slice 24"
	$(UV) run --frozen python $(PROJECT_04)/eval/evaluate.py $(EVAL_ARGS)

check-topic: install ## One topic's code and checks; yours: make check-topic T=12 SOLUTION=my.py [EX=2]
	@test -n "$(T)" || { echo "usage: make check-topic T=03 [SOLUTION=path/to/solution.py [EX=2]]"; exit 2; }
	@if [ -z "$(SOLUTION)" ]; then \
		$(PYTEST) tests/concepts -k "topic$(T)"; \
	elif [ -f "$(SOLUTION)" ]; then \
		CONCEPTS_SOLUTION="$(abspath $(SOLUTION))" CONCEPTS_EXERCISE="$(EX)" \
			$(PYTEST) tests/concepts/test_learner.py -k "topic$(T)" -v -p no:cacheprovider; \
	else \
		echo "SOLUTION=$(SOLUTION): no such file"; exit 2; \
	fi

# What a project's tests check: each test module, then its tests, the parameter sets of one
# test folded into a count (pytest --collect-only, nothing is run).
LIST_TESTS_AWK := -F'::' '/^ERROR/ { print > "/dev/stderr"; next } !/::/ { next } { \
	file = $$1; sub(/^.*\/tests\//, "", file); \
	name = substr($$0, length($$1) + 3); sub(/\[.*\]$$/, "", name); \
	key = file "::" name; \
	if (!(key in cases)) { order[++n] = key; files[key] = file; names[key] = name } \
	cases[key]++; total++ \
} END { \
	for (i = 1; i <= n; i++) { \
		key = order[i]; \
		if (files[key] != last) { print files[key]; last = files[key] } \
		printf "    %s%s\n", names[key], (cases[key] > 1 ? "  (" cases[key] " cases)" : "") \
	} \
	printf "%d tests, %d cases with their parameters (both backends where they apply)\n", n, total \
}'
list_tests = set -o pipefail; $(PYTEST) --collect-only -q -p no:cacheprovider $(1) | awk $(LIST_TESTS_AWK)

# --- project 01 --------------------------------------------------------------------------

migrate-01: install ## Apply project 01's migrations (DATABASE_URL, default SQLite)
	$(UV) run --frozen alembic -c $(PROJECT_01)/alembic.ini upgrade head

run-01: migrate-01 ## Serve project 01
	$(UV) run --frozen --package $(PACKAGE_01) $(PACKAGE_01)

test-01: install ## Test project 01 alone
	$(PYTEST) $(PROJECT_01)

cov-01: install ## Project 01 tests with line coverage (fails under 85%)
	$(PYTEST) $(PROJECT_01) --cov=$(MODULE_01) --cov-report=term-missing --cov-fail-under=85

tests-01: install ## List what project 01's tests check, module by module (runs nothing)
	@$(call list_tests,$(PROJECT_01))

# --- project 02 --------------------------------------------------------------------------

migrate-02: install ## Apply project 02's migrations (DATABASE_URL, default SQLite)
	$(UV) run --frozen alembic -c $(PROJECT_02)/alembic.ini upgrade head

run-02: migrate-02 ## Serve project 02 (mock provider unless provider keys are set)
	$(UV) run --frozen --package $(PACKAGE_02) $(PACKAGE_02)

test-02: install ## Test project 02 alone
	$(PYTEST) $(PROJECT_02)

cov-02: install ## Project 02 tests with line coverage (fails under 85%)
	$(PYTEST) $(PROJECT_02) --cov=$(MODULE_02) --cov-report=term-missing --cov-fail-under=85

tests-02: install ## List what project 02's tests check, module by module (runs nothing)
	@$(call list_tests,$(PROJECT_02))

# --- project 03 --------------------------------------------------------------------------

migrate-03: install ## Apply project 03's migrations (DATABASE_URL, default SQLite)
	$(UV) run --frozen alembic -c $(PROJECT_03)/alembic.ini upgrade head

run-03: migrate-03 ## Serve project 03
	$(UV) run --frozen --package $(PACKAGE_03) $(PACKAGE_03)

test-03: install ## Test project 03 alone
	$(PYTEST) $(PROJECT_03)

cov-03: install ## Project 03 tests with line coverage (fails under 85%)
	$(PYTEST) $(PROJECT_03) --cov=$(MODULE_03) --cov-report=term-missing --cov-fail-under=85

tests-03: install ## List what project 03's tests check, module by module (runs nothing)
	@$(call list_tests,$(PROJECT_03))

# --- project 04 --------------------------------------------------------------------------

migrate-04: install ## Apply project 04's migrations (DATABASE_URL, default SQLite)
	$(UV) run --frozen alembic -c $(PROJECT_04)/alembic.ini upgrade head

run-04: migrate-04 ## Serve project 04 (ingestion runs in-process without REDIS_URL)
	$(UV) run --frozen --package $(PACKAGE_04) $(PACKAGE_04)

worker-04: migrate-04 ## Project 04's ingestion worker (needs REDIS_URL, and QDRANT_URL or pgvector)
	$(UV) run --frozen --package $(PACKAGE_04) agentic-rag-worker

test-04: install ## Test project 04 alone
	$(PYTEST) $(PROJECT_04)

cov-04: install ## Project 04 tests with line coverage (fails under 85%)
	$(PYTEST) $(PROJECT_04) --cov=$(MODULE_04) --cov-report=term-missing --cov-fail-under=85

tests-04: install ## List what project 04's tests check, module by module (runs nothing)
	@$(call list_tests,$(PROJECT_04))

# --- project 05 --------------------------------------------------------------------------

migrate-05: install ## Apply project 05's migrations (DATABASE_URL, default SQLite)
	$(UV) run --frozen alembic -c $(PROJECT_05)/alembic.ini upgrade head

run-05: migrate-05 ## Serve project 05 under gunicorn (WEB_CONCURRENCY workers, default 1 on embedded stores)
	$(UV) run --frozen --package $(PACKAGE_05) $(PACKAGE_05)

worker-05: migrate-05 ## Project 05's ingestion worker (needs REDIS_URL, and QDRANT_URL or pgvector)
	$(UV) run --frozen --package $(PACKAGE_05) production-deployment-worker

test-05: install ## Test project 05 alone
	$(PYTEST) $(PROJECT_05)

cov-05: install ## Project 05 tests with line coverage (fails under 85%)
	$(PYTEST) $(PROJECT_05) --cov=$(MODULE_05) --cov-report=term-missing --cov-fail-under=85

tests-05: install ## List what project 05's tests check, module by module (runs nothing)
	@$(call list_tests,$(PROJECT_05))

load: install ## Locust on project 05, 20 users for 60 s: p50/p95/p99 and errors; LOAD_ARGS="--host URL --users 50"
	$(UV) run --frozen python $(PROJECT_05)/load/run_load.py $(LOAD_ARGS)
