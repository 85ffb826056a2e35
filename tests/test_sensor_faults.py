"""Overflow, injected I2C errors, a 2 s disconnect: nothing escapes, gaps are right."""
import numpy as np
import pytest

from kotdevice.samples import ImuBlock
from kotdevice.sensor import FaultConfig, SimClock, make_sim_bus, open_sensor

SLOPE = 40.0  # gyro X = SLOPE * t: each sample's value tells which source sample it is


def ramp_source(rate, secs):
    t = np.arange(int(rate * secs)) / rate
    a = np.stack([np.cos(t), 0.5 * np.sin(t), 0.05 * t], 1)
    g = np.stack([SLOPE * t, 30 * np.sin(2 * t), -3 + 0 * t], 1)
    return ImuBlock(t, a, g)


def run(chip, faults, secs=8.0, step=0.1, pause=None):
    rate = 200.0 if chip.startswith("mpu") else 208.0
    src = ramp_source(rate, secs + 10)
    clk = SimClock()
    bus = make_sim_bus(chip, source=[src], clock=clk, faults=faults)
    s = open_sensor(bus, odr_hz=200, accel_fs_g=8, gyro_fs_dps=1000, clock=clk)
    blocks, gaps = [], []
    paused = False
    while clk() < 100 + secs:
        if pause and not paused and clk() >= pause[0]:
            paused = True
            clk.advance(pause[1])  # the reader is late by this much
        clk.advance(step)
        b, g = s.read()  # must never raise
        blocks.append(b)
        gaps += g
    return src, rate, s, ImuBlock.concat(blocks), gaps


def check_values(src, rate, out):
    """Every delivered sample equals a source sample within one LSB; returns source indices."""
    idx = np.rint(out.gyro_dps[:, 0] / SLOPE * rate).astype(int)
    assert np.all(np.diff(idx) >= 1)
    assert np.max(np.abs(out.accel_g - src.accel_g[idx])) <= 1 / 4096 + 1e-9
    assert np.max(np.abs(out.gyro_dps - src.gyro_dps[idx])) <= 1 / 28.5 + 1e-9
    return idx


def check_gaps(idx, out, gaps, rate):
    """Each hole in the source indices is reported as a gap of that many samples (±1)."""
    holes = [(i, int(d - 1)) for i, d in enumerate(np.diff(idx)) if d > 1]
    assert len(holes) == len(gaps), (holes, gaps)
    for (i, missing), gap in zip(holes, gaps):
        assert abs(gap.samples_lost - missing) <= 1, (missing, gap)
        assert abs(gap.start_s - (out.t_s[i] + 1 / rate)) < 2 / rate
        assert abs(gap.duration_s - gap.samples_lost / rate) < 0.02 * gap.duration_s + 1e-9
    # the timestamps stay on the sample clock across the gap
    phys = out.gyro_dps[:, 0] / SLOPE
    assert np.ptp(out.t_s - phys) < 3 / rate
    return holes


@pytest.mark.parametrize("chip", ["mpu6050", "mpu6500", "lsm6ds3", "lsm6dso"])
def test_overflow_from_a_late_reader(chip):
    src, rate, s, out, gaps = run(chip, FaultConfig(), pause=(103.0, 2.0))
    idx = check_values(src, rate, out)
    holes = check_gaps(idx, out, gaps, rate)
    if chip == "lsm6ds3":  # 8 KB FIFO holds 2 s at 208 Hz: nothing lost
        assert not holes and not gaps
    else:
        assert len(holes) == 1 and gaps[0].reason == "fifo_overflow"
        assert out.t_s[-1] > 107.5  # samples after recovery


@pytest.mark.parametrize("chip", ["mpu6050", "lsm6dso"])
def test_forced_overflow(chip):
    src, rate, s, out, gaps = run(chip, FaultConfig(overflow_at_s=[102.0]))
    idx = check_values(src, rate, out)
    check_gaps(idx, out, gaps, rate)
    assert len(gaps) == 1 and gaps[0].reason == "fifo_overflow"


@pytest.mark.parametrize("chip", ["mpu6050", "mpu9250", "lsm6ds3", "lsm6dso"])
def test_random_bus_errors_lose_nothing(chip):
    src, rate, s, out, gaps = run(chip, FaultConfig(error_rate=0.05, seed=7))
    assert s.stats.bus_errors > 3
    idx = check_values(src, rate, out)
    check_gaps(idx, out, gaps, rate)
    assert not gaps and len(out) >= int(7.8 * rate)


@pytest.mark.parametrize("chip", ["mpu6050", "mpu6500", "lsm6ds3", "lsm6dso"])
def test_two_second_disconnect(chip):
    src, rate, s, out, gaps = run(chip, FaultConfig(disconnect_at_s=102.0, disconnect_ms=2000))
    idx = check_values(src, rate, out)
    check_gaps(idx, out, gaps, rate)
    assert len(gaps) == 1 and gaps[0].reason == "disconnect"
    assert 2.0 <= gaps[0].duration_s <= 2.7  # 2 s unplugged + at most one probe interval
    assert s.stats.reinits == 1
    assert out.t_s[-1] > 107.5  # streaming again after the re-initialisation


def test_flaky_bus_heavy_error_rate_never_raises():
    src, rate, s, out, gaps = run("mpu6050", FaultConfig(error_rate=0.2, seed=1), secs=5)
    idx = check_values(src, rate, out)
    check_gaps(idx, out, gaps, rate)
    assert len(out) > 100


def test_stuck_sensor_repeats_one_sample():
    src, rate, s, out, gaps = run("mpu6050", FaultConfig(stuck_at_s=103.0), secs=5)
    late = out.t_s > 103.2
    assert late.sum() > 100
    assert np.ptp(out.gyro_dps[late], axis=0).max() == 0
