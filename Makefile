# hubbub: common tasks. Each target sets up the virtualenv it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 1100
# The web door (browser client, WebSocket IRC, /healthz); WEB_PORT= leaves it shut.
WEB_PORT ?= 8080
# The tutorial door (the original tutorial's name~text clients, nc); TUTORIAL_PORT= leaves it shut.
TUTORIAL_PORT ?= 1200
DATA ?= ./hubbub-data

# The optional compiled build (setup.py): its own virtualenv, and a copy of the checkout whose
# hubbub/ is that virtualenv's compiled package, where its tests and benchmarks run.
COMPILED_VENV ?= .venv-compiled
CBIN := $(abspath $(COMPILED_VENV))/bin
COMPILED_TREE ?= build/compiled-tree

.PHONY: serve test lint gui bench screenshots clean compiled test-compiled compiled-tree

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,fast,bench]'
	touch $@

serve: $(BIN)/.installed
	$(BIN)/hubbub serve --host $(HOST) --port $(PORT) --data-dir $(DATA) $(if $(WEB_PORT),--web-port $(WEB_PORT)) \
		$(if $(TUTORIAL_PORT),--tutorial-port $(TUTORIAL_PORT))

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
	$(BIN)/python -m tools.web_screenshots docs/screenshots

# HUBBUB_COMPILE=1 compiles; should compiling fail, pip installs pure Python and the check says so.
$(COMPILED_VENV)/.installed: pyproject.toml setup.py tools/build_backend.py $(shell find hubbub -name '*.py')
	$(PYTHON) -m venv $(COMPILED_VENV)
	$(CBIN)/pip install --quiet --upgrade pip
	$(CBIN)/pip install --quiet '.[dev,fast,bench]'
	HUBBUB_COMPILE=1 $(CBIN)/pip install --quiet --force-reinstall --no-deps .
	cd / && $(CBIN)/python -c 'import hubbub.server.delivery as d; \
		print("hubbub: compiled build" if not d.__file__.endswith(".py") else \
		"WARNING: hubbub: compiling failed, $(COMPILED_VENV) has the pure-Python package \
		(see the build output: HUBBUB_COMPILE=1 pip install -v .)")'
	touch $@

compiled: $(COMPILED_VENV)/.installed compiled-tree

# The checkout's tests, bench and docs, with hubbub/ linked to the compiled package: there no
# Python source of hubbub can shadow it (pytest, `python -m` and PYTHONPATH=. all find the link).
compiled-tree: $(COMPILED_VENV)/.installed
	rm -rf $(COMPILED_TREE)
	mkdir -p $(COMPILED_TREE)
	git ls-files -co --exclude-standard | grep -v -e '^hubbub/' -e '^$(COMPILED_VENV)/' | tar cf - --ignore-failed-read -T - | tar xf - -C $(COMPILED_TREE)
	ln -s "$$(cd / && $(CBIN)/python -c 'import hubbub, os; print(os.path.dirname(hubbub.__file__))')" $(COMPILED_TREE)/hubbub

# The whole suite against the compiled build; HUBBUB_EXPECT_COMPILED=1 fails it if it is not.
test-compiled: compiled
	cd $(COMPILED_TREE) && HUBBUB_EXPECT_COMPILED=1 $(CBIN)/pytest -p no:cacheprovider

clean:
	rm -rf $(VENV) $(COMPILED_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find hubbub -name '*.so' -delete  # extension modules built in place would shadow the source
	rm -f *__mypyc*.so
