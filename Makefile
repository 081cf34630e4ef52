# The way in. `make demo` sets everything up and shows a backup end to end;
# `make test` runs the test suite (CI calls it through .ci/run).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Every runtime and dev dependency, the build backend and pip, pinned with hashes for
# Linux and macOS alike (`make lock` writes it from pyproject.toml).
LOCK   := requirements.lock

.PHONY: venv test lint demo clean lock lock-upgrade test-latest screenshots

venv: $(STAMP)

# Exactly the locked files (pip refuses any whose hash differs), then the project itself,
# built by the locked setuptools. A changed lock reinstalls. A reused venv keeps what else
# was put in it by hand: lockdiff lists that (`make clean` starts afresh).
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) tools/lockdiff.py $(LOCK)
	touch $(STAMP)

test: venv
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check .

demo: venv
	$(PY) -m immich_standin.demo

# The dashboard's screenshots in docs/screenshots/ (docs/dashboard.md), made by the
# browser test against a real daemon and the stand-in (needs chromium, chromedriver).
screenshots: venv
	IMMICH_BACKUPD_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q -p no:cacheprovider \
		tests/e2e/test_dashboard_screens.py

clean:
	rm -rf $(VENV) $(LATEST) demo .pytest_cache .ruff_cache

# Regenerate the lock from pyproject.toml with a pinned uv in a throwaway tool venv.
# `make lock` keeps every pin that still fits the ranges; `make lock-upgrade` takes the
# newest release of everything (run `make test-latest` first to see what that brings).
TOOLS := .venv-tools
UV    := $(TOOLS)/bin/uv
LOCK_FLAGS ?=
lock: $(UV)
	$(UV) pip compile pyproject.toml tools/lock-build.in --extra dev --universal \
		--python-version 3.11 --generate-hashes --custom-compile-command 'make lock' \
		--quiet $(LOCK_FLAGS) -o $(LOCK)

lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

$(UV): tools/uv-requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes --no-deps \
		-r tools/uv-requirements.txt
	touch $(UV)

# Drift, seen before users see it: the suite in a throwaway venv with the newest release
# of every dependency that pyproject.toml's ranges allow (what `pipx install .` would get
# today), then the versions that differ from the lock. TESTS= runs a part of the suite.
LATEST := .venv-latest
TESTS  ?=
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip setuptools
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev]'
	status=0; \
	$(LATEST)/bin/python -m ruff check . || status=$$?; \
	$(LATEST)/bin/python -m pytest -q -p no:cacheprovider $(TESTS) || status=$$?; \
	$(LATEST)/bin/python tools/lockdiff.py $(LOCK); \
	exit $$status

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
