# The two commands of the README:
#   make demo   install newsletter into .venv and run the main job on the sample workspace
#   make test   install everything the tests need (system tools, npm judges, Python) and run them
# Both create the project virtual environment .venv/ once, from PYTHON (default python3; any
# Python 3.11+), and never pip-install into PYTHON itself.
# Also:
#   make lock         refresh requirements-test.lock (exact versions, resolved by uv)
#   make test-latest  run the tests with the newest releases pyproject.toml allows (.venv-latest/)
PYTHON ?= python3
VENV := .venv
LATEST := .venv-latest
LOCK := requirements-test.lock
PIP_FLAGS := --disable-pip-version-check -q
# A PYTHON given on the command line (or in the environment) means that interpreter: remake a
# .venv another one made. Left at its default, an existing .venv is used as it is.
REMAKE_IF_OTHER := $(if $(filter default file,$(origin PYTHON)),0,1)
# The packages whose releases most often change behaviour: test-latest names their versions.
WATCHED := PyYAML pydantic weasyprint mjml-python httpx
empty :=
space := $(empty) $(empty)

.PHONY: demo test test-latest lock install install-test install-node install-system \
        install-system-run venv lint goldens mutation

venv:
	@PYTHON=$(PYTHON) VENV=$(VENV) REMAKE_IF_OTHER=$(REMAKE_IF_OTHER) bash scripts/venv.sh

# The stamps make a second `make test` skip pip; a changed lock or pyproject reinstalls.
install: venv install-system-run $(VENV)/.installed

$(VENV)/.installed: $(LOCK) pyproject.toml
	$(VENV)/bin/python -m pip $(PIP_FLAGS) install -c $(LOCK) -e .
	@touch $@

install-test: venv $(VENV)/.installed-test

$(VENV)/.installed-test: $(LOCK) pyproject.toml
	$(VENV)/bin/python -m pip $(PIP_FLAGS) install -c $(LOCK) -e '.[test]'
	@touch $@ $(VENV)/.installed

install-node:
	@if [ -d node_modules/vnu-jar ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then \
	  echo "npm judges: present"; else npm ci --no-audit --no-fund --loglevel=error; fi

install-system:
	bash scripts/install-system.sh

install-system-run:
	@bash scripts/install-system.sh --run

demo: install
	PYTHON=$(VENV)/bin/python bash scripts/demo.sh

test: install-system install-node install-test
	$(VENV)/bin/python -m pytest

# Newest allowed releases in a venv of their own, so .venv keeps the locked versions.
test-latest: install-system install-node
	@PYTHON=$(PYTHON) VENV=$(LATEST) REMAKE_IF_OTHER=$(REMAKE_IF_OTHER) bash scripts/venv.sh
	$(LATEST)/bin/python -m pip $(PIP_FLAGS) install --upgrade --upgrade-strategy eager -e '.[test]'
	@echo "newest allowed releases:"
	@$(LATEST)/bin/python -m pip --disable-pip-version-check list 2>/dev/null \
	  | grep -i -w -E '^($(subst $(space),|,$(WATCHED)))'
	$(LATEST)/bin/python -m pytest

lock: venv
	@$(VENV)/bin/python -m uv --version >/dev/null 2>&1 || \
	  $(VENV)/bin/python -m pip $(PIP_FLAGS) install uv
	$(VENV)/bin/python -m uv pip compile pyproject.toml --extra test --universal \
	  --python-version 3.11 --custom-compile-command "make lock" --quiet -o $(LOCK)

goldens: install-test
	$(VENV)/bin/python -m pytest tests/render/test_goldens.py --regen-goldens

lint: install-test
	$(VENV)/bin/python -m ruff check src tests bench
	$(VENV)/bin/python -m ruff format --check src tests bench

# Mutation testing of the guarantees (ledger, engine, job, state stores, tokens, escaping, YAML
# checks, size limit, reconcile, serve): a score per module, goal 90%; equivalent survivors are
# listed in tests/MUTANTS.md. Not run in CI: it takes too long.
mutation: install-test
	$(VENV)/bin/python -m pip $(PIP_FLAGS) install -c $(LOCK) -e '.[mutation]'
	$(VENV)/bin/python scripts/mutation.py
