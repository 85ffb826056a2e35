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
    p.add_argument("--sim-chip", default="lsm6ds3",
                   help="--sim: emulated IMU chip (default lsm6ds3, whose 8 KB FIFO rides out --speed on a busy host)")
    p.add_argument("--store", metavar="PATH", help="SQLite file (overrides store.path)")
    p.add_argument("--quiet", action="store_true", help="no live terminal line")
    jit = p.add_mutually_exclusive_group()
    jit.add_argument("--jit", dest="jit", action="store_true", default=None,
                     help="compile the engine's kernels with numba (overrides engine.jit): less CPU, "
                          "~100 MB more memory; worth it at 1 kHz")
    jit.add_argument("--no-jit", dest="jit", action="store_false",
                     help="run the engine's kernels as plain Python (the default: engine.jit = false)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import os
    import signal
    import sys

    from kotdevice.device import config as cfgmod

    cfg = cfgmod.load(args.config, required=bool(args.config))
    # Must be decided before anything imports the engine (kotdevice.motion._jit reads it once).
    jit = cfg.get("engine", "jit") if args.jit is None else args.jit
    os.environ["KOTDEVICE_JIT"] = "1" if jit else "0"
    if "kotdevice.motion._jit" in sys.modules:
        print("kotdevice: the engine was imported before the JIT choice; it keeps its mode", file=sys.stderr)

    from kotdevice.device.app import build_runtime
    from kotdevice.device.live import TerminalView
    from kotdevice.errors import KotError

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
    rt = None
    try:
        host = cfg.get("broker", "host")
        if not host and args.sim:
            from kotdevice.device.broker import start_local_broker

            local_broker = start_local_broker()
            host, port = local_broker.host, local_broker.port
            print(f"kotdevice: MQTT broker for the kiosk: {host}:{port} (topics {cfg.prefix}/{device_id}/#)\n"
                  f"kotdevice: to watch: kotdevice kiosk --broker {host}:{port}  then open http://localhost:8080",
                  file=sys.stderr, flush=True)
        else:
            host, port = host or "localhost", cfg.get("broker", "port")

        rt = build_runtime(cfg, host=host, port=port, sim=args.sim, speed=args.speed, seed=args.seed, spec=spec,
                           loop=spec is None, chip=args.sim_chip,
                           duration_s=args.duration, view=view, log=log)

        def on_signal(signum, frame):
            rt.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        log(f"kotdevice: device {device_id} running ({'simulated' if args.sim else 'real'} IMU"
            f"{f', speed x{args.speed:g}' if args.speed != 1 else ''}); store {rt.store.path}; pid {os.getpid()}")
        rc = rt.run()
        log(f"kotdevice: stopped after {rt.reps_total} reps; {rt.store.outbox_count()} message(s) still queued")
        return rc
    finally:
        if rt is not None:
            rt.shutdown()
            rt.store.close()
        if local_broker is not None:
            local_broker.stop()
