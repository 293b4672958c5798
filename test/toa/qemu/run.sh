#!/usr/bin/env bash
# The TOA readers on Debian's own kernel under qemu: that kernel (the ABI linux-headers-amd64
# points to) boots under TCG with a busybox initramfs holding toa.ko, virtio_net, bpftool, the
# embedded eBPF object and a static server (peer-server.c) that reports what accept() and
# getpeername() say; the guest is a real server behind `lvsadm daemon` (FULLNAT, TOA):
#
#   client ns 198.51.100.2 2001:db8:100::2 --veth-- lb ns [lvsadm daemon] tap0 192.0.2.1 --- guest
#                                                                          2001:db8:2::1      192.0.2.21
#                                                                                             2001:db8:2::21
# Checks, in order (the guest console drives the phases, the host runs curl in the client ns):
#   1. without the module the guest sees the LIP as peer;
#   2. toa.ko loads, /proc/net/toa_stats exists;
#   3. with it: IPv4 client on an IPv4 socket, IPv4 client on an IPv6 socket (::ffff:198.51.100.2),
#      IPv6 client on an IPv6 socket: getpeername() and accept() report the client address and
#      port; a connection without TOA (straight from the LB namespace) keeps its own peer;
#   4. toa_stats counted them, the entries were freed when the sockets went; rmmod works,
#      /proc/net/toa_stats is gone, the peer is the LIP again;
#   5. the eBPF reader on the same kernel (the embedded object, loaded and attached to a cgroup of
#      the guest with bpftool): the same three cases;
#   no BUG/Oops/WARNING in dmesg.
# Prints `RESULT key=value` lines and `ok`/`FAIL` lines; exit 0 only if every check passed.
#
# usage: run.sh [--ko FILE] [--lvsadm PATH] [--timeout SECONDS]
#   --ko       a toa.ko built for that ABI (default: built here from src/toa/kmod with W=1)
#   --lvsadm   the lvsadm entry (default: bin/lvsadm of this checkout; dist/ must be built)
# Needs root, qemu-system-x86, busybox-static, cpio, gcc (static libc: libc6-dev), make,
# linux-headers-amd64, bpftool; apt lists for `apt-get download`. The kernel image and the
# modules the guest needs are cached in ${TOA_QEMU_CACHE:-/var/cache/lvsadm/toa-qemu}/<ABI>
# (about 10 MB). TOA_QEMU_DEBUG=1: tcpdump in the LB namespace during the first phase, printed.
# Everything else (namespaces, daemon, qemu, temp dir) is removed on exit, also on failure.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
KO=""
LVSADM="$REPO/bin/lvsadm"
TIMEOUT=300
while (($#)); do
  case $1 in
  --ko) KO=$2; shift 2 ;;
  --lvsadm) LVSADM=$2; shift 2 ;;
  --timeout) TIMEOUT=$2; shift 2 ;;
  *) echo "usage: $0 [--ko FILE] [--lvsadm PATH] [--timeout SECONDS]" >&2; exit 2 ;;
  esac
done

die() { echo "FAIL $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root"
for c in qemu-system-x86_64 busybox cpio gcc make ip curl apt-get dpkg; do
  command -v "$c" >/dev/null || die "$c not found (apt-get install qemu-system-x86 busybox-static cpio gcc make iproute2 curl)"
done
if ldd "$(command -v busybox)" >/dev/null 2>&1; then die "busybox is dynamically linked: install busybox-static"; fi

ABI=$(apt-cache depends linux-headers-amd64 2>/dev/null | sed -n 's/.*Depends: linux-headers-\(.*\)-amd64$/\1/p' | head -n1)
[[ -n $ABI ]] || die "cannot read the ABI from 'apt-cache depends linux-headers-amd64' (apt-get update?)"
KREL="$ABI-amd64"
KDIR=/usr/src/linux-headers-$KREL
[[ -d $KDIR ]] || die "$KDIR missing: apt-get install linux-headers-amd64"
echo "RESULT abi=$KREL"

# --- scratch space and cleanup -----------------------------------------------------------------
PFX=lvtq$$
CNS=$PFX-client
LNS=$PFX-lb
TMP=$(mktemp -d "/tmp/$PFX.XXXXXX")
QEMU_PID=""
DAEMON_PID=""
cleanup() {
  local rc=$?
  [[ -n $QEMU_PID ]] && kill -9 "$QEMU_PID" 2>/dev/null || true
  if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DAEMON_PID" 2>/dev/null || true
  fi
  for ns in "$CNS" "$LNS"; do
    if ip netns list | grep -qw "^$ns"; then
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the kernel image and the modules the guest needs (cached) ----------------------------------
CACHE=${TOA_QEMU_CACHE:-/var/cache/lvsadm/toa-qemu}/$KREL
GUEST_MODS=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net)
if [[ ! -f $CACHE/vmlinuz || ! -f $CACHE/virtio_net.ko ]]; then
  echo "fetching linux-image-$KREL" >&2
  (cd "$TMP" && apt-get download -q "linux-image-$KREL" >/dev/null) ||
    die "apt-get download linux-image-$KREL failed (apt-get update? the ABI must still be in the archive)"
  dpkg -x "$TMP"/linux-image-"$KREL"_*.deb "$TMP/image"
  # depmod -b on the unpacked tree tells where each module is
  depmod -b "$TMP/image" "$KREL"
  mkdir -p "$CACHE.new"
  cp "$TMP/image/boot/vmlinuz-$KREL" "$CACHE.new/vmlinuz"
  for m in "${GUEST_MODS[@]}"; do
    rel=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$TMP/image/lib/modules/$KREL/modules.dep" | head -n1 | cut -d: -f1)
    [[ -n $rel ]] || die "module $m not in linux-image-$KREL"
    case $rel in
    *.ko) cp "$TMP/image/lib/modules/$KREL/$rel" "$CACHE.new/$m.ko" ;;
    *.ko.xz) xz -dc "$TMP/image/lib/modules/$KREL/$rel" >"$CACHE.new/$m.ko" ;;
    *.ko.zst) zstd -dqc "$TMP/image/lib/modules/$KREL/$rel" >"$CACHE.new/$m.ko" ;;
    *) die "unexpected module file $rel" ;;
    esac
  done
  rm -rf "$CACHE" "$TMP/image" "$TMP"/*.deb
  mv "$CACHE.new" "$CACHE"
fi

# --- toa.ko ------------------------------------------------------------------------------------
if [[ -z $KO ]]; then
  mkdir "$TMP/kmod"
  cp "$REPO/src/toa/kmod/toa.c" "$REPO/src/toa/kmod/Kbuild" "$TMP/kmod/"
  make -s -C "$KDIR" M="$TMP/kmod" W=1 modules >"$TMP/kbuild.log" 2>&1 || { cat "$TMP/kbuild.log" >&2; die "toa.ko build failed"; }
  if grep -E "warning:|error:" "$TMP/kbuild.log" >&2; then die "toa.ko build has warnings"; fi
  KO=$TMP/kmod/toa.ko
fi
[[ -f $KO ]] || die "$KO not found"
modinfo -F vermagic "$KO" 2>/dev/null | grep -q "^$KREL " || die "$KO is not built for $KREL ($(modinfo -F vermagic "$KO" 2>/dev/null))"

# --- initramfs ---------------------------------------------------------------------------------
R=$TMP/initramfs
mkdir -p "$R"/{bin,dev,proc,sys,tmp,lib/mod}
cp "$(command -v busybox)" "$R/bin/busybox"
for m in "${GUEST_MODS[@]}"; do cp "$CACHE/$m.ko" "$R/lib/mod/"; done
cp "$KO" "$R/lib/mod/toa.ko"
# the eBPF reader too: the embedded object, and bpftool with the libraries it links
sed -n "s/^  '\\(.*\\)',\$/\\1/p" "$REPO/src/toa/bpf/toa-object.ts" | tr -d '\n' | base64 -d >"$R/toa.bpf.o"
BPFTOOL=$(command -v bpftool) || die "bpftool not found (apt-get install bpftool)"
mkdir -p "$R/usr/sbin"
cp "$BPFTOOL" "$R/usr/sbin/bpftool"
for lib in $(ldd "$BPFTOOL" | grep -o '/[^ ]*'); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
gcc -static -O2 -Wall -Wextra -Werror -o "$R/bin/peer-server" "$HERE/peer-server.c" ||
  die "static build of peer-server.c failed (libc6-dev installed?)"
cat >"$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
say() { echo "TOAQ $*"; }
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  insmod /lib/mod/$m.ko || say "virtio=fail $m"
done
echo 0 >/proc/sys/net/ipv6/conf/all/accept_dad
echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad
ip link set lo up
ip link set eth0 up || say "eth0=missing"
ip addr add 192.0.2.21/24 dev eth0
ip -6 addr add 2001:db8:2::21/64 dev eth0
say "kernel=$(uname -r)"
if ping -c 1 -W 5 192.0.2.1 >/dev/null 2>&1; then say "ping-lb=ok"; else say "ping-lb=fail"; fi
say "phase=plain"
peer-server 8080 8081 1
say "phase=toa"
if insmod /lib/mod/toa.ko; then say "insmod=ok"; else say "insmod=fail"; fi
if [ -r /proc/net/toa_stats ]; then say "stats=present"; else say "stats=absent"; fi
peer-server 8080 8081 4
sleep 1
sed 's/^/TOAQ stat /' /proc/net/toa_stats
if rmmod toa; then say "rmmod=ok"; else say "rmmod=fail"; fi
if [ -e /proc/net/toa_stats ]; then say "stats-after-rmmod=present"; else say "stats-after-rmmod=gone"; fi
say "phase=after"
peer-server 8080 8081 1
say "phase=ebpf"
mkdir -p /sys/fs/cgroup /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mkdir /sys/fs/cgroup/toa
if /usr/sbin/bpftool prog loadall /toa.bpf.o /sys/fs/bpf/progs pinmaps /sys/fs/bpf/maps >/tmp/bpf.log 2>&1; then
  say "ebpf-load=ok"
else
  say "ebpf-load=fail"
  sed 's/^/TOAQ bpf /' /tmp/bpf.log | tail -n 20
fi
attached=ok
for t in sock_ops:toa_sockops getpeername4:toa_peer4 getpeername6:toa_peer6; do
  /usr/sbin/bpftool cgroup attach /sys/fs/cgroup/toa ${t%%:*} pinned /sys/fs/bpf/progs/${t#*:} multi || attached=fail
done
say "ebpf-attach=$attached"
# $$ of a ( subshell ) is the parent's: a new sh moves itself, then becomes the server
sh -c 'echo $$ >/sys/fs/cgroup/toa/cgroup.procs && exec peer-server 8080 8081 3'
/usr/sbin/bpftool map dump pinned /sys/fs/bpf/maps/toa_counters | tr -d ' \n' | sed 's/^/TOAQ ebpf-counters=/'
echo
dmesg | grep -i -E "toa|BUG|Oops|WARNING" | sed 's/^/TOAQ dmesg /'
say "done"
poweroff -f
EOF
chmod 755 "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1 >"$TMP/initrd.gz")

# --- network and daemon ------------------------------------------------------------------------
for ns in "$CNS" "$LNS"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip netns exec "$ns" sh -c 'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad'
done
ip -n "$LNS" link add out0 type veth peer name eth0 netns "$CNS"
ip -n "$CNS" addr add 198.51.100.2/24 dev eth0
ip -n "$CNS" addr add 2001:db8:100::2/64 dev eth0 nodad
ip -n "$CNS" link set eth0 up
ip -n "$CNS" route add default via 198.51.100.1
ip -n "$CNS" -6 route add default via 2001:db8:100::1
ip -n "$LNS" addr add 198.51.100.1/24 dev out0
ip -n "$LNS" addr add 2001:db8:100::1/64 dev out0 nodad
ip -n "$LNS" link set out0 up
ip -n "$LNS" tuntap add dev tap0 mode tap
ip -n "$LNS" addr add 192.0.2.1/24 dev tap0
ip -n "$LNS" addr add 2001:db8:2::1/64 dev tap0 nodad
ip -n "$LNS" link set tap0 up

SOCK=$TMP/lvsadm.sock
ip netns exec "$LNS" node "$LVSADM" daemon --socket "$SOCK" --state-dir "$TMP/state" --tun "${PFX}t" \
  >"$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
lvs() { LVSADM_SOCKET=$SOCK node "$LVSADM" "$@"; }
for _ in $(seq 300); do lvs -L -n >/dev/null 2>&1 && break; sleep 0.1; done
lvs -L -n >/dev/null || { cat "$TMP/daemon.log" >&2; die "the daemon does not answer"; }

# --- the guest ---------------------------------------------------------------------------------
CONSOLE=$TMP/console.log
: >"$CONSOLE"
ip netns exec "$LNS" qemu-system-x86_64 -accel tcg -m 512 -smp 2 -nodefaults -vga none -display none \
  -no-reboot -kernel "$CACHE/vmlinuz" -initrd "$TMP/initrd.gz" \
  -append "console=ttyS0 panic=-1 loglevel=4" -serial "file:$CONSOLE" -monitor none \
  -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=52:54:00:0a:00:15 \
  >"$TMP/qemu.log" 2>&1 &
QEMU_PID=$!
START=$SECONDS

# waits until the console shows `count` lines matching `pattern`
wait_console() {
  local pattern=$1 count=${2:-1}
  while (($(grep -c -E "$pattern" "$CONSOLE" || true) < count)); do
    if ! kill -0 "$QEMU_PID" 2>/dev/null; then
      sed 's/^/console: /' "$CONSOLE" >&2
      cat "$TMP/qemu.log" >&2
      die "qemu exited while waiting for '$pattern'"
    fi
    if ((SECONDS - START > TIMEOUT)); then
      sed 's/^/console: /' "$CONSOLE" >&2
      sed 's/^/daemon: /' "$TMP/daemon.log" >&2
      die "timeout (${TIMEOUT}s) waiting for '$pattern'"
    fi
    sleep 0.2
  done
}
console_value() { grep -E "^TOAQ $1=" "$CONSOLE" | tail -n1 | cut -d= -f2- | tr -d '\r'; }

FAILED=0
check() { # name expected actual
  echo "RESULT $1=$3"
  if [[ $2 == "$3" ]]; then echo "ok $1"; else echo "FAIL $1: expected '$2', got '$3'"; FAILED=1; fi
}
get() { # url local-port
  ip netns exec "$CNS" curl -sS -g -m 20 --retry 3 --retry-connrefused --local-port "$2" "$1" | tr -d '\r' || true
}

wait_console '^TOAQ listening' 1
# services only now: proxy ARP/NDP entries made while tap0 has no carrier (qemu not attached yet)
# do not survive qemu attaching
lvs -A -t 203.0.113.10:80 -s rr
lvs -a -t 203.0.113.10:80 -r 192.0.2.21:8080 -b
lvs -P -t 203.0.113.10:80 -z 192.0.2.200
lvs -A -t 203.0.113.10:81 -s rr
lvs -a -t 203.0.113.10:81 -r 192.0.2.21:8081 -b
lvs -P -t 203.0.113.10:81 -z 192.0.2.200
lvs -A -t '[2001:db8:203::10]:80' -s rr
lvs -a -t '[2001:db8:203::10]:80' -r '[2001:db8:2::21]:8081' -b
lvs -P -t '[2001:db8:203::10]:80' -z 2001:db8:2::200
if [[ -n ${TOA_QEMU_DEBUG:-} ]]; then
  ip netns exec "$LNS" tcpdump -l -n -i any -c 40 >"$TMP/tcpdump.txt" 2>&1 &
  sleep 1
fi
echo "RESULT kernel=$(console_value kernel)"
plain=$(get http://203.0.113.10/ 41001)
echo "RESULT plain=$plain"
if [[ $plain =~ ^peer\ 192\.0\.2\.200\ [0-9]+\ sock=4\ accept=same$ ]]; then echo "ok plain-sees-lip"; else echo "FAIL plain-sees-lip: $plain"; FAILED=1; fi
if [[ -n ${TOA_QEMU_DEBUG:-} ]]; then sed 's/^/tcpdump: /' "$TMP/tcpdump.txt"; ip netns exec "$LNS" ip neigh show proxy; ip netns exec "$LNS" ip route; ip netns exec "$LNS" ip neigh; fi

wait_console '^TOAQ listening' 2
check insmod ok "$(console_value insmod)"
check stats present "$(console_value stats)"
check v4-on-v4-socket "peer 198.51.100.2 42001 sock=4 accept=same" "$(get http://203.0.113.10/ 42001)"
check v4-on-v6-socket "peer ::ffff:198.51.100.2 42002 sock=6 accept=same" "$(get http://203.0.113.10:81/ 42002)"
check v6-on-v6-socket "peer 2001:db8:100::2 42003 sock=6 accept=same" "$(get 'http://[2001:db8:203::10]/' 42003)"
direct=$(ip netns exec "$LNS" curl -sS -m 20 --local-port 42004 http://192.0.2.21:8080/ | tr -d '\r' || true)
check no-toa-direct "peer 192.0.2.1 42004 sock=4 accept=same" "$direct"

wait_console '^TOAQ listening' 3
statv() { grep -E "^TOAQ stat $1 " "$CONSOLE" | awk '{print $4}' | tr -d '\r'; }
for s in syn_recv_sock_toa syn_recv_sock_no_toa getname_toa_ok_v4 getname_toa_ok_mapped getname_toa_ok_v6 \
  getname_toa_empty entry_freed entries probe_missed; do
  echo "RESULT stat.$s=$(statv "$s")"
done
check stat-syn-recv-toa 3 "$(statv syn_recv_sock_toa)"
# accept() and getpeername() each ask: two per connection
check stat-getname-v4 2 "$(statv getname_toa_ok_v4)"
check stat-getname-mapped 2 "$(statv getname_toa_ok_mapped)"
check stat-getname-v6 2 "$(statv getname_toa_ok_v6)"
check stat-syn-recv-no-toa 1 "$(statv syn_recv_sock_no_toa)"
check stat-entries-freed 3 "$(statv entry_freed)"
check stat-entries-left 0 "$(statv entries)"
check rmmod ok "$(console_value rmmod)"
check stats-after-rmmod gone "$(console_value stats-after-rmmod)"
after=$(get http://203.0.113.10/ 43001)
echo "RESULT after=$after"
if [[ $after =~ ^peer\ 192\.0\.2\.200\ [0-9]+\ sock=4\ accept=same$ ]]; then echo "ok after-rmmod-sees-lip"; else echo "FAIL after-rmmod-sees-lip: $after"; FAILED=1; fi

# the eBPF reader on the same kernel: a cgroup in the guest, the embedded object via bpftool
wait_console '^TOAQ listening' 4
check ebpf-load ok "$(console_value ebpf-load)"
check ebpf-attach ok "$(console_value ebpf-attach)"
check ebpf-v4-on-v4-socket "peer 198.51.100.2 44001 sock=4 accept=same" "$(get http://203.0.113.10/ 44001)"
check ebpf-v4-on-v6-socket "peer ::ffff:198.51.100.2 44002 sock=6 accept=same" "$(get http://203.0.113.10:81/ 44002)"
check ebpf-v6-on-v6-socket "peer 2001:db8:100::2 44003 sock=6 accept=same" "$(get 'http://[2001:db8:203::10]/' 44003)"

wait_console '^TOAQ done' 1
echo "RESULT ebpf-counters=$(console_value ebpf-counters)"
for _ in $(seq 100); do kill -0 "$QEMU_PID" 2>/dev/null || break; sleep 0.1; done
if grep -E "^TOAQ dmesg .*(BUG|Oops|WARNING)" "$CONSOLE"; then echo "FAIL kernel-log"; FAILED=1; else echo "ok kernel-log"; fi
echo "RESULT seconds=$((SECONDS - START))"
if ((FAILED)); then
  sed 's/^/console: /' "$CONSOLE" >&2
  sed 's/^/daemon: /' "$TMP/daemon.log" >&2
  exit 1
fi
echo "ALL OK"
