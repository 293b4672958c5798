// Builds services for scheduler tests directly from the engine model and simulates the engine's
// side of scheduling: hooks after each change, and connection counts after each pick.
import type { Family } from '../../src/common/addr.js';
import { newSchedCtx, type SchedCtx, type Scheduler } from '../../src/dataplane/sched/scheduler.js';
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, Dest, PROTO_TCP, Service } from '../../src/dataplane/service.js';

export interface SvcOpts {
  family?: Family;
  schedFlags?: number;
  mhTableSize?: number;
  /** Dests exist before initService (a scheduler change) instead of arriving one by one. */
  prefill?: boolean;
}

let destSlot = 0;

/** A TCP service on 203.0.113.10:80 (or 2001:db8:203::10) with one dest per weight. */
export function makeSvc(sched: Scheduler, weights: readonly number[], opts: SvcOpts = {}): Service {
  const family = opts.family ?? 4;
  const vip =
    family === 4 ? Uint32Array.of(0xcb00710a, 0, 0, 0) : Uint32Array.of(0x20010db8, 0x2030000, 0, 0x10);
  const svc = new Service(0, PROTO_TCP, family, vip, 80);
  svc.sched = sched;
  svc.schedFlags = opts.schedFlags ?? 0;
  if (opts.mhTableSize !== undefined) svc.mhTableSize = opts.mhTableSize;
  if (opts.prefill) {
    for (const w of weights) svc.dests.push(newDest(svc, w, svc.dests.length + 21));
    sched.initService(svc);
    return svc;
  }
  sched.initService(svc);
  for (const w of weights) addDest(svc, w);
  return svc;
}

function newDest(svc: Service, weight: number, host: number): Dest {
  const addr =
    svc.family === 4
      ? Uint32Array.of((0xc0000200 + host) >>> 0, 0, 0, 0)
      : Uint32Array.of(0x20010db8, 0x20000, 0, host);
  const d = new Dest(destSlot++, svc, svc.family, addr, 80);
  d.weight = weight;
  return d;
}

/** Adds a dest (192.0.2.N:80 or 2001:db8:2::N) as the engine does: push, then the hook. */
export function addDest(svc: Service, weight: number, host = svc.dests.length + 21): Dest {
  const d = newDest(svc, weight, host);
  svc.dests.push(d);
  svc.sched.addDest?.(svc, d);
  return d;
}

export function delDest(svc: Service, d: Dest): void {
  svc.dests.splice(svc.dests.indexOf(d), 1);
  d.flags &= ~DEST_F_AVAILABLE;
  svc.sched.delDest?.(svc, d);
}

export function setWeight(svc: Service, d: Dest, weight: number): void {
  d.weight = weight;
  svc.sched.updDest?.(svc, d);
}

export function setOverload(d: Dest, on: boolean): void {
  d.flags = on ? d.flags | DEST_F_OVERLOAD : d.flags & ~DEST_F_OVERLOAD;
}

/** Deterministic 32-bit mixing for test keys (splitmix-style). */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A context for key i: distinct client address, port and destination address per i. */
export function keyCtx(svc: Service, i: number, ctx: SchedCtx = newSchedCtx()): SchedCtx {
  ctx.family = svc.family;
  ctx.saddr.fill(0);
  ctx.daddr.fill(0);
  ctx.saddr[0] = mix32(i);
  ctx.daddr[0] = mix32(i ^ 0x5555);
  if (svc.family === 6) {
    ctx.saddr[3] = mix32(i + 1);
    ctx.daddr[3] = mix32(i + 2);
  }
  ctx.sport = 1024 + (i % 60000);
  ctx.dport = svc.port;
  ctx.now = i * 1000;
  return ctx;
}

export type Load = 'active' | 'inactive' | 'none';

/** One scheduling decision; the chosen dest gets a connection as the engine would count it. */
export function pick(svc: Service, ctx: SchedCtx, load: Load = 'active'): Dest | null {
  const d = svc.sched.schedule(svc, ctx);
  if (d !== null) {
    if (load === 'active') d.activeConns++;
    else if (load === 'inactive') d.inactConns++;
  }
  return d;
}

/** Position of the chosen dest in svc.dests, -1 for null. */
export function pos(svc: Service, d: Dest | null): number {
  return d === null ? -1 : svc.dests.indexOf(d);
}

/** Positions of n picks with the same context (key 0 unless given). */
export function sequence(svc: Service, n: number, load: Load = 'none', ctx = keyCtx(svc, 0)): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(pos(svc, pick(svc, ctx, load)));
  return out;
}

/** Counts per dest position (index n counts nulls) over n picks with keys 0..n-1. */
export function countPicks(svc: Service, n: number, load: Load = 'none'): number[] {
  const counts = new Array<number>(svc.dests.length + 1).fill(0);
  const ctx = newSchedCtx();
  for (let i = 0; i < n; i++) {
    const p = pos(svc, pick(svc, keyCtx(svc, i, ctx), load));
    counts[p < 0 ? svc.dests.length : p]!++;
  }
  return counts;
}

/** Largest |share - weight/sum| over the dests. */
export function maxShareError(counts: readonly number[], weights: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const wsum = weights.reduce((a, b) => a + b, 0);
  let err = 0;
  for (let i = 0; i < weights.length; i++)
    err = Math.max(err, Math.abs(counts[i]! / total - weights[i]! / wsum));
  return err;
}
