import threading

import paho.mqtt.client as mqtt

from kotdevice.device.broker import EmbeddedBroker


def _roundtrip(host, port, protocol):
    got = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=protocol)
    c.on_message = lambda cl, ud, msg: got.set() if msg.payload == b"hi" else None
    c.connect(host, port)
    c.subscribe("a/b", qos=1)
    c.loop_start()
    try:
        for _ in range(50):
            c.publish("a/b", b"hi", qos=1)
            if got.wait(0.1):
                return True
        return False
    finally:
        c.loop_stop()
        c.disconnect()


def test_mosquitto_fixture_carries_messages_and_restarts(mosquitto):
    assert _roundtrip(mosquitto.host, mosquitto.port, mqtt.MQTTv5)
    mosquitto.stop()
    mosquitto.start()
    assert _roundtrip(mosquitto.host, mosquitto.port, mqtt.MQTTv5)


def test_embedded_broker_fallback_carries_messages():
    with EmbeddedBroker() as b:
        assert _roundtrip(b.host, b.port, mqtt.MQTTv311)
