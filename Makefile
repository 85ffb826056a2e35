# The two set-up commands of the README:
#   make run   - install, then run the device loop on the simulated sensor
#   make test  - install, then run the whole test suite
# Each makes its own virtual environment in .venv (override with VENV=...).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# System packages the tests use for real: a Mosquitto broker (and mosquitto_passwd), headless
# Chromium, shellcheck, systemd-analyze (unit checks), openssl (the broker's TLS certificates).
TEST_APT = mosquitto chromium shellcheck systemd openssl
RUN_APT  = mosquitto

.PHONY: run test venv test-deps run-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python

# pip runs again only when pyproject.toml changes (stamp files in the venv). Its output is
# kept in a log and shown only if it fails; the stamp needs every extra to import.
PIP_INSTALL = $(BIN)/pip install -q -e
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) '.[local]' > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log >&2; exit 1; }
	$(BIN)/python -c "import kotdevice.cli, amqtt" && touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) '.[test]' > $(VENV)/pip.log 2>&1 || { cat $(VENV)/pip.log >&2; exit 1; }
	$(BIN)/python -c "import kotdevice.cli, pytest, jsonschema, hypothesis, fake_rpi, amqtt, \
		imufusion, vqf, ahrs, psutil, websockets, PIL" && touch $@

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
