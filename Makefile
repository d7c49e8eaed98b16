# oneapi — everything needs only python3 (>= 3.11): the first target run creates .venv and installs into it.
# `make run` installs only what the server needs; `make test` (and lint, zipapp) add the development tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed
DEV := $(VENV)/.installed-dev
export ONEAPI_HOME ?= data

.PHONY: run tui test test-fast bench zipapp lint clean

$(RUNTIME): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("oneapi needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(RUNTIME)

$(DEV): $(RUNTIME) pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(DEV)

## run: start the server on SQLite (data in ./data) with the first-boot root account (root / 123456)
run: $(RUNTIME)
	mkdir -p $(ONEAPI_HOME)
	$(BIN)/oneapi serve

## tui: the terminal UI on the server `make run` started (run it in a second terminal)
tui: $(RUNTIME)
	$(BIN)/oneapi tui

## test: the whole suite; MariaDB/PostgreSQL/Redis cases skip unless ONEAPI_TEST_*_DSN/URL are set
test: $(DEV)
	$(BIN)/python -m pytest -q

## test-fast: everything but the slow (subprocess, packaging) tests
test-fast: $(DEV)
	$(BIN)/python -m pytest -q -m 'not slow'

## bench: throughput, latency and issue 16's goals against a bare pass-through, then the slow-stream and soak
##   benchmarks at full size (long); BENCH_QUICK=1 for a quick look (bench/__main__.py lists the knobs)
bench: $(RUNTIME)
	$(BIN)/python -m bench

## zipapp: build dist/oneapi.pyz (one file for CPython 3.11-3.13 on Linux x86_64)
zipapp: $(DEV)
	PYTHON=$(BIN)/python ./build_zipapp.sh

## lint: ruff, mypy and the import contracts of pyproject.toml ([tool.importlinter])
lint: $(DEV)
	$(BIN)/python -m ruff check oneapi tests
	$(BIN)/python -m mypy oneapi
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache
