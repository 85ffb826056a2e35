"""The device config (one TOML file), shared by the runtime and the Raspberry-Pi set-up.

The key table below is data: each key has a default and a validator, so a bad file fails at
start with ONE line naming the key (``config.toml: broker.port: expected an integer 1-65535,
got "abc"``). Command-line flags override the file (``apply_overrides``).
"""
from __future__ import annotations

import os
import re
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kotdevice.errors import KotError

DEFAULT_PATH = "/etc/kotdevice/config.toml"
SIM_STORE_PATH = "~/.local/share/kotdevice/sim.db"
DEFAULT_STORE_PATH = "/var/lib/kotdevice/kotdevice.db"
I2C_PINS = (2, 3)  # fixed pull-ups on the Pi: no buttons/LEDs there


class ConfigError(KotError):
    """One line: ``<file>: <key>: <what is wrong>``."""


# --- validators: return the clean value or raise ValueError("expected ...") ----------------

def _fmt(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else repr(v)


def _int(lo: int | None = None, hi: int | None = None, what: str | None = None) -> Callable:
    def check(v):
        ok = isinstance(v, int) and not isinstance(v, bool)
        if ok and (lo is None or v >= lo) and (hi is None or v <= hi):
            return v
        rng = what or (f"an integer {lo}-{hi}" if lo is not None and hi is not None
                       else f"an integer >= {lo}" if lo is not None else "an integer")
        raise ValueError(f"expected {rng}, got {_fmt(v)}")
    return check


def _num(lo: float, hi: float) -> Callable:
    def check(v):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi:
            return float(v)
        raise ValueError(f"expected a number {lo:g}-{hi:g}, got {_fmt(v)}")
    return check


def _str(pattern: str | None = None, what: str = "a string", max_len: int = 256) -> Callable:
    def check(v):
        if isinstance(v, str) and len(v) <= max_len and (pattern is None or re.fullmatch(pattern, v)):
            return v
        raise ValueError(f"expected {what}, got {_fmt(v)}")
    return check


def _bool(v):
    if isinstance(v, bool):
        return v
    raise ValueError(f"expected true or false, got {_fmt(v)}")


def _choice(*options: str) -> Callable:
    def check(v):
        if v in options:
            return v
        raise ValueError(f"expected one of {', '.join(options)}, got {_fmt(v)}")
    return check


def _address(v):
    if isinstance(v, int) and not isinstance(v, bool) and (v == 0 or 0x08 <= v <= 0x77):
        return v
    raise ValueError(f"expected 0 (autodetect) or an I2C address 0x08-0x77, got {_fmt(v)}")


def _pin(v):
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 27 and v not in I2C_PINS:
        return v
    raise ValueError(f"expected a BCM GPIO number 0-27 other than 2/3 (I2C), got {_fmt(v)}")


_TOPIC_PART = r"[^#+/\x00]+(/[^#+/\x00]+)*"
DEVICE_ID_RE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"

# (section, key) -> (default, validator). Section "" = top level.
SCHEMA: dict[tuple[str, str], tuple[Any, Callable]] = {
    ("", "device_id"): ("", _str(f"|{DEVICE_ID_RE}", "a device id of letters, digits, '-', '_', '.' (max 64)", 64)),
    ("", "athlete"): ("", _str(what="a name (max 64 characters)", max_len=64)),
    ("", "leg"): ("unknown", _choice("left", "right", "unknown")),
    ("broker", "host"): ("", _str(r"[A-Za-z0-9_.:\-\[\]]*", "a host name or address")),
    ("broker", "port"): (1883, _int(1, 65535)),
    ("broker", "prefix"): ("kot", _str(_TOPIC_PART, "a topic prefix without wildcards")),
    ("broker", "username"): ("", _str()),
    ("broker", "password"): ("", _str()),
    ("broker", "tls"): (False, _bool),
    ("broker", "ca_file"): ("", _str(what="a file path")),
    ("broker", "cert_file"): ("", _str(what="a file path")),
    ("broker", "key_file"): ("", _str(what="a file path")),
    ("broker", "keepalive_s"): (30, _int(5, 3600)),
    ("sensor", "bus"): (1, _int(0, 99)),
    ("sensor", "address"): (0, _address),
    ("sensor", "odr_hz"): (200, _int(25, 1000)),
    ("sensor", "accel_fs_g"): (8, _int(what="one of 2, 4, 8, 16")),
    ("sensor", "gyro_fs_dps"): (1000, _int(what="one of 125, 250, 500, 1000, 2000")),
    ("pins", "button"): (17, _pin),
    ("pins", "led_connected"): (27, _pin),
    ("pins", "led_recording"): (22, _pin),
    ("pins", "led_error"): (23, _pin),
    ("pins", "buzzer"): (18, _pin),
    ("pins", "imu_int"): (24, _pin),
    ("session", "idle_timeout_s"): (300, _num(5, 86400)),
    ("live", "rate_hz"): (10, _num(0.2, 50)),
    ("store", "path"): ("", _str(what="a file path")),
    # numba JIT for the engine's kernels: off by default on the device (~100 MB less memory;
    # 200 Hz costs ~1-2 % of a core as plain Python). Turn on for 1 kHz sensors.
    ("engine", "jit"): (False, _bool),
}
_CHOICES = {("sensor", "accel_fs_g"): (2, 4, 8, 16), ("sensor", "gyro_fs_dps"): (125, 250, 500, 1000, 2000)}
SECTIONS = sorted({s for s, _ in SCHEMA if s})


@dataclass
class Config:
    """Flat, validated settings. ``values[(section, key)]``; attribute helpers for the common ones."""

    values: dict[tuple[str, str], Any] = field(default_factory=lambda: {k: d for k, (d, _) in SCHEMA.items()})
    source: str = "<defaults>"

    def get(self, section: str, key: str) -> Any:
        return self.values[(section, key)]

    def set(self, section: str, key: str, value: Any) -> None:
        """Validated assignment (used for command-line overrides)."""
        self.values[(section, key)] = _validate(self.source, section, key, value)

    # Convenience accessors
    @property
    def device_id(self) -> str:
        return self.values[("", "device_id")]

    @property
    def prefix(self) -> str:
        return self.values[("broker", "prefix")]


def _validate(source: str, section: str, key: str, value: Any) -> Any:
    name = f"{section}.{key}" if section else key
    default, check = SCHEMA[(section, key)]
    try:
        value = check(value)
        choices = _CHOICES.get((section, key))
        if choices and value not in choices:
            raise ValueError(f"expected one of {', '.join(map(str, choices))}, got {_fmt(value)}")
    except ValueError as e:
        raise ConfigError(f"{source}: {name}: {e}") from None
    return value


def parse(data: dict, source: str = "config.toml") -> Config:
    """Validate a parsed TOML document. Unknown keys are errors too (a typo silently ignored
    would leave a pin or a broker at its default)."""
    cfg = Config(source=source)
    for top_key, top_val in data.items():
        if top_key in SECTIONS:
            if not isinstance(top_val, dict):
                raise ConfigError(f"{source}: {top_key}: expected a [{top_key}] table, got {_fmt(top_val)}")
            for key, value in top_val.items():
                if (top_key, key) not in SCHEMA:
                    raise ConfigError(f"{source}: {top_key}.{key}: unknown key")
                cfg.values[(top_key, key)] = _validate(source, top_key, key, value)
        elif ("", top_key) in SCHEMA:
            cfg.values[("", top_key)] = _validate(source, "", top_key, top_val)
        else:
            raise ConfigError(f"{source}: {top_key}: unknown key")
    return cfg


def load(path: str | os.PathLike | None, *, required: bool = False) -> Config:
    """Load ``path``; with ``path=None`` use the default path if it exists, else defaults.
    A path given explicitly (``required``) must exist."""
    p = Path(path) if path else Path(DEFAULT_PATH)
    if not p.exists():
        if required or path:
            raise ConfigError(f"{p}: config file not found")
        return Config()
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {e}") from None
    return parse(data, source=str(p))


def parse_host_port(text: str, default_port: int = 1883) -> tuple[str, int]:
    """``--broker``: ``HOST[:PORT]``, ``[IPv6]:PORT`` or a bare IPv6 address -> (host, port).
    Shared by ``kotdevice run`` and the kiosk; ConfigError names what is wrong."""
    t = text.strip()
    if not t:
        raise ConfigError("--broker is empty; expected HOST:PORT")
    if t.startswith("["):
        host, sep, rest = t[1:].partition("]")
        port_s = rest[1:] if rest.startswith(":") else ("" if not rest else None)
        if not sep or port_s is None:
            raise ConfigError(f"--broker {text!r}: expected [IPv6]:PORT")
    elif t.count(":") == 1:
        host, port_s = t.split(":")
        if not port_s:
            raise ConfigError(f"--broker {text!r}: port is empty; expected HOST:PORT")
    else:  # a name, an IPv4 address, or a bare IPv6 address (several colons)
        host, port_s = t, ""
    if not host:
        raise ConfigError(f"--broker {text!r}: missing host")
    if port_s == "":
        return host, default_port
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ConfigError(f"--broker {text!r}: port must be a number from 1 to 65535")
    return host, int(port_s)


# --- device id -------------------------------------------------------------------------------

def _pi_serial() -> str | None:
    try:
        raw = Path("/sys/firmware/devicetree/base/serial-number").read_bytes()
        s = raw.strip(b"\x00\n ").decode("ascii", "ignore")
        if re.fullmatch(r"[0-9a-fA-F]{8,}", s):
            return s
    except OSError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("serial"):
                s = line.split(":", 1)[1].strip()
                if re.fullmatch(r"[0-9a-fA-F]{8,}", s) and set(s) != {"0"}:
                    return s
    except OSError:
        pass
    return None


def derive_device_id(serial: str | None = None, hostname: str | None = None) -> str:
    """``kot-<last 8 hex of the Pi serial>``; off a Pi ``kot-<hostname>`` (sanitised)."""
    serial = serial if serial is not None else _pi_serial()
    if serial:
        return f"kot-{serial[-8:].lower()}"
    host = hostname if hostname is not None else socket.gethostname()
    clean = re.sub(r"[^A-Za-z0-9_.-]", "-", host.split(".")[0]).strip("-") or "device"
    return f"kot-{clean}"[:64]


def resolve(cfg: Config, *, sim: bool) -> Config:
    """Fill the derived defaults: device id, store path, broker user."""
    if not cfg.values[("", "device_id")]:
        cfg.values[("", "device_id")] = derive_device_id()
    # The gym broker's ACL (systemd/mosquitto/acl) keys on username = device id, so a device
    # given only a password logs in as itself.
    if cfg.values[("broker", "password")] and not cfg.values[("broker", "username")]:
        cfg.values[("broker", "username")] = cfg.values[("", "device_id")]
    if not cfg.values[("store", "path")]:
        cfg.values[("store", "path")] = os.path.expanduser(SIM_STORE_PATH if sim else DEFAULT_STORE_PATH)
    return cfg


def sensor_settings(cfg: Config) -> dict:
    """Output rate and full scales from [sensor], as keyword arguments for the sensor openers."""
    return dict(odr_hz=cfg.get("sensor", "odr_hz"), accel_fs_g=cfg.get("sensor", "accel_fs_g"),
                gyro_fs_dps=cfg.get("sensor", "gyro_fs_dps"))
