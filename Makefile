# The two commands: `make up` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
PYTEST_ARGS ?=

.PHONY: up test install tools system-deps lint protos check-protos bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the controller, its plugins and the REST gateway on embedded defaults.
up: install
	$(BIN)/tcctl up

## System packages the tests need; installed only when missing and when run as root.
## BIND's daemons live in /usr/sbin, which a normal user's PATH may lack: look there too.
system-deps:
	@missing=""; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	PATH="$$PATH:/usr/sbin:/usr/local/sbin" command -v named >/dev/null 2>&1 || missing="$$missing bind9"; \
	PATH="$$PATH:/usr/sbin:/usr/local/sbin" command -v named-checkzone >/dev/null 2>&1 || missing="$$missing bind9-utils"; \
	PATH="$$PATH:/usr/sbin:/usr/local/sbin" command -v nsupdate >/dev/null 2>&1 || missing="$$missing bind9-dnsutils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing (run as root or install them)"; exit 1; \
	  fi; \
	fi

$(BUF): | system-deps
	mkdir -p .tools
	npm install --silent --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION) >/dev/null

tools: $(BUF)

## Regenerate tc/_proto from protos/ (committed; tests fail on drift).
protos: install
	scripts/gen_protos.sh

lint: install tools
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict tc/
	$(BIN)/lint-imports
	BUF=$(BUF) scripts/lint_protos.sh

## Lint, type-check, layering, buf lint, then the whole suite.
test: install tools lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/intents.py
	$(BIN)/python bench/istio.py
	$(BIN)/python bench/xds.py
	$(BIN)/python bench/dns.py
	$(BIN)/python bench/rest.py
	$(BIN)/python bench/heartbeats.py
	$(BIN)/python bench/probe_cost.py

clean:
	rm -rf $(VENV) .tools var .pytest_cache .mypy_cache .ruff_cache
