# The README's two commands: `make run` and `make test`. Nothing else is needed on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out
export GX_ANALYTICS_ENABLED := false

.PHONY: run test install clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

# Reinstall when setup.py changes; the stamp file records the last install.
$(VENV)/.installed: setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/news-ingest run --seeds seeds --output $(OUT)

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile tests

clean:
	rm -rf $(OUT) build *.egg-info .pytest_cache

# `make bench`: benchmark harness (benchmarks/bench.py); results in benchmarks/results/.
# More options: make bench BENCH_ARGS="--scaling 1000 10000 100000"
BENCH_ARGS ?=

$(VENV)/.installed-bench: setup.py $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks.bench $(BENCH_ARGS)
