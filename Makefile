# imagelake: `make run` starts the service, `make test` runs everything CI runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck pytest browser bench bench-delivery deploy clean readme-config

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/imagelake serve

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy src tests bench

pytest: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest

# Debian's chromium for the dashboard's browser tests (Playwright can't download its own here).
browser:
	@test -x /usr/bin/chromium || { \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -q && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends chromium; }

test: lint typecheck pytest

bench: $(VENV)/.installed-test
	$(BIN)/python -m bench.run

# imagelake against thumbor 7 and ipx; installs them into bench/peers/ (and wrk) on first run.
bench-delivery: $(VENV)/.installed-test
	$(BIN)/python -m bench.delivery

deploy:
	sam build --template deploy/template.yaml
	sam deploy --guided

readme-config: $(VENV)/.installed
	$(BIN)/imagelake config --markdown

clean:
	rm -rf $(VENV) imagelake-data .pytest_cache .mypy_cache .ruff_cache test-artifacts
