"""`kotdevice doctor`: every check against the simulated bus, a real Mosquitto and fake system
files, each failure with its message and its fix."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kotdevice.device import config as cfgmod
from kotdevice.device import doctor
from kotdevice.device.broker import free_port, mosquitto_path, wait_port
from kotdevice.sensor import FaultConfig, SimClock, StillSource, make_sim_bus

REPO = Path(__file__).resolve().parents[1]


def make_cfg(**values) -> cfgmod.Config:
    """Defaults plus overrides given as section__key=value."""
    cfg = cfgmod.Config(source="test.toml")
    for name, v in values.items():
        section, _, key = name.rpartition("__")
        cfg.set(section, key, v)
    return cfgmod.resolve(cfg, sim=True)


def sensor_check(cfg=None, chip="mpu6050", address=None, faults=None, seconds=2.0):
    """check_sensor on an emulated chip with simulated time (instant)."""
    clock = SimClock()
    bus = make_sim_bus(chip, address=address, source=StillSource(), clock=clock, faults=faults)
    return doctor.check_sensor(cfg or make_cfg(), sim=True, seconds=seconds, open_bus=lambda c: bus, clock=clock)


def assert_fail(check: doctor.Check, *needles: str) -> None:
    line = check.line()
    assert not check.ok and line.startswith(f"FAIL  {check.name}: ") and "\n" not in line
    assert " -> fix: " in line and check.fix
    for n in needles:
        assert n in line, (n, line)


# --- sensor -------------------------------------------------------------------------------

@pytest.mark.parametrize("chip,odr", [("mpu6050", 200), ("lsm6ds3", 208), ("lsm6dso", 208)])
def test_sensor_streams_at_the_configured_rate(chip, odr):
    c = sensor_check(chip=chip)
    assert c.ok, c.line()
    measured = float(c.detail.split(" at ")[1].split(" Hz")[0])
    assert abs(measured - odr) <= 0.05 * odr
    assert f"configured {odr} Hz" in c.detail


def test_sensor_not_at_the_configured_address():
    c = sensor_check(make_cfg(sensor__address=0x69), chip="mpu6050", address=0x68)
    assert_fail(c, "no supported IMU found", "0x69", "sensor.address = 0", "SDA pin 3")


def test_no_sensor_on_the_bus():
    clock = SimClock()
    from kotdevice.sensor import SimBus

    c = doctor.check_sensor(make_cfg(), sim=True, open_bus=lambda cfg: SimBus(clock=clock), clock=clock)
    assert_fail(c, "no supported IMU found", "i2cdetect -y 1")


def test_sensor_with_a_fast_oscillator_misses_the_rate():
    c = sensor_check(faults=FaultConfig(clock_error=0.25))
    assert_fail(c, "measured (configured 200 Hz", "keep its rate")


def test_sensor_unplugged_while_streaming():
    c = sensor_check(faults=FaultConfig(disconnect_at_s=100.2, disconnect_ms=1500))
    assert_fail(c, "keep its rate")


def test_frozen_sensor_data():
    c = sensor_check(faults=FaultConfig(stuck_at_s=100.0))
    assert_fail(c, "never changes", "power-cycle")


def test_sensor_not_probed_while_the_service_owns_it(monkeypatch):
    def boom(n):
        raise AssertionError("must not open the bus")
    monkeypatch.setattr("kotdevice.sensor.open_real_bus", boom)
    c = doctor.check_sensor(make_cfg(), sim=False, service_active=lambda: True)
    assert c.ok and "kotdevice.service is running" in c.detail


# --- i2c ------------------------------------------------------------------------------------

def test_i2c_missing_device(tmp_path):
    c = doctor.check_i2c(make_cfg(), sim=False, dev_root=tmp_path, sys_root=tmp_path)
    assert_fail(c, f"{tmp_path}/i2c-1 does not exist", "raspi-config nonint do_i2c 0", "reboot")


def test_i2c_present_reports_the_bus_speed(tmp_path):
    (tmp_path / "i2c-1").touch()
    node = tmp_path / "class/i2c-adapter/i2c-1/of_node"
    node.mkdir(parents=True)
    (node / "clock-frequency").write_bytes((100_000).to_bytes(4, "big"))
    c = doctor.check_i2c(make_cfg(), sim=False, dev_root=tmp_path, sys_root=tmp_path)
    assert c.ok and "100 kHz" in c.detail and "i2c_arm_baudrate=400000" in c.detail
    (node / "clock-frequency").write_bytes((400_000).to_bytes(4, "big"))
    c = doctor.check_i2c(make_cfg(), sim=False, dev_root=tmp_path, sys_root=tmp_path)
    assert c.ok and c.detail.endswith("400 kHz")


def test_i2c_without_permission(tmp_path):
    (tmp_path / "i2c-1").touch()
    # os.access as a non-member of the i2c group (root would always pass).
    c = doctor.check_i2c(make_cfg(), sim=False, dev_root=tmp_path, sys_root=tmp_path,
                         access=lambda path, mode: False)
    assert_fail(c, "permission", "usermod -aG i2c")


# --- broker ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory):
    """Mosquitto with a password file: plain listener + TLS listener (CA by make-certs.sh)."""
    exe = mosquitto_path()
    if exe is None or shutil.which("mosquitto_passwd") is None:
        pytest.fail("mosquitto is not installed: run `make test`, which installs it")
    d = tmp_path_factory.mktemp("doctorbroker")
    d.chmod(0o755)
    subprocess.run(["bash", str(REPO / "firmware/make-certs.sh"), str(d / "tls"), "localhost", "127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    (d / "passwd").touch()
    subprocess.run(["mosquitto_passwd", "-b", str(d / "passwd"), "kot-test0001", "s3cret"], check=True)
    plain, tls = free_port(), free_port()
    (d / "m.conf").write_text("\n".join([
        "persistence false", "log_dest stderr", "per_listener_settings false", "allow_anonymous false",
        f"password_file {d}/passwd", *(["user root"] if os.geteuid() == 0 else []),
        f"listener {plain} 127.0.0.1", f"listener {tls} 127.0.0.1",
        f"cafile {d}/tls/ca.crt", f"certfile {d}/tls/server.crt", f"keyfile {d}/tls/server.key", ""]))
    proc = subprocess.Popen([exe, "-c", str(d / "m.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_port("127.0.0.1", plain) and wait_port("127.0.0.1", tls)
        yield {"plain": plain, "tls": tls, "ca": str(d / "tls/ca.crt"), "dir": d}
    finally:
        proc.terminate()
        proc.wait(5)


def broker_cfg(port, **kw):
    base = {"broker__host": "127.0.0.1", "broker__port": port, "broker__username": "kot-test0001",
            "broker__password": "s3cret", "device_id": "kot-test0001"}
    base.update(kw)
    return make_cfg(**base)


def test_broker_ok_with_credentials(auth_broker):
    c = doctor.check_broker(broker_cfg(auth_broker["plain"]), sim=False)
    assert c.ok, c.line()
    assert "as kot-test0001" in c.detail and "plain MQTT" in c.detail


def test_broker_ok_over_tls(auth_broker):
    c = doctor.check_broker(broker_cfg(auth_broker["tls"], broker__tls=True, broker__ca_file=auth_broker["ca"]),
                            sim=False)
    assert c.ok, c.line()
    assert "(TLS)" in c.detail


def test_broker_wrong_password(auth_broker):
    c = doctor.check_broker(broker_cfg(auth_broker["plain"], broker__password="nope"), sim=False)
    assert_fail(c, "refused the login", "mosquitto_passwd /etc/mosquitto/kotdevice/passwd kot-test0001")


def test_broker_anonymous_refused(auth_broker):
    c = doctor.check_broker(broker_cfg(auth_broker["plain"], broker__username="", broker__password=""), sim=False)
    assert_fail(c, "refused the login", "<anonymous>")


def test_broker_nothing_listening():
    port = free_port()
    c = doctor.check_broker(broker_cfg(port), sim=False)
    assert_fail(c, f"nothing listens on 127.0.0.1:{port}", "systemctl start mosquitto")


def test_broker_unresolvable_host():
    c = doctor.check_broker(broker_cfg(1883, broker__host="no-such-broker.invalid"), sim=False)
    assert_fail(c, "cannot resolve 'no-such-broker.invalid'", "broker.host")


def test_broker_tls_port_without_tls(auth_broker):
    c = doctor.check_broker(broker_cfg(auth_broker["tls"]), sim=False, timeout_s=1.0)
    assert_fail(c, "never answered MQTT", "broker.tls")


def test_broker_tls_with_the_wrong_ca(auth_broker, tmp_path):
    subprocess.run(["bash", str(REPO / "firmware/make-certs.sh"), str(tmp_path / "other"), "localhost"],
                   check=True, capture_output=True, timeout=30)
    cfg = broker_cfg(auth_broker["tls"], broker__tls=True, broker__ca_file=str(tmp_path / "other/ca.crt"))
    c = doctor.check_broker(cfg, sim=False)
    assert_fail(c, "TLS handshake", "CERTIFICATE_VERIFY_FAILED", "make-certs.sh")


def test_broker_missing_ca_file(tmp_path):
    cfg = broker_cfg(8883, broker__tls=True, broker__ca_file=str(tmp_path / "ca.crt"))
    assert_fail(doctor.check_broker(cfg, sim=False), "broker.ca_file", "does not exist")


def test_broker_none_configured_under_sim():
    c = doctor.check_broker(make_cfg(), sim=True)
    assert c.ok and "starts a local" in c.detail


# --- clock and disk -------------------------------------------------------------------------

def test_clock_sources(tmp_path):
    flag = tmp_path / "synchronized"
    flag.touch()
    assert doctor.check_clock(flag_file=flag).ok
    missing = tmp_path / "nope"
    no = tmp_path / "timedatectl"
    no.write_text("#!/bin/sh\necho no\n")
    no.chmod(0o755)
    assert_fail(doctor.check_clock(flag_file=missing, timedatectl=[str(no)]), "NTPSynchronized=no",
                "timedatectl set-ntp true")
    yes = tmp_path / "timedatectl-yes"
    yes.write_text("#!/bin/sh\necho yes\n")
    yes.chmod(0o755)
    assert doctor.check_clock(flag_file=missing, timedatectl=[str(yes)]).ok
    # No timedatectl (no systemd as PID 1): the kernel's adjtimex state decides.
    assert doctor.check_clock(flag_file=missing, timedatectl=[], kernel_synced=lambda: True).ok
    assert_fail(doctor.check_clock(flag_file=missing, timedatectl=[], kernel_synced=lambda: False), "TIME_ERROR")
    assert_fail(doctor.check_clock(flag_file=missing, timedatectl=[], kernel_synced=lambda: None), "cannot tell")


def test_disk_space(tmp_path):
    cfg = make_cfg(store__path=str(tmp_path / "not/yet/created/kot.db"))
    c = doctor.check_disk(cfg)
    assert c.ok and "free for" in c.detail
    assert_fail(doctor.check_disk(cfg, min_free_mb=1e12), "need", "journalctl --vacuum-size")


# --- config and the command -----------------------------------------------------------------

def test_bad_config_fails_naming_the_key_and_the_rest_still_runs(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text('[broker]\nport = "abc"\n')
    check, cfg = doctor.check_config(str(bad), sim=True)
    assert_fail(check, "broker.port", "expected an integer 1-65535")
    assert cfg.get("broker", "port") == 1883  # defaults for the other checks


def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "kotdevice", "doctor", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def test_cli_end_to_end_with_sim_and_a_real_broker(auth_broker, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'device_id = "kot-test0001"\n[broker]\nhost = "127.0.0.1"\nport = {auth_broker["plain"]}\n'
                   f'username = "kot-test0001"\npassword = "s3cret"\n[store]\npath = "{tmp_path}/kot.db"\n')
    r = run_cli("--sim", "--config", str(cfg), "--seconds", "0.5")
    lines = r.stdout.strip().splitlines()
    assert [ln.split()[1].rstrip(":") for ln in lines] == ["config", "i2c", "sensor", "broker", "clock", "disk"]
    status = {ln.split()[1].rstrip(":"): ln.split()[0] for ln in lines}
    for name in ("config", "i2c", "sensor", "broker", "disk"):
        assert status[name] == "OK", r.stdout
    assert all(" -> fix: " in ln for ln in lines if ln.startswith("FAIL"))
    # The clock is whatever this machine's is; the exit code must follow it.
    assert r.returncode == (1 if status["clock"] == "FAIL" else 0), r.stdout + r.stderr

    # Wrong password: broker FAIL with its fix, non-zero exit, no traceback.
    cfg.write_text(cfg.read_text().replace('"s3cret"', '"wrong"'))
    r = run_cli("--sim", "--config", str(cfg), "--seconds", "0.3")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert any(ln.startswith("FAIL  broker: ") and "mosquitto_passwd" in ln for ln in r.stdout.splitlines())


def test_cli_bad_arguments_and_missing_config(tmp_path):
    r = run_cli("--config", str(tmp_path / "missing.toml"), "--sim", "--seconds", "0.2")
    assert r.returncode == 1
    assert r.stdout.splitlines()[0].startswith(f"FAIL  config: {tmp_path}/missing.toml: config file not found")
    r = run_cli("--seconds", "abc")
    assert r.returncode == 2 and "not a number" in r.stderr
