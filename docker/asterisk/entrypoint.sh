#!/bin/sh
# Render the configuration from the environment, then run Asterisk in the foreground.
set -eu
base=/srv/switchboard/docker
python3 -m dialplan --base "$base"
# Browser phones: a self-signed certificate made once unless one is given (docs/agent-desk.md).
if [ "${SWITCHBOARD_PHONE_WSS_PORT:-0}" != 0 ] && [ -z "${SWITCHBOARD_TLS_CERT:-}" ] \
   && [ ! -s "$base/keys/tls.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=switchboard" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$base/keys/tls.key" -out "$base/keys/tls.crt" 2>/dev/null
fi
chown -R asterisk:asterisk "$base"
exec /usr/sbin/asterisk -f -U asterisk -G asterisk -C "$base/etc/asterisk.conf" "$@"
