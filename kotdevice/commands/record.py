"""``kotdevice record``: write what the sensor streams to a contract CSV."""
from __future__ import annotations

import sys


def register(sub) -> None:
    from kotdevice.sensor.cli_common import add_sensor_args

    p = sub.add_parser("record", help="record the IMU stream (real or --sim) to a CSV file")
    add_sensor_args(p)
    p.add_argument("--seconds", type=float, default=None, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="output file (CONTRACTS §2)")
    p.add_argument("--sim-paced", action="store_true",
                   help="with --sim, run in real time (default: as fast as possible)")
    p.set_defaults(func=run)


def run(args) -> int:
    import threading

    from kotdevice.errors import KotError
    from kotdevice.rawcsv import CsvWriter
    from kotdevice.sensor import SimClock, iter_blocks
    from kotdevice.sensor.cli_common import open_from_args

    if args.seconds is not None and args.seconds <= 0:
        raise KotError(f"--seconds must be positive, not {args.seconds:g}")
    if args.seconds is None and args.sim and not args.sim_paced:
        raise KotError("--sim without --sim-paced runs faster than real time: give --seconds")
    clock = SimClock() if args.sim and not args.sim_paced else None
    sensor, _bus = open_from_args(args, clock)
    try:
        writer = CsvWriter(args.out)
    except OSError as e:
        sensor.close()
        raise KotError(f"cannot write {args.out}: {e.strerror or e}") from None
    print(f"recording {sensor.chip_name} at 0x{sensor.address:02x}, {sensor.odr_hz:g} Hz -> {args.out}",
          file=sys.stderr)
    stop = threading.Event()
    t_end = None if args.seconds is None else sensor.clock() + args.seconds
    t0 = None
    gaps_total = 0
    next_report = sensor.clock() + 1.0
    try:
        with writer:
            for block, gaps in iter_blocks(sensor, stop):
                for g in gaps:
                    gaps_total += 1
                    print(f"gap: {g.samples_lost} samples ({g.duration_s:.3f} s, {g.reason})", file=sys.stderr)
                if len(block):
                    if t0 is None:
                        t0 = float(block.t_s[0])
                    if t_end is not None:
                        keep = block.t_s < t_end
                        block = block.slice(0, int(keep.sum()))
                    writer.write(_rebased(block, t0))
                now = sensor.clock()
                if now >= next_report:
                    next_report = now + 1.0
                    print(f"  {writer.samples_written} samples", file=sys.stderr)
                if t_end is not None and now >= t_end:
                    stop.set()
    except KeyboardInterrupt:
        pass
    finally:
        sensor.close()
    print(f"wrote {writer.samples_written} samples, {gaps_total} gaps, to {args.out}", file=sys.stderr)
    return 0


def _rebased(block, t0: float):
    """File time starts at 0 on the first sample (the monotonic clock's origin means nothing)."""
    from kotdevice.samples import ImuBlock

    return ImuBlock(block.t_s - t0, block.accel_g, block.gyro_dps)
