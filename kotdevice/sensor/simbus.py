"""A simulated I2C bus carrying emulated IMU chips, for tests, benchmarks and ``--sim``.

``SimBus`` has the ``smbus2.SMBus`` methods the drivers use, so the same driver code runs on
the Pi and here. Each emulated chip keeps a register file seeded with the datasheet reset
values (``regmap``) and emulates what the drivers rely on: WHO_AM_I, reset and sleep, the
configuration registers (rate divider / DLPF / ODR decide the output rate, full scale decides
sensitivity and clipping), data registers, FIFO count, FIFO contents in the chip's layout and
byte order, overflow (oldest data dropped, status bit set) and reads of an empty FIFO.

The chip samples a motion source (any iterable of ImuBlock, true physical values at any rate)
with a zero-order hold at its own sample clock. When the source is exhausted the chip keeps
outputting the **last sample** (an empty source gives the sensor at rest, +X up).

Not emulated: the digital low-pass filters' effect on the signal (only their effect on the
output rate), self-test, interrupts pins, the MPU-9250 magnetometer, the LSM6DS sensor hub.

Wire accounting (``SimBus.transactions`` / ``bytes``): one transaction per SMBus call or
``i2c_rdwr`` call; bytes are what crosses SDA excluding ACK bits, START/STOP: every address
byte (each START and repeated START sends one), register bytes and data bytes. So
``read_i2c_block_data(n)`` costs 3 + n bytes and a write of one register 3 bytes.
"""
from __future__ import annotations

import errno
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from kotdevice.samples import ImuBlock
from kotdevice.sensor import regmap
from kotdevice.sensor.regmap import ChipSpec


class SimClock:
    """Simulated monotonic time, advanced by the test (or by a driver's back-off sleep)."""

    def __init__(self, start_s: float = 100.0):
        self.t = float(start_s)

    def __call__(self) -> float:
        return self.t

    def advance(self, dt_s: float) -> None:
        self.t += max(0.0, float(dt_s))

    sleep = advance  # a sleeping driver lets simulated time pass


@dataclass
class FaultConfig:
    """Faults to inject. Times are on the bus clock (``SimClock`` or ``time.monotonic``)."""

    error_rate: float = 0.0  # probability that a transaction fails with EIO (before any effect)
    disconnect_at_s: float | None = None  # sensor unplugged at this time ...
    disconnect_ms: float = 0.0  # ... for this long; plugged back in, it power-cycles
    overflow_at_s: list[float] = field(default_factory=list)  # host stalls until the FIFO overflows
    stuck_at_s: float | None = None  # from then on the chip repeats one sample forever
    clock_error: float = 0.0  # chip oscillator error: +0.01 = samples 1 % fast
    seed: int = 0


class _Motion:
    """Zero-order-hold sampling of a motion source at increasing source times."""

    def __init__(self, source: Iterable[ImuBlock] | None):
        self._it = iter(source) if source is not None else None
        self.t = np.zeros(0)
        self.a = np.zeros((0, 3))
        self.g = np.zeros((0, 3))
        self.exhausted = source is None

    def at(self, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        while not self.exhausted and (len(self.t) == 0 or self.t[-1] < tau[-1]):
            try:
                b = next(self._it)
            except StopIteration:
                self.exhausted = True
                break
            if len(b):
                self.t = np.concatenate([self.t, b.t_s])
                self.a = np.concatenate([self.a, b.accel_g])
                self.g = np.concatenate([self.g, b.gyro_dps])
        if len(self.t) == 0:  # nothing ever came: at rest, +X up
            n = len(tau)
            return np.tile([1.0, 0.0, 0.0], (n, 1)), np.zeros((n, 3))
        # 1 µs slack so a chip sampling exactly on the source grid picks that sample
        idx = np.searchsorted(self.t, tau + 1e-6, side="right") - 1
        np.clip(idx, 0, len(self.t) - 1, out=idx)
        a, g = self.a[idx], self.g[idx]
        keep = max(0, int(idx[-1]) - 1)  # drop what can no longer be asked for
        if keep > 4096:
            self.t, self.a, self.g = self.t[keep:], self.a[keep:], self.g[keep:]
        return a, g

    def first_t(self) -> float:
        self.at(np.array([-np.inf]))
        return float(self.t[0]) if len(self.t) else 0.0


class EmulatedChip:
    """Register file + sample clock + FIFO shared by the chip families."""

    def __init__(self, spec: ChipSpec, source, clock: Callable[[], float], faults: FaultConfig):
        self.spec = spec
        self.clock = clock
        self.faults = faults
        self.fifo_window = spec.fifo_window
        self._lsb = (dict(spec.accel_fs.values()), dict(spec.gyro_fs.values()))  # code -> counts per unit
        self.motion = _Motion(source)
        self._src_t0 = self.motion.first_t()
        self._src_origin: float | None = None  # bus time at which the source starts playing
        self._stuck: tuple[np.ndarray, np.ndarray] | None = None
        self.power_on()

    # ---- lifecycle
    def power_on(self) -> None:
        self.regs = bytearray(256)
        for r in self.spec.regs.values():
            self.regs[r.addr] = r.reset
        self.fifo = bytearray()
        self.overflowed = False
        self.last_fifo_byte = 0
        self.latest_counts = np.zeros(6, dtype=np.int64)  # accel xyz, gyro xyz
        self._grid_start = self.clock()
        self._grid_k = 0
        self._grid_rate = 0.0
        self._retime()

    def fifo_clear(self) -> None:
        self.fifo.clear()
        self.overflowed = False

    # ---- family hooks
    def output_rate_hz(self) -> float:
        raise NotImplementedError

    def fifo_enabled(self) -> bool:
        raise NotImplementedError

    def fifo_push(self, counts: np.ndarray) -> None:
        raise NotImplementedError

    def empty_fifo(self, chunk: bytes, n: int) -> bytes:
        """Bookkeeping after ``chunk`` was read from the FIFO; the n bytes read past its end."""
        raise NotImplementedError

    def scales(self) -> tuple[float, float]:  # counts per g, counts per dps
        afs, gfs = self.spec.fs_fields
        return self._lsb[0][self.field(afs)], self._lsb[1][self.field(gfs)]

    def next_addr(self, addr: int) -> int:
        w = self.fifo_window
        if addr in w:  # FIFO bursts roll back to the window's start after every word
            return w.start + (addr - w.start + 1) % len(w)
        if "IF_INC" in self.spec.fields and not self.field("IF_INC"):
            return addr
        return (addr + 1) & 0xFF

    # ---- sampling
    def _retime(self) -> None:
        """Start a new sample grid at the current rate (after a configuration change)."""
        now = self.clock()
        self._grid_start = now
        self._grid_k = 0
        self._grid_rate = self.output_rate_hz() * (1.0 + self.faults.clock_error)

    def advance(self) -> None:
        """Produce every sample due by now (vectorised)."""
        if self._grid_rate <= 0:
            return
        now = self.clock()
        period = 1.0 / self._grid_rate
        n_due = int(np.floor((now - self._grid_start) * self._grid_rate + 1e-9))
        n = n_due - self._grid_k
        if n <= 0:
            return
        # keep the work bounded after a long idle: older samples would only overflow the FIFO
        max_keep = self.spec.fifo_bytes // 6 + 4
        if n > max_keep:
            self.overflowed = self.overflowed or self.fifo_enabled()
            self._grid_k += n - max_keep
            n = max_keep
        k = self._grid_k + np.arange(1, n + 1)
        t_samp = self._grid_start + k * period
        self._grid_k += n
        if self._src_origin is None:
            self._src_origin = float(t_samp[0])
        if self._stuck is not None:
            a, g = np.tile(self._stuck[0], (n, 1)), np.tile(self._stuck[1], (n, 1))
        else:
            a, g = self.motion.at(self._src_t0 + (t_samp - self._src_origin))
            st = self.faults.stuck_at_s
            if st is not None and t_samp[-1] >= st:
                self._stuck = (a[-1].copy(), g[-1].copy())
        acc_lsb, gyr_lsb = self.scales()
        counts = np.empty((n, 6), dtype=np.int64)
        counts[:, :3] = np.rint(a * acc_lsb)
        counts[:, 3:] = np.rint(g * gyr_lsb)
        np.clip(counts, -32768, 32767, out=counts)  # full scale clips
        self.latest_counts = counts[-1]
        self.on_new_data()
        if self.fifo_enabled():
            self.fifo_push(counts)
            if len(self.fifo) > self.spec.fifo_bytes:
                self.drop_oldest(len(self.fifo) - self.spec.fifo_bytes)
                self.overflowed = True

    def on_new_data(self) -> None:
        pass

    def drop_oldest(self, nbytes: int) -> None:
        del self.fifo[:nbytes]

    # ---- register access (called by SimBus; one call = one transaction)
    def read(self, addr: int, n: int) -> bytes:
        self.advance()
        out = bytearray()
        while len(out) < n and addr not in self.fifo_window:
            out.append(self.read_reg(addr) & 0xFF)
            addr = self.next_addr(addr)
        if len(out) < n:  # the rest of the burst stays in the FIFO data window
            out += self.fifo_read(addr - self.fifo_window.start, n - len(out))
        return bytes(out)

    def fifo_read(self, pos: int, n: int) -> bytes:
        """n bytes of a FIFO burst starting ``pos`` bytes into a word: what the FIFO holds, in
        one slice, then what the family's empty FIFO reads as."""
        chunk = self._take(n)
        return chunk + self.empty_fifo(chunk, n - len(chunk))

    def _take(self, n: int) -> bytes:
        chunk = bytes(self.fifo[:n])
        del self.fifo[:n]
        return chunk

    def write(self, addr: int, data: bytes) -> None:
        self.advance()
        for b in data:
            self.write_reg(addr, b)
            addr = self.next_addr(addr)

    def read_reg(self, addr: int) -> int:
        return self.regs[addr]

    def write_reg(self, addr: int, value: int) -> None:
        if addr == self.spec.reg("WHO_AM_I"):
            return  # read-only
        self.regs[addr] = value

    def field(self, name: str) -> int:
        f = self.spec.fields[name]
        return f.decode(self.regs[self.spec.reg(f.reg)])


class MpuChip(EmulatedChip):
    """MPU-6050 / MPU-6500 / MPU-9250."""

    FIFO_SOURCES = ("TEMP_FIFO_EN", "XG_FIFO_EN", "YG_FIFO_EN", "ZG_FIFO_EN", "ACCEL_FIFO_EN")

    def output_rate_hz(self) -> float:
        if self.field("SLEEP"):
            return 0.0
        dlpf = self.field("DLPF_CFG")
        base = 8000.0 if dlpf in (0, 7) else 1000.0
        if self.spec.name != "MPU-6050" and self.field("FCHOICE_B"):
            base = 32000.0
        return base / (1 + self.regs[self.spec.reg("SMPLRT_DIV")])

    def fifo_enabled(self) -> bool:
        return bool(self.field("USER_FIFO_EN")) and any(self.field(n) for n in self.FIFO_SOURCES)

    def fifo_push(self, counts: np.ndarray) -> None:
        # order of the data registers: ACCEL_X..Z, TEMP, GYRO_X..Z (big-endian int16 each)
        cols = []
        if self.field("ACCEL_FIFO_EN"):
            cols += [counts[:, 0], counts[:, 1], counts[:, 2]]
        if self.field("TEMP_FIFO_EN"):
            cols.append(np.full(len(counts), self._temp_counts()))
        for name, c in (("XG_FIFO_EN", 3), ("YG_FIFO_EN", 4), ("ZG_FIFO_EN", 5)):
            if self.field(name):
                cols.append(counts[:, c])
        words = np.stack(cols, axis=1).astype(">i2")
        if self.spec.name != "MPU-6050" and self.field("FIFO_MODE"):
            room = max(0, self.spec.fifo_bytes - len(self.fifo))  # stop-when-full mode
            data = words.tobytes()
            if len(data) > room:
                self.overflowed = True
            self.fifo += data[:room]
            return
        self.fifo += words.tobytes()

    def _temp_counts(self) -> int:
        # 25 °C: MPU-6050 T = counts/340 + 36.53; MPU-6500 T = counts/333.87 + 21
        return int(round((25 - 36.53) * 340)) if self.spec.name == "MPU-6050" else int(round(4 * 333.87))

    def on_new_data(self) -> None:
        self.regs[self.spec.reg("INT_STATUS")] |= self.spec.fields["DATA_RDY_INT"].mask

    def empty_fifo(self, chunk: bytes, n: int) -> bytes:
        if chunk:
            self.last_fifo_byte = chunk[-1]
        # empty FIFO: the last byte read is returned again (MPU-6050 register map §4.33)
        return bytes([self.last_fifo_byte]) * n

    def read_reg(self, addr: int) -> int:
        s = self.spec
        if addr == s.reg("FIFO_COUNTH"):
            return (len(self.fifo) >> 8) & 0x1F
        if addr == s.reg("FIFO_COUNTL"):
            return len(self.fifo) & 0xFF
        if addr == s.reg("INT_STATUS"):
            v = self.regs[addr] | s.fields["FIFO_OFLOW_INT"].put(self.overflowed)
            self.regs[addr] = 0  # cleared on read
            self.overflowed = False
            return v
        a0, g0 = s.reg("ACCEL_XOUT_H"), s.reg("GYRO_XOUT_H")
        if a0 <= addr < a0 + 6 or g0 <= addr < g0 + 6 or s.reg("TEMP_OUT_H") <= addr < g0:
            if addr >= g0:
                word = int(self.latest_counts[3 + (addr - g0) // 2])
            elif addr >= s.reg("TEMP_OUT_H"):
                word = self._temp_counts()
            else:
                word = int(self.latest_counts[(addr - a0) // 2])
            word &= 0xFFFF
            return word >> 8 if (addr - a0) % 2 == 0 else word & 0xFF
        return self.regs[addr]

    def write_reg(self, addr: int, value: int) -> None:
        s, f = self.spec, self.spec.fields
        if addr == s.reg("PWR_MGMT_1"):
            if f["DEVICE_RESET"].decode(value):  # all registers to reset values, bit self-clears
                self.power_on()
                return
            self.regs[addr] = value
            self._retime()
            return
        if addr in self.fifo_window:
            self.fifo.append(value)
            return
        if addr in (s.reg("INT_STATUS"), s.reg("FIFO_COUNTH"), s.reg("FIFO_COUNTL"), s.reg("WHO_AM_I")):
            return  # read-only
        if addr == s.reg("USER_CTRL"):
            if f["FIFO_RESET"].decode(value):
                self.fifo_clear()
            self.regs[addr] = value & ~0x07 & 0xFF  # FIFO_RESET, I2C_MST_RST, SIG_COND_RESET self-clear
            return
        self.regs[addr] = value
        if addr in (s.reg("SMPLRT_DIV"), s.reg("CONFIG"), s.reg("GYRO_CONFIG")):
            self._retime()


class StChip(EmulatedChip):
    """What the ST LSM6DS chips share: ODR and full-scale registers, CTRL3_C, FIFO status."""

    def output_rate_hz(self) -> float:
        code = self.field("ODR_G") or self.field("ODR_XL")
        return self.spec.odr_codes.get(code, 0.0)

    def fifo_words(self) -> int:
        return len(self.fifo) // self.spec.fifo_word

    def fifo_flags(self) -> dict[str, bool]:
        """The family's FIFO_STATUS2 flags, by field name."""
        raise NotImplementedError

    def read_reg(self, addr: int) -> int:
        s = self.spec
        if addr == s.reg("FIFO_STATUS1"):
            return self.fifo_words() & 0xFF
        if addr == s.reg("FIFO_STATUS2"):
            status = {"DIFF_FIFO_H": self.fifo_words() >> 8, **self.fifo_flags()}
            return sum(s.fields[name].put(v) for name, v in status.items())
        g0, a0 = s.reg("OUTX_L_G"), s.reg("OUTX_L_XL")
        if g0 <= addr < a0 + 6:
            i = (addr - g0) // 2
            word = int(self.latest_counts[3 + i] if i < 3 else self.latest_counts[i - 3]) & 0xFFFF
            return word & 0xFF if (addr - g0) % 2 == 0 else word >> 8
        if addr == s.reg("STATUS_REG"):
            return 0x03 if self._grid_rate > 0 else 0
        return self.regs[addr]

    def write_reg(self, addr: int, value: int) -> None:
        s, f = self.spec, self.spec.fields
        if addr == s.reg("CTRL3_C"):
            if f["SW_RESET"].decode(value):  # registers to defaults, bit self-clears
                self.power_on()
                return
            self.regs[addr] = value & ~(f["BOOT"].mask | f["SW_RESET"].mask)  # BOOT: instantaneous here
            return
        if addr in (s.reg("WHO_AM_I"), s.reg("FIFO_STATUS1"), s.reg("FIFO_STATUS2")):
            return
        self.regs[addr] = value
        mode = f["FIFO_MODE"]
        if addr == s.reg(mode.reg) and mode.decode(value) == 0:
            self.fifo_clear()  # bypass mode empties the FIFO
        if addr in (s.reg("CTRL1_XL"), s.reg("CTRL2_G")):
            self._retime()


class Lsm6ds3Chip(StChip):
    """LSM6DS3: FIFO of 16-bit words, pattern Gx Gy Gz XLx XLy XLz, little-endian."""

    def power_on(self) -> None:
        super().power_on()
        self.head_pattern = 0  # pattern index of the word at the FIFO head
        self._fifo_phase = 0

    def fifo_clear(self) -> None:
        super().fifo_clear()
        self.head_pattern = 0

    def _pattern_len(self) -> int:
        return 3 * (int(self.field("DEC_FIFO_GYRO") != 0) + int(self.field("DEC_FIFO_XL") != 0))

    def fifo_enabled(self) -> bool:
        return self.field("FIFO_MODE") != 0 and self.field("ODR_FIFO") != 0 and self._pattern_len() > 0

    def _decimation(self) -> int:
        fifo_hz = self.spec.odr_codes.get(self.field("ODR_FIFO"), 0.0)
        return max(1, int(round(self.output_rate_hz() / fifo_hz))) if fifo_hz else 1

    def fifo_push(self, counts: np.ndarray) -> None:
        dec = self._decimation()
        c = counts[(-self._fifo_phase) % dec::dec]
        self._fifo_phase = (self._fifo_phase + len(counts)) % dec
        cols = []
        if self.field("DEC_FIFO_GYRO"):
            cols += [c[:, 3], c[:, 4], c[:, 5]]
        if self.field("DEC_FIFO_XL"):
            cols += [c[:, 0], c[:, 1], c[:, 2]]
        self.fifo += np.stack(cols, axis=1).astype("<i2").tobytes()

    def drop_oldest(self, nbytes: int) -> None:
        nbytes += nbytes % 2  # whole words
        del self.fifo[:nbytes]
        self.head_pattern = (self.head_pattern + nbytes // 2) % max(1, self._pattern_len())

    def empty_fifo(self, chunk: bytes, n: int) -> bytes:
        left = len(self.fifo)  # a word is consumed when its last byte is read
        words = (left + len(chunk) + 1) // 2 - (left + 1) // 2
        self.head_pattern = (self.head_pattern + words) % max(1, self._pattern_len())
        return bytes(n)  # empty FIFO reads as zero

    def fifo_flags(self) -> dict[str, bool]:
        return {"FIFO_EMPTY": self.fifo_words() == 0, "FIFO_FULL": len(self.fifo) >= self.spec.fifo_bytes,
                "FIFO_OVER_RUN": self.overflowed}

    def read_reg(self, addr: int) -> int:
        if addr == self.spec.reg("FIFO_STATUS3"):
            return self.head_pattern & 0xFF
        if addr == self.spec.reg("FIFO_STATUS4"):
            return (self.head_pattern >> 8) & 0x03
        return super().read_reg(addr)


_PARITY = np.array([bin(i).count("1") & 1 for i in range(256)], dtype=np.uint8)


class Lsm6dsoChip(StChip):
    """LSM6DSO/DSOX: tagged FIFO, each word = tag byte + X,Y,Z int16 little-endian."""

    def power_on(self) -> None:
        super().power_on()
        self.tag_cnt = 0
        self.ovr_latched = False
        self._word_empty = False

    def fifo_clear(self) -> None:
        super().fifo_clear()
        self.ovr_latched = False

    def fifo_enabled(self) -> bool:
        return self.field("FIFO_MODE") != 0 and (self.field("BDR_GY") or self.field("BDR_XL")) != 0

    def fifo_push(self, counts: np.ndarray) -> None:
        n = len(counts)
        gy, xl = self.field("BDR_GY") != 0, self.field("BDR_XL") != 0
        per = int(gy) + int(xl)
        buf = np.zeros((n, per, 7), dtype=np.uint8)
        cnt = (self.tag_cnt + np.arange(n)) % 4
        self.tag_cnt = (self.tag_cnt + n) % 4
        j = 0
        for on, tag, cols in ((gy, regmap.LSM6DSO_TAG_GYRO, slice(3, 6)), (xl, regmap.LSM6DSO_TAG_ACCEL, slice(0, 3))):
            if not on:
                continue
            t = (tag << 3) | (cnt << 1)
            buf[:, j, 0] = t | _PARITY[t]  # parity bit makes the tag's bit count even
            buf[:, j, 1:] = counts[:, cols].astype("<i2").view(np.uint8).reshape(n, 6)
            j += 1
        self.fifo += buf.tobytes()

    def drop_oldest(self, nbytes: int) -> None:
        words = -(-nbytes // 7)
        del self.fifo[: words * 7]
        self.ovr_latched = True

    def fifo_read(self, pos: int, n: int) -> bytes:
        # reading a tag decides for the whole word: a word not all there reads as tag 0, zeros
        w = self.spec.fifo_word
        out = b""
        if pos:  # the rest of a word whose tag an earlier burst read
            m = min(n, w - pos)
            out = bytes(m) if self._word_empty else self._take(m).ljust(m, b"\0")
            n -= m
        if n:
            k = min(n, len(self.fifo) // w * w)
            self._word_empty = k < n
            out += self._take(k) + bytes(n - k)
        return out

    def fifo_flags(self) -> dict[str, bool]:
        latched, self.ovr_latched = self.ovr_latched, False  # FIFO_OVR_LATCHED clears on read
        return {"FIFO_FULL_IA": len(self.fifo) + 7 > self.spec.fifo_bytes, "FIFO_OVR_IA": self.overflowed,
                "FIFO_OVR_LATCHED": latched or self.overflowed}


_CHIP_CLASSES = {"mpu": MpuChip, "lsm6ds3": Lsm6ds3Chip, "lsm6dso": Lsm6dsoChip}


class SimBus:
    """Stands in for ``smbus2.SMBus``: the methods the drivers use, over emulated chips."""

    def __init__(self, clock: Callable[[], float] | None = None, faults: FaultConfig | None = None):
        self.clock = clock or time.monotonic
        self.faults = faults or FaultConfig()
        self.chips: dict[int, EmulatedChip] = {}
        self.transactions = 0
        self.bytes = 0
        self.errors = 0
        self._rng = random.Random(self.faults.seed)
        self._was_disconnected = False
        self._stalls = sorted(self.faults.overflow_at_s)
        self.closed = False

    def add_chip(self, chip: str, address: int, source=None) -> EmulatedChip:
        spec = regmap.CHIPS[chip]
        em = _CHIP_CLASSES[spec.family](spec, source, self.clock, self.faults)
        self.chips[address] = em
        return em

    # ---- fault model
    def _begin(self, addr: int, nbytes: int) -> EmulatedChip:
        self.transactions += 1
        self.bytes += nbytes
        f = self.faults
        now = self.clock()
        while self._stalls and now >= self._stalls[0]:
            self._stalls.pop(0)
            self._stall()
            now = self.clock()
        if f.disconnect_at_s is not None and f.disconnect_at_s <= now < f.disconnect_at_s + f.disconnect_ms / 1e3:
            self._was_disconnected = True
            self.errors += 1
            raise OSError(errno.EREMOTEIO, "Remote I/O error")
        if self._was_disconnected:  # plugged back in: the chip went through a power cycle
            self._was_disconnected = False
            for c in self.chips.values():
                c.power_on()
        if f.error_rate and self._rng.random() < f.error_rate:
            self.errors += 1
            raise OSError(errno.EIO, "Input/output error")
        chip = self.chips.get(addr)
        if chip is None:
            self.errors += 1
            raise OSError(errno.ENXIO, "No such device or address")  # no ACK
        return chip

    def _stall(self) -> None:
        """The host is descheduled long enough for every chip's FIFO to overflow."""
        worst = 0.0
        for c in self.chips.values():
            c.advance()
            if c._grid_rate > 0:
                worst = max(worst, 1.5 * c.spec.fifo_bytes / c.spec.frame_bytes / c._grid_rate)
        sleeper = getattr(self.clock, "sleep", None)  # SimClock.sleep advances simulated time
        (sleeper or time.sleep)(worst)

    # ---- smbus2.SMBus API subset
    def read_byte_data(self, i2c_addr: int, register: int, force=None) -> int:
        return self._begin(i2c_addr, 4).read(register, 1)[0]

    def write_byte_data(self, i2c_addr: int, register: int, value: int, force=None) -> None:
        self._begin(i2c_addr, 3).write(register, bytes([value & 0xFF]))

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int, force=None) -> list[int]:
        if length > 32:
            raise ValueError("Desired block length over 32")  # as smbus2 does, before any I/O
        return list(self._begin(i2c_addr, 3 + length).read(register, length))

    def write_i2c_block_data(self, i2c_addr: int, register: int, data, force=None) -> None:
        if len(data) > 32:
            raise ValueError("Data length cannot exceed 32 bytes")
        self._begin(i2c_addr, 2 + len(data)).write(register, bytes(data))

    def i2c_rdwr(self, *msgs) -> None:
        import ctypes

        if not msgs:
            return
        addr = msgs[0].addr
        chip = self._begin(addr, sum(1 + m.len for m in msgs))
        reg = None
        for m in msgs:
            if m.addr != addr:
                raise OSError(errno.EINVAL, "one device per transaction in SimBus")
            if m.flags & 0x0001:  # I2C_M_RD
                if reg is None:
                    raise OSError(errno.EINVAL, "read without a register address")
                data = chip.read(reg, m.len)
                ctypes.memmove(m.buf, data, m.len)
            else:
                raw = bytes(m)
                reg = raw[0]
                if len(raw) > 1:
                    chip.write(reg, raw[1:])

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> "SimBus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_sim_bus(chip: str = "mpu6050", address: int | None = None, source=None,
                 clock: Callable[[], float] | None = None, faults: FaultConfig | None = None) -> SimBus:
    """A SimBus with one emulated chip. ``clock=None`` paces the chip to wall-clock time."""
    if chip not in regmap.CHIPS:
        from kotdevice.errors import KotError

        raise KotError(f"unknown simulated chip {chip!r}; choose one of {', '.join(regmap.CHIPS)}")
    spec = regmap.CHIPS[chip]
    bus = SimBus(clock=clock, faults=faults)
    bus.add_chip(chip, spec.addresses[0] if address is None else address, source)
    return bus
