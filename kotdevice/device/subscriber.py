"""A collecting MQTT subscriber: what a kiosk sees. Used by the runtime bench and the tests
(and handy for debugging: ``Collector("localhost", 1883, "kot/#").start()``).

It de-duplicates the way a display should: by the payload ``id`` per topic kind.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt


@dataclass
class Received:
    topic: str
    payload: dict | None
    raw: bytes
    retain: bool
    t_recv_wall: float
    t_recv_perf: float


@dataclass
class Collector:
    host: str
    port: int
    topic: str = "kot/#"
    client_id: str = field(default_factory=lambda: f"collector-{time.monotonic_ns()}")
    messages: list[Received] = field(default_factory=list)
    persistent: bool = False  # keep the session on the broker (messages queue while away)

    def __post_init__(self):
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv311,
                        clean_session=not self.persistent)
        c.on_connect = lambda cl, ud, fl, rc, pr=None: cl.subscribe(self.topic, qos=1)
        c.on_subscribe = lambda *a: self._subscribed.set()
        c.on_message = self._on_message
        c.reconnect_delay_set(0.1, 1.0)
        self.client = c

    def _on_message(self, client, userdata, msg):
        try:
            payload = json.loads(msg.payload)
        except ValueError:
            payload = None
        r = Received(msg.topic, payload, bytes(msg.payload), bool(msg.retain), time.time(), time.perf_counter())
        with self._cond:
            self.messages.append(r)
            self._cond.notify_all()

    def start(self, timeout_s: float = 10.0) -> "Collector":
        self.client.connect_async(self.host, self.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(timeout_s):
            raise TimeoutError(f"could not subscribe at {self.host}:{self.port}")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def publish(self, topic: str, payload, qos: int = 1) -> None:
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        self.client.publish(topic, data, qos=qos)

    # --- queries ---------------------------------------------------------------------------
    def of(self, kind: str) -> list[Received]:
        """Messages whose topic ends with ``/<kind>`` (``rep``, ``set``, ``cmd/reply``, ...)."""
        with self._cond:
            return [m for m in self.messages if m.topic.endswith("/" + kind)]

    def unique(self, kind: str) -> dict[str, Received]:
        out: dict[str, Received] = {}
        for m in self.of(kind):
            if m.payload and "id" in m.payload:
                out.setdefault(m.payload["id"], m)
        return out

    def wait_for(self, predicate, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
            return True
