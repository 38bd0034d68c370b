# Every target bootstraps its own virtual environment, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Two stamps, one per install: `make install` (what the bot needs to run) and the dev tools on top
# (ruff, mypy, pytest). Both install the project in editable mode, so neither undoes the other.
RUNTIME := $(VENV)/.installed-runtime
DEV     := $(VENV)/.installed-dev

.PHONY: install run doctor test check lint typecheck demo bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV)

install: $(RUNTIME)  ## the bot and its runtime dependencies only, in .venv (what a server needs)

run: $(RUNTIME)  ## run the bot with settings from the environment and .env
	$(BIN)/python -m bot

doctor: $(RUNTIME)  ## check the token, provider key, store and callback URL without creating a task
	$(BIN)/python -m bot doctor

test: $(DEV)  ## the whole test suite: unit, provider contracts, end to end
	$(BIN)/python -m pytest -q

lint: $(DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(DEV)
	$(BIN)/mypy

check: lint typecheck test  ## ruff (lint + format), mypy, pytest

demo: $(DEV)  ## the whole product offline: loopback Discord + provider + the real bot
	$(BIN)/python -m sandbox

bench: $(DEV)  ## benchmarks against baselines; results in bench/results/
	$(BIN)/python -m bench

# pip-tools runs from a throwaway venv: it is a tool for this target, not a dependency of the bot.
# Run with Python 3.11 (the image's), so environment markers resolve as they will there.
LOCK_VENV := .lock-venv
lock:  ## regenerate requirements.lock: every runtime dependency pinned, with hashes
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --upgrade --generate-hashes \
		--no-emit-index-url --no-emit-find-links --strip-extras --output-file requirements.lock pyproject.toml
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) $(LOCK_VENV) .mypy_cache .ruff_cache .pytest_cache demo-out bench/results
