# LeadApp: `make run` serves, `make test` runs every test. See README.md.
HOST ?= 127.0.0.1
PORT ?= 8000
THREADS ?= 4
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HOST PORT

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/flask --app leadapp db upgrade
	$(BIN)/python -m leadapp.server --host $(HOST) --port $(PORT) --threads $(THREADS)

test: $(VENV)/.test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

$(VENV)/.bench: requirements.txt requirements-test.txt requirements-bench.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@ $(VENV)/.test $(VENV)/.runtime

# Not part of `make test`: about 8 minutes, see docs/benchmark.md. BENCH_ARGS=--help lists options.
bench: $(VENV)/.bench
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
