# The two commands of the README, and a few more. Every target bootstraps .venv itself.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PRESET  ?= quick
PYTEST_ARGS ?=

.PHONY: run test lint format prereqs clean lock audit

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## run: a quick benchmark of every variant on the embedded default, ending in a report
run: $(STAMP)
	$(BIN)/loadlab run --preset $(PRESET) $(ARGS)

## test: system prerequisites (when root), lint, the import layers, the dependency audit, then every test (the
##       host tests beside the rest: infra/test_shards.py; PYTEST_ARGS=… runs one plain pytest)
test: $(STAMP) prereqs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/python infra/audit.py
	$(BIN)/python infra/test_shards.py $(PYTEST_ARGS)

## lock: requirements.lock, every dependency (runtime and dev) pinned with hashes
lock: $(STAMP)
	$(BIN)/pip-compile --generate-hashes --extra dev --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --quiet -o requirements.lock pyproject.toml

## audit: pip-audit against requirements.lock (infra/audit.py says when it fails)
audit: $(STAMP)
	$(BIN)/python infra/audit.py

prereqs:
	bash infra/prereqs.sh

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	-$(BIN)/loadlab db down
	rm -rf $(VENV) .loadlab
