"""The shipped systemd units: `systemd-analyze verify`, the hardening they must carry, and the
options they must not carry (each would break I2C/GPIO or the numba JIT)."""
from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = sorted((REPO / "systemd").glob("*.service"))
DEVICE = REPO / "systemd/kotdevice.service"
KIOSK = REPO / "systemd/kotdevice-kiosk.service"
BASH = shutil.which("bash") or "/bin/bash"
VENV_EXE = "/opt/kotdevice/venv/bin/kotdevice"

# The device unit's hardening (option -> required value; None = any non-empty value).
DEVICE_REQUIRED = {
    "Type": "notify",
    "WatchdogSec": None,
    "Restart": "on-failure",
    "User": "kotdevice",
    "SupplementaryGroups": "i2c gpio",
    "DevicePolicy": "closed",
    "StateDirectory": "kotdevice",
    "CacheDirectory": "kotdevice",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "PrivateMounts": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
}
# Each of these would break the device (see the comments in the unit).
DEVICE_FORBIDDEN = ["PrivateDevices", "PrivateUsers", "ProcSubset", "PrivateNetwork", "DynamicUser"]


def unit_options(path: Path) -> dict[str, list[str]]:
    """Option -> every value it is given (systemd options may repeat)."""
    out: dict[str, list[str]] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, val = line.partition("=")
        out.setdefault(key.strip(), []).append(val.strip())
    return out


@pytest.fixture(scope="module")
def analyze():
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
    return exe


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_passes_systemd_analyze_verify(unit, tmp_path, analyze):
    # verify insists that ExecStart's binary exists: point it at a stand-in with the same role.
    stand_in = tmp_path / "kotdevice"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    text = unit.read_text()
    assert VENV_EXE in text
    copy = tmp_path / unit.name
    copy.write_text(text.replace(VENV_EXE, str(stand_in)))
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.strip() == "", r.stderr  # verify prints warnings without failing


@pytest.mark.parametrize("unit,limit", [(DEVICE, 2.0), (KIOSK, 1.5)], ids=["device", "kiosk"])
def test_security_exposure_is_low(unit, limit, analyze):
    r = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(unit)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= limit


def test_device_unit_carries_the_required_hardening():
    opts = unit_options(DEVICE)
    for key, want in DEVICE_REQUIRED.items():
        assert key in opts, f"{key}= missing"
        if want is not None:
            assert opts[key][-1] == want, f"{key}={opts[key][-1]!r}, want {want!r}"
        else:
            assert opts[key][-1], f"{key}= is empty"
    for key in DEVICE_FORBIDDEN:
        assert key not in opts, f"{key}= would break the device"
    assert opts["ExecStart"] == [f"{VENV_EXE} run --config /etc/kotdevice/config.toml"]
    assert "/dev/i2c-1 rw" in opts["DeviceAllow"]
    assert any(v.startswith("char-gpiochip") and v.endswith("rw") for v in opts["DeviceAllow"])
    fams = opts["RestrictAddressFamilies"][-1].split()
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} <= set(fams) and "AF_PACKET" not in fams
    assert opts["SystemCallFilter"][0] == "@system-service"
    # The numba JIT cache must go somewhere writable under ProtectSystem=strict.
    env = dict(v.split("=", 1) for v in opts["Environment"])
    assert env["NUMBA_CACHE_DIR"].startswith("%C/kotdevice")
    # lgpio writes its notify pipe into the working directory.
    assert opts["WorkingDirectory"] == ["%S/kotdevice"]
    assert int(re.match(r"\d+", opts["WatchdogSec"][-1]).group()) <= 30


def test_memory_deny_write_execute_matches_the_engine():
    """numba's JIT (the motion engine) needs W+X pages: the device unit must not set
    MemoryDenyWriteExecute. The kiosk server never runs the engine, so its unit does."""
    opts = unit_options(DEVICE)
    assert opts.get("MemoryDenyWriteExecute", ["no"])[-1] in ("no", "false", "0"), \
        "MemoryDenyWriteExecute=yes kills the device's numba JIT"
    kiosk_code = "\n".join(p.read_text() for p in (REPO / "kotdevice/kiosk").rglob("*.py"))
    assert not re.search(r"^\s*(from|import) (numba|kotdevice\.motion)", kiosk_code, re.M)
    assert unit_options(KIOSK)["MemoryDenyWriteExecute"] == ["yes"]


def test_kiosk_unit_runs_the_kiosk_command_unprivileged():
    opts = unit_options(KIOSK)
    assert opts["ExecStart"][0].startswith(f"{VENV_EXE} kiosk --broker ")
    assert "--http-port" in opts["ExecStart"][0]
    # A DynamicUser has no writable home: the history DB must go to the state directory.
    assert f"--db %S/{opts['StateDirectory'][0]}/" in opts["ExecStart"][0]
    assert opts["DynamicUser"] == ["yes"] and opts["PrivateDevices"] == ["yes"]
    assert opts["CapabilityBoundingSet"] == [""]
    assert opts["EnvironmentFile"] == ["-/etc/kotdevice/kiosk.env"]
    # The broker password is a root-only credential, not in the world-readable kiosk.env; the
    # path is the installer's (paths.sh).
    assert opts["LoadCredential"] == ["mqtt-password:/etc/kotdevice/kiosk-mqtt-password"]
    assert " --password-file %d/mqtt-password " in opts["ExecStart"][0]
    paths_sh = (REPO / "firmware/paths.sh").read_text()
    assert 'kiosk_password_file="$etc_dir/kiosk-mqtt-password"' in paths_sh
    assert 'etc_dir="${KOT_ETC:-/etc/kotdevice}"' in paths_sh
    # No matplotlib in the kiosk process (test_kiosk_server.py checks): no cache dir for it.
    assert "CacheDirectory" not in opts and not any(v.startswith("MPLCONFIGDIR=") for v in opts["Environment"])
    # The env file example sets exactly the variables the unit reads.
    example = (REPO / "firmware/kiosk.env.example").read_text()
    env_keys = {ln.split("=", 1)[0] for ln in example.splitlines() if ln and not ln.startswith("#")}
    used = set(re.findall(r"\$\{?(KOT_KIOSK_\w+)", opts["ExecStart"][0]))
    assert used == env_keys
    assert not re.search(r"^\s*#?\s*KOT_MQTT_PASSWORD=", example, re.M)  # the password lives elsewhere


def test_kiosk_browser_autostart_entry():
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(REPO / "systemd/kotdevice-kiosk-browser.desktop")
    entry = cp["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Name"]
    assert entry["Exec"] == "/opt/kotdevice/bin/kotdevice-kiosk-browser"


def test_kiosk_browser_script_waits_then_execs_chromium_in_kiosk_mode(tmp_path):
    """Run the wrapper with a fake chromium and curl on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "chromium").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/argv\n')
    (bin_dir / "curl").write_text("#!/bin/sh\nexit 0\n")
    for p in bin_dir.iterdir():
        p.chmod(0o755)
    env_file = tmp_path / "kiosk.env"
    env_file.write_text("KOT_KIOSK_HTTP_PORT=8181\n")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "KOT_KIOSK_ENV": str(env_file), "XDG_RUNTIME_DIR": str(tmp_path)}
    r = subprocess.run([BASH, str(REPO / "firmware/kiosk-browser.sh")], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    argv = (tmp_path / "argv").read_text().split()
    assert "--kiosk" in argv and argv[-1] == "http://localhost:8181/"
    # No chromium at all: one clear line, non-zero.
    (bin_dir / "chromium").unlink()
    r = subprocess.run([BASH, str(REPO / "firmware/kiosk-browser.sh")],
                       env=dict(env, PATH=str(bin_dir)), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
    assert "chromium is not installed" in r.stderr
