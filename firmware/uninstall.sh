#!/usr/bin/env bash
# Remove what firmware/install.sh installed. Idempotent.
# Keeps the data and anything an admin may have edited -- /etc/kotdevice (config, kiosk.env,
# kiosk-mqtt-password), /var/lib/kotdevice (the session store), the kotdevice user, the
# broker's ACL, password file and certificates -- unless KOT_PURGE=1.
# Same environment variables as install.sh (KOT_ROOT, KOT_PREFIX, KOT_SYSTEMCTL, ...);
# KOT_USERDEL=userdel is used only with KOT_PURGE=1.
set -euo pipefail

# root prefix etc_dir unit_dir systemctl getent: the same as install.sh's
# shellcheck source-path=SCRIPTDIR source=paths.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/paths.sh"
userdel="${KOT_USERDEL:-userdel}"
purge="${KOT_PURGE:-0}"

say() { echo "kotdevice-uninstall: $*" >&2; }

if [[ -z "$root" && "$(id -u)" != 0 ]]; then
    echo "kotdevice-uninstall: error: run as root (sudo $0)" >&2
    exit 1
fi

units=()
for u in kotdevice.service kotdevice-kiosk.service; do
    [[ -e "$root$unit_dir/$u" ]] && units+=("$u")
done
if ((${#units[@]})); then
    if [[ -z "$root" ]]; then
        "$systemctl" disable --now "${units[@]}" || true
    else
        "$systemctl" --root="$root" disable "${units[@]}" || true
    fi
fi

rm_f() {
    local f
    for f in "$@"; do
        if [[ -e "$f" || -L "$f" ]]; then
            rm -rf -- "$f"
            say "removed $f"
        fi
    done
}

rm_f "$root$unit_dir/kotdevice.service" "$root$unit_dir/kotdevice-kiosk.service" \
    "$root/etc/xdg/autostart/kotdevice-kiosk-browser.desktop" \
    "$root/etc/modules-load.d/kotdevice.conf" \
    "$root/etc/mosquitto/conf.d/kotdevice.conf" \
    "$root$prefix"

link="$root/usr/local/bin/kotdevice"
if [[ -L "$link" && "$(readlink "$link")" == "$prefix/venv/bin/kotdevice" ]]; then
    rm_f "$link"
fi

# Drop our block from the boot config; the rest of the file is untouched.
for cfg in "$root/boot/firmware/config.txt" "$root/boot/config.txt"; do
    if [[ -f "$cfg" ]] && grep -qxF "$boot_begin" "$cfg"; then
        tmp="$(mktemp)"
        without_boot_block "$cfg" >"$tmp"
        cat "$tmp" >"$cfg"
        rm -f "$tmp"
        say "removed the kotdevice block from $cfg"
    fi
done

if [[ "$purge" == 1 ]]; then
    rm_f "$root$etc_dir" "$root/var/lib/kotdevice" "$root/var/cache/kotdevice" \
        "$root/etc/mosquitto/kotdevice"
    if "$getent" passwd kotdevice >/dev/null; then
        "$userdel" kotdevice
        say "removed user kotdevice"
    fi
fi

if [[ -z "$root" ]]; then
    "$systemctl" daemon-reload
    # Mosquitto falls back to Debian's default config without our conf.d file.
    if "$systemctl" is-active --quiet mosquitto.service; then
        "$systemctl" restart mosquitto.service || true
    fi
fi
say "done (purge=$purge)"
