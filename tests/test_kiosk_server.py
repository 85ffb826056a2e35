"""The kiosk server against a real Mosquitto: HTTP endpoints, Server-Sent Events, reconnects,
restart recovery (retained messages + SQLite), garbage resistance, and the CLI."""
import http.client
import json
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kotdevice.kiosk import fakedev
from kotdevice.kiosk.fakedev import FakeDevice
from kotdevice.kiosk.server import STATIC_DIR, KioskServer
from kotdevice.errors import KotError

pytestmark = pytest.mark.broker


def wait(pred, timeout_s=10.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def get(url, path):
    with urllib.request.urlopen(url + path.lstrip("/"), timeout=5) as r:
        return r.status, r.headers, r.read()


class SSE:
    """A minimal EventSource: reads the stream in a thread into a queue of (event, data)."""

    def __init__(self, server: KioskServer):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
        self.conn.request("GET", "/api/events")
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        assert self.resp.getheader("Content-Type") == "text/event-stream"
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        event, data = "message", []
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if not line:
                    if data:
                        self.q.put((event, json.loads("\n".join(data))))
                    event, data = "message", []
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
        except (OSError, ValueError):
            pass
        self.q.put(("closed", None))

    def next(self, name, pred=lambda d: True, timeout_s=10.0):
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {name!r} event")
            ev, data = self.q.get(timeout=left)
            if ev == name and pred(data):
                return data

    def close(self):
        self.conn.close()


@pytest.fixture
def kiosk(mosquitto, tmp_path):
    logs = []
    k = KioskServer(mosquitto.address, bind="127.0.0.1", http_port=0, db_path=tmp_path / "k.db",
                    log=logs.append).start()
    k.logs = logs
    wait(lambda: k.broker_connected, what="kiosk connected to broker")
    yield k
    k.stop()


@pytest.fixture
def device(mosquitto):
    devs = []

    def make(dev_id="d1", **kw):
        d = FakeDevice(mosquitto.address, dev_id, **kw).connect()
        devs.append(d)
        return d
    yield make
    for d in devs:
        d.close()


def test_page_and_assets_are_served_locally(kiosk):
    status, headers, body = get(kiosk.url, "/")
    assert status == 200 and b"/static/kiosk.js" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    for name in ("kiosk.js", "kiosk.css", "favicon.svg"):
        status, _, _ = get(kiosk.url, f"/static/{name}")
        assert status == 200
    for bad in ("/static/../server.py", "/static/%2e%2e/server.py", "/static/", "/nope", "/api/history"):
        with pytest.raises(urllib.error.HTTPError) as e:
            get(kiosk.url, bad)
        assert e.value.code in (400, 404)


def test_assets_reference_nothing_outside_the_kiosk():
    # The gym has no internet: no CDN, no web fonts, no external URL of any kind.
    for f in STATIC_DIR.iterdir():
        text = f.read_text()
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, (f.name, urls)


def test_page_script_never_turns_data_into_html():
    js = (STATIC_DIR / "kiosk.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink


def test_events_stream_snapshot_then_updates_without_duplicates(kiosk, device):
    d = device("d1", athlete="Ann")
    wait(lambda: "d1" in kiosk.snapshot()["devices"][0]["id"] if kiosk.snapshot()["devices"] else None)
    sse = SSE(kiosk)
    try:
        snap = sse.next("snapshot")
        assert [t["id"] for t in snap["devices"]] == ["d1"] and snap["broker"]["connected"]
        for rep_no in (1, 2):
            m = fakedev.rep_msg("d1", d.session_id, 1, rep_no, 30.0)
            d.publish("rep", m)
            d.publish("rep", m)  # redelivery
        t = sse.next("tile", lambda t: t["reps"] == 2)
        assert t["last_rep"]["rep_no"] == 2
        d.live(12.0, "in_set", 2, set_no=1)
        live = sse.next("live")
        assert live == {**live, "id": "d1", "angle_deg": 12.0, "reps": 2}
        state = json.loads(get(kiosk.url, "/api/state")[2])
        assert state["devices"][0]["reps"] == 2 and state["stats"]["duplicates"] == 2
    finally:
        sse.close()


def test_garbage_on_the_wire_does_not_stop_the_kiosk(kiosk, device):
    d = device("d1")
    for payload in (b"", b"\x00\xff", b"[]", b"{" * 100000, b'{"v":1}', b"null"):
        for kind in ("status", "live", "rep", "set", "session"):
            d.publish_raw(kind, payload)
    d.live(7.0, "idle", 0)
    wait(lambda: kiosk.snapshot()["devices"] and kiosk.snapshot()["devices"][0]["angle_deg"] == 7.0,
         what="valid message after garbage")
    assert kiosk.snapshot()["stats"]["rejected"] == 30
    assert get(kiosk.url, "/healthz")[0] == 200


def test_reconnects_after_a_broker_outage(mosquitto, kiosk, device):
    sse = SSE(kiosk)
    try:
        sse.next("snapshot")
        mosquitto.stop()
        assert sse.next("broker", lambda b: not b["connected"]) == {"connected": False}
        mosquitto.start()
        assert sse.next("broker", lambda b: b["connected"], timeout_s=20) == {"connected": True}
        d = device("after")
        d.live(3.0, "idle", 0)
        assert sse.next("tile", lambda t: t["id"] == "after")["state"] == "online"
    finally:
        sse.close()


def test_a_restarted_kiosk_restores_tiles_and_history(mosquitto, tmp_path, device):
    db = tmp_path / "k.db"
    d = device("d1", athlete="Ann", leg="left")
    d.publish("session", fakedev.session_msg("d1", "s1", [("squat", 12, 33.0)], athlete="Ann",
                                             knee_to_wall=[("left", 38.0)]), retain=True)
    with KioskServer(mosquitto.address, bind="127.0.0.1", http_port=0, db_path=db, log=lambda m: None) as k1:
        wait(lambda: k1.store.athletes() == ["Ann"], what="session stored")
    # the kiosk restarts: retained status + session rebuild the tile; SQLite keeps the history
    with KioskServer(mosquitto.address, bind="127.0.0.1", http_port=0, db_path=db, log=lambda m: None) as k2:
        tiles = wait(lambda: k2.snapshot()["devices"], what="retained messages")
        wait(lambda: k2.snapshot()["devices"][0]["last_session"], what="retained session")
        t = k2.snapshot()["devices"][0]
        assert (t["athlete"], t["state"], t["last_session"]["total_reps"]) == ("Ann", "online", 12)
        h = json.loads(get(k2.url, "/api/history?key=Ann")[2])
        assert len(h["sessions"]) == 1 and h["weeks"][0]["knee_to_wall"] == {"left": 38.0}
        assert h["devices"] == [{"id": "d1", "leg": "left", "state": "online"}]
        assert tiles


def test_last_will_marks_the_device_offline(kiosk, mosquitto):
    proc = subprocess.Popen([sys.executable, "-m", "kotdevice.kiosk.fakedev", "--broker", mosquitto.address,
                             "--id", "lw", "--reps", "2", "--speed", "40", "--hold"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "done"
        wait(lambda: kiosk.snapshot()["devices"] and kiosk.snapshot()["devices"][0]["reps"] == 2)
        proc.kill()  # unclean: the broker publishes the Last Will after the keepalive lapses
        proc.wait()
        wait(lambda: kiosk.snapshot()["devices"][0]["state"] == "offline", timeout_s=15, what="Last Will")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# Valid addresses and most bad ones are covered by test_device_config.py (the parser's home);
# these bad ones are not.
@pytest.mark.parametrize("text", ["", "host:", ":1883", "[::1"])
def test_kiosk_refuses_a_bad_broker_address(text, tmp_path):
    with pytest.raises(KotError):
        KioskServer(text, db_path=tmp_path / "k.db")


def run_cli(*args, timeout=20):
    return subprocess.run([sys.executable, "-m", "kotdevice", "kiosk", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_cli_bad_arguments_are_one_clear_line(tmp_path):
    r = run_cli("--broker", "localhost:notaport", "--db", str(tmp_path / "k.db"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().count("\n") == 0 and "port must be a number" in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        r = run_cli("--broker", "127.0.0.1:1", "--bind", "127.0.0.1", "--http-port", str(busy),
                    "--db", str(tmp_path / "k.db"))
    assert r.returncode == 2 and "cannot serve HTTP" in r.stderr and "Traceback" not in r.stderr


def test_cli_unreadable_password_file_is_one_clear_line(tmp_path):
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    for bad in (tmp_path / "missing", tmp_path, binary):  # no such file, a directory, not text
        r = run_cli("--broker", "127.0.0.1:1", "--bind", "127.0.0.1", "--http-port", "0", "--username", "kiosk",
                    "--password-file", str(bad), "--db", str(tmp_path / "k.db"))
        assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.strip().count("\n") == 0
        assert f"cannot read the broker password from --password-file {bad}" in r.stderr


def test_kiosk_process_never_imports_matplotlib(tmp_path):
    """kotdevice-kiosk.service gives the kiosk no cache dir for matplotlib (MPLCONFIGDIR)."""
    code = ("import sys; from kotdevice.cli import build_parser; from kotdevice.kiosk.server import KioskServer\n"
            "build_parser()  # imports every command module, as `kotdevice kiosk` does\n"
            "k = KioskServer('127.0.0.1:1', bind='127.0.0.1', http_port=0, db_path=sys.argv[1], log=print).start()\n"
            "k.history('x'); k.athletes(); k.stop()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "k.db")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "[]", r.stdout + r.stderr


def test_cli_serves_and_stops_cleanly_on_sigterm(mosquitto, tmp_path):
    from kiosk_cli import broker_connected, kiosk_cli  # tests/kiosk_cli.py

    with kiosk_cli(["--broker", mosquitto.address], tmp_path / "k.db") as url:
        assert broker_connected(url, timeout_s=10.0)
    assert Path(tmp_path / "k.db").exists()


@pytest.mark.slow
def test_real_device_runtime_feeds_the_kiosk(kiosk, mosquitto, tmp_path):
    """`kotdevice run --sim` (the real device loop on a simulated IMU) -> Mosquitto -> kiosk:
    its payloads pass the kiosk's validation, reps count up, and SIGKILL fires its Last Will."""
    proc = subprocess.Popen([sys.executable, "-m", "kotdevice", "run", "--sim", "--broker", mosquitto.address,
                             "--device-id", "simdev", "--speed", "10", "--duration", "600", "--quiet",
                             "--store", str(tmp_path / "dev.db")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def tile():
            devs = kiosk.snapshot()["devices"]
            return devs[0] if devs else None
        wait(lambda: tile() and tile()["last_set"], timeout_s=40, what="a finished set from the device")
        t = tile()
        assert t["state"] == "online" and t["last_set"]["reps"] > 0 and t["session_reps"] >= t["last_set"]["reps"]
        assert t["last_rep"]["peak_angle_deg"] is not None and t["angle_deg"] is not None
        assert kiosk.snapshot()["stats"]["rejected"] == 0, kiosk.snapshot()["stats"]["last_error"]
        proc.kill()
        proc.wait()
        wait(lambda: tile()["state"] == "offline", timeout_s=15, what="the device's Last Will")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_page_that_falls_far_behind_is_dropped_not_buffered_forever(monkeypatch):
    from kotdevice.kiosk import server as server_mod

    monkeypatch.setattr(server_mod, "CLIENT_QUEUE", 3)
    hub = server_mod._Hub()
    slow, fast = hub.subscribe(), hub.subscribe()
    for i in range(3):
        hub.broadcast("live", {"i": i})
        fast.queue.get_nowait()  # this page keeps up
    hub.broadcast("live", {"i": 3})
    assert slow.dropped and not fast.dropped and hub.count == 1
    assert fast.queue.get_nowait() == b'event: live\ndata: {"i":3}\n\n'
