# shellcheck shell=bash
# Where kotdevice lives on the target and which tools manage it: sourced by install.sh and
# uninstall.sh so the two always agree. Every value can be redirected through the
# environment (see install.sh); the tests point them at a temporary root with stub tools.
# shellcheck disable=SC2034  # the values are used by the scripts that source this file
root="${KOT_ROOT:-/}"
root="${root%/}"                      # "" for the real root, so "$root/etc" works either way
prefix="${KOT_PREFIX:-/opt/kotdevice}"
etc_dir="${KOT_ETC:-/etc/kotdevice}"
unit_dir="${KOT_UNIT_DIR:-/etc/systemd/system}"
systemctl="${KOT_SYSTEMCTL:-systemctl}"
getent="${KOT_GETENT:-getent}"
