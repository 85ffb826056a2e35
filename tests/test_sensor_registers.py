"""Register-level checks of the emulated chips and of what the drivers write, against the
datasheet values (numbers typed here from the datasheets, not taken from kotdevice.regmap)."""
import numpy as np
import pytest

from kotdevice.samples import ImuBlock
from kotdevice.sensor import SimClock, make_sim_bus, open_sensor


def const_source(accel, gyro, rate=1000.0, secs=5.0):
    n = int(rate * secs)
    return [ImuBlock(np.arange(n) / rate, np.tile(accel, (n, 1)), np.tile(gyro, (n, 1)))]


def s16(hi, lo):
    v = (hi << 8) | lo
    return v - 65536 if v & 0x8000 else v


@pytest.mark.parametrize("chip,addr,reg,who", [
    ("mpu6050", 0x68, 0x75, 0x68), ("mpu6500", 0x68, 0x75, 0x70), ("mpu9250", 0x69, 0x75, 0x71),
    ("lsm6ds3", 0x6A, 0x0F, 0x69), ("lsm6dso", 0x6B, 0x0F, 0x6C),
])
def test_who_am_i(chip, addr, reg, who):
    bus = make_sim_bus(chip, address=addr, clock=SimClock())
    assert bus.read_byte_data(addr, reg) == who


def test_mpu6050_reset_values_and_device_reset():
    clk = SimClock()
    bus = make_sim_bus("mpu6050", clock=clk)
    assert bus.read_byte_data(0x68, 0x6B) == 0x40  # PWR_MGMT_1: boots asleep
    for reg in (0x19, 0x1A, 0x1B, 0x1C, 0x23, 0x38, 0x6A):
        assert bus.read_byte_data(0x68, reg) == 0x00
    bus.write_byte_data(0x68, 0x6B, 0x00)  # wake
    bus.write_byte_data(0x68, 0x1B, 0x18)
    clk.advance(0.1)
    assert bus.read_byte_data(0x68, 0x3A) & 0x01  # DATA_RDY once awake
    bus.write_byte_data(0x68, 0x6B, 0x80)  # DEVICE_RESET self-clears, back to asleep
    assert bus.read_byte_data(0x68, 0x6B) == 0x40
    assert bus.read_byte_data(0x68, 0x1B) == 0x00
    # asleep: no new samples
    bus.read_byte_data(0x68, 0x3A)
    clk.advance(0.1)
    assert bus.read_byte_data(0x68, 0x3A) & 0x01 == 0


def test_mpu6500_boots_awake_and_st_ctrl3_reset():
    bus = make_sim_bus("mpu6500", clock=SimClock())
    assert bus.read_byte_data(0x68, 0x6B) == 0x01
    bus = make_sim_bus("lsm6ds3", clock=SimClock())
    assert bus.read_byte_data(0x6A, 0x12) == 0x04  # CTRL3_C: IF_INC
    bus.write_byte_data(0x6A, 0x10, 0x40)
    bus.write_byte_data(0x6A, 0x12, 0x05)  # SW_RESET self-clears
    assert bus.read_byte_data(0x6A, 0x12) == 0x04
    assert bus.read_byte_data(0x6A, 0x10) == 0x00


@pytest.mark.parametrize("odr,div,dlpf", [(100, 9, 3), (200, 4, 2), (1000, 0, 1)])
def test_mpu_driver_config_registers(odr, div, dlpf):
    clk = SimClock()
    bus = make_sim_bus("mpu6050", clock=clk)
    s = open_sensor(bus, odr_hz=odr, accel_fs_g=8, gyro_fs_dps=1000, clock=clk)
    assert s.chip_name == "MPU-6050" and s.odr_hz == odr
    rd = lambda r: bus.read_byte_data(0x68, r)
    assert rd(0x6B) == 0x01  # awake, PLL with X gyro
    assert rd(0x19) == div
    assert rd(0x1A) == dlpf
    assert rd(0x1B) == 2 << 3  # FS_SEL=2: ±1000 dps
    assert rd(0x1C) == 2 << 3  # AFS_SEL=2: ±8 g
    assert rd(0x23) == 0x78  # FIFO: XG YG ZG ACCEL
    assert rd(0x6A) == 0x40  # FIFO_EN (FIFO_RESET self-cleared)
    assert rd(0x38) == 0x10  # FIFO_OFLOW_EN
    # the output rate follows divider and DLPF: 1 kHz / (1 + div)
    s.read()
    bus.write_byte_data(0x68, 0x6A, 0x44)
    clk.advance(1.0)
    count = (rd(0x72) << 8) | rd(0x73)
    assert count == min(1024, 12 * int(1000 / (1 + div)))


def test_mpu_dlpf_off_runs_gyro_at_8khz():
    clk = SimClock()
    bus = make_sim_bus("mpu6050", clock=clk)
    for reg, v in ((0x6B, 0x01), (0x19, 79), (0x1A, 0x00), (0x23, 0x78), (0x6A, 0x44)):
        bus.write_byte_data(0x68, reg, v)
    clk.advance(0.5)
    assert (bus.read_byte_data(0x68, 0x72) << 8 | bus.read_byte_data(0x68, 0x73)) == 12 * 50  # 8k/80


@pytest.mark.parametrize("chip,afs_reg,gfs_reg,afs,gfs", [
    # MPU-6050 PS §6.1/6.2: LSB/g 16384, 8192, 4096, 2048; LSB/dps 131, 65.5, 32.8, 16.4
    ("mpu6050", 0x1C, 0x1B, {2: (0, 16384), 4: (1, 8192), 8: (2, 4096), 16: (3, 2048)},
     {250: (0, 131), 500: (1, 65.5), 1000: (2, 32.8), 2000: (3, 16.4)}),
    # LSM6DS3/DSO: 0.061/0.122/0.244/0.488 mg/LSB; 8.75/17.5/35/70 mdps/LSB
    ("lsm6ds3", 0x10, 0x11, {2: (0, 1 / 0.061e-3), 4: (2, 1 / 0.122e-3), 8: (3, 1 / 0.244e-3), 16: (1, 1 / 0.488e-3)},
     {250: (0, 1 / 8.75e-3), 500: (1, 1 / 17.5e-3), 1000: (2, 1 / 35e-3), 2000: (3, 1 / 70e-3)}),
    ("lsm6dso", 0x10, 0x11, {2: (0, 1 / 0.061e-3), 4: (2, 1 / 0.122e-3), 8: (3, 1 / 0.244e-3), 16: (1, 1 / 0.488e-3)},
     {250: (0, 1 / 8.75e-3), 500: (1, 1 / 17.5e-3), 1000: (2, 1 / 35e-3), 2000: (3, 1 / 70e-3)}),
])
def test_sensitivity_per_full_scale(chip, afs_reg, gfs_reg, afs, gfs):
    accel, gyro = np.array([0.731, -0.5, 1.2]), np.array([123.4, -56.7, 8.9])
    for (a_fs, (a_code, a_lsb)), (g_fs, (g_code, g_lsb)) in zip(afs.items(), gfs.items()):
        clk = SimClock()
        bus = make_sim_bus(chip, source=const_source(accel, gyro), clock=clk)
        s = open_sensor(bus, odr_hz=200, accel_fs_g=a_fs, gyro_fs_dps=g_fs, clock=clk)
        addr = s.address
        if chip == "mpu6050":
            assert bus.read_byte_data(addr, afs_reg) >> 3 == a_code
            assert bus.read_byte_data(addr, gfs_reg) >> 3 == g_code
            clk.advance(0.05)
            raw = bus.read_i2c_block_data(addr, 0x3B, 14)  # ACCEL, TEMP, GYRO, big-endian
            acc = [s16(raw[i], raw[i + 1]) for i in (0, 2, 4)]
            gyr = [s16(raw[i], raw[i + 1]) for i in (8, 10, 12)]
        else:
            assert (bus.read_byte_data(addr, afs_reg) >> 2) & 3 == a_code
            assert (bus.read_byte_data(addr, gfs_reg) >> 2) & 3 == g_code
            clk.advance(0.05)
            raw = bus.read_i2c_block_data(addr, 0x22, 12)  # OUTX_L_G.. then OUTX_L_XL.., little-endian
            gyr = [s16(raw[i + 1], raw[i]) for i in (0, 2, 4)]
            acc = [s16(raw[i + 1], raw[i]) for i in (6, 8, 10)]
        want_a = np.clip(np.rint(accel * a_lsb), -32768, 32767)
        want_g = np.clip(np.rint(gyro * g_lsb), -32768, 32767)
        assert np.array_equal(acc, want_a), (a_fs, acc, want_a)
        assert np.array_equal(gyr, want_g), (g_fs, gyr, want_g)


def test_full_scale_clips():
    clk = SimClock()
    bus = make_sim_bus("mpu6050", source=const_source([20.0, -20.0, 0.5], [3000, -3000, 0]), clock=clk)
    s = open_sensor(bus, odr_hz=200, accel_fs_g=8, gyro_fs_dps=2000, clock=clk)
    clk.advance(0.2)
    b, gaps = s.read()
    assert len(b) > 10 and not gaps
    assert np.allclose(b.accel_g[:, 0], 32767 / 4096) and np.allclose(b.accel_g[:, 1], -8.0)
    assert np.allclose(b.gyro_dps[:, 0], 32767 / 16.4) and np.allclose(b.gyro_dps[:, 1], -32768 / 16.4)


def test_fifo_layouts_and_byte_order():
    accel, gyro = np.array([0.5, -0.25, 1.0]), np.array([100.0, -50.0, 25.0])
    # MPU: 12-byte frames, ACCEL X,Y,Z then GYRO X,Y,Z, big-endian
    clk = SimClock()
    bus = make_sim_bus("mpu6050", source=const_source(accel, gyro), clock=clk)
    open_sensor(bus, odr_hz=100, accel_fs_g=2, gyro_fs_dps=250, clock=clk)
    clk.advance(0.05)
    n = (bus.read_byte_data(0x68, 0x72) << 8) | bus.read_byte_data(0x68, 0x73)
    assert n == 60
    raw = bus.read_i2c_block_data(0x68, 0x74, 24)  # FIFO_R_W does not auto-increment
    for f in (raw[:12], raw[12:]):
        vals = [s16(f[i], f[i + 1]) for i in range(0, 12, 2)]
        assert vals == [8192, -4096, 16384, 13100, -6550, 3275]
    assert (bus.read_byte_data(0x68, 0x72) << 8) | bus.read_byte_data(0x68, 0x73) == 36
    # LSM6DS3: 16-bit words Gx Gy Gz XLx XLy XLz, little-endian; pattern index in FIFO_STATUS3
    clk = SimClock()
    bus = make_sim_bus("lsm6ds3", source=const_source(accel, gyro), clock=clk)
    open_sensor(bus, odr_hz=104, accel_fs_g=2, gyro_fs_dps=250, clock=clk)
    clk.advance(0.1)
    st = bus.read_i2c_block_data(0x6A, 0x3A, 4)
    words = st[0] | ((st[1] & 0x0F) << 8)
    assert words == 6 * 10 and st[2] == 0 and st[3] == 0
    raw = bus.read_i2c_block_data(0x6A, 0x3E, 14)  # rolls back from 0x3F to 0x3E
    vals = [s16(raw[i + 1], raw[i]) for i in range(0, 14, 2)]
    assert vals[:6] == [round(100 / 8.75e-3), round(-50 / 8.75e-3), round(25 / 8.75e-3),
                        round(0.5 / 0.061e-3), round(-0.25 / 0.061e-3), round(1 / 0.061e-3)]
    assert vals[6] == vals[0]
    assert bus.read_byte_data(0x6A, 0x3C) == 1  # next word is Gy
    # LSM6DSO: 7-byte words, tag (sensor<<3 | cnt<<1 | parity) then X,Y,Z little-endian
    clk = SimClock()
    bus = make_sim_bus("lsm6dso", source=const_source(accel, gyro), clock=clk)
    open_sensor(bus, odr_hz=104, accel_fs_g=2, gyro_fs_dps=250, clock=clk)
    clk.advance(0.1)
    st = bus.read_i2c_block_data(0x6A, 0x3A, 2)
    assert st[0] | ((st[1] & 3) << 8) == 20
    raw = bus.read_i2c_block_data(0x6A, 0x78, 28)
    words = [raw[i:i + 7] for i in range(0, 28, 7)]
    assert [w[0] >> 3 for w in words] == [0x01, 0x02, 0x01, 0x02]  # gyro, accel, gyro, accel
    assert [(w[0] >> 1) & 3 for w in words] == [0, 0, 1, 1]  # TAG_CNT per time slot
    assert all(bin(w[0]).count("1") % 2 == 0 for w in words)
    assert [s16(words[0][2 * i + 2], words[0][2 * i + 1]) for i in range(3)] == [
        round(100 / 8.75e-3), round(-50 / 8.75e-3), round(25 / 8.75e-3)]
    assert [s16(words[1][2 * i + 2], words[1][2 * i + 1]) for i in range(3)] == [
        round(0.5 / 0.061e-3), round(-0.25 / 0.061e-3), round(1 / 0.061e-3)]


def test_overflow_bits_and_empty_fifo():
    # MPU-6050: 1024-byte FIFO, oldest data dropped, INT_STATUS.FIFO_OFLOW_INT set, cleared on read
    clk = SimClock()
    bus = make_sim_bus("mpu6050", clock=clk)
    open_sensor(bus, odr_hz=1000, clock=clk)
    clk.advance(0.5)
    assert (bus.read_byte_data(0x68, 0x72) << 8) | bus.read_byte_data(0x68, 0x73) == 1024
    assert bus.read_byte_data(0x68, 0x3A) & 0x10
    assert bus.read_byte_data(0x68, 0x3A) & 0x10 == 0
    bus.write_byte_data(0x68, 0x6A, 0x44)  # FIFO_RESET
    assert (bus.read_byte_data(0x68, 0x72) << 8) | bus.read_byte_data(0x68, 0x73) == 0
    bus.write_byte_data(0x68, 0x6A, 0x00)  # FIFO stopped: reading it repeats the last byte read
    clk.advance(0.01)
    assert bus.read_i2c_block_data(0x68, 0x74, 3) == [bus.read_byte_data(0x68, 0x74)] * 3
    # LSM6DS3: FIFO_STATUS2 FIFO_OVER_RUN (bit 6) and FIFO_FULL (bit 5); bypass clears
    clk = SimClock()
    bus = make_sim_bus("lsm6ds3", clock=clk)
    open_sensor(bus, odr_hz=833, clock=clk)
    clk.advance(10.0)
    assert bus.read_byte_data(0x6A, 0x3B) & 0x60 == 0x60
    bus.write_byte_data(0x6A, 0x0A, 0x00)
    assert bus.read_byte_data(0x6A, 0x3B) == 0x10  # FIFO_EMPTY
    # LSM6DSO: FIFO_OVR_IA (bit 6), FIFO_OVR_LATCHED (bit 3)
    clk = SimClock()
    bus = make_sim_bus("lsm6dso", clock=clk)
    open_sensor(bus, odr_hz=833, clock=clk)
    clk.advance(5.0)
    assert bus.read_byte_data(0x6A, 0x3B) & 0x48 == 0x48
    bus.write_byte_data(0x6A, 0x0A, 0x00)
    assert bus.read_byte_data(0x6A, 0x3B) & 0x48 == 0
    assert bus.read_i2c_block_data(0x6A, 0x78, 7) == [0] * 7  # empty: tag 0


def test_wire_accounting():
    bus = make_sim_bus("mpu6050", clock=SimClock())
    bus.read_byte_data(0x68, 0x75)
    bus.write_byte_data(0x68, 0x6B, 0)
    bus.read_i2c_block_data(0x68, 0x72, 2)
    assert bus.transactions == 3 and bus.bytes == 4 + 3 + 5
    with pytest.raises(ValueError):
        bus.read_i2c_block_data(0x68, 0x74, 33)


@pytest.mark.parametrize("chip,fifo_regs", [
    # LSM6DS3: FIFO_CTRL3 (0x08) no decimation for both; FIFO_CTRL5 (0x0A) ODR_FIFO=208 Hz, continuous
    ("lsm6ds3", {0x08: 0x09, 0x0A: (0b0101 << 3) | 0b110}),
    # LSM6DSO: FIFO_CTRL3 (0x09) BDR_GY=BDR_XL=208 Hz; FIFO_CTRL4 (0x0A) continuous
    ("lsm6dso", {0x09: 0x55, 0x0A: 0b110}),
])
def test_st_driver_config_registers(chip, fifo_regs):
    clk = SimClock()
    bus = make_sim_bus(chip, clock=clk)
    s = open_sensor(bus, odr_hz=200, accel_fs_g=8, gyro_fs_dps=1000, clock=clk)
    assert s.odr_hz == 208
    rd = lambda r: bus.read_byte_data(0x6A, r)
    assert rd(0x10) == (0b0101 << 4) | (0b11 << 2)  # CTRL1_XL: 208 Hz, ±8 g
    assert rd(0x11) == (0b0101 << 4) | (0b10 << 2)  # CTRL2_G: 208 Hz, ±1000 dps
    assert rd(0x12) == 0x44  # CTRL3_C: BDU, IF_INC
    for reg, v in fifo_regs.items():
        assert rd(reg) == v


def _stopped_fifo(chip, stop):
    """A chip whose FIFO holds ~50 ms of samples and then stops filling."""
    clk = SimClock()
    bus = make_sim_bus(chip, source=const_source([0.5, -0.25, 1.0], [100.0, -50.0, 25.0]), clock=clk)
    s = open_sensor(bus, odr_hz=100, accel_fs_g=2, gyro_fs_dps=250, clock=clk)
    clk.advance(0.05)
    for reg, v in stop.items():
        bus.write_byte_data(s.address, reg, v)
    return bus, s.address


def _burst(bus, addr, reg, n):
    from smbus2 import i2c_msg

    w, r = i2c_msg.write(addr, [reg]), i2c_msg.read(addr, n)
    bus.i2c_rdwr(w, r)
    return list(r)


@pytest.mark.parametrize("chip,fifo_reg,word,stop", [
    ("mpu6050", 0x74, 1, {0x6A: 0x00}),  # USER_CTRL = 0: FIFO stopped, contents kept
    ("lsm6ds3", 0x3E, 2, {0x10: 0x00, 0x11: 0x00}),  # CTRL1_XL = CTRL2_G = 0: power-down
    ("lsm6dso", 0x78, 7, {0x10: 0x00, 0x11: 0x00}),
])
def test_fifo_burst_across_the_end(chip, fifo_reg, word, stop):
    def level(bus, addr):  # bytes in the FIFO
        if chip == "mpu6050":
            return (bus.read_byte_data(addr, 0x72) << 8) | bus.read_byte_data(addr, 0x73)
        st = bus.read_i2c_block_data(addr, 0x3A, 2)  # FIFO_STATUS1/2: DIFF_FIFO in words
        return (st[0] | ((st[1] & (0x0F if chip == "lsm6ds3" else 0x03)) << 8)) * word

    bus, addr = _stopped_fifo(chip, stop)
    twin, _ = _stopped_fifo(chip, stop)
    n = level(bus, addr)
    assert n >= 4 * 12 and n == level(twin, addr)
    data = _burst(bus, addr, fifo_reg, n + 3 * word + 1)
    # one long burst returns what reading word by word returns
    assert data[:n] == sum((twin.read_i2c_block_data(addr, fifo_reg, word) for _ in range(n // word)), [])
    if chip == "mpu6050":
        assert data[n:] == [data[n - 1]] * (3 * word + 1)  # empty FIFO: the last byte again
    else:
        assert data[n:] == [0] * (3 * word + 1)  # empty FIFO: zeros (LSM6DSO: tag 0, no sensor)
    assert level(bus, addr) == 0
    if chip == "lsm6ds3":
        assert bus.read_byte_data(addr, 0x3B) & 0x10 and bus.read_byte_data(addr, 0x3C) == 0  # empty, pattern 0
