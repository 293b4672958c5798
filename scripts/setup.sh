#!/usr/bin/env bash
# Sets up a checkout: system tools the tests need, node modules, build. Idempotent, non-interactive;
# meant for root on Debian 12 with Node >= 20.6 and npm (CI), also works as a user for the npm part.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- apt packages for tests ------------------------------------------------------------------
# The test tools (curl, nginx, iperf3, wrk, hping3, tcpdump, ...) are installed by
# install-test-deps.sh: only what is missing, apt-get update only then, and without letting
# nginx start as a system service.
if [[ $(id -u) -eq 0 ]]; then
  ./scripts/install-test-deps.sh </dev/null
  # clang/bpftool/libbpf (eBPF TOA reader), kernel headers and qemu (TOA module load test)
  ./scripts/install-toa-deps.sh </dev/null
else
  echo "setup: not root, not installing test tools (end-to-end tests will be skipped)" >&2
fi
# --- end of apt packages ---------------------------------------------------------------------

if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund </dev/null
else
  npm install --no-audit --no-fund </dev/null
fi
npm run build </dev/null
