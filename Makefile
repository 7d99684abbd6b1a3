# Two commands: `make run` (the course, headless) and `make test` (every test).
# Both set up .venv first when needed; `make setup` is idempotent and fast once done.
# `make test-compat` runs the unit tests again on the lower bounds of pyproject.toml.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
COMPAT_VENV := .venv-compat
COMPAT_BIN := $(COMPAT_VENV)/bin
COMPAT_STAMP := $(COMPAT_VENV)/.setup-stamp
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: setup setup-compat run test test-compat lab bench lint clean

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

# Unit and property tests of mtl_utils, nbval of every notebook and a papermill run, one test
# file (or notebook) at a time on each of TEST_WORKERS processes (pytest-xdist; `auto`: one
# per core). TEST_WORKERS=0 runs them in one process, in order.
TEST_WORKERS ?= auto
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(TEST_ARGS)

# The oldest versions pyproject.toml allows (requirements-compat.txt) in .venv-compat.
setup-compat: $(COMPAT_STAMP)

$(COMPAT_STAMP): requirements-compat.txt pyproject.toml
	@echo "Setting up $(COMPAT_VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	@test -x $(COMPAT_BIN)/python || $(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_BIN)/python -m pip install --quiet --upgrade pip
	$(COMPAT_BIN)/python -m pip install --quiet -r requirements-compat.txt
	$(COMPAT_BIN)/python -m pip install --quiet --no-deps -e .
	$(COMPAT_BIN)/python -m pip check
	@touch $(COMPAT_STAMP)
	@echo "Setup done: $(COMPAT_VENV)"

# The unit and property tests (no notebooks, no papermill) on the lower bounds. Tests marked
# `processes` (kills, concurrent writers, process pools, the course runner) are skipped there:
# each starts Python processes that import TensorFlow, and they test our process handling,
# which calls no library API that the in-process tests do not call too.
test-compat: setup-compat
	@$(COMPAT_BIN)/python -c "import sys, tensorflow as tf, keras, numpy, pandas; \
	print('lower bounds: Python', sys.version.split()[0], '| TensorFlow', tf.__version__, \
	      '| Keras', keras.__version__, '| numpy', numpy.__version__, '| pandas', pandas.__version__)"
	$(COMPAT_BIN)/python -m pytest tests --ignore=tests/test_papermill.py \
		-n $(TEST_WORKERS) --dist loadfile -m "not processes" \
		-o addopts="-ra --durations=10" $(COMPAT_TEST_ARGS)

lab: setup
	$(BIN)/jupyter lab notebooks/

bench: setup
	$(BIN)/python benchmarks/host_probe.py
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/augment_throughput.py
	$(BIN)/python benchmarks/train_overhead.py
	$(BIN)/python benchmarks/grid_parallel.py
	$(BIN)/python benchmarks/text_eda_throughput.py
	$(BIN)/python benchmarks/dense_throughput.py

lint: setup
	$(BIN)/ruff check mtl_utils tests benchmarks solutions

clean:
	rm -rf $(VENV) $(COMPAT_VENV) runs .pytest_cache
