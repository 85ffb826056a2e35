"""Options shared by ``kotdevice record`` and ``kotdevice sensor``: real bus or ``--sim``."""
from __future__ import annotations

import argparse

from kotdevice.errors import KotError

SIM_CHIPS = ("mpu6050", "mpu6500", "mpu9250", "lsm6ds3", "lsm6dso")


def _address(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an I2C address: {text!r} (e.g. 0x68)") from None
    if not 0x03 <= v <= 0x77:
        raise argparse.ArgumentTypeError(f"I2C address out of range 0x03-0x77: {text}")
    return v


def add_sensor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sim", action="store_true", help="use a simulated chip instead of /dev/i2c-N")
    p.add_argument("--bus", type=int, default=1, metavar="N", help="I2C bus number (default 1)")
    p.add_argument("--address", type=_address, default=None, help="I2C address (default: autodetect)")
    p.add_argument("--rate", type=float, default=200.0, metavar="HZ", help="output data rate (default 200)")
    p.add_argument("--accel-fs", type=int, default=8, metavar="G", help="accelerometer full scale g (default 8)")
    p.add_argument("--gyro-fs", type=int, default=1000, metavar="DPS", help="gyro full scale dps (default 1000)")
    p.add_argument("--sim-chip", choices=SIM_CHIPS, default="mpu6050", help="chip to emulate with --sim")
    p.add_argument("--sim-source", metavar="FILE.csv", default=None,
                   help="motion to replay with --sim (default: standing still with noise)")


def open_from_args(args, clock=None):
    """(sensor, bus) from the common options. ``clock`` drives a simulated bus (None = wall clock)."""
    import time

    from kotdevice.sensor import FileSource, StillSource, make_sim_bus, open_real_bus, open_sensor

    if args.sim:
        source = FileSource(args.sim_source) if args.sim_source else StillSource()
        bus = make_sim_bus(args.sim_chip, address=args.address, source=source, clock=clock)
        bus_number = None
    else:
        if args.sim_source:
            raise KotError("--sim-source needs --sim")
        bus = open_real_bus(args.bus)
        bus_number = args.bus
        clock = None
    sensor = open_sensor(bus, bus_number=bus_number, address=args.address, odr_hz=args.rate,
                         accel_fs_g=args.accel_fs, gyro_fs_dps=args.gyro_fs, clock=clock or time.monotonic)
    return sensor, bus
