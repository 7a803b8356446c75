# The two commands of the README:
#   make demo   install newsletter and run the main job on the sample workspace
#   make test   install everything the tests need (system tools, npm judges, Python) and run them
PYTHON ?= python3
PIP := $(PYTHON) -m pip --disable-pip-version-check -q

.PHONY: demo test install install-test install-node install-system lint goldens mutation

install:
	$(PIP) install -e .

install-test:
	$(PIP) install -e '.[test]'

install-node:
	@if [ -d node_modules/vnu-jar ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then \
	  echo "npm judges: present"; else npm ci --no-audit --no-fund --loglevel=error; fi

install-system:
	bash scripts/install-system.sh

demo: install
	PYTHON=$(PYTHON) bash scripts/demo.sh

test: install-system install-node install-test
	$(PYTHON) -m pytest

goldens:
	$(PYTHON) -m pytest tests/render/test_goldens.py --regen-goldens

lint:
	$(PYTHON) -m ruff check src tests bench
	$(PYTHON) -m ruff format --check src tests bench

# Mutation testing of the guarantees (ledger, engine, job, tokens, escaping, YAML checks, size
# limit): a score per module, goal 90%; equivalent survivors are listed in tests/MUTANTS.md.
mutation: install-test
	$(PIP) install -e '.[mutation]'
	$(PYTHON) scripts/mutation.py
