# `make run` and `make test` each create (or reuse) .venv from pyproject.toml first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test test-redis test-redis-cluster venv clean
.PHONY: bench screenshots

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/task-sandbox serve $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite again with every app on the Redis store (the cross-process tests ran in `make test`).
test-redis: $(STAMP)
	$(BIN)/python -m pytest --store redis --ignore tests/store/test_redis_store.py --ignore tests/store/test_cluster_store.py $(PYTEST_ARGS)

# The suite again with every app on a three-master Redis Cluster of its own (tests/redis_cluster.py).
test-redis-cluster: $(STAMP)
	$(BIN)/python -m pytest --store redis+cluster --ignore tests/store/test_redis_store.py --ignore tests/store/test_cluster_store.py $(PYTEST_ARGS)

# `make bench` (BENCH_ARGS="--quick" or "--no-prism"): wrk load, start-up and memory figures; see bench/README.md.
bench: $(STAMP)
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

# The README's screenshots, made by the dashboard's browser tests (Debian's chromium needed).
screenshots: $(STAMP)
	TASK_SANDBOX_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/dashboard/test_dashboard.py tests/dashboard/test_task_view.py tests/dashboard/test_timeline_page.py -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build dist *.egg-info
