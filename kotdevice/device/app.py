"""Assemble a ``Runtime`` from a resolved config: store, sensor source (real or simulated),
engine, MQTT link, feedback. Shared by ``kotdevice run``, ``kotdevice bench runtime`` and the
integration tests, so they all exercise the same wiring."""
from __future__ import annotations

import os
from typing import Callable

from kotdevice.device.clock import DeviceClock
from kotdevice.device.config import Config, sensor_settings
from kotdevice.device.live import TerminalView
from kotdevice.device.mqtt import BrokerSettings, MqttLink
from kotdevice.device.runtime import MANUAL_MOUNT_KEY, Runtime, RuntimeOptions, warm_up_engine
from kotdevice.device.sdnotify import Notifier
from kotdevice.device.session import Topics
from kotdevice.device.store import Store

PIN_KEYS = ("button", "led_connected", "led_recording", "led_error", "buzzer")


def build_runtime(cfg: Config, *, host: str, port: int, sim: bool, speed: float = 1.0, seed: int = 0,
                  spec: dict | None = None, loop: bool = True, chip: str = "lsm6ds3", faults=None,
                  duration_s: float | None = None, clock: DeviceClock | None = None,
                  view: TerminalView | None = None, log: Callable[[str], None] | None = None,
                  notifier: Notifier | None = None, feedback: bool = True, warm_up: bool = True,
                  reconnect_s: tuple[float, float] = (0.5, 30.0), loop_period_s: float = 0.02) -> Runtime:
    """Build (not start) the device. The caller owns ``rt.store`` (close it after ``run``)."""
    view = view or TerminalView(enabled=False)
    log = log or view.message
    device_id = cfg.device_id
    store = Store(cfg.get("store", "path"))
    source = bus = job = None
    try:
        if sim:  # the athlete is simulated in a helper process while the engine warms up
            from kotdevice.device.sources import SimJob

            job = SimJob(spec, seed)
        else:  # fail fast (before the engine warm-up) when there is no I2C bus
            from kotdevice.sensor import open_real_bus

            bus = open_real_bus(cfg.get("sensor", "bus"))
        from kotdevice.motion.engine import EngineSettings, MotionEngine

        if warm_up:  # compile the engine's kernels before the sensor's FIFO starts filling
            warm_up_engine(lambda: MotionEngine(EngineSettings()))
        engine = MotionEngine(EngineSettings(), exercise=None, mount=_saved_manual_mount(store, log))
        leg = cfg.get("", "leg")
        if leg in ("left", "right"):
            engine.set_leg(leg)
        sensor_kw = sensor_settings(cfg)
        if sim:
            from kotdevice.device.sources import open_sim_source

            source = open_sim_source(speed=speed, seed=seed, spec=spec, loop=loop, chip=chip, faults=faults,
                                     log=log, first_job=job, **sensor_kw)
            job = None
        else:
            from kotdevice.device.sources import open_real_source

            source = open_real_source(bus_number=cfg.get("sensor", "bus"), address=cfg.get("sensor", "address"),
                                      bus=bus, **sensor_kw)
        clock = clock or DeviceClock()
        topics = Topics(cfg.prefix, device_id)
        b = BrokerSettings(host=host, port=port, username=cfg.get("broker", "username"),
                           password=cfg.get("broker", "password"), tls=cfg.get("broker", "tls"),
                           ca_file=cfg.get("broker", "ca_file"), cert_file=cfg.get("broker", "cert_file"),
                           key_file=cfg.get("broker", "key_file"), keepalive_s=cfg.get("broker", "keepalive_s"),
                           reconnect_min_s=reconnect_s[0], reconnect_max_s=reconnect_s[1])
        athlete = cfg.get("", "athlete")
        link = MqttLink(b, topics, device_id, store, wall=clock.now_wall, log=log)  # athlete/leg: the Runtime's
        fb = None
        if feedback:
            from kotdevice.device.feedback import make_feedback

            # --sim drives mock pins, unless a pin factory is named explicitly (a simulated
            # athlete with the real button, LEDs and buzzer of a Pi, e.g. for a demo).
            mock = sim and not os.environ.get("GPIOZERO_PIN_FACTORY")
            fb = make_feedback({k: cfg.get("pins", k) for k in PIN_KEYS}, mock=mock, log=log)
        return Runtime(device_id=device_id, topics=topics, source=source, engine=engine, store=store, clock=clock,
                       link=link, feedback=fb, view=view, notifier=notifier or Notifier(),
                       options=RuntimeOptions(duration_s=duration_s, live_rate_hz=cfg.get("live", "rate_hz"),
                                              idle_timeout_s=cfg.get("session", "idle_timeout_s"),
                                              loop_period_s=loop_period_s),
                       athlete=athlete, leg=leg, log=log)
    except BaseException:
        if job is not None:
            job.cancel()
        if source is not None:
            source.close()
        elif bus is not None:
            bus.close()
        store.close()
        raise


def _saved_manual_mount(store: Store, log: Callable[[str], None]) -> dict | None:
    """The last explicit calibration, if any and still valid. The engine still notices a
    re-strapped sensor (the movement axis moves) and re-learns, so this is only a head start."""
    import json

    from kotdevice.motion.mount import Mount

    raw = store.get_meta(MANUAL_MOUNT_KEY)
    if not raw:
        return None
    try:
        mount = json.loads(raw)
        Mount.from_dict(mount)  # validates; ValueError names the problem
    except ValueError as e:
        log(f"ignoring the saved calibration: {e}")
        return None
    log("using the saved calibration (from an explicit calibrate)")
    return mount
