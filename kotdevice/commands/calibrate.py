"""``kotdevice calibrate``: the explicit mount calibration.

Protocol: stand still for ~2 s, then bend the knee forward over the toes a few times (a
shallow squat or lunge). The engine learns the leg's lateral axis from the movement and the
standing posture from the quiet start.

- Live (no FILE): reads the sensor (``--sim``: the simulated athlete on the emulated chip),
  prompts the wearer, and saves the result in the device's store, where ``kotdevice run``
  picks it up at its next start (and ``--out`` as JSON too). Stop the running device service
  first, or use the button's long press / the ``calibrate`` MQTT command instead, which do the
  same inside the running device.
- From a recording (FILE.csv): writes ``--out`` for ``kotdevice replay --mount``.
"""
from __future__ import annotations

import json
import sys


def register(sub) -> None:
    p = sub.add_parser("calibrate", help="mount calibration: stand still, then knee forward (live, or from a recording)")
    p.add_argument("file", metavar="FILE.csv", nargs="?",
                   help="a recording of the protocol (`kotdevice record`); omit it to calibrate live")
    p.add_argument("--out", metavar="MOUNT.json", help="also save the calibration as JSON (required with FILE)")
    p.add_argument("--leg", choices=("left", "right"), help="which leg wears the sensor")
    live = p.add_argument_group("live calibration")
    live.add_argument("--config", metavar="PATH", help="device config (sensor, store); default /etc/kotdevice/config.toml")
    live.add_argument("--sim", action="store_true", help="the simulated athlete on the emulated chip")
    live.add_argument("--store", metavar="PATH", help="SQLite store to save into (overrides store.path)")
    live.add_argument("--seconds", type=float, default=60.0, help="give up after this long (default 60)")
    p.set_defaults(func=run)


def _save_out(path, mount_dict: dict) -> None:
    from kotdevice.errors import KotError
    from kotdevice.motion.mount import save_mount

    try:
        save_mount(path, mount_dict)
    except OSError as e:
        raise KotError(f"{path}: cannot write: {e.strerror or e}") from None


def run(args) -> int:
    if args.file is None:
        return run_live(args)
    from kotdevice.errors import KotError

    if not args.out:
        raise KotError("calibrate FILE.csv needs --out MOUNT.json")
    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion.events import MountEvent
    from kotdevice.rawcsv import iter_blocks

    print("calibrate: expecting >= 2 s of quiet standing, then the knee moving forward over "
          "the toes", file=sys.stderr)
    eng = MotionEngine()
    eng.set_leg(args.leg)
    eng.start_calibration()
    found = None
    for block in iter_blocks(args.file):
        for e in eng.process(block).events:
            if isinstance(e, MountEvent) and e.reason == "manual" and found is None:
                found = e
    if found is None:
        raise KotError(f"{args.file}: no knee-forward movement found after the quiet start; "
                       "record again: stand still 2 s, then bend the knee forward a few times")
    if eng.stand_angle_deg is None:
        raise KotError(f"{args.file}: the recording is too short for the quiet-standing reference")
    d = eng.mount_dict()
    _save_out(args.out, d)
    print(f"calibrate: strap turned {d['rotation_about_shin_deg']:+.1f} deg about the shin, "
          f"standing tibial angle {d.get('stand_angle_deg', float('nan')):.1f} deg; saved {args.out}",
          file=sys.stderr)
    sys.stdout.write(json.dumps(d) + "\n")
    return 0


def run_live(args) -> int:
    import time

    from kotdevice.device import config as cfgmod
    from kotdevice.device.runtime import MANUAL_MOUNT_KEY
    from kotdevice.device.store import Store
    from kotdevice.errors import KotError
    from kotdevice.motion.engine import MotionEngine
    from kotdevice.motion.events import MountEvent
    from kotdevice.device.sources import open_real_source
    from kotdevice.sensor import SimClock, iter_blocks, make_sim_bus, open_sensor

    if args.seconds <= 0:
        raise KotError("--seconds must be positive")
    cfg = cfgmod.resolve(cfgmod.load(args.config, required=bool(args.config)), sim=args.sim)
    if args.store:
        cfg.set("store", "path", args.store)
    if args.sim:  # a wearer doing the protocol: quiet standing, then three shallow squats
        from kotdevice.sim import simulate_set

        athlete = simulate_set("squat", reps=3, depth_deg=25.0, lead_in_s=3.0, seed=7, leg=args.leg)
        clock = SimClock()  # simulated time: the driver's sleeps let it pass at once
        bus = make_sim_bus(chip="lsm6ds3", source=athlete.source(32), clock=clock)
        sensor = open_sensor(bus, bus_number=None, clock=clock, **cfgmod.sensor_settings(cfg))
    else:
        clock = time.monotonic
        sensor = open_real_source(bus_number=cfg.get("sensor", "bus"), address=cfg.get("sensor", "address"),
                                  **cfgmod.sensor_settings(cfg)).sensor
    eng = MotionEngine()
    eng.set_leg(args.leg)
    eng.start_calibration()
    say = lambda m: print(f"calibrate: {m}", file=sys.stderr, flush=True)  # noqa: E731
    say(f"{sensor.chip_name} found. Stand still, feet flat, for 2 seconds ...")
    t0, prompted, found = clock(), False, None
    try:
        for block, _gaps in iter_blocks(sensor):
            for e in eng.process(block).events:
                if isinstance(e, MountEvent) and e.reason == "manual":
                    found = e
            if not prompted and eng.stand_angle_deg is not None:
                say("good. Now bend the knee forward over the toes and back, 3 times, slowly ...")
                prompted = True
            if found or clock() - t0 > args.seconds:
                break
    finally:
        sensor.close()
    if found is None:
        raise KotError(f"no knee-forward movement seen in {args.seconds:g} s; try again: stand still "
                       "2 s, then bend the knee forward over the toes a few times")
    d = eng.mount_dict()
    store = Store(cfg.get("store", "path"))
    try:
        store.set_meta(MANUAL_MOUNT_KEY, json.dumps(d))
    finally:
        store.close()
    say(f"done: strap turned {d['rotation_about_shin_deg']:+.1f} deg about the shin; saved in "
        f"{cfg.get('store', 'path')} (used by `kotdevice run` from its next start)")
    if args.out:
        _save_out(args.out, d)
    sys.stdout.write(json.dumps(d) + "\n")
    return 0
