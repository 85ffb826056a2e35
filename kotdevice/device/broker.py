"""Start a local MQTT broker: Mosquitto in the foreground if installed, else embedded amqtt.

Used by the tests (a real broker on a free loopback port) and by ``kotdevice run --sim`` when
no broker is configured, so a fresh machine gets the full experience with one command.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )


class MosquittoBroker:
    """A Mosquitto process with its own config in a temp dir. ``stop()``/``start()`` may be
    called repeatedly (same port) to simulate the broker going away and coming back."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1",
                 ws_port: int | None = None, extra_conf: str = "", own_session: bool = False):
        exe = mosquitto_path()
        if exe is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.exe = exe
        self.host = host
        self.port = port or free_port(host)
        self.ws_port = ws_port
        self.dir = Path(tempfile.mkdtemp(prefix="kot-mosq-"))
        # the config and log go with the object (stop/start may repeat until then)
        weakref.finalize(self, shutil.rmtree, self.dir, ignore_errors=True)
        conf = [f"listener {self.port} {host}", "allow_anonymous true", "persistence false",
                "log_dest stderr", "log_type error", "log_type warning"]
        if ws_port:
            conf += [f"listener {ws_port} {host}", "protocol websockets"]
        self.conf_path = self.dir / "mosquitto.conf"
        self.conf_path.write_text("\n".join(conf) + "\n" + extra_conf)
        self.proc: subprocess.Popen | None = None
        # own_session: not in the terminal's process group, so Ctrl-C reaches only the parent,
        # which can still publish its "offline" status and session before stopping the broker.
        self.own_session = own_session

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> "MosquittoBroker":
        if self.proc and self.proc.poll() is None:
            return self
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf_path)],
            stdout=subprocess.DEVNULL, stderr=open(self.dir / "mosquitto.log", "ab"),
            start_new_session=self.own_session,
        )
        if not wait_port(self.host, self.port, timeout_s):
            self.stop()
            raise RuntimeError(f"mosquitto did not listen on {self.address}; see {self.dir}/mosquitto.log")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> "MosquittoBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class EmbeddedBroker:
    """amqtt (pure Python, MQTT 3.1.1) in a background thread: the fallback when Mosquitto is
    not installed. Only for the local default experience, not for production."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1"):
        self.host = host
        self.port = port or free_port(host)
        self._thread: threading.Thread | None = None
        self._loop = None
        self._broker = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> "EmbeddedBroker":
        import asyncio

        from amqtt.broker import Broker  # optional dependency, imported only when needed

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        started = threading.Event()

        def runner():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=runner, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not started.wait(timeout_s) or not wait_port(self.host, self.port, timeout_s):
            raise RuntimeError(f"embedded broker did not start on {self.address}")
        return self

    def stop(self) -> None:
        import asyncio

        if self._loop and self._broker:
            fut = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            try:
                fut.result(5)
            except Exception:
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._broker = self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def start_local_broker(port: int | None = None):
    """Mosquitto if installed, else the embedded broker. Prints which to stderr."""
    if mosquitto_path():
        b = MosquittoBroker(port, own_session=True).start()
        print(f"started Mosquitto on {b.address}", file=sys.stderr)
        return b
    b = EmbeddedBroker(port).start()
    print(f"Mosquitto not installed; started embedded amqtt broker on {b.address}", file=sys.stderr)
    return b
