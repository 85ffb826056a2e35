"""The device runtime with the REAL sensor driver on a SimBus, the REAL engine and the athlete
simulator, against a real Mosquitto: broker outage, wall-clock jump, I2C faults, the button
and buzzer, commands through the broker. Simulated time runs fast (``speed``)."""
import os
import time

import jsonschema
import pytest

from kotdevice import schemas
from kotdevice.device import config as C
from kotdevice.device.app import build_runtime
from kotdevice.device.broker import MosquittoBroker
from kotdevice.device.clock import DeviceClock
from kotdevice.device.subscriber import Collector

from workouts import SHORT_SESSION  # noqa: E402

pytestmark = pytest.mark.broker

SPEC = SHORT_SESSION
KINDS = {"rep": "rep", "set": "set", "session": "session", "status": "status", "live": "live",
         "reply": "cmd_reply"}


def cfg_for(tmp_path, **over):
    cfg = C.Config(source="test")
    cfg.values[("", "device_id")] = "kot-test"
    cfg.values[("store", "path")] = str(tmp_path / "dev.db")
    for (sec, key), v in over.items():
        cfg.set(sec, key, v)
    return C.resolve(cfg, sim=True)


def make_rt(tmp_path, broker, *, speed=20.0, cfg_over=None, **kw):
    cfg = cfg_for(tmp_path, **(cfg_over or {}))
    kw.setdefault("spec", SPEC)
    return build_runtime(cfg, host=broker.host, port=broker.port, sim=True, speed=speed, seed=1, loop=False,
                         reconnect_s=(0.1, 0.4), **kw)


def drive(rt, on_step=None, timeout_s=30.0):
    """Run the loop from the test thread so the test can act at given points of the session."""
    rt.start()
    deadline = time.monotonic() + timeout_s
    period = min(rt.opt.loop_period_s, rt.source.poll_interval_s)
    try:
        while time.monotonic() < deadline:
            if on_step:
                on_step(rt)
            if not rt.step():
                return
            time.sleep(period)
        raise AssertionError("the simulated session did not finish in time")
    finally:
        rt.shutdown()


def validate(msgs):
    for m in msgs:
        kind = m.topic.rsplit("/", 1)[1]
        jsonschema.validate(m.payload, schemas.load(KINDS[kind]))


def db_rep_ids(rt):
    return {r["id"] for r in rt.store.query("SELECT id FROM reps")}


def persistent_broker():
    """Mosquitto that keeps sessions across a restart, so a kiosk (persistent subscriber)
    misses nothing however the reconnects race."""
    b = MosquittoBroker()
    os.chmod(b.dir, 0o777)  # mosquitto drops root privileges before writing its database
    b.conf_path.write_text(b.conf_path.read_text().replace(
        "persistence false", f"persistence true\npersistence_location {b.dir}/\nautosave_interval 0"))
    return b.start()


def test_broker_down_30s_mid_session_every_rep_delivered_once_by_id(tmp_path):
    broker = persistent_broker()
    sub = Collector(broker.host, broker.port, "kot/kot-test/#", client_id="kiosk", persistent=True).start()
    rt = make_rt(tmp_path, broker)
    outage = {}

    def on_step(rt):
        if "down_at" not in outage and rt.reps_total >= 3:
            broker.stop()  # 30 s of simulated time without a broker
            outage.update(down_at=rt.last_t_s, reps_before=rt.reps_total)
        elif "down_at" in outage and "up_at" not in outage and rt.last_t_s - outage["down_at"] >= 30.0:
            outage.update(up_at=rt.last_t_s, reps_during=rt.reps_total - outage["reps_before"],
                          outbox_during=rt.store.outbox_count())
            broker.start()

    try:
        drive(rt, on_step)
        assert "up_at" in outage
        assert outage["reps_during"] >= 3 and outage["outbox_during"] >= 3  # reps really were held back
        ids = db_rep_ids(rt)
        assert len(ids) == rt.reps_total >= 8
        assert sub.wait_for(lambda s: set(s.unique("rep")) == ids and len(s.of("session")) >= 1, 20)
        assert rt.store.outbox_count() == 0
        reps = sub.of("rep")
        validate(reps + sub.of("set") + sub.of("session"))
        # de-duplicated by id, the display counts exactly what the device counted
        assert len(sub.unique("rep")) == len(ids)
        session = sub.of("session")[-1].payload
        assert session["total_reps"] == len(ids)
        assert sum(m.payload["reps"] for m in sub.unique("set").values()) == len(ids)
        # per-set rep numbers are contiguous: nothing lost in the middle
        by_set = {}
        for m in sub.unique("rep").values():
            by_set.setdefault(m.payload["set_no"], []).append(m.payload["rep_no"])
        for nos in by_set.values():
            assert sorted(nos) == list(range(1, len(nos) + 1))
    finally:
        rt.store.close()
        sub.stop()
        broker.stop()


def test_wall_clock_jump_mid_session_keeps_durations_and_order(tmp_path, mosquitto):
    year = 365 * 86400.0
    state = {"jumped": False}
    real_start = time.time()

    def wall():  # a Pi without RTC: a year behind until time sync arrives
        return time.time() - (0.0 if state["jumped"] else year)

    clock = DeviceClock(wall=wall, synced_probe=None)
    rt = make_rt(tmp_path, mosquitto, clock=clock)

    def on_step(rt):
        if not state["jumped"] and rt.reps_total >= 4:
            state["jumped"] = True

    with Collector(mosquitto.host, mosquitto.port, "kot/kot-test/#") as sub:
        drive(rt, on_step)
        assert sub.wait_for(lambda s: s.of("session"), 10)
    real_end = time.time()
    try:
        assert state["jumped"] and clock.jumps == 1
        s = sub.of("session")[-1].payload
        reps = sorted((m.payload for m in sub.unique("rep").values()), key=lambda p: (p["set_no"], p["rep_no"]))
        # duration from the sample clock: covers the reps, and not a year
        assert reps[-1]["end_s"] - reps[0]["start_s"] <= s["duration_s"] <= 80
        # stored wall times were re-anchored to the synced clock
        assert real_start - 1 <= s["started_at"] <= s["ended_at"] <= real_end + 1
        assert s["ended_at"] - s["started_at"] <= real_end - real_start + 1
        # one stored session, and the message carries its seq (the order of sessions; that a
        # later one sorts after it across a jump: test_device_session)
        rows = rt.store.query("SELECT seq FROM sessions ORDER BY seq")
        assert [r["seq"] for r in rows] == [s["seq"]]
    finally:
        rt.store.close()


def test_i2c_errors_and_disconnect_session_continues_with_gap_recorded(tmp_path, mosquitto):
    from kotdevice.sensor import FaultConfig

    # unplugged for 1.5 s in the middle of the squat set (bus clock = simulated time), plus
    # random bus errors throughout
    faults = FaultConfig(error_rate=0.01, disconnect_at_s=11.0, disconnect_ms=1500, seed=3)
    rt = make_rt(tmp_path, mosquitto, faults=faults)
    with Collector(mosquitto.host, mosquitto.port, "kot/kot-test/#") as sub:
        drive(rt)
        assert sub.wait_for(lambda s: s.of("session"), 10)
    try:
        sessions = rt.store.query("SELECT seq FROM sessions")
        assert len(sessions) == 1  # one session across the fault
        stored = rt.store.query("SELECT * FROM gaps")
        assert len(stored) == rt.gaps_total
        assert any(g["reason"] == "disconnect" and g["session_seq"] == sessions[0]["seq"] for g in stored)
        gap = next(g for g in stored if g["reason"] == "disconnect")
        assert gap["duration_s"] >= 1.0
        reps = [m.payload for m in sub.unique("rep").values()]
        assert any(p["start_s"] > gap["start_s"] + gap["duration_s"] for p in reps)  # counting went on
        assert rt.reps_total >= 8
        summary = sub.of("session")[-1].payload
        jsonschema.validate(summary, schemas.load("session"))
        assert any(g["reason"] == "disconnect" for g in summary["gaps"])
    finally:
        rt.store.close()


def test_mock_button_starts_session_and_each_rep_beeps(tmp_path, mosquitto):
    from kotdevice.device.feedback import use_mock_pins

    use_mock_pins().reset()  # fresh pin histories (earlier runtimes used the same pins)
    rt = make_rt(tmp_path, mosquitto, speed=10.0, duration_s=24.0)
    fb = rt.feedback
    assert fb is not None
    buzzer_pin, recording_pin = fb.buzzer.pin, fb.led_recording.pin  # closed at shutdown
    pressed = {}

    def on_step(rt):
        if rt.samples and "down" not in pressed:  # before the first rep (3 s standing)
            fb.button.pin.drive_low()
            pressed["down"] = time.monotonic()
        elif "down" in pressed and "up" not in pressed and time.monotonic() - pressed["down"] > 0.15:
            fb.button.pin.drive_high()
            pressed["up"] = rt.last_t_s

    try:
        drive(rt, on_step)
        row = rt.store.one("SELECT * FROM sessions ORDER BY seq LIMIT 1")
        assert row["started_by"] == "button"
        assert row["start_t_s"] < min(r["start_s"] for r in rt.store.query("SELECT start_s FROM reps"))
        states = [s.state for s in buzzer_pin.states]
        beeps = sum(1 for a, b in zip(states, states[1:]) if a == 0 and b > 0)
        assert rt.reps_total >= 6 and beeps == rt.reps_total
        assert any(s.state == 1 for s in recording_pin.states)
    finally:
        rt.store.close()


def test_commands_through_the_broker_get_replies_and_act(tmp_path, mosquitto):
    rt = make_rt(tmp_path, mosquitto, duration_s=12.0)
    forced = []  # what reached the engine's set_exercise (its state shows "squat" in a squat set anyway)
    set_exercise = rt.engine.set_exercise
    rt.engine.set_exercise = lambda ex: (forced.append(ex), set_exercise(ex))
    cmds = [b'{"id": "c1", "cmd": "start"}', b"{{garbage", b'{"id": "c2", "cmd": "exercise", "exercise": "curl"}',
            b'{"id": "c3", "cmd": "exercise", "exercise": "squat"}', b'{"id": "c4", "cmd": "depth_target", "depth_deg": 25}',
            b'{"id": "c5", "cmd": "ping"}', b'{"id": "c6", "cmd": "stop"}']
    sent = {}
    with Collector(mosquitto.host, mosquitto.port, "kot/kot-test/#") as sub:
        def on_step(rt):
            if rt.link.connected and not sent:
                time.sleep(0.1)  # the device's subscription is in place
                for c in cmds:
                    sub.publish("kot/kot-test/cmd", c)
                sent["at"] = rt.last_t_s

        drive(rt, on_step)
        assert sub.wait_for(lambda s: len(s.of("cmd/reply")) >= len(cmds), 10)
    try:
        replies = sub.of("cmd/reply")
        validate(replies)
        by_id = {m.payload["id"]: m.payload for m in replies}
        assert by_id["c1"]["ok"] and by_id["c1"]["result"]["session_id"]
        assert by_id[None]["ok"] is False and "malformed JSON" in by_id[None]["error"]
        assert by_id["c2"]["ok"] is False and "'exercise' must be one of" in by_id["c2"]["error"]
        assert by_id["c3"]["ok"] and by_id["c4"]["ok"] and by_id["c5"]["result"]["pong"]
        assert by_id["c6"]["ok"] and by_id["c6"]["result"]["stopped"]
        first = rt.store.one("SELECT * FROM sessions ORDER BY seq LIMIT 1")
        assert first["started_by"] == "command" and first["ended_by"] == "command"
        assert rt.depth_target_deg == 25
        assert forced == ["squat"]  # c3 reached the engine; c2 ("curl") was refused before it
    finally:
        rt.store.close()
