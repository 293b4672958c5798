#!/usr/bin/env bash
# Installs the Debian programs the end-to-end tests drive (the real peers on both ends of the LB).
# Idempotent and non-interactive: only missing commands are installed, `apt-get update` runs only
# when something is missing, nothing reads stdin. Needs root (the e2e tests need it anyway).
#
# Services: installing nginx (or iperf3) must not start a system-wide server; the tests run their
# own instances with their own configuration inside their namespaces. While apt runs, a
# policy-rc.d that refuses every start is in place (unless the machine already has one), and the
# nginx service is stopped and disabled afterwards in case something started it anyway.
#
# Usage: scripts/install-test-deps.sh [--check]   (--check: list what is missing, exit 1 if any)
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# "command:package" (scripts/setup.sh runs this script as root)
TOOLS=(
  "curl:curl"
  "nginx:nginx"
  "iperf3:iperf3"
  "wrk:wrk"
  "hping3:hping3"
  "tcpdump:tcpdump"
  "ip:iproute2"
)

missing=()
for pair in "${TOOLS[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done

if [[ ${1:-} == --check ]]; then
  if ((${#missing[@]} > 0)); then
    echo "missing: ${missing[*]}"
    exit 1
  fi
  exit 0
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-test-deps: not root, cannot install: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
POLICY=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $POLICY ]]; then
  printf '#!/bin/sh\n# installed by lvsadm scripts/install-test-deps.sh while apt runs\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  own_policy=1
fi
cleanup() {
  if ((own_policy)); then rm -f "$POLICY"; fi
}
trap cleanup EXIT

echo "install-test-deps: installing ${missing[*]}" >&2
# wait for another apt/dpkg run (e.g. a parallel test process) instead of failing at once
LOCK=(-o DPkg::Lock::Timeout=300)
apt-get "${LOCK[@]}" update -qq </dev/null
apt-get "${LOCK[@]}" install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null

# Belt and braces: the nginx just installed must not run as a system service on the host.
if [[ " ${missing[*]} " == *" nginx "* ]] && command -v nginx >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now nginx >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/nginx ]]; then
    /etc/init.d/nginx stop >/dev/null 2>&1 || true
    update-rc.d nginx disable >/dev/null 2>&1 || true
  fi
fi

still=()
for pair in "${TOOLS[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || still+=("${pair#*:}")
done
if ((${#still[@]} > 0)); then
  echo "install-test-deps: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
