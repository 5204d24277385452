# Everything installs itself on first use into .venv (Python 3.12, Lambda's runtime, when pyenv has it).
PYTHON ?= $(shell PYENV_VERSION=3.12.1 pyenv which python 2>/dev/null || command -v python3.12 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/postsale/requirements.txt | cksum | cut -d' ' -f1)
export SAM_CLI_TELEMETRY := 0
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install test lint build demo local chaos dead-letters redrive bench clean

$(STAMP):
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(STAMP)

## make test: lint (ruff, mypy --strict on the layer, sam validate --lint) and the whole test suite
test: install lint
	$(BIN)/python -m pytest -n 2 -q

## make lint: ruff, mypy --strict on the shared layer ([tool.mypy] in pyproject.toml), sam validate --lint
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/sam validate --lint --region eu-west-1

## make build: sam build, no container (needs python3.12 on PATH: the venv provides it)
build: install
	$(BIN)/sam build

# Ctrl-C (or SIGTERM) is how `make local` ends: the CLI then stops everything and exits 130 (143). The recipe's
# shell waits for it (trap) and reports that clean stop as success, not as "make: *** [local] Error 130".
define stoppable
@echo '$(1)'; trap : INT TERM; $(1); code=$$?; case $$code in 130|143) exit 0;; *) exit $$code;; esac
endef

## make demo: the merchant scenario on moto server + the Hokodo emulator, then exit
demo: install
	$(call stoppable,PYTHONPATH=local:layers/postsale:emulator $(BIN)/python -m hokodo_local demo)

## make local: keep the local stack running for manual use (Ctrl-C stops it)
local: install
	$(call stoppable,PYTHONPATH=local:layers/postsale:emulator $(BIN)/python -m hokodo_local serve)

## make chaos: the local stack under faults (SEED, EVENTS, FAULT_RATE, PROFILE=default|sparse); one key=value line, exit 1
## if anything is lost, applied twice, missed or published twice (docs/reliability.md)
SEED ?= 1
EVENTS ?= 1000
FAULT_RATE ?= 0.1
PROFILE ?= default
chaos: install
	PYTHONPATH=local:layers/postsale:emulator $(BIN)/python -m hokodo_local chaos --seed $(SEED) --events $(EVENTS) --fault-rate $(FAULT_RATE) --profile $(PROFILE)

## make dead-letters QUEUE=ShipmentsDeadLetterQueue / make redrive QUEUE=…: the runbook's DLQ steps against a running
## `make local` (redrive is what SQS's StartMessageMoveTask does: back to the source queue)
dead-letters redrive: install
	PYTHONPATH=local:layers/postsale:emulator $(BIN)/python -m hokodo_local $@ $(QUEUE)

## make bench: docs/performance.md's figures (moto, the emulator and each function in a process of its own),
## printed as ratios against their targets and written to bench/results.json (a few minutes on 2 cores)
bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache
