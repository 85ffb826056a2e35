# The two set-up commands of the README:
#   make run   - install, then run the device loop on the simulated sensor
#   make test  - install, then run the whole test suite
# Each makes its own virtual environment in .venv (override with VENV=...).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# System packages the tests use for real: a Mosquitto broker, headless Chromium, shellcheck.
TEST_APT = mosquitto chromium shellcheck
RUN_APT  = mosquitto

.PHONY: run test venv test-deps run-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python

run-deps: venv
	@./.ci/apt-ensure $(RUN_APT) || echo "note: Mosquitto not installed; an embedded broker will be used" >&2
	$(BIN)/pip install -q -e '.[local]'

test-deps: venv
	./.ci/apt-ensure $(TEST_APT)
	$(BIN)/pip install -q -e '.[test]'

run: run-deps
	$(BIN)/kotdevice run --sim

test: test-deps
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
