"""Shared fixtures. Area-specific fixtures live in the area's own test modules."""
from __future__ import annotations

import pytest

from kotdevice.device.broker import MosquittoBroker, mosquitto_path


@pytest.fixture
def mosquitto():
    """A real Mosquitto broker on a free loopback port, stopped after the test.
    ``mosquitto.stop()`` / ``.start()`` simulate an outage on the same port."""
    if mosquitto_path() is None:
        pytest.fail("mosquitto is not installed: run `make test`, which installs it")
    broker = MosquittoBroker().start()
    yield broker
    broker.stop()
