"""Where the runtime's samples come from: the real IMU, or the simulated athlete played
through the emulated chip on a SimBus (the same driver code either way).

``SpeedClock`` makes simulated time run ``speed`` x real time; the bus, the chip and the
driver all use it, so ``--speed 20`` plays a 4-minute workout in 12 s with real FIFO
behaviour (and the driver's back-off sleeps shrink by the same factor).
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

from kotdevice.samples import Gap, ImuBlock


class SpeedClock:
    def __init__(self, speed: float = 1.0, start_s: float = 0.0, mono: Callable[[], float] = time.monotonic):
        if not speed > 0:
            raise ValueError("speed must be > 0")
        self.speed = float(speed)
        self.mono = mono
        self._m0 = mono()
        self._t0 = float(start_s)

    def __call__(self) -> float:
        return self._t0 + (self.mono() - self._m0) * self.speed

    def sleep(self, dt_s: float) -> None:
        if dt_s > 0:
            time.sleep(dt_s / self.speed)


class SensorSource:
    """Adapts a ``Sensor`` (``read() -> (block, gaps)``) to the runtime; never raises on bus
    faults (the driver turns them into gaps). ``end_s``: sample time at which a finite
    simulated workout is over."""

    def __init__(self, sensor, *, speed: float = 1.0, end_s: float | None = None, bus=None):
        self.sensor = sensor
        self.speed = speed
        self.bus = bus
        self.end_s = end_s
        self.first_t_s: float | None = None
        self.exhausted = False

    @property
    def poll_interval_s(self) -> float:
        """Real seconds the loop may sleep between reads without overflowing the FIFO."""
        return self.sensor.poll_interval_s / self.speed

    def read(self) -> tuple[ImuBlock, list[Gap]]:
        block, gaps = self.sensor.read()
        if len(block):
            if self.first_t_s is None:
                self.first_t_s = float(block.t_s[0])
            if self.end_s is not None and float(block.t_s[-1]) - self.first_t_s >= self.end_s:
                self.exhausted = True
        return block, gaps

    def close(self) -> None:
        try:
            self.sensor.close()
        except Exception:
            pass


def sim_workout_blocks(seed: int, *, spec: dict | None = None, rate_hz: float = 200, loop: bool = False,
                       block_size: int = 64, log: Callable[[str], None] | None = None
                       ) -> tuple[Iterator[ImuBlock], float | None]:
    """Blocks of the simulated athlete (``simulate_session``), and the total duration (None
    when looping forever). Looping: each next workout (seed+1, ...) is simulated in a
    background thread while the current one plays, so the chip never waits for it."""
    from kotdevice.sim import simulate_session

    first = simulate_session(spec, seed=seed, rate_hz=rate_hz)
    dur = float(first.physical.t_s[-1] - first.physical.t_s[0]) + 1.0 / rate_hz

    def gen() -> Iterator[ImuBlock]:
        res = first
        offset = 0.0
        k = 0
        while True:
            nxt: dict = {}
            th = None
            if loop:
                def make(s=seed + k + 1):
                    nxt["r"] = simulate_session(spec, seed=s, rate_hz=rate_hz)
                th = threading.Thread(target=make, name="sim-next", daemon=True)
                th.start()
            t0 = float(res.physical.t_s[0])
            for b in res.source(block_size):
                yield ImuBlock(b.t_s - t0 + offset, b.accel_g, b.gyro_dps) if offset or t0 else b
            if not loop:
                return
            offset += float(res.physical.t_s[-1] - t0) + 1.0 / rate_hz
            th.join()
            res = nxt["r"]
            k += 1
            if log:
                log(f"simulated workout finished; starting another (seed {seed + k})")

    return gen(), (None if loop else dur)


def open_sim_source(*, speed: float = 1.0, seed: int = 0, spec: dict | None = None, loop: bool = True,
                    chip: str = "mpu6050", odr_hz: int = 200, accel_fs_g: int = 8, gyro_fs_dps: int = 1000,
                    faults=None, log: Callable[[str], None] | None = None) -> SensorSource:
    from kotdevice.sensor import make_sim_bus, open_sensor

    blocks, dur = sim_workout_blocks(seed, spec=spec, loop=loop, log=log)
    clock = SpeedClock(speed)  # after simulating: bus time 0 = the chip powering up
    bus = make_sim_bus(chip=chip, source=blocks, clock=clock, faults=faults)
    sensor = open_sensor(bus, bus_number=None, odr_hz=odr_hz, accel_fs_g=accel_fs_g, gyro_fs_dps=gyro_fs_dps,
                         clock=clock)
    return SensorSource(sensor, speed=speed, end_s=dur, bus=bus)


def open_real_source(*, bus_number: int, address: int = 0, odr_hz: int = 200, accel_fs_g: int = 8,
                     gyro_fs_dps: int = 1000) -> SensorSource:
    from kotdevice.sensor import open_real_bus, open_sensor

    bus = open_real_bus(bus_number)
    sensor = open_sensor(bus, bus_number=bus_number, address=address or None, odr_hz=odr_hz,
                         accel_fs_g=accel_fs_g, gyro_fs_dps=gyro_fs_dps)
    return SensorSource(sensor, speed=1.0)
