// The engine's public face: control operations that validate fully before changing anything
// (so a refused change leaves no trace), and read-outs for listings. The packet path starts at
// core.ts.
import { type Family, formatIp, prefixMask } from '../common/addr.js';
import { LvsError } from '../common/errors.js';
import type { EngineKnobs } from '../common/vocabulary.js';
import { S_CLOSE, S_ESTABLISHED, S_FIN_WAIT, S_TIME_WAIT, S_UDP, STATE_NAMES } from '../common/vocabulary.js';
import { defaultConfig, type EngineConfig } from './config.js';
import {
  checkDestValues,
  checkPort,
  checkServiceOptions,
  checkUint,
  parseAddr,
  protoNum,
} from './config-checks.js';
import { CONN_F_IPV6, CONN_F_UDP, CONN_F_USED } from './conn/table.js';
import { expireConn } from './conn-lifecycle.js';
import { EngineCore } from './core.js';
import { COUNTER_NAMES } from './counters.js';
import { FK_PORT, flowKeyPort } from './flow-map.js';
import { LOCAL_VIP, localDelete, localFull, localGet, localSet, setAddrKey } from './local-addrs.js';
import { isPrime, MH_TAB_SIZE_MAX } from './sched/mh.js';
import { getScheduler } from './sched/registry.js';
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, Dest, FWD_FULLNAT, PROTO_TCP, Service } from './service.js';
import { ST_STRIDE, type StatsCounters, type StatsRates } from './stats.js';
import { retireDestStats, retireSvcStats, syncStats } from './stats-rollup.js';

export type ProtoName = 'tcp' | 'udp';

export interface ServiceKey {
  proto: ProtoName;
  addr: string;
  port: number;
}

export interface ServiceOptions {
  /** Scheduler name as ipvsadm -s (default wlc). */
  sched?: string;
  /** SCHED_F_* bits (ipvsadm -b on -A/-E). */
  schedFlags?: number;
  /** Persistence timeout in seconds, 0 = off (ipvsadm -p). */
  persistTimeout?: number;
  /** Persistence netmask as a prefix length (ipvsadm -M). */
  persistPrefix?: number;
  synproxy?: boolean;
  toa?: boolean;
}

export interface DestSpec {
  addr: string;
  port: number;
  weight?: number;
  uThreshold?: number;
  lThreshold?: number;
}

export interface DestChange {
  weight?: number;
  uThreshold?: number;
  lThreshold?: number;
}

export interface DestInfo {
  addr: string;
  port: number;
  family: Family;
  fwd: number;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  overloaded: boolean;
  stats: StatsCounters;
  rates: StatsRates;
}

export interface LaddrInfo {
  addr: string;
  family: Family;
  conns: number;
  conflicts: number;
  /** Local ports per (LIP, real-server address and port): a LIP runs dry per real server. */
  portCount: number;
  /** Ports the busiest real-server tuple holds on this LIP, over TCP and over UDP. */
  tcpPortsUsed: number;
  udpPortsUsed: number;
}

export interface ServiceInfo {
  proto: ProtoName;
  family: Family;
  addr: string;
  port: number;
  sched: string;
  schedFlags: number;
  persistTimeout: number;
  persistPrefix: number;
  synproxy: boolean;
  toa: boolean;
  conns: number;
  stats: StatsCounters;
  rates: StatsRates;
  dests: DestInfo[];
  laddrs: LaddrInfo[];
}

export interface ConnInfo {
  proto: ProtoName;
  family: Family;
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  laddr: string;
  lport: number;
  daddr: string;
  dport: number;
  state: string;
  /** Milliseconds until expiry. */
  expiresIn: number;
  /** A persistence template (state NONE, no local address: laddr ''), not a connection. */
  template?: true;
}

export interface Timeouts {
  tcp: number;
  tcpfin: number;
  udp: number;
}

/** Canonical map key of an address (and port): the words, whatever the text spelling was. */
function addrKey(family: Family, w: ArrayLike<number>, port: number): string {
  return family === 4 ? `${w[0]}/${port}` : `${w[0]},${w[1]},${w[2]},${w[3]}/${port}`;
}

export class Engine extends EngineCore {
  private readonly freeSvc: number[] = [];
  private readonly freeDest: number[] = [];
  /** VIP address key -> number of services on it (control path only). */
  private readonly vipRefs = new Map<string, number>();
  /** Per service: destKey() -> dest, so -a/-e/-d find a dest without scanning (control path). */
  private readonly destIndex = new Map<Service, Map<string, Dest>>();
  /**
   * expire_nodest_conn: connections of deleted services, dests and (service, LIP) pairs, cut by
   * tick() in chunks of the table (purgeLeft slots still to visit from purgeAt), not per packet.
   */
  private readonly purgeSvc = new Set<Service>();
  private readonly purgeDest = new Set<Dest>();
  private readonly purgeLaddr = new Map<Service, Set<number>>();
  private purgeAt = 1;
  private purgeLeft = 0;
  /**
   * Bumped whenever a deleted service or a LIP slot is freed: the daemon compares it on its tick
   * and then removes the plumbing of addresses that no longer drain (drainingAddrs()).
   */
  drainGen = 0;

  constructor(config: Partial<EngineConfig> = {}, now = 0) {
    const cfg = { ...defaultConfig(), ...config };
    super(cfg, now);
    for (let i = cfg.maxServices - 1; i >= 0; i--) this.freeSvc.push(i);
    for (let i = cfg.maxDests - 1; i >= 0; i--) this.freeDest.push(i);
  }

  // ---- services -------------------------------------------------------------------------------

  private findSvc(key: ServiceKey): Service {
    const proto = protoNum(key.proto);
    const a = parseAddr(key.addr, 'virtual');
    checkPort(key.port, 'virtual');
    const m = this.svcMap;
    setAddrKey(m.key, a.words, a.family);
    m.key[FK_PORT] = flowKeyPort(key.port, proto, a.family);
    const idx = m.get();
    if (idx < 0) throw new LvsError('SVC_NOT_FOUND');
    return this.svcs[idx]!;
  }

  hasService(key: ServiceKey): boolean {
    try {
      this.findSvc(key);
      return true;
    } catch {
      return false;
    }
  }

  private checkOptions(family: Family, port: number, o: ServiceOptions, current?: Service): void {
    checkServiceOptions(family, port, o, current?.persistTimeout);
    if (o.sched === 'mh' || (o.sched === undefined && current?.sched.name === 'mh')) {
      const n = this.cfg.mhTableSize;
      if (!isPrime(n) || n > MH_TAB_SIZE_MAX)
        throw new LvsError('EINVAL', `mh table size ${n} must be a prime up to ${MH_TAB_SIZE_MAX}`);
    }
  }

  addService(key: ServiceKey, opts: ServiceOptions = {}): void {
    const proto = protoNum(key.proto);
    const a = parseAddr(key.addr, 'virtual');
    checkPort(key.port, 'virtual');
    this.checkOptions(a.family, key.port, opts);
    const m = this.svcMap;
    setAddrKey(m.key, a.words, a.family);
    m.key[FK_PORT] = flowKeyPort(key.port, proto, a.family);
    if (m.get() >= 0) throw new LvsError('SVC_EXISTS');
    const local = localGet(this, a.family, a.words);
    if (local >= 0) throw new LvsError('EINVAL', `${key.addr} is a local address (LIP) and cannot be a VIP`);
    if (local !== LOCAL_VIP && localFull(this, a.family))
      throw new LvsError('NO_MEMORY', 'too many local addresses');
    const idx = this.freeSvc.pop();
    if (idx === undefined) throw new LvsError('NO_MEMORY', 'too many services');

    const svc = new Service(idx, proto, a.family, a.words, key.port);
    svc.mhTableSize = this.cfg.mhTableSize;
    this.applyOptions(svc, opts);
    svc.sched = getScheduler(opts.sched ?? 'wlc')!;
    svc.sched.initService(svc);
    this.svcs[idx] = svc;
    this.svcAddr.set(a.words, idx * 4);
    this.svcStats.reset(idx);
    setAddrKey(m.key, a.words, a.family);
    m.key[FK_PORT] = flowKeyPort(key.port, proto, a.family);
    m.set(idx);
    // Keyed by the parsed words, not the caller's spelling: 2001:DB8::1 and 2001:db8::1 are one VIP.
    const vk = addrKey(a.family, a.words, 0);
    this.vipRefs.set(vk, (this.vipRefs.get(vk) ?? 0) + 1);
    this.destIndex.set(svc, new Map());
    localSet(this, a.family, a.words, LOCAL_VIP);
  }

  private applyOptions(svc: Service, o: ServiceOptions): void {
    if (o.schedFlags !== undefined) svc.schedFlags = o.schedFlags;
    if (o.persistTimeout !== undefined) svc.persistTimeout = o.persistTimeout;
    if (o.persistPrefix !== undefined) {
      svc.persistPrefix = o.persistPrefix;
      prefixMask(svc.family, o.persistPrefix, svc.persistMask);
      if (svc.family === 4) svc.persistMask.fill(0, 1);
    } else if (svc.family === 4) {
      prefixMask(4, svc.persistPrefix, svc.persistMask);
    }
    if (o.synproxy !== undefined) svc.synproxy = o.synproxy;
    if (o.toa !== undefined) svc.toa = o.toa;
  }

  editService(key: ServiceKey, opts: ServiceOptions): void {
    const svc = this.findSvc(key);
    this.checkOptions(svc.family, svc.port, opts, svc);
    const maskChanged =
      (opts.persistPrefix !== undefined && opts.persistPrefix !== svc.persistPrefix) ||
      (opts.persistTimeout !== undefined && opts.persistTimeout > 0 !== svc.persistTimeout > 0);
    this.applyOptions(svc, opts);
    if (maskChanged) this.persist.orphanService(svc.idx);
    if (opts.sched !== undefined && opts.sched !== svc.sched.name) {
      svc.sched.doneService?.(svc);
      svc.schedData = null;
      svc.sched = getScheduler(opts.sched)!;
      svc.sched.initService(svc);
    } else if (opts.schedFlags !== undefined) {
      // Flags change how sh/mh hash: rebuild.
      svc.sched.doneService?.(svc);
      svc.sched.initService(svc);
    }
  }

  /** Its connections keep working until they end, unless expire_nodest_conn cuts them. */
  delService(key: ServiceKey): void {
    this.removeAndPurge(this.findSvc(key));
  }

  /** ipvsadm -C: every service goes; connections drain (or are cut: expire_nodest_conn). */
  flush(): void {
    for (const svc of this.svcs) if (svc && !svc.deleted) this.removeAndPurge(svc);
  }

  private removeAndPurge(svc: Service): void {
    const las = svc.laddrs.slice();
    this.removeService(svc);
    if (!this.sp.knobs.expireNodestConn || svc.refs === 0) return;
    // its LIPs too, so that drainingAddrs() does not keep them for the connections being cut
    this.purge(() => {
      this.purgeSvc.add(svc);
      this.purgeLaddr.set(svc, new Set(las));
    });
  }

  private purge(mark: () => void): void {
    mark();
    this.purgeLeft = this.conns.capacity; // a whole round from here covers every connection
  }

  /** Slots of the connection table visited per tick while something is to be cut. */
  private static readonly PURGE_CHUNK = 1 << 17;

  override tick(now: number): void {
    super.tick(now);
    if (this.purgeLeft > 0) this.purgeStep();
    if (this.trash.size > 0) this.sweepTrash(now);
  }

  private purgeStep(): void {
    const ct = this.conns;
    let n = Math.min(this.purgeLeft, Engine.PURGE_CHUNK);
    this.purgeLeft -= n;
    for (; n > 0; n--) {
      const id = this.purgeAt;
      this.purgeAt = id >= ct.capacity ? 1 : id + 1;
      if ((ct.flags(id) & CONN_F_USED) === 0) continue;
      const svc = this.svcs[ct.svc(id)]!;
      const las = this.purgeLaddr.get(svc);
      if (
        this.purgeSvc.has(svc) ||
        this.purgeDest.has(this.dests[ct.dest(id)]!) ||
        (las?.has(ct.laddr(id)) === true && !svc.laddrs.includes(ct.laddr(id)))
      )
        expireConn(this, id);
    }
    if (this.purgeLeft === 0) {
      this.purgeSvc.clear();
      this.purgeDest.clear();
      this.purgeLaddr.clear();
      this.drainGen++;
    }
  }

  /**
   * Addresses no longer configured whose connections still drain: VIPs of deleted services and
   * LIPs no service lists. The host keeps routing them into the TUN until the last one ends;
   * those being cut by expire_nodest_conn are left out (their plumbing goes at once).
   */
  drainingAddrs(): { vips: string[]; lips: string[] } {
    const vips: string[] = [];
    const lips: string[] = [];
    for (const svc of this.svcs)
      if (svc?.deleted && svc.refs > 0 && !this.purgeSvc.has(svc)) vips.push(formatIp(svc.family, svc.addr));
    const lp = this.laddrs;
    const cut = new Set<number>();
    for (const set of this.purgeLaddr.values()) for (const la of set) cut.add(la);
    for (let la = 0; la < lp.family.length; la++) {
      if (lp.family[la] === 0 || lp.svcRefs[la] !== 0 || lp.conns[la] === 0 || cut.has(la)) continue;
      lips.push(formatIp(lp.family[la] as Family, lp.addr.subarray(la * 4, la * 4 + 4)));
    }
    return { vips, lips };
  }

  private removeService(svc: Service): void {
    // From the end, so each splice is O(1) (lastIndexOf in removeDest).
    for (const d of svc.dests.slice().reverse()) this.removeDest(svc, d);
    if (this.trash.size > 0) this.sweepTrash(this.now, svc);
    for (const la of svc.laddrs) this.unrefLaddr(la);
    svc.laddrs = [];
    svc.sched.doneService?.(svc);
    const m = this.svcMap;
    setAddrKey(m.key, svc.addr, svc.family);
    m.key[FK_PORT] = flowKeyPort(svc.port, svc.proto, svc.family);
    m.delete();
    this.destIndex.delete(svc);
    const vk = addrKey(svc.family, svc.addr, 0);
    const n = (this.vipRefs.get(vk) ?? 1) - 1;
    if (n === 0) {
      this.vipRefs.delete(vk);
      localDelete(this, svc.family, svc.addr);
    } else {
      this.vipRefs.set(vk, n);
    }
    // Templates exist only while persistence is on (editService orphans them when it goes off):
    // skip the scan of the template table for the common non-persistent service.
    if (svc.persistTimeout > 0) this.persist.orphanService(svc.idx);
    svc.deleted = true;
    if (svc.refs === 0) this.freeService(svc);
  }

  private freeService(svc: Service): void {
    this.drainGen++;
    retireSvcStats(this, svc);
    this.svcs[svc.idx] = undefined;
    this.freeSvc.push(svc.idx);
  }

  // ---- real servers ---------------------------------------------------------------------------

  private findDest(svc: Service, addr: string, port: number): Dest | undefined {
    const a = parseAddr(addr, 'real server');
    checkPort(port, 'real server');
    return this.destIndex.get(svc)?.get(addrKey(a.family, a.words, port));
  }

  addDest(key: ServiceKey, spec: DestSpec): void {
    const svc = this.findSvc(key);
    const a = parseAddr(spec.addr, 'real server');
    checkPort(spec.port, 'real server');
    if (a.family !== svc.family)
      throw new LvsError(
        'FAMILY_MISMATCH',
        'real server and virtual service must be of the same address family',
      );
    checkDestValues(spec);
    if (this.findDest(svc, spec.addr, spec.port)) throw new LvsError('DEST_EXISTS');
    const old = this.fromTrash(svc, a.words, spec.port);
    if (old) {
      this.revive(svc, old, spec);
      return;
    }
    const idx = this.freeDest.pop() ?? this.reclaimTrash();
    if (idx === undefined) throw new LvsError('NO_MEMORY', 'too many real servers');
    const d = new Dest(idx, svc, a.family, a.words, spec.port);
    this.laddrs.invalidateTuples();
    d.fwd = FWD_FULLNAT;
    d.weight = spec.weight ?? 1;
    d.uThreshold = spec.uThreshold ?? 0;
    d.lThreshold = spec.lThreshold ?? 0;
    this.dests[idx] = d;
    this.destAddr.set(a.words, idx * 4);
    this.destPort[idx] = spec.port;
    this.destStats.reset(idx);
    svc.dests.push(d);
    this.destIndex.get(svc)?.set(addrKey(a.family, a.words, spec.port), d);
    svc.sched.addDest?.(svc, d);
  }

  editDest(key: ServiceKey, addr: string, port: number, change: DestChange): void {
    const svc = this.findSvc(key);
    const d = this.findDest(svc, addr, port);
    if (!d) throw new LvsError('DEST_NOT_FOUND');
    checkDestValues(change, d);
    if (change.weight !== undefined) d.weight = change.weight;
    if (change.uThreshold !== undefined) d.uThreshold = change.uThreshold;
    if (change.lThreshold !== undefined) d.lThreshold = change.lThreshold;
    // New thresholds take effect now, as __ip_vs_update_dest does.
    const total = d.activeConns + d.inactConns;
    if (d.uThreshold === 0 || total < d.uThreshold) d.flags &= ~DEST_F_OVERLOAD;
    else d.flags |= DEST_F_OVERLOAD;
    svc.sched.updDest?.(svc, d);
  }

  delDest(key: ServiceKey, addr: string, port: number): void {
    const svc = this.findSvc(key);
    const d = this.findDest(svc, addr, port);
    if (!d) throw new LvsError('DEST_NOT_FOUND');
    this.removeDest(svc, d, true);
    // Kept in the trash; its connections drain, or are cut
    if (this.sp.knobs.expireNodestConn && this.dests[d.idx] === d) this.purge(() => this.purgeDest.add(d));
  }

  /** `trash`: keep it for revival (-d); not when its service goes too. */
  private removeDest(svc: Service, d: Dest, trash = false): void {
    const pos = svc.dests.lastIndexOf(d);
    svc.dests.splice(pos, 1);
    this.destIndex.get(svc)?.delete(addrKey(d.family, d.addr, d.port));
    d.flags &= ~DEST_F_AVAILABLE;
    svc.sched.delDest?.(svc, d);
    if (trash) {
      d.trashedAt = this.now;
      d.trashPos = pos;
      this.trash.set(`${svc.idx}:${addrKey(d.family, d.addr, d.port)}`, d);
    }
    this.releaseTemplateDestIfIdle(d.idx);
  }

  // ---- the dest trash ----------------------------------------------------------------------------
  // As IPVS's: a deleted real server is kept TRASH_MS (its slot, counters, connections), and
  // adding it again revives it where it was. So -d then -a keeps its statistics and connections,
  // and undoing a -d (a refused batch) restores it exactly, scheduler order included.

  static readonly TRASH_MS = 60_000;
  /** Trashed dests by service slot and address key, oldest first (a Map keeps insertion order). */
  private readonly trash = new Map<string, Dest>();

  private fromTrash(svc: Service, words: Uint32Array, port: number): Dest | undefined {
    const k = `${svc.idx}:${addrKey(svc.family, words, port)}`;
    const d = this.trash.get(k);
    if (d !== undefined) this.trash.delete(k);
    return d;
  }

  private revive(svc: Service, d: Dest, spec: DestSpec): void {
    d.trashedAt = -1;
    d.flags |= DEST_F_AVAILABLE;
    d.weight = spec.weight ?? 1;
    d.uThreshold = spec.uThreshold ?? 0;
    d.lThreshold = spec.lThreshold ?? 0;
    const total = d.activeConns + d.inactConns;
    if (d.uThreshold === 0 || total < d.uThreshold) d.flags &= ~DEST_F_OVERLOAD;
    else d.flags |= DEST_F_OVERLOAD;
    svc.dests.splice(Math.min(d.trashPos, svc.dests.length), 0, d);
    this.destIndex.get(svc)?.set(addrKey(d.family, d.addr, d.port), d);
    svc.sched.addDest?.(svc, d);
  }

  /** Frees trashed dests older than TRASH_MS (or of a deleted service) once idle. */
  private sweepTrash(now: number, all: Service | null = null): void {
    for (const [k, d] of this.trash) {
      if (d.svc === all || d.svc.deleted || now - d.trashedAt >= Engine.TRASH_MS) {
        this.trash.delete(k);
        d.trashedAt = -1;
        this.releaseTemplateDestIfIdle(d.idx);
      } else if (all === null) {
        break; // the rest were deleted later: not due yet
      }
    }
  }

  /** A slot when every one is taken: the oldest idle trashed dest gives its own up. */
  private reclaimTrash(): number | undefined {
    for (const [k, d] of this.trash) {
      if (d.activeConns + d.inactConns !== 0 || d.persistConns !== 0) continue;
      this.trash.delete(k);
      d.trashedAt = -1;
      this.releaseTemplateDestIfIdle(d.idx);
      return this.freeDest.pop();
    }
    return undefined;
  }

  override releaseTemplateDestIfIdle(destIdx: number): void {
    const d = this.dests[destIdx];
    if (d && !d.available && d.trashedAt < 0 && d.activeConns + d.inactConns === 0 && d.persistConns === 0) {
      retireDestStats(this, d);
      this.dests[destIdx] = undefined;
      this.freeDest.push(destIdx);
    }
  }

  override onConnGone(svc: Service, dest: Dest, la: number): void {
    if (svc.deleted && svc.refs === 0 && this.svcs[svc.idx] === svc) this.freeService(svc);
    if (!dest.available) this.releaseTemplateDestIfIdle(dest.idx);
    const lp = this.laddrs;
    if (lp.svcRefs[la] === 0 && lp.conns[la] === 0) this.destroyLaddr(la);
  }

  // ---- local addresses (FULLNAT source addresses) ---------------------------------------------

  addLaddr(key: ServiceKey, addr: string): void {
    const svc = this.findSvc(key);
    const a = parseAddr(addr, 'local');
    if (a.family !== svc.family)
      throw new LvsError(
        'FAMILY_MISMATCH',
        'local address and virtual service must be of the same address family',
      );
    let la = localGet(this, a.family, a.words);
    if (la === LOCAL_VIP)
      throw new LvsError('EINVAL', `${addr} is a virtual service address and cannot be a local address`);
    if (la >= 0 && svc.laddrs.includes(la)) throw new LvsError('LADDR_EXISTS');
    if (la < 0) {
      if (localFull(this, a.family)) throw new LvsError('NO_MEMORY', 'too many local addresses');
      la = this.laddrs.create(a.family, a.words);
      if (la < 0) throw new LvsError('NO_MEMORY', 'too many local addresses');
      localSet(this, a.family, a.words, la);
    }
    this.laddrs.svcRefs[la]! += 1;
    svc.laddrs.push(la);
  }

  delLaddr(key: ServiceKey, addr: string): void {
    const svc = this.findSvc(key);
    const a = parseAddr(addr, 'local');
    const la = localGet(this, a.family, a.words);
    const pos = la >= 0 ? svc.laddrs.indexOf(la) : -1;
    if (pos < 0) throw new LvsError('LADDR_NOT_FOUND');
    svc.laddrs.splice(pos, 1);
    svc.laddrNext = 0;
    this.unrefLaddr(la);
    if (this.sp.knobs.expireNodestConn && this.laddrs.family[la] !== 0) {
      this.purge(() => {
        const set = this.purgeLaddr.get(svc) ?? new Set<number>();
        set.add(la);
        this.purgeLaddr.set(svc, set);
      });
    }
  }

  private unrefLaddr(la: number): void {
    const lp = this.laddrs;
    lp.svcRefs[la]! -= 1;
    // A LIP still carrying connections stays mapped so their replies find them.
    if (lp.svcRefs[la] === 0 && lp.conns[la] === 0) this.destroyLaddr(la);
  }

  private destroyLaddr(la: number): void {
    const lp = this.laddrs;
    if (lp.family[la] === 0) return;
    this.drainGen++;
    localDelete(this, lp.family[la]!, lp.addr.subarray(la * 4, la * 4 + 4));
    lp.destroy(la);
  }

  // ---- global settings ------------------------------------------------------------------------

  /** ipvsadm --set tcp tcpfin udp (seconds; 0 keeps the current value). */
  setTimeoutsTriple(t: Partial<Timeouts>): void {
    checkUint(t.tcp, 0x7fffffff, 'tcp timeout');
    checkUint(t.tcpfin, 0x7fffffff, 'tcpfin timeout');
    checkUint(t.udp, 0x7fffffff, 'udp timeout');
    const s = this.cfg.timeouts;
    if (t.tcp) s[S_ESTABLISHED] = t.tcp;
    if (t.tcpfin) s[S_FIN_WAIT] = t.tcpfin;
    if (t.udp) s[S_UDP] = t.udp;
    this.setTimeouts(s);
  }

  getTimeouts(): Timeouts {
    const s = this.cfg.timeouts;
    return { tcp: s[S_ESTABLISHED]!, tcpfin: s[S_FIN_WAIT]!, udp: s[S_UDP]! };
  }

  /** ipvsadm -Z: zero counters of one service (and its dests) or of everything. */
  zero(key?: ServiceKey): void {
    if (key) {
      const svc = this.findSvc(key);
      // Draining (deleted) dests of the service count towards it too.
      for (const d of this.dests) if (d && d.svc === svc) this.destStats.zero(d.idx);
      this.svcRetired.fill(0, svc.idx * ST_STRIDE, (svc.idx + 1) * ST_STRIDE);
      this.svcStats.zero(svc.idx);
      syncStats(this);
      return;
    }
    this.destStats.zeroAll();
    this.svcRetired.fill(0);
    this.totalRetired.fill(0);
    this.svcStats.zeroAll();
    this.totalStats.zeroAll();
  }

  /** SYNPROXY knobs (Alibaba's sysctls), validated as a whole before any is changed. */
  setKnobs(k: Partial<EngineKnobs>): void {
    const next = { ...this.sp.knobs, ...k };
    checkUint(next.initMss, 65535, 'synproxy init_mss');
    if (next.initMss < 64) throw new LvsError('EINVAL', 'synproxy init_mss must be at least 64');
    checkUint(next.wscale, 14, 'synproxy wscale');
    checkUint(next.synackTtl, 255, 'synproxy synack_ttl');
    if (next.synackTtl < 1) throw new LvsError('EINVAL', 'synproxy synack_ttl must be at least 1');
    checkUint(next.synRetry, 6, 'synproxy syn_retry');
    checkUint(next.ackStormThresh, 65535, 'synproxy ack_storm_thresh');
    checkUint(next.maxSavedAcks, 15, 'synproxy max_saved_acks');
    for (const b of ['sack', 'timestamp', 'defer', 'expireNodestConn', 'expireQuiescentTemplate'] as const) {
      if (typeof next[b] !== 'boolean') throw new LvsError('EINVAL', `synproxy ${b} must be on or off`);
    }
    checkUint(next.timeoutTimeWait, 86400, 'timeout_timewait');
    checkUint(next.timeoutClose, 86400, 'timeout_close');
    if (next.timeoutTimeWait < 1 || next.timeoutClose < 1)
      throw new LvsError('EINVAL', 'timeout_timewait and timeout_close must be at least 1 second');
    this.sp.setKnobs(next);
    // Entries already closing keep their deadline (as IPVS: a timeout applies from the next state change).
    this.cfg.timeouts[S_TIME_WAIT] = next.timeoutTimeWait;
    this.cfg.timeouts[S_CLOSE] = next.timeoutClose;
    this.setTimeouts(this.cfg.timeouts);
  }

  getKnobs(): EngineKnobs {
    return { ...this.sp.knobs };
  }

  /** New SYN cookie secret; cookies made with the previous one stay valid until the next rotation. */
  rotateCookieSecret(secret: Uint32Array): void {
    if (secret.length < 4) throw new LvsError('EINVAL', 'cookie secret needs 4 words');
    this.sp.cookies.rotate(secret);
  }

  // ---- read-outs ------------------------------------------------------------------------------

  private destInfo(d: Dest): DestInfo {
    return {
      addr: formatIp(d.family, d.addr),
      port: d.port,
      family: d.family,
      fwd: d.fwd,
      weight: d.weight,
      uThreshold: d.uThreshold,
      lThreshold: d.lThreshold,
      activeConns: d.activeConns,
      inactConns: d.inactConns,
      persistConns: d.persistConns,
      overloaded: (d.flags & DEST_F_OVERLOAD) !== 0,
      stats: this.destStats.read(d.idx),
      rates: this.destStats.rates(d.idx),
    };
  }

  private serviceInfo(svc: Service, busiest: Uint32Array): ServiceInfo {
    const lp = this.laddrs;
    return {
      proto: svc.proto === PROTO_TCP ? 'tcp' : 'udp',
      family: svc.family,
      addr: formatIp(svc.family, svc.addr),
      port: svc.port,
      sched: svc.sched.name,
      schedFlags: svc.schedFlags,
      persistTimeout: svc.persistTimeout,
      persistPrefix: svc.persistPrefix,
      synproxy: svc.synproxy,
      toa: svc.toa,
      conns: svc.refs,
      stats: this.svcStats.read(svc.idx),
      rates: this.svcStats.rates(svc.idx),
      dests: svc.dests.map((d) => this.destInfo(d)),
      laddrs: svc.laddrs.map((la) => ({
        addr: formatIp(lp.family[la] as Family, lp.addr.subarray(la * 4, la * 4 + 4)),
        family: lp.family[la] as Family,
        conns: lp.conns[la]!,
        conflicts: lp.conflicts[la]!,
        portCount: lp.portCount,
        tcpPortsUsed: busiest[la * 2]!,
        udpPortsUsed: busiest[la * 2 + 1]!,
      })),
    };
  }

  /** Services in creation-slot order (as configured, not deleted). */
  listServices(): ServiceInfo[] {
    syncStats(this);
    const out: ServiceInfo[] = [];
    const busiest = this.laddrs.busiestTuples();
    for (const svc of this.svcs) if (svc && !svc.deleted) out.push(this.serviceInfo(svc, busiest));
    return out;
  }

  getService(key: ServiceKey): ServiceInfo {
    syncStats(this);
    return this.serviceInfo(this.findSvc(key), this.laddrs.busiestTuples());
  }

  totals(): { stats: StatsCounters; rates: StatsRates } {
    syncStats(this);
    return { stats: this.totalStats.read(0), rates: this.totalStats.rates(0) };
  }

  /** Engine counters by name (drops by reason, events). */
  counterValues(): Record<string, number> {
    const r: Record<string, number> = {};
    for (let i = 0; i < COUNTER_NAMES.length; i++) r[COUNTER_NAMES[i]!] = this.counters[i]!;
    return r;
  }

  get connCount(): number {
    return this.conns.count;
  }

  /** Live persistence templates (listed after the connections by connections()). */
  get templateCount(): number {
    return this.persist.count;
  }

  /** Buckets of the connection hash table: what ipvsadm's -L header calls size (IPVS's conn_tab_size). */
  get connTabSize(): number {
    return this.conns.mask + 1;
  }

  /** Visits live connections (control path; allocates per connection for the listing). */
  /** Every connection, then every persistence template (as ipvsadm lists them: state NONE). */
  *connections(limit = Number.POSITIVE_INFINITY): Generator<ConnInfo> {
    const ct = this.conns;
    let n = 0;
    for (let id = 1; id <= ct.capacity && n < limit; id++) {
      if ((ct.flags(id) & CONN_F_USED) === 0) continue;
      n++;
      yield this.connInfo(id);
    }
    const pt = this.persist;
    for (let id = 1; id <= pt.max && n < limit; id++) {
      if (!pt.listed(id)) continue;
      const svc = this.svcs[pt.svc[id]!];
      const d = this.dests[pt.dest[id]!];
      if (svc === undefined || d === undefined) continue;
      n++;
      yield this.templateInfo(id, svc, d);
    }
  }

  /**
   * A template as IPVS shows one: the client network with port 0, the service, the real server;
   * no local address (it is not a connection).
   */
  private templateInfo(id: number, svc: Service, d: Dest): ConnInfo {
    const pt = this.persist;
    const a = new Uint32Array(4);
    for (let w = 0; w < 4; w++) a[w] = pt.keyWord(id, w);
    return {
      proto: svc.proto === PROTO_TCP ? 'tcp' : 'udp',
      family: svc.family,
      caddr: formatIp(svc.family, a),
      cport: 0,
      vaddr: formatIp(svc.family, svc.addr),
      vport: svc.port,
      laddr: '',
      lport: 0,
      daddr: formatIp(d.family, d.addr),
      dport: d.port,
      state: 'NONE',
      expiresIn: Math.max(0, pt.expires[id]! - this.now),
      template: true,
    };
  }

  connInfo(id: number): ConnInfo {
    const ct = this.conns;
    const f = ct.flags(id);
    const family: Family = (f & CONN_F_IPV6) !== 0 ? 6 : 4;
    const at = (a: Uint32Array, i: number) => formatIp(family, a.subarray(i, i + 4));
    return {
      proto: (f & CONN_F_UDP) !== 0 ? 'udp' : 'tcp',
      family,
      caddr: at(ct.w, ct.caddrOff(id)),
      cport: ct.cport(id),
      vaddr: at(this.svcAddr, ct.svc(id) * 4),
      vport: ct.vport(id),
      laddr: at(this.laddrs.addr, ct.laddr(id) * 4),
      lport: ct.lport(id),
      daddr: at(this.destAddr, ct.dest(id) * 4),
      dport: ct.dport(id),
      state: STATE_NAMES[ct.state(id)]!,
      expiresIn: Math.max(0, ct.expires(id) - this.now),
    };
  }
}
