#!/usr/bin/env bash
# Install the Debian packages the browser test of the site needs: Chromium and
# its driver. Idempotent: when both are present it only checks and returns, so
# scripts/test.sh can call it on every run. Needs root (CI runs as root).
set -euo pipefail

packages=(chromium chromium-driver)
missing=()
for package in "${packages[@]}"; do
  # dpkg-query reports "install ok installed" only for a fully installed package.
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [ "$status" != "install ok installed" ]; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "Missing Debian packages: ${missing[*]}; install them with" \
       "sudo apt-get install ${missing[*]}, or run this script as root." >&2
  # Outside CI the browser tests skip themselves; in CI they must run.
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
fi

echo "Installing ${missing[*]} with apt-get (about a minute)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "Installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
