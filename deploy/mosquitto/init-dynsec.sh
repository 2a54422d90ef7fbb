#!/bin/sh
# Create the dynamic-security file once, with the admin account the tinyfleet servers use
# (MOSQUITTO_ADMIN_PASSWORD from the environment; compose passes it from .env).
set -eu
f=/mosquitto/data/dynamic-security.json
if [ ! -s "$f" ]; then
  : "${MOSQUITTO_ADMIN_PASSWORD:?set MOSQUITTO_ADMIN_PASSWORD}"
  mosquitto_ctrl dynsec init "$f" tinyfleet-admin "$MOSQUITTO_ADMIN_PASSWORD"
  chown mosquitto:mosquitto "$f" 2>/dev/null || true
fi
