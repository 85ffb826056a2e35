#!/usr/bin/env bash
# Install kotdevice on Raspberry Pi OS (bookworm) or any systemd Debian. Idempotent: run it
# again after `git pull` to upgrade; it never overwrites a config you edited.
#
#   sudo firmware/install.sh                       # the wearable (device role)
#   sudo KOT_ROLES="broker kiosk" firmware/install.sh   # the gym's display/broker Pi
#
# Roles (KOT_ROLES, space- or comma-separated):
#   device  user+groups, venv, /etc/kotdevice/config.toml, I2C boot config, kotdevice.service
#   kiosk   venv, kotdevice-kiosk.service, Chromium kiosk autostart, /etc/kotdevice/kiosk.env,
#           /etc/kotdevice/kiosk-mqtt-password (0600, empty until the admin fills it in)
#   broker  Mosquitto config, ACL and (empty) password file for the gym broker
#
# Every path and every system tool can be redirected through the environment, so the tests
# run this script against a temporary root with stub tools:
#   KOT_ROOT=/          root of the target file system (everything is written under it)
#   KOT_SRC=<repo>      what pip installs (a source dir, a wheel, or "kotdevice==X.Y")
#   KOT_PREFIX=/opt/kotdevice   KOT_ETC=/etc/kotdevice   KOT_UNIT_DIR=/etc/systemd/system
#   KOT_BOOT_CONFIG     default: /boot/firmware/config.txt, else /boot/config.txt
#   KOT_PYTHON=python3  KOT_SYSTEMCTL=systemctl  KOT_USERADD=useradd  KOT_GROUPADD=groupadd
#   KOT_GETENT=getent   KOT_CHOWN=chown
#   KOT_SYSTEM_SITE=1   venv sees apt's python3-lgpio (gpiozero's pin driver on Pi OS)
#   KOT_START=1         start/restart the units now (only when KOT_ROOT=/)
#   KOT_MAKE_CERTS=1    broker: make a private CA + server certificate if none exist
#                       (firmware/make-certs.sh; KOT_CERT_NAMES="pi.local 192.168.1.5")
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

# root prefix etc_dir unit_dir systemctl getent
# shellcheck source-path=SCRIPTDIR source=paths.sh
. "$here/paths.sh"
src="${KOT_SRC:-$repo}"
python="${KOT_PYTHON:-python3}"
useradd="${KOT_USERADD:-useradd}"
groupadd="${KOT_GROUPADD:-groupadd}"
chown_cmd="${KOT_CHOWN:-chown}"
system_site="${KOT_SYSTEM_SITE:-1}"
start="${KOT_START:-1}"
make_certs="${KOT_MAKE_CERTS:-1}"
roles="${KOT_ROLES:-device}"
roles="${roles//,/ }"
svc_user="kotdevice"

say() { echo "kotdevice-install: $*" >&2; }
die() { echo "kotdevice-install: error: $*" >&2; exit 1; }

has_role() {
    local r
    for r in $roles; do [[ "$r" == "$1" ]] && return 0; done
    return 1
}

for r in $roles; do
    case "$r" in
        device | kiosk | broker) ;;
        *) die "KOT_ROLES: unknown role '$r' (expected device, kiosk and/or broker)" ;;
    esac
done
[[ -n "${roles// /}" ]] || die "KOT_ROLES is empty (expected device, kiosk and/or broker)"
if [[ -z "$root" && "$(id -u)" != 0 ]]; then
    die "run as root (sudo $0), or set KOT_ROOT to install into another directory"
fi

# Copy a file we own (always refreshed) with the given mode.
put() { # put MODE SRC DEST
    install -D -m "$1" "$2" "$3"
}

# Copy a file the admin may edit: only if it does not exist yet.
put_once() { # put_once MODE SRC DEST
    if [[ -e "$3" ]]; then
        say "kept existing $3"
    else
        install -D -m "$1" "$2" "$3"
        say "installed $3"
    fi
}

ensure_group() {
    if ! "$getent" group "$1" >/dev/null; then
        say "creating group $1"
        "$groupadd" --system "$1"
    fi
}

ensure_user() {
    if ! "$getent" passwd "$svc_user" >/dev/null; then
        say "creating system user $svc_user"
        "$useradd" --system --user-group --no-create-home --home-dir /var/lib/kotdevice \
            --shell /usr/sbin/nologin --groups i2c,gpio \
            --comment "kotdevice wearable service" "$svc_user"
    fi
}

# Replace (or append) the marked kotdevice block in the Pi's boot config.
ensure_boot_config() {
    local cfg="${KOT_BOOT_CONFIG:-}"
    if [[ -z "$cfg" ]]; then
        if [[ -d "$root/boot/firmware" ]]; then cfg=/boot/firmware/config.txt; else cfg=/boot/config.txt; fi
    fi
    cfg="$root$cfg"
    local tmp
    tmp="$(mktemp)"
    if [[ -f "$cfg" ]]; then
        # Drop any previous block, keep everything else.
        without_boot_block "$cfg" >"$tmp"
    fi
    { echo "$boot_begin"; cat "$here/config.txt"; echo "$boot_end"; } >>"$tmp"
    if [[ -f "$cfg" ]] && cmp -s "$tmp" "$cfg"; then
        rm -f "$tmp"
    else
        mkdir -p "$(dirname "$cfg")"
        # Keep the original mode (the boot partition is FAT on a Pi; cat keeps the inode).
        cat "$tmp" >"$cfg"
        rm -f "$tmp"
        say "updated $cfg (reboot to enable I2C at 400 kHz)"
    fi
}

ensure_venv() {
    local venv="$root$prefix/venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        say "creating virtual environment $prefix/venv"
        local flags=()
        [[ "$system_site" == 1 ]] && flags+=(--system-site-packages)
        "$python" -m venv "${flags[@]}" "$venv"
    fi
    say "installing kotdevice from $src into $prefix/venv"
    "$venv/bin/python" -m pip install --quiet --upgrade "$src"
    # `kotdevice doctor` etc. on the PATH without activating the venv.
    mkdir -p "$root/usr/local/bin"
    ln -sfn "$prefix/venv/bin/kotdevice" "$root/usr/local/bin/kotdevice"
}

enable_units() { # enable_units UNIT...
    if [[ -z "$root" ]]; then
        "$systemctl" daemon-reload
        "$systemctl" enable "$@"
        if [[ "$start" == 1 ]]; then "$systemctl" restart "$@"; fi
    else
        # Offline: creates the same .wants symlinks under the target root.
        "$systemctl" --root="$root" enable "$@"
    fi
}

units=()

if has_role device; then
    ensure_group i2c
    ensure_group gpio
    ensure_user
    ensure_boot_config
    # raspi-config loads i2c-dev via /etc/modules; this makes it explicit and survives edits.
    put 0644 "$here/modules-load.conf" "$root/etc/modules-load.d/kotdevice.conf"
fi

if has_role device || has_role kiosk; then
    ensure_venv
    install -d -m 0755 "$root$etc_dir"
fi

if has_role device; then
    put_once 0640 "$here/config.toml.example" "$root$etc_dir/config.toml"
    # The config holds the broker password: readable by the service's group only.
    "$chown_cmd" "root:$svc_user" "$root$etc_dir/config.toml"
    put 0644 "$repo/systemd/kotdevice.service" "$root$unit_dir/kotdevice.service"
    units+=(kotdevice.service)
fi

if has_role kiosk; then
    # kiosk.env stays world-readable (the browser script runs as the desktop user): no secrets.
    put_once 0644 "$here/kiosk.env.example" "$root$etc_dir/kiosk.env"
    pw_line="^[[:space:]]*(export[[:space:]]+)?KOT_MQTT_PASSWORD=[\"']?[^\"'[:space:]]"  # set and not empty
    if grep -Eq "$pw_line" "$root$etc_dir/kiosk.env"; then
        say "warning: $etc_dir/kiosk.env holds KOT_MQTT_PASSWORD; move the password into" \
            "$kiosk_password_file and delete it from kiosk.env"
    fi
    # The broker password: root only; systemd hands it to the service (LoadCredential=).
    pw_file="$root$kiosk_password_file"
    if [[ ! -e "$pw_file" ]]; then
        install -m 0600 /dev/null "$pw_file"
        say "created an empty $kiosk_password_file (no password): put the kiosk account's password there"
    fi
    chmod 0600 "$pw_file"
    "$chown_cmd" root:root "$pw_file"
    put 0755 "$here/kiosk-browser.sh" "$root$prefix/bin/kotdevice-kiosk-browser"
    put 0644 "$repo/systemd/kotdevice-kiosk-browser.desktop" \
        "$root/etc/xdg/autostart/kotdevice-kiosk-browser.desktop"
    put 0644 "$repo/systemd/kotdevice-kiosk.service" "$root$unit_dir/kotdevice-kiosk.service"
    units+=(kotdevice-kiosk.service)
fi

if has_role broker; then
    mq="$root/etc/mosquitto"
    put 0644 "$repo/systemd/mosquitto/kotdevice.conf" "$mq/conf.d/kotdevice.conf"
    install -d -m 0755 "$mq/kotdevice"
    install -d -m 0750 "$mq/kotdevice/tls"
    put_once 0644 "$repo/systemd/mosquitto/acl" "$mq/kotdevice/acl"
    if [[ ! -e "$mq/kotdevice/passwd" ]]; then
        install -m 0640 /dev/null "$mq/kotdevice/passwd"
        say "created an empty $mq/kotdevice/passwd: add users with mosquitto_passwd"
    fi
    # Mosquitto refuses to start without the TLS listener's files: make a private CA once.
    if [[ "$make_certs" == 1 ]]; then
        # shellcheck disable=SC2086  # the names are a space-separated list on purpose
        "$here/make-certs.sh" "$mq/kotdevice/tls" ${KOT_CERT_NAMES:-}
    fi
    if "$getent" group mosquitto >/dev/null; then
        # Mosquitto reads these after dropping to its own user.
        "$chown_cmd" root:mosquitto "$mq/kotdevice/passwd" "$mq/kotdevice/tls"
        if [[ -e "$mq/kotdevice/tls/server.key" ]]; then
            "$chown_cmd" root:mosquitto "$mq/kotdevice/tls/server.key"
        fi
    fi
    units+=(mosquitto.service)
fi

if ((${#units[@]})); then
    enable_units "${units[@]}"
fi
say "done (roles: $roles)"
