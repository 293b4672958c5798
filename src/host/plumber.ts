// HostPlumber: makes the kernel deliver VIP and LIP traffic into the daemon's TUN device and keeps
// that in step with the configuration; undoes it on stop and after a crash.
//
//   const p = new HostPlumber({ stateDir });
//   await p.start({ tun: 'lvs0', createTun: () => openTun('lvs0') }); // cleans up a crashed run first
//   await p.sync({ vips: ['203.0.113.10'], lips: ['192.0.2.200'] });  // idempotent, any number of times
//   await p.stop();                                                     // routes, proxies, sysctls undone
//
// What it installs (see DESIGN.md "LB host plumbing"):
// - sysctls: net.ipv4.ip_forward=1, net.ipv6.conf.all.forwarding=1 (each only if not already 1:
//   writing `all` rewrites every device); on the TUN net.ipv4.conf.<tun>.forwarding=1 (the kernel
//   forwards what the daemon writes only if the input device forwards); on each device that gets
//   proxy entries net.ipv4.neigh.<dev>.proxy_delay=0 and .conf.<dev>.forwarding=1 (IPv4 entries),
//   net.ipv6.conf.<dev>.proxy_ndp=1, net.ipv6.neigh.<dev>.proxy_delay=0 and
//   net.ipv6.conf.<dev>.forwarding=1 (IPv6 entries; the kernel answers proxied NS only on a
//   forwarding device). Every original value is recorded in host-state.json before it changes.
// - the TUN: addrgenmode none before it goes up (no link-local address, so no DAD/RS/MLD from it)
//   and net.ipv6.conf.default.forwarding=0 while `createTun` runs: a device created with IPv6
//   forwarding on joins ff02::2 and the kernel sends MLD reports (or, if forwarding is turned off
//   before it goes up, queued MLD leave reports) into it once it is up. rp_filter is left alone:
//   the daemon writes only packets sourced from a VIP or LIP, whose routes point into the TUN, so
//   strict reverse-path filtering accepts them (checked by the tests with rp_filter=1).
// - routes: each VIP and LIP as /32 or /128 dev <tun> in the main table, rtnetlink protocol 250.
// - proxy neighbour entries: each LIP, and each VIP that lies in a connected subnet, on the device
//   whose connected subnet contains it (longest prefix); marked with NDA_PROTOCOL 250 and recorded
//   in host-state.json, because they outlive the TUN. A LIP outside every connected subnet gets
//   none (logged: real servers must route it via this host). Entries that existed before and were
//   not added by us are left alone.

import { mkdirSync } from 'node:fs';
import { type Family, parseIp, prefixMask } from '../common/addr.js';
import { errnoOf, HostError } from './errors.js';
import type { HostView } from './host-check.js';
import {
  type HostState,
  type ProxyRecord,
  readHostState,
  removeHostState,
  writeHostState,
} from './host-state.js';
import { localSocketsOn, tcpStateName } from './local-sockets.js';
import { type IfAddress, ipBytes, type LinkInfo, RT_TABLE_MAIN, RTPROT_LVSADM, Rtnl } from './netlink.js';
import {
  confKey,
  IP_FORWARD,
  IPV6_ALL_FORWARDING,
  IPV6_DEFAULT_FORWARDING,
  neighKey,
  restoreSysctls,
  Sysctl,
  SysctlSaver,
  sysctlName,
} from './sysctl.js';

export interface HostPlumberOptions {
  /** Directory for host-state.json (created if missing). */
  stateDir: string;
  /** One line per notable action; default: stderr with a `lvsadm host:` prefix. */
  log?: (line: string) => void;
  /** rtnetlink protocol number of our routes and proxy entries (default 250). */
  routeProtocol?: number;
  /** Root of the sysctl tree (default /proc/sys). */
  sysctlRoot?: string;
  /** Timeout of one rtnetlink request in ms (default 5000). */
  netlinkTimeoutMs?: number;
}

export interface StartOptions {
  /** Name of the daemon's TUN device. */
  tun: string;
  /**
   * Opens the TUN device. When given, it runs with net.ipv6.conf.default.forwarding=0 so the new
   * device never joins the IPv6 all-routers groups (no MLD into the TUN). Without it the TUN must
   * already exist.
   */
  createTun?: () => unknown;
}

export interface HostConfig {
  vips: readonly string[];
  lips: readonly string[];
}

export interface SyncReport {
  /** "A/32" or "A/128". */
  routesAdded: string[];
  routesRemoved: string[];
  /** "A dev D". */
  proxiesAdded: string[];
  proxiesRemoved: string[];
}

export interface CleanupReport {
  /** Whether a state file of an earlier run was found. */
  foundState: boolean;
  routesRemoved: string[];
  proxiesRemoved: string[];
  sysctlsRestored: string[];
}

interface WantedProxy {
  addr: string;
  family: Family;
  dev: LinkInfo;
}

const proxyKey = (addr: string, dev: string) => `${addr} dev ${dev}`;

function defaultLog(line: string): void {
  process.stderr.write(`lvsadm host: ${line}\n`);
}

/** Whether `addr` lies in `net/prefixLen` (same family). */
function inSubnet(family: Family, addr: Uint32Array, net: Uint32Array, prefixLen: number): boolean {
  const mask = prefixMask(family, prefixLen);
  for (let i = 0; i < 4; i++) if (((addr[i]! ^ net[i]!) & mask[i]!) !== 0) return false;
  return true;
}

export class HostPlumber {
  private readonly stateDir: string;
  private readonly log: (line: string) => void;
  private readonly proto: number;
  private readonly sys: Sysctl;
  private readonly nlTimeout: number;
  private queue: Promise<unknown> = Promise.resolve();
  /** Lines already logged by note(): said once per run, not on every sync. */
  private readonly noted = new Set<string>();

  // set while started
  private rtnl: Rtnl | null = null;
  private saver: SysctlSaver | null = null;
  private tun = '';
  private proxies: ProxyRecord[] = [];
  /**
   * The TUN is ours: createTun made it (or the caller handed it over by passing none). Until
   * then its routes may belong to another daemon on the same name (createTun failed with
   * EBUSY), so a failed start must not remove them.
   */
  private ownsTun = false;

  constructor(opts: HostPlumberOptions) {
    this.stateDir = opts.stateDir;
    this.log = opts.log ?? defaultLog;
    this.proto = opts.routeProtocol ?? RTPROT_LVSADM;
    this.sys = new Sysctl(opts.sysctlRoot);
    this.nlTimeout = opts.netlinkTimeoutMs ?? 5000;
  }

  get started(): boolean {
    return this.rtnl !== null;
  }

  /** Runs operations one at a time, in call order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Says (once per VIP and set of states) when local TCP sockets sit on a VIP (local-sockets.ts). */
  private warnLocalSockets(vips: ReadonlySet<string>): void {
    const byVip = new Map<string, Set<string>>();
    for (const s of localSocketsOn(vips)) {
      const states = byVip.get(s.addr) ?? new Set<string>();
      states.add(tcpStateName(s.state));
      byVip.set(s.addr, states);
    }
    for (const [vip, states] of byVip) {
      this.note(
        `warning: VIP ${vip} has TCP sockets of this host on it (${[...states].sort().join(', ')}): ` +
          `segments of a connected one's address/port pair (ESTABLISHED, TIME_WAIT, ...) go to it, ` +
          `not to ${this.tun}; stop whatever serves the VIP on this host (TIME_WAIT ends within a minute)`,
      );
    }
  }

  private note(line: string): void {
    if (this.noted.has(line)) return;
    this.noted.add(line);
    this.log(line);
  }

  private persist(): void {
    const state: HostState = {
      version: 1,
      pid: process.pid,
      tun: this.tun,
      routeProtocol: this.proto,
      sysctls: [...(this.saver?.saved ?? [])],
      proxies: this.proxies,
    };
    writeHostState(this.stateDir, state);
  }

  // ------------------------------------------------------------------------------------------
  // start

  start(opts: StartOptions): Promise<void> {
    return this.serial(() => this.doStart(opts));
  }

  private async doStart(opts: StartOptions): Promise<void> {
    if (this.started) throw new HostError('HOST_CONFIG', `host plumbing already started on ${this.tun}`);
    confKey(4, opts.tun, 'forwarding'); // validates the name
    mkdirSync(this.stateDir, { recursive: true });
    if (readHostState(this.stateDir) !== null) {
      this.log('found host state of an earlier run that did not stop cleanly: cleaning up after it');
      await this.doCleanupStale({ tun: opts.tun });
    }
    this.rtnl = Rtnl.open({ timeoutMs: this.nlTimeout });
    this.tun = opts.tun;
    this.proxies = [];
    this.ownsTun = opts.createTun === undefined;
    this.saver = new SysctlSaver(this.sys, () => this.persist());
    try {
      this.persist();
      await this.startTun(this.rtnl, this.saver, opts);
    } catch (e) {
      const undo = await this.undo();
      if (undo.length > 0)
        throw HostError.combine(`start on ${opts.tun} failed and undoing it failed`, [
          e as HostError,
          ...undo,
        ]);
      throw e;
    }
  }

  private async startTun(rtnl: Rtnl, saver: SysctlSaver, opts: StartOptions): Promise<void> {
    const { tun } = opts;
    if (saver.set(IP_FORWARD, '1')) this.log(`set ${sysctlName(IP_FORWARD)}=1`);
    if (saver.set(IPV6_ALL_FORWARDING, '1')) this.log(`set ${sysctlName(IPV6_ALL_FORWARDING)}=1`);
    if (opts.createTun) {
      const dflt = this.sys.read(IPV6_DEFAULT_FORWARDING);
      saver.set(IPV6_DEFAULT_FORWARDING, '0');
      try {
        await opts.createTun();
        this.ownsTun = true;
      } finally {
        saver.set(IPV6_DEFAULT_FORWARDING, dflt);
      }
    }
    const link = await rtnl.link(tun);
    if (!link.up && this.sys.read(confKey(6, tun, 'forwarding')) === '1') {
      this.log(
        `${tun} was created with IPv6 forwarding on: the kernel will send MLD reports for ff02::2 into it (the engine drops them); pass createTun to avoid this`,
      );
    }
    // The kernel forwards a packet that the daemon writes into the TUN only if the TUN forwards.
    saver.set(confKey(4, tun, 'forwarding'), '1');
    // Before the device goes up: no link-local address, hence no DAD, router solicitation or MLD
    // sourced from it. (disable_ipv6=1 would silence it too but makes IPv6 routes into the TUN
    // impossible: "IPv6 is disabled on nexthop device".)
    await rtnl.setAddrGenModeNone(link);
    if (this.sys.read(confKey(6, tun, 'disable_ipv6')) === '1') {
      saver.set(confKey(6, tun, 'disable_ipv6'), '0');
      this.log(`set ${sysctlName(confKey(6, tun, 'disable_ipv6'))}=0: IPv6 VIPs and LIPs are routed into it`);
    }
    if (!link.up) await rtnl.setLinkUp(link);
    this.log(`${tun} up (addrgenmode none), routes into it use protocol ${this.proto}`);
  }

  // ------------------------------------------------------------------------------------------
  // sync

  /** Installs routes and proxy entries for exactly these addresses; removes ours that are not. */
  sync(cfg: HostConfig): Promise<SyncReport> {
    return this.serial(() => this.doSync(cfg));
  }

  private async doSync(cfg: HostConfig): Promise<SyncReport> {
    const rtnl = this.rtnl;
    const saver = this.saver;
    if (!rtnl || !saver) throw new HostError('HOST_CONFIG', 'host plumbing not started');
    const report: SyncReport = { routesAdded: [], routesRemoved: [], proxiesAdded: [], proxiesRemoved: [] };
    const errors: HostError[] = [];
    const attempt = async (fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (e) {
        errors.push(HostError.is(e) ? e : new HostError('HOST_CONFIG', String(e)));
      }
    };

    // Validate everything before changing anything.
    const vips = cfg.vips.map((a) => ipBytes(a).text);
    const lips = cfg.lips.map((a) => ipBytes(a).text);
    const want = new Set([...vips, ...lips]);

    const tun = await rtnl.link(this.tun);
    const links = await rtnl.links();
    const linkByIndex = new Map(links.map((l) => [l.index, l]));
    const linkByName = new Map(links.map((l) => [l.name, l]));
    const allAddrs = await rtnl.addresses();
    const local = new Map(allAddrs.map((a) => [a.addr, linkByIndex.get(a.ifindex)?.name ?? `#${a.ifindex}`]));
    const configErrors: HostError[] = [];
    for (const a of want) {
      const dev = local.get(a);
      if (dev === undefined) continue;
      const kind = lips.includes(a) ? 'LIP' : 'VIP';
      configErrors.push(
        new HostError(
          'HOST_CONFIG',
          `${kind} ${a} is an address of ${dev}: the kernel delivers it locally, not into ${this.tun}`,
        ),
      );
    }
    if (configErrors.length > 0) throw HostError.combine('sync', configErrors);
    this.warnLocalSockets(new Set(vips));

    const hostLen = (f: Family) => (f === 4 ? 32 : 128);
    const installed = (await rtnl.routes()).filter(
      (r) =>
        r.table === RT_TABLE_MAIN &&
        r.protocol === this.proto &&
        r.oif === tun.index &&
        r.dstLen === hostLen(r.family),
    );
    const have = new Set(installed.map((r) => r.dst));

    // 1. routes first: an IPv4 proxy entry answers only for addresses routed elsewhere.
    for (const addr of want) {
      if (have.has(addr)) continue;
      await attempt(async () => {
        try {
          await rtnl.addHostRoute(addr, tun, this.proto);
        } catch (e) {
          if (errnoOf(e) !== 'EEXIST') throw e;
          throw new HostError(
            'HOST_CONFIG',
            `${(e as Error).message}: the main table already has a route for ${addr} that lvsadm did not install`,
            'EEXIST',
          );
        }
        report.routesAdded.push(`${addr}/${hostLen(ipBytes(addr).family)}`);
      });
    }

    // 2. which proxy entries the configuration needs: on the device whose connected subnet
    // holds the address (not the TUN, not loopback)
    const subnets = allAddrs.filter((a) => {
      const l = linkByIndex.get(a.ifindex);
      return a.ifindex !== tun.index && l !== undefined && !l.loopback;
    });
    const wanted = new Map<string, WantedProxy>();
    const place = (addr: string, kind: 'VIP' | 'LIP') => {
      const where = this.connectedDevice(addr, subnets);
      if (where === null) {
        if (kind === 'LIP')
          this.note(
            `LIP ${addr} is outside every connected subnet: no proxy entry; real servers must route it via this host`,
          );
        return;
      }
      const dev = linkByIndex.get(where.ifindex)!;
      wanted.set(proxyKey(addr, dev.name), { addr, family: where.family, dev });
    };
    for (const a of new Set(lips)) place(a, 'LIP');
    for (const a of new Set(vips)) if (!lips.includes(a)) place(a, 'VIP');

    const kernelProxies = new Set(
      (await rtnl.proxyNeighbours()).map((p) => proxyKey(p.dst, linkByIndex.get(p.ifindex)?.name ?? '?')),
    );

    // 3. remove our proxy entries that are no longer wanted (before their routes go)
    for (const rec of [...this.proxies]) {
      const key = proxyKey(rec.addr, rec.dev);
      if (wanted.has(key)) continue;
      await attempt(async () => {
        const link = linkByName.get(rec.dev);
        if (link && kernelProxies.has(key)) await this.delProxyTolerant(rtnl, rec.addr, link);
        this.proxies = this.proxies.filter((p) => p !== rec);
        this.persist();
        report.proxiesRemoved.push(key);
      });
    }

    // 4. remove our routes that are no longer wanted
    for (const r of installed) {
      if (want.has(r.dst)) continue;
      await attempt(async () => {
        await rtnl.delHostRoute(r.dst, tun, this.proto);
        report.routesRemoved.push(`${r.dst}/${r.dstLen}`);
      });
    }

    // 5. sysctls of the devices that answer for proxied addresses
    for (const w of wanted.values()) {
      await attempt(() => this.setProxyDevice(saver, w.family, w.dev.name));
    }

    // 6. add missing proxy entries
    for (const [key, w] of wanted) {
      const ours = this.proxies.some((p) => p.addr === w.addr && p.dev === w.dev.name);
      if (kernelProxies.has(key)) {
        if (!ours) this.note(`proxy entry ${key} exists and was not added by lvsadm: leaving it as it is`);
        continue;
      }
      await attempt(async () => {
        if (!ours) {
          this.proxies.push({ addr: w.addr, dev: w.dev.name });
          this.persist();
        } else {
          this.log(`proxy entry ${key} was removed by someone else: adding it again`);
        }
        try {
          await rtnl.addProxyNeighbour(w.addr, w.dev, this.proto);
        } catch (e) {
          if (!ours) {
            this.proxies = this.proxies.filter((p) => !(p.addr === w.addr && p.dev === w.dev.name));
            this.persist();
          }
          throw e;
        }
        report.proxiesAdded.push(key);
      });
    }

    const changes = [
      ...report.routesAdded.map((r) => `+route ${r}`),
      ...report.routesRemoved.map((r) => `-route ${r}`),
      ...report.proxiesAdded.map((p) => `+proxy ${p}`),
      ...report.proxiesRemoved.map((p) => `-proxy ${p}`),
    ];
    if (changes.length > 0) this.log(`sync: ${changes.join(', ')}`);
    if (errors.length > 0) throw HostError.combine('sync', errors);
    return report;
  }

  /** The host's addresses and connected subnets, read now (for checkRequests in host-check.ts). */
  view(): Promise<HostView> {
    return this.serial(async () => {
      const rtnl = this.rtnl;
      if (!rtnl) throw new HostError('HOST_CONFIG', 'host plumbing not started');
      const links = await rtnl.links();
      const byIndex = new Map(links.map((l) => [l.index, l]));
      const addrs = await rtnl.addresses();
      const name = (i: number) => byIndex.get(i)?.name ?? `#${i}`;
      const foreign = (await rtnl.routes()).filter(
        (r) =>
          r.table === RT_TABLE_MAIN && r.protocol !== this.proto && r.dstLen === (r.family === 4 ? 32 : 128),
      );
      return {
        tun: this.tun,
        routes: new Map(
          foreign.map((r) => [r.dst, r.oif === undefined ? 'no device' : `dev ${name(r.oif)}`]),
        ),
        local: new Map(addrs.map((a) => [a.addr, name(a.ifindex)])),
        subnets: addrs
          .filter((a) => {
            const l = byIndex.get(a.ifindex);
            return l !== undefined && !l.loopback && l.name !== this.tun;
          })
          .map((a) => ({ family: a.family, addr: a.addr, prefixLen: a.prefixLen, dev: name(a.ifindex) })),
      };
    });
  }

  /** The interface address whose subnet holds `addr` (longest prefix). */
  private connectedDevice(addr: string, addrs: readonly IfAddress[]): IfAddress | null {
    const ip = parseIp(addr)!;
    let best: IfAddress | null = null;
    for (const a of addrs) {
      if (a.family !== ip.family) continue;
      const net = parseIp(a.addr)!;
      if (!inSubnet(ip.family, ip.words, net.words, a.prefixLen)) continue;
      if (!best || a.prefixLen > best.prefixLen) best = a;
    }
    return best;
  }

  private setProxyDevice(saver: SysctlSaver, family: Family, dev: string): void {
    const set = (key: string, value: string) => {
      if (saver.set(key, value)) this.log(`set ${sysctlName(key)}=${value}`);
    };
    if (family === 4) {
      set(neighKey(4, dev, 'proxy_delay'), '0');
      set(confKey(4, dev, 'forwarding'), '1');
    } else {
      set(confKey(6, dev, 'proxy_ndp'), '1');
      set(neighKey(6, dev, 'proxy_delay'), '0');
      set(confKey(6, dev, 'forwarding'), '1');
    }
  }

  private async delProxyTolerant(rtnl: Rtnl, addr: string, link: { index: number; name: string }) {
    try {
      await rtnl.delProxyNeighbour(addr, link);
    } catch (e) {
      const errno = errnoOf(e);
      if (errno !== 'ENOENT' && errno !== 'ENODEV') throw e;
    }
  }

  // ------------------------------------------------------------------------------------------
  // stop

  /** Removes every route and proxy entry installed and restores the sysctls. Idempotent. */
  stop(): Promise<void> {
    return this.serial(async () => {
      if (!this.started) return;
      const errors = await this.undo();
      if (errors.length > 0) throw HostError.combine('stop', errors);
      this.log(`stopped: routes, proxy entries and sysctls restored`);
    });
  }

  /** Undoes everything; keeps in the state file what could not be undone. Always closes. */
  private async undo(): Promise<HostError[]> {
    const rtnl = this.rtnl!;
    const saver = this.saver!;
    const errors: HostError[] = [];
    try {
      const links = await rtnl.links();
      const linkByName = new Map(links.map((l) => [l.name, l]));
      for (const rec of [...this.proxies]) {
        const link = linkByName.get(rec.dev);
        try {
          if (link) await this.delProxyTolerant(rtnl, rec.addr, link);
          this.proxies = this.proxies.filter((p) => p !== rec);
        } catch (e) {
          errors.push(e as HostError);
        }
      }
      const tun = this.ownsTun ? linkByName.get(this.tun) : undefined;
      if (tun) errors.push(...(await this.removeRoutes(rtnl, [tun], this.proto)).errors);
    } catch (e) {
      errors.push(e as HostError);
    }
    const rep = saver.restore();
    errors.push(...rep.errors);
    rtnl.close();
    try {
      if (errors.length > 0) this.persist();
      else removeHostState(this.stateDir);
    } catch (e) {
      errors.push(e as HostError);
    }
    this.rtnl = null;
    this.saver = null;
    this.proxies = [];
    this.ownsTun = false;
    return errors;
  }

  private async removeRoutes(
    rtnl: Rtnl,
    devs: readonly LinkInfo[],
    proto: number,
  ): Promise<{ removed: string[]; errors: HostError[] }> {
    const byIndex = new Map(devs.map((d) => [d.index, d]));
    const removed: string[] = [];
    const errors: HostError[] = [];
    for (const r of await rtnl.routes()) {
      const dev = r.oif === undefined ? undefined : byIndex.get(r.oif);
      if (!dev || r.table !== RT_TABLE_MAIN || r.protocol !== proto) continue;
      try {
        await rtnl.delHostRoute(r.dst, dev, proto);
        removed.push(`${r.dst}/${r.dstLen}`);
      } catch (e) {
        if (errnoOf(e) !== 'ESRCH' && errnoOf(e) !== 'ENOENT') errors.push(e as HostError);
      }
    }
    return { removed, errors };
  }

  // ------------------------------------------------------------------------------------------
  // cleanupStale

  /**
   * After a crash: removes our routes on `tun` (and on the TUN the state file names), the proxy
   * entries the state file lists, and restores the sysctls it recorded; then deletes the file.
   * Without a state file only routes carrying our protocol on `tun` are looked for.
   */
  cleanupStale(opts: { tun: string }): Promise<CleanupReport> {
    return this.serial(() => this.doCleanupStale(opts));
  }

  private async doCleanupStale(opts: { tun: string }): Promise<CleanupReport> {
    if (this.started) throw new HostError('HOST_CONFIG', 'cleanupStale while started: call stop()');
    const st = readHostState(this.stateDir);
    const report: CleanupReport = {
      foundState: st !== null,
      routesRemoved: [],
      proxiesRemoved: [],
      sysctlsRestored: [],
    };
    const errors: HostError[] = [];
    const rtnl = Rtnl.open({ timeoutMs: this.nlTimeout });
    // what could not be undone stays in the state file for the next attempt
    const left: HostState | null = st ? { ...st, proxies: [...st.proxies], sysctls: [...st.sysctls] } : null;
    try {
      const links = await rtnl.links();
      const linkByName = new Map(links.map((l) => [l.name, l]));
      const tunNames = new Set([opts.tun, ...(st ? [st.tun] : [])]);
      const tuns = [...tunNames].flatMap((n) => linkByName.get(n) ?? []);
      const protos = new Set([this.proto, ...(st ? [st.routeProtocol] : [])]);
      for (const proto of protos) {
        const r = await this.removeRoutes(rtnl, tuns, proto);
        report.routesRemoved.push(...r.removed);
        errors.push(...r.errors);
      }
      for (const rec of st?.proxies ?? []) {
        const link = linkByName.get(rec.dev);
        try {
          if (link) await this.delProxyTolerant(rtnl, rec.addr, link);
          report.proxiesRemoved.push(proxyKey(rec.addr, rec.dev));
          left!.proxies = left!.proxies.filter((p) => p !== rec);
        } catch (e) {
          errors.push(e as HostError);
        }
      }
    } catch (e) {
      errors.push(e as HostError);
    } finally {
      rtnl.close();
    }
    if (st) {
      const rep = restoreSysctls(this.sys, st.sysctls);
      report.sysctlsRestored = rep.restored;
      errors.push(...rep.errors);
      left!.sysctls = rep.failed;
    }
    if (errors.length > 0) {
      if (left) writeHostState(this.stateDir, left);
      throw HostError.combine('cleanup after an earlier run', errors);
    }
    removeHostState(this.stateDir);
    const n = report.routesRemoved.length + report.proxiesRemoved.length + report.sysctlsRestored.length;
    if (st || n > 0)
      this.log(
        `cleaned up after pid ${st?.pid ?? '?'}: ${report.routesRemoved.length} routes, ${report.proxiesRemoved.length} proxy entries, ${report.sysctlsRestored.length} sysctls restored`,
      );
    return report;
  }
}
