# The README's two commands: `make run` and `make test`. Nothing else is needed on a fresh machine.
# Both install the exact versions in requirements.lock (see the README: "Dependencies and the lock file").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out
LOCK := requirements.lock
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadfile
export GX_ANALYTICS_ENABLED := false

.PHONY: run test test-fast test-latest lint install lock clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Everything (runtime, test, lint, bench) from the lock, then the project itself without resolving again.
$(VENV)/.installed: $(LOCK) pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/news-ingest run --seeds seeds --output $(OUT)

# pytest exits 5 when it collected no tests: make passes that on as a failure.
test: install
	$(PYTEST) tests

# Everything but the tests marked slow (subprocess runs, crash and streaming tests): a quick check while developing.
test-fast: install
	$(PYTEST) -m "not slow" tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Rewrite the lock from pyproject.toml's ranges (newest allowed versions); then run `make test`.
lock:
	uv pip compile pyproject.toml requirements-build.in --all-extras --universal --python-version 3.11 \
		--upgrade -o $(LOCK)

# Early warning for the next upstream release (not in CI): a throwaway venv with the newest versions
# pyproject.toml allows, the graph construction test and the end-to-end tests.
LATEST := .venv-latest
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST)/bin/python -m pip install --quiet --upgrade -e '.[test]'
	$(LATEST)/bin/python -m pip freeze --exclude-editable > $(LATEST)/versions.txt
	@echo "newest allowed versions that differ from the lock ($(LATEST)/versions.txt has them all):"
	@$(LATEST)/bin/python tools/lock_diff.py $(LOCK) $(LATEST)/versions.txt
	$(LATEST)/bin/python -m pytest -q -n 2 --dist loadfile tests/test_construction.py tests/test_end_to_end.py \
		tests/test_streaming.py tests/test_dask.py

clean:
	rm -rf $(OUT) build *.egg-info .pytest_cache

# `make bench`: benchmark harness (benchmarks/bench.py); results in benchmarks/results/.
# More options: make bench BENCH_ARGS="--scaling 1000 10000 100000"
BENCH_ARGS ?=

bench: install
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)
