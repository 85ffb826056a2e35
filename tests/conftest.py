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


class FakeClock:
    """A settable clock: ``clock()`` returns ``clock.t``."""

    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def fake_clock():
    return FakeClock()


@pytest.fixture
def mock_pins():
    """gpiozero's mock pin factory (PWM-capable pins) with fresh pin histories, reset and
    uninstalled after the test."""
    from gpiozero import Device

    from kotdevice.device.feedback import use_mock_pins

    factory = use_mock_pins()
    factory.reset()
    yield factory
    factory.reset()
    Device.pin_factory = None


@pytest.fixture
def pin_numbers():
    """The config's default BCM pins for the button, LEDs and buzzer (``Feedback(pins)``)."""
    from kotdevice.device.app import PIN_KEYS
    from kotdevice.device.config import Config

    cfg = Config()
    return {k: cfg.get("pins", k) for k in PIN_KEYS}
