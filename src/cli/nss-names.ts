// Host and service names through the system resolver (NSS: /etc/nsswitch.conf, so files, DNS,
// LDAP... as configured), as ipvsadm's gethostbyname/getservbyname/gethostbyaddr do. getent(1)
// does the lookups, synchronously and bounded: a forward lookup (a name on the command line) may
// take FORWARD_MS; reverse lookups (names in a listing) share REVERSE_BUDGET_MS for the whole
// command, fetched in one getent call per listing (prefetch), so a listing never hangs on a slow
// resolver: what is not resolved in time prints numerically. Without getent: the files only.
import { spawnSync } from 'node:child_process';
import { formatIp, parseIp } from '../common/addr.js';
import { type Names, namesFromText, systemNames } from './names.js';

const FORWARD_MS = 2000;
const REVERSE_BUDGET_MS = 1000;

/** Runs `getent args...` for at most `timeoutMs`: its stdout, '' when it failed, null without getent. */
export type Getent = (args: readonly string[], timeoutMs: number) => string | null;

export const runGetent: Getent = (args, timeoutMs) => {
  const r = spawnSync('getent', args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return null;
  // Exit 2: some keys not found; what was found is still printed.
  return typeof r.stdout === 'string' ? r.stdout : '';
};

const canon = (addr: string): string | undefined => {
  const a = parseIp(addr);
  return a ? formatIp(a.family, a.words) : undefined;
};

export function nssNames(getent: Getent = runGetent, now: () => number = Date.now): Names {
  let files: Names | null = null;
  const fallback = (): Names => {
    files ??= systemNames();
    return files;
  };
  let absent = false;
  const call = (args: readonly string[], ms: number): string | null => {
    if (absent) return null;
    const out = getent(args, ms);
    if (out === null) absent = true;
    return out;
  };
  const hosts = new Map<string, string | undefined>();
  const addrs = new Map<string, string | undefined>();
  let services: Names | null | undefined;
  const servicesDb = (): Names | null => {
    if (services === undefined) {
      const out = call(['services'], FORWARD_MS);
      services = out === null ? null : namesFromText('', out);
    }
    return services;
  };
  let reverseLeft = REVERSE_BUDGET_MS;
  /** A reverse lookup of `keys`, charged to the budget; lines are "ADDR name aliases...". */
  const reverse = (keys: readonly string[]): string | null => {
    if (reverseLeft <= 0) return '';
    const t0 = now();
    const out = call(['hosts', ...keys], reverseLeft);
    reverseLeft -= Math.max(1, now() - t0);
    return out;
  };
  const learn = (out: string): void => {
    for (const line of out.split('\n')) {
      const f = line.trim().split(/\s+/);
      const a = f.length >= 2 ? canon(f[0]!) : undefined;
      if (a !== undefined && !addrs.has(a)) addrs.set(a, f[1]);
    }
  };
  return {
    hostAddr(name) {
      if (hosts.has(name)) return hosts.get(name);
      const out = call(['ahosts', name], FORWARD_MS);
      if (out === null) return fallback().hostAddr(name);
      // ipvsadm takes the IPv4 address of a name that has both.
      let v4: string | undefined;
      let v6: string | undefined;
      for (const line of out.split('\n')) {
        const a = parseIp(line.trim().split(/\s+/)[0] ?? '');
        if (!a) continue;
        if (a.family === 4) v4 ??= formatIp(4, a.words);
        else v6 ??= formatIp(6, a.words);
      }
      const r = v4 ?? v6;
      hosts.set(name, r);
      return r;
    },
    addrHost(addr) {
      const a = canon(addr);
      if (a === undefined) return undefined;
      if (addrs.has(a)) return addrs.get(a);
      const out = reverse([a]);
      if (out === null) return fallback().addrHost(addr);
      learn(out);
      if (!addrs.has(a)) addrs.set(a, undefined);
      return addrs.get(a);
    },
    // Services: the whole database at once (getent services enumerates it), so a connection
    // listing with thousands of client ports costs one call.
    servicePort(name, proto) {
      const db = servicesDb();
      return db ? db.servicePort(name, proto) : fallback().servicePort(name, proto);
    },
    portService(port, proto) {
      const db = servicesDb();
      return db ? db.portService(port, proto) : fallback().portService(port, proto);
    },
    prefetch(list) {
      const want = [...new Set(list.map(canon).filter((a): a is string => a !== undefined && !addrs.has(a)))];
      if (want.length === 0) return;
      const out = reverse(want);
      if (out === null) return;
      learn(out);
      for (const a of want) if (!addrs.has(a)) addrs.set(a, undefined);
    },
  };
}
