"""The runtime loop's own logic with a scripted engine (events at given sample times) and
paced still blocks: button actions, depth cue, idle timeout, duration, engine refusals,
engine errors. The real engine/sensor/simulator are in test_runtime_faults/e2e."""
import numpy as np
import pytest
from kotdevice.device.clock import DeviceClock
from kotdevice.device.feedback import Feedback
from kotdevice.device.runtime import PacedSource, Runtime, RuntimeOptions, warm_up_signal
from kotdevice.device.session import Topics
from kotdevice.device.store import Store
from kotdevice.errors import KotError
from kotdevice.motion.events import EngineState, RepEvent, SetEvent
from kotdevice.samples import ImuBlock

# fixtures fake_clock, mock_pins, pin_numbers: tests/conftest.py


class Out:
    def __init__(self, t, angle, events):
        self.t_s, self.tibial_angle_deg, self.frontal_angle_deg, self.events = t, angle, angle * 0, events


class ScriptedEngine:
    """Angle = a function of time; RepEvents at given end times (set 0), SetEvent after."""

    def __init__(self, angle_fn, rep_ends=(), set_end=None, fail_at=None):
        self.angle_fn = angle_fn
        self.rep_ends = list(rep_ends)
        self.set_end = set_end
        self.fail_at = fail_at
        self.state = EngineState()
        self.calls = []
        self.reps = []

    def process(self, block):
        t = block.t_s
        if self.fail_at is not None and t[0] <= self.fail_at <= t[-1]:
            raise RuntimeError("kernel exploded")
        ang = self.angle_fn(t)
        ev = []
        while self.rep_ends and self.rep_ends[0] <= t[-1]:
            end = self.rep_ends.pop(0)
            r = RepEvent("squat", None, 0, len(self.reps) + 1, end - 2, end, 35.0, 30.0, 1, 0, 1, 2, 1, False, end)
            self.reps.append(r)
            ev.append(r)
        if self.set_end is not None and self.set_end <= t[-1] and self.reps:
            ev.append(SetEvent("squat", None, 0, self.reps[0].start_s, self.reps[-1].end_s, tuple(self.reps),
                               35, 35, 0.0))
            self.set_end = None
        self.state = EngineState(t_s=float(t[-1]), tibial_angle_deg=float(ang[-1]),
                                 activity="in_set" if self.reps and self.set_end else "idle",
                                 exercise="squat" if self.reps else None,
                                 extra={"stand_angle_deg": float(self.angle_fn(np.zeros(1))[0])})
        return Out(t, ang, ev)

    def process_gap(self, gap):
        return []

    def finish(self):
        return []

    def __getattr__(self, name):  # set_exercise, set_mode, start_calibration, ...
        if name.startswith(("set_", "start_")):
            def call(*a):
                if name == "set_mode" and a[0] == "bogus":
                    raise ValueError("unknown mode 'bogus'\nmore detail")
                self.calls.append((name, *a))
            return call
        raise AttributeError(name)


def still_blocks(seconds, rate=200.0, block=20):
    n = int(seconds * rate)
    t = np.arange(n) / rate
    for i in range(0, n, block):
        s = slice(i, i + block)
        yield ImuBlock(t[s], np.tile([1.0, 0, 0], (len(t[s]), 1)), np.zeros((len(t[s]), 3)))


def make(tmp_path, engine, seconds, *, clock, feedback=None, idle=300.0, duration=None, link=None):
    src = PacedSource(still_blocks(seconds), speed=1.0, mono=clock)
    dc = DeviceClock(wall=lambda: 1.7e9 + clock(), mono=clock, boot_id="b", synced_probe=None)
    return Runtime(device_id="d", topics=Topics("kot", "d"), source=src, engine=engine,
                   store=Store(tmp_path / "r.db"), clock=dc, feedback=feedback, link=link,
                   options=RuntimeOptions(idle_timeout_s=idle, duration_s=duration), log=lambda m: None)


def run_steps(rt, clock, dt=0.02, until=None, actions=None):
    actions = dict(actions or {})
    rt.start()
    while True:
        clock.t += dt
        for t_act in sorted(k for k in actions if k <= clock.t):
            actions.pop(t_act)()
        if not rt.step() or (until and clock.t >= until):
            break
    rt.shutdown()


def test_button_short_press_toggles_session_and_long_press_calibrates(tmp_path, mock_pins, pin_numbers, fake_clock):
    clock = fake_clock
    fb = Feedback(pin_numbers, clock=clock)
    eng = ScriptedEngine(lambda t: t * 0)
    rt = make(tmp_path, eng, 12.0, clock=clock, feedback=fb)
    btn = fb.button.pin
    run_steps(rt, clock, actions={
        1.0: btn.drive_low, 1.2: btn.drive_high,  # short: start
        4.0: btn.drive_low, 4.1: btn.drive_high,  # short: stop
        6.0: btn.drive_low, 8.5: btn.drive_high,  # long: calibrate, no toggle
    })
    rows = rt.store.query("SELECT started_by, ended_by, start_t_s, end_t_s FROM sessions")
    assert [(r["started_by"], r["ended_by"]) for r in rows] == [("button", "button")]
    assert rows[0]["start_t_s"] == pytest.approx(1.25, abs=0.1) and rows[0]["end_t_s"] == pytest.approx(4.15, abs=0.1)
    assert eng.calls == [("start_calibration",)]


def test_depth_cue_once_per_rep_and_beep_per_rep(tmp_path, mock_pins, pin_numbers, fake_clock):
    clock = fake_clock
    fb = Feedback(pin_numbers, clock=clock)
    # two squat-like swings to 40° (target 30° from standing at 5°), reps end at 6 and 9 s
    def angle(t):
        return 5 + np.where((t > 3) & (t < 9), 35 * np.abs(np.sin(np.pi * (t - 3) / 3)), 0)
    eng = ScriptedEngine(angle, rep_ends=[6.0, 9.0], set_end=11.0)
    rt = make(tmp_path, eng, 12.0, clock=clock, feedback=fb)
    rt.cmd_depth_target(30.0)
    freqs = []
    orig = fb._schedule

    def spy(now, pattern, hz):
        freqs.append(hz)
        orig(now, pattern, hz)

    fb._schedule = spy
    run_steps(rt, clock)
    assert freqs.count(3200) == 2  # one depth cue per rep
    assert freqs.count(2000) == 2  # one beep per rep
    assert eng.calls == [("set_depth_target", 30.0)]


def test_idle_timeout_and_duration(tmp_path, fake_clock):
    clock = fake_clock
    eng = ScriptedEngine(lambda t: t * 0, rep_ends=[3.0, 5.0], set_end=7.0)
    rt = make(tmp_path, eng, 60.0, clock=clock, idle=10.0, duration=30.0)
    run_steps(rt, clock)
    assert rt.last_t_s == pytest.approx(30.0, abs=0.1)  # stopped by --duration (sample time)
    s = rt.store.one("SELECT * FROM sessions")
    assert s["ended_by"] == "idle" and s["end_t_s"] == pytest.approx(5.0)
    assert rt.store.one("SELECT status FROM sets")["status"] == "closed"


def test_engine_refusal_is_an_error_reply_and_engine_errors_do_not_stop_the_loop(tmp_path, fake_clock):
    clock = fake_clock
    eng = ScriptedEngine(lambda t: t * 0, rep_ends=[8.0], fail_at=4.0)
    rt = make(tmp_path, eng, 10.0, clock=clock)
    r = rt.commands.handle(b'{"id": "m", "cmd": "mode", "mode": "knee_to_wall"}')
    assert r["ok"] and eng.calls[-1] == ("set_mode", "knee_to_wall")
    with pytest.raises(KotError, match="^unknown mode 'bogus'$"):  # the engine's first line only
        rt.cmd_mode("bogus")
    run_steps(rt, clock)
    assert rt.engine_errors == 1 and rt.reps_total == 1  # the rep after the error still counted


@pytest.mark.parametrize("depth", ["0", "-10", "90.5", "500", "NaN"])
def test_depth_target_out_of_the_engines_range_is_an_error_reply(tmp_path, fake_clock, depth):
    from kotdevice.motion.engine import EngineSettings, MotionEngine

    rt = make(tmp_path, MotionEngine(EngineSettings()), 1.0, clock=fake_clock)
    r = rt.commands.handle(f'{{"id": "d", "cmd": "depth_target", "depth_deg": {depth}}}')
    assert r["ok"] is False and "between 0 and 90" in r["error"] and rt.depth_target_deg is None
    r = rt.commands.handle(b'{"id": "d", "cmd": "depth_target", "depth_deg": 90}')
    assert r["ok"] and rt.depth_target_deg == 90


def test_paced_source_releases_samples_at_speed(fake_clock):
    clock = fake_clock
    src = PacedSource(still_blocks(10.0, block=64), speed=4.0, mono=clock)
    b, _ = src.read()
    assert len(b) == 1  # the first sample at once
    clock.t = 0.5  # 2 s of sample time
    b, _ = src.read()
    assert b.t_s[-1] == pytest.approx(2.0, abs=0.01)
    clock.t = 10
    b, _ = src.read()
    assert b.t_s[-1] == pytest.approx(10.0 - 1 / 200) and src.read()[0].t_s.size == 0 and src.exhausted


def test_warm_up_signal_is_a_plausible_squat_set():
    from kotdevice.motion.engine import EngineSettings, MotionEngine

    b = warm_up_signal()
    assert len(b) == 14 * 200
    assert np.allclose(np.linalg.norm(b.accel_g, axis=1), 1, atol=0.02)
    assert 30 < np.abs(b.gyro_dps[:, 1]).max() < 120  # a squat's shin rate
    # the warm-up takes the engine through mount learning and rep counting (all its kernels)
    e = MotionEngine(EngineSettings())
    out = e.process(b)
    kinds = [type(x).__name__ for x in out.events + e.finish()]
    assert "MountEvent" in kinds and kinds.count("RepEvent") == 3
    assert 25 < out.tibial_angle_deg.max() < 45  # knee forward = positive (CONTRACTS §1)


def test_real_sensor_path_wiring(tmp_path, monkeypatch):
    """``sim=False`` goes through open_real_bus + open_sensor with the config's sensor keys;
    here the "real" bus is an emulated chip on wall-clock time."""
    import time

    import kotdevice.sensor as sensor_pkg
    from kotdevice.device import config as C
    from kotdevice.device.app import build_runtime
    from kotdevice.sensor import StillSource, make_sim_bus

    opened = []

    def fake_open_real_bus(n):
        opened.append(n)
        return make_sim_bus(chip="mpu6500", source=StillSource(rate_hz=500), address=0x69)

    monkeypatch.setattr(sensor_pkg, "open_real_bus", fake_open_real_bus)
    cfg = C.Config()
    cfg.values[("", "device_id")] = "kot-real"
    cfg.values[("store", "path")] = str(tmp_path / "real.db")
    cfg.set("sensor", "bus", 3)
    cfg.set("sensor", "address", 0x69)
    cfg.set("sensor", "odr_hz", 100)
    rt = build_runtime(C.resolve(cfg, sim=False), host="127.0.0.1", port=1, sim=False, feedback=False,
                       warm_up=False)
    try:
        assert opened == [3]
        assert rt.source.sensor.address == 0x69 and rt.source.sensor.odr_hz == pytest.approx(100, rel=0.05)
        rt.start()
        t_end = time.monotonic() + 5.0
        while time.monotonic() < t_end and rt.samples < 30:
            rt.step()
            time.sleep(0.02)
        assert rt.samples >= 30 and rt.notifier.ready_sent
    finally:
        rt.shutdown()
        rt.store.close()


def test_fuzzed_commands_never_stop_the_loop(tmp_path, fake_clock):
    """Random command sequences (valid and not) against the real Runtime actions, with loop
    turns in between: every payload gets a schema-valid reply and the loop keeps going."""
    import json

    import jsonschema
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from kotdevice import schemas

    clock = fake_clock
    eng = ScriptedEngine(lambda t: 5 + 0 * t, rep_ends=[float(k) for k in range(2, 400, 3)])
    rt = make(tmp_path, eng, 1000.0, clock=clock, idle=20.0)
    rt.start()
    reply_schema = schemas.load("cmd_reply")
    values = st.none() | st.booleans() | st.integers(-1000, 1000) | st.floats() | st.text(max_size=12)
    cmd = st.fixed_dictionaries(
        {"id": st.text(min_size=1, max_size=8)},
        optional={"cmd": st.sampled_from(["start", "stop", "exercise", "depth_target", "calibrate", "ping", "mode",
                                          "metronome", "jump"]) | values,
                  "exercise": st.sampled_from(["squat", "tib_raise", "backward_walk", None]) | values,
                  "depth_deg": st.floats(-100, 100) | values, "mode": st.sampled_from(["reps", "knee_to_wall"]) | values,
                  "bpm": st.integers(0, 300) | values})
    payloads = cmd.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=64)

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(payloads, min_size=1, max_size=4))
    def check(batch):
        for p in batch:
            r = rt.commands.handle(p)
            jsonschema.validate(r, reply_schema)
        clock.t += 0.2
        assert rt.step()

    check()
    rt.shutdown()
    assert rt.reps_total >= 10  # reps kept flowing between the commands (~50 s of samples)
    open_rows = rt.store.query("SELECT * FROM sessions WHERE status != 'closed' OR ended_by IS NULL")
    assert open_rows == []
    reps = rt.store.one("SELECT COUNT(*) n FROM reps")["n"]
    assert reps == rt.reps_total  # every rep stored in some session


def test_no_jit_runs_the_engine_without_numba_and_gives_the_same_events():
    import json
    import subprocess
    import sys

    from kotdevice.motion.engine import EngineSettings, MotionEngine

    code = r"""
import sys, json
from kotdevice.motion.engine import MotionEngine, EngineSettings
from kotdevice.device.runtime import warm_up_signal
e = MotionEngine(EngineSettings())
out = e.process(warm_up_signal())
ev = out.events + e.finish()
print(json.dumps({"stub": "numba" not in sys.modules,
                  "llvmlite": "llvmlite" in sys.modules, "angles": out.tibial_angle_deg.tolist(),
                  "events": [[type(x).__name__, round(getattr(x, "peak_angle_deg", 0.0), 3)] for x in ev]}))
"""
    import os

    env = dict(os.environ, KOTDEVICE_JIT="0")
    stub = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     check=True, env=env).stdout)
    e = MotionEngine(EngineSettings())  # this process: the real JIT
    out = e.process(warm_up_signal())
    ev = out.events + e.finish()
    jit_events = [[type(x).__name__, round(getattr(x, "peak_angle_deg", 0.0), 3)] for x in ev]
    assert stub["stub"] is True and stub["llvmlite"] is False
    assert stub["events"] == jit_events
    # identical, not merely close (floats survive the JSON round trip exactly)
    assert np.array_equal(np.array(stub["angles"]), out.tibial_angle_deg, equal_nan=True)


def test_an_explicit_calibration_is_saved_and_reused_at_the_next_start(tmp_path, fake_clock):
    import json

    from kotdevice.device.app import _saved_manual_mount
    from kotdevice.device.runtime import MANUAL_MOUNT_KEY
    from kotdevice.motion.events import MountEvent

    mount = {"version": 1, "right_axis": [0.0, 0.866, -0.5], "up_stand": [0.99, 0.0, 0.14], "leg": "left"}

    class MountEngine(ScriptedEngine):
        def mount_dict(self):
            return mount

    clock = fake_clock
    rt = make(tmp_path, MountEngine(lambda t: t * 0), 1.0, clock=clock)
    rt._handle_events([MountEvent(0.5, "initial", 30.0, "left")])
    assert rt.store.get_meta(MANUAL_MOUNT_KEY) is None  # a learned mount is not carried over
    rt._handle_events([MountEvent(0.7, "manual", 30.0, "left")])
    assert json.loads(rt.store.get_meta(MANUAL_MOUNT_KEY)) == mount
    lines = []
    assert _saved_manual_mount(rt.store, lines.append) == mount
    assert "saved calibration" in lines[-1]
    rt.store.set_meta(MANUAL_MOUNT_KEY, json.dumps({**mount, "right_axis": [0, 0, 0]}))
    assert _saved_manual_mount(rt.store, lines.append) is None
    assert lines[-1].startswith("ignoring the saved calibration: ") and "right_axis" in lines[-1]


def test_knee_to_wall_results_are_stored_and_a_detected_leg_reaches_the_status(tmp_path, fake_clock):
    from kotdevice.motion.events import KneeToWallEvent, MountEvent

    class Link:  # what the runtime needs of MqttLink for these events
        connected = False
        changes = 0

        def identity_changed(self):
            self.changes += 1

    class MountEngine(ScriptedEngine):
        def mount_dict(self):
            return {}

    link = Link()
    rt = make(tmp_path, MountEngine(lambda t: t * 0), 1.0, clock=fake_clock, link=link)
    assert link.identity() == (None, "unknown")  # config leg "unknown", no athlete
    rt._handle_events([MountEvent(0.5, "initial", 30.0, "right")])
    assert link.identity() == (None, "right") and link.changes == 2  # at start-up, then the new leg
    rt._handle_events([MountEvent(0.6, "readjusted", 30.0, "right")])
    assert link.changes == 2  # unchanged leg: nothing to republish
    rt._handle_events([KneeToWallEvent(t_s=0.8, leg="right", angle_deg=38.5, hold_s=2.0)])
    assert rt.store.one("SELECT started_by, leg FROM sessions")[:] == ("knee_to_wall", "right")
    assert rt.store.one("SELECT angle_deg FROM knee_to_wall")["angle_deg"] == 38.5


def test_the_learned_chip_calibration_is_kept_per_chip_for_the_next_run(tmp_path, fake_clock):
    """A gyro reading 10 % small and an accelerometer 20 mg off are learned during a run,
    saved under the chip's name, and the next run on the same chip starts corrected; another
    chip or a damaged record does not."""
    import json

    from kotdevice.device.runtime import ACCEL_CAL_KEY, GYRO_SCALE_KEY
    from kotdevice.motion.engine import MotionEngine
    from test_fusion import _squats_with_holds

    t, acc, gyr, _, _ = _squats_with_holds(0.9)
    acc = acc + [0.02, 0.0, 0.0]  # across the held poses' plane (they swing about Y, Z up)

    class ChipSource(PacedSource):
        sensor_id = "mpu6050@i2c-1:0x68"

    def runtime(blocks, lines, source_cls=ChipSource):
        src = source_cls(blocks, speed=1.0, mono=fake_clock)
        dc = DeviceClock(wall=lambda: 1.7e9 + fake_clock(), mono=fake_clock, boot_id="b", synced_probe=None)
        return Runtime(device_id="d", topics=Topics("kot", "d"), source=src, engine=MotionEngine(),
                       store=Store(tmp_path / "r.db"), clock=dc, options=RuntimeOptions(), log=lines.append)

    lines = []
    rt = runtime((ImuBlock(t[i:i + 20], acc[i:i + 20], gyr[i:i + 20]) for i in range(0, len(t), 20)), lines)
    run_steps(rt, fake_clock)
    saved = json.loads(rt.store.get_meta(GYRO_SCALE_KEY + ChipSource.sensor_id))
    assert saved["pairs"] >= 20 and saved["accel_turn_deg"] / saved["gyro_turn_deg"] == pytest.approx(1 / 0.9, abs=0.03)
    learned_offset = rt.engine.accel_offset_g
    assert learned_offset[0] > 0.005
    assert json.loads(rt.store.get_meta(ACCEL_CAL_KEY + ChipSource.sensor_id))["poses"] >= 20

    lines = []
    rt2 = runtime(still_blocks(1.0), lines)
    rt2.start()  # before any sample: the chip's scale is already applied
    assert rt2.engine.gyro_scale == pytest.approx(1 / 0.9, abs=0.03)
    assert any(m.startswith("gyro scale from earlier runs: 1.1") for m in lines)
    assert rt2.engine.accel_offset_g[0] == pytest.approx(learned_offset[0], rel=0.3)
    assert any(m.startswith("accelerometer calibration from earlier runs: offset +") for m in lines)
    rt2.shutdown()

    class OtherChip(PacedSource):
        sensor_id = "lsm6dso@i2c-1:0x6a"
    rt3 = runtime(still_blocks(1.0), [], OtherChip)
    rt3.start()
    assert rt3.engine.gyro_scale == 1.0 and not rt3.engine.accel_offset_g.any()
    rt3.shutdown()

    rt.store.set_meta(GYRO_SCALE_KEY + ChipSource.sensor_id, '{"accel_turn_deg": 5}')
    rt.store.set_meta(ACCEL_CAL_KEY + ChipSource.sensor_id, '{"poses": 5}')
    lines = []
    rt4 = runtime(still_blocks(1.0), lines)
    rt4.start()
    assert rt4.engine.gyro_scale == 1.0
    assert any(m.startswith("ignoring the saved gyro scale: ") for m in lines)
    assert any(m.startswith("ignoring the saved accelerometer calibration: ") for m in lines)
    assert not rt4.engine.accel_offset_g.any()
    rt4.shutdown()
