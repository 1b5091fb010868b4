# Two commands do everything on a fresh machine:
#   make demo   create .venv, install, audit the embedded demo case
#   make test   create .venv, install with the test extras, run the whole test suite
# and one more checks the lower bounds of pyproject.toml:
#   make test-oldest   create .venv-oldest with the oldest versions pyproject.toml allows
#                      (pandas 2.1 on numpy 1.x, ...) and run the test suite there
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo

# The oldest release line of each dependency that pyproject.toml allows; pandas 2.1 needs
# numpy 1.x, and typer 0.12 predates click 8.2. Keep in step with the lower bounds there.
OLDEST     := .venv-oldest
OLDEST_BIN := $(OLDEST)/bin
OLDEST_PINS := "numpy>=1.26,<2" "scipy==1.11.*" "pandas==2.1.*" "shapely==2.1.*" \
	"pyproj==3.6.*" "geopandas==1.0.*" "pyogrio==0.7.*" "networkx==3.2.*" "osmnx==2.0.*" \
	"osmium==4.0.*" "folium==0.17.*" "pyyaml==6.0.*" "typer==0.12.*" "click<8.2" \
	"rich==13.*" "dask[distributed]==2024.1.*" "matplotlib==3.8.*" "pillow==9.*" \
	"python-docx==1.1.*" "pytest==8.0.*" "hypothesis==6.100.*"

.PHONY: demo test test-oldest lint bench install install-test clean

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

$(OLDEST)/.installed: pyproject.toml Makefile
	rm -rf $(OLDEST)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST_BIN)/python -m pip install --quiet --upgrade pip
	$(OLDEST_BIN)/pip install --quiet -e . $(OLDEST_PINS)
	touch $@

# The whole suite but the browser tests (no Chromium driver in this minimal environment);
# the notebook tests skip themselves without nbformat.
test-oldest: $(OLDEST)/.installed
	$(OLDEST_BIN)/python -c "import numpy, pandas; print('oldest: pandas', pandas.__version__, 'numpy', numpy.__version__)"
	$(OLDEST_BIN)/python -m pytest -m "not browser" -p no:cacheprovider

lint: install-test
	$(BIN)/ruff check coverage tests scripts
	$(BIN)/ruff format --check coverage tests scripts
	$(BIN)/mypy

bench: install-test
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python scripts/bench.py --json out/bench.json

clean:
	rm -rf $(VENV) $(OLDEST) out .pytest_cache .mypy_cache .ruff_cache
