#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine: Debian packages when missing,
# then .venv with the pinned Python packages from requirements/lock.txt.
# A second run checks and returns quickly; it changes nothing when all is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the Cortex-M toolchain, QEMU for the emulated board, the broker,
# clang for the fuzz targets, Chromium for dashboard tests, promtool (prometheus) for the alert rules
# and dashboard queries.
APT_PACKAGES=(
  gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi
  qemu-system-arm
  mosquitto
  prometheus
  clang libclang-rt-14-dev
  chromium
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
stamp=.venv/.lock-sha256
want=$(sha256sum requirements/lock.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
# pip, with the noise of index locations this machine's pip config names but lacks filtered out.
quiet_pip() {
  local log rc=0
  log=$(mktemp)
  .venv/bin/pip "$@" >"$log" 2>&1 || rc=$?
  grep -v -e 'is ignored: it is neither a file nor a directory' "$log" || true
  rm -f "$log"
  return $rc
}
echo "setup: creating .venv with pinned Python packages"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
quiet_pip install -q -r requirements/lock.txt
quiet_pip install -q --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"
echo "setup: done"
