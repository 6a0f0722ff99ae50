#!/usr/bin/env bash
# Installs Debian's chromium package for the funnel page test (headless rendering).
# Idempotent: does nothing when chromium is already on the PATH.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
