// What the engine holds, read out by slot as numbers: the control plane names and formats it
// (src/control/engine-tables.ts). Control path only; these allocate.
import type { Family } from '../common/addr.js';
import type { DestSettings, ServiceSettings } from '../common/vocabulary.js';
import { S_NONE } from '../common/vocabulary.js';
import { CONN_F_IPV6, CONN_F_UDP, CONN_F_USED } from './conn/table.js';
import { COUNTER_NAMES } from './counters.js';
import type { Engine } from './engine.js';
import { DEST_F_OVERLOAD, type Dest, PROTO_TCP, PROTO_UDP, type Proto, type Service } from './service.js';
import type { StatsCounters, StatsRates } from './stats.js';
import { syncStats } from './stats-rollup.js';

export interface ServiceView {
  slot: number;
  proto: Proto;
  family: Family;
  addr: Uint32Array;
  port: number;
  params: ServiceSettings;
  /** Real-server slots in scheduling order. */
  dests: number[];
  /** LIP slots in the order the pool takes them. */
  laddrs: number[];
  /** Live connections. */
  conns: number;
  stats: StatsCounters;
  rates: StatsRates;
}

/** A real server's load and traffic. */
export interface DestLoad {
  activeConns: number;
  inactConns: number;
  /** Persistence templates pointing to it. */
  persistConns: number;
  overloaded: boolean;
  stats: StatsCounters;
  rates: StatsRates;
}

export interface DestView extends DestLoad {
  slot: number;
  family: Family;
  addr: Uint32Array;
  port: number;
  fwd: number;
  params: DestSettings;
}

export interface LaddrView {
  slot: number;
  family: Family;
  addr: Uint32Array;
  conns: number;
  conflicts: number;
  /** Local ports per (LIP, real-server address and port): a LIP runs dry per real server. */
  portCount: number;
  /** Ports the busiest real-server tuple holds on this LIP, over TCP and over UDP. */
  tcpPortsUsed: number;
  udpPortsUsed: number;
}

/** Rebuilds service and total counters from the dests: call once before reading them. */
export function refreshStats(e: Engine): void {
  syncStats(e);
}

/** Live service slots in slot order. */
export function serviceSlots(e: Engine): number[] {
  const out: number[] = [];
  for (const s of e.svcs) if (s && !s.deleted) out.push(s.idx);
  return out;
}

function params(s: Service): ServiceSettings {
  return {
    sched: s.sched.name,
    schedFlags: s.schedFlags,
    persistTimeout: s.persistTimeout,
    persistPrefix: s.persistPrefix,
    synproxy: s.synproxy,
    toa: s.toa,
  };
}

/** A live service (stats as of the last refreshStats). */
export function readService(e: Engine, slot: number): ServiceView {
  const s = e.service(slot);
  if (!s) throw new RangeError(`no service in slot ${slot}`);
  return {
    slot,
    proto: s.proto,
    family: s.family,
    addr: s.addr.slice(),
    port: s.port,
    params: params(s),
    dests: s.dests.map((d) => d.idx),
    laddrs: s.laddrs.slice(),
    conns: s.refs,
    stats: e.svcStats.read(slot),
    rates: e.svcStats.rates(slot),
  };
}

export function readDest(e: Engine, slot: number): DestView {
  const d: Dest | undefined = e.dests[slot];
  if (!d) throw new RangeError(`no real server in slot ${slot}`);
  return {
    slot,
    family: d.family,
    addr: d.addr.slice(),
    port: d.port,
    fwd: d.fwd,
    params: { weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold },
    activeConns: d.activeConns,
    inactConns: d.inactConns,
    persistConns: d.persistConns,
    overloaded: (d.flags & DEST_F_OVERLOAD) !== 0,
    stats: e.destStats.read(slot),
    rates: e.destStats.rates(slot),
  };
}

/** Per LIP slot, the busiest real-server tuple's ports (TCP at 2*la, UDP at 2*la+1). */
export function laddrUsage(e: Engine): Uint32Array {
  return e.laddrs.busiestTuples();
}

export function readLaddr(e: Engine, la: number, usage: Uint32Array): LaddrView {
  const lp = e.laddrs;
  if (lp.family[la] === 0) throw new RangeError(`no LIP in slot ${la}`);
  return {
    slot: la,
    family: lp.family[la] as Family,
    addr: lp.addr.slice(la * 4, la * 4 + 4),
    conns: lp.conns[la]!,
    conflicts: lp.conflicts[la]!,
    portCount: lp.portCount,
    tcpPortsUsed: usage[la * 2]!,
    udpPortsUsed: usage[la * 2 + 1]!,
  };
}

export function totals(e: Engine): { stats: StatsCounters; rates: StatsRates } {
  return { stats: e.totalStats.read(0), rates: e.totalStats.rates(0) };
}

/**
 * One entry of the connection table or of the persistence templates, as numbers. connections()
 * yields the same object each time, refilled: read it before asking for the next.
 */
export interface ConnView {
  proto: Proto;
  family: Family;
  caddr: Uint32Array;
  cport: number;
  vaddr: Uint32Array;
  vport: number;
  /** Unused (port 0) for a template: it is not a connection. */
  laddr: Uint32Array;
  lport: number;
  daddr: Uint32Array;
  dport: number;
  /** S_* (S_NONE for a template). */
  state: number;
  /** Milliseconds until expiry. */
  expiresIn: number;
  /** A persistence template (the client network, port 0), not a connection. */
  template: boolean;
}

function copy4(to: Uint32Array, from: Uint32Array, off: number): void {
  to[0] = from[off]!;
  to[1] = from[off + 1]!;
  to[2] = from[off + 2]!;
  to[3] = from[off + 3]!;
}

/** Every connection, then every persistence template (as ipvsadm lists them: state NONE). */
export function* connections(e: Engine, limit = Number.POSITIVE_INFINITY): Generator<ConnView> {
  const v: ConnView = {
    proto: PROTO_TCP,
    family: 4,
    caddr: new Uint32Array(4),
    cport: 0,
    vaddr: new Uint32Array(4),
    vport: 0,
    laddr: new Uint32Array(4),
    lport: 0,
    daddr: new Uint32Array(4),
    dport: 0,
    state: S_NONE,
    expiresIn: 0,
    template: false,
  };
  const ct = e.conns;
  let n = 0;
  for (let id = 1; id <= ct.capacity && n < limit; id++) {
    const f = ct.flags(id);
    if ((f & CONN_F_USED) === 0) continue;
    n++;
    v.proto = (f & CONN_F_UDP) !== 0 ? PROTO_UDP : PROTO_TCP;
    v.family = (f & CONN_F_IPV6) !== 0 ? 6 : 4;
    copy4(v.caddr, ct.w, ct.caddrOff(id));
    v.cport = ct.cport(id);
    copy4(v.vaddr, e.svcAddr, ct.svc(id) * 4);
    v.vport = ct.vport(id);
    copy4(v.laddr, e.laddrs.addr, ct.laddr(id) * 4);
    v.lport = ct.lport(id);
    copy4(v.daddr, e.destAddr, ct.dest(id) * 4);
    v.dport = ct.dport(id);
    v.state = ct.state(id);
    v.expiresIn = Math.max(0, ct.expires(id) - e.now);
    v.template = false;
    yield v;
  }
  const pt = e.persist;
  for (let id = 1; id <= pt.max && n < limit; id++) {
    if (!pt.listed(id)) continue;
    const svc = e.svcs[pt.svc[id]!];
    const d = e.dests[pt.dest[id]!];
    if (svc === undefined || d === undefined) continue;
    n++;
    v.proto = svc.proto;
    v.family = svc.family;
    for (let w = 0; w < 4; w++) v.caddr[w] = pt.keyWord(id, w);
    v.cport = 0;
    v.vaddr.set(svc.addr);
    v.vport = svc.port;
    v.laddr.fill(0);
    v.lport = 0;
    v.daddr.set(d.addr);
    v.dport = d.port;
    v.state = S_NONE;
    v.expiresIn = Math.max(0, pt.expires[id]! - e.now);
    v.template = true;
    yield v;
  }
}

/** Live persistence templates (listed after the connections by connections()). */
export function templateCount(e: Engine): number {
  return e.persist.count;
}

/** Buckets of the connection hash table: what ipvsadm's -L header calls size (IPVS's conn_tab_size). */
export function connTabSize(e: Engine): number {
  return e.conns.mask + 1;
}

/**
 * The LIP and real-server tuple that last reached 7/8 of the LIP's ports (laddr_ports_low), for
 * the daemon's warning; null before the first time.
 */
export function portsLow(
  e: Engine,
): { family: Family; laddr: Uint32Array; rs: Uint32Array; rport: number } | null {
  const la = e.portsLowLaddr;
  const d = e.dests[e.portsLowDest];
  if (la < 0 || d === undefined || e.laddrs.family[la] === 0) return null;
  return {
    family: d.family,
    laddr: e.laddrs.addr.slice(la * 4, la * 4 + 4),
    rs: d.addr.slice(),
    rport: e.portsLowRport,
  };
}

/** Engine counters by name (drops by reason, events). */
export function counterValues(e: Engine): Record<string, number> {
  const r: Record<string, number> = {};
  for (let i = 0; i < COUNTER_NAMES.length; i++) r[COUNTER_NAMES[i]!] = e.counters[i]!;
  return r;
}
