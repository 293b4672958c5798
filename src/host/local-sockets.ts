// TCP sockets of this host (this network namespace) bound to a VIP or LIP. The kernel's early
// demux hands an incoming segment to an established or TIME_WAIT socket with its exact 4-tuple
// before routing looks at the destination, so such sockets (left, say, by a local server that
// used to own the address) swallow the client segments of those tuples instead of the TUN: the
// SYNs are silently lost (seen by bench:e2e after HAProxy had served the VIP locally).
// /proc/net/tcp and tcp6 list every TCP socket, TIME_WAIT included, of the reader's namespace.
import { readFileSync } from 'node:fs';
import { formatIpv4, formatIpv6 } from '../common/addr.js';

export interface LocalSocket {
  addr: string;
  port: number;
  /** The kernel's TCP state number (1 ESTABLISHED ... 6 TIME_WAIT ... 10 LISTEN). */
  state: number;
}

const STATE_NAMES = [
  '',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];

export function tcpStateName(state: number): string {
  return STATE_NAMES[state] ?? `state ${state}`;
}

/** The words of /proc/net/tcp* are printed in host order (little-endian here): swap to network. */
function netWord(hex: string): number {
  const v = Number.parseInt(hex, 16);
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

/** Local address, port and state of every socket in the text of /proc/net/tcp (4) or tcp6 (6). */
export function parseProcNetTcp(text: string, family: 4 | 6): LocalSocket[] {
  const out: LocalSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const [a, p] = f[1]!.split(':');
    if (a === undefined || p === undefined) continue;
    const addr =
      family === 4
        ? formatIpv4(netWord(a))
        : formatIpv6([0, 8, 16, 24].map((i) => netWord(a.slice(i, i + 8))));
    out.push({ addr, port: Number.parseInt(p, 16), state: Number.parseInt(f[3]!, 16) });
  }
  return out;
}

/** Sockets of this namespace whose local address is one of `addrs` (canonical text forms). */
export function localSocketsOn(addrs: ReadonlySet<string>): LocalSocket[] {
  const found: LocalSocket[] = [];
  for (const [file, family] of [
    ['/proc/net/tcp', 4],
    ['/proc/net/tcp6', 6],
  ] as const) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel
    }
    for (const s of parseProcNetTcp(text, family)) {
      // A dual-stack socket shows an IPv4 address as ::ffff:a.b.c.d.
      const a = s.addr.startsWith('::ffff:') && s.addr.includes('.') ? s.addr.slice(7) : s.addr;
      if (addrs.has(a)) found.push({ ...s, addr: a });
    }
  }
  return found;
}
