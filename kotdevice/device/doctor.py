"""``kotdevice doctor``: is this Pi ready to run the wearable? One line per check, OK or FAIL,
and for every FAIL the fix.

Checks: the config loads; I2C is enabled and usable; the IMU is found and streams at the
configured rate; the broker accepts the configured credentials; the clock is synchronised;
there is disk space for the session store. Each check is a function returning a ``Check``;
everything it touches (bus, paths, commands) can be swapped, so the tests drive them against
the simulated bus, a real Mosquitto and fake system files.
"""
from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kotdevice.device import config as cfgmod
from kotdevice.device.clock import TIMESYNC_FLAG, system_clock_synced
from kotdevice.errors import KotError

MIN_FREE_MB = 200  # ~ months of sessions; below this SQLite and the journal start to suffer
RATE_TOLERANCE = 0.10  # measured vs configured output rate
WIRING = "check the wiring (SDA pin 3, SCL pin 5, 3V3 pin 1, GND pin 9; hardware/README.md) and `i2cdetect -y {bus}`"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        if self.ok:
            return f"OK    {self.name}: {self.detail}"
        return f"FAIL  {self.name}: {self.detail} -> fix: {self.fix}"


# --- config -------------------------------------------------------------------------------

def check_config(path: str | None, *, sim: bool) -> tuple[Check, cfgmod.Config]:
    """Load and validate the config; on failure the other checks run with the defaults."""
    shown = path or cfgmod.DEFAULT_PATH
    try:
        cfg = cfgmod.load(path)
    except KotError as e:
        return Check("config", False, str(e), "correct the key named above (see firmware/config.toml.example)"), \
            cfgmod.resolve(cfgmod.Config(), sim=sim)
    cfgmod.resolve(cfg, sim=sim)
    where = shown if Path(shown).exists() else f"{shown} not found, using the defaults"
    return Check("config", True, f"{where}; device id {cfg.device_id}"), cfg


# --- I2C ----------------------------------------------------------------------------------

def _i2c_speed_hz(bus: int, sys_root: Path) -> int | None:
    """The bus clock from the device tree (big-endian u32), if the kernel exposes it."""
    p = sys_root / f"class/i2c-adapter/i2c-{bus}/of_node/clock-frequency"
    try:
        raw = p.read_bytes()
    except OSError:
        return None
    return int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None


def check_i2c(cfg: cfgmod.Config, *, sim: bool, dev_root: Path = Path("/dev"),
              sys_root: Path = Path("/sys"), access: Callable[[Path, int], bool] = os.access) -> Check:
    bus = cfg.get("sensor", "bus")
    if sim:
        return Check("i2c", True, "simulated bus (--sim)")
    dev = dev_root / f"i2c-{bus}"
    if not dev.exists():
        if bus == 1:
            fix = ("enable I2C: `sudo raspi-config nonint do_i2c 0` (or run firmware/install.sh, which adds "
                   "dtparam=i2c_arm=on to /boot/firmware/config.txt) and reboot")
        else:
            fix = f"enable I2C bus {bus} with its dtoverlay, or set sensor.bus = 1"
        return Check("i2c", False, f"{dev} does not exist", fix)
    if not access(dev, os.R_OK | os.W_OK):
        return Check("i2c", False, f"no read/write permission on {dev}",
                     "add this user to the i2c group (`sudo usermod -aG i2c $USER`, then log in again) "
                     "or run `sudo kotdevice doctor`")
    speed = _i2c_speed_hz(bus, sys_root)
    if speed is None:
        return Check("i2c", True, f"{dev} present")
    note = "" if speed >= 400_000 else " (dtparam=i2c_arm_baudrate=400000 gives headroom)"
    return Check("i2c", True, f"{dev} present, {speed // 1000} kHz{note}")


# --- sensor -------------------------------------------------------------------------------

def _sim_bus(cfg: cfgmod.Config):
    from kotdevice.sensor import StillSource, make_sim_bus

    # The emulated chip answers where the config says it should (autodetect: its default).
    addr = cfg.get("sensor", "address") or None
    chip = "mpu6050" if addr in (None, 0x68, 0x69) else "lsm6ds3"
    return make_sim_bus(chip, address=addr, source=StillSource(), clock=None)


def check_sensor(cfg: cfgmod.Config, *, sim: bool, seconds: float = 2.0,
                 open_bus: Callable[[cfgmod.Config], object] | None = None,
                 service_active: Callable[[], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> Check:
    """Open the IMU like ``kotdevice run`` does, stream for ``seconds`` and compare the rate."""
    from kotdevice.sensor import open_real_bus, open_sensor

    bus_no = cfg.get("sensor", "bus")
    if not sim and open_bus is None and service_active is not None and service_active():
        # A second reader would reconfigure the chip and steal the running service's FIFO.
        return Check("sensor", True, "not probed: kotdevice.service is running and owns the sensor "
                     "(it only reports ready once streaming); `sudo systemctl stop kotdevice` to test it here")
    try:
        bus = open_bus(cfg) if open_bus else (_sim_bus(cfg) if sim else open_real_bus(bus_no))
    except KotError as e:
        return Check("sensor", False, str(e), "run the i2c fix above first")
    want_hz = cfg.get("sensor", "odr_hz")
    try:
        sensor = open_sensor(bus, bus_number=None if sim else bus_no, address=cfg.get("sensor", "address") or None,
                             odr_hz=want_hz, accel_fs_g=cfg.get("sensor", "accel_fs_g"),
                             gyro_fs_dps=cfg.get("sensor", "gyro_fs_dps"), clock=clock)
    except KotError as e:
        try:
            bus.close()
        except Exception:
            pass
        addr = cfg.get("sensor", "address")
        fix = WIRING.format(bus=bus_no)
        if addr:
            fix += f"; or set sensor.address = 0 to autodetect (configured 0x{addr:02x})"
        return Check("sensor", False, str(e), fix)
    except OSError as e:
        return Check("sensor", False, f"I2C error while configuring the IMU: {e}", WIRING.format(bus=bus_no))
    try:
        n = lost = 0
        first = last = None  # first/last accel sample (frozen-data check)
        h_first = h_last = None  # host time of the first / last non-empty read
        n_first = 0
        t_end = clock() + seconds
        while clock() < t_end:
            block, gaps = sensor.read()
            lost += sum(g.samples_lost for g in gaps)
            if len(block):
                n += len(block)
                if first is None:
                    first, h_first, n_first = block.accel_g[0], clock(), len(block)
                last, h_last = block.accel_g[-1], clock()
            # A simulated clock (tests) brings its own sleep, so simulated time passes.
            getattr(clock, "sleep", time.sleep)(min(sensor.poll_interval_s, 0.05))
        chip, odr = sensor.chip_name, sensor.odr_hz
        errors = sensor.stats.bus_errors
    finally:
        sensor.close()
    # Samples delivered per second of host time, counted from the first delivery so the
    # start-up latency (FIFO filling, the driver's safety margin) does not bias it.
    rate = (n - n_first) / (h_last - h_first) if h_first is not None and h_last > h_first else 0.0
    what = f"{chip} at {rate:.0f} Hz measured (configured {odr:g} Hz"
    what += f", asked {want_hz} Hz)" if abs(odr - want_hz) > 0.5 else ")"
    if n == 0:
        return Check("sensor", False, f"{chip} found but no samples in {seconds:g} s",
                     "check the IMU's power (3V3 pin 1) and that nothing else uses it; "
                     f"{errors} bus errors")
    if abs(rate - odr) > RATE_TOLERANCE * odr or n < 0.5 * odr * seconds:
        return Check("sensor", False, f"{what}, {n} samples in {seconds:g} s, {lost} lost, {errors} bus errors",
                     "the IMU does not keep its rate: loose wires or a slow bus (set "
                     "dtparam=i2c_arm_baudrate=400000, firmware/config.txt), other load on the Pi, "
                     "or a faulty chip; or lower sensor.odr_hz")
    if first is not None and last is not None and (first == last).all() and n > 10:
        return Check("sensor", False, f"{what} but the data never changes (frozen chip)",
                     "power-cycle the IMU; " + WIRING.format(bus=bus_no))
    return Check("sensor", True, f"{what}, {lost} lost")


# --- broker -------------------------------------------------------------------------------

def _local_broker_available() -> str | None:
    from kotdevice.device.broker import mosquitto_path

    if mosquitto_path():
        return "Mosquitto"
    try:
        import amqtt  # noqa: F401
        return "embedded amqtt"
    except ImportError:
        return None


def check_broker(cfg: cfgmod.Config, *, sim: bool, timeout_s: float = 5.0) -> Check:
    """Connect with the configured host, port, TLS and credentials (MQTT 3.1.1, as the device)."""
    import paho.mqtt.client as mqtt

    from kotdevice.device.mqtt import BrokerSettings, apply_credentials

    host, port = cfg.get("broker", "host"), cfg.get("broker", "port")
    if not host and sim:
        kind = _local_broker_available()
        if kind:
            return Check("broker", True, f"none configured: `kotdevice run --sim` starts a local {kind} broker")
        return Check("broker", False, "none configured and no local broker to start",
                     "`sudo apt install mosquitto` or `pip install amqtt`, or set broker.host")
    host = host or "localhost"
    where = f"{host}:{port}"
    user, password = cfg.get("broker", "username"), cfg.get("broker", "password")
    tls = cfg.get("broker", "tls")
    for key in ("ca_file", "cert_file", "key_file"):
        p = cfg.get("broker", key)
        if p and not os.path.isfile(p):
            return Check("broker", False, f"broker.{key}: {p} does not exist",
                         f"copy the file there or fix broker.{key} in the config")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        return Check("broker", False, f"cannot resolve {host!r}: {e.strerror}",
                     "fix broker.host (an IP address avoids DNS/mDNS trouble)")

    # Its own client id: the device's id would kick the running service off the broker.
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{cfg.device_id}-doctor-{os.getpid()}",
                         protocol=mqtt.MQTTv311)
    try:  # exactly as the device does it (same TLS settings)
        apply_credentials(client, BrokerSettings(username=user, password=password, tls=tls,
                                                 ca_file=cfg.get("broker", "ca_file"),
                                                 cert_file=cfg.get("broker", "cert_file"),
                                                 key_file=cfg.get("broker", "key_file")))
    except KotError as e:
        return Check("broker", False, str(e), "check broker.ca_file/cert_file/key_file")
    done = threading.Event()
    result: dict = {}

    def on_connect(c, userdata, flags, reason_code, properties):
        result["rc"] = reason_code
        done.set()

    client.on_connect = on_connect
    auth_fix = (f"check broker.username/password; on the gym broker the username is the device id "
                f"({cfg.device_id}): `sudo mosquitto_passwd /etc/mosquitto/kotdevice/passwd {cfg.device_id}`")
    try:
        client.connect(host, port, keepalive=10)
    except ssl.SSLError as e:
        return Check("broker", False, f"TLS handshake with {where} failed: {e.reason or e}",
                     f"broker.ca_file must be the gym CA's certificate and the broker's certificate must name {host!r} "
                     "(firmware/make-certs.sh)")
    except ConnectionRefusedError:
        fix = "start the broker (`sudo systemctl start mosquitto`) or fix broker.host/port"
        return Check("broker", False, f"nothing listens on {where}", fix)
    except (socket.timeout, TimeoutError):
        return Check("broker", False, f"no answer from {where}", "a firewall or a wrong address: check broker.host/port")
    except OSError as e:
        return Check("broker", False, f"cannot reach {where}: {e.strerror or e}", "check the network and broker.host/port")
    client.loop_start()
    try:
        if not done.wait(timeout_s):
            fix = ("the TLS listener (8883) needs broker.tls = true" if port == 8883 and not tls
                   else "check that broker.port is an MQTT port and broker.tls matches it")
            return Check("broker", False, f"{where} accepted the connection but never answered MQTT", fix)
        rc = result["rc"]
        if rc.is_failure:
            if str(rc) in ("Not authorized", "Bad user name or password"):
                return Check("broker", False, f"{where} refused the login: {rc} (user {user or '<anonymous>'!r})",
                             auth_fix)
            return Check("broker", False, f"{where} refused the connection: {rc}", auth_fix)
        sec = "TLS" if tls else "plain MQTT"
        return Check("broker", True, f"connected to {where} ({sec}) as {user or 'anonymous'}")
    finally:
        client.disconnect()
        client.loop_stop()


# --- clock --------------------------------------------------------------------------------

def check_clock(*, flag_file: Path = Path(TIMESYNC_FLAG),
                timedatectl: list[str] | None = None,
                kernel_synced: Callable[[], bool | None] | None = None) -> Check:
    """systemd-timesyncd's flag, else timedatectl's NTPSynchronized, else the kernel (adjtimex)."""
    fix = ("turn on time sync (`sudo timedatectl set-ntp true`) and give the Pi network; "
           "it has no real-time clock, so session dates are wrong until it syncs")
    if flag_file.exists():
        return Check("clock", True, "synchronised (systemd-timesyncd)")
    cmd = timedatectl if timedatectl is not None else ["timedatectl", "show", "-p", "NTPSynchronized", "--value"]
    if cmd and shutil.which(cmd[0]):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
            answer = r.stdout.strip() if r.returncode == 0 else ""
        except (OSError, subprocess.TimeoutExpired):
            answer = ""
        if answer == "yes":
            return Check("clock", True, "synchronised (timedatectl)")
        if answer == "no":
            return Check("clock", False, "not synchronised (timedatectl NTPSynchronized=no)", fix)
    state = (kernel_synced or system_clock_synced)()
    if state is True:
        return Check("clock", True, "synchronised (kernel adjtimex)")
    if state is False:
        return Check("clock", False, "not synchronised (kernel adjtimex reports TIME_ERROR)", fix)
    return Check("clock", False, "cannot tell whether the clock is synchronised", fix)


# --- disk ---------------------------------------------------------------------------------

def check_disk(cfg: cfgmod.Config, *, min_free_mb: float = MIN_FREE_MB) -> Check:
    store = Path(cfg.get("store", "path")).expanduser()
    probe = store.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # not created yet (StateDirectory= makes it at first start)
    usage = shutil.disk_usage(probe)
    free_mb = usage.free / 1e6
    detail = f"{free_mb / 1000:.1f} GB free for {store}" if free_mb >= 1000 else f"{free_mb:.0f} MB free for {store}"
    if free_mb < min_free_mb:
        return Check("disk", False, f"{detail} (need {min_free_mb:g} MB)",
                     "free space (`sudo apt clean`, `sudo journalctl --vacuum-size=50M`, old sessions) "
                     "or move store.path to a bigger disk")
    return Check("disk", True, detail)


def service_is_active(unit: str = "kotdevice.service") -> bool:
    if not shutil.which("systemctl"):
        return False
    try:
        return subprocess.run(["systemctl", "is-active", "--quiet", unit], timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_checks(config_path: str | None, *, sim: bool, seconds: float = 2.0, timeout_s: float = 5.0,
               emit: Callable[[Check], None] = lambda c: print(c.line(), flush=True)) -> list[Check]:
    """All checks in order; each result is emitted as soon as it is known."""
    results: list[Check] = []

    def add(c: Check) -> None:
        results.append(c)
        emit(c)

    cfg_check, cfg = check_config(config_path, sim=sim)
    add(cfg_check)
    i2c = check_i2c(cfg, sim=sim)
    add(i2c)
    if i2c.ok:
        add(check_sensor(cfg, sim=sim, seconds=seconds, service_active=service_is_active))
    else:
        add(Check("sensor", False, "not probed (no I2C)", "fix I2C first (above)"))
    add(check_broker(cfg, sim=sim, timeout_s=timeout_s))
    add(check_clock())
    add(check_disk(cfg))
    return results
