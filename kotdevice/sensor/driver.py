"""IMU drivers over any smbus2-like bus: InvenSense MPU-6050/6500/9250 and ST LSM6DS3/LSM6DSO.

How a read works (``Sensor.read``):

* The FIFO is drained in bursts (``i2c_rdwr``, any length), several samples per transaction.
* The FIFO level is read only now and then (every ``level_interval_s``, when the FIFO could be
  near full, and after any bus error). In between, the driver reads the number of whole samples
  the chip must have produced since, by its sample-clock model, minus a safety margin, so one
  transaction per read is the norm. Reading past the FIFO's end is what the margin prevents:
  an empty MPU FIFO repeats its last byte, which would go unnoticed.
* Timestamps come from the sample clock: sample k since the last FIFO reset is at
  ``t0 + k * period``, where t0 and period are fitted (least squares) to the FIFO levels seen
  at known host times, so the chip oscillator's drift is followed and reading jitter does not
  reach the timestamps.
* Overflow (status bit, or a level no chip can hold, or a partial sample) resets the FIFO and
  reports a ``Gap``. Bus errors are retried with back-off; when the chip stops answering, reads
  return nothing and probe it every so often; once it answers, it is re-initialised and the gap
  is reported. No bus error escapes ``read``.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from kotdevice.errors import KotError
from kotdevice.samples import Gap, ImuBlock
from kotdevice.sensor import regmap
from kotdevice.sensor.regmap import ChipSpec


@dataclass
class SensorStats:
    samples: int = 0
    gaps: int = 0
    samples_lost: int = 0
    transactions: int = 0  # issued by this driver
    bytes: int = 0  # on the wire, counted as in SimBus (address + register + data bytes)
    bus_errors: int = 0
    reinits: int = 0
    level_reads: int = 0


class _BusDown(Exception):
    """The chip did not answer after the retries."""


class Sensor:
    """Common FIFO, timing and fault logic; the family subclasses do registers and layouts."""

    RETRY_DELAYS_S = (0.001, 0.004)  # short retries inside one read()
    PROBE_BACKOFF_S = (0.05, 0.5)  # first and longest delay between probes while unplugged

    def __init__(self, bus, spec: ChipSpec, address: int, odr_hz: float, accel_fs_g: int,
                 gyro_fs_dps: int, clock: Callable[[], float], sleep: Callable[[float], None] | None = None,
                 bus_number: int | None = None, level_interval_s: float = 0.5):
        if accel_fs_g not in spec.accel_fs:
            raise KotError(f"accelerometer full scale must be one of {sorted(spec.accel_fs)} g, not {accel_fs_g}")
        if gyro_fs_dps not in spec.gyro_fs:
            raise KotError(f"gyro full scale must be one of {sorted(spec.gyro_fs)} dps, not {gyro_fs_dps}")
        if not 1 <= odr_hz <= 2000:
            raise KotError(f"output rate must be between 1 and 2000 Hz, not {odr_hz:g}")
        self.bus = bus
        self.spec = spec
        self.chip_name = spec.name
        self.address = address
        self.bus_number = bus_number
        self.requested_odr_hz = float(odr_hz)
        self.accel_fs_g = accel_fs_g
        self.gyro_fs_dps = gyro_fs_dps
        self.accel_lsb_per_g = spec.accel_fs[accel_fs_g][1]
        self.gyro_lsb_per_dps = spec.gyro_fs[gyro_fs_dps][1]
        self.clock = clock
        self._sleep = sleep or getattr(clock, "sleep", None) or time.sleep
        self.level_interval_s = level_interval_s
        self.stats = SensorStats()
        self.odr_hz = self._plan_odr(self.requested_odr_hz)
        self.capacity_frames = spec.fifo_bytes // spec.frame_bytes
        self._down = False
        self._down_since_t: float | None = None
        self._probe_at = 0.0
        self._probe_delay = self.PROBE_BACKOFF_S[0]
        self._last_t: float | None = None  # timestamp of the last delivered sample
        self._had_error = False
        self._init_chip()

    # ------------------------------------------------------------------ public API
    @property
    def period_s(self) -> float:
        return self._period

    @property
    def poll_interval_s(self) -> float:
        """How long a caller may sleep between reads without risking an overflow."""
        return min(0.1, 0.4 * self.capacity_frames / self.odr_hz)

    def read(self) -> tuple[ImuBlock, list[Gap]]:
        """Drain what the FIFO holds. Never raises on bus faults; gaps come back as data."""
        gaps: list[Gap] = []
        if self._down and not self._try_recover(gaps):
            return ImuBlock.empty(), gaps
        try:
            block = self._read_fifo(gaps)
        except _BusDown:
            self._go_down()
            block = ImuBlock.empty()
        return block, gaps

    def close(self) -> None:
        """Stop the FIFO (best effort) and close the bus."""
        try:
            self._stop_chip()
        except (OSError, _BusDown):
            pass
        close = getattr(self.bus, "close", None)
        if close:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ bus helpers
    def _xfer(self, fn, *args, nbytes: int, retries: bool = True):
        delays = self.RETRY_DELAYS_S if retries else ()
        for attempt in range(len(delays) + 1):
            self.stats.transactions += 1
            self.stats.bytes += nbytes
            try:
                return fn(*args)
            except OSError:
                self.stats.bus_errors += 1
                self._had_error = True
                if attempt == len(delays):
                    raise _BusDown() from None
                self._sleep(delays[attempt])

    def _rd(self, reg: int, n: int = 1, retries: bool = True) -> bytes:
        if n == 1:
            return bytes([self._xfer(self.bus.read_byte_data, self.address, reg, nbytes=4, retries=retries)])
        if n <= 32:
            return bytes(self._xfer(self.bus.read_i2c_block_data, self.address, reg, n, nbytes=3 + n,
                                    retries=retries))
        return self._rd_long(reg, n)

    def _rd_long(self, reg: int, n: int) -> bytes:
        from smbus2 import i2c_msg

        def go():
            w = i2c_msg.write(self.address, [reg])
            r = i2c_msg.read(self.address, n)
            self.bus.i2c_rdwr(w, r)
            return bytes(r)

        return self._xfer(go, nbytes=3 + n)

    def _wr(self, reg: int, value: int) -> None:
        self._xfer(self.bus.write_byte_data, self.address, reg, value & 0xFF, nbytes=3)

    # ------------------------------------------------------------------ family hooks
    def _plan_odr(self, odr_hz: float) -> float:
        raise NotImplementedError

    def _configure(self) -> None:
        """Reset, wake and configure the chip, FIFO running and empty when it returns."""
        raise NotImplementedError

    def _fifo_reset(self) -> None:
        raise NotImplementedError

    def _read_level(self) -> tuple[int, bool]:
        """(whole frames in the FIFO, overflowed-or-misaligned)"""
        raise NotImplementedError

    def _fifo_data(self, frames: int) -> bytes:
        return self._rd_long(self.spec.reg(self.spec.fifo_data), frames * self.spec.frame_bytes)

    def _parse(self, data: bytes) -> np.ndarray | None:
        """(n, 6) int counts ax ay az gx gy gz, or None when the data is not valid frames."""
        if len(data) % self.spec.frame_bytes:
            return None
        return self._counts(data)

    def _counts(self, data) -> np.ndarray:
        """Frames of six int16 words, in the chip's byte and axis order -> (n, 6) counts."""
        s = self.spec
        w = np.frombuffer(data, dtype=">i2" if s.big_endian else "<i2").reshape(-1, 6).astype(np.int64)
        return np.concatenate([w[:, 3:], w[:, :3]], axis=1) if s.gyro_first else w

    def _stop_chip(self) -> None:
        pass

    # ------------------------------------------------------------------ timing model
    def _init_chip(self) -> None:
        for attempt in range(5):  # a noisy bus may need a second go
            try:
                self._configure()
                break
            except _BusDown:
                if attempt == 4:
                    raise KotError(
                        f"{self.chip_name} at 0x{self.address:02x} stopped answering during set-up"
                    ) from None
                self._sleep(0.01 * 2**attempt)
        self._anchor_after_reset()

    def _anchor_after_reset(self) -> None:
        """The FIFO was just emptied: the next sample is k=0, due within one period."""
        now = self.clock()
        self._period = getattr(self, "_period", None) or 1.0 / self.odr_hz
        self._t0 = now + 0.5 * self._period
        self._consumed = 0  # frames read since the reset
        self._obs: list[tuple[float, float]] = []  # (frames produced - 0.5, host time)
        self._last_level_t = -math.inf
        self._had_error = False

    def _observe(self, level: int, t_host: float) -> None:
        """A FIFO level seen at a host time: frames produced = consumed + level."""
        self._obs.append((self._consumed + level, t_host))
        if len(self._obs) > 40:
            del self._obs[0]
        nominal = 1.0 / self.odr_hz
        n = np.array([o[0] for o in self._obs], dtype=float)
        t = np.array([o[1] for o in self._obs])
        if len(self._obs) >= 3 and n[-1] - n[0] >= 20:
            b = float(np.polyfit(n - 0.5, t, 1)[0])  # quantisation averages out over the window
            if abs(b / nominal - 1) < 0.05:  # a wild fit (bad host timing) is ignored
                self._period = b
        # each level bounds the first sample's time: sample N-1 was out, sample N not yet
        recent_n, recent_t = n[-10:], t[-10:]
        lo = np.max(recent_t - recent_n * self._period)
        hi = np.min(recent_t - (recent_n - 1) * self._period)
        if lo <= hi:
            self._t0 = 0.5 * (lo + hi)
        else:  # host timing jitter made the bounds disagree: fall back to the mean
            self._t0 = float(np.mean(recent_t - (recent_n - 0.5) * self._period))

    def _predicted_level(self, t_host: float) -> float:
        return (t_host - self._t0) / self._period + 1 - self._consumed

    # ------------------------------------------------------------------ reading
    def _read_fifo(self, gaps: list[Gap]) -> ImuBlock:
        now = self.clock()
        pred = self._predicted_level(now)
        check = (
            self._had_error
            # level reads come often at first (to learn the chip's clock), then every interval
            or now - self._last_level_t >= min(self.level_interval_s, 0.05 * 2 ** len(self._obs))
            or pred >= 0.75 * self.capacity_frames
        )
        after_error = self._had_error
        if check:
            self._had_error = False
            t_a, errs = self.clock(), self.stats.bus_errors
            level, bad = self._read_level()
            t_host = 0.5 * (t_a + self.clock())
            self.stats.level_reads += 1
            if bad:
                self._overflow(gaps, "bus_error" if after_error else "fifo_overflow")
                return ImuBlock.empty()
            if self.stats.bus_errors == errs:  # a retried read has no trustworthy time
                self._observe(level, t_host)
                self._last_level_t = t_host
            frames = level
        else:
            # margin (2 samples + 1 %) for chip clock vs our model: over-reading an MPU FIFO
            # returns its last byte again, which nothing downstream could tell from data
            frames = int(pred - 2 - 0.01 * pred)
        if frames <= 0:
            return ImuBlock.empty()
        data = self._fifo_data(frames)
        counts = self._parse(data)
        t_after = self.clock()
        # the level the FIFO would hold now had we not read: at capacity, it may have overflowed
        if counts is None or self._had_error or self._predicted_level(t_after) >= self.capacity_frames - 2:
            # the data may be misaligned or the FIFO may have overflowed while we read: verify
            after_error = after_error or self._had_error
            self._had_error = False
            level, bad = self._read_level()
            if bad or counts is None:
                self._overflow(gaps, "bus_error" if after_error else "fifo_overflow")
                return ImuBlock.empty()
        return self._emit(counts)

    def _emit(self, counts: np.ndarray) -> ImuBlock:
        n = len(counts)
        P = self._period
        t = self._t0 + (self._consumed + np.arange(n)) * P
        if self._last_t is not None and abs(t[0] - (self._last_t + P)) < 3 * P:
            # continuing stream: slew towards the model by at most 2 % of a period per sample,
            # so a model update never shows as a jump in the sample spacing
            c = t[0] - (self._last_t + P)
            ramp = np.clip(c, -0.02 * P * np.arange(1, n + 1), 0.02 * P * np.arange(1, n + 1))
            t = self._last_t + P * np.arange(1, n + 1) + ramp
        elif self._last_t is not None and t[0] <= self._last_t:
            t = t + (self._last_t + 0.5 * P - t[0])  # never go back in time
        self._consumed += n
        self._last_t = float(t[-1])
        self.stats.samples += n
        accel = counts[:, :3] / self.accel_lsb_per_g
        gyro = counts[:, 3:] / self.gyro_lsb_per_dps
        return ImuBlock(t, accel, gyro)

    def _gap_to_next(self, gaps: list[Gap], reason: str) -> None:
        """Report the samples missing between the last delivered one and the next expected."""
        if self._last_t is None:
            return
        start = self._last_t + self._period
        lost = max(0, int(round((self._t0 - start) / self._period)))
        if lost:
            gaps.append(Gap(start_s=start, duration_s=lost * self._period, samples_lost=lost, reason=reason))
            self.stats.gaps += 1
            self.stats.samples_lost += lost

    def _overflow(self, gaps: list[Gap], reason: str) -> None:
        self._fifo_reset()
        self._anchor_after_reset()
        self._gap_to_next(gaps, reason)

    # ------------------------------------------------------------------ unplugged / bus down
    def _go_down(self) -> None:
        self._down = True
        self._probe_delay = self.PROBE_BACKOFF_S[0]
        self._probe_at = self.clock() + self._probe_delay

    def _try_recover(self, gaps: list[Gap]) -> bool:
        now = self.clock()
        if now < self._probe_at:
            return False
        try:
            who = self._rd(self.spec.reg("WHO_AM_I"), retries=False)[0]
            if who != self.spec.who_am_i:
                raise _BusDown()
            self._configure()
        except _BusDown:
            self._probe_delay = min(self.PROBE_BACKOFF_S[1], 2 * self._probe_delay)
            self._probe_at = self.clock() + self._probe_delay
            return False
        self._down = False
        self.stats.reinits += 1
        self._anchor_after_reset()
        self._gap_to_next(gaps, "disconnect")
        return True


# ====================================================================== InvenSense MPU
class MpuSensor(Sensor):
    def _plan_odr(self, odr_hz: float) -> float:
        self._div = min(255, max(0, int(round(1000.0 / odr_hz)) - 1))
        odr = 1000.0 / (1 + self._div)
        # widest DLPF that still keeps the bandwidth below Nyquist of the output rate
        ok = [cfg for cfg, bw in regmap.MPU_DLPF_BW_HZ.items() if bw <= odr / 2]
        self._dlpf = max(ok, key=lambda c: regmap.MPU_DLPF_BW_HZ[c]) if ok else 6
        return odr

    def _configure(self) -> None:
        s = self.spec
        f = s.fields
        self._wr(s.reg("PWR_MGMT_1"), f["DEVICE_RESET"].encode(1))
        self._sleep(0.1)  # datasheet: wait 100 ms after DEVICE_RESET
        for _ in range(10):
            if not f["DEVICE_RESET"].decode(self._rd(s.reg("PWR_MGMT_1"))[0]):
                break
            self._sleep(0.01)
        # wake (boots asleep on the MPU-6050); clock from the X gyro PLL, steadier than the RC
        self._wr(s.reg("PWR_MGMT_1"), f["CLKSEL"].encode(1))
        self._sleep(0.03)
        cfg = [
            ("SMPLRT_DIV", self._div),
            ("CONFIG", f["DLPF_CFG"].encode(self._dlpf)),
            ("GYRO_CONFIG", f["FS_SEL"].encode(s.gyro_fs[self.gyro_fs_dps][0])),
            ("ACCEL_CONFIG", f["AFS_SEL"].encode(s.accel_fs[self.accel_fs_g][0])),
        ]
        if "ACCEL_CONFIG2" in s.regs:
            cfg.append(("ACCEL_CONFIG2", f["A_DLPF_CFG"].encode(self._dlpf)))
        for name, v in cfg:
            self._wr(s.reg(name), v)
        back = self._rd(s.reg("SMPLRT_DIV"), 4)
        if list(back) != [v for _, v in cfg[:4]]:
            raise _BusDown()  # writes did not stick: treat like a chip that is not answering
        self._wr(s.reg("INT_ENABLE"), f["FIFO_OFLOW_EN"].encode(1))
        self._wr(s.reg("FIFO_EN"), sum(f[n].encode(1) for n in ("XG_FIFO_EN", "YG_FIFO_EN", "ZG_FIFO_EN", "ACCEL_FIFO_EN")))
        self._fifo_reset()

    def _fifo_reset(self) -> None:
        s, f = self.spec, self.spec.fields
        self._wr(s.reg("USER_CTRL"), 0)  # stop the FIFO, then reset it, then restart it
        self._wr(s.reg("USER_CTRL"), f["FIFO_RESET"].encode(1))
        self._wr(s.reg("USER_CTRL"), f["USER_FIFO_EN"].encode(1))
        self._rd(s.reg("INT_STATUS"))  # clears a stale overflow flag

    def _stop_chip(self) -> None:
        self._wr(self.spec.reg("USER_CTRL"), 0)
        self._wr(self.spec.reg("PWR_MGMT_1"), self.spec.fields["SLEEP"].encode(1))

    def _read_level(self) -> tuple[int, bool]:
        hi, lo = self._rd(self.spec.reg("FIFO_COUNTH"), 2)
        nbytes = (hi << 8) | lo
        # a count no healthy FIFO shows: overflowed (overwrote part of a sample) or nonsense
        bad = nbytes % self.spec.frame_bytes != 0 or nbytes > self.spec.fifo_bytes
        if not bad and nbytes > self.spec.fifo_bytes - self.spec.frame_bytes:
            bad = bool(self.spec.fields["FIFO_OFLOW_INT"].decode(self._rd(self.spec.reg("INT_STATUS"))[0]))
        return nbytes // self.spec.frame_bytes, bad


# ====================================================================== ST LSM6DS3
class Lsm6ds3Sensor(Sensor):
    def _plan_odr(self, odr_hz: float) -> float:
        codes = self.spec.odr_codes
        self._odr_code = min(codes, key=lambda c: abs(math.log(codes[c] / odr_hz)))
        return codes[self._odr_code]

    def _sw_reset(self) -> None:
        s, f = self.spec, self.spec.fields
        self._wr(s.reg("CTRL3_C"), f["SW_RESET"].encode(1) | f["IF_INC"].encode(1))
        for _ in range(10):
            self._sleep(0.001)  # the reset takes ~50 µs
            if not f["SW_RESET"].decode(self._rd(s.reg("CTRL3_C"))[0]):
                break
        # block data update: the two bytes of a word always belong to one sample
        self._wr(s.reg("CTRL3_C"), f["BDU"].encode(1) | f["IF_INC"].encode(1))

    def _configure_sensors(self) -> None:
        s, f = self.spec, self.spec.fields
        xl = f["ODR_XL"].encode(self._odr_code) | f["FS_XL"].encode(s.accel_fs[self.accel_fs_g][0])
        g = f["ODR_G"].encode(self._odr_code) | f["FS_G"].encode(s.gyro_fs[self.gyro_fs_dps][0])
        self._wr(s.reg("CTRL1_XL"), xl)
        self._wr(s.reg("CTRL2_G"), g)
        if list(self._rd(s.reg("CTRL1_XL"), 2)) != [xl, g]:
            raise _BusDown()

    def _configure(self) -> None:
        s, f = self.spec, self.spec.fields
        self._sw_reset()
        self._configure_sensors()
        self._wr(s.reg("FIFO_CTRL3"), f["DEC_FIFO_GYRO"].encode(1) | f["DEC_FIFO_XL"].encode(1))
        self._fifo_reset()

    def _fifo_reset(self) -> None:
        s, f = self.spec, self.spec.fields
        self._wr(s.reg("FIFO_CTRL5"), 0)  # bypass mode empties the FIFO
        self._wr(s.reg("FIFO_CTRL5"), f["ODR_FIFO"].encode(self._odr_code) | f["FIFO_MODE"].encode(6))

    def _stop_chip(self) -> None:
        s = self.spec
        self._wr(s.reg(s.fields["FIFO_MODE"].reg), 0)  # bypass: stops and empties the FIFO
        self._wr(s.reg("CTRL1_XL"), 0)
        self._wr(s.reg("CTRL2_G"), 0)

    def _read_level(self) -> tuple[int, bool]:
        s, f = self.spec, self.spec.fields
        s1, s2, p3, p4 = self._rd(s.reg("FIFO_STATUS1"), 4)
        words = s1 | (f["DIFF_FIFO_H"].decode(s2) << 8)
        pattern = p3 | ((p4 & 0x03) << 8)
        bad = bool(f["FIFO_OVER_RUN"].decode(s2)) or pattern != 0 or words * s.fifo_word > s.fifo_bytes
        return words * s.fifo_word // s.frame_bytes, bad


# ====================================================================== ST LSM6DSO
class Lsm6dsoSensor(Lsm6ds3Sensor):
    def _configure(self) -> None:
        s, f = self.spec, self.spec.fields
        self._sw_reset()
        self._configure_sensors()
        self._wr(s.reg("FIFO_CTRL3"), f["BDR_GY"].encode(self._odr_code) | f["BDR_XL"].encode(self._odr_code))
        self._fifo_reset()

    def _fifo_reset(self) -> None:
        s, f = self.spec, self.spec.fields
        self._wr(s.reg("FIFO_CTRL4"), 0)
        self._wr(s.reg("FIFO_CTRL4"), f["FIFO_MODE"].encode(6))

    def _read_level(self) -> tuple[int, bool]:
        s, f = self.spec, self.spec.fields
        s1, s2 = self._rd(s.reg("FIFO_STATUS1"), 2)
        words = s1 | (f["DIFF_FIFO_H"].decode(s2) << 8)
        bad = bool(f["FIFO_OVR_IA"].decode(s2) or f["FIFO_OVR_LATCHED"].decode(s2))
        bad = bad or words * s.fifo_word > s.fifo_bytes
        return words * s.fifo_word // s.frame_bytes, bad

    def _parse(self, data: bytes) -> np.ndarray | None:
        if len(data) % self.spec.frame_bytes:
            return None
        w = np.frombuffer(data, dtype=np.uint8).reshape(-1, 2, 7)
        tags = w[:, :, 0] >> 3
        cnt = (w[:, :, 0] >> 1) & 0x03
        # each frame must be a gyro word then an accel word from the same time slot
        if not (np.all(tags[:, 0] == regmap.LSM6DSO_TAG_GYRO) and np.all(tags[:, 1] == regmap.LSM6DSO_TAG_ACCEL)
                and np.all(cnt[:, 0] == cnt[:, 1])):
            return None
        return self._counts(np.ascontiguousarray(w[:, :, 1:]))  # the words without their tags


_DRIVERS = {"mpu": MpuSensor, "lsm6ds3": Lsm6ds3Sensor, "lsm6dso": Lsm6dsoSensor}


# ====================================================================== opening
def detect(bus, address: int | None = None, bus_number: int | None = None) -> tuple[ChipSpec, int]:
    """Probe the standard addresses (or one) for a known WHO_AM_I. KotError when none answers."""
    probes = [p for p in regmap.PROBES if address is None or p[0] == address]
    if address is not None and not probes:
        probes = [(address, 0x75), (address, 0x0F)]
    seen = []
    for addr, reg in probes:
        for _ in range(3):  # a transient EIO must not hide a chip that is there
            try:
                who = bus.read_byte_data(addr, reg)
                break
            except OSError:
                who = None
        if who is None:
            continue
        spec = regmap.spec_for_whoami(addr, who)
        if spec is None and address is not None:  # a non-standard address given explicitly
            spec = next((c for c in regmap.CHIPS.values() if c.who_am_i == who and c.regs["WHO_AM_I"].addr == reg), None)
        if spec is not None:
            return spec, addr
        seen.append(f"0x{addr:02x} answered WHO_AM_I=0x{who:02x}")
    where = f"I2C bus {bus_number}" if bus_number is not None else "the I2C bus"
    tried = ", ".join(f"0x{a:02x}" for a in dict.fromkeys(a for a, _ in probes))
    extra = f" ({'; '.join(seen)}: not a supported chip)" if seen else ""
    raise KotError(f"no supported IMU found on {where} at {tried}{extra}")


def open_sensor(bus, bus_number: int | None = 1, address: int | None = None, odr_hz: float = 200,
                accel_fs_g: int = 8, gyro_fs_dps: int = 1000, clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] | None = None, level_interval_s: float = 0.5) -> Sensor:
    """Find the IMU on ``bus`` (autodetect unless ``address``), configure it and start its FIFO."""
    spec, addr = detect(bus, address, bus_number)
    return _DRIVERS[spec.family](bus, spec, addr, odr_hz, accel_fs_g, gyro_fs_dps, clock, sleep,
                                 bus_number, level_interval_s)


def open_real_bus(bus_number: int = 1):
    """``smbus2.SMBus(n)`` with the errors a user can act on turned into KotError."""
    import smbus2

    try:
        return smbus2.SMBus(bus_number)
    except FileNotFoundError:
        raise KotError(f"no /dev/i2c-{bus_number}: I2C not enabled? use --sim") from None
    except PermissionError:
        raise KotError(f"no permission for /dev/i2c-{bus_number}: add the user to the i2c group") from None


def iter_blocks(sensor: Sensor, stop_event: threading.Event | None = None,
                poll_s: float | None = None) -> Iterator[tuple[ImuBlock, list[Gap]]]:
    """Read continuously at the sensor's pace, sleeping between reads (no busy wait).

    Yields (block, gaps) whenever either is non-empty, until ``stop_event`` is set.
    """
    stop_event = stop_event or threading.Event()
    interval = poll_s or sensor.poll_interval_s
    sleep = sensor._sleep
    while not stop_event.is_set():
        t_start = sensor.clock()
        block, gaps = sensor.read()
        if len(block) or gaps:
            yield block, gaps
        left = interval - (sensor.clock() - t_start)
        if left > 0:
            if sleep is time.sleep:
                stop_event.wait(left)
            else:
                sleep(left)
