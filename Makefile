# Two entry points: `make demo` runs the main job on a throwaway PostgreSQL,
# `make test` runs every test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-python lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m devtools.demo

test: $(STAMP)
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory lint

test-python: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy plugins/module_utils bus_shim devtools

clean:
	rm -rf $(VENV) .cache tests/output
