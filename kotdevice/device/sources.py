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

    def __init__(self, sensor, *, speed: float = 1.0, end_s: float | None = None):
        self.sensor = sensor  # owns (and closes) its bus
        self.speed = speed
        self.end_s = end_s
        self.first_t_s: float | None = None
        self.exhausted = False

    @property
    def poll_interval_s(self) -> float:
        """Real seconds the loop may sleep between reads without overflowing the FIFO."""
        return self.sensor.poll_interval_s / self.speed

    @property
    def sensor_id(self) -> str | None:
        """Which chip this is, as far as the bus can tell (what is learned about it, e.g. its
        gyro scale, is kept under this name). None for the simulator, whose chip is drawn
        afresh for every simulated session: there is nothing to carry over."""
        s = self.sensor
        if s.bus_number is None:
            return None
        return f"{s.chip_name}@i2c-{s.bus_number}:0x{s.address:02x}"

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


def _sim_child(arg_json: str) -> None:
    """Entry point of the simulator helper process (see ``simulate_physical``)."""
    import json
    import sys

    import numpy as np

    from kotdevice.errors import KotError

    a = json.loads(arg_json)
    try:
        from kotdevice.sim import simulate_session

        p = simulate_session(a["spec"], seed=a["seed"], rate_hz=a["rate_hz"]).physical
    except KotError as e:
        print(str(e), file=sys.stderr)
        raise SystemExit(2)
    np.save(a["out"], np.column_stack([p.t_s, p.accel_g, p.gyro_dps]))


class SimJob:
    """The simulated athlete's physical signal (``SimResult.physical``), computed in a helper
    process: simulating a workout peaks at ~150 MB that CPython does not give back, and the
    athlete is not part of the device, so it must not count in the device's memory. Started
    at once; ``result()`` waits (the runtime warms the engine up meanwhile)."""

    def __init__(self, spec: dict | None, seed: int, rate_hz: float = 200):
        import json
        import os
        import subprocess
        import sys
        import tempfile

        self._dir = tempfile.TemporaryDirectory(prefix="kot-sim-")
        self._out = os.path.join(self._dir.name, "physical.npy")
        arg = json.dumps({"spec": spec, "seed": seed, "rate_hz": rate_hz, "out": self._out})
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from kotdevice.device.sources import _sim_child; "
             "_sim_child(sys.argv[1])", arg], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def result(self) -> ImuBlock:
        import numpy as np

        from kotdevice.errors import KotError

        try:
            _, err = self._proc.communicate()
            if self._proc.returncode != 0:
                lines = (err or "").strip().splitlines()
                raise KotError(f"simulated workout: "
                               f"{lines[-1] if lines else f'simulator exited with {self._proc.returncode}'}")
            arr = np.load(self._out)
        finally:
            self._dir.cleanup()
        return ImuBlock(np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1:4]),
                        np.ascontiguousarray(arr[:, 4:7]))

    def cancel(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._dir.cleanup()


def simulate_physical(spec: dict | None, seed: int, rate_hz: float = 200) -> ImuBlock:
    return SimJob(spec, seed, rate_hz).result()


def sim_workout_blocks(seed: int, *, spec: dict | None = None, rate_hz: float = 200, loop: bool = False,
                       block_size: int = 64, log: Callable[[str], None] | None = None,
                       first_job: SimJob | None = None) -> tuple[Iterator[ImuBlock], float | None]:
    """Blocks of the simulated athlete, and the total duration (None when looping forever).
    Looping: each next workout (seed+1, ...) is simulated in the background while the
    current one plays, so the emulated chip never waits for it."""
    first = (first_job or SimJob(spec, seed, rate_hz)).result()
    dur = float(first.t_s[-1] - first.t_s[0]) + 1.0 / rate_hz

    def gen() -> Iterator[ImuBlock]:
        cur = first
        offset = 0.0
        k = 0
        while True:
            nxt: dict = {}
            th = None
            if loop:
                def make(s=seed + k + 1):
                    try:
                        nxt["r"] = simulate_physical(spec, s, rate_hz)
                    except Exception as e:  # keep playing the last workout rather than stop
                        nxt["e"] = e
                th = threading.Thread(target=make, name="sim-next", daemon=True)
                th.start()
            t0 = float(cur.t_s[0])
            for i in range(0, len(cur), block_size):
                b = cur.slice(i, i + block_size)
                yield ImuBlock(b.t_s - t0 + offset, b.accel_g, b.gyro_dps)
            if not loop:
                return
            offset += float(cur.t_s[-1] - t0) + 1.0 / rate_hz
            th.join()
            cur = nxt.get("r", cur)
            k += 1
            if log:
                log(f"simulated workout finished; starting another (seed {seed + k})")

    return gen(), (None if loop else dur)


def open_sim_source(*, speed: float = 1.0, seed: int = 0, spec: dict | None = None, loop: bool = True,
                    chip: str = "mpu6050", odr_hz: int = 200, accel_fs_g: int = 8, gyro_fs_dps: int = 1000,
                    faults=None, log: Callable[[str], None] | None = None,
                    first_job: SimJob | None = None) -> SensorSource:
    from kotdevice.sensor import make_sim_bus, open_sensor

    blocks, dur = sim_workout_blocks(seed, spec=spec, loop=loop, log=log, first_job=first_job)
    clock = SpeedClock(speed)  # after simulating: bus time 0 = the chip powering up
    bus = make_sim_bus(chip=chip, source=blocks, clock=clock, faults=faults)
    sensor = open_sensor(bus, bus_number=None, odr_hz=odr_hz, accel_fs_g=accel_fs_g, gyro_fs_dps=gyro_fs_dps,
                         clock=clock)
    return SensorSource(sensor, speed=speed, end_s=dur)


def open_real_source(*, bus_number: int, address: int = 0, odr_hz: int = 200, accel_fs_g: int = 8,
                     gyro_fs_dps: int = 1000, bus=None) -> SensorSource:
    """The IMU on I2C bus ``bus_number`` (``bus``: an already opened smbus2-like bus)."""
    from kotdevice.sensor import open_real_bus, open_sensor

    bus = bus if bus is not None else open_real_bus(bus_number)
    try:
        sensor = open_sensor(bus, bus_number=bus_number, address=address or None, odr_hz=odr_hz,
                             accel_fs_g=accel_fs_g, gyro_fs_dps=gyro_fs_dps)
    except BaseException:
        bus.close()
        raise
    return SensorSource(sensor, speed=1.0)
