"""Physical samples -> SimBus -> driver -> samples, equal within one LSB, both families."""
import numpy as np
import pytest

from kotdevice.samples import ImuBlock
from kotdevice.sensor import FaultConfig, FileSource, SimClock, iter_blocks, make_sim_bus, open_sensor
from kotdevice.rawcsv import write_csv

ACCEL_LSB = {"mpu": {2: 16384, 4: 8192, 8: 4096, 16: 2048}, "st": {2: 1 / 0.061e-3, 4: 1 / 0.122e-3, 8: 1 / 0.244e-3, 16: 1 / 0.488e-3}}
GYRO_LSB = {"mpu": {250: 131, 500: 65.5, 1000: 32.8, 2000: 16.4}, "st": {250: 1 / 8.75e-3, 500: 1 / 17.5e-3, 1000: 1 / 35e-3, 2000: 1 / 70e-3}}
ODR = {"mpu": {100: 100.0, 200: 200.0, 1000: 1000.0}, "st": {100: 104.0, 200: 208.0, 1000: 833.0}}


def motion(rate, secs, accel_fs, gyro_fs, seed=0):
    """Smooth random motion inside the full scales, sampled at the chip's own rate."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * secs)) / rate
    a = np.stack([0.9 * accel_fs * np.sin(2 * np.pi * f * t + p) for f, p in rng.uniform(0.2, 3, (3, 2))], 1)
    g = np.stack([0.9 * gyro_fs * np.sin(2 * np.pi * f * t + p) for f, p in rng.uniform(0.2, 3, (3, 2))], 1)
    return ImuBlock(t, a, g)


@pytest.mark.parametrize("chip", ["mpu6050", "mpu6500", "lsm6ds3", "lsm6dso"])
@pytest.mark.parametrize("odr,afs,gfs", [(100, 2, 250), (200, 8, 1000), (1000, 16, 2000), (200, 4, 500)])
def test_round_trip_within_one_lsb(chip, odr, afs, gfs):
    fam = "mpu" if chip.startswith("mpu") else "st"
    rate = ODR[fam][odr]
    src = motion(rate, 3.0, afs, gfs)
    clk = SimClock()
    bus = make_sim_bus(chip, source=[src], clock=clk)
    s = open_sensor(bus, odr_hz=odr, accel_fs_g=afs, gyro_fs_dps=gfs, clock=clk)
    assert s.odr_hz == rate
    blocks = []
    while clk() < 102.5:
        clk.advance(s.poll_interval_s)
        b, gaps = s.read()
        assert not gaps
        blocks.append(b)
    out = ImuBlock.concat(blocks)
    n = len(out)
    assert n >= int(2.2 * rate)
    one_a, one_g = 1 / ACCEL_LSB[fam][afs], 1 / GYRO_LSB[fam][gfs]
    # the motion plays from the chip's power-on; the FIFO starts some samples later
    k0 = _offset(out, src)
    assert k0 < 0.2 * rate
    assert np.max(np.abs(out.accel_g - src.accel_g[k0:k0 + n])) <= one_a
    assert np.max(np.abs(out.gyro_dps - src.gyro_dps[k0:k0 + n])) <= one_g
    # the sample clock: evenly spaced at the configured period, not at read times
    dt = np.diff(out.t_s)
    assert np.all(dt > 0)
    assert np.allclose(dt, 1 / rate, rtol=0.025)  # model updates slew by <= 2 %
    assert s.stats.samples == n


@pytest.mark.parametrize("chip", ["mpu6050", "lsm6ds3"])
def test_drift_of_chip_clock_is_followed(chip):
    """The chip runs 1.5 % fast; timestamps follow its real rate (no drift against the motion)."""
    fam = "mpu" if chip.startswith("mpu") else "st"
    rate = ODR[fam][200]
    true_rate = rate * 1.015
    t = np.arange(int(true_rate * 25)) / true_rate
    g = np.stack([20 * t, 0 * t, 0 * t], 1)  # gyro X encodes the physical time
    src = ImuBlock(t, np.tile([1.0, 0, 0], (len(t), 1)), g)
    clk = SimClock()
    bus = make_sim_bus(chip, source=[src], clock=clk, faults=FaultConfig(clock_error=0.015))
    s = open_sensor(bus, odr_hz=200, gyro_fs_dps=1000, clock=clk)
    blocks = []
    while clk() < 120:
        clk.advance(0.1)
        blocks.append(s.read()[0])
    out = ImuBlock.concat(blocks)
    assert abs(s.period_s * true_rate - 1) < 1e-3
    phys_t = out.gyro_dps[:, 0] / 20
    late = out.t_s > 105  # after the model has settled
    err = (out.t_s - phys_t)[late]
    assert np.ptp(err) < 2.5 / true_rate


def test_file_source_replay_and_exhausted_source_holds_last(tmp_path):
    src = motion(200.0, 1.0, 8, 1000, seed=3)
    path = tmp_path / "m.csv"
    write_csv(path, src)
    clk = SimClock()
    bus = make_sim_bus("mpu6050", source=FileSource(path), clock=clk)
    s = open_sensor(bus, odr_hz=200, clock=clk)
    blocks = [b for b, _ in _run(s, clk, 1.5)]
    out = ImuBlock.concat(blocks)
    assert len(out) >= 290
    k0 = _offset(out, src)
    m = 200 - k0
    assert np.max(np.abs(out.accel_g[:m] - src.accel_g[k0:])) <= 1 / 4096 + 1e-5  # CSV has 5 decimals
    assert np.max(np.abs(out.accel_g[m:] - out.accel_g[m])) == 0  # last sample held


def _offset(out, src):
    errs = [np.max(np.abs(out.accel_g[:20] - src.accel_g[k:k + 20])) for k in range(len(src) // 2)]
    return int(np.argmin(errs))


def _run(sensor, clk, secs):
    import threading

    stop = threading.Event()
    t_end = clk() + secs
    for item in iter_blocks(sensor, stop):
        yield item
        if clk() >= t_end:
            stop.set()


def test_iter_blocks_sleeps_between_reads():
    clk = SimClock()
    bus = make_sim_bus("mpu6050", clock=clk)
    s = open_sensor(bus, odr_hz=200, clock=clk)
    calls = []
    real_read = s.read
    s.read = lambda: calls.append(clk()) or real_read()
    got = sum(len(b) for b, _ in _run(s, clk, 2.0))
    assert abs(len(calls) - 2.0 / s.poll_interval_s) <= 2  # one read per poll interval, no spinning
    assert abs(got - 400) <= 25
