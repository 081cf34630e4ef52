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

# Benchmarks (issue #5): figures and ratios against a bare walk, a bare upload and the
# official @immich/cli, written to bench/results/latest.json. See docs/performance.md.
.PHONY: bench bench-full
bench: venv
	bash bench/setup_cli.sh
	$(PY) -m bench --no-cli-setup

bench-full: venv
	bash bench/setup_cli.sh
	$(PY) -m bench --no-cli-setup --full

# Reliability soak (issue #4): long fault, outage, kill -9, disk-full, re-learn and
# 100,000-file runs, bounded by SOAK_MINUTES (default 20). Figures in docs/reliability.md.
SOAK_MINUTES ?= 20
.PHONY: soak
soak: venv
	$(PY) -m tests.reliability.soak --minutes $(SOAK_MINUTES) --out soak-results.json
