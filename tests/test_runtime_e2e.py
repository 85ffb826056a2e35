"""``kotdevice run --sim`` as a subprocess against a real Mosquitto: a whole simulated session
reaches a subscriber, every message valid; SIGKILL fires the Last Will, and the restarted
device recovers and publishes the interrupted session."""
import json
import os
import signal
import socket
import subprocess
import sys

import jsonschema
import pytest

from kotdevice import schemas
from kotdevice.device.subscriber import Collector

from workouts import SHORT_SESSION  # noqa: E402

pytestmark = pytest.mark.broker

SPEC = SHORT_SESSION
KINDS = {"rep": "rep", "set": "set", "session": "session", "status": "status", "live": "live"}


def device(broker, tmp_path, *args, device_id="kot-e2e", env_extra=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    env.update(env_extra or {})
    return subprocess.Popen(
        [sys.executable, "-m", "kotdevice", "run", "--sim", "--broker", broker.address, "--device-id", device_id,
         "--store", str(tmp_path / "dev.db"), "--quiet", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(tmp_path))


def test_simulated_session_reaches_subscriber_all_messages_valid(tmp_path, mosquitto):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # stands in for systemd
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.05)
    with notify, Collector(mosquitto.host, mosquitto.port, "kot/kot-e2e/#") as sub:
        p = device(mosquitto, tmp_path, "--speed", "20", "--sim-spec", str(spec), "--duration", "75",
                   env_extra={"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "2000000",
                              "INVOCATION_ID": "x"})
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
        notes = []
        try:
            while True:
                notes.append(notify.recv(200).decode())
        except socket.timeout:
            pass
        assert notes[0].startswith("READY=1") and notes[-1] == "STOPPING=1"
        assert notes.count("WATCHDOG=1") >= 2  # petted from the loop (~3 s of real time)
        assert out == b""  # stdout stays clean; logs go to stderr
        assert sub.wait_for(lambda s: s.of("session") and s.of("status")[-1].payload["state"] == "offline", 10)
    for m in sub.messages:
        kind = m.topic.rsplit("/", 1)[1]
        assert m.payload is not None, m.raw
        jsonschema.validate(m.payload, schemas.load(KINDS[kind]))
    reps = sub.unique("rep")
    sets = sub.unique("set")
    session = sub.of("session")[-1].payload
    # (how many reps the engine finds is the engine's business; here: all of them arrive, consistent)
    assert len(reps) >= 6 and len(sets) >= 1
    assert session["total_reps"] == len(reps) == sum(m.payload["reps"] for m in sets.values())
    assert {r for m in sets.values() for r in m.payload["rep_ids"]} == set(reps)
    assert {m.payload["exercise"] for m in sets.values()} <= {"squat", "tib_raise"}
    assert [m.payload["state"] for m in sub.of("status")] == ["online", "offline"]
    live = sub.of("live")
    assert len(live) >= 5
    span_s = live[-1].t_recv_perf - live[0].t_recv_perf
    assert len(live) <= 10 * span_s + 3  # throttled to live.rate_hz (10) in real time
    # the session summary is retained: a kiosk that connects later still gets it
    with Collector(mosquitto.host, mosquitto.port, "kot/kot-e2e/session") as late:
        assert late.wait_for(lambda s: s.of("session"), 5)
        assert late.of("session")[0].retain and late.of("session")[0].payload["id"] == session["id"]


def test_sigkill_fires_last_will_and_restart_recovers_the_session(tmp_path, mosquitto):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    with Collector(mosquitto.host, mosquitto.port, "kot/kot-e2e/#") as sub:
        p = device(mosquitto, tmp_path, "--speed", "20", "--sim-spec", str(spec))
        try:
            # wait until a set is under way: some reps, no set message yet
            assert sub.wait_for(lambda s: len(s.unique("rep")) >= 3, 40), p.stderr.read1().decode()
            assert not sub.of("set")
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        assert sub.wait_for(lambda s: s.of("status")[-1].payload["state"] == "offline", 10)
        will = sub.of("status")[-1].payload
        jsonschema.validate(will, schemas.load("status"))
        assert will.get("reason") == "connection lost"  # the Last Will, not a clean shutdown
        before = set(sub.unique("rep"))

        p2 = device(mosquitto, tmp_path, "--speed", "20", "--duration", "2", "--sim-spec", str(spec))
        out, err = p2.communicate(timeout=60)
        assert p2.returncode == 0, err.decode()
        assert sub.wait_for(lambda s: any(m.payload.get("recovered") for m in s.of("session")), 10)
    recovered = next(m.payload for m in sub.of("session") if m.payload.get("recovered"))
    jsonschema.validate(recovered, schemas.load("session"))
    sid = recovered["session_id"]
    reps_of_session = {i for i in sub.unique("rep") if i.startswith(sid + "-")}
    assert before <= reps_of_session  # every rep seen before the kill belongs to the recovered session
    assert recovered["total_reps"] == len(reps_of_session)  # at most the rep in progress was lost
    set_msgs = [m.payload for m in sub.of("set") if m.payload["session_id"] == sid]
    assert set_msgs and {r for s in set_msgs for r in s["rep_ids"]} == reps_of_session
    assert b"recovered" in err


def test_default_sim_starts_its_own_broker_and_reps_arrive_within_the_first_minute(tmp_path):
    """`kotdevice run --sim` with nothing configured: a local broker whose address is printed
    on stderr, the built-in workout, reps within the first (simulated) minute, the store in
    ~/.local/share/kotdevice/sim.db."""
    import re

    env = {**os.environ, "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    p = subprocess.Popen([sys.executable, "-m", "kotdevice", "run", "--sim", "--speed", "30", "--duration", "60",
                          "--device-id", "kot-default", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(tmp_path))
    sub = None
    try:
        lines = []
        for raw in p.stderr:
            lines.append(raw.decode())
            m = re.search(r"MQTT broker for the kiosk: ([\d.]+):(\d+)", lines[-1])
            if m:
                sub = Collector(m.group(1), int(m.group(2)), "kot/kot-default/#").start()
                break
        assert sub is not None, "".join(lines)
        assert sub.wait_for(lambda s: len(s.unique("rep")) >= 3, 60)
        first = min(m.payload["detected_s"] for m in sub.unique("rep").values())
        p.wait(60)
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
        if sub:
            sub.stop()
    reps = [m.payload for m in sub.unique("rep").values()]
    assert all(r["device_id"] == "kot-default" for r in reps)
    assert first - min(m.payload["t_s"] for m in sub.of("live")) < 60
    assert (tmp_path / ".local/share/kotdevice/sim.db").exists()
