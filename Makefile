# tinyfleet — the two commands a new user needs are `make demo` and `make test`.
# Both run `make setup` first (Debian packages when missing, .venv with pinned packages).

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Where the MLPerf Tiny reference models live (a setting: override on the command line).
TINYFLEET_MLPERF_DIR ?= $(abspath $(CURDIR)/../shared/models/mlperf_tiny)
export TINYFLEET_MLPERF_DIR
DEMO_DURATION ?=
PYTEST_ARGS ?=

.PHONY: setup check test test-fast test-c test-py lint typecheck bench demo lock clean

setup:
	@bash scripts/setup.sh

## check: the static gates (ruff, ruff format, mypy, import-linter); `make test` runs it first.
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy -p tinyfleet
	$(VENV)/bin/lint-imports

## test: the whole suite (checks, C host tests + fuzzing, then Python, HIL on the emulated board, browser).
test: setup
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory test-c
	@$(MAKE) --no-print-directory test-py

## test-fast: the inner loop: checks and the Python tests not marked slow, qemu, browser or postgres.
test-fast: setup
	@$(MAKE) --no-print-directory check
	$(PY) -m pytest -q -m "not slow and not qemu and not browser and not postgres" $(PYTEST_ARGS)

test-c:
	@if [ -f firmware/Makefile ]; then $(MAKE) --no-print-directory -C firmware host-test; fi

test-py:
	$(PY) -m pytest $(PYTEST_ARGS)

lint: check

bench: setup
	$(PY) -m bench

demo: setup
	$(PY) -m tinyfleet.demo $(if $(DEMO_DURATION),--duration $(DEMO_DURATION),)

## lock: re-resolve requirements/base.in into requirements/lock.txt (needs the package index).
lock:
	rm -rf /tmp/tinyfleet-lock-venv && python3 -m venv /tmp/tinyfleet-lock-venv
	/tmp/tinyfleet-lock-venv/bin/pip install -q -r requirements/base.in
	/tmp/tinyfleet-lock-venv/bin/pip freeze --exclude-editable > requirements/lock.txt

clean:
	rm -rf runs .cache test-results firmware/build
