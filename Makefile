# Every target bootstraps its own virtual environment, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check lint typecheck demo bench lock clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## run the bot with settings from the environment and .env
	$(BIN)/python -m bot

test: $(STAMP)  ## the whole test suite: unit, provider contracts, end to end
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test  ## ruff (lint + format), mypy, pytest

demo: $(STAMP)  ## the whole product offline: loopback Discord + provider + the real bot
	$(BIN)/python -m sandbox

bench: $(STAMP)  ## benchmarks against baselines; results in bench/results/
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
