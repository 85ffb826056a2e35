"""``kotdevice sensor``: live read-out of the IMU, for checking a wiring."""
from __future__ import annotations


def register(sub) -> None:
    from kotdevice.sensor.cli_common import add_sensor_args

    p = sub.add_parser("sensor", help="live IMU read-out: chip, rate, samples, gaps (real or --sim)")
    add_sensor_args(p)
    p.add_argument("--seconds", type=float, default=None, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    p.add_argument("--every", type=float, default=0.5, metavar="S", help="print a line every S seconds")
    p.set_defaults(func=run)


def run(args) -> int:
    import threading

    import numpy as np

    from kotdevice.sensor import iter_blocks
    from kotdevice.sensor.cli_common import open_from_args

    sensor, bus = open_from_args(args, clock=None)  # live: always wall-clock time
    where = "simulated bus" if args.sim else f"/dev/i2c-{args.bus}"
    print(f"{sensor.chip_name} at 0x{sensor.address:02x} on {where}, {sensor.odr_hz:g} Hz, "
          f"±{sensor.accel_fs_g} g, ±{sensor.gyro_fs_dps} dps", flush=True)
    stop = threading.Event()
    t_start = sensor.clock()
    t_next = t_start + args.every
    n_win, last = 0, None
    try:
        for block, gaps in iter_blocks(sensor, stop):
            for g in gaps:
                print(f"GAP {g.samples_lost} samples lost ({g.duration_s:.3f} s, {g.reason})", flush=True)
            if len(block):
                n_win += len(block)
                last = block
            now = sensor.clock()
            if now >= t_next and last is not None:
                a, w = last.accel_g[-1], last.gyro_dps[-1]
                rate = n_win / (now - t_next + args.every)
                print(f"t={now - t_start:6.1f}s rate={rate:6.1f}Hz |a|={np.linalg.norm(a):.3f}g "
                      f"a=[{a[0]:+.3f} {a[1]:+.3f} {a[2]:+.3f}]g w=[{w[0]:+7.2f} {w[1]:+7.2f} {w[2]:+7.2f}]dps "
                      f"samples={sensor.stats.samples} gaps={sensor.stats.gaps} errors={sensor.stats.bus_errors}",
                      flush=True)
                t_next = now + args.every
                n_win = 0
            if args.seconds is not None and now - t_start >= args.seconds:
                stop.set()
    except KeyboardInterrupt:
        pass
    finally:
        sensor.close()
    return 0
