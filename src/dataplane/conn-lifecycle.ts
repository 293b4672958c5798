// A connection's life, as ip_vs_conn.c: creation (scheduling, persistence template, local address
// and port), state transitions with their timeouts and the dest's active/inactive counts, and
// expiry, which gives everything back.
import { S_ESTABLISHED, S_NONE, S_UDP } from '../common/vocabulary.js';
import {
  CONN_F_INACTIVE,
  CONN_F_IPV6,
  CONN_F_PERSIST,
  CONN_F_SP_WAIT,
  CONN_F_TOA,
  CONN_F_UDP,
  CONN_F_USED,
  CONN_STRIDE,
  type ConnTable,
  F_EXPIRES,
  F64_STRIDE,
  W_CADDR,
  W_CVPORT,
  W_DEST,
  W_FLAGS,
  W_LADDR,
  W_LDPORT,
  W_SVC,
} from './conn/table.js';
import { tcpEvent, tcpNextState } from './conn/tcp-states.js';
import type { ExpiryWheel } from './conn/timers.js';
import type { EngineCore } from './core.js';
import {
  D_CONN_LIMIT,
  D_NO_DEST,
  D_NO_LADDR,
  D_NO_LPORT,
  D_NO_TEMPLATE,
  E_CONN_EXPIRED,
  E_CONN_NEW,
  E_LADDR_PORTS_LOW,
  E_PERSIST_HIT,
} from './counters.js';
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, type Dest, PROTO_TCP, PROTO_UDP } from './service.js';
import { ST_CONNS, ST_STRIDE } from './stats.js';

/** What a state change reads and writes (also SYNPROXY's, synproxy.ts). */
export interface StateTables {
  readonly conns: ConnTable;
  readonly wheel: ExpiryWheel;
  readonly dests: readonly (Dest | undefined)[];
  /** Timeout per state in ms. */
  readonly timeoutMs: Float64Array;
  readonly now: number;
}

/** State transition (TCP) and timeout refresh; keeps the dest's active/inactive counts right. */
export function track(t: StateTables, id: number, dir: number, flags: number, tcp: boolean): void {
  const ct = t.conns;
  const w = ct.w;
  const o = id * CONN_STRIDE;
  const fw = w[o + W_FLAGS]!;
  const old = (fw >>> 16) & 0xff;
  const st = tcp ? tcpNextState(dir, tcpEvent(flags), old) : old;
  const exp = t.now + t.timeoutMs[st]!;
  const fi = id * F64_STRIDE + F_EXPIRES;
  const prev = ct.f64[fi]!;
  ct.f64[fi] = exp;
  if (st === old) {
    // Only a lowered timeout (--set) moves a deadline earlier than where it is filed.
    if (exp < prev) t.wheel.move(id, exp);
    return;
  }
  setState(t, id, st);
}

/**
 * Moves a connection to state `st` with that state's timeout, and keeps the dest's
 * active/inactive counts right (IPVS counts only ESTABLISHED as active).
 */
export function setState(t: StateTables, id: number, st: number): void {
  const ct = t.conns;
  const w = ct.w;
  const o = id * CONN_STRIDE;
  const fw = w[o + W_FLAGS]!;
  const exp = t.now + t.timeoutMs[st]!;
  ct.f64[id * F64_STRIDE + F_EXPIRES] = exp;
  // The deadline may have moved earlier than the slot the connection is filed under.
  t.wheel.move(id, exp);
  const dest = t.dests[w[o + W_DEST]!]!;
  let f = fw & 0xffff;
  if ((f & CONN_F_INACTIVE) === 0 && st !== S_ESTABLISHED) {
    dest.activeConns--;
    dest.inactConns++;
    f |= CONN_F_INACTIVE;
  } else if ((f & CONN_F_INACTIVE) !== 0 && st === S_ESTABLISHED) {
    dest.activeConns++;
    dest.inactConns--;
    f &= ~CONN_F_INACTIVE;
  }
  w[o + W_FLAGS] = (fw & 0xff000000) | f | (st << 16);
}

/** Creates a connection for the packet in core.pi to service `svcIdx`; 0 (counted) on failure. */
export function newConn(core: EngineCore, svcIdx: number, bucket: number): number {
  const ct = core.conns;
  if (ct.full) {
    core.drop(D_CONN_LIMIT);
    return 0;
  }
  const pi = core.pi;
  const now = core.now;
  const svc = core.svcs[svcIdx]!;
  const ctx = core.sctx;
  ctx.family = pi.family;
  ctx.saddr.set(pi.saddr);
  ctx.daddr.set(pi.daddr);
  ctx.sport = pi.sport;
  ctx.dport = pi.dport;
  ctx.now = now;

  let tmpl = 0;
  let dest: Dest | null = null;
  if (svc.persistTimeout > 0) {
    const pt = core.persist;
    pt.setKey(pi.family, pi.saddr, 0, svc.persistMask, svcIdx);
    tmpl = pt.lookup();
    if (tmpl !== 0) {
      const d = core.dests[pt.dest[tmpl]!]!;
      // As ip_vs_check_template: a removed dest is not followed; a quiesced (weight 0) one only
      // with expire_quiescent_template off (IPVS's default), so persistent clients drain with
      // their sessions; an overloaded one is followed (the threshold limits new clients).
      if ((d.flags & DEST_F_AVAILABLE) !== 0 && (d.weight > 0 || !core.sp.knobs.expireQuiescentTemplate)) {
        dest = d;
        core.counters[E_PERSIST_HIT]! += 1;
      }
    }
  }
  if (dest === null) dest = svc.sched.schedule(svc, ctx);
  if (dest === null) {
    core.drop(D_NO_DEST);
    return 0;
  }

  // Local address and port: round robin over the service's pool, skipping exhausted LIPs.
  const nl = svc.laddrs.length;
  if (nl === 0) {
    core.drop(D_NO_LADDR);
    return 0;
  }
  const pIdx = pi.proto === PROTO_UDP ? 1 : 0;
  const lp = core.laddrs;
  let la = -1;
  let lport = 0;
  const rport = dest.port === 0 ? pi.dport : dest.port;
  for (let t = 0; t < nl; t++) {
    const cand = svc.laddrs[svc.laddrNext]!;
    svc.laddrNext = svc.laddrNext + 1 === nl ? 0 : svc.laddrNext + 1;
    lport = lp.allocPort(cand, pIdx, dest.idx, rport);
    if (lport !== 0) {
      la = cand;
      break;
    }
  }
  if (la < 0) {
    core.drop(D_NO_LPORT);
    return 0;
  }

  if (svc.persistTimeout > 0) {
    const pt = core.persist;
    if (tmpl === 0) {
      // setKey still holds this client's key: findIn/findService used other maps.
      tmpl = pt.create(svcIdx, dest.idx, svc.persistTimeout * 1000, now);
      if (tmpl === 0) {
        core.drop(D_NO_TEMPLATE);
        return 0;
      }
      dest.persistConns++;
    } else if (pt.dest[tmpl] !== dest.idx) {
      core.dests[pt.dest[tmpl]!]!.persistConns--;
      core.releaseTemplateDestIfIdle(pt.dest[tmpl]!);
      pt.dest[tmpl] = dest.idx;
      dest.persistConns++;
    }
    pt.use(tmpl, now);
  }

  const id = ct.alloc();
  const v6 = pi.family === 6;
  const tcp = pi.proto === PROTO_TCP;
  const w = ct.w;
  const o = id * CONN_STRIDE;
  const st = tcp ? S_NONE : S_UDP;
  const flags =
    CONN_F_USED |
    CONN_F_INACTIVE |
    (v6 ? CONN_F_IPV6 : 0) |
    (tcp ? (svc.toa ? CONN_F_TOA : 0) : CONN_F_UDP) |
    (tmpl !== 0 ? CONN_F_PERSIST : 0);
  w[o + W_FLAGS] = flags | (st << 16);
  core.connTmpl[id] = tmpl;
  w.set(pi.saddr, o + W_CADDR);
  w[o + W_CVPORT] = (pi.sport << 16) | pi.dport;
  w[o + W_LDPORT] = (lport << 16) | rport;
  w[o + W_SVC] = svcIdx;
  w[o + W_DEST] = dest.idx;
  w[o + W_LADDR] = la;
  const exp = now + core.timeoutMs[st]!;
  ct.f64[id * F64_STRIDE + F_EXPIRES] = exp;
  ct.linkIn(id, bucket);
  if (lp.take(la, pIdx, lport, id)) {
    core.counters[E_LADDR_PORTS_LOW]! += 1;
    core.portsLowLaddr = la;
    core.portsLowDest = dest.idx;
    core.portsLowRport = rport;
  }
  core.wheel.insert(id, exp);

  svc.refs++;
  dest.inactConns++;
  if (dest.uThreshold > 0 && dest.activeConns + dest.inactConns >= dest.uThreshold)
    dest.flags |= DEST_F_OVERLOAD;
  core.destStats.c[dest.idx * ST_STRIDE + ST_CONNS]! += 1;
  core.counters[E_CONN_NEW]! += 1;
  return id;
}

/** Removes connection `id` everywhere and returns its resources (wheel callback, reuse, flush). */
export function expireConn(core: EngineCore, id: number): void {
  const ct = core.conns;
  const w = ct.w;
  const o = id * CONN_STRIDE;
  const f = w[o + W_FLAGS]! & 0xffff;
  const v6 = (f & CONN_F_IPV6) !== 0;
  const udp = (f & CONN_F_UDP) !== 0;
  const svcIdx = w[o + W_SVC]!;
  const cv = w[o + W_CVPORT]!;
  const b = ct.hashIn(
    udp ? PROTO_UDP : PROTO_TCP,
    w,
    o + W_CADDR,
    cv >>> 16,
    core.svcAddr,
    svcIdx * 4,
    cv & 0xffff,
    v6,
  );
  ct.unlinkIn(id, b);
  const la = w[o + W_LADDR]!;
  const lport = w[o + W_LDPORT]! >>> 16;
  const pIdx = udp ? 1 : 0;
  const lp = core.laddrs;
  lp.give(la, pIdx, lport, id);
  core.wheel.unlink(id);

  const dest = core.dests[w[o + W_DEST]!]!;
  if ((f & CONN_F_INACTIVE) !== 0) dest.inactConns--;
  else dest.activeConns--;
  if ((dest.flags & DEST_F_OVERLOAD) !== 0) {
    const total = dest.activeConns + dest.inactConns;
    // As ip_vs_unbind_dest: strictly below the lower threshold, or below 3/4 of the upper.
    const clear =
      dest.lThreshold > 0
        ? total < dest.lThreshold
        : dest.uThreshold > 0
          ? total * 4 < dest.uThreshold * 3
          : true;
    if (clear) dest.flags &= ~DEST_F_OVERLOAD;
  }
  if ((f & CONN_F_PERSIST) !== 0) core.persist.unref(core.connTmpl[id]!, core.now);
  if ((f & CONN_F_SP_WAIT) !== 0) core.sp.discard(id);
  core.connTmpl[id] = 0;
  ct.release(id);
  core.counters[E_CONN_EXPIRED]! += 1;

  const svc = core.svcs[svcIdx]!;
  svc.refs--;
  core.onConnGone(svc, dest, la);
}

/** A persistence template ended: its dest loses the reference (PersistTable.onRelease). */
export function releaseTemplateDest(core: EngineCore, destIdx: number): void {
  const d = core.dests[destIdx];
  if (d === undefined) return;
  d.persistConns--;
  core.releaseTemplateDestIfIdle(destIdx);
}
