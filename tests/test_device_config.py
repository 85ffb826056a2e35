import pytest

from kotdevice.device import config as C
from kotdevice.device.config import ConfigError


def write(tmp_path, text):
    p = tmp_path / "config.toml"
    p.write_text(text)
    return p


def test_defaults_when_default_path_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(C, "DEFAULT_PATH", str(tmp_path / "nope.toml"))
    cfg = C.load(None)
    assert cfg.get("broker", "port") == 1883
    assert cfg.get("pins", "buzzer") == 18
    assert cfg.get("live", "rate_hz") == 10


def test_full_file_parses(tmp_path):
    cfg = C.load(write(tmp_path, """
device_id = "kot-abc"
athlete = "Ben"
leg = "left"
[broker]
host = "gym.local"
port = 8883
tls = true
[sensor]
address = 0x6A
odr_hz = 400
[pins]
button = 5
[session]
idle_timeout_s = 120
[live]
rate_hz = 5.5
"""))
    assert cfg.device_id == "kot-abc" and cfg.get("", "leg") == "left"
    assert cfg.get("broker", "port") == 8883 and cfg.get("broker", "tls") is True
    assert cfg.get("sensor", "address") == 0x6A and cfg.get("pins", "button") == 5
    assert cfg.get("live", "rate_hz") == 5.5 and cfg.get("session", "idle_timeout_s") == 120


@pytest.mark.parametrize("text, message", [
    ('[broker]\nport = "abc"', 'broker.port: expected an integer 1-65535, got "abc"'),
    ("[broker]\nport = 70000", "broker.port: expected an integer 1-65535, got 70000"),
    ('leg = "middle"', 'leg: expected one of left, right, unknown, got "middle"'),
    ("[pins]\nbutton = 2", "pins.button: expected a BCM GPIO number"),
    ("[sensor]\naccel_fs_g = 3", "sensor.accel_fs_g: expected one of 2, 4, 8, 16, got 3"),
    ("[broker]\ntls = 1", "broker.tls: expected true or false, got 1"),
    ("[broker]\nprefix = \"a/#\"", "broker.prefix: expected a topic prefix"),
    ("[broker]\nhots = \"x\"", "broker.hots: unknown key"),
    ("colour = 1", "colour: unknown key"),
    ("broker = 5", "broker: expected a [broker] table"),
    ("[live]\nrate_hz = 0", "live.rate_hz: expected a number"),
    ("[broker\nport=1", "not valid TOML"),
])
def test_bad_config_one_line_naming_the_key(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        C.load(p)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith(str(p) + ": ")
    assert message in msg


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        C.load(tmp_path / "missing.toml")


def test_override_is_validated():
    cfg = C.Config(source="--broker")
    cfg.set("broker", "port", 1884)
    assert cfg.get("broker", "port") == 1884
    with pytest.raises(ConfigError, match="broker.port"):
        cfg.set("broker", "port", 0)


@pytest.mark.parametrize("text, host, port", [
    ("localhost:1884", "localhost", 1884), ("10.0.0.2", "10.0.0.2", 1883), ("[::1]:1999", "::1", 1999),
    ("::1", "::1", 1883)])
def test_parse_host_port(text, host, port):
    assert C.parse_host_port(text) == (host, port)


@pytest.mark.parametrize("text", ["a:b", "host:99999", ":"])
def test_parse_host_port_bad(text):
    with pytest.raises(ConfigError, match="--broker"):
        C.parse_host_port(text)


def test_device_id_from_serial_or_hostname():
    assert C.derive_device_id(serial="10000000ABCDEF12") == "kot-abcdef12"
    assert C.derive_device_id(serial="", hostname="gym pi.local") == "kot-gym-pi"


def test_resolve_fills_store_path_for_sim(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = C.resolve(C.Config(), sim=True)
    assert cfg.get("store", "path") == str(tmp_path / ".local/share/kotdevice/sim.db")
    assert cfg.device_id.startswith("kot-")


def test_run_with_bad_config_fails_at_start_with_one_line(tmp_path, capsys):
    from kotdevice.cli import main

    p = write(tmp_path, '[broker]\nport = "abc"\n')
    assert main(["run", "--sim", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert err == f'kotdevice: error: {p}: broker.port: expected an integer 1-65535, got "abc"\n'


def test_run_rejects_speed_without_sim(tmp_path, capsys):
    from kotdevice.cli import main

    assert main(["run", "--speed", "5", "--config", str(write(tmp_path, ""))]) == 2
    assert "--speed and --sim-spec only apply with --sim" in capsys.readouterr().err


def test_resolve_logs_in_as_the_device_when_only_a_password_is_given():
    cfg = C.Config()
    cfg.set("", "device_id", "kot-1234abcd")
    cfg.set("broker", "password", "s3cret")
    assert C.resolve(cfg, sim=False).get("broker", "username") == "kot-1234abcd"
    cfg = C.Config()
    cfg.set("", "device_id", "kot-1234abcd")
    cfg.set("broker", "username", "other")
    cfg.set("broker", "password", "s3cret")
    assert C.resolve(cfg, sim=False).get("broker", "username") == "other"
    cfg = C.Config()
    cfg.set("", "device_id", "kot-1234abcd")
    assert C.resolve(cfg, sim=False).get("broker", "username") == ""
