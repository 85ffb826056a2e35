#!/usr/bin/env bash
# Full-screen Chromium on the gym display, showing the kiosk page.
# Started at desktop login by /etc/xdg/autostart/kotdevice-kiosk-browser.desktop
# (installed by firmware/install.sh with KOT_ROLES=kiosk). Settings: /etc/kotdevice/kiosk.env.
set -euo pipefail

env_file="${KOT_KIOSK_ENV:-/etc/kotdevice/kiosk.env}"
if [[ -r "$env_file" ]]; then
    # shellcheck disable=SC1090
    . "$env_file"
fi
port="${KOT_KIOSK_HTTP_PORT:-8080}"
url="${KOT_KIOSK_URL:-http://localhost:${port}/}"
wait_s="${KOT_KIOSK_WAIT_S:-120}"

browser=""
for b in chromium-browser chromium; do
    if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [[ -z "$browser" ]]; then
    echo "kotdevice-kiosk-browser: chromium is not installed (sudo apt install chromium-browser)" >&2
    exit 1
fi

# The kiosk server may still be starting at login: wait for it rather than show an error page.
for ((i = 0; i < wait_s; i++)); do
    if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then break; fi
    sleep 1
done

# A fresh profile dir per boot: no "restore session" bubble after a power cut.
profile="${XDG_RUNTIME_DIR:-/tmp}/kotdevice-kiosk-chromium"
rm -rf "$profile"
exec "$browser" --kiosk --noerrdialogs --disable-infobars --no-first-run \
    --disable-session-crashed-bubble --disable-translate --check-for-update-interval=31536000 \
    --password-store=basic --user-data-dir="$profile" "$url"
