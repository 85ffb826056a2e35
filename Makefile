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

# pip runs again only when pyproject.toml changes (stamp files in the venv).
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[local]' 2>&1 | grep -v -e BuildBackendWarning -e '^ ' >&2 || true
	$(BIN)/python -c "import kotdevice.cli" && touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]' 2>&1 | grep -v -e BuildBackendWarning -e '^ ' >&2 || true
	$(BIN)/python -c "import kotdevice.cli, pytest, jsonschema" && touch $@

run-deps: $(VENV)/.installed-run
	@./.ci/apt-ensure $(RUN_APT) || echo "note: Mosquitto not installed; an embedded broker will be used" >&2

test-deps: $(VENV)/.installed-test
	./.ci/apt-ensure $(TEST_APT)

run: run-deps
	$(BIN)/kotdevice run --sim

test: test-deps
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
