"""The device loop: sensor -> engine -> session store -> MQTT, with feedback and live view.

One thread does all the work (``step()``): read what the sensor has, run the engine, turn its
events into stored rows + outbox messages, answer queued commands, poll the button, drive the
LEDs/buzzer, publish the throttled live angle, pet the systemd watchdog. paho's network
thread only fills queues (mqtt.py), so no state is shared without a queue.

A sample source is anything with ``read() -> (ImuBlock, list[Gap])`` and an ``exhausted``
flag (the sensor driver on a real or simulated bus, or ``PacedSource`` in tests).
"""
from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from kotdevice.device.clock import DeviceClock
from kotdevice.device.commands import CommandHandler
from kotdevice.device.live import Throttle, TerminalView, live_payload
from kotdevice.device.sdnotify import Notifier
from kotdevice.device.session import SessionManager, Topics
from kotdevice.device.store import Store
from kotdevice.errors import KotError
from kotdevice.motion.events import KneeToWallEvent, MountEvent, RepEvent, SetEvent
from kotdevice.samples import Gap, ImuBlock

# Store meta key of the last explicit (button / command / `kotdevice calibrate`) calibration.
MANUAL_MOUNT_KEY = "mount_manual"
# Store meta key prefix of a chip's gyro scale evidence (+ the source's sensor_id).
GYRO_SCALE_KEY = "gyro_scale:"
# ... and of its accelerometer calibration evidence (held poses).
ACCEL_CAL_KEY = "accel_cal:"


class PacedSource:
    """Blocks from an iterable, released as the sample clock reaches them: sample time runs
    ``speed`` x real (monotonic) time. For the simulator and tests."""

    def __init__(self, blocks: Iterable[ImuBlock], speed: float = 1.0, mono: Callable[[], float] = time.monotonic):
        self._it: Iterator[ImuBlock] = iter(blocks)
        self.speed = speed
        self.mono = mono
        self._pending: ImuBlock | None = None
        self._t0_mono: float | None = None
        self._t0_s = 0.0
        self.exhausted = False

    def _next_block(self) -> ImuBlock | None:
        if self._pending is not None and len(self._pending):
            return self._pending
        for b in self._it:
            if len(b):
                self._pending = b
                return b
        self.exhausted = True
        return None

    def read(self) -> tuple[ImuBlock, list[Gap]]:
        out: list[ImuBlock] = []
        while True:
            b = self._next_block()
            if b is None:
                break
            if self._t0_mono is None:
                self._t0_mono, self._t0_s = self.mono(), float(b.t_s[0])
            now_s = self._t0_s + (self.mono() - self._t0_mono) * self.speed
            k = int(np.searchsorted(b.t_s, now_s, side="right"))
            if k == 0:
                break
            out.append(b.slice(0, k))
            self._pending = b.slice(k, len(b))
            if k < len(b):
                break
        return ImuBlock.concat(out), []


@dataclass
class RuntimeOptions:
    duration_s: float | None = None  # stop after this much sample time (None = until stopped)
    loop_period_s: float = 0.02  # how often the sensor FIFO is read (it holds far more)
    live_rate_hz: float = 10.0
    idle_timeout_s: float = 300.0
    clock_check_s: float = 1.0
    error_hold_s: float = 5.0  # error LED stays on this long after a sensor gap


class Runtime:
    def __init__(self, *, device_id: str, topics: Topics, source, engine, store: Store, clock: DeviceClock,
                 link=None, feedback=None, view: TerminalView | None = None, notifier: Notifier | None = None,
                 options: RuntimeOptions | None = None, athlete: str = "", leg: str = "unknown",
                 log: Callable[[str], None] | None = None):
        self.device_id = device_id
        self.topics = topics
        self.source = source
        self.engine = engine
        self.store = store
        self.clock = clock
        self.link = link
        self.feedback = feedback
        self.view = view or TerminalView(enabled=False)
        self.notifier = notifier or Notifier(env={})
        self.opt = options or RuntimeOptions()
        self.log = log or self.view.message
        self.sessions = SessionManager(store, clock, topics, device_id, athlete=athlete, leg=leg,
                                       idle_timeout_s=self.opt.idle_timeout_s)
        self.commands = CommandHandler(device_id, self, wall=clock.now_wall)
        if link is not None:  # the status shows the sessions' athlete and (detected) leg
            link.identity = lambda: (self.sessions.athlete, self.sessions.leg)
            link.identity_changed()
        self.stop_event = threading.Event()
        self.live_throttle = Throttle(self.opt.live_rate_hz)
        self.depth_target_deg: float | None = None
        self._cue_armed = True
        self._rest_angle_deg = 0.0
        self.first_t_s: float | None = None
        self.last_t_s = 0.0
        self.samples = 0
        self.gaps_total = 0  # sensor gaps this run (the gaps themselves are in the store)
        self._last_gap_mono = float("-inf")
        self._next_clock_check = 0.0
        self.reps_total = 0
        self.engine_errors = 0
        self._finished = False

    # --- the loop ------------------------------------------------------------------------
    # The chip's own errors, learned in earlier runs (a head start: they are the chip's, not
    # the session's): store meta key prefix (+ the source's sensor_id), what they are called
    # in the log, the engine's getter / seeder of their evidence, and what the log says of
    # the result.
    _CHIP_CALIBRATIONS = (
        (GYRO_SCALE_KEY, "gyro scale", "gyro_scale_evidence", "seed_gyro_scale",
         lambda eng: f"{eng.gyro_scale:.3f}"),
        (ACCEL_CAL_KEY, "accelerometer calibration", "accel_calibration_evidence",
         "seed_accel_calibration",
         lambda eng: "offset " + ", ".join(f"{1000 * x:+.1f}" for x in eng.accel_offset_g) + " mg"),
    )

    def _chip_key(self, prefix: str) -> str | None:
        sid = getattr(self.source, "sensor_id", None)
        return prefix + sid if sid else None

    def _load_chip_calibration(self) -> None:
        for prefix, what, _, seed, summary in self._CHIP_CALIBRATIONS:
            key = self._chip_key(prefix)
            raw = self.store.get_meta(key) if key else None
            if not raw:
                continue
            try:
                getattr(self.engine, seed)(json.loads(raw))
            except ValueError as e:  # json.JSONDecodeError is a ValueError too
                self.log(f"ignoring the saved {what}: {e}")
                continue
            self.log(f"{what} from earlier runs: {summary(self.engine)}")

    def _save_chip_calibration(self) -> None:
        for prefix, what, evidence, _, _ in self._CHIP_CALIBRATIONS:
            key = self._chip_key(prefix)
            if key:
                try:
                    self.store.set_meta(key, json.dumps(getattr(self.engine, evidence)()))
                except Exception as e:
                    self.log(f"could not save the {what}: {e}")

    def start(self) -> None:
        self._load_chip_calibration()
        seqs = self.sessions.recover()
        if seqs:
            self.log(f"recovered {len(seqs)} unpublished set/session message(s) from an interrupted run")
        if self.link:  # the link drains the whole outbox once connected: no notify_new needed
            self.link.start()

    def run(self) -> int:
        self.start()
        # Read at least as often as the FIFO needs (it fills faster under --speed).
        period = min(self.opt.loop_period_s, getattr(self.source, "poll_interval_s", self.opt.loop_period_s))
        try:
            while not self.stop_event.is_set():
                t_loop = self.clock.mono()
                if not self.step():
                    break
                left = period - (self.clock.mono() - t_loop)
                if left > 0:
                    self.stop_event.wait(left)
        finally:
            self.shutdown()
        return 0

    def request_stop(self) -> None:
        self.stop_event.set()

    def step(self) -> bool:
        """One turn of the loop. False when the source ended or the duration is reached."""
        now = self.clock.mono()
        block, gaps = self.source.read()
        for gap in gaps:
            self._on_gap(gap, now)
        if len(block):
            if self.first_t_s is None:
                self.first_t_s = float(block.t_s[0])
                self.notifier.ready("sensor streaming")
            self.samples += len(block)
            self.last_t_s = float(block.t_s[-1])
            try:
                out = self.engine.process(block)
            except Exception as e:  # an engine bug must not stop recording what was counted
                self.engine_errors += 1
                if self.engine_errors <= 3 or self.engine_errors % 1000 == 0:
                    self.log(f"engine error #{self.engine_errors} (block dropped): {type(e).__name__}: {e}")
                out = None
            if out is not None:
                self._depth_cue(out.tibial_angle_deg, now)
                self._handle_events(out.events)
        if self.notifier.ready_sent:
            self.notifier.watchdog(now)  # from the sampling loop itself: a hung loop gets restarted
        self._handle_commands()
        self._handle_button(now)
        self._publish(self.sessions.tick(self.last_t_s))
        if now >= self._next_clock_check:
            self._next_clock_check = now + self.opt.clock_check_s
            if self.clock.check():
                self.sessions.reanchor()
                self.log("wall clock jumped (time sync); stored times re-anchored")
        self._live(now)
        if self.link:
            self.link.pump()
        if self.opt.duration_s is not None and self.first_t_s is not None \
                and self.last_t_s - self.first_t_s >= self.opt.duration_s:
            return False
        return not getattr(self.source, "exhausted", False)

    def shutdown(self) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            self._handle_events(self.engine.finish())
        except Exception as e:  # never lose the session over an engine problem at exit
            self.log(f"engine finish failed: {type(e).__name__}: {e}")
        self._publish(self.sessions.stop(self.last_t_s, "shutdown"))
        self._save_chip_calibration()
        self.notifier.stopping()
        if self.link:
            self.link.stop()
        if self.feedback:
            self.feedback.set_status(False, False, False)
            self.feedback.close()
        close = getattr(self.source, "close", None)
        if close:
            close()
        self.view.close()

    # --- pieces --------------------------------------------------------------------------
    @property
    def link_connected(self) -> bool:
        return bool(self.link and self.link.connected)

    def _publish(self, seqs: list[int]) -> None:
        if seqs and self.link:
            self.link.notify_new(seqs)
            self.link.pump()  # publish now: rep -> subscriber latency
            # paho's network thread does the socket write; let it take the GIL now rather
            # than after this turn's engine work (a rep every ~2 s: costs nothing).
            time.sleep(0.001)

    def _on_gap(self, gap: Gap, now: float) -> None:
        self.gaps_total += 1
        self._last_gap_mono = now
        self.sessions.record_gap(gap)
        try:
            self._handle_events(self.engine.process_gap(gap))
        except Exception as e:
            self.engine_errors += 1
            self.log(f"engine error on a gap: {type(e).__name__}: {e}")
        self.log(f"sensor gap: {gap.reason}, {gap.samples_lost} samples ({gap.duration_s:.2f} s) at t={gap.start_s:.2f}")

    def _handle_events(self, events) -> None:
        """The one dispatcher of engine events (GapEvent: gaps are recorded from the sensor)."""
        for ev in events or ():
            if isinstance(ev, RepEvent):
                self._publish(self.sessions.on_rep(ev))
                self.reps_total += 1
                self._cue_armed = True
                if self.feedback:
                    self.feedback.rep_beep()
            elif isinstance(ev, SetEvent):
                self._publish(self.sessions.on_set(ev))
                self._save_chip_calibration()  # a power cut loses at most one set's evidence
            elif isinstance(ev, MountEvent):
                try:
                    mount_json = json.dumps(self.engine.mount_dict())
                    self.store.set_meta("mount", mount_json)  # the latest, for diagnostics
                    if ev.reason == "manual":  # an explicit calibration is reused at the next start
                        self.store.set_meta(MANUAL_MOUNT_KEY, mount_json)
                except Exception as e:
                    self.log(f"could not save the mount calibration: {e}")
                if self.sessions.set_detected_leg(ev.leg) and self.link:
                    self.link.identity_changed()
                self.log(f"mount calibrated ({ev.reason}): leg {ev.leg}, strap rotated {ev.rotation_about_shin_deg:+.0f}°")
            elif isinstance(ev, KneeToWallEvent):
                self.sessions.on_knee_to_wall(ev)

    def _depth_cue(self, angles: np.ndarray, now: float) -> None:
        """A distinct cue when the shin reaches the depth target (relative to standing)."""
        tgt = self.depth_target_deg
        if tgt is None or angles is None or not len(angles):
            return  # no target: the standing reference is not needed either
        st = self.engine.state
        stand = (st.extra or {}).get("stand_angle_deg")  # the engine's standing reference, if known
        if stand is not None:
            self._rest_angle_deg = float(stand)
        elif st.activity == "idle":
            self._rest_angle_deg = 0.9 * self._rest_angle_deg + 0.1 * float(np.median(angles))
        rel = np.asarray(angles) - self._rest_angle_deg
        reached = bool(np.any(rel >= tgt))  # the engine only accepts 0 < target <= 90
        if reached and self._cue_armed:
            self._cue_armed = False
            if self.feedback:
                self.feedback.depth_cue(now)
        elif not self._cue_armed and abs(float(rel[-1])) < tgt / 2:
            self._cue_armed = True

    def _handle_commands(self) -> None:
        if not self.link:
            return
        for _ in range(32):  # bounded per turn so a command flood cannot starve the sensor
            try:
                payload = self.link.commands.get_nowait()
            except queue.Empty:
                break
            self.link.reply(self.commands.handle(payload))

    def _handle_button(self, now: float) -> None:
        if not self.feedback:
            return
        try:
            actions = self.feedback.poll(in_set=self.engine.state.activity == "in_set")
            for a in actions:
                if a == "short":
                    (self.cmd_stop if self.sessions.open else self.cmd_start)(by="button")
                elif a == "long":
                    self.cmd_calibrate()
            error = (now - self._last_gap_mono) < self.opt.error_hold_s
            self.feedback.set_status(self.link_connected, self.sessions.open is not None, error)
        except Exception as e:  # a GPIO hiccup must not stop the counting
            self.log(f"feedback error: {type(e).__name__}: {e}")

    def _live(self, now: float) -> None:
        st = self.engine.state
        if self.link_connected and self.live_throttle.ready(now):
            self.link.publish_live(live_payload(
                st, device_id=self.device_id, wall_s=self.clock.now_wall(), session_id=self.sessions.session_id,
                set_no=self.sessions.current_set_no(), total_reps=self.reps_total,
                depth_target_deg=self.depth_target_deg))
        if self.view.enabled:
            self.view.update(now, angle_deg=float(st.tibial_angle_deg), activity=st.activity, exercise=st.exercise,
                             reps=int(st.reps_in_set), session_reps=self.reps_total,
                             connected=self.link_connected,
                             pending=self.link.queued if self.link else 0, session_id=self.sessions.session_id)

    # --- command actions (MQTT commands and the button) ------------------------------------
    def cmd_start(self, by: str = "command") -> dict:
        already = self.sessions.open is not None
        sid = self.sessions.start(self.last_t_s, by)  # the LEDs follow in _handle_button
        return {"session_id": sid, "already_running": already}

    def cmd_stop(self, by: str = "command") -> dict:
        sid = self.sessions.session_id
        if sid is None:
            return {"session_id": None, "stopped": False}
        total = self.sessions.open and sum(self.sessions.open.rep_counts.values())
        self._publish(self.sessions.stop(self.last_t_s, by))
        return {"session_id": sid, "stopped": True, "total_reps": int(total or 0)}

    def cmd_exercise(self, exercise: str | None) -> dict:  # the name was checked by the dispatcher
        self._engine_call("set_exercise", exercise)
        return {"exercise": exercise}

    def cmd_depth_target(self, depth_deg: float | None) -> dict:
        self._engine_call("set_depth_target", depth_deg)
        self.depth_target_deg = depth_deg
        self._cue_armed = True
        return {"depth_deg": depth_deg}

    def cmd_calibrate(self) -> dict:
        self._engine_call("start_calibration")
        self.log("calibration: stand still ~2 s, then lean the knee forward")
        return {"calibrating": True}

    def cmd_mode(self, mode: str) -> dict:
        self._engine_call("set_mode", mode)
        return {"mode": mode}

    def cmd_ping(self) -> dict:
        st = self.engine.state
        return {"pong": True, "session_id": self.sessions.session_id, "t_s": round(self.last_t_s, 3),
                "activity": st.activity, "exercise": st.exercise, "samples": self.samples,
                "gaps": self.gaps_total, "outbox": self.store.outbox_count(), "reps": self.reps_total}

    def cmd_metronome(self, bpm: float) -> dict:
        if self.feedback:
            self.feedback.set_metronome(bpm)
        return {"bpm": bpm}

    def _engine_call(self, name: str, *args) -> None:
        try:
            getattr(self.engine, name)(*args)
        except ValueError as e:  # the engine's one-line refusal
            raise KotError(str(e).splitlines()[0] if str(e) else f"{name} refused") from None


def warm_up_signal(rate_hz: float = 200.0) -> ImuBlock:
    """3 s standing, three squat-like shin swings (35°, 2.4 s each), 3 s standing: enough to
    take the engine through mount learning and rep detection. Synthetic on purpose: the
    simulator would cost the device process memory it never gives back."""
    t = np.arange(int(14.0 * rate_hz)) / rate_hz
    move = (t >= 3.0) & (t < 3.0 + 3 * 2.4)
    phase = 2 * np.pi * (t - 3.0) / 2.4
    theta = np.where(move, np.radians(35.0) * (1 - np.cos(phase)) / 2, 0.0)
    dtheta = np.where(move, np.radians(35.0) * np.sin(phase) / 2 * 2 * np.pi / 2.4, 0.0)
    # CONTRACTS §1: the knee going forward tips +X toward +Z, i.e. a rotation about -Y, and
    # the up vector then has a negative Z component in the sensor frame.
    accel = np.column_stack([np.cos(theta), np.zeros_like(t), -np.sin(theta)])
    gyro = np.column_stack([np.zeros_like(t), -np.degrees(dtheta), np.zeros_like(t)])
    rng = np.random.default_rng(0)
    return ImuBlock(t, accel + rng.normal(0, 0.003, accel.shape), gyro + rng.normal(0, 0.3, gyro.shape))


def warm_up_engine(make_engine: Callable[[], object]) -> float:
    """Run a throwaway engine over a short synthetic set before the sensor starts: the
    engine's numba kernels compile (or load from cache) on first use, which takes seconds on
    a cold cache, and a stall that long on the live stream would overflow the IMU FIFO.
    Returns the seconds spent."""
    t0 = time.perf_counter()
    try:
        blk = warm_up_signal()
        eng = make_engine()
        for i in range(0, len(blk), 40):
            eng.process(blk.slice(i, i + 40))
        eng.finish()
    except Exception:
        pass  # warm-up is an optimisation only
    return time.perf_counter() - t0
