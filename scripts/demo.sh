#!/usr/bin/env bash
# The demo: a client, an LB and two real servers in network namespaces made here; lvsadm daemon on
# the LB forwards HTTP with FULLNAT (and a SYNPROXY + TOA service), configured with ipvsadm-style
# commands. Everything it creates is removed when it ends, also on failure. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "demo: needs root (network namespaces, TUN)" >&2; exit 1; }
[[ -f dist/src/cli/main.js ]] || npm run build >/dev/null

P="lvd$$"
C="${P}c" L="${P}l" R1="${P}r1" R2="${P}r2"
TMP=$(mktemp -d /tmp/lvsadm-demo.XXXXXX)
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  [[ -n "${DPID:-}" ]] && kill -TERM "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
  for n in "$C" "$L" "$R1" "$R2"; do ip netns del "$n" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT

say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

for n in "$C" "$L" "$R1" "$R2"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add "${P}a" type veth peer name "${P}b"
ip link set "${P}a" netns "$C"; ip link set "${P}b" netns "$L"
ip -n "$C" link set "${P}a" name eth0; ip -n "$L" link set "${P}b" name out0
ip -n "$L" link add br0 type bridge; ip -n "$L" link set br0 up
i=1
for r in "$R1" "$R2"; do
  ip link add "${P}x$i" type veth peer name "${P}y$i"
  ip link set "${P}x$i" netns "$L"; ip link set "${P}y$i" netns "$r"
  ip -n "$L" link set "${P}x$i" master br0 up
  ip -n "$r" link set "${P}y$i" name eth0
  ip -n "$r" addr add "192.0.2.2$i/24" dev eth0; ip -n "$r" link set eth0 up
  # A tiny HTTP server that names itself and the peer address it sees.
  ip netns exec "$r" node -e '
    const name = process.argv[1];
    require("http").createServer((q, s) => s.end(`${name} sees ${q.socket.remoteAddress}:${q.socket.remotePort}\n`))
      .listen(80, process.argv[2]);' "rs$i" "192.0.2.2$i" &
  PIDS+=($!)
  i=$((i + 1))
done
ip -n "$C" addr add 198.51.100.2/24 dev eth0; ip -n "$C" link set eth0 up
ip -n "$C" route add default via 198.51.100.1
ip -n "$L" addr add 198.51.100.1/24 dev out0; ip -n "$L" link set out0 up
ip -n "$L" addr add 192.0.2.1/24 dev br0

say "lvsadm daemon in the LB namespace (TUN ${P}t, state in $TMP)"
export LVSADM_SOCKET="$TMP/lvsadm.sock"
ip netns exec "$L" bin/lvsadm daemon --socket "$LVSADM_SOCKET" --state-dir "$TMP/state" --tun "${P}t" 2>"$TMP/daemon.log" &
DPID=$!
for _ in $(seq 50); do bin/lvsadm -L -n >/dev/null 2>&1 && break; sleep 0.1; done

say "configure it the ipvsadm way"
run bin/lvsadm -A -t 203.0.113.10:80 -s rr
run bin/lvsadm -a -t 203.0.113.10:80 -r 192.0.2.21:80 -b -w 1
run bin/lvsadm -a -t 203.0.113.10:80 -r 192.0.2.22:80 -b -w 1
run bin/lvsadm -P -t 203.0.113.10:80 -z 192.0.2.200
run bin/lvsadm -P -t 203.0.113.10:80 -z 192.0.2.201
run bin/lvsadm -A -t 203.0.113.11:80 -s wlc -j enable
run bin/lvsadm -a -t 203.0.113.11:80 -r 192.0.2.21:80 -b
run bin/lvsadm -P -t 203.0.113.11:80 -z 192.0.2.202
run bin/lvsadm -L -n

say "HTTP from the client through the VIPs (the real servers see a local address, not the client)"
for _ in 1 2 3 4; do ip netns exec "$C" curl -s -m 5 http://203.0.113.10/; done
say "the SYNPROXY service answers the handshake itself, then opens the real server side"
ip netns exec "$C" curl -s -m 5 http://203.0.113.11/

say "counters, connections, local addresses"
run bin/lvsadm -L -n --stats
run bin/lvsadm -L -n -c
run bin/lvsadm -G
say "daemon log"
cat "$TMP/daemon.log"
