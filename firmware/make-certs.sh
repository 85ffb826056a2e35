#!/usr/bin/env bash
# Make a small private CA and a server certificate for the gym broker's TLS listener (8883).
#
#   firmware/make-certs.sh DIR [NAME...]
#
# Writes DIR/ca.key, DIR/ca.crt, DIR/server.key, DIR/server.crt; existing files are kept
# (idempotent), so re-running never invalidates the CA already copied to the devices.
# NAMEs are the broker's DNS names and IP addresses the devices connect to (subjectAltName);
# default: this host's name, <name>.local, localhost and 127.0.0.1.
# Copy DIR/ca.crt to each wearable (/etc/kotdevice/ca.crt, config: broker.ca_file).
set -euo pipefail

openssl="${KOT_OPENSSL:-openssl}"
days="${KOT_CERT_DAYS:-3650}"
dir="${1:?usage: make-certs.sh DIR [NAME...]}"
shift
names=("$@")
if ((${#names[@]} == 0)); then
    h="$(hostname)"
    names=("$h" "$h.local" localhost 127.0.0.1)
fi

san=""
for n in "${names[@]}"; do
    if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
san="${san%,}"

mkdir -p "$dir"
umask 077
if [[ ! -e "$dir/ca.key" || ! -e "$dir/ca.crt" ]]; then
    "$openssl" req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
        -subj "/CN=kotdevice gym CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    echo "make-certs: new CA $dir/ca.crt" >&2
fi
if [[ ! -e "$dir/server.key" || ! -e "$dir/server.crt" ]]; then
    "$openssl" req -newkey rsa:2048 -nodes -sha256 -subj "/CN=${names[0]}" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    "$openssl" x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
        -CAcreateserial -days "$days" -sha256 -out "$dir/server.crt" \
        -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san") 2>/dev/null
    rm -f "$dir/server.csr" "$dir/ca.srl"
    echo "make-certs: new server certificate $dir/server.crt for $san" >&2
fi
# The CA certificate is public; the keys stay private (mosquitto reads them via its group).
chmod 0644 "$dir/ca.crt" "$dir/server.crt"
chmod 0640 "$dir/server.key"
chmod 0600 "$dir/ca.key"
