"""firmware/install.sh and uninstall.sh against a temporary root, with the system tools
(useradd, groupadd, getent, chown, python -m venv/pip) replaced by stubs through the
environment, and the real `systemctl --root` (an offline file operation) where available."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FW = REPO / "firmware"
SCRIPTS = [FW / "install.sh", FW / "uninstall.sh", FW / "paths.sh", FW / "make-certs.sh", FW / "kiosk-browser.sh"]

# getent/useradd/groupadd keep their "database" in $STUB_STATE; every call is logged.
STUBS = {
    "getent": """
        db="$STUB_STATE/$1"; touch "$db"
        echo "getent $*" >>"$STUB_LOG"
        grep -qx "$2" "$db"
    """,
    "useradd": """
        echo "useradd $*" >>"$STUB_LOG"
        for a in "$@"; do last="$a"; done
        echo "$last" >>"$STUB_STATE/passwd"; echo "$last" >>"$STUB_STATE/group"
    """,
    "groupadd": """
        echo "groupadd $*" >>"$STUB_LOG"
        for a in "$@"; do last="$a"; done
        echo "$last" >>"$STUB_STATE/group"
    """,
    "userdel": """
        echo "userdel $*" >>"$STUB_LOG"
        grep -vx "$1" "$STUB_STATE/passwd" >"$STUB_STATE/passwd.new" || true
        mv "$STUB_STATE/passwd.new" "$STUB_STATE/passwd"
    """,
    "chown": """echo "chown $*" >>"$STUB_LOG" """,
    "systemctl": """echo "systemctl $*" >>"$STUB_LOG" """,
    # `python3 -m venv [--system-site-packages] DIR`: a fake venv whose python fakes pip.
    "python3": r"""
        echo "python3 $*" >>"$STUB_LOG"
        [ "$1 $2" = "-m venv" ] || exit 3
        for a in "$@"; do dir="$a"; done
        mkdir -p "$dir/bin"
        cat >"$dir/bin/python" <<'PY'
#!/bin/sh
echo "venv-python $*" >>"$STUB_LOG"
[ "$1 $2 $3" = "-m pip install" ] || exit 3
here="$(dirname "$0")"
for a in "$@"; do spec="$a"; done
printf '#!/bin/sh\necho kotdevice stub\n' >"$here/kotdevice"; chmod 755 "$here/kotdevice"
mkdir -p "$here/../lib"; echo "$spec" >"$here/../lib/installed.txt"
PY
        chmod 755 "$dir/bin/python"
        echo "home = /usr/bin" >"$dir/pyvenv.cfg"
    """,
}


@pytest.fixture
def env(tmp_path):
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    for name, body in STUBS.items():
        p = stubs / name
        p.write_text("#!/bin/sh\n" + textwrap.dedent(body).lstrip("\n"))
        p.chmod(0o755)
    (state / "group").write_text("gpio\n")  # a Pi already has gpio; i2c must be created
    root = tmp_path / "root"
    (root / "boot/firmware").mkdir(parents=True)
    (root / "boot/firmware/config.txt").write_text("# stock Pi config\ndtparam=audio=on\n")
    e = dict(os.environ)
    e.update(
        KOT_ROOT=str(root), KOT_SRC=str(REPO), KOT_PYTHON=str(stubs / "python3"),
        KOT_SYSTEMCTL=str(stubs / "systemctl"), KOT_USERADD=str(stubs / "useradd"),
        KOT_GROUPADD=str(stubs / "groupadd"), KOT_GETENT=str(stubs / "getent"),
        KOT_CHOWN=str(stubs / "chown"), KOT_USERDEL=str(stubs / "userdel"),
        KOT_CERT_NAMES="localhost 127.0.0.1",
        STUB_STATE=str(state), STUB_LOG=str(tmp_path / "calls.log"),
    )
    return {"root": root, "env": e, "log": tmp_path / "calls.log", "state": state}


def run(script: str, env: dict, **extra) -> subprocess.CompletedProcess:
    e = dict(env, **extra)
    return subprocess.run(["bash", str(FW / script)], env=e, capture_output=True, text=True, timeout=60)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root -> (kind, mode, content hash or link target)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = str(p.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(p))
        elif p.is_dir():
            out[rel] = ("dir", stat.S_IMODE(st.st_mode))
        else:
            out[rel] = ("file", stat.S_IMODE(st.st_mode), hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_scripts_pass_shellcheck():
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed (apt-get install shellcheck)")
    r = subprocess.run(["shellcheck", "--severity=style", *map(str, SCRIPTS)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_device_install_is_complete_and_idempotent(env):
    root = env["root"]
    r1 = run("install.sh", env["env"])
    assert r1.returncode == 0, r1.stderr
    first = snapshot(root)
    first_calls = calls(env["log"])

    # What a device install must leave behind.
    assert first["etc/systemd/system/kotdevice.service"][0] == "file"
    assert (root / "etc/systemd/system/kotdevice.service").read_text() == (REPO / "systemd/kotdevice.service").read_text()
    assert first["etc/kotdevice/config.toml"][1] == 0o640  # holds the broker password
    assert (root / "etc/kotdevice/config.toml").read_text() == (FW / "config.toml.example").read_text()
    assert (root / "etc/modules-load.d/kotdevice.conf").read_text().strip() == "i2c-dev"
    assert (root / "opt/kotdevice/venv/lib/installed.txt").read_text().strip() == str(REPO)
    assert first["usr/local/bin/kotdevice"] == ("link", "/opt/kotdevice/venv/bin/kotdevice")
    boot = (root / "boot/firmware/config.txt").read_text()
    assert boot.startswith("# stock Pi config\ndtparam=audio=on\n")
    assert "dtparam=i2c_arm=on" in boot and "dtparam=i2c_arm_baudrate=400000" in boot
    # User and the missing group were created, the existing gpio group was not re-created.
    assert any(c.startswith("groupadd --system i2c") for c in first_calls)
    assert not any(c.startswith("groupadd --system gpio") for c in first_calls)
    useradd = [c for c in first_calls if c.startswith("useradd")]
    assert len(useradd) == 1 and "--system" in useradd[0] and "--groups i2c,gpio" in useradd[0]
    assert "--shell /usr/sbin/nologin" in useradd[0]
    assert any(c.startswith("python3 -m venv --system-site-packages") for c in first_calls)
    assert f"systemctl --root={root} enable kotdevice.service" in first_calls

    # Second run: same tree, same contents; no user/group/venv created again.
    env["log"].unlink()
    r2 = run("install.sh", env["env"])
    assert r2.returncode == 0, r2.stderr
    assert snapshot(root) == first
    second_calls = calls(env["log"])
    assert not [c for c in second_calls if c.startswith(("useradd", "groupadd", "python3 -m venv"))]
    assert (root / "boot/firmware/config.txt").read_text().count("dtparam=i2c_arm=on") == 1


def test_install_never_overwrites_an_edited_config(env):
    cfg = env["root"] / "etc/kotdevice/config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('device_id = "kot-mine"\n')
    r = run("install.sh", env["env"])
    assert r.returncode == 0, r.stderr
    assert cfg.read_text() == 'device_id = "kot-mine"\n'
    assert "kept existing" in r.stderr


def test_all_roles_install_idempotently_then_uninstall_cleanly(env):
    root = env["root"]
    before = snapshot(root)
    roles = {"KOT_ROLES": "device,kiosk,broker"}
    assert run("install.sh", env["env"], **roles).returncode == 0
    first = snapshot(root)
    for f in ["etc/systemd/system/kotdevice-kiosk.service", "etc/xdg/autostart/kotdevice-kiosk-browser.desktop",
              "opt/kotdevice/bin/kotdevice-kiosk-browser", "etc/kotdevice/kiosk.env",
              "etc/mosquitto/conf.d/kotdevice.conf", "etc/mosquitto/kotdevice/acl",
              "etc/mosquitto/kotdevice/passwd", "etc/mosquitto/kotdevice/tls/ca.crt",
              "etc/mosquitto/kotdevice/tls/server.key"]:
        assert f in first, f
    assert first["opt/kotdevice/bin/kotdevice-kiosk-browser"][1] == 0o755
    assert first["etc/mosquitto/kotdevice/tls/server.key"][1] == 0o640
    # kiosk.env is read by the desktop user's browser script: world-readable, so no password in
    # it; the password file is root-only (systemd hands it to the service as a credential).
    assert first["etc/kotdevice/kiosk.env"][1] == 0o644
    assert not re.search(r"^\s*(export\s+)?KOT_MQTT_PASSWORD=", (root / "etc/kotdevice/kiosk.env").read_text(), re.M)
    assert first["etc/kotdevice/kiosk-mqtt-password"][1] == 0o600
    assert (root / "etc/kotdevice/kiosk-mqtt-password").read_bytes() == b""
    assert f"chown root:root {root}/etc/kotdevice/kiosk-mqtt-password" in calls(env["log"])
    r2 = run("install.sh", env["env"], **roles)
    assert r2.returncode == 0, r2.stderr
    assert snapshot(root) == first  # includes the certificates: not regenerated

    r3 = run("uninstall.sh", env["env"])
    assert r3.returncode == 0, r3.stderr
    after = snapshot(root)
    # Program, units and boot block gone; config, ACL, passwords and certificates kept.
    for gone in ["opt/kotdevice", "etc/systemd/system/kotdevice.service",
                 "etc/systemd/system/kotdevice-kiosk.service", "etc/mosquitto/conf.d/kotdevice.conf",
                 "etc/modules-load.d/kotdevice.conf", "etc/xdg/autostart/kotdevice-kiosk-browser.desktop",
                 "usr/local/bin/kotdevice"]:
        assert gone not in after, gone
    for kept in ["etc/kotdevice/config.toml", "etc/kotdevice/kiosk-mqtt-password", "etc/mosquitto/kotdevice/acl",
                 "etc/mosquitto/kotdevice/tls/ca.key"]:
        assert kept in after, kept
    assert (root / "boot/firmware/config.txt").read_text() == "# stock Pi config\ndtparam=audio=on\n"
    assert after["boot/firmware/config.txt"] == before["boot/firmware/config.txt"]
    assert run("uninstall.sh", env["env"]).returncode == 0  # twice is fine
    assert snapshot(root) == after

    r4 = run("uninstall.sh", env["env"], KOT_PURGE="1")
    assert r4.returncode == 0, r4.stderr
    assert not (root / "etc/kotdevice").exists() and not (root / "etc/mosquitto/kotdevice").exists()
    assert "userdel kotdevice" in calls(env["log"])


def test_kiosk_password_is_kept_private_and_never_overwritten(env):
    etc = env["root"] / "etc/kotdevice"
    etc.mkdir(parents=True)
    # An older install: the password in kiosk.env (as the old example said), a loose password file.
    (etc / "kiosk.env").write_text("KOT_KIOSK_BROKER=gym.local:8883\nKOT_MQTT_PASSWORD=s3cret\n")
    (etc / "kiosk-mqtt-password").write_text("s3cret\n")
    (etc / "kiosk-mqtt-password").chmod(0o644)
    r = run("install.sh", env["env"], KOT_ROLES="kiosk")
    assert r.returncode == 0, r.stderr
    assert (etc / "kiosk-mqtt-password").read_text() == "s3cret\n"
    assert stat.S_IMODE((etc / "kiosk-mqtt-password").stat().st_mode) == 0o600
    assert (etc / "kiosk.env").read_text().endswith("KOT_MQTT_PASSWORD=s3cret\n")  # never edited...
    assert "warning: /etc/kotdevice/kiosk.env holds KOT_MQTT_PASSWORD" in r.stderr  # ...but flagged
    (etc / "kiosk.env").write_text("KOT_KIOSK_BROKER=gym.local:8883\nKOT_MQTT_PASSWORD=\n# KOT_MQTT_PASSWORD=x\n")
    r = run("install.sh", env["env"], KOT_ROLES="kiosk")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_real_systemctl_enables_the_unit_offline(env):
    if shutil.which("systemctl") is None:
        pytest.fail("systemctl is not installed: run `make test`, which installs systemd")
    r = run("install.sh", env["env"], KOT_SYSTEMCTL=shutil.which("systemctl"))
    assert r.returncode == 0, r.stderr
    link = env["root"] / "etc/systemd/system/multi-user.target.wants/kotdevice.service"
    assert link.is_symlink() and os.readlink(link) == "/etc/systemd/system/kotdevice.service"
    first = snapshot(env["root"])
    assert run("install.sh", env["env"], KOT_SYSTEMCTL=shutil.which("systemctl")).returncode == 0
    assert snapshot(env["root"]) == first
    r = run("uninstall.sh", env["env"], KOT_SYSTEMCTL=shutil.which("systemctl"))
    assert r.returncode == 0, r.stderr
    assert not link.exists()


def test_bad_role_fails_with_one_clear_line(env):
    r = run("install.sh", env["env"], KOT_ROLES="device,toaster")
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [
        "kotdevice-install: error: KOT_ROLES: unknown role 'toaster' (expected device, kiosk and/or broker)"]
    assert not (env["root"] / "etc").exists()  # refused before touching anything


def test_boot_config_block_is_replaced_not_duplicated(env):
    boot = env["root"] / "boot/firmware/config.txt"
    boot.write_text("# stock\n# BEGIN kotdevice (firmware/install.sh)\ndtparam=i2c_arm_baudrate=100000\n"
                    "# END kotdevice\ndtoverlay=vc4-kms-v3d\n")
    assert run("install.sh", env["env"]).returncode == 0
    text = boot.read_text()
    assert "100000" not in text and text.count("# BEGIN kotdevice") == 1
    assert "dtoverlay=vc4-kms-v3d" in text and "dtparam=i2c_arm_baudrate=400000" in text


def test_legacy_boot_path_used_without_boot_firmware(env):
    shutil.rmtree(env["root"] / "boot/firmware")
    assert run("install.sh", env["env"]).returncode == 0
    assert "dtparam=i2c_arm=on" in (env["root"] / "boot/config.txt").read_text()
