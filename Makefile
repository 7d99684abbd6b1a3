# Two commands: `make run` (the course, headless) and `make test` (every test).
# Both set up .venv first when needed; `make setup` is idempotent and fast once done.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: setup run test lab bench lint clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@echo "Setting up $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mtl-augment)" >/dev/null
	@touch $(STAMP)
	@echo "Setup done: $(VENV)"

# Every numbered notebook, in order, through papermill into runs/<timestamp>/, then summary.md.
run: setup
	$(BIN)/python -m mtl_utils.course run $(RUN_ARGS)

# Unit and property tests of mtl_utils, then nbval of every notebook and a papermill run.
test: setup
	$(BIN)/python -m pytest $(TEST_ARGS)

lab: setup
	$(BIN)/jupyter lab notebooks/

bench: setup
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/augment_throughput.py
	$(BIN)/python benchmarks/train_overhead.py
	$(BIN)/python benchmarks/grid_parallel.py
	$(BIN)/python benchmarks/text_eda_throughput.py

lint: setup
	$(BIN)/ruff check mtl_utils tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
