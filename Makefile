# Two commands do everything on a fresh machine:
#   make demo   create .venv, install, audit the embedded demo case
#   make test   create .venv, install with the test extras, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

.PHONY: demo test lint bench install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/service-coverage demo --out $(OUT)
	@echo ""
	@echo "Report: $(abspath $(OUT))/report.html"
	@echo "Map:    $(abspath $(OUT))/map.html"
	@echo "GIS:    $(abspath $(OUT))/audit.gpkg (open in QGIS); tables: communities.csv, streets.csv"

test: install-test
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check coverage tests scripts
	$(BIN)/ruff format --check coverage tests scripts
	$(BIN)/mypy

bench: install-test
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python scripts/bench.py --json out/bench.json

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
