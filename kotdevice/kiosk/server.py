"""The kiosk server: subscribes to the devices over MQTT and pushes updates to the pages with
Server-Sent Events (stdlib ``ThreadingHTTPServer``; no CDN, no extra dependency).

Endpoints: ``/`` (the page), ``/static/*`` (its assets), ``/api/state`` (snapshot of every
tile), ``/api/events`` (SSE: a ``snapshot`` first, then ``tile``/``live``/``remove``/``broker``
events), ``/api/history?key=ATHLETE`` (last set's angle trace + weekly progress),
``/api/athletes``, ``/healthz``.
"""
from __future__ import annotations

import json
import os
import queue
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from kotdevice.device.config import parse_host_port
from kotdevice.errors import KotError
from kotdevice.kiosk.state import KioskState
from kotdevice.kiosk.store import HistoryStore

STATIC_DIR = Path(__file__).with_name("static")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml",
                 ".png": "image/png", ".ico": "image/x-icon"}
# Defence in depth against device-supplied strings: no inline script, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self';"
                               " img-src 'self' data:; connect-src 'self'; object-src 'none';"
                               " base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
CLIENT_QUEUE = 5000      # events buffered per page (25 s of 20 devices at 10 Hz)
HEARTBEAT_S = 10.0       # an SSE comment this often keeps proxies and dead-peer detection honest


class _Client:
    def __init__(self):
        self.queue: queue.Queue = queue.Queue(maxsize=CLIENT_QUEUE)
        self.dropped = False


class _Hub:
    """Fan-out of server-sent events to every connected page."""

    def __init__(self):
        self._lock = threading.Lock()
        self._clients: list[_Client] = []

    def subscribe(self) -> _Client:
        c = _Client()
        with self._lock:
            self._clients.append(c)
        return c

    def unsubscribe(self, c: _Client) -> None:
        with self._lock:
            if c in self._clients:
                self._clients.remove(c)

    def broadcast(self, event: str, data) -> None:
        chunk = f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
        with self._lock:
            for c in list(self._clients):
                try:
                    c.queue.put_nowait(chunk)
                except queue.Full:
                    # A page this far behind is hung up on; its EventSource reconnects and
                    # gets a fresh snapshot, which is worth more than a stale backlog.
                    c.dropped = True
                    self._clients.remove(c)

    def close(self) -> None:
        """The server is stopping: wake every page's event stream so its handler ends now
        (the page's EventSource sees the connection close and reconnects)."""
        with self._lock:
            for c in self._clients:
                c.dropped = True
                try:
                    c.queue.put_nowait(b"")
                except queue.Full:
                    pass  # its handler is busy writing the backlog and sees `dropped` next
            self._clients.clear()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._clients)


class KioskServer:
    def __init__(self, broker: str, *, prefix: str = "kot", bind: str = "0.0.0.0",
                 http_port: int = 8080, db_path: str | os.PathLike | None = None,
                 hide_offline_after_s: float | None = 7200.0, log=None,
                 username: str = "", password: str = "", tls: bool = False, ca_file: str = ""):
        self.broker_host, self.broker_port = parse_host_port(broker)
        # The gym broker's ACL gives the kiosk account read-only access (systemd/mosquitto/).
        self.credentials = dict(username=username, password=password, tls=tls, ca_file=ca_file)
        self.prefix = prefix.strip("/")
        if not self.prefix or any(c in self.prefix for c in "+#"):
            raise KotError(f"--prefix {prefix!r}: must be a non-empty topic prefix without + or #")
        self.bind = bind
        self.http_port = http_port
        self.hide_offline_after_s = hide_offline_after_s
        self.log = log or (lambda msg: print(f"kiosk: {msg}", file=sys.stderr, flush=True))
        self.state = KioskState(self.prefix)
        from kotdevice.kiosk.store import default_db_path

        self.store = HistoryStore(db_path or default_db_path())
        self.hub = _Hub()
        self.broker_connected = False
        self._lock = threading.Lock()   # guards self.state (MQTT thread vs HTTP threads)
        self._hidden: set[str] = set()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._mqtt = None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        host = self.bind if self.bind not in ("0.0.0.0", "::", "") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.http_port}/"

    def start(self) -> "KioskServer":
        self._start_http()
        self._start_mqtt()
        threading.Thread(target=self._housekeeping, name="kiosk-housekeeping", daemon=True).start()
        return self

    def request_stop(self) -> None:
        """Make ``serve_forever`` return (safe from a signal handler); the caller then calls ``stop``."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()
            self._mqtt = None
        if self._httpd is not None:
            self.hub.close()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self.store.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def serve_forever(self) -> None:
        self._stop.wait()

    def _start_http(self) -> None:
        handler = type("Handler", (_Handler,), {"kiosk": self})
        server_cls = ThreadingHTTPServer
        if ":" in self.bind:
            server_cls = type("V6Server", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
        try:
            self._httpd = server_cls((self.bind, self.http_port), handler)
        except OSError as e:
            raise KotError(f"cannot serve HTTP on {self.bind}:{self.http_port}: {e.strerror or e}") from None
        self._httpd.daemon_threads = True
        self.http_port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                         name="kiosk-http", daemon=True).start()

    def _start_mqtt(self) -> None:
        import paho.mqtt.client as mqtt

        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                        client_id=f"kotkiosk-{socket.gethostname()[:20]}-{uuid.uuid4().hex[:8]}",
                        protocol=mqtt.MQTTv311, clean_session=True)
        from kotdevice.device.mqtt import BrokerSettings, apply_credentials

        apply_credentials(c, BrokerSettings(**self.credentials))
        c.reconnect_delay_set(min_delay=0.5, max_delay=10)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        self._mqtt = c
        # connect_async: a broker that is down at start is retried, not fatal.
        c.connect_async(self.broker_host, self.broker_port, keepalive=15)
        c.loop_start()

    # -- MQTT callbacks (paho's network thread) ----------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.log(f"broker {self.broker_host}:{self.broker_port} refused: {reason_code}")
            return
        client.subscribe(self.state.subscriptions())
        self.broker_connected = True
        self.log(f"connected to broker {self.broker_host}:{self.broker_port}")
        self.hub.broadcast("broker", {"connected": True})

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if self.broker_connected and not self._stop.is_set():
            self.log(f"lost the broker ({reason_code}); reconnecting")
        self.broker_connected = False
        self.hub.broadcast("broker", {"connected": False})

    def _on_message(self, client, userdata, msg):
        try:
            now = time.time()
            with self._lock:
                applied = self.state.apply(msg.topic, msg.payload, now)
                if applied.session is not None:
                    self.store.add_session(applied.session)
                for name, data in applied.events:
                    if name == "tile":
                        self._hidden.discard(data["id"])
                    self.hub.broadcast(name, data)
        except Exception as e:  # never let one message kill the subscriber thread
            self.log(f"error handling {msg.topic[:120]!r}: {e!r}")

    def _housekeeping(self) -> None:
        # Devices offline for long drop off the board (their retained status stays on the broker).
        while not self._stop.wait(5.0):
            if self.hide_offline_after_s is None:
                continue
            with self._lock:
                visible = {d.device_id for d in self.state.visible(time.time(), self.hide_offline_after_s)}
                for dev_id in list(self.state.devices):
                    if dev_id not in visible and dev_id not in self._hidden:
                        self._hidden.add(dev_id)
                        self.hub.broadcast("remove", {"id": dev_id})

    # -- views for the HTTP handler ------------------------------------------------------
    def snapshot(self) -> dict:
        with self._lock:
            snap = self.state.snapshot(time.time(), self.hide_offline_after_s)
        snap["broker"] = {"connected": self.broker_connected,
                          "address": f"{self.broker_host}:{self.broker_port}"}
        snap["server_time"] = time.time()
        snap["prefix"] = self.prefix
        return snap

    def history(self, key: str) -> dict:
        h = self.store.history(key)
        with self._lock:
            devs = self.state.devices_of(key)
            h["traces"] = [d.last_set_trace() for d in devs]
            h["devices"] = [{"id": d.device_id, "leg": d.leg, "state": d.state} for d in devs]
        return h

    def athletes(self) -> list[str]:
        keys = list(self.store.athletes())
        with self._lock:
            keys += [d.history_key for d in self.state.devices.values()]
        return list(dict.fromkeys(keys))


class _Handler(BaseHTTPRequestHandler):
    kiosk: KioskServer
    server_version = "kotdevice-kiosk"
    sys_version = ""
    timeout = 30  # socket timeout: a page that vanished without a FIN cannot pin a thread forever

    def log_message(self, fmt, *args):  # request logs would drown the console at 200 events/s
        pass

    def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _error(self, status: int, what: str) -> None:
        self._send(status, (what + "\n").encode(), "text/plain; charset=utf-8")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        url = urlsplit(self.path)
        path = url.path
        try:
            if path in ("/", "/index.html"):
                return self._static("index.html")
            if path.startswith("/static/"):
                return self._static(path[len("/static/"):])
            if path == "/api/state":
                return self._json(self.kiosk.snapshot())
            if path == "/api/events":
                return self._events()
            if path == "/api/history":
                key = parse_qs(url.query).get("key", [""])[0]
                if not key or len(key) > 200:
                    return self._error(400, "history needs ?key=ATHLETE (athlete name or device id)")
                return self._json(self.kiosk.history(key))
            if path == "/api/athletes":
                return self._json(self.kiosk.athletes())
            if path == "/healthz":
                snap = self.kiosk.snapshot()
                return self._json({"ok": True, "broker": snap["broker"], "stats": snap["stats"],
                                   "pages": self.kiosk.hub.count})
            return self._error(404, f"no such page: {path[:200]}")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _static(self, name: str) -> None:
        # Only plain file names from the static folder: no "..", no sub-paths, no symlink escape.
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return self._error(404, "no such file")
        f = (STATIC_DIR / name).resolve()
        if f.parent != STATIC_DIR.resolve() or not f.is_file():
            return self._error(404, "no such file")
        self._send(200, f.read_bytes(), CONTENT_TYPES.get(f.suffix, "application/octet-stream"))

    def _events(self) -> None:
        hub = self.kiosk.hub
        client = hub.subscribe()  # before the snapshot, so nothing falls between the two
        q = client.queue
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Accel-Buffering", "no")
            for k, v in SECURITY_HEADERS.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command == "HEAD":
                return
            snap = json.dumps(self.kiosk.snapshot(), separators=(",", ":"))
            # retry: how soon EventSource reconnects after the kiosk restarts
            self.wfile.write(f"retry: 1000\nevent: snapshot\ndata: {snap}\n\n".encode())
            while not self.kiosk._stop.is_set():
                try:
                    chunk = q.get(timeout=HEARTBEAT_S)
                except queue.Empty:
                    self.wfile.write(b": ping\n\n")
                    continue
                chunks = [chunk]
                while len(chunks) < 200:  # one write for everything already waiting
                    try:
                        chunks.append(q.get_nowait())
                    except queue.Empty:
                        break
                self.wfile.write(b"".join(chunks))
                if client.dropped:
                    return
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            pass
        finally:
            hub.unsubscribe(client)
