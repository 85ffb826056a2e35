"""``kotdevice run``: the device loop (IMU -> engine -> SQLite -> MQTT, button/LEDs/buzzer)."""
from __future__ import annotations

import argparse


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="run the device loop (real IMU, or --sim for the simulated athlete)",
        description="Read the IMU, run the motion engine, record sessions in SQLite and publish them over "
                    "MQTT. With --sim and nothing else: a simulated workout on an emulated IMU and a local "
                    "broker, so a kiosk sees reps within the first minute.")
    p.add_argument("--config", metavar="PATH", help="TOML config (default /etc/kotdevice/config.toml if present)")
    p.add_argument("--sim", action="store_true", help="simulated athlete on an emulated IMU instead of the real bus")
    p.add_argument("--broker", metavar="HOST:PORT", help="MQTT broker (overrides broker.host/port)")
    p.add_argument("--device-id", metavar="ID", help="device id (overrides device_id)")
    p.add_argument("--speed", type=_positive, default=1.0, metavar="X",
                   help="--sim: simulated time runs X times real time (default 1)")
    p.add_argument("--duration", type=_positive, metavar="S",
                   help="stop after S seconds of sample time (default: run until stopped)")
    p.add_argument("--seed", type=int, default=0, help="--sim: random seed of the simulated workout")
    p.add_argument("--sim-spec", metavar="FILE.json", help="--sim: workout spec (see docs/sim.md); default: "
                   "the built-in realistic workout, repeated")
    p.add_argument("--sim-chip", default="mpu6050", help="--sim: emulated IMU chip (default mpu6050)")
    p.add_argument("--store", metavar="PATH", help="SQLite file (overrides store.path)")
    p.add_argument("--quiet", action="store_true", help="no live terminal line")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import os
    import signal
    import sys

    from kotdevice.device import config as cfgmod
    from kotdevice.device.clock import DeviceClock
    from kotdevice.device.feedback import make_feedback
    from kotdevice.device.live import TerminalView
    from kotdevice.device.mqtt import BrokerSettings, MqttLink
    from kotdevice.device.runtime import Runtime, RuntimeOptions
    from kotdevice.device.sdnotify import Notifier
    from kotdevice.device.session import Topics
    from kotdevice.device.store import Store
    from kotdevice.errors import KotError

    cfg = cfgmod.load(args.config, required=bool(args.config))
    if args.broker:
        host, port = cfgmod.parse_host_port(args.broker, cfg.get("broker", "port"))
        cfg.values[("broker", "host")] = host
        cfg.values[("broker", "port")] = port
    if args.device_id:
        cfg.source = "--device-id"
        cfg.set("", "device_id", args.device_id)
    if args.store:
        cfg.values[("store", "path")] = args.store
    if (args.speed != 1.0 or args.sim_spec) and not args.sim:
        raise KotError("--speed and --sim-spec only apply with --sim")
    cfg = cfgmod.resolve(cfg, sim=args.sim)
    spec = None
    if args.sim_spec:
        try:
            with open(args.sim_spec, encoding="utf-8") as f:
                spec = json.load(f)
        except (OSError, ValueError) as e:
            raise KotError(f"{args.sim_spec}: cannot read the workout spec: {e}") from None

    view = TerminalView(enabled=False if args.quiet else None)
    log = view.message
    device_id = cfg.device_id
    local_broker = None
    store = source = None
    try:
        host = cfg.get("broker", "host")
        if not host and args.sim:
            from kotdevice.device.broker import start_local_broker

            local_broker = start_local_broker()
            host, port = local_broker.host, local_broker.port
            print(f"kotdevice: MQTT broker for the kiosk: {host}:{port} (topics {cfg.prefix}/{device_id}/#)",
                  file=sys.stderr, flush=True)
        else:
            host, port = host or "localhost", cfg.get("broker", "port")

        store = Store(cfg.get("store", "path"))
        if args.sim:
            from kotdevice.device.sources import open_sim_source

            source = open_sim_source(speed=args.speed, seed=args.seed, spec=spec,
                                     loop=args.duration is None and spec is None, chip=args.sim_chip,
                                     odr_hz=cfg.get("sensor", "odr_hz"), accel_fs_g=cfg.get("sensor", "accel_fs_g"),
                                     gyro_fs_dps=cfg.get("sensor", "gyro_fs_dps"), log=log)
        else:
            from kotdevice.device.sources import open_real_source

            source = open_real_source(bus_number=cfg.get("sensor", "bus"), address=cfg.get("sensor", "address"),
                                      odr_hz=cfg.get("sensor", "odr_hz"), accel_fs_g=cfg.get("sensor", "accel_fs_g"),
                                      gyro_fs_dps=cfg.get("sensor", "gyro_fs_dps"))

        from kotdevice.motion.engine import EngineSettings, MotionEngine

        engine = MotionEngine(EngineSettings(), exercise=None, mount=None)
        leg = cfg.get("", "leg")
        if leg in ("left", "right") and hasattr(engine, "set_leg"):
            engine.set_leg(leg)

        clock = DeviceClock()
        topics = Topics(cfg.prefix, device_id)
        b = BrokerSettings(host=host, port=port, username=cfg.get("broker", "username"),
                           password=cfg.get("broker", "password"), tls=cfg.get("broker", "tls"),
                           ca_file=cfg.get("broker", "ca_file"), cert_file=cfg.get("broker", "cert_file"),
                           key_file=cfg.get("broker", "key_file"), keepalive_s=cfg.get("broker", "keepalive_s"))
        athlete = cfg.get("", "athlete")
        link = MqttLink(b, topics, device_id, store, athlete=athlete or None, leg=leg, wall=clock.now_wall, log=log)
        pins = {k: cfg.get("pins", k) for k in ("button", "led_connected", "led_recording", "led_error", "buzzer")}
        feedback = make_feedback(pins, mock=args.sim, log=log)
        rt = Runtime(device_id=device_id, topics=topics, source=source, engine=engine, store=store, clock=clock,
                     link=link, feedback=feedback, view=view, notifier=Notifier(),
                     options=RuntimeOptions(duration_s=args.duration, live_rate_hz=cfg.get("live", "rate_hz"),
                                            idle_timeout_s=cfg.get("session", "idle_timeout_s")),
                     athlete=athlete, leg=leg, log=log)
        source = None  # the runtime closes it now

        def on_signal(signum, frame):
            rt.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        log(f"kotdevice: device {device_id} running ({'simulated' if args.sim else 'real'} IMU"
            f"{f', speed x{args.speed:g}' if args.speed != 1 else ''}); store {store.path}; pid {os.getpid()}")
        rc = rt.run()
        log(f"kotdevice: stopped after {rt.reps_total} reps; {store.outbox_count()} message(s) still queued")
        return rc
    finally:
        if source is not None:
            source.close()
        if store is not None:
            store.close()
        if local_broker is not None:
            local_broker.stop()
