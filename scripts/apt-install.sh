#!/usr/bin/env bash
# Installs Debian packages for the test setup scripts (setup-browser.sh,
# setup-aarch64.sh): as root, or through passwordless sudo; otherwise says which
# command to run and fails.
set -euo pipefail
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    printf 'apt-install: error: this user cannot install %s; run: sudo apt-get install -y %s\n' "$*" "$*" >&2
    exit 1
fi
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
