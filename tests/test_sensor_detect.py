"""Autodetect, the clear errors, and the command-line tools."""
import subprocess
import sys

import numpy as np
import pytest

from kotdevice.errors import KotError
from kotdevice.rawcsv import read_csv
from kotdevice.sensor import SimBus, SimClock, make_sim_bus, open_real_bus, open_sensor

NAMES = {"mpu6050": "MPU-6050", "mpu6500": "MPU-6500", "mpu9250": "MPU-9250", "lsm6ds3": "LSM6DS3", "lsm6dso": "LSM6DSO"}


@pytest.mark.parametrize("chip,addresses", [
    ("mpu6050", (0x68, 0x69)), ("mpu6500", (0x68, 0x69)), ("mpu9250", (0x68, 0x69)),
    ("lsm6ds3", (0x6A, 0x6B)), ("lsm6dso", (0x6A, 0x6B)),
])
def test_autodetect_each_chip_at_each_address(chip, addresses):
    for addr in addresses:
        clk = SimClock()
        bus = make_sim_bus(chip, address=addr, clock=clk)
        s = open_sensor(bus, clock=clk)
        assert s.chip_name == NAMES[chip] and s.address == addr
        clk.advance(0.1)
        b, gaps = s.read()
        assert len(b) > 5 and not gaps
        assert np.allclose(np.linalg.norm(b.accel_g, axis=1), 1.0, atol=1e-3)  # at rest
        s.close()
        assert bus.closed
        # close stops the chip: FIFO off and, on ST chips, both sensors powered down
        regs = bus.chips[addr].regs
        if chip.startswith("mpu"):
            assert regs[0x6A] == 0 and regs[0x6B] & 0x40  # USER_CTRL cleared, PWR_MGMT_1 SLEEP
        else:
            assert regs[0x0A] & 0x07 == 0 and regs[0x10] == 0 and regs[0x11] == 0  # FIFO bypass, ODR off


def test_explicit_address_and_two_chips_on_one_bus():
    clk = SimClock()
    bus = SimBus(clock=clk)
    bus.add_chip("mpu6050", 0x68)
    bus.add_chip("lsm6dso", 0x6B)
    assert open_sensor(bus, address=0x6B, clock=clk).chip_name == "LSM6DSO"
    assert open_sensor(bus, clock=clk).chip_name == "MPU-6050"  # first standard address wins


def test_empty_bus_is_one_clear_error():
    with pytest.raises(KotError) as e:
        open_sensor(SimBus(clock=SimClock()), bus_number=3)
    msg = str(e.value)
    assert "\n" not in msg and "I2C bus 3" in msg
    for a in ("0x68", "0x69", "0x6a", "0x6b"):
        assert a in msg


def test_wrong_whoami_is_named():
    bus = make_sim_bus("mpu6050", clock=SimClock())
    bus.chips[0x68].regs[0x75] = 0x12  # an unknown chip at a standard address
    with pytest.raises(KotError, match="0x68 answered WHO_AM_I=0x12"):
        open_sensor(bus, bus_number=1)


def test_bad_settings_are_refused():
    clk = SimClock()
    with pytest.raises(KotError, match="full scale"):
        open_sensor(make_sim_bus("mpu6050", clock=clk), accel_fs_g=3, clock=clk)
    with pytest.raises(KotError, match="output rate"):
        open_sensor(make_sim_bus("lsm6ds3", clock=clk), odr_hz=0, clock=clk)


def test_no_i2c_device_on_this_machine():
    with pytest.raises(KotError, match=r"no /dev/i2c-97: I2C not enabled\? use --sim"):
        open_real_bus(97)


def kot(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "kotdevice", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_record_sim_writes_contract_csv(tmp_path):
    out = tmp_path / "rec.csv"
    r = kot("record", "--sim", "--sim-chip", "lsm6ds3", "--rate", "100", "--seconds", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    b = read_csv(out)
    assert abs(len(b) - 208) <= 2  # 104 Hz for 2 s
    assert b.t_s[0] == 0 and np.allclose(np.diff(b.t_s), 1 / 104, rtol=0.03)
    assert np.allclose(np.linalg.norm(b.accel_g, axis=1), 1.0, atol=0.02)
    # replayed through another simulated chip, the recording comes back
    out2 = tmp_path / "again.csv"
    r = kot("record", "--sim", "--sim-source", str(out), "--rate", "100", "--seconds", "1.5", "--out", str(out2))
    assert r.returncode == 0, r.stderr
    b2 = read_csv(out2)
    assert len(b2) >= 140 and np.allclose(np.linalg.norm(b2.accel_g, axis=1), 1.0, atol=0.02)


def test_record_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("t_s,ax_g\n0,1\n")
    r = kot("record", "--sim", "--sim-source", str(bad), "--seconds", "1", "--out", str(tmp_path / "x.csv"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "bad.csv:1" in r.stderr
    r = kot("record", "--bus", "97", "--seconds", "1", "--out", str(tmp_path / "x.csv"))
    assert r.returncode == 2 and "no /dev/i2c-97" in r.stderr and "Traceback" not in r.stderr


def test_sensor_live_readout():
    r = kot("sensor", "--sim", "--sim-chip", "mpu9250", "--seconds", "1.2", "--every", "0.4")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("MPU-9250 at 0x68 on simulated bus, 200 Hz")
    rates = [float(l.split("rate=")[1].split("Hz")[0]) for l in lines[1:]]
    assert len(rates) >= 2 and all(150 < x < 250 for x in rates[1:])
