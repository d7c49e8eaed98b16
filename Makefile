# oneapi — everything needs only python3 (>= 3.11): the first target run creates .venv and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export ONEAPI_HOME ?= data

.PHONY: run test test-fast bench zipapp lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("oneapi needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the server on SQLite (data in ./data) with the first-boot root account (root / 123456)
run: $(STAMP)
	mkdir -p $(ONEAPI_HOME)
	$(BIN)/oneapi serve

## test: the whole suite; MariaDB/PostgreSQL/Redis cases skip unless ONEAPI_TEST_*_DSN/URL are set
test: $(STAMP)
	$(BIN)/python -m pytest -q

## test-fast: everything but the slow (subprocess, packaging) tests
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m 'not slow'

## bench: load and streaming benchmarks (bench/)
bench: $(STAMP)
	$(BIN)/python -m bench

## zipapp: build dist/oneapi.pyz
zipapp: $(STAMP)
	PYTHON=$(BIN)/python ./build_zipapp.sh

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/python -m ruff check oneapi tests
	$(BIN)/python -m mypy oneapi

clean:
	rm -rf $(VENV) dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache
