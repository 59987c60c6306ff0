#!/usr/bin/env bash
# Installs what tests/test_browser.py drives: Debian's Chromium and its ChromeDriver (the
# packages chromium and chromium-driver; no test tool downloads a browser of its own).
# Does nothing when both are already on PATH. Needs root, or sudo.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "install-browser: chromium and chromedriver are installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get here; install Chromium and ChromeDriver yourself (the browser test skips without them)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium chromium-driver
chromium --version
chromedriver --version
