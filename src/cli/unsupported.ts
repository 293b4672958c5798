// ipvsadm 1.31 options lvsadm does not have (yet): refused with the reason and what to use
// instead, rather than as an unknown option, so a script written for ipvsadm says what to change.

const SYNC = 'the IPVS connection-sync daemon is not part of lvsadm (its cluster mode will sync connections)';
const TUNNEL =
  'tunnel options belong to ipip forwarding (-i), which lvsadm does not have yet: use -b (FULLNAT)';

const LONG: Readonly<Record<string, string>> = {
  'sctp-service': 'SCTP services are not supported by lvsadm: use -t (TCP) or -u (UDP)',
  pe: 'persistence engines (--pe sip) are not supported by lvsadm: use -p with -M for client-address persistence',
  ops: 'one-packet scheduling (-o/--ops) is not supported by lvsadm yet: each UDP flow is scheduled once',
  'tun-type': TUNNEL,
  'tun-port': TUNNEL,
  'tun-nocsum': TUNNEL,
  'tun-csum': TUNNEL,
  'tun-remcsum': TUNNEL,
  'start-daemon': SYNC,
  'stop-daemon': SYNC,
  'mcast-interface': SYNC,
  'mcast-group': SYNC,
  'mcast-port': SYNC,
  'mcast-ttl': SYNC,
  syncid: SYNC,
};

const SHORT: Readonly<Record<string, string>> = {
  q: LONG['sctp-service']!,
  o: LONG.ops!,
};

/** Why lvsadm refuses ipvsadm's `--name`, or undefined when ipvsadm has no such option either. */
export function unsupportedLong(name: string): string | undefined {
  return Object.hasOwn(LONG, name) ? LONG[name] : undefined;
}

/** Why lvsadm refuses ipvsadm's `-ch`, or undefined. */
export function unsupportedShort(ch: string): string | undefined {
  return Object.hasOwn(SHORT, ch) ? SHORT[ch] : undefined;
}
