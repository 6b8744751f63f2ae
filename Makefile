# hubbub: common tasks. Each target sets up the virtualenv it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 1100
DATA ?= ./hubbub-data

.PHONY: serve test lint gui bench screenshots clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,fast,bench]'
	touch $@

serve: $(BIN)/.installed
	$(BIN)/hubbub serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

gui: $(BIN)/.installed
	$(BIN)/hubbub gui

lint: $(BIN)/.installed
	$(BIN)/ruff check hubbub tests bench tools
	$(BIN)/ruff format --check hubbub tests bench tools
	$(BIN)/mypy hubbub

test: lint
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python -m bench

screenshots: $(BIN)/.installed
	$(BIN)/python -m hubbub.gui.screenshots docs/screenshots

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
