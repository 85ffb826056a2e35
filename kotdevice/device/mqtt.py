"""The MQTT link (paho-mqtt 2.x): status/Last Will, outbox drain, live, commands in.

Threading: paho runs its network loop in its own thread (``loop_start``). Its callbacks only
put things in queues or flip flags; the sampling loop calls ``pump()`` which does all the
SQLite work (acks -> delete outbox rows; drain pending rows in order). Commands received are
queued for the loop, which answers them with ``reply()``.

Delivery: an outbox row is handed to paho once per process; paho keeps unacknowledged QoS 1
messages across reconnects and resends them (same mid, DUP flag). Rows whose PUBACK never
came before the process died are sent again by the next run; the stable message ids make that
harmless. A broker that is down at start-up is not an error (connect_async, retried forever
with exponential backoff).
"""
from __future__ import annotations

import json
import queue
import ssl
import sys
import time
from dataclasses import dataclass
from typing import Callable

import paho.mqtt.client as mqtt

from kotdevice import __version__
from kotdevice.device.session import Topics
from kotdevice.device.store import Store


@dataclass
class BrokerSettings:
    host: str = "localhost"
    port: int = 1883
    username: str = ""
    password: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    keepalive_s: int = 30
    # 3.1.1 works with Mosquitto and with the embedded amqtt broker alike.
    protocol: int = mqtt.MQTTv311
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0


def apply_credentials(client: mqtt.Client, settings: BrokerSettings) -> None:
    """Username/password and TLS on a paho client: shared by the device and the kiosk."""
    if settings.username:
        client.username_pw_set(settings.username, settings.password or None)
    if settings.tls:
        try:
            client.tls_set(ca_certs=settings.ca_file or None, certfile=settings.cert_file or None,
                           keyfile=settings.key_file or None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        except (OSError, ssl.SSLError, ValueError) as e:
            from kotdevice.errors import KotError
            raise KotError(f"broker.tls: cannot load the certificates: {e}") from None


class MqttLink:
    def __init__(self, settings: BrokerSettings, topics: Topics, device_id: str, store: Store, *,
                 identity: Callable[[], tuple[str | None, str | None]] = lambda: (None, None),
                 wall: Callable[[], float] = time.time, log: Callable[[str], None] | None = None,
                 drain_batch: int = 100):
        self.s = settings
        self.topics = topics
        self.device_id = device_id
        self.store = store
        # -> (athlete, leg) for the status: read from their owner (the runtime's sessions),
        # not copied, so a leg detected later shows up (see identity_changed).
        self.identity = identity
        self.wall = wall
        self.log = log or (lambda m: print(m, file=sys.stderr))
        self.drain_batch = drain_batch
        self.connected = False
        self.commands: queue.Queue[bytes] = queue.Queue(maxsize=256)
        self._acks: queue.Queue[int] = queue.Queue()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq, until its PUBACK
        # Rows are handed to paho strictly in seq order, so "handed over by this process" is
        # every seq up to this mark (0: a new process sends the whole outbox again).
        self._handed_seq = 0
        self._dirty = True
        self.acked = 0
        self._stopping = False
        self._last_refusal: str | None = None

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{device_id}-dev",
                        protocol=settings.protocol, clean_session=True)
        apply_credentials(c, settings)
        c.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
        c.max_queued_messages_set(0)  # unbounded in memory; the outbox bounds what we hand over
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        self.client = c
        self._set_will()

    @property
    def queued(self) -> int:
        """Outbox messages handed to paho and not yet acknowledged by the broker."""
        return len(self._inflight)

    # --- payloads --------------------------------------------------------------------------
    def status_payload(self, state: str, will: bool = False) -> dict:
        athlete, leg = self.identity()
        p = {"v": 1, "ts": round(self.wall(), 3), "device_id": self.device_id, "state": state,
             "athlete": athlete, "leg": leg, "version": __version__}
        if will:
            p["reason"] = "connection lost"
        return p

    def _set_will(self) -> None:
        """The retained ``offline`` status the broker publishes if the connection is lost; it
        is sent with CONNECT, so a change applies from the next (re)connection."""
        self.client.will_set(self.topics.status, json.dumps(self.status_payload("offline", will=True)),
                             qos=1, retain=True)

    def identity_changed(self) -> None:
        """Athlete or leg changed: update the Last Will and, if connected, the status now."""
        self._set_will()
        if self.connected:
            self.client.publish(self.topics.status, json.dumps(self.status_payload("online")), qos=1, retain=True)

    # --- paho callbacks (network thread): flags and queues only ---------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            if str(reason_code) != self._last_refusal:  # once per reason, not every retry
                self._last_refusal = str(reason_code)
                self.log(f"mqtt: broker refused the connection: {reason_code}")
            return
        self._last_refusal = None
        self.connected = True
        client.publish(self.topics.status, json.dumps(self.status_payload("online")), qos=1, retain=True)
        client.subscribe(self.topics.cmd, qos=1)
        self._dirty = True

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None):
        if self.connected and not self._stopping:
            self.log(f"mqtt: disconnected ({reason_code}); retrying")
        self.connected = False

    def _on_publish(self, client, userdata, mid, reason_code=None, properties=None):
        self._acks.put(mid)

    def _on_message(self, client, userdata, msg):
        if msg.topic == self.topics.cmd:
            try:
                self.commands.put_nowait(bytes(msg.payload))
            except queue.Full:  # a command flood: the sender gets no reply for this one
                pass

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.client.connect_async(self.s.host, self.s.port, keepalive=self.s.keepalive_s)
        self.client.loop_start()

    def stop(self, flush_timeout_s: float = 3.0) -> None:
        """Give the outbox a moment to drain, publish an explicit ``offline`` (the Last Will
        does not fire on a clean disconnect), then disconnect."""
        deadline = time.monotonic() + flush_timeout_s
        # Wait for the connection too: a run stopped right after start (or during a reconnect)
        # would otherwise leave a reachable broker without what is pending until the next run.
        while time.monotonic() < deadline:
            self.pump()
            if not self._inflight and not self.store.outbox_pending(after=self._handed_seq, limit=1):
                break
            time.sleep(0.02)
        self.pump()
        self._stopping = True
        if self.connected:
            info = self.client.publish(self.topics.status, json.dumps(self.status_payload("offline")),
                                       qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.5, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False

    # --- the loop's side -------------------------------------------------------------------
    def notify_new(self, seqs: list[int]) -> None:
        if seqs:
            self._dirty = True

    def pump(self) -> None:
        """Apply acks, then hand pending outbox rows to paho (in order) while connected."""
        acked: list[int] = []
        while True:
            try:
                mid = self._acks.get_nowait()
            except queue.Empty:
                break
            seq = self._inflight.pop(mid, None)
            if seq is not None:
                acked.append(seq)
        if acked:
            self.store.outbox_ack(acked)
            self.acked += len(acked)
        if not (self.connected and self._dirty):
            return
        self._dirty = False
        rows = self.store.outbox_pending(after=self._handed_seq, limit=self.drain_batch)
        for row in rows:
            info = self.client.publish(row.topic, row.payload, qos=row.qos, retain=row.retain)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                self._dirty = True  # paho refused (queue full): try again next turn
                break
            self._inflight[info.mid] = row.seq
            self._handed_seq = row.seq
        else:
            if len(rows) == self.drain_batch:
                self._dirty = True

    def publish_live(self, payload: dict) -> None:
        if self.connected:
            self.client.publish(self.topics.live, json.dumps(payload, separators=(",", ":")), qos=0)

    def reply(self, payload: dict) -> None:
        self.client.publish(self.topics.cmd_reply, json.dumps(payload, separators=(",", ":")), qos=1)
