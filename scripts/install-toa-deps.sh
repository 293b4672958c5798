#!/usr/bin/env bash
# Installs the Debian packages that building and testing the TOA readers need (src/toa, test/toa):
#   eBPF reader   clang llvm libbpf-dev linux-libc-dev (build), bpftool (load, status, tests)
#   kernel module make gcc libc6-dev kmod linux-headers-amd64 (build against Debian's kernel)
#   qemu test     qemu-system-x86 busybox-static cpio
# Idempotent and non-interactive: only what is missing is installed, `apt-get update` runs only
# then. Needs root.
#
# Usage: scripts/install-toa-deps.sh [--check]   (--check: list what is missing, exit 1 if any)
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

MULTIARCH=$( (gcc -print-multiarch || dpkg-architecture -qDEB_HOST_MULTIARCH) 2>/dev/null || echo x86_64-linux-gnu)
# "test:package": a command name, or an absolute path that must exist, or pkg: (installed package)
NEEDS=(
  "clang:clang"
  "llvm-strip:llvm"
  "/usr/include/bpf/bpf_helpers.h:libbpf-dev"
  "/usr/include/linux/bpf.h:linux-libc-dev"
  "bpftool:bpftool"
  "make:make"
  "gcc:gcc"
  "/usr/lib/$MULTIARCH/libc.a:libc6-dev"
  "insmod:kmod"
  "pkg:linux-headers-amd64"
  "qemu-system-x86_64:qemu-system-x86"
  "pkg:busybox-static"
  "cpio:cpio"
)

have() {
  local t=${1%%:*} p=${1#*:}
  case $t in
  pkg) dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ;;
  /*) [[ -e $t ]] ;;
  *) command -v "$t" >/dev/null 2>&1 ;;
  esac
}

missing=()
for n in "${NEEDS[@]}"; do have "$n" || missing+=("${n#*:}"); done

if [[ ${1:-} == --check ]]; then
  if ((${#missing[@]} > 0)); then
    echo "missing: ${missing[*]}"
    exit 1
  fi
  exit 0
fi
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "install-toa-deps: not root, cannot install: ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
LOCK=(-o DPkg::Lock::Timeout=300)
echo "install-toa-deps: installing ${missing[*]}" >&2
apt-get "${LOCK[@]}" update -qq </dev/null
apt-get "${LOCK[@]}" install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null

still=()
for n in "${NEEDS[@]}"; do have "$n" || still+=("${n#*:}"); done
if ((${#still[@]} > 0)); then
  echo "install-toa-deps: still missing after apt-get install: ${still[*]}" >&2
  exit 1
fi
