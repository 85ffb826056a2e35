"""The shipped gym-broker config (systemd/mosquitto/) run by a real Mosquitto.

Only ports and file paths are rewritten (to free loopback ports and a temp dir); the auth,
TLS and ACL settings are the shipped ones. The TLS CA is made by firmware/make-certs.sh."""
from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

paho = pytest.importorskip("paho.mqtt.client")
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from kotdevice.device.broker import free_port, mosquitto_path, wait_port  # noqa: E402

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "systemd/mosquitto/kotdevice.conf"
ACL = REPO / "systemd/mosquitto/acl"
DEV_A, DEV_B = "kot-1a2b3c4d", "kot-99887766"
USERS = {DEV_A: "pw-a", DEV_B: "pw-b", "kiosk": "pw-kiosk", "coach": "pw-coach"}


def parse_listeners(text: str) -> list[dict]:
    """Listener blocks of a mosquitto.conf (per_listener_settings: options follow `listener`)."""
    blocks, cur = [], None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, val = line.partition(" ")
        if key == "listener":
            cur = {"listener": val.split()}
            blocks.append(cur)
        elif cur is not None:
            cur[key] = val.strip()
    return blocks


def test_shipped_config_requires_auth_on_the_network_listener():
    text = CONF.read_text()
    assert re.search(r"^per_listener_settings true$", text, re.M)
    blocks = parse_listeners(text)
    by_port = {b["listener"][0]: b for b in blocks}
    assert set(by_port) == {"1883", "8883"}  # no WebSockets: the kiosk uses SSE
    local, tls = by_port["1883"], by_port["8883"]
    assert local["listener"][1:] == ["127.0.0.1"]  # plain MQTT never leaves the machine
    assert tls["allow_anonymous"] == "false"
    for key in ("password_file", "acl_file", "cafile", "certfile", "keyfile"):
        assert tls[key].startswith("/etc/mosquitto/kotdevice/"), key
    assert local["acl_file"] == tls["acl_file"] and local["password_file"] == tls["password_file"]
    assert not any("websockets" in b.get("protocol", "") for b in blocks)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    exe = mosquitto_path()
    if exe is None:
        pytest.fail("mosquitto is not installed: run `make test`, which installs it")
    passwd_tool = shutil.which("mosquitto_passwd")
    if passwd_tool is None:
        pytest.fail("mosquitto_passwd is not installed (it ships with the mosquitto package)")
    d = tmp_path_factory.mktemp("gymbroker")
    tls_dir = d / "tls"
    subprocess.run(["bash", str(REPO / "firmware/make-certs.sh"), str(tls_dir), "localhost", "127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    (d / "passwd").touch()
    for user, pw in USERS.items():
        subprocess.run([passwd_tool, "-b", str(d / "passwd"), user, pw], check=True, capture_output=True)
    shutil.copy(ACL, d / "acl")
    ports = {"1883": free_port(), "8883": free_port()}

    def rewrite(line: str) -> str:
        m = re.match(r"^listener (\d+)(.*)$", line)
        if m:  # free port, loopback only (the shipped TLS listener binds all interfaces)
            return f"listener {ports[m.group(1)]} 127.0.0.1"
        return line.replace("/etc/mosquitto/kotdevice/", f"{d}/")

    conf = "\n".join(rewrite(line) for line in CONF.read_text().splitlines()
                     if not line.lstrip().startswith("#"))
    # Test-only globals. As root, Mosquitto would drop to user "mosquitto", which cannot read
    # pytest's private temp dir (on the Pi, install.sh makes the files group-readable).
    head = "persistence false\nlog_dest stderr\nlog_type error\nlog_type warning\n"
    if os.geteuid() == 0:
        head += "user root\n"
    conf = head + conf + "\n"
    assert "/etc/" not in conf
    (d / "mosquitto.conf").write_text(conf)
    log = open(d / "mosquitto.log", "wb")
    proc = subprocess.Popen([exe, "-c", str(d / "mosquitto.conf")], stdout=subprocess.DEVNULL, stderr=log)
    try:
        if not (wait_port("127.0.0.1", ports["1883"]) and wait_port("127.0.0.1", ports["8883"])):
            pytest.fail("mosquitto did not start with the shipped config:\n" + (d / "mosquitto.log").read_text())
        yield {"local": ports["1883"], "tls": ports["8883"], "ca": tls_dir / "ca.crt", "dir": d}
    finally:
        proc.terminate()
        proc.wait(5)
        log.close()


class Client:
    """A paho v2 client with blocking helpers; MQTT 5 so refusals come back as reason codes."""

    def __init__(self, port: int, user: str | None = None, ca: Path | None = None, verify: bool = True):
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}-{time.monotonic_ns()}",
                             protocol=paho.MQTTv5)
        if user:
            self.c.username_pw_set(user, USERS.get(user, "wrong"))
        if ca:
            self.c.tls_set(ca_certs=str(ca) if verify else None,
                           cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
        self.connected = threading.Event()
        self.connack = None
        self.messages: list[tuple[str, bytes]] = []
        self.acks: dict[int, object] = {}
        self.subacks: dict[int, list] = {}
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda cl, ud, m: self.messages.append((m.topic, m.payload))
        self.c.on_publish = lambda cl, ud, mid, rc, props: self.acks.__setitem__(mid, rc)
        self.c.on_subscribe = lambda cl, ud, mid, rcs, props: self.subacks.__setitem__(mid, rcs)
        self.port = port

    def _on_connect(self, cl, ud, flags, rc, props):
        self.connack = rc
        self.connected.set()

    def connect(self) -> "Client":
        self.c.connect("127.0.0.1", self.port, keepalive=10)
        self.c.loop_start()
        self.connected.wait(5)
        return self

    @property
    def ok(self) -> bool:
        return self.connack is not None and not self.connack.is_failure

    def publish(self, topic: str, payload: str) -> str:
        """QoS 1 publish; returns the PUBACK reason ("Success", "Not authorized", ...)."""
        info = self.c.publish(topic, payload, qos=1)
        deadline = time.monotonic() + 5
        while info.mid not in self.acks and time.monotonic() < deadline:
            time.sleep(0.005)
        return str(self.acks.get(info.mid))

    def subscribe(self, topic: str) -> None:
        _, mid = self.c.subscribe(topic, qos=1)
        deadline = time.monotonic() + 5
        while mid not in self.subacks and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def settle(s: float = 0.3) -> None:
    time.sleep(s)  # let the broker deliver (or not) what was accepted


@pytest.fixture
def clients(broker):
    made: list[Client] = []

    def make(user=None, listener="tls", **kw) -> Client:
        ca = broker["ca"] if listener == "tls" else None
        c = Client(broker[listener], user, ca=ca, **kw).connect()
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_device_publishes_under_its_own_id_only(clients):
    watcher = clients(None, listener="local")  # the kiosk server's view: anonymous on loopback
    assert watcher.ok
    watcher.subscribe("kot/#")
    dev = clients(DEV_A)
    assert dev.ok, dev.connack
    assert dev.publish(f"kot/{DEV_A}/rep", '{"v":1}') == "Success"
    assert dev.publish(f"kot/{DEV_B}/rep", '{"v":1,"spoof":true}') == "Not authorized"
    assert dev.publish("kot/other-topic", "x") == "Not authorized"
    assert dev.publish("elsewhere/x", "x") == "Not authorized"
    settle()
    assert watcher.messages == [(f"kot/{DEV_A}/rep", b'{"v":1}')]


def test_device_reads_only_its_own_cmd_topic(clients):
    dev = clients(DEV_A)
    dev.subscribe("kot/#")  # asks for everything; the ACL filters delivery
    coach = clients("coach")
    assert coach.publish(f"kot/{DEV_A}/cmd", "start") == "Success"
    assert coach.publish(f"kot/{DEV_B}/cmd", "start-b") in ("Success", "No matching subscribers")
    other = clients(DEV_B)
    assert other.publish(f"kot/{DEV_B}/status", "online") in ("Success", "No matching subscribers")
    settle()
    assert dev.messages == [(f"kot/{DEV_A}/cmd", b"start")]


def test_anonymous_and_wrong_password_are_refused_on_the_network_listener(clients):
    anon = clients(None)
    assert anon.connack is not None and anon.connack.is_failure
    assert str(anon.connack) == "Not authorized"
    wrong = clients("kot-1a2b3c4d-typo")  # unknown user, password "wrong"
    assert wrong.connack is not None and wrong.connack.is_failure


def test_kiosk_user_and_anonymous_loopback_may_only_read(clients):
    reader = clients("kiosk")
    assert reader.ok
    reader.subscribe("kot/#")
    local = clients(None, listener="local")
    assert local.ok
    for c in (reader, local):
        assert c.publish(f"kot/{DEV_A}/cmd", "stop") == "Not authorized"
        assert c.publish("kot/kiosk/status", "online") == "Not authorized"
    dev = clients(DEV_A)
    assert dev.publish(f"kot/{DEV_A}/live", "1") == "Success"
    settle()
    assert reader.messages == [(f"kot/{DEV_A}/live", b"1")]


def test_loopback_listener_checks_passwords_of_named_users(clients):
    spoof = clients(DEV_A, listener="local")
    assert spoof.ok  # right password: fine on loopback too
    impostor = Client(spoof.port, "coach")
    impostor.c.username_pw_set("coach", "not-the-password")
    impostor.connect()
    try:
        assert impostor.connack is not None and impostor.connack.is_failure
    finally:
        impostor.close()


def test_tls_listener_really_speaks_tls(broker, clients):
    # A client that does not trust the gym CA is refused by certificate verification.
    untrusted = paho.Client(CallbackAPIVersion.VERSION2, client_id="t-untrusted", protocol=paho.MQTTv5)
    untrusted.tls_set(ca_certs=None, cert_reqs=ssl.CERT_REQUIRED)
    untrusted.username_pw_set(DEV_A, USERS[DEV_A])
    with pytest.raises(ssl.SSLError):
        untrusted.connect("127.0.0.1", broker["tls"], keepalive=5)
    # Plain MQTT to the TLS port never gets a CONNACK.
    plain = Client(broker["tls"], DEV_A)
    try:
        plain.c.connect("127.0.0.1", broker["tls"], keepalive=5)
        plain.c.loop_start()
        assert not plain.connected.wait(1.0) or plain.connack.is_failure
    finally:
        plain.close()


def test_kiosk_server_reads_the_floor_with_its_account_over_tls(broker, clients, tmp_path):
    """`kotdevice kiosk --username kiosk --tls --ca-file ...` against the shipped config."""
    import json

    from kotdevice.kiosk import fakedev
    from kotdevice.kiosk.server import KioskServer

    kiosk = KioskServer(f"127.0.0.1:{broker['tls']}", bind="127.0.0.1", http_port=0,
                        db_path=tmp_path / "k.db", log=lambda m: None, username="kiosk",
                        password=USERS["kiosk"], tls=True, ca_file=str(broker["ca"]))
    kiosk.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not kiosk.snapshot()["broker"]["connected"]:
            time.sleep(0.02)
        assert kiosk.snapshot()["broker"]["connected"], "the kiosk account could not log in over TLS"
        settle()  # subscriptions in place
        dev = clients(DEV_A)
        assert dev.publish(f"kot/{DEV_A}/status",
                           json.dumps(fakedev.status_msg(DEV_A, "online", athlete="Ana"))) == "Success"
        deadline = time.monotonic() + 5  # a fresh wait of its own, not what the login left over
        while time.monotonic() < deadline and not any(d["id"] == DEV_A for d in kiosk.snapshot()["devices"]):
            time.sleep(0.05)
        snap = kiosk.snapshot()
        assert snap["broker"]["connected"], "the kiosk account lost its TLS connection"
        assert [d["id"] for d in snap["devices"]] == [DEV_A], f"the status of {DEV_A} did not reach the kiosk"
    finally:
        kiosk.stop()


@pytest.mark.parametrize("file_text, env_pw", [(USERS["kiosk"] + "\n", None), ("", USERS["kiosk"])],
                         ids=["password-file", "empty-file-then-env"])
def test_kiosk_cli_logs_in_with_the_password_file(broker, tmp_path, file_text, env_pw):
    """What kotdevice-kiosk.service runs: the password comes from --password-file (the systemd
    credential); an empty file (the installer's default) falls back to $KOT_MQTT_PASSWORD."""
    from kiosk_cli import broker_connected, kiosk_cli  # tests/kiosk_cli.py

    pw = tmp_path / "mqtt-password"
    pw.write_text(file_text)
    pw.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k != "KOT_MQTT_PASSWORD"}
    if env_pw is not None:
        env["KOT_MQTT_PASSWORD"] = env_pw
    args = ["--broker", f"127.0.0.1:{broker['tls']}", "--username", "kiosk", "--password-file", str(pw),
            "--tls", "--ca-file", str(broker["ca"])]
    with kiosk_cli(args, tmp_path / "k.db", env=env) as url:
        assert broker_connected(url), "the kiosk account could not log in with the password file"


def test_kiosk_server_with_a_wrong_password_stays_disconnected(broker, tmp_path):
    from kotdevice.kiosk.server import KioskServer

    kiosk = KioskServer(f"127.0.0.1:{broker['tls']}", bind="127.0.0.1", http_port=0,
                        db_path=tmp_path / "k.db", log=lambda m: None, username="kiosk",
                        password="nope", tls=True, ca_file=str(broker["ca"]))
    kiosk.start()
    try:
        time.sleep(1.0)
        assert not kiosk.snapshot()["broker"]["connected"]
    finally:
        kiosk.stop()
