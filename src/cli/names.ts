// Host and service names for the command line: the interface, and its reading of /etc/hosts and
// /etc/services (what nss-names.ts falls back to without getent, and what tests inject).
import { readFileSync } from 'node:fs';
import { formatIp, parseIp } from '../common/addr.js';
import type { ServiceKey } from '../control/protocol.js';

type ProtoName = ServiceKey['proto'];

export interface Names {
  /** Host name or alias -> address text (the IPv4 address when the name has both). */
  hostAddr(name: string): string | undefined;
  /** Address text -> the canonical (first) host name of its first line. */
  addrHost(addr: string): string | undefined;
  /** Service name or alias -> port for the protocol. */
  servicePort(name: string, proto: ProtoName): number | undefined;
  /** Port -> the service name of the first line for the protocol. */
  portService(port: number, proto: ProtoName): string | undefined;
  /** Looks these addresses up at once before a listing prints them (a resolver that can batch). */
  prefetch?(addrs: readonly string[]): void;
}

/** Resolves nothing: addresses and ports stay numeric. */
export const NO_NAMES: Names = {
  hostAddr: () => undefined,
  addrHost: () => undefined,
  servicePort: () => undefined,
  portService: () => undefined,
};

function canonical(addr: string): string | undefined {
  const a = parseIp(addr);
  return a ? `${a.family}/${formatIp(a.family, a.words)}` : undefined;
}

function fields(line: string): string[] {
  const hash = line.indexOf('#');
  return (hash >= 0 ? line.slice(0, hash) : line).split(/\s+/).filter((f) => f !== '');
}

/** Names from the text of a hosts file and a services file. */
export function namesFromText(hosts: string, services: string): Names {
  const byName = new Map<string, { v4?: string; v6?: string }>();
  const byAddr = new Map<string, string>();
  for (const line of hosts.split('\n')) {
    const f = fields(line);
    if (f.length < 2) continue;
    const a = parseIp(f[0]!.replace(/%.*$/, ''));
    if (!a) continue;
    const text = formatIp(a.family, a.words);
    const key = `${a.family}/${text}`;
    if (!byAddr.has(key)) byAddr.set(key, f[1]!);
    for (const name of f.slice(1)) {
      const e = byName.get(name) ?? {};
      if (a.family === 4) e.v4 ??= text;
      else e.v6 ??= text;
      byName.set(name, e);
    }
  }
  const portByName = new Map<string, number>();
  const nameByPort = new Map<string, string>();
  for (const line of services.split('\n')) {
    const f = fields(line);
    if (f.length < 2) continue;
    const m = /^(\d+)\/(tcp|udp)$/.exec(f[1]!);
    if (!m) continue;
    const port = Number(m[1]);
    if (port > 65535) continue;
    const proto = m[2]!;
    if (!nameByPort.has(`${proto}/${port}`)) nameByPort.set(`${proto}/${port}`, f[0]!);
    for (const name of [f[0]!, ...f.slice(2)]) {
      if (!portByName.has(`${proto}/${name}`)) portByName.set(`${proto}/${name}`, port);
    }
  }
  return {
    hostAddr(name) {
      const e = byName.get(name);
      return e?.v4 ?? e?.v6;
    },
    addrHost(addr) {
      const key = canonical(addr);
      return key === undefined ? undefined : byAddr.get(key);
    },
    servicePort: (name, proto) => portByName.get(`${proto}/${name}`),
    portService: (port, proto) => nameByPort.get(`${proto}/${port}`),
  };
}

/** Names from /etc/hosts and /etc/services, read on first use (a missing file resolves nothing). */
export function systemNames(
  read: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  hostsPath = '/etc/hosts',
  servicesPath = '/etc/services',
): Names {
  let loaded: Names | undefined;
  const get = (): Names => {
    if (!loaded) {
      const tryRead = (p: string) => {
        try {
          return read(p);
        } catch {
          return '';
        }
      };
      loaded = namesFromText(tryRead(hostsPath), tryRead(servicesPath));
    }
    return loaded;
  };
  return {
    hostAddr: (n) => get().hostAddr(n),
    addrHost: (a) => get().addrHost(a),
    servicePort: (n, p) => get().servicePort(n, p),
    portService: (n, p) => get().portService(n, p),
  };
}
