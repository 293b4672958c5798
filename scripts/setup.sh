#!/usr/bin/env bash
# Sets up a checkout: system tools the tests need, node modules, build. Idempotent, non-interactive;
# meant for root on Debian 12 with Node >= 20.6 and npm (CI), also works as a user for the npm part.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- apt packages for tests ------------------------------------------------------------------
# Add "command:package" pairs here (e.g. "nginx:nginx" "hping3:hping3"); only missing commands
# are installed, and apt-get update runs only when something is missing.
APT_TOOLS=()

missing=()
for pair in "${APT_TOOLS[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
  else
    echo "setup: not root, not installing: ${missing[*]} (tests that need them will be skipped)" >&2
  fi
fi
# --- end of apt packages ---------------------------------------------------------------------

if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund </dev/null
else
  npm install --no-audit --no-fund </dev/null
fi
npm run build </dev/null
