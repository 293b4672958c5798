// Traffic counters from the packet path up to services and the total. Per-dest counters are the
// only ones the packet path touches (account()); service and total counters are sums over dests,
// rebuilt by syncStats(); what a freed dest or service had counted moves into the retired arrays
// so the sums never go back.
import { CONN_STRIDE, type ConnTable, W_DEST } from './conn/table.js';
import type { Dest, Service } from './service.js';
import { ST_STRIDE, type Stats } from './stats.js';

/** The core's counter tables (core.ts) and the slots they sum over. */
export interface StatsTables {
  readonly destStats: Stats;
  readonly svcStats: Stats;
  readonly totalStats: Stats;
  /** What freed dests of each service had counted (ST_STRIDE per service slot). */
  readonly svcRetired: Float64Array;
  /** What freed services had counted. */
  readonly totalRetired: Float64Array;
  readonly svcs: readonly (Service | undefined)[];
  readonly dests: readonly (Dest | undefined)[];
}

/** Adds one packet of `len` bytes to connection `id`'s dest counters. */
export function account(
  conns: ConnTable,
  destStats: Stats,
  id: number,
  len: number,
  pk: number,
  by: number,
): void {
  const dc = destStats.c;
  const dO = conns.w[id * CONN_STRIDE + W_DEST]! * ST_STRIDE;
  dc[dO + pk]! += 1;
  dc[dO + by]! += len;
}

/** Rebuilds service and total counters from the dests (control path, every tick and listing). */
export function syncStats(t: StatsTables): void {
  const sc = t.svcStats.c;
  const tc = t.totalStats.c;
  sc.set(t.svcRetired);
  tc.set(t.totalRetired);
  const dc = t.destStats.c;
  for (const d of t.dests) {
    if (d === undefined) continue;
    const so = d.svc.idx * ST_STRIDE;
    const dO = d.idx * ST_STRIDE;
    for (let k = 0; k < ST_STRIDE; k++) sc[so + k]! += dc[dO + k]!;
  }
  for (const svc of t.svcs) {
    if (svc === undefined) continue;
    const so = svc.idx * ST_STRIDE;
    for (let k = 0; k < ST_STRIDE; k++) tc[k]! += sc[so + k]!;
  }
}

/** A dest slot is being freed: keep what it counted in its service's (or the total's) sums. */
export function retireDestStats(t: StatsTables, d: Dest): void {
  const dc = t.destStats.c;
  const dO = d.idx * ST_STRIDE;
  const svcAlive = t.svcs[d.svc.idx] === d.svc;
  const target = svcAlive ? t.svcRetired : t.totalRetired;
  const to = svcAlive ? d.svc.idx * ST_STRIDE : 0;
  for (let k = 0; k < ST_STRIDE; k++) target[to + k]! += dc[dO + k]!;
  t.destStats.reset(d.idx);
}

/** A service slot is being freed: its sums move into the total's retired counters. */
export function retireSvcStats(t: StatsTables, svc: Service): void {
  const so = svc.idx * ST_STRIDE;
  for (let k = 0; k < ST_STRIDE; k++) t.totalRetired[k]! += t.svcRetired[so + k]!;
  t.svcRetired.fill(0, so, so + ST_STRIDE);
  t.svcStats.reset(svc.idx);
}
