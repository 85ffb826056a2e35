"""``kotdevice bench io``: I2C cost of the drivers per sample, on the emulated chips.

For each chip and output rate, the driver reads a simulated chip (simulated time, so the run is
not paced) at its recommended poll interval, and the table gives what crossed the wire per
sample and the driver's own CPU time per sample (time inside ``Sensor.read`` minus time inside
the simulated bus, so the emulator's cost is not counted).

Wire bytes count every address byte (one per START or repeated START), register bytes and data
bytes; ACK bits and START/STOP conditions are not counted. One SMBus call or one ``i2c_rdwr``
is one transaction.
"""
from __future__ import annotations

import sys
import time

CHIPS = ("mpu6050", "mpu6500", "mpu9250", "lsm6ds3", "lsm6dso")
RATES = (100, 200, 1000)


def register(sub) -> None:
    p = sub.add_parser("io", help="I2C transactions, bytes and driver CPU per sample")
    p.add_argument("--seconds", type=float, default=30.0, help="simulated seconds per case (default 30)")
    p.add_argument("--chips", default=",".join(CHIPS), help="comma-separated chips")
    p.add_argument("--poll-ms", type=float, default=None, help="read interval (default: the driver's)")
    p.set_defaults(func=run)


class _TimedBus:
    """Forwards to the SimBus and adds up the time spent inside it."""

    def __init__(self, bus):
        self._bus = bus
        self.busy_s = 0.0

    def __getattr__(self, name):
        fn = getattr(self._bus, name)
        if not callable(fn):
            return fn

        def timed(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.busy_s += time.perf_counter() - t

        return timed


def measure(chip: str, rate: float, seconds: float, poll_s: float | None = None) -> dict:
    from kotdevice.errors import KotError
    from kotdevice.sensor import SimClock, StillSource, make_sim_bus, open_sensor

    clk = SimClock()
    bus = make_sim_bus(chip, source=StillSource(rate_hz=1000.0), clock=clk)
    timed = _TimedBus(bus)
    sensor = open_sensor(timed, odr_hz=rate, clock=clk)
    poll = poll_s or sensor.poll_interval_s
    # warm up (the driver reads the FIFO level often at first), then count from a clean slate
    t_end = clk() + 2.0
    while clk() < t_end:
        clk.advance(poll)
        sensor.read()
    tx0, by0, n0 = bus.transactions, bus.bytes, sensor.stats.samples
    timed.busy_s = 0.0
    cpu = 0.0
    gaps = reads = 0
    t_end = clk() + seconds
    while clk() < t_end:
        clk.advance(poll)
        reads += 1
        t = time.perf_counter()
        _, g = sensor.read()
        cpu += time.perf_counter() - t
        gaps += len(g)
    n = sensor.stats.samples - n0
    if n == 0:
        raise KotError(f"bench io: no samples from {chip} at {rate} Hz")
    return {
        "chip": sensor.chip_name,
        "rate": rate,
        "odr": sensor.odr_hz,
        "poll_ms": poll * 1e3,
        "samples_per_read": n / reads,
        "tx": (bus.transactions - tx0) / n,
        "bytes": (bus.bytes - by0) / n,
        "cpu_us": (cpu - timed.busy_s) / n * 1e6,
        "gaps": gaps,
    }


def run(args) -> int:
    from kotdevice.errors import KotError

    chips = [c.strip() for c in args.chips.split(",") if c.strip()]
    for c in chips:
        if c not in CHIPS:
            raise KotError(f"bench io: unknown chip {c!r}; choose from {', '.join(CHIPS)}")
    rows = []
    for chip in chips:
        for rate in RATES:
            print(f"bench io: {chip} at {rate} Hz ...", file=sys.stderr, flush=True)
            # the machine is shared: CPU time is the median of three runs (wire counts are exact)
            runs = [measure(chip, rate, args.seconds, args.poll_ms / 1e3 if args.poll_ms else None)
                    for _ in range(3)]
            r = dict(runs[0])
            r["cpu_us"] = sorted(x["cpu_us"] for x in runs)[1]
            rows.append(r)
    print("| chip | requested Hz | ODR Hz | poll ms | samples/read | I2C transactions/sample | wire bytes/sample | driver CPU µs/sample | gaps |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['chip']} | {r['rate']:g} | {r['odr']:g} | {r['poll_ms']:.0f} | {r['samples_per_read']:.1f} | "
              f"{r['tx']:.3f} | {r['bytes']:.2f} | {r['cpu_us']:.2f} | {r['gaps']} |")
    return 0
