# Two entry points: `make demo` runs the main job on a throwaway PostgreSQL,
# `make test` runs every test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test pytest lint changelog molecule sanity benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m devtools.demo

# pytest (real PostgreSQL, ansible-playbook, HTTP), static checks, the
# changelog, the molecule scenario of the bootstrap role, ansible-test sanity.
test: pytest lint changelog molecule sanity

pytest: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy plugins/module_utils bus_shim devtools

changelog: $(STAMP)
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

molecule: $(STAMP)
	devtools/molecule.sh test --all

sanity: $(STAMP)
	$(BIN)/python -m devtools.sanity

benchmark: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .cache tests/output .bus-shim-state
