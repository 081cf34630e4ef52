# The way in. `make demo` sets everything up and shows a backup end to end;
# `make test` runs the test suite (CI calls it through .ci/run).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test lint demo clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check .

demo: venv
	$(PY) -m immich_standin.demo

clean:
	rm -rf $(VENV) demo .pytest_cache .ruff_cache
