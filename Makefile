# Everything installs itself on first use into .venv (Python 3.12, Lambda's runtime, when pyenv has it).
PYTHON ?= $(shell PYENV_VERSION=3.12.1 pyenv which python 2>/dev/null || command -v python3.12 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/postsale/requirements.txt | cksum | cut -d' ' -f1)
# checkov pins a boto3 that aws-sam-cli's does not accept: it has a venv of its own (requirements-checkov.txt).
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell cat requirements-checkov.txt | cksum | cut -d' ' -f1)
export SAM_CLI_TELEMETRY := 0
export PATH := $(abspath $(BIN)):$(PATH)

.DEFAULT_GOAL := help
.PHONY: help install test lint build demo local chaos dead-letters redrive bench clean

# Each `## make <target>: <what it does>` line below is one line of `make help`.
## make help: this list
help:
	@sed -n 's/^## make \([^:]*\): \(.*\)/\1\t\2/p' $(MAKEFILE_LIST) | awk -F'\t' '{printf "  make %-29s %s\n", $$1, $$2}'

$(STAMP):
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(CHECKOV_STAMP):
	rm -f $(CHECKOV_VENV)/.installed-*
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt
	touch $@

## make install: .venv from requirements-dev.txt (every target but help and clean does it first)
install: $(STAMP)

## make test: lint, then the whole test suite (pytest, 2 workers)
test: install lint
	$(BIN)/python -m pytest -n 2 -q

# checkov reads template.yaml as written and as deployed: tools/sam_translate.py translates it offline.
## make lint: ruff, mypy --strict on the layer, sam validate --lint, checkov (skips and reasons: .checkov.yaml)
lint: install $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/sam validate --lint --region eu-west-1
	$(BIN)/python tools/sam_translate.py .aws-sam/checkov/translated-template.json
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

## make build: sam build, no container (needs python3.12 on PATH: the venv provides it)
build: install
	$(BIN)/sam build

# Ctrl-C is how `make local` ends. The terminal sends SIGINT to make, the recipe's shell and the CLI: the CLI stops
# everything (no process or port left) and exits 130; the shell waits for it (trap) and reports that clean stop as
# success, so make prints no "*** [local] Error 130"; make itself was interrupted, and exits 130 as any interrupted make
# does (tried: GNU Make 4.3). A SIGTERM to the CLI alone (kill <pid>) stops it the same way, and make exits 0.
define stoppable
@echo '$(1)'; trap : INT TERM; $(1); code=$$?; case $$code in 130|143) exit 0;; *) exit $$code;; esac
endef

## make demo: the merchant scenario on moto server + the Hokodo emulator, then exit
demo: install
	$(call stoppable,PYTHONPATH=local:layers/postsale:emulator $(BIN)/python -m hokodo_local demo)

## make local: keep the local stack running for manual use (Ctrl-C stops it)
local: install
	$(call stoppable,PYTHONPATH=local:layers/postsale:emulator $(BIN)/python -m hokodo_local serve)

# One key=value line; exit 1 if anything is lost, applied twice, missed or published twice (docs/reliability.md).
## make chaos: the local stack under faults (SEED=1 EVENTS=1000 FAULT_RATE=0.1 PROFILE=default|sparse), checked
SEED ?= 1
EVENTS ?= 1000
FAULT_RATE ?= 0.1
PROFILE ?= default
chaos: install
	PYTHONPATH=local:layers/postsale:emulator $(BIN)/python -m hokodo_local chaos --seed $(SEED) --events $(EVENTS) --fault-rate $(FAULT_RATE) --profile $(PROFILE)

# The runbook's DLQ steps against a running `make local`. QUEUE: a short name (shipments, returns, cancellations,
# documents, sync, events, tracking: the template's *DeadLetterQueue), any case. Redrive is what SQS's StartMessageMoveTask
# does: back to the source queue.
## make dead-letters QUEUE=shipments: a DLQ's messages with their reasons (no QUEUE: the DLQs)
## make redrive QUEUE=shipments: a DLQ's messages back to their source queue
dead-letters redrive: install
	@PYTHONPATH=local:layers/postsale:emulator $(BIN)/python -m hokodo_local $@ $(QUEUE)

# moto, the emulator and each function in a process of its own; a few minutes on 2 cores.
## make bench: docs/performance.md's figures, as ratios against their targets, into bench/results.json
bench: install
	$(BIN)/python bench/run.py

## make clean: remove the venvs, build output and caches
clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .ruff_cache
