# shellcheck shell=bash
# Where kotdevice lives on the target, which tools manage it, and how its block in the boot
# config is marked: sourced by install.sh and uninstall.sh so the two always agree. Every
# value can be redirected through the environment (see install.sh); the tests point them at
# a temporary root with stub tools.
# shellcheck disable=SC2034  # the values are used by the scripts that source this file
root="${KOT_ROOT:-/}"
root="${root%/}"                      # "" for the real root, so "$root/etc" works either way
prefix="${KOT_PREFIX:-/opt/kotdevice}"
etc_dir="${KOT_ETC:-/etc/kotdevice}"
unit_dir="${KOT_UNIT_DIR:-/etc/systemd/system}"
systemctl="${KOT_SYSTEMCTL:-systemctl}"
getent="${KOT_GETENT:-getent}"
kiosk_password_file="$etc_dir/kiosk-mqtt-password"  # LoadCredential= in kotdevice-kiosk.service

# The lines around install.sh's block in the Pi's boot config (config.txt).
boot_begin="# BEGIN kotdevice (firmware/install.sh)"
boot_end="# END kotdevice"

# Print FILE without the kotdevice block; every other line is kept as it is.
without_boot_block() { # without_boot_block FILE
    awk -v b="$boot_begin" -v e="$boot_end" '$0==b{skip=1} !skip{print} $0==e{skip=0}' "$1"
}
