"""The MQTT link against a real Mosquitto: status/online, outbox drain and acks, commands,
a broker that is down at start-up."""
import json
import time

import jsonschema
import pytest

from kotdevice import schemas
from kotdevice.device.broker import free_port
from kotdevice.device.mqtt import BrokerSettings, MqttLink
from kotdevice.device.session import Topics
from kotdevice.device.store import Store
from kotdevice.device.subscriber import Collector

pytestmark = pytest.mark.broker


def enqueue_n(store, topics, n, start=0):
    seqs = []
    with store.tx() as c:
        for i in range(start, start + n):
            payload = {"v": 1, "ts": time.time(), "device_id": "dev1", "id": f"m{i}", "k": i}
            seqs.append(Store.enqueue(c, f"m{i}", topics.rep, payload, qos=1))
    return seqs


def pump_until(link, cond, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        link.pump()
        if cond():
            return True
        time.sleep(0.01)
    return False


def make_link(tmp_path, port, **kw):
    topics = Topics("kot", "dev1")
    store = Store(tmp_path / "d.db")
    link = MqttLink(BrokerSettings(host="127.0.0.1", port=port, reconnect_min_s=0.1, reconnect_max_s=0.5),
                    topics, "dev1", store, log=lambda m: None, **kw)
    return topics, store, link


def test_online_status_outbox_drain_and_acks(tmp_path, mosquitto):
    topics, store, link = make_link(tmp_path, mosquitto.port, identity=lambda: ("Ann", "left"))
    enqueue_n(store, topics, 30)
    with Collector(mosquitto.host, mosquitto.port, "kot/dev1/#") as sub:
        link.start()
        try:
            assert pump_until(link, lambda: store.outbox_count() == 0)
            assert sub.wait_for(lambda s: len(s.of("rep")) >= 30)
            assert [m.payload["k"] for m in sub.of("rep")] == list(range(30))  # in order
            status = sub.of("status")[-1].payload
            jsonschema.validate(status, schemas.load("status"))
            assert status["state"] == "online" and status["athlete"] == "Ann"
            assert link.acked == 30
        finally:
            link.stop()
        assert sub.wait_for(lambda s: s.of("status")[-1].payload["state"] == "offline")


def test_status_and_last_will_follow_a_changed_leg(tmp_path, mosquitto):
    who = {"leg": "unknown"}
    topics, store, link = make_link(tmp_path, mosquitto.port, identity=lambda: ("Ann", who["leg"]))
    with Collector(mosquitto.host, mosquitto.port, "kot/dev1/#") as sub:
        link.start()
        try:
            assert pump_until(link, lambda: link.connected)
            assert sub.wait_for(lambda s: s.of("status"))
            who["leg"] = "right"  # the engine detected the leg
            link.identity_changed()
            assert sub.wait_for(lambda s: s.of("status")[-1].payload["leg"] == "right")
            assert sub.of("status")[-1].payload["state"] == "online"
            assert json.loads(link.client._will_payload)["leg"] == "right"
        finally:
            link.stop()


def test_commands_are_queued_and_replies_published(tmp_path, mosquitto):
    topics, store, link = make_link(tmp_path, mosquitto.port)
    with Collector(mosquitto.host, mosquitto.port, "kot/dev1/#") as sub:
        link.start()
        try:
            assert pump_until(link, lambda: link.connected)
            time.sleep(0.1)  # the device's subscription is in place
            sub.publish(topics.cmd, {"id": "c1", "cmd": "ping"})
            deadline = time.monotonic() + 5
            while link.commands.empty() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert json.loads(link.commands.get_nowait()) == {"id": "c1", "cmd": "ping"}
            link.reply({"v": 1, "ts": time.time(), "device_id": "dev1", "id": "c1", "ok": True})
            assert sub.wait_for(lambda s: s.of("cmd/reply"))
            assert sub.of("cmd/reply")[0].payload["id"] == "c1"
        finally:
            link.stop()


def test_stop_right_after_start_still_delivers_the_outbox(tmp_path, mosquitto):
    """A run that ends before its connection is up (a short recovery run) still hands what is
    pending to a reachable broker instead of leaving it for the next run."""
    topics, store, link = make_link(tmp_path, mosquitto.port)
    enqueue_n(store, topics, 4)
    with Collector(mosquitto.host, mosquitto.port, "kot/dev1/#") as sub:
        link.start()
        link.stop()  # no pump in between: the connection is still being made
        assert store.outbox_count() == 0
        assert sub.wait_for(lambda s: len(s.unique("rep")) == 4)
        # the last word comes after the reps, and may still be on its way
        assert sub.wait_for(lambda s: len(s.of("status")) >= 2)
        assert [m.payload["state"] for m in sub.of("status")] == ["online", "offline"]


def test_broker_down_at_start_is_not_an_error_and_outbox_drains_later(tmp_path):
    from kotdevice.device.broker import MosquittoBroker

    port = free_port()
    topics, store, link = make_link(tmp_path, port)
    enqueue_n(store, topics, 5)
    link.start()  # nothing listening: must not raise
    try:
        for _ in range(20):
            link.pump()
            time.sleep(0.01)
        assert not link.connected and store.outbox_count() == 5
        with MosquittoBroker(port=port) as broker, Collector(broker.host, broker.port, "kot/dev1/#") as sub:
            enqueue_n(store, topics, 3, start=5)
            assert pump_until(link, lambda: store.outbox_count() == 0, timeout_s=15)
            assert sub.wait_for(lambda s: len(s.unique("rep")) == 8)
            assert [m.payload["k"] for m in sub.of("rep")][:8] == list(range(8))
    finally:
        link.stop(flush_timeout_s=0.2)


def test_tls_and_credentials_from_settings(tmp_path):
    from kotdevice.errors import KotError

    topics = Topics("kot", "dev1")
    store = Store(tmp_path / "d.db")
    with pytest.raises(KotError, match="broker.tls: cannot load the certificates"):
        MqttLink(BrokerSettings(tls=True, ca_file=str(tmp_path / "missing-ca.pem")), topics, "dev1", store)
    link = MqttLink(BrokerSettings(username="gym", password="s3cret"), topics, "dev1", store)
    assert link.client._username == b"gym" and link.client._password == b"s3cret"
    # the Last Will is set before connecting: retained offline status
    assert link.client._will and link.client._will_topic == b"kot/dev1/status" and link.client._will_retain
    assert json.loads(link.client._will_payload)["state"] == "offline"


def test_username_password_against_a_broker_that_requires_them(tmp_path):
    import os
    import shutil
    import subprocess

    from kotdevice.device.broker import MosquittoBroker

    if not shutil.which("mosquitto_passwd"):
        pytest.fail("mosquitto_passwd is not installed (it ships with mosquitto; `make test` installs it)")
    b = MosquittoBroker()
    pw = b.dir / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "gym", "s3cret"], check=True, capture_output=True)
    os.chmod(b.dir, 0o755)
    os.chmod(pw, 0o644)  # mosquitto drops root privileges before reading it
    b.conf_path.write_text(b.conf_path.read_text().replace("allow_anonymous true", f"allow_anonymous false\npassword_file {pw}"))
    with b:
        topics = Topics("kot", "dev1")
        good = MqttLink(BrokerSettings(host=b.host, port=b.port, username="gym", password="s3cret",
                                       reconnect_min_s=0.1, reconnect_max_s=0.3),
                        topics, "dev1", Store(tmp_path / "a.db"), log=lambda m: None)
        bad = MqttLink(BrokerSettings(host=b.host, port=b.port, username="gym", password="wrong",
                                      reconnect_min_s=0.1, reconnect_max_s=0.3),
                       topics, "dev2", Store(tmp_path / "b.db"), log=lambda m: None)
        good.start()
        bad.start()
        try:
            assert pump_until(good, lambda: good.connected, 10)
            time.sleep(0.5)
            assert not bad.connected  # refused, retried in the background, nothing raised
        finally:
            good.stop(flush_timeout_s=0.2)
            bad.stop(flush_timeout_s=0.2)
