#!/bin/sh
# Render the configuration from the environment, then run Asterisk in the foreground.
set -eu
base=/srv/switchboard/docker
python3 -m dialplan --base "$base"
chown -R asterisk:asterisk "$base"
exec /usr/sbin/asterisk -f -U asterisk -G asterisk -C "$base/etc/asterisk.conf" "$@"
